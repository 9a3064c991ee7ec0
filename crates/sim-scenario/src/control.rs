//! Lowering of the control plane: `[prometheus]`, `[adapter]`, `[hpa]` and `[keda]`.

use std::collections::BTreeMap;

use regex::Regex;
use sim_cluster::vllm_metrics;
use sim_des::SimDuration;
use sim_engine::{
    AutoscalerSpec, ControlSpec, HpaLoopSpec, KedaLoopSpec, KpaLoopSpec, MetricSource, Names,
    PrometheusSpec, ScrapeFailure, ScrapeJob, TriggerQuery,
};
use sim_policy::hpa::{
    ControllerFlags, FeatureGates, HpaBehavior, HpaConfig, K8sVersion, MetricSpec, MetricTarget,
    PolicyKind, ScalingPolicy, ScalingRules, SelectPolicy, TargetType,
};
use sim_policy::keda::{
    self, Fallback, FallbackBehavior, KedaConfig, KedaVersion, ScalingModifiers, Trigger,
    TriggerSource,
};
use sim_policy::kpa::{KpaConfig, KpaMetric};

use crate::error::ScenarioError;
use crate::locate::Locator;
use crate::wire::{
    AdapterRuleTable, BehaviorTable, ControllerTable, HpaTable, KedaTable, ScalingRulesTable,
    ScenarioFile,
};

/// The adapter's default metrics query.
const DEFAULT_METRICS_QUERY: &str = "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)";

/// Lowers the control-plane tables. `names` are the Deployment's names.
pub(crate) fn lower_control(
    loc: &Locator<'_>,
    f: &ScenarioFile,
    names: &Names,
) -> Result<ControlSpec, ScenarioError> {
    let prometheus = prometheus(loc, f)?;
    // The adapter runs whether or not an HPA reads it: check its rules either way.
    adapter_rules(loc, f)?;
    let autoscaler = match (&f.hpa, &f.keda) {
        (Some(_), Some(_)) => {
            return Err(loc.error(
                &["keda"],
                "give either [hpa] or [keda], not both (KEDA creates its own HPA)",
            ));
        }
        (Some(h), None) => AutoscalerSpec::Hpa(Box::new(hpa(loc, f, h, names)?)),
        (None, Some(k)) => AutoscalerSpec::Keda(Box::new(keda(loc, k, names)?)),
        (None, None) => AutoscalerSpec::None,
    };
    let autoscaler = match (&f.kpa, autoscaler) {
        (None, a) => a,
        (Some(_), AutoscalerSpec::None) => {
            AutoscalerSpec::Kpa(Box::new(kpa(loc, f.kpa.as_ref().expect("set"), names)?))
        }
        (Some(_), _) => {
            return Err(loc.error(&["kpa"], "give only one autoscaler: [hpa], [keda] or [kpa]"));
        }
    };
    Ok(ControlSpec {
        prometheus,
        autoscaler,
    })
}

pub(crate) fn positive(loc: &Locator<'_>, path: &[&str], v: f64) -> Result<f64, ScenarioError> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(loc.error(
            path,
            format!(
                "{} must be a positive number, got {v}",
                path.last().unwrap_or(&"")
            ),
        ))
    }
}

/// A number of seconds with a floor: intervals below it would only make a run slow, never
/// more faithful (Kubernetes, KEDA and Prometheus do not go below these either).
pub(crate) fn at_least(
    loc: &Locator<'_>,
    path: &[&str],
    v: f64,
    min: f64,
    unit: &str,
) -> Result<f64, ScenarioError> {
    if v.is_finite() && v >= min {
        Ok(v)
    } else {
        Err(loc.error(
            path,
            format!(
                "{} must be at least {min} {unit}, got {v}",
                path.last().unwrap_or(&"")
            ),
        ))
    }
}

pub(crate) fn non_negative(loc: &Locator<'_>, path: &[&str], v: f64) -> Result<f64, ScenarioError> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(loc.error(
            path,
            format!(
                "{} must be zero or more, got {v}",
                path.last().unwrap_or(&"")
            ),
        ))
    }
}

