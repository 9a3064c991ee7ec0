//! The replica calculator: one metric and the pods to a replica proposal.
//!
//! Arithmetic follows upstream's order exactly: integer milli sums, integer division for the
//! utilisation percent and averages, then an `f64` ratio, an `f64` product and `ceil`.

use std::collections::{BTreeMap, BTreeSet};

use sim_des::SimTime;

use super::grouping::group_pods;
use super::{
    ControllerFlags, HpaSemantics, MetricCurrent, MetricObservation, MetricSpec, PodInfo,
    PodSample, Tolerances,
};

/// A successful proposal of one metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricProposal {
    /// Proposed replicas (before stabilisation and limits).
    pub replicas: i32,
    /// The current value as reported in the HPA status.
    pub current: MetricCurrent,
}

/// A failed metric: the `ScalingActive` reason and the error text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricError {
    /// Condition reason, e.g. `FailedGetResourceMetric`.
    pub reason: &'static str,
    /// The calculator's error.
    pub message: String,
}

/// Everything the calculator needs besides the metric and its observation.
#[derive(Clone, Copy, Debug)]
pub struct CalcContext<'a> {
    /// Pods matched by the selector.
    pub pods: &'a [PodInfo],
    /// `scale.spec.replicas`.
    pub spec_replicas: i32,
    /// `scale.status.replicas`.
    pub status_replicas: i32,
    /// Tolerances.
    pub tolerances: Tolerances,
    /// Controller flags (CPU initialisation period, readiness delay).
    pub flags: &'a ControllerFlags,
    /// Version switches.
    pub semantics: &'a HpaSemantics,
    /// Sync time.
    pub now: SimTime,
}

fn current(util: Option<i32>, avg: Option<i64>, value: Option<i64>) -> MetricCurrent {
    MetricCurrent {
        average_utilization: util,
        average_value_milli: avg,
        value_milli: value,
    }
}

