//! Status conditions shared by the HPA and the ScaledObject models.

use sim_des::SimTime;

/// The status of a condition, as Kubernetes writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConditionStatus {
    /// `True`.
    True,
    /// `False`.
    False,
    /// `Unknown`.
    Unknown,
}

impl ConditionStatus {
    /// The word Kubernetes uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

/// One status condition (`AbleToScale`, `ScalingActive`, `Ready`, `Active`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    /// The condition type, e.g. `ScalingActive`.
    pub kind: String,
    /// True, False or Unknown.
    pub status: ConditionStatus,
    /// The machine-readable reason, e.g. `ValidMetricFound`.
    pub reason: String,
    /// The human-readable message, in the controller's words.
    pub message: String,
    /// When the status last flipped.
    pub last_transition: SimTime,
}

/// Sets a condition the way the controllers do: an existing entry of the same type is
/// updated in place (its transition time only moves when the status flips); a new type
/// is appended at the end.
pub(crate) fn set_condition(
    list: &mut Vec<Condition>,
    kind: &str,
    status: ConditionStatus,
    reason: &str,
    message: String,
    now: SimTime,
) {
    if let Some(existing) = list.iter_mut().find(|c| c.kind == kind) {
        if existing.status != status {
            existing.last_transition = now;
        }
        existing.status = status;
        existing.reason = reason.to_string();
        existing.message = message;
    } else {
        list.push(Condition {
            kind: kind.to_string(),
            status,
            reason: reason.to_string(),
            message,
            last_transition: now,
        });
    }
}

/// Removes every condition of one type.
pub(crate) fn remove_condition(list: &mut Vec<Condition>, kind: &str) {
    list.retain(|c| c.kind != kind);
}