fn prometheus(loc: &Locator<'_>, f: &ScenarioFile) -> Result<PrometheusSpec, ScenarioError> {
    let p = &f.prometheus;
    let d = PrometheusSpec::default();
    let mut failures = Vec::new();
    for (i, w) in p.failures.iter().enumerate() {
        let idx = i.to_string();
        let job = match w.job.as_deref().unwrap_or("vllm") {
            "vllm" => ScrapeJob::Vllm,
            "dcgm" => ScrapeJob::Dcgm,
            "gateway" => ScrapeJob::Gateway,
            other => {
                return Err(loc.error(
                    &["prometheus", "failures", &idx, "job"],
                    format!("job must be \"vllm\", \"dcgm\" or \"gateway\", got {other:?}"),
                ));
            }
        };
        non_negative(loc, &["prometheus", "failures", &idx, "start_s"], w.start_s)?;
        if w.end_s.partial_cmp(&w.start_s) != Some(std::cmp::Ordering::Greater) {
            return Err(loc.error(
                &["prometheus", "failures", &idx, "end_s"],
                format!("end_s ({}) must be after start_s ({})", w.end_s, w.start_s),
            ));
        }
        failures.push(ScrapeFailure {
            start_s: w.start_s,
            end_s: w.end_s,
            job,
        });
    }
    let spec = PrometheusSpec {
        scrape_interval_s: p.scrape_interval_s.unwrap_or(d.scrape_interval_s),
        lookback_s: p.lookback_s.unwrap_or(d.lookback_s),
        scrape_vllm: p.scrape_vllm.unwrap_or(true),
        scrape_dcgm: p.scrape_dcgm.unwrap_or(true),
        dcgm_collect_interval_s: p
            .dcgm_collect_interval_s
            .unwrap_or(d.dcgm_collect_interval_s),
        dcgm_sample_window_s: p.dcgm_sample_window_s.unwrap_or(d.dcgm_sample_window_s),
        failures,
        scrape_offset_s: p.scrape_offset_s,
    };
    if let Some(o) = spec.scrape_offset_s {
        non_negative(loc, &["prometheus", "scrape_offset_s"], o)?;
        if o >= spec.scrape_interval_s {
            return Err(loc.error(
                &["prometheus", "scrape_offset_s"],
                "scrape_offset_s must be below scrape_interval_s",
            ));
        }
    }
    at_least(
        loc,
        &["prometheus", "scrape_interval_s"],
        spec.scrape_interval_s,
        1.0,
        "s",
    )?;
    positive(loc, &["prometheus", "lookback_s"], spec.lookback_s)?;
    at_least(
        loc,
        &["prometheus", "dcgm_collect_interval_s"],
        spec.dcgm_collect_interval_s,
        0.1,
        "s",
    )?;
    positive(
        loc,
        &["prometheus", "dcgm_sample_window_s"],
        spec.dcgm_sample_window_s,
    )?;
    if spec.dcgm_sample_window_s > spec.dcgm_collect_interval_s {
        return Err(loc.error(
            &["prometheus", "dcgm_sample_window_s"],
            "dcgm_sample_window_s cannot exceed dcgm_collect_interval_s",
        ));
    }
    Ok(spec)
}

/// An optional non-negative number of seconds, or `default`.
fn opt_secs(
    loc: &Locator<'_>,
    path: &[&str],
    v: Option<f64>,
    default: SimDuration,
) -> Result<SimDuration, ScenarioError> {
    match v {
        None => Ok(default),
        Some(x) => Ok(SimDuration::from_secs_f64(non_negative(loc, path, x)?)),
    }
}

/// Parses a query, and warns when it reads a series nothing in the simulation exports (a
/// misspelt name returns no data, which the autoscaler reports as an error every poll).
fn parse_query(
    loc: &Locator<'_>,
    path: &[&str],
    text: &str,
) -> Result<sim_metrics::Query, ScenarioError> {
    let q =
        sim_metrics::parse(text).map_err(|e| loc.error(path, format!("query {text:?}: {e}")))?;
    let known = exported_series();
    for name in q.metric_names().0 {
        if !known.contains(&name) {
            let hint = closest(&name, &known)
                .map(|c| format!(" (did you mean {c}?)"))
                .unwrap_or_default();
            loc.warn(
                path,
                format!(
                    "the query reads {name}, which no simulated exporter exposes{hint}; it will \
                     return no data"
                ),
            );
        }
    }
    Ok(q)
}

/// Every series name a query can find: the pods', the DCGM exporter's, the gateway's, and
/// Prometheus' own `up`.
fn exported_series() -> Vec<String> {
    let mut all = exposed_series();
    all.extend(
        [
            vllm_metrics::GATEWAY_QUEUE,
            vllm_metrics::GATEWAY_INFLIGHT,
            "up",
        ]
        .map(String::from),
    );
    all
}

/// The known name nearest to `name` by edit distance, when it is close (a likely typo).
fn closest<'a>(name: &str, known: &'a [String]) -> Option<&'a str> {
    let (best, d) = known
        .iter()
        .map(|k| (k, edit_distance(name, k)))
        .min_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(b.0)))?;
    (d <= 3.max(name.len() / 5)).then_some(best.as_str())
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn controller(
    loc: &Locator<'_>,
    base: &str,
    c: &ControllerTable,
) -> Result<ControllerFlags, ScenarioError> {
    let d = ControllerFlags::default();
    let secs = |key: &str, v: Option<f64>, default: SimDuration| {
        opt_secs(loc, &[base, "controller", key], v, default)
    };
    let sync_period = secs("sync_period_s", c.sync_period_s, d.sync_period)?;
    at_least(
        loc,
        &[base, "controller", "sync_period_s"],
        sync_period.as_secs_f64(),
        1.0,
        "s",
    )?;
    let tolerance = match c.tolerance {
        None => d.tolerance,
        Some(t) => non_negative(loc, &[base, "controller", "tolerance"], t)?,
    };
    Ok(ControllerFlags {
        sync_period,
        tolerance,
        downscale_stabilization: secs(
            "downscale_stabilization_s",
            c.downscale_stabilization_s,
            d.downscale_stabilization,
        )?,
        cpu_initialization_period: secs(
            "cpu_initialization_period_s",
            c.cpu_initialization_period_s,
            d.cpu_initialization_period,
        )?,
        initial_readiness_delay: secs(
            "initial_readiness_delay_s",
            c.initial_readiness_delay_s,
            d.initial_readiness_delay,
        )?,
        ..d
    })
}