/// Computes one metric's proposal, as upstream's `computeReplicasForMetric`.
pub fn compute_metric(
    spec: &MetricSpec,
    obs: &MetricObservation,
    ctx: &CalcContext<'_>,
) -> Result<MetricProposal, MetricError> {
    match spec {
        MetricSpec::Resource { name, target }
        | MetricSpec::ContainerResource { name, target, .. } => {
            let container = match spec {
                MetricSpec::ContainerResource { container, .. } => Some(container.as_str()),
                _ => None,
            };
            let reason = if container.is_some() {
                "FailedGetContainerResourceMetric"
            } else {
                "FailedGetResourceMetric"
            };
            let fail = |m: String| MetricError { reason, message: m };
            let samples = resource_samples(name, container, obs, ctx.semantics).map_err(fail)?;
            if let Some(avg) = target.average_value_milli {
                let (replicas, usage) = plain_replicas(samples, avg, name == "cpu", ctx)
                    .map_err(|e| fail(format!("failed to get {name} usage: {e}")))?;
                Ok(MetricProposal {
                    replicas,
                    current: current(None, Some(usage), None),
                })
            } else if let Some(util) = target.average_utilization {
                let (replicas, percent, raw) =
                    utilization_replicas(samples, util, name, container, ctx)
                        .map_err(|e| fail(format!("failed to get {name} utilization: {e}")))?;
                Ok(MetricProposal {
                    replicas,
                    current: current(Some(percent), Some(raw), None),
                })
            } else {
                Err(fail(
                    "invalid resource metric source: neither an average utilization target nor an average value (usage) target was set"
                        .to_string(),
                ))
            }
        }
        MetricSpec::Pods { metric, target } => {
            let fail = |m: String| MetricError {
                reason: "FailedGetPodsMetric",
                message: m,
            };
            let samples = match obs {
                MetricObservation::PodSamples(s) if !s.is_empty() => s,
                MetricObservation::PodSamples(_) => {
                    return Err(fail(format!(
                        "unable to get metric {metric}: no metrics returned from custom metrics API"
                    )));
                }
                MetricObservation::Error(e) => {
                    return Err(fail(format!("unable to get metric {metric}: {e}")));
                }
                _ => {
                    return Err(fail(format!(
                        "unable to get metric {metric}: expected per-pod samples"
                    )));
                }
            };
            let avg = target.average_value_milli.unwrap_or(0);
            let (replicas, usage) = plain_replicas(samples_map(samples), avg, false, ctx)
                .map_err(|e| fail(format!("failed to get pods metric value: {e}")))?;
            Ok(MetricProposal {
                replicas,
                current: current(None, Some(usage), None),
            })
        }
        MetricSpec::Object { metric, target, .. } => {
            let fail = |m: String| MetricError {
                reason: "FailedGetObjectMetric",
                message: m,
            };
            let usage = match obs {
                MetricObservation::ObjectValue(v) => *v,
                MetricObservation::Error(e) => {
                    return Err(fail(format!("unable to get metric {metric}: {e}")));
                }
                _ => {
                    return Err(fail(format!(
                        "unable to get metric {metric}: expected an object value"
                    )));
                }
            };
            match (target.target_type, target.value_milli, target.average_value_milli) {
                (super::TargetType::Value, Some(t), _) => {
                    let ratio = usage as f64 / t as f64;
                    let replicas = usage_ratio_replicas(ratio, ctx).map_err(fail)?;
                    Ok(MetricProposal { replicas, current: current(None, None, Some(usage)) })
                }
                (super::TargetType::AverageValue, _, Some(t)) => {
                    let (replicas, per_pod) = per_pod_replicas(usage, t, ctx);
                    Ok(MetricProposal { replicas, current: current(None, Some(per_pod), None) })
                }
                _ => Err(fail(
                    "invalid object metric source: neither a value target nor an average value target was set".to_string(),
                )),
            }
        }
        MetricSpec::External { metric, target } => {
            let fail = |m: String| MetricError {
                reason: "FailedGetExternalMetric",
                message: m,
            };
            let values = match obs {
                MetricObservation::ExternalValues(v) => v,
                MetricObservation::Error(e) => {
                    return Err(fail(format!("unable to get external metric {metric}: {e}")));
                }
                _ => {
                    return Err(fail(format!(
                        "unable to get external metric {metric}: expected series values"
                    )));
                }
            };
            let usage = sum_external(values, ctx.semantics.overflow_guards);
            if let Some(t) = target.average_value_milli {
                let (replicas, per_pod) = per_pod_replicas(usage, t, ctx);
                Ok(MetricProposal {
                    replicas,
                    current: current(None, Some(per_pod), None),
                })
            } else if let Some(t) = target.value_milli {
                let ratio = usage as f64 / t as f64;
                let replicas = usage_ratio_replicas(ratio, ctx).map_err(fail)?;
                Ok(MetricProposal {
                    replicas,
                    current: current(None, None, Some(usage)),
                })
            } else {
                Err(fail("invalid external metric source: neither a value target nor an average value target was set".to_string()))
            }
        }
        MetricSpec::Unknown { source_type } => Err(MetricError {
            reason: "InvalidMetricSourceType",
            message: format!("unknown metric source type \"{source_type}\""),
        }),
    }
}

fn samples_map(samples: &[PodSample]) -> BTreeMap<String, (i64, &PodSample)> {
    let mut map = BTreeMap::new();
    for s in samples {
        if let Some(v) = s.value_milli {
            map.entry(s.pod.clone()).or_insert((v, s));
        }
    }
    map
}

fn resource_samples<'a>(
    resource: &str,
    container: Option<&str>,
    obs: &'a MetricObservation,
    sem: &HpaSemantics,
) -> Result<BTreeMap<String, (i64, &'a PodSample)>, String> {
    let samples = match obs {
        MetricObservation::PodSamples(s) => s,
        MetricObservation::Error(e) => {
            return Err(format!(
                "unable to get metrics for resource {resource}: {e}"
            ));
        }
        _ => {
            return Err(format!(
                "unable to get metrics for resource {resource}: expected per-pod samples"
            ));
        }
    };
    if samples.is_empty() {
        return Err(format!(
            "unable to get metrics for resource {resource}: no metrics returned from resource metrics API"
        ));
    }
    if let (Some(c), false) = (container, sem.missing_container_is_missing_pod)
        && let Some(s) = samples.iter().find(|s| s.value_milli.is_none())
    {
        return Err(format!(
            "unable to get metrics for resource {resource}: failed to get container metrics: container {c} not present in metrics for pod {}",
            s.pod
        ));
    }
    Ok(samples_map(samples))
}

fn sum_external(values: &[i64], guards: bool) -> i64 {
    let mut usage: i64 = 0;
    for &v in values {
        if guards && v > 0 && usage > i64::MAX - v {
            return i64::MAX;
        }
        usage = usage.wrapping_add(v);
    }
    usage
}

