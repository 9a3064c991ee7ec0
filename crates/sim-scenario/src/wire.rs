//! The scenario file format, as written. Every table rejects unknown keys.
//!
//! These structs are the public file format: they are `Serialize` so that a run can echo the
//! scenario it ran. Defaults are filled in by the lowering step, not here, so the echo shows
//! what the user wrote.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A whole scenario file.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// A name for reports.
    pub name: Option<String>,
    /// One-line description.
    pub description: Option<String>,
    /// Default seed (the command line overrides it).
    pub seed: Option<u64>,
    /// Horizon and timeline.
    #[serde(default)]
    pub run: RunTable,
    /// Where requests come from.
    pub workload: WorkloadTable,
    /// Model, GPU and replicas.
    pub deployment: DeploymentTable,
    /// vLLM engine arguments.
    #[serde(default)]
    pub engine: EngineTable,
    /// Pod start-up.
    #[serde(default)]
    pub startup: StartupTable,
    /// Readiness probe.
    #[serde(default)]
    pub readiness: ReadinessTable,
    /// GPU nodes.
    #[serde(default)]
    pub cluster: ClusterTable,
    /// Service / gateway.
    #[serde(default)]
    pub routing: RoutingTable,
    /// Latency objectives: `ttft_s`, `tpot_s`, `e2e_s`, `min_attainment`, percentile
    /// thresholds such as `ttft_s_p99`, and the failure budget `max_failed_ratio`.
    #[serde(default)]
    pub slo: BTreeMap<String, f64>,
    /// Prices.
    #[serde(default)]
    pub cost: CostTable,
    /// Extra catalog entries.
    #[serde(default)]
    pub catalog: CatalogTable,
    /// Prometheus and exporters.
    #[serde(default)]
    pub prometheus: PrometheusTable,
    /// The Prometheus Adapter.
    #[serde(default)]
    pub adapter: AdapterTable,
    /// A HorizontalPodAutoscaler on the Deployment.
    pub hpa: Option<HpaTable>,
    /// A KEDA ScaledObject on the Deployment.
    pub keda: Option<KedaTable>,
    /// Knative's Pod Autoscaler (Run:ai, KServe serverless) on the revision.
    pub kpa: Option<KpaTable>,
}

/// `[run]`
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "the [run] table")]
pub struct RunTable {
    /// The horizon. Required for synthetic workloads; for traces, defaults to the last arrival.
    pub duration_s: Option<f64>,
    /// Width of one timeline row (default 10 s).
    pub timeline_interval_s: Option<f64>,
    /// How long in-flight requests may run past the horizon (default 600 s).
    pub drain_limit_s: Option<f64>,
}

/// `[workload]`
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "the [workload] table")]
pub struct WorkloadTable {
    /// `"synthetic"`, `"trace"` or `"closed_loop"`.
    pub kind: String,
    /// Synthetic: a named preset (`"azure-conv-like"`); explicit tables below override parts.
    pub preset: Option<String>,
    /// Trace: the file, relative to the scenario file.
    pub path: Option<String>,
    /// Trace: `"azure"`, `"mooncake"` or `"generic"`.
    pub format: Option<String>,
    /// Trace: drop arrivals before this time and rebase.
    pub window_start_s: Option<f64>,
    /// Trace: keep this much after the window start.
    pub window_duration_s: Option<f64>,
    /// Shift every arrival by this much.
    pub offset_s: Option<f64>,
    /// Multiply the number of arrivals by this over the same span.
    pub rate_scale: Option<f64>,
    /// Synthetic: arrival process.
    pub arrivals: Option<ArrivalsTable>,
    /// Synthetic: prompt lengths.
    pub prompt_tokens: Option<LengthTable>,
    /// Synthetic: output lengths.
    pub output_tokens: Option<LengthTable>,
    /// Closed loop: users, each with at most one request in flight (`--max-concurrency`).
    pub users: Option<u32>,
    /// Closed loop: mean think time after a completed request (default 0).
    pub think_time_s: Option<f64>,
    /// Closed loop: think time coefficient of variation (default 0: constant; 1: exponential).
    pub think_time_cv: Option<f64>,
    /// Closed loop: users start evenly over this long (default 0: all at once).
    pub ramp_up_s: Option<f64>,
    /// Closed loop: the most requests sent (`--num-prompts`).
    pub max_requests: Option<u64>,
    /// Closed loop: wait after a failed request instead of the think time (default 1 s).
    pub retry_delay_s: Option<f64>,
}

