//! Knative's Pod Autoscaler in the loop. The autoscaler reads concurrency and request counts
//! straight from the queue-proxies and the activator (not through Prometheus), one sample per
//! second, and decides every tick (2 s); the first request after idling pokes it at once.

use sim_des::{SimDuration, SimTime};
use sim_policy::kpa::{self, Activity, KpaObservation, KpaSample, KpaState};

use super::{Ev, World};
use crate::spec::AutoscalerSpec;

/// The KPA's runtime state inside the simulator.
pub(super) struct KpaRuntime {
    pub(super) state: KpaState,
    samples: Vec<KpaSample>,
    /// Integral of in-flight requests over time (request·ns) up to `since`.
    inflight_integral: u128,
    since: SimTime,
    /// The integral at the last whole-second sample.
    integral_at_last_sample: u128,
    arrivals_since_sample: u64,
}

impl KpaRuntime {
    pub(super) fn new(spec: &crate::KpaLoopSpec, initial_replicas: u32) -> KpaRuntime {
        let mut state = KpaState::new(&spec.config, SimTime::ZERO);
        if initial_replicas > 0 {
            // The revision was created long before the run and is serving.
            state.activity = Activity::Active;
            state.scale_target_initialized = true;
            state.applied_pods = initial_replicas;
            state.proxy_since = None;
        }
        KpaRuntime {
            state,
            samples: Vec::new(),
            inflight_integral: 0,
            since: SimTime::ZERO,
            integral_at_last_sample: 0,
            arrivals_since_sample: 0,
        }
    }
}

impl World<'_> {
    /// Call before `in_flight` changes (and on arrivals with `arrival = true`).
    pub(super) fn kpa_note_inflight(&mut self, arrival: bool) {
        let (now, in_flight) = (self.now, self.in_flight);
        if let Some(k) = self.control.kpa.as_mut() {
            k.inflight_integral +=
                u128::from(in_flight) * u128::from(now.saturating_since(k.since).as_nanos());
            k.since = now;
            if arrival {
                k.arrivals_since_sample += 1;
            }
        }
    }

    pub(super) fn schedule_kpa(&mut self) {
        let AutoscalerSpec::Kpa(spec) = &self.spec.control.autoscaler else {
            return;
        };
        self.control.kpa = Some(KpaRuntime::new(spec, self.spec.pods.replicas));
        self.queue.push(SimTime::from_secs(1), Ev::KpaSecond);
        self.queue.push(
            SimTime::ZERO + spec.config.tick_interval,
            Ev::KpaTick { periodic: true },
        );
    }

    /// Records the second that just ended (time-averaged concurrency, arrivals).
    pub(super) fn on_kpa_second(&mut self) {
        self.kpa_note_inflight(false);
        let now = self.now;
        let ready = self.endpoints.len();
        let in_flight = self.in_flight;
        let k = self.control.kpa.as_mut().expect("KPA runtime");
        let concurrency = (k.inflight_integral - k.integral_at_last_sample) as f64 / 1e9;
        k.integral_at_last_sample = k.inflight_integral;
        let requests = std::mem::take(&mut k.arrivals_since_sample) as f64;
        // The collector records while a pod is Ready or the activator has traffic.
        if ready > 0 || concurrency > 0.0 || requests > 0.0 || in_flight > 0 {
            k.samples.push(KpaSample {
                at: SimTime(now.as_nanos() - 1),
                concurrency,
                requests,
            });
        }
        self.queue
            .push(now + SimDuration::from_secs(1), Ev::KpaSecond);
    }

    /// The first request after idling reaches the activator: Knative ticks at once.
    pub(super) fn kpa_request_buffered(&mut self) {
        // The request just buffered is in flight at the gateway, so the activator holds at
        // least one; counting the whole queue per request made a gateway pile-up quadratic.
        let queued = 1.0;
        let now = self.now;
        let Some(k) = self.control.kpa.as_mut() else {
            return;
        };
        if kpa::kpa_poke_wanted(&k.state, queued) {
            k.samples.push(KpaSample {
                at: now,
                concurrency: 1.0,
                requests: 1.0,
            });
            self.queue.push(now, Ev::KpaTick { periodic: false });
        }
    }

    pub(super) fn on_kpa_tick(&mut self, periodic: bool) {
        let AutoscalerSpec::Kpa(spec) = &self.spec.control.autoscaler else {
            return;
        };
        if periodic {
            self.queue.push(
                self.now + spec.config.tick_interval,
                Ev::KpaTick { periodic: true },
            );
        }
        let now = self.now;
        let ready = self.endpoints.len() as u32;
        let k = self.control.kpa.as_mut().expect("KPA runtime");
        let samples = std::mem::take(&mut k.samples);
        let d = kpa::kpa_tick(
            &spec.config,
            &mut k.state,
            now,
            KpaObservation {
                samples: &samples,
                ready_pods: ready,
            },
        );
        self.control.inputs[0] = d.stable_value;
        self.control.inputs[1] = d.panic_value;
        self.control.inputs[2] = if d.panic { 1.0 } else { 0.0 };
        if d.desired_pods != self.desired {
            let cfg = &spec.config;
            assert!(
                cfg.max_scale == 0 || d.desired_pods <= cfg.max_scale,
                "KPA desired {} above max_scale {}",
                d.desired_pods,
                cfg.max_scale
            );
            let object = format!("podautoscaler/{}", spec.name);
            let reason = d.reason.clone();
            self.event(
                "Normal",
                "KPAScale",
                &object,
                &format!("New size: {}; {reason}", d.desired_pods),
            );
            self.set_desired(d.desired_pods, &object);
        }
    }
}