fn k8s_version(
    loc: &Locator<'_>,
    base: &str,
    v: Option<&str>,
) -> Result<K8sVersion, ScenarioError> {
    match v {
        None => Ok(K8sVersion::default()),
        Some(text) => K8sVersion::parse(text).ok_or_else(|| {
            loc.error(
                &[base, "kubernetes_version"],
                format!("unknown kubernetes_version {text:?}; use 1.20, 1.26, 1.33 or master"),
            )
        }),
    }
}

fn behavior(
    loc: &Locator<'_>,
    base: &str,
    b: &BehaviorTable,
    tolerance_gate: bool,
) -> Result<HpaBehavior, ScenarioError> {
    let dir = |key: &str,
               r: &Option<ScalingRulesTable>|
     -> Result<Option<ScalingRules>, ScenarioError> {
        let Some(r) = r else { return Ok(None) };
        let path = [base, "behavior", key];
        if let Some(w) = r.stabilization_window_s
            && !(0..=3600).contains(&w)
        {
            return Err(loc.error(
                &[base, "behavior", key, "stabilization_window_s"],
                format!("stabilization_window_s must be between 0 and 3600, got {w}"),
            ));
        }
        let select_policy = match r.select_policy.as_deref() {
            None => None,
            Some("Max") => Some(SelectPolicy::Max),
            Some("Min") => Some(SelectPolicy::Min),
            Some("Disabled") => Some(SelectPolicy::Disabled),
            Some(other) => {
                return Err(loc.error(
                    &[base, "behavior", key, "select_policy"],
                    format!(
                        "select_policy must be \"Max\", \"Min\" or \"Disabled\", got {other:?}"
                    ),
                ));
            }
        };
        let policies = match &r.policies {
            None => None,
            Some(list) => {
                let mut out = Vec::new();
                for (i, p) in list.iter().enumerate() {
                    let idx = i.to_string();
                    let at = |k: &str| loc.error(&[base, "behavior", key, "policies", &idx, k], "");
                    let kind = match p.kind.as_str() {
                        "Pods" => PolicyKind::Pods,
                        "Percent" => PolicyKind::Percent,
                        other => {
                            let mut e = at("type");
                            e.message = format!(
                                "policy type must be \"Pods\" or \"Percent\", got {other:?}"
                            );
                            return Err(e);
                        }
                    };
                    if p.value <= 0 {
                        let mut e = at("value");
                        e.message = format!("policy value must be greater than 0, got {}", p.value);
                        return Err(e);
                    }
                    if !(1..=1800).contains(&p.period_s) {
                        let mut e = at("period_s");
                        e.message =
                            format!("period_s must be between 1 and 1800, got {}", p.period_s);
                        return Err(e);
                    }
                    out.push(ScalingPolicy {
                        kind,
                        value: p.value,
                        period_s: p.period_s,
                    });
                }
                if out.is_empty() && select_policy != Some(SelectPolicy::Disabled) {
                    return Err(loc.error(
                        &path,
                        "policies must not be empty unless select_policy is \"Disabled\"",
                    ));
                }
                Some(out)
            }
        };
        if let Some(t) = r.tolerance {
            let at = [base, "behavior", key, "tolerance"];
            non_negative(loc, &at, t)?;
            if !tolerance_gate {
                // The API server drops the field without the gate; say so instead.
                return Err(loc.error(
                    &at,
                    if base == "hpa" {
                        "tolerance needs configurable_tolerance_gate = true (without the HPAConfigurableTolerance gate the API server drops it)"
                    } else {
                        "tolerance needs the HPAConfigurableTolerance gate, which the HPA KEDA generates does not have here"
                    },
                ));
            }
        }
        Ok(Some(ScalingRules {
            stabilization_window_s: r.stabilization_window_s,
            select_policy,
            policies,
            tolerance: r.tolerance,
        }))
    };
    Ok(HpaBehavior {
        scale_up: dir("scale_up", &b.scale_up)?,
        scale_down: dir("scale_down", &b.scale_down)?,
    })
}

/// Target quantities as milli-units (Kubernetes `MilliValue()` rounds up).
fn milli(v: f64) -> i64 {
    (v * 1000.0).ceil() as i64
}