/// `[workload.arrivals]`
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table such as { pattern = \"constant\", rate_rps = 5 }"
)]
pub struct ArrivalsTable {
    /// `"constant"`, `"diurnal"`, `"step"`, `"spike"` or `"piecewise"`.
    pub pattern: String,
    /// Gap coefficient of variation: 1 is Poisson, others a Gamma renewal process.
    pub cv: Option<f64>,
    /// constant
    pub rate_rps: Option<f64>,
    /// diurnal, spike
    pub base_rps: Option<f64>,
    /// diurnal
    pub amplitude_rps: Option<f64>,
    /// diurnal
    pub period_s: Option<f64>,
    /// diurnal
    pub phase_s: Option<f64>,
    /// step
    pub before_rps: Option<f64>,
    /// step
    pub after_rps: Option<f64>,
    /// step
    pub at_s: Option<f64>,
    /// spike
    pub spike_rps: Option<f64>,
    /// spike
    pub start_s: Option<f64>,
    /// spike
    pub duration_s: Option<f64>,
    /// piecewise
    pub step_s: Option<f64>,
    /// piecewise
    pub rates_rps: Option<Vec<f64>>,
}

/// `[workload.prompt_tokens]` and `[workload.output_tokens]`
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table such as { dist = \"fixed\", tokens = 500 }"
)]
pub struct LengthTable {
    /// `"fixed"`, `"uniform"`, `"lognormal"` or `"empirical"`.
    pub dist: String,
    /// fixed
    pub tokens: Option<u32>,
    /// uniform; clamp for lognormal
    pub min_tokens: Option<u32>,
    /// uniform; clamp for lognormal
    pub max_tokens: Option<u32>,
    /// lognormal
    pub p50_tokens: Option<f64>,
    /// lognormal (with p50 or mean)
    pub p99_tokens: Option<f64>,
    /// lognormal, instead of p99
    pub mean_tokens: Option<f64>,
    /// empirical: a trace file, relative to the scenario file
    pub trace_path: Option<String>,
    /// empirical: its format
    pub trace_format: Option<String>,
}

/// `[deployment]`
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "the [deployment] table")]
pub struct DeploymentTable {
    /// Model name from the catalog.
    pub model: String,
    /// GPU name from the catalog.
    pub gpu: String,
    /// GPUs per replica (vLLM `--tensor-parallel-size`), default 1.
    pub tensor_parallel: Option<u32>,
    /// Replicas.
    pub replicas: u32,
    /// `"ready"` (default: warm at time zero) or `"cold"`.
    pub initial_state: Option<String>,
    /// `terminationGracePeriodSeconds` (default 30).
    pub termination_grace_s: Option<f64>,
    /// The Deployment's name (default `vllm`); pods and events are named after it.
    pub name: Option<String>,
    /// The namespace (default `default`).
    pub namespace: Option<String>,
}

/// `[engine]`: vLLM engine arguments. Unset ones take vLLM's defaults for the GPU.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "the [engine] table")]
pub struct EngineTable {
    /// `--max-num-seqs`
    pub max_num_seqs: Option<u32>,
    /// `--max-num-batched-tokens`
    pub max_num_batched_tokens: Option<u32>,
    /// `--gpu-memory-utilization`
    pub gpu_memory_utilization: Option<f64>,
    /// `--block-size`
    pub block_size_tokens: Option<u32>,
    /// `--max-model-len`
    pub max_model_len: Option<u32>,
    /// `--num-gpu-blocks-override`
    pub num_gpu_blocks_override: Option<u32>,
    /// Advance runs of identical decode steps in one event (default true). `false` simulates
    /// every step on its own: much slower, same results to within rounding; for validation.
    pub fuse_decode_steps: Option<bool>,
    /// `--quantization`: `"none"` (default, the catalog's weights) or `"fp8"`.
    pub quantization: Option<String>,
    /// `--kv-cache-dtype`: `"auto"` (default, the catalog's) or `"fp8"`.
    pub kv_cache_dtype: Option<String>,
}

/// A random duration: `{ dist = "uniform", min_s = 30, max_s = 120 }`,
/// `{ dist = "fixed", value_s = 45 }` or `{ dist = "lognormal", p50_s = 60, p99_s = 180 }`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table such as { dist = \"fixed\", value_s = 45 }"
)]
pub struct DurationTable {
    /// `"fixed"`, `"uniform"` or `"lognormal"`.
    pub dist: String,
    /// fixed
    pub value_s: Option<f64>,
    /// uniform
    pub min_s: Option<f64>,
    /// uniform
    pub max_s: Option<f64>,
    /// lognormal
    pub p50_s: Option<f64>,
    /// lognormal
    pub p99_s: Option<f64>,
}

