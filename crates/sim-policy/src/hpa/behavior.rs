//! Normalisation: stabilisation windows, rate limits and scale-event bookkeeping.
//!
//! Every window and period test is strict, as upstream's `time.After`/`Before` against a
//! cutoff `now - W`: an entry is inside a window when its age is `< W` and "old" when its age
//! is `> W`. The legacy rolling maximum is the one exception: it keeps entries with age `<= W`.

use sim_des::{SimDuration, SimTime};

use super::{PolicyKind, ResolvedRules, ScalingPolicy, ScalingRules, SelectPolicy};

/// A raw metric proposal remembered by the controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimedRecommendation {
    /// Proposed replicas (before min/max).
    pub value: i32,
    /// When it was proposed.
    pub time: SimTime,
}

/// A past rescale in one direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScaleEvent {
    /// `|new - old|`.
    pub change: i32,
    /// When the scale was written.
    pub time: SimTime,
    /// Marked reusable because it is older than the longest policy period.
    pub outdated: bool,
}

fn secs(s: i32) -> SimDuration {
    SimDuration::from_secs(u64::try_from(s).unwrap_or(0))
}

/// API defaults for `behavior.scaleUp`: window 0, Max, `[Pods 4/15 s, Percent 100/15 s]`.
pub(crate) fn default_scale_up(rules: Option<&ScalingRules>) -> ResolvedRules {
    let r = rules.cloned().unwrap_or_default();
    ResolvedRules {
        stabilization_window_s: r.stabilization_window_s.unwrap_or(0),
        select_policy: r.select_policy.unwrap_or(SelectPolicy::Max),
        policies: r.policies.unwrap_or_else(|| {
            vec![
                ScalingPolicy {
                    kind: PolicyKind::Pods,
                    value: 4,
                    period_s: 15,
                },
                ScalingPolicy {
                    kind: PolicyKind::Percent,
                    value: 100,
                    period_s: 15,
                },
            ]
        }),
        tolerance: r.tolerance,
    }
}

/// API defaults for `behavior.scaleDown`: window from the controller flag, Max,
/// `[Percent 100/15 s]`.
pub(crate) fn default_scale_down(
    rules: Option<&ScalingRules>,
    controller_window_s: i32,
) -> ResolvedRules {
    let r = rules.cloned().unwrap_or_default();
    ResolvedRules {
        stabilization_window_s: r.stabilization_window_s.unwrap_or(controller_window_s),
        select_policy: r.select_policy.unwrap_or(SelectPolicy::Max),
        policies: r.policies.unwrap_or_else(|| {
            vec![ScalingPolicy {
                kind: PolicyKind::Percent,
                value: 100,
                period_s: 15,
            }]
        }),
        tolerance: r.tolerance,
    }
}

/// Stores a proposal: overwrites the last entry for which `is_old` holds, else appends.
fn store(
    recs: &mut Vec<TimedRecommendation>,
    value: i32,
    now: SimTime,
    is_old: impl Fn(SimDuration) -> bool,
) {
    let old = recs
        .iter()
        .rposition(|r| is_old(now.saturating_since(r.time)));
    let rec = TimedRecommendation { value, time: now };
    match old {
        Some(i) => recs[i] = rec,
        None => recs.push(rec),
    }
}

/// Legacy path (no `behavior`): the maximum of the proposal and every recommendation at
/// most `window` old; then the proposal is stored.
pub fn stabilize_legacy(
    recs: &mut Vec<TimedRecommendation>,
    proposal: i32,
    window: SimDuration,
    now: SimTime,
) -> i32 {
    let mut best = proposal;
    for r in recs.iter() {
        if now.saturating_since(r.time) <= window {
            best = best.max(r.value);
        }
    }
    store(recs, proposal, now, |age| age > window);
    best
}

/// Behavior path. With `two_windows` (current upstream) the current replicas are clamped
/// into `[min over the up window, max over the down window]`; otherwise (older releases)
/// only the window of the proposal's direction is used. Returns the stabilised value and
/// the reason upstream uses when it differs from the proposal.
pub fn stabilize_with_behavior(
    recs: &mut Vec<TimedRecommendation>,
    current: i32,
    proposal: i32,
    up_window_s: i32,
    down_window_s: i32,
    two_windows: bool,
    now: SimTime,
) -> (i32, &'static str) {
    let (up_w, down_w) = (secs(up_window_s), secs(down_window_s));
    let reason = if proposal >= current {
        "ScaleUpStabilized"
    } else {
        "ScaleDownStabilized"
    };
    let result = if two_windows {
        let (mut up, mut down) = (proposal, proposal);
        for r in recs.iter() {
            let age = now.saturating_since(r.time);
            if age < up_w {
                up = up.min(r.value);
            }
            if age < down_w {
                down = down.max(r.value);
            }
        }
        let mut rec = current;
        if rec < up {
            rec = up;
        }
        if rec > down {
            rec = down;
        }
        rec
    } else {
        let mut rec = proposal;
        let going_up = proposal >= current;
        let w = if going_up { up_w } else { down_w };
        for r in recs.iter() {
            if now.saturating_since(r.time) < w {
                rec = if going_up {
                    rec.min(r.value)
                } else {
                    rec.max(r.value)
                };
            }
        }
        rec
    };
    store(recs, proposal, now, |age| age > up_w && age > down_w);
    (result, reason)
}

/// Sum of the changes of events younger than `period_s`.
pub fn replicas_changed_in_period(events: &[ScaleEvent], period_s: i32, now: SimTime) -> i32 {
    let p = secs(period_s);
    events
        .iter()
        .filter(|e| now.saturating_since(e.time) < p)
        .map(|e| e.change)
        .sum()
}