fn hpa(
    loc: &Locator<'_>,
    f: &ScenarioFile,
    h: &HpaTable,
    names: &Names,
) -> Result<HpaLoopSpec, ScenarioError> {
    let min = h.min_replicas.unwrap_or(1);
    if min < 1 {
        return Err(loc.error(
            &["hpa", "min_replicas"],
            format!(
                "min_replicas must be at least 1 (0 needs the alpha HPAScaleToZero gate), got {min}"
            ),
        ));
    }
    if h.max_replicas < min {
        return Err(loc.error(
            &["hpa", "max_replicas"],
            format!(
                "max_replicas ({}) must be at least min_replicas ({min})",
                h.max_replicas
            ),
        ));
    }
    if h.metrics.is_empty() {
        return Err(loc.error(
            &["hpa"],
            "[hpa] needs at least one [[hpa.metrics]] (the API default, cpu utilisation, is not simulated)",
        ));
    }
    let rules = adapter_rules(loc, f)?;
    let mut metrics = Vec::new();
    let mut sources = Vec::new();
    for (i, m) in h.metrics.iter().enumerate() {
        let idx = i.to_string();
        let at = |k: &'static str| vec!["hpa", "metrics", idx.as_str(), k];
        if !matches!(m.kind.as_str(), "pods" | "object" | "external") {
            return Err(loc.error(
                &at("type"),
                format!("type must be \"pods\", \"object\" or \"external\" (resource metrics are not simulated), got {:?}", m.kind),
            ));
        }
        let target = match (m.target_average_value, m.target_value) {
            (Some(v), None) => {
                positive(loc, &at("target_average_value"), v)?;
                MetricTarget::average_value_milli(milli(v))
            }
            (None, Some(v)) if m.kind != "pods" => {
                positive(loc, &at("target_value"), v)?;
                MetricTarget::value_milli(milli(v))
            }
            (None, Some(_)) => {
                return Err(loc.error(
                    &at("target_value"),
                    "pods metrics take target_average_value only",
                ));
            }
            _ => {
                return Err(loc.error(
                    &["hpa", "metrics", &idx],
                    "give exactly one of target_average_value and target_value",
                ));
            }
        };
        let (spec, source) = match m.kind.as_str() {
            "pods" => {
                if m.query.is_some() {
                    return Err(loc.error(
                        &at("query"),
                        "pods metrics come from the Prometheus Adapter's rules ([adapter]); query is for object and external metrics",
                    ));
                }
                let source = adapter_source(loc, &rules, &m.metric, names, &at("metric"))?;
                (
                    MetricSpec::Pods {
                        metric: m.metric.clone(),
                        target,
                    },
                    source,
                )
            }
            "object" | "external" => {
                let text = m.query.as_deref().ok_or_else(|| {
                    loc.error(
                        &["hpa", "metrics", &idx],
                        format!(
                            "{} metrics need query (the PromQL behind the metric)",
                            m.kind
                        ),
                    )
                })?;
                let query = parse_query(loc, &at("query"), text)?;
                let spec = if m.kind == "object" {
                    MetricSpec::Object {
                        described_kind: m
                            .described_kind
                            .clone()
                            .unwrap_or_else(|| "Service".into()),
                        metric: m.metric.clone(),
                        target,
                    }
                } else {
                    MetricSpec::External {
                        metric: m.metric.clone(),
                        target,
                    }
                };
                (spec, MetricSource::Values { query })
            }
            other => unreachable!("metric type {other:?} was checked above"),
        };
        if m.described_kind.is_some() && m.kind != "object" {
            return Err(loc.error(
                &at("described_kind"),
                "described_kind applies to object metrics only",
            ));
        }
        metrics.push(spec);
        sources.push(source);
    }
    let mut config = HpaConfig::new(Some(min), h.max_replicas, metrics);
    config.controller = controller(loc, "hpa", &h.controller)?;
    config.version = k8s_version(loc, "hpa", h.kubernetes_version.as_deref())?;
    config.gates = FeatureGates {
        hpa_scale_to_zero: false,
        hpa_configurable_tolerance: h.configurable_tolerance_gate.unwrap_or(false),
    };
    if let Some(b) = &h.behavior {
        config.behavior = Some(behavior(
            loc,
            "hpa",
            b,
            config.gates.hpa_configurable_tolerance,
        )?);
    }
    if let Some(t) = h.first_sync_s {
        non_negative(loc, &["hpa", "first_sync_s"], t)?;
    }
    Ok(HpaLoopSpec {
        first_sync_s: h.first_sync_s,
        adapter_relist_interval_s: at_least(
            loc,
            &["adapter", "relist_interval_s"],
            f.adapter.relist_interval_s.unwrap_or(60.0),
            1.0,
            "s",
        )?,
        name: h
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-hpa", names.deployment)),
        config,
        sources,
    })
}

/// One adapter rule, compiled.
struct Rule {
    series: SeriesFilter,
    matches: Regex,
    name_as: String,
    metrics_query: String,
}

/// Which series names a rule's `seriesQuery` selects.
enum SeriesFilter {
    Exact(String),
    Regex(Regex),
}