/// `[startup]`: either `total_s`, or the phases.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "the [startup] table")]
pub struct StartupTable {
    /// Scheduling to server up, in one draw (default uniform 30–120 s).
    pub total_s: Option<DurationTable>,
    /// Image pull.
    pub image_pull_s: Option<DurationTable>,
    /// Weight load.
    pub model_load_s: Option<DurationTable>,
    /// Engine warm-up (compile, CUDA graphs, KV allocation).
    pub engine_init_s: Option<DurationTable>,
}

/// `[readiness]`
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "the [readiness] table")]
pub struct ReadinessTable {
    /// `initialDelaySeconds` (default 0).
    pub initial_delay_s: Option<f64>,
    /// `periodSeconds` (default 10).
    pub period_s: Option<f64>,
    /// Whether the probe only passes once the model is loaded (default true, vLLM `/health`).
    pub checks_model: Option<bool>,
}

/// `[cluster]`
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "the [cluster] table")]
pub struct ClusterTable {
    /// GPUs per node (default 8).
    pub gpus_per_node: Option<u32>,
    /// Nodes at time zero (default: enough for the replicas).
    pub nodes: Option<u32>,
    /// The most nodes (default: `nodes`).
    pub max_nodes: Option<u32>,
    /// Time to add a node (default fixed 300 s).
    pub node_provision_s: Option<DurationTable>,
}

/// `[routing]`
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "the [routing] table")]
pub struct RoutingTable {
    /// `"random"` (default, kube-proxy iptables), `"round-robin"` or `"least-outstanding"`.
    pub policy: Option<String>,
    /// `"fail"` (default) or `"queue"`.
    pub no_endpoint: Option<String>,
    /// With `no_endpoint = "queue"`: how long a request may wait (default 300 s).
    pub gateway_timeout_s: Option<f64>,
    /// A client gives up after this long (default: never).
    pub client_timeout_s: Option<f64>,
}

/// `[cost]`
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "the [cost] table")]
pub struct CostTable {
    /// Overrides the catalog's price for the GPU.
    pub usd_per_gpu_hour: Option<f64>,
}

/// `[catalog]`
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "the [catalog] table")]
pub struct CatalogTable {
    /// A catalog file (same format as the built-in one) whose entries add to or replace
    /// the built-in ones; relative to the scenario file.
    pub path: Option<String>,
}

/// `[prometheus]`: scraping and the exporters.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusTable {
    /// ServiceMonitor `interval` (default 15 s).
    pub scrape_interval_s: Option<f64>,
    /// `--query.lookback-delta` (default 300 s).
    pub lookback_s: Option<f64>,
    /// Whether a ServiceMonitor selects the vLLM pods (default true). False reproduces
    /// "metrics not being scraped".
    pub scrape_vllm: Option<bool>,
    /// Whether the DCGM exporter runs and is scraped (default true).
    pub scrape_dcgm: Option<bool>,
    /// dcgm-exporter collect interval (default 30 s).
    pub dcgm_collect_interval_s: Option<f64>,
    /// Sampling period of one GPU-utilisation value (default 1 s).
    pub dcgm_sample_window_s: Option<f64>,
    /// Windows in which scrapes fail.
    #[serde(default)]
    pub failures: Vec<ScrapeFailureTable>,
    /// Every target's offset in the scrape interval (default: a fixed hash per target, as
    /// Prometheus does). Set it to make a timeline derivable by hand.
    pub scrape_offset_s: Option<f64>,
}

/// `[[prometheus.failures]]`
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeFailureTable {
    /// `"vllm"` or `"dcgm"` (default `"vllm"`).
    pub job: Option<String>,
    /// Window start.
    pub start_s: f64,
    /// Window end.
    pub end_s: f64,
}

/// `[adapter]`: the Prometheus Adapter serving Pods metrics to the HPA.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterTable {
    /// Rules, tried in order. Default: `vllm:X` served as `vllm_X`, and `DCGM_*` as is.
    pub rules: Option<Vec<AdapterRuleTable>>,
    /// `--metrics-relist-interval` (default 60 s, the Helm chart's value): how often the
    /// adapter lists series; a metric that appears in between is unknown until the next list.
    pub relist_interval_s: Option<f64>,
}

/// `[[adapter.rules]]`, as in the adapter's config (`seriesQuery`, `name`, `metricsQuery`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterRuleTable {
    /// `seriesQuery`, e.g. `{__name__=~"^vllm:.*",namespace!="",pod!=""}`.
    pub series_query: String,
    /// `name.matches` (default `^(.*)$`).
    pub name_matches: Option<String>,
    /// `name.as` (default `${1}`).
    pub name_as: Option<String>,
    /// `metricsQuery` (default `sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)`).
    pub metrics_query: Option<String>,
}