/// Scaling direction of a policy limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Scale up.
    Up,
    /// Scale down.
    Down,
}

/// The raw policy limit (before it is bounded by current replicas). `both_directions`
/// selects the current period-start formula `C - added + removed`; otherwise only the
/// events of the limit's own direction count.
pub fn policy_limit(
    direction: Direction,
    current: i32,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
    rules: &ResolvedRules,
    both_directions: bool,
    now: SimTime,
) -> i32 {
    if rules.select_policy == SelectPolicy::Disabled {
        return current;
    }
    let pick_max = match direction {
        Direction::Up => rules.select_policy == SelectPolicy::Max,
        Direction::Down => rules.select_policy == SelectPolicy::Min,
    };
    let mut result = if pick_max { i32::MIN } else { i32::MAX };
    for p in &rules.policies {
        let added = replicas_changed_in_period(up_events, p.period_s, now);
        let removed = replicas_changed_in_period(down_events, p.period_s, now);
        let start = match (direction, both_directions) {
            (_, true) => current - added + removed,
            (Direction::Up, false) => current - added,
            (Direction::Down, false) => current + removed,
        };
        let proposed = match (direction, p.kind) {
            (Direction::Up, PolicyKind::Pods) => start + p.value,
            (Direction::Up, PolicyKind::Percent) => {
                (f64::from(start) * (1.0 + f64::from(p.value) / 100.0)).ceil() as i32
            }
            (Direction::Down, PolicyKind::Pods) => start - p.value,
            (Direction::Down, PolicyKind::Percent) => {
                (f64::from(start) * (1.0 - f64::from(p.value) / 100.0)) as i32
            }
        };
        result = if pick_max {
            result.max(proposed)
        } else {
            result.min(proposed)
        };
    }
    result
}

/// The behavior-path limit and clamp (`convertDesiredReplicasWithBehaviorRate`).
/// Returns (replicas, reason, message).
#[allow(clippy::too_many_arguments)]
pub fn rate_limit(
    current: i32,
    desired: i32,
    min_replicas: i32,
    max_replicas: i32,
    up_rules: &ResolvedRules,
    down_rules: &ResolvedRules,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
    both_directions: bool,
    now: SimTime,
) -> (i32, &'static str, &'static str) {
    if desired > current {
        let limit = policy_limit(
            Direction::Up,
            current,
            up_events,
            down_events,
            up_rules,
            both_directions,
            now,
        )
        .max(current);
        let (allowed, reason, message) = if max_replicas > limit {
            (
                limit,
                "ScaleUpLimit",
                "the desired replica count is increasing faster than the maximum scale rate",
            )
        } else {
            (
                max_replicas,
                "TooManyReplicas",
                "the desired replica count is more than the maximum replica count",
            )
        };
        if desired > allowed {
            return (allowed, reason, message);
        }
    } else if desired < current {
        let limit = policy_limit(
            Direction::Down,
            current,
            up_events,
            down_events,
            down_rules,
            both_directions,
            now,
        )
        .min(current);
        let (allowed, reason, message) = if min_replicas < limit {
            (
                limit,
                "ScaleDownLimit",
                "the desired replica count is decreasing faster than the maximum scale rate",
            )
        } else {
            (
                min_replicas,
                "TooFewReplicas",
                "the desired replica count is less than the minimum replica count",
            )
        };
        if desired < allowed {
            return (allowed, reason, message);
        }
    }
    (
        desired,
        "DesiredWithinRange",
        "the desired count is within the acceptable range",
    )
}

/// The legacy clamp: at most `max(factor × current, minimum)` up, never below min.
pub fn legacy_rate_limit(
    current: i32,
    desired: i32,
    min_replicas: i32,
    max_replicas: i32,
    factor: f64,
    minimum: f64,
) -> (i32, &'static str, &'static str) {
    let scale_up_limit = (factor * f64::from(current)).max(minimum) as i32;
    let (max_allowed, reason, message) = if max_replicas > scale_up_limit {
        (
            scale_up_limit,
            "ScaleUpLimit",
            "the desired replica count is increasing faster than the maximum scale rate",
        )
    } else {
        (
            max_replicas,
            "TooManyReplicas",
            "the desired replica count is more than the maximum replica count",
        )
    };
    if desired < min_replicas {
        (
            min_replicas,
            "TooFewReplicas",
            "the desired replica count is less than the minimum replica count",
        )
    } else if desired > max_allowed {
        (max_allowed, reason, message)
    } else {
        (
            desired,
            "DesiredWithinRange",
            "the desired count is within the acceptable range",
        )
    }
}

/// Records a successful rescale in one direction's event list: events older than the
/// longest policy period are marked outdated, the last outdated one is overwritten, else
/// the event is appended. Without `behavior` (`rules` is `None`) the controller stores
/// nothing and leaves the list as it was, as upstream's `storeScaleEvent` returns early.
pub fn record_scale_event(
    events: &mut Vec<ScaleEvent>,
    rules: Option<&ResolvedRules>,
    change: i32,
    now: SimTime,
) {
    let Some(rules) = rules else {
        return;
    };
    let longest = secs(rules.policies.iter().map(|p| p.period_s).max().unwrap_or(0));
    for e in events.iter_mut() {
        if now.saturating_since(e.time) > longest {
            e.outdated = true;
        }
    }
    let event = ScaleEvent {
        change,
        time: now,
        outdated: false,
    };
    match events.iter().rposition(|e| e.outdated) {
        Some(i) => events[i] = event,
        None => events.push(event),
    }
}