impl SeriesFilter {
    fn selects(&self, name: &str) -> bool {
        match self {
            SeriesFilter::Exact(n) => n == name,
            SeriesFilter::Regex(r) => r.is_match(name),
        }
    }
}

fn default_rules() -> Vec<AdapterRuleTable> {
    vec![
        AdapterRuleTable {
            series_query: r#"{__name__=~"^vllm:.*",namespace!="",pod!=""}"#.into(),
            name_matches: Some("^vllm:(.*)$".into()),
            name_as: Some("vllm_${1}".into()),
            metrics_query: None,
        },
        AdapterRuleTable {
            series_query: r#"{__name__=~"^DCGM_.*",namespace!="",pod!=""}"#.into(),
            name_matches: None,
            name_as: None,
            metrics_query: None,
        },
    ]
}

/// An anchored regex as Prometheus applies `=~` (the whole name must match).
fn anchored(re: &str) -> Result<Regex, regex::Error> {
    compiled(&format!("^(?:{re})$"))
}

/// `Regex::new`, remembered per process (a clone shares the compiled program): a sweep loads
/// every point's scenario, and compiling the same adapter rules for each of 10,000 points
/// was a tenth of planning. At most 256 patterns are kept, so odd inputs cannot grow it.
fn compiled(pattern: &str) -> Result<Regex, regex::Error> {
    use std::collections::BTreeMap;
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<BTreeMap<String, Regex>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(BTreeMap::new()));
    if let Some(re) = cache.lock().ok().and_then(|c| c.get(pattern).cloned()) {
        return Ok(re);
    }
    let re = Regex::new(pattern)?;
    if let Ok(mut c) = cache.lock()
        && c.len() < 256
    {
        c.insert(pattern.to_string(), re.clone());
    }
    Ok(re)
}

fn adapter_rules(loc: &Locator<'_>, f: &ScenarioFile) -> Result<Vec<Rule>, ScenarioError> {
    let user = f.adapter.rules.is_some();
    let tables = f.adapter.rules.clone().unwrap_or_else(default_rules);
    let mut out = Vec::new();
    for (i, r) in tables.iter().enumerate() {
        let idx = i.to_string();
        let err = |key: &str, msg: String| {
            if user {
                loc.error(&["adapter", "rules", &idx, key], msg)
            } else {
                ScenarioError::whole_file("built-in adapter rules", msg)
            }
        };
        let series = series_filter(&r.series_query).map_err(|m| err("series_query", m))?;
        let matches = compiled(r.name_matches.as_deref().unwrap_or("^(.*)$")).map_err(|e| {
            err(
                "name_matches",
                format!("name_matches is not a valid regex: {e}"),
            )
        })?;
        let metrics_query = r
            .metrics_query
            .clone()
            .unwrap_or_else(|| DEFAULT_METRICS_QUERY.into());
        if !metrics_query.contains("<<.Series>>") {
            return Err(err(
                "metrics_query",
                "metrics_query must contain <<.Series>>".into(),
            ));
        }
        // Check the template's PromQL now, with stand-ins, rather than when a metric uses it.
        let sample = metrics_query
            .replace("<<.Series>>", "some_series")
            .replace("<<.LabelMatchers>>", "namespace=\"default\"")
            .replace("<<.GroupBy>>", "pod");
        if let Err(e) = sim_metrics::parse(&sample) {
            return Err(err(
                "metrics_query",
                format!("metrics_query {metrics_query:?}: {e}"),
            ));
        }
        out.push(Rule {
            series,
            matches,
            name_as: r.name_as.clone().unwrap_or_else(|| "${1}".into()),
            metrics_query,
        });
    }
    Ok(out)
}

/// Reads the metric-name part of a `seriesQuery`: `name{...}`, `{__name__="name",...}` or
/// `{__name__=~"regex",...}`. Other matchers select pods and namespaces, which every series
/// of a pod has.
fn series_filter(q: &str) -> Result<SeriesFilter, String> {
    let q = q.trim();
    let (head, body) = match q.find('{') {
        Some(i) => (&q[..i], &q[i..]),
        None => (q, ""),
    };
    if !head.trim().is_empty() {
        return Ok(SeriesFilter::Exact(head.trim().to_string()));
    }
    for (op, regex) in [("__name__=~", true), ("__name__=", false)] {
        if let Some(pos) = body.find(op) {
            let rest = &body[pos + op.len()..];
            let quote = rest
                .chars()
                .next()
                .filter(|c| *c == '"' || *c == '\'')
                .ok_or("expected a quoted value after __name__")?;
            let end = rest[1..]
                .find(quote)
                .ok_or("unterminated string in series_query")?;
            let value = &rest[1..1 + end];
            return if regex {
                anchored(value)
                    .map(SeriesFilter::Regex)
                    .map_err(|e| format!("bad __name__ regex: {e}"))
            } else {
                Ok(SeriesFilter::Exact(value.to_string()))
            };
        }
    }
    Err(format!(
        "series_query {q:?} names no metric (give name{{...}} or {{__name__=~\"...\"}})"
    ))
}