/// `[hpa]`: an `autoscaling/v2` HorizontalPodAutoscaler.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HpaTable {
    /// `metadata.name`.
    pub name: Option<String>,
    /// `spec.minReplicas` (default 1).
    pub min_replicas: Option<i32>,
    /// `spec.maxReplicas`.
    pub max_replicas: i32,
    /// `spec.metrics`.
    #[serde(default)]
    pub metrics: Vec<HpaMetricTable>,
    /// `spec.behavior` (absent: the legacy path).
    pub behavior: Option<BehaviorTable>,
    /// kube-controller-manager flags.
    #[serde(default)]
    pub controller: ControllerTable,
    /// `"1.20"`, `"1.26"`, `"1.33"` or `"master"` (default).
    pub kubernetes_version: Option<String>,
    /// Feature gate `HPAConfigurableTolerance` (alpha; default false).
    pub configurable_tolerance_gate: Option<bool>,
    /// Time of the first sync (default: a seeded point in the first sync period).
    pub first_sync_s: Option<f64>,
}

/// `[[hpa.metrics]]`
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HpaMetricTable {
    /// `"pods"`, `"object"` or `"external"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `metric.name`.
    pub metric: String,
    /// `target.averageValue`.
    pub target_average_value: Option<f64>,
    /// `target.value` (object and external).
    pub target_value: Option<f64>,
    /// Object: `describedObject.kind` (default `Service`).
    pub described_kind: Option<String>,
    /// Object and external: the PromQL the metrics provider serves for this metric.
    pub query: Option<String>,
}

/// `behavior`
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BehaviorTable {
    /// `scaleUp`.
    pub scale_up: Option<ScalingRulesTable>,
    /// `scaleDown`.
    pub scale_down: Option<ScalingRulesTable>,
}

/// `behavior.scaleUp` / `scaleDown`
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingRulesTable {
    /// `stabilizationWindowSeconds`.
    pub stabilization_window_s: Option<i32>,
    /// `selectPolicy`: `"Max"`, `"Min"` or `"Disabled"`.
    pub select_policy: Option<String>,
    /// `policies`.
    pub policies: Option<Vec<ScalingPolicyTable>>,
    /// `tolerance` (needs the configurable-tolerance gate).
    pub tolerance: Option<f64>,
}

/// `behavior.*.policies[]`
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingPolicyTable {
    /// `"Pods"` or `"Percent"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Pods or percent per period.
    pub value: i32,
    /// `periodSeconds`.
    pub period_s: i32,
}

/// `[hpa.controller]`: kube-controller-manager flags.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerTable {
    /// `--horizontal-pod-autoscaler-sync-period` (15 s).
    pub sync_period_s: Option<f64>,
    /// `--horizontal-pod-autoscaler-tolerance` (0.1).
    pub tolerance: Option<f64>,
    /// `--horizontal-pod-autoscaler-downscale-stabilization` (300 s).
    pub downscale_stabilization_s: Option<f64>,
    /// `--horizontal-pod-autoscaler-initial-readiness-delay` (30 s).
    pub initial_readiness_delay_s: Option<f64>,
    /// `--horizontal-pod-autoscaler-cpu-initialization-period` (300 s).
    pub cpu_initialization_period_s: Option<f64>,
}

/// `[keda]`: a KEDA ScaledObject.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KedaTable {
    /// `metadata.name`.
    pub name: Option<String>,
    /// `pollingInterval` (30 s).
    pub polling_interval_s: Option<f64>,
    /// `cooldownPeriod` (300 s).
    pub cooldown_period_s: Option<f64>,
    /// `initialCooldownPeriod` (0 s).
    pub initial_cooldown_period_s: Option<f64>,
    /// `minReplicaCount` (0).
    pub min_replica_count: Option<i32>,
    /// `maxReplicaCount` (100).
    pub max_replica_count: Option<i32>,
    /// `idleReplicaCount`.
    pub idle_replica_count: Option<i32>,
    /// `triggers`.
    #[serde(default)]
    pub triggers: Vec<KedaTriggerTable>,
    /// `fallback`.
    pub fallback: Option<FallbackTable>,
    /// `advanced.scalingModifiers`.
    pub scaling_modifiers: Option<ScalingModifiersTable>,
    /// `advanced.horizontalPodAutoscalerConfig.behavior`.
    pub behavior: Option<BehaviorTable>,
    /// `metadata.annotations` (pause, paused-replicas, ...).
    pub annotations: Option<BTreeMap<String, String>>,
    /// `"2.16"` … `"2.20"` (default 2.20).
    pub keda_version: Option<String>,
    /// Flags of the HPA KEDA generates.
    #[serde(default)]
    pub controller: ControllerTable,
    /// Kubernetes version of that HPA.
    pub kubernetes_version: Option<String>,
    /// Time of the operator's first poll (default: a seeded point in the first interval).
    pub first_poll_s: Option<f64>,
    /// Time of the generated HPA's first sync (default: a seeded point in its first period).
    pub first_sync_s: Option<f64>,
}

