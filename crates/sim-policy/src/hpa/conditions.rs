//! HPA condition types and the fixed messages upstream writes with each reason.

/// `AbleToScale`.
pub(crate) const ABLE_TO_SCALE: &str = "AbleToScale";
/// `ScalingActive`.
pub(crate) const SCALING_ACTIVE: &str = "ScalingActive";
/// `ScalingLimited`.
pub(crate) const SCALING_LIMITED: &str = "ScalingLimited";
/// `ScaledToZero` (KEP-2021, master).
pub(crate) const SCALED_TO_ZERO: &str = "ScaledToZero";

pub(crate) const MSG_GOT_SCALE: &str =
    "the HPA controller was able to get the target's current scale";
pub(crate) const MSG_DISABLED: &str =
    "scaling is disabled since the replica count of the target is zero";
pub(crate) const MSG_READY: &str = "recommended size matches current size";
pub(crate) const MSG_UP_STABILIZED: &str =
    "recent recommendations were lower than current one, applying the lowest recent recommendation";
pub(crate) const MSG_DOWN_STABILIZED: &str = "recent recommendations were higher than current one, applying the highest recent recommendation";

/// The message upstream pairs with a stabilisation reason.
pub(crate) fn stabilization_message(reason: &str) -> &'static str {
    match reason {
        "ScaleUpStabilized" => MSG_UP_STABILIZED,
        "ScaleDownStabilized" => MSG_DOWN_STABILIZED,
        _ => MSG_READY,
    }
}