/// Every series name our pods and exporters expose.
fn exposed_series() -> Vec<String> {
    let mut all: Vec<String> = vllm_metrics::VLLM_FAMILIES
        .iter()
        .flat_map(|f| vllm_metrics::series_names(f))
        .collect();
    all.push(vllm_metrics::DCGM_GPU_UTIL.to_string());
    all
}

/// Finds the series behind custom metric `metric` the way the adapter names series, and
/// builds the query it would run.
fn adapter_source(
    loc: &Locator<'_>,
    rules: &[Rule],
    metric: &str,
    names: &Names,
    path: &[&str],
) -> Result<MetricSource, ScenarioError> {
    for rule in rules {
        for series in exposed_series() {
            if !rule.series.selects(&series) {
                continue;
            }
            let Some(caps) = rule.matches.captures(&series) else {
                continue;
            };
            let mut exposed = String::new();
            caps.expand(&rule.name_as, &mut exposed);
            if exposed != metric {
                continue;
            }
            let matchers = format!(
                "namespace=\"{}\",pod=~\"{}-.*\"",
                names.namespace, names.deployment
            );
            let text = rule
                .metrics_query
                .replace("<<.Series>>", &series)
                .replace("<<.LabelMatchers>>", &matchers)
                .replace("<<.GroupBy>>", "pod");
            let query = parse_query(loc, path, &text)?;
            return Ok(MetricSource::PerPod { query, series });
        }
    }
    // Like a real adapter without a matching rule: the HPA sees an error every sync.
    loc.warn(
        path,
        format!(
            "no Prometheus Adapter rule serves pods metric {metric}; the HPA will report \
             FailedGetPodsMetric at every sync and never scale on it"
        ),
    );
    Ok(MetricSource::Unavailable {
        message: format!(
            "unable to fetch metrics from custom metrics API: the server could not find the metric {metric} for pods"
        ),
    })
}

