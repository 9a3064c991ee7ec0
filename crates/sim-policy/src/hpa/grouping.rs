//! Pod grouping: which pods' samples the calculator may use.

use std::collections::BTreeSet;

use sim_des::{SimDuration, SimTime};

use super::{ConditionStatus, PodInfo, PodPhase, PodSample};

/// The four buckets of pod grouping (names only; `ready_count` counts the fourth).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodGroups {
    /// Pods whose samples are used.
    pub ready_count: usize,
    /// Pending pods, and (cpu only) pods whose readiness makes their sample untrustworthy.
    pub unready: BTreeSet<String>,
    /// Pods with no sample.
    pub missing: BTreeSet<String>,
    /// Deleted or terminal pods.
    pub ignored: BTreeSet<String>,
}

/// Groups pods for a metric. `cpu_checks` is true only for the `cpu` resource (Resource or
/// ContainerResource, any target type); then young pods need a fresh sample and Ready, and
/// old pods that never became ready are set aside. Every time test is strict, as upstream's
/// `Before`/`After`. A pod is "missing" when `samples` holds no usable value for it.
pub fn group_pods(
    pods: &[PodInfo],
    samples: &[PodSample],
    cpu_checks: bool,
    cpu_initialization_period: SimDuration,
    initial_readiness_delay: SimDuration,
    ignore_succeeded: bool,
    now: SimTime,
) -> PodGroups {
    let mut g = PodGroups::default();
    for pod in pods {
        let terminal =
            pod.phase == PodPhase::Failed || (ignore_succeeded && pod.phase == PodPhase::Succeeded);
        if pod.deleted || terminal {
            g.ignored.insert(pod.name.clone());
            continue;
        }
        if pod.phase == PodPhase::Pending {
            g.unready.insert(pod.name.clone());
            continue;
        }
        let Some(sample) = samples
            .iter()
            .find(|s| s.pod == pod.name && s.value_milli.is_some())
        else {
            g.missing.insert(pod.name.clone());
            continue;
        };
        if cpu_checks {
            let unready = match (pod.ready, pod.start_time) {
                (Some(ready), Some(start)) => {
                    if start + cpu_initialization_period > now {
                        // Young pod: unready, or no full sample window since the transition.
                        ready.status == ConditionStatus::False
                            || sample.timestamp < ready.last_transition + sample.window
                    } else {
                        // Old pod: set aside only if it turned unready right at start.
                        ready.status == ConditionStatus::False
                            && start + initial_readiness_delay > ready.last_transition
                    }
                }
                _ => true,
            };
            if unready {
                g.unready.insert(pod.name.clone());
                continue;
            }
        }
        g.ready_count += 1;
    }
    g
}