fn ceil_to_i32(x: f64) -> i32 {
    // `as` saturates, which is what upstream's MaxInt32 guards produce.
    x.ceil() as i32
}

/// Object/External `Value`: ratio × Running-and-Ready pods, or `ceil(ratio)` from zero.
fn usage_ratio_replicas(ratio: f64, ctx: &CalcContext<'_>) -> Result<i32, String> {
    if ctx.spec_replicas != 0 {
        if ctx
            .tolerances
            .is_within(ratio, ctx.semantics.tolerance_band)
        {
            return Ok(ctx.spec_replicas);
        }
        if ctx.pods.is_empty() {
            return Err("unable to calculate ready pods: no pods returned by selector while calculating replica count".to_string());
        }
        let ready = ctx.pods.iter().filter(|p| p.is_running_and_ready()).count();
        Ok(ceil_to_i32(ratio * ready as f64))
    } else {
        Ok(ceil_to_i32(ratio))
    }
}

/// Object/External `AverageValue`: divides by the status replicas; the proposal is
/// `ceil(usage / target)` outside the tolerance.
fn per_pod_replicas(usage: i64, target: i64, ctx: &CalcContext<'_>) -> (i32, i64) {
    let status = ctx.status_replicas;
    let ratio = usage as f64 / (target as f64 * status as f64);
    let replicas = if ctx
        .tolerances
        .is_within(ratio, ctx.semantics.tolerance_band)
    {
        status
    } else {
        ceil_to_i32(usage as f64 / target as f64)
    };
    let per_pod = if status == 0 {
        0
    } else {
        (usage as f64 / status as f64).ceil() as i64
    };
    (replicas, per_pod)
}

fn group(
    map: &BTreeMap<String, (i64, &PodSample)>,
    cpu_checks: bool,
    ctx: &CalcContext<'_>,
) -> super::PodGroups {
    let samples: Vec<PodSample> = map.values().map(|(_, s)| (*s).clone()).collect();
    group_pods(
        ctx.pods,
        &samples,
        cpu_checks,
        ctx.flags.cpu_initialization_period,
        ctx.flags.initial_readiness_delay,
        ctx.semantics.ignore_succeeded_pods,
        ctx.now,
    )
}

fn drop_pods(values: &mut BTreeMap<String, i64>, pods: &BTreeSet<String>) {
    for p in pods {
        values.remove(p);
    }
}

/// The common tail of both pod-based paths: fast path, then the rebalance with the two
/// direction-flip guards. `recompute` maps the rebalanced samples to a new ratio.
#[allow(clippy::too_many_arguments)]
fn rebalance_tail(
    ratio: f64,
    ready_count: usize,
    has_unready: bool,
    missing: &BTreeSet<String>,
    unready: &BTreeSet<String>,
    values: &mut BTreeMap<String, i64>,
    missing_fill: impl Fn(&str) -> i64,
    recompute: impl Fn(&BTreeMap<String, i64>) -> Result<f64, String>,
    ctx: &CalcContext<'_>,
) -> Result<i32, String> {
    let band = ctx.semantics.tolerance_band;
    let scale_up_with_unready = has_unready && ratio > 1.0;
    if !scale_up_with_unready && missing.is_empty() {
        if ctx.tolerances.is_within(ratio, band) {
            return Ok(ctx.spec_replicas);
        }
        return Ok(ceil_to_i32(ratio * ready_count as f64));
    }
    if !missing.is_empty() {
        if ratio < 1.0 {
            for p in missing {
                values.insert(p.clone(), missing_fill(p));
            }
        } else if ratio > 1.0 {
            for p in missing {
                values.insert(p.clone(), 0);
            }
        }
    }
    if scale_up_with_unready {
        for p in unready {
            values.insert(p.clone(), 0);
        }
    }
    let new_ratio = recompute(values)?;
    if ctx.tolerances.is_within(new_ratio, band)
        || (ratio < 1.0 && new_ratio > 1.0)
        || (ratio > 1.0 && new_ratio < 1.0)
    {
        return Ok(ctx.spec_replicas);
    }
    let n = ceil_to_i32(new_ratio * values.len() as f64);
    if (new_ratio < 1.0 && n > ctx.spec_replicas) || (new_ratio > 1.0 && n < ctx.spec_replicas) {
        return Ok(ctx.spec_replicas);
    }
    Ok(n)
}