fn keda(loc: &Locator<'_>, k: &KedaTable, names: &Names) -> Result<KedaLoopSpec, ScenarioError> {
    let secs = |key: &str, v: Option<f64>, default: f64| -> Result<SimDuration, ScenarioError> {
        Ok(SimDuration::from_secs_f64(non_negative(
            loc,
            &["keda", key],
            v.unwrap_or(default),
        )?))
    };
    let name = k
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-keda", names.deployment));
    if k.triggers.is_empty() {
        return Err(loc.error(&["keda"], "[keda] needs at least one [[keda.triggers]]"));
    }
    let version = match k.keda_version.as_deref() {
        None => KedaVersion::default(),
        Some(v) => KedaVersion::parse(v).ok_or_else(|| {
            loc.error(
                &["keda", "keda_version"],
                format!("unknown keda_version {v:?}; use 2.16 … 2.20"),
            )
        })?,
    };
    let mut triggers = Vec::new();
    let mut queries = Vec::new();
    for (i, t) in k.triggers.iter().enumerate() {
        let idx = i.to_string();
        let at = |key: &'static str| vec!["keda", "triggers", idx.as_str(), key];
        if t.kind != "prometheus" {
            return Err(loc.error(
                &at("type"),
                format!("only prometheus triggers are simulated, got {:?}", t.kind),
            ));
        }
        let metric_type = keda::parse_metric_type(t.metric_type.as_deref().unwrap_or(""))
            .map_err(|m| loc.error(&at("metric_type"), m))?;
        if !t.threshold.is_finite() || t.threshold <= 0.0 {
            return Err(loc.error(
                &at("threshold"),
                format!("threshold must be a positive number, got {}", t.threshold),
            ));
        }
        if keda::quantity_milli(t.threshold, version) <= 0 {
            return Err(loc.error(
                &at("threshold"),
                format!(
                    "threshold {} is 0 in the milli-units KEDA gives the HPA; use at least 0.001",
                    t.threshold
                ),
            ));
        }
        if let Some(n) = t.name.as_deref().filter(|n| !n.is_empty())
            && k.triggers[..i].iter().any(|o| o.name.as_deref() == Some(n))
        {
            return Err(loc.error(
                &at("name"),
                format!("trigger name {n:?} is used twice; trigger names must be unique"),
            ));
        }
        let activation = t.activation_threshold.unwrap_or(0.0);
        if !activation.is_finite() {
            return Err(loc.error(
                &at("activation_threshold"),
                "activation_threshold must be a number",
            ));
        }
        let mut trig =
            Trigger::external(i, t.name.as_deref().unwrap_or(""), t.threshold, activation);
        trig.source = TriggerSource::External;
        trig.metric_type = metric_type;
        trig.use_cached_metrics = t.use_cached_metrics.unwrap_or(false);
        triggers.push(trig);
        queries.push(TriggerQuery {
            query: parse_query(loc, &at("query"), &t.query)?,
            ignore_null_values: t.ignore_null_values.unwrap_or(true),
        });
    }
    let mut cfg = KedaConfig::new(&name, triggers);
    cfg.polling_interval = secs("polling_interval_s", k.polling_interval_s, 30.0)?;
    at_least(
        loc,
        &["keda", "polling_interval_s"],
        cfg.polling_interval.as_secs_f64(),
        1.0,
        "s",
    )?;
    cfg.cooldown_period = secs("cooldown_period_s", k.cooldown_period_s, 300.0)?;
    cfg.initial_cooldown_period = secs(
        "initial_cooldown_period_s",
        k.initial_cooldown_period_s,
        0.0,
    )?;
    for (key, v, least) in [
        ("min_replica_count", k.min_replica_count, 0),
        ("max_replica_count", k.max_replica_count, 1),
        ("idle_replica_count", k.idle_replica_count, 0),
    ] {
        if let Some(n) = v.filter(|&n| n < least) {
            return Err(loc.error(
                &["keda", key],
                format!("{key} must be at least {least}, got {n}"),
            ));
        }
    }
    cfg.min_replica_count = k.min_replica_count;
    cfg.max_replica_count = k.max_replica_count;
    cfg.idle_replica_count = k.idle_replica_count;
    cfg.version = version;
    cfg.target_description = format!("Deployment {}/{}", names.namespace, names.deployment);
    if let Some(a) = &k.annotations {
        cfg.annotations = a
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<BTreeMap<_, _>>();
        // The operator writes paused-replicas to the Deployment as it stands.
        if let Some(v) = a.get(keda::PAUSED_REPLICAS) {
            let max = cfg.hpa_max_replicas();
            if !v
                .trim()
                .parse::<i32>()
                .is_ok_and(|n| (0..=max).contains(&n))
            {
                return Err(loc.error(
                    &["keda", "annotations", keda::PAUSED_REPLICAS],
                    format!(
                        "{} must be a whole number from 0 to maxReplicaCount ({max}), got {v:?}",
                        keda::PAUSED_REPLICAS
                    ),
                ));
            }
        }
    }
    if let Some(fb) = &k.fallback {
        let behavior = match fb.behavior.as_deref().unwrap_or("static") {
            "static" => FallbackBehavior::Static,
            "currentReplicas" => FallbackBehavior::CurrentReplicas,
            "currentReplicasIfHigher" => FallbackBehavior::CurrentReplicasIfHigher,
            "currentReplicasIfLower" => FallbackBehavior::CurrentReplicasIfLower,
            "scalingModifiers" => FallbackBehavior::ScalingModifiers,
            other => {
                return Err(loc.error(
                    &["keda", "fallback", "behavior"],
                    format!("unknown fallback behavior {other:?}; use static, currentReplicas, currentReplicasIfHigher, currentReplicasIfLower or scalingModifiers"),
                ));
            }
        };
        for (key, v) in [
            ("failure_threshold", fb.failure_threshold),
            ("replicas", fb.replicas),
        ] {
            if v < 0 {
                return Err(loc.error(
                    &["keda", "fallback", key],
                    format!("{key} must be zero or more, got {v}"),
                ));
            }
        }
        cfg.fallback = Some(Fallback {
            failure_threshold: fb.failure_threshold,
            replicas: fb.replicas,
            behavior,
        });
    }
    if let Some(m) = &k.scaling_modifiers {
        let at = |key: &str| loc.error(&["keda", "scaling_modifiers", key], "");
        let formula = keda::Formula::parse(&m.formula).map_err(|e| {
            let mut err = at("formula");
            err.message = format!("formula {:?}: {e}", m.formula);
            err
        })?;
        for v in formula.variables() {
            if !k
                .triggers
                .iter()
                .any(|t| t.name.as_deref() == Some(v.as_str()))
            {
                let mut err = at("formula");
                err.message = format!("formula names {v:?}, which is no trigger's name");
                return Err(err);
            }
        }
        let target_ok = m
            .target
            .trim()
            .parse::<f64>()
            .is_ok_and(|x| x.is_finite() && keda::quantity_milli(x, version) > 0);
        if !target_ok {
            let mut err = at("target");
            err.message = format!(
                "target must be a positive number of at least 0.001, written as a string, got {:?}",
                m.target
            );
            return Err(err);
        }
        let metric_type = match m.metric_type.as_deref().unwrap_or("AverageValue") {
            "AverageValue" => TargetType::AverageValue,
            "Value" => TargetType::Value,
            other => {
                return Err(loc.error(
                    &["keda", "scaling_modifiers", "metric_type"],
                    format!("metric_type must be \"AverageValue\" or \"Value\", got {other:?}"),
                ));
            }
        };
        cfg.scaling_modifiers = Some(ScalingModifiers {
            formula: m.formula.clone(),
            target: m.target.clone(),
            activation_target: m.activation_target.unwrap_or(0.0),
            metric_type,
        });
    }
    if let Some(b) = &k.behavior {
        cfg.hpa_behavior = Some(behavior(loc, "keda", b, false)?);
    }
    let mut template = HpaConfig::new(Some(1), 100, Vec::new());
    template.controller = controller(loc, "keda", &k.controller)?;
    template.version = k8s_version(loc, "keda", k.kubernetes_version.as_deref())?;
    cfg.hpa_template = template;
    cfg.validate_replica_bounds().map_err(|m| {
        let key = if m.starts_with("IdleReplicaCount") {
            "idle_replica_count"
        } else if k.max_replica_count.is_some() {
            "max_replica_count"
        } else {
            "min_replica_count"
        };
        loc.error(&["keda", key], m)
    })?;
    for (key, v) in [
        ("first_poll_s", k.first_poll_s),
        ("first_sync_s", k.first_sync_s),
    ] {
        if let Some(t) = v {
            non_negative(loc, &["keda", key], t)?;
        }
    }
    Ok(KedaLoopSpec {
        config: cfg,
        triggers: queries,
        first_poll_s: k.first_poll_s,
        first_sync_s: k.first_sync_s,
    })
}