/// `[[keda.triggers]]` (type `prometheus`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KedaTriggerTable {
    /// `type` (only `"prometheus"` is simulated).
    #[serde(rename = "type")]
    pub kind: String,
    /// `name` (for scaling-modifier formulas).
    pub name: Option<String>,
    /// `metadata.query`.
    pub query: String,
    /// `metadata.threshold`.
    pub threshold: f64,
    /// `metadata.activationThreshold` (0).
    pub activation_threshold: Option<f64>,
    /// `metricType`: `"AverageValue"` (default) or `"Value"`.
    pub metric_type: Option<String>,
    /// `metadata.ignoreNullValues` (true).
    pub ignore_null_values: Option<bool>,
    /// `useCachedMetrics` (false).
    pub use_cached_metrics: Option<bool>,
    /// `metadata.metricName` (informational; KEDA names the HPA metric `sN-prometheus`).
    pub metric_name: Option<String>,
    /// `metadata.serverAddress` (informational).
    pub server_address: Option<String>,
}

/// `[keda.fallback]`
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackTable {
    /// `failureThreshold`.
    pub failure_threshold: i32,
    /// `replicas`.
    pub replicas: i32,
    /// `behavior`: `static` (default), `currentReplicas`, `currentReplicasIfHigher`,
    /// `currentReplicasIfLower`, `scalingModifiers`.
    pub behavior: Option<String>,
}

/// `[keda.scaling_modifiers]`
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingModifiersTable {
    /// `formula` over trigger names.
    pub formula: String,
    /// `target`.
    pub target: String,
    /// `activationTarget` (0).
    pub activation_target: Option<f64>,
    /// `metricType` (`AverageValue` default, or `Value`).
    pub metric_type: Option<String>,
}

/// `[kpa]`: Knative's Pod Autoscaler (`autoscaling.knative.dev/*` annotations and the
/// `config-autoscaler` ConfigMap).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KpaTable {
    /// The revision's name.
    pub name: Option<String>,
    /// `autoscaling.knative.dev/metric`: `"concurrency"` (default) or `"rps"`.
    pub metric: Option<String>,
    /// `autoscaling.knative.dev/target` (default: 100 for concurrency, 200 for rps).
    pub target: Option<f64>,
    /// `containerConcurrency` (0 = unlimited).
    pub container_concurrency: Option<u32>,
    /// `target-utilization-percentage` (70).
    pub target_utilization_percentage: Option<f64>,
    /// `window` (60 s).
    pub stable_window_s: Option<f64>,
    /// `panic-window-percentage` (10).
    pub panic_window_percentage: Option<f64>,
    /// `panic-threshold-percentage` (200).
    pub panic_threshold_percentage: Option<f64>,
    /// `max-scale-up-rate` (1000).
    pub max_scale_up_rate: Option<f64>,
    /// `max-scale-down-rate` (2).
    pub max_scale_down_rate: Option<f64>,
    /// `scale-to-zero-grace-period` (30 s).
    pub scale_to_zero_grace_period_s: Option<f64>,
    /// `scale-to-zero-pod-retention-period` (0 s).
    pub scale_to_zero_pod_retention_period_s: Option<f64>,
    /// `scale-down-delay` (0 s).
    pub scale_down_delay_s: Option<f64>,
    /// `min-scale` (0).
    pub min_scale: Option<u32>,
    /// `max-scale` (0 = unbounded).
    pub max_scale: Option<u32>,
    /// `initial-scale` (1).
    pub initial_scale: Option<u32>,
    /// `activation-scale` (1).
    pub activation_scale: Option<u32>,
    /// `enable-scale-to-zero` (true).
    pub enable_scale_to_zero: Option<bool>,
    /// `target-burst-capacity` (211).
    pub target_burst_capacity: Option<f64>,
    /// The autoscaler's tick (2 s).
    pub tick_interval_s: Option<f64>,
}