/// Plain averages (Pods metrics, Resource AverageValue): returns (replicas, integer average).
fn plain_replicas(
    map: BTreeMap<String, (i64, &PodSample)>,
    target: i64,
    cpu_checks: bool,
    ctx: &CalcContext<'_>,
) -> Result<(i32, i64), String> {
    if ctx.pods.is_empty() {
        return Err("no pods returned by selector while calculating replica count".to_string());
    }
    let groups = group(&map, cpu_checks, ctx);
    let mut values: BTreeMap<String, i64> = map.iter().map(|(k, (v, _))| (k.clone(), *v)).collect();
    drop_pods(&mut values, &groups.ignored);
    drop_pods(&mut values, &groups.unready);
    if values.is_empty() {
        return Err(
            "did not receive metrics for targeted pods (pods might be unready)".to_string(),
        );
    }
    let usage_ratio = |v: &BTreeMap<String, i64>| -> (f64, i64) {
        let total: i64 = v.values().sum();
        let usage = total / v.len() as i64;
        (usage as f64 / target as f64, usage)
    };
    let (ratio, usage) = usage_ratio(&values);
    let replicas = rebalance_tail(
        ratio,
        groups.ready_count,
        !groups.unready.is_empty(),
        &groups.missing,
        &groups.unready,
        &mut values,
        |_| target,
        |v| Ok(usage_ratio(v).0),
        ctx,
    )?;
    Ok((replicas, usage))
}

fn pod_requests(
    pods: &[PodInfo],
    resource: &str,
    container: Option<&str>,
) -> Result<BTreeMap<String, i64>, String> {
    let mut out = BTreeMap::new();
    for pod in pods {
        let mut request = 0i64;
        let mut found = false;
        for c in &pod.containers {
            if container.is_none() || container == Some(c.name.as_str()) {
                let Some(r) = c.requests_milli.get(resource) else {
                    return Err(format!(
                        "missing request for {resource} in container {} of Pod {}",
                        c.name, pod.name
                    ));
                };
                request += r;
            }
            if container == Some(c.name.as_str()) {
                found = true;
                break;
            }
        }
        if let (Some(name), false) = (container, found) {
            return Err(format!("container {name} not found in Pod {}", pod.name));
        }
        out.insert(pod.name.clone(), request);
    }
    Ok(out)
}

/// `(Σ usage × 100) / Σ request` over samples of known pods: (ratio, percent, raw average).
fn utilization_ratio(
    values: &BTreeMap<String, i64>,
    requests: &BTreeMap<String, i64>,
    target: i32,
) -> Result<(f64, i32, i64), String> {
    let (mut usage_total, mut request_total, mut n) = (0i64, 0i64, 0i64);
    for (pod, v) in values {
        if let Some(r) = requests.get(pod) {
            usage_total += v;
            request_total += r;
            n += 1;
        }
    }
    if request_total == 0 {
        return Err("no metrics returned matched known pods".to_string());
    }
    let percent = ((usage_total * 100) / request_total) as i32;
    Ok((percent as f64 / target as f64, percent, usage_total / n))
}

/// Resource/ContainerResource Utilization: returns (replicas, percent, raw average).
fn utilization_replicas(
    map: BTreeMap<String, (i64, &PodSample)>,
    target: i32,
    resource: &str,
    container: Option<&str>,
    ctx: &CalcContext<'_>,
) -> Result<(i32, i32, i64), String> {
    if ctx.pods.is_empty() {
        return Err("no pods returned by selector while calculating replica count".to_string());
    }
    let groups = group(&map, resource == "cpu", ctx);
    let mut values: BTreeMap<String, i64> = map.iter().map(|(k, (v, _))| (k.clone(), *v)).collect();
    drop_pods(&mut values, &groups.ignored);
    drop_pods(&mut values, &groups.unready);
    if values.is_empty() {
        return Err(
            "did not receive metrics for targeted pods (pods might be unready)".to_string(),
        );
    }
    let requests = pod_requests(ctx.pods, resource, container)?;
    let (ratio, percent, raw) = utilization_ratio(&values, &requests, target)?;
    let fill_percent = if ctx.semantics.missing_fill_uses_target_above_100 {
        i64::from(target.max(100))
    } else {
        100
    };
    let replicas = rebalance_tail(
        ratio,
        groups.ready_count,
        !groups.unready.is_empty(),
        &groups.missing,
        &groups.unready,
        &mut values,
        |p| requests.get(p).copied().unwrap_or(0) * fill_percent / 100,
        |v| utilization_ratio(v, &requests, target).map(|r| r.0),
        ctx,
    )?;
    Ok((replicas, percent, raw))
}