fn kpa(
    loc: &Locator<'_>,
    k: &crate::wire::KpaTable,
    names: &Names,
) -> Result<KpaLoopSpec, ScenarioError> {
    let d = KpaConfig::default();
    let secs =
        |key: &str, v: Option<f64>, default: SimDuration| opt_secs(loc, &["kpa", key], v, default);
    let metric = match k.metric.as_deref().unwrap_or("concurrency") {
        "concurrency" => KpaMetric::Concurrency,
        "rps" => KpaMetric::Rps,
        other => {
            return Err(loc.error(
                &["kpa", "metric"],
                format!("metric must be \"concurrency\" or \"rps\", got {other:?}"),
            ));
        }
    };
    let cfg = KpaConfig {
        metric,
        target: k.target,
        container_concurrency: k.container_concurrency.unwrap_or(d.container_concurrency),
        target_utilization_percentage: k
            .target_utilization_percentage
            .unwrap_or(d.target_utilization_percentage),
        stable_window: secs("stable_window_s", k.stable_window_s, d.stable_window)?,
        panic_window_percentage: k
            .panic_window_percentage
            .unwrap_or(d.panic_window_percentage),
        panic_threshold_percentage: k
            .panic_threshold_percentage
            .unwrap_or(d.panic_threshold_percentage),
        max_scale_up_rate: k.max_scale_up_rate.unwrap_or(d.max_scale_up_rate),
        max_scale_down_rate: k.max_scale_down_rate.unwrap_or(d.max_scale_down_rate),
        scale_to_zero_grace_period: secs(
            "scale_to_zero_grace_period_s",
            k.scale_to_zero_grace_period_s,
            d.scale_to_zero_grace_period,
        )?,
        scale_to_zero_pod_retention_period: secs(
            "scale_to_zero_pod_retention_period_s",
            k.scale_to_zero_pod_retention_period_s,
            d.scale_to_zero_pod_retention_period,
        )?,
        scale_down_delay: secs(
            "scale_down_delay_s",
            k.scale_down_delay_s,
            d.scale_down_delay,
        )?,
        min_scale: k.min_scale.unwrap_or(d.min_scale),
        max_scale: k.max_scale.unwrap_or(d.max_scale),
        initial_scale: k.initial_scale.unwrap_or(d.initial_scale),
        activation_scale: k.activation_scale.unwrap_or(d.activation_scale),
        tick_interval: SimDuration::from_secs_f64(at_least(
            loc,
            &["kpa", "tick_interval_s"],
            k.tick_interval_s.unwrap_or(d.tick_interval.as_secs_f64()),
            0.5,
            "s",
        )?),
        enable_scale_to_zero: k.enable_scale_to_zero.unwrap_or(d.enable_scale_to_zero),
        target_burst_capacity: k.target_burst_capacity.unwrap_or(d.target_burst_capacity),
        ..d
    };
    cfg.validate().map_err(|m| loc.error(&["kpa"], m))?;
    Ok(KpaLoopSpec {
        name: k
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-00001", names.deployment)),
        config: cfg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_queries_name_their_metrics() {
        let f = series_filter(r#"{__name__=~"^vllm:.*",namespace!="",pod!=""}"#).unwrap();
        assert!(f.selects("vllm:num_requests_waiting"));
        assert!(!f.selects("DCGM_FI_DEV_GPU_UTIL"));
        let f = series_filter(r#"vllm:num_requests_waiting{namespace!=""}"#).unwrap();
        assert!(f.selects("vllm:num_requests_waiting") && !f.selects("vllm:num_requests_running"));
        let f = series_filter(r#"{__name__="DCGM_FI_DEV_GPU_UTIL"}"#).unwrap();
        assert!(f.selects("DCGM_FI_DEV_GPU_UTIL"));
        assert!(series_filter(r#"{namespace!=""}"#).is_err());
    }
}
