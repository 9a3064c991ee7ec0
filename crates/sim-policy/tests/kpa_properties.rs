//! Property tests of the KPA: the applied size respects min/max (0 only when allowed), and
//! the decider never lowers its recommendation while in panic mode.

use proptest::prelude::*;
use sim_des::{SimDuration, SimTime};
use sim_policy::kpa::{self, KpaConfig, KpaObservation, KpaSample, KpaState};

/// A valid configuration from a few knobs.
fn arb_config() -> impl Strategy<Value = KpaConfig> {
    (
        0..4u32,
        prop_oneof![Just(None), (0..8u32).prop_map(Some)],
        any::<bool>(),
        0..4u32,
        1..4u32,
        prop_oneof![Just(0.0), Just(211.0), Just(-1.0)],
        prop_oneof![Just(0u64), Just(4), Just(10)],
        prop_oneof![Just(6u64), Just(60)],
        1..30u32,
    )
        .prop_map(
            |(min, extra, enable, activation_extra, initial, tbc, delay_s, stable_s, target)| {
                let max = extra.map_or(0, |e| (min + e).max(1));
                let cap = if max == 0 { u32::MAX } else { max };
                KpaConfig {
                    target: Some(f64::from(target)),
                    min_scale: min,
                    max_scale: max,
                    enable_scale_to_zero: enable,
                    activation_scale: (min.max(1) + activation_extra).min(cap),
                    initial_scale: initial.min(cap),
                    target_burst_capacity: tbc,
                    scale_down_delay: SimDuration::from_secs(delay_s),
                    stable_window: SimDuration::from_secs(stable_s),
                    ..KpaConfig::default()
                }
            },
        )
}

/// Ticks: seconds since the previous tick, Ready pods, and the per-second concurrency
/// (`None`: nothing recorded).
fn arb_ticks() -> impl Strategy<Value = Vec<(u64, u32, Option<u32>)>> {
    prop::collection::vec(
        (
            1..6u64,
            0..12u32,
            prop_oneof![Just(None), (0..300u32).prop_map(Some)],
        ),
        1..120,
    )
}

fn run(
    cfg: &KpaConfig,
    ticks: &[(u64, u32, Option<u32>)],
    mut each: impl FnMut(u64, &kpa::KpaDecision),
) {
    cfg.validate().expect("generated config is valid");
    let mut state = KpaState::new(cfg, SimTime::ZERO);
    let mut now_s = 0;
    for &(dt, ready, load) in ticks {
        let samples: Vec<KpaSample> = match load {
            None => Vec::new(),
            Some(c) => (now_s + 1..=now_s + dt)
                .map(|s| KpaSample {
                    at: SimTime::from_secs(s),
                    concurrency: f64::from(c),
                    requests: f64::from(c) / 2.0,
                })
                .collect(),
        };
        now_s += dt;
        let d = kpa::kpa_tick(
            cfg,
            &mut state,
            SimTime::from_secs(now_s),
            KpaObservation {
                samples: &samples,
                ready_pods: ready,
            },
        );
        each(now_s, &d);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, rng_seed: proptest::test_runner::RngSeed::Fixed(20_261_203), .. ProptestConfig::default() })]

    /// After every tick the Deployment size is within [min, max] (max 0 = unbounded), or 0
    /// when min is 0 and scale to zero is enabled.
    #[test]
    fn desired_within_bounds(cfg in arb_config(), ticks in arb_ticks()) {
        let mut failure = None;
        run(&cfg, &ticks, |t, d| {
            let n = d.desired_pods;
            let ok = if n == 0 {
                cfg.min_scale == 0 && cfg.enable_scale_to_zero
            } else {
                n >= cfg.min_scale && (cfg.max_scale == 0 || n <= cfg.max_scale)
            };
            if !ok && failure.is_none() {
                failure = Some(format!("t={t}: {n} pods ({})", d.reason));
            }
        });
        prop_assert!(failure.is_none(), "{}", failure.unwrap_or_default());
    }

    /// Without a scale-down delay, the decider's recommendation never drops from one tick
    /// to the next while panic mode lasts.
    #[test]
    fn no_scale_down_in_panic(mut cfg in arb_config(), ticks in arb_ticks()) {
        cfg.scale_down_delay = SimDuration::ZERO;
        let mut prev: Option<(bool, Option<u32>)> = None;
        let mut failure = None;
        run(&cfg, &ticks, |t, d| {
            if let Some((true, Some(before))) = prev
                && d.panic
                && d.decider_pods.is_some_and(|now| now < before)
                && failure.is_none()
            {
                failure = Some(format!("t={t}: {before} -> {:?} ({})", d.decider_pods, d.reason));
            }
            prev = Some((d.panic, d.decider_pods));
        });
        prop_assert!(failure.is_none(), "{}", failure.unwrap_or_default());
    }
}
