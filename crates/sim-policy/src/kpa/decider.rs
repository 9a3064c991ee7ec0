//! The decider: windowed averages to a recommended pod count (Knative's `autoscaler.Scale`).

use sim_des::SimTime;

use super::{KpaConfig, KpaState, second_of};

/// What one decider run saw, for the decision's report.
pub(crate) struct DeciderRun {
    pub(crate) stable: f64,
    pub(crate) panic: f64,
    pub(crate) note: String,
}

/// Runs the decider at `now` and stores its recommendation and excess burst capacity in
/// `state`. Returns `None` (state untouched) when the stable window holds no data and the
/// activator is not permanently in the path (Knative's "no data" result).
pub(crate) fn scale(
    cfg: &KpaConfig,
    state: &mut KpaState,
    now: SimTime,
    ready: u32,
) -> Option<DeciderRun> {
    let now_s = second_of(now);
    if state.stable.is_empty(now_s) && cfg.target_burst_capacity != -1.0 {
        return None;
    }
    let stable = state.stable.window_average(now_s);
    let panic = state.panic.window_average(now_s);

    // Rates are relative to the ready pods, counting zero as one.
    let r = f64::from(ready.max(1));
    let max_up = (cfg.max_scale_up_rate * r).ceil();
    let max_down = (r / cfg.max_scale_down_rate).floor();
    let target = cfg.target_value();
    let want_stable = (stable / target).ceil();
    let want_panic = (panic / target).ceil();
    let mut stable_pods = want_stable.max(max_down).min(max_up) as u32;
    let mut panic_pods = want_panic.max(max_down).min(max_up) as u32;
    let a = cfg.activation_scale;
    if a > 1 {
        if want_stable > 0.0 && a > stable_pods {
            stable_pods = a;
        }
        if want_panic > 0.0 && a > panic_pods {
            panic_pods = a;
        }
    }

    // Panic entry compares the raw panic want with the ready pods.
    let over_threshold = want_panic / r >= cfg.panic_threshold();
    let mut mode = String::new();
    if over_threshold {
        mode = match state.panic_start {
            None => "entered panic".to_string(),
            Some(_) => "panic extended".to_string(),
        };
        state.panic_start = Some(now);
    } else if let Some(start) = state.panic_start
        && start + cfg.stable_window < now
    {
        state.panic_start = None;
        state.max_panic_pods = 0;
        mode = "left panic".to_string();
    }

    let mut desired = stable_pods;
    if state.panic_start.is_some() {
        desired = desired.max(panic_pods);
        state.max_panic_pods = state.max_panic_pods.max(desired);
        desired = state.max_panic_pods;
        if mode.is_empty() {
            mode = "in panic".to_string();
        }
        mode = format!("{mode}, holding {desired}");
    }
    if cfg.scale_down_delay.as_nanos() > 0 {
        state.delay_window.record(now_s / cfg.tick_s(), desired);
        let delayed = state.delay_window.current();
        if delayed != desired {
            mode = format!("{mode} scale-down delayed, staying at {delayed}")
                .trim()
                .to_string();
        }
        desired = delayed;
    }

    let tbc = cfg.target_burst_capacity;
    let ebc = if tbc == 0.0 {
        0.0
    } else if tbc > 0.0 {
        (f64::from(ready) * cfg.total_value() - tbc - panic).floor()
    } else {
        -1.0
    };
    state.decider_pods = Some(desired);
    state.excess_burst_capacity = ebc as i32;

    let mut note = format!(
        "stable {stable} / target {target} -> {want_stable}, panic {panic} -> {want_panic} \
         (ready {ready}, bounds [{max_down}, {max_up}])"
    );
    if !mode.is_empty() {
        note = format!("{note}, {mode}");
    }
    note = format!("{note}: decider wants {desired}");
    Some(DeciderRun {
        stable,
        panic,
        note,
    })
}

/// Activator tasks the reconciler assigns: enough to cover the ready pods' capacity plus
/// the burst capacity, at least 2.
pub(crate) fn activators(cfg: &KpaConfig, ready: u32) -> u32 {
    const MIN_ACTIVATORS: f64 = 2.0;
    let tbc = cfg.target_burst_capacity;
    if tbc == 0.0 {
        return MIN_ACTIVATORS as u32;
    }
    let mut capacity = f64::from(ready) * cfg.total_value();
    if tbc > 0.0 {
        capacity += tbc;
    }
    (capacity / cfg.activator_capacity)
        .ceil()
        .max(MIN_ACTIVATORS) as u32
}
