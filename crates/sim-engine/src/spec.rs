//! The validated inputs of one run. Only `sim-scenario` builds these; the engine trusts them.

use sim_cluster::catalog::{GpuSpec, ModelSpec};
use sim_cluster::perf::StepTimeModel;
use sim_cluster::pod::{DurationDist, ProbeSpec, StartupModel};
use sim_cluster::replica::EngineConfig;
use sim_cluster::router::RoutingPolicy;

/// Everything one run needs besides the workload stream and the seed.
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// The GPU every replica runs on.
    pub gpu: GpuSpec,
    /// The served model.
    pub model: ModelSpec,
    /// Tensor-parallel degree: GPUs per replica.
    pub tp: u32,
    /// vLLM engine settings, with the KV block count already computed.
    pub engine: EngineConfig,
    /// Step-time model for (gpu, model, tp).
    pub perf: StepTimeModel,
    /// Pods of the Deployment.
    pub pods: PodsSpec,
    /// The GPU node pool.
    pub cluster: ClusterSpec,
    /// The Service / gateway in front of the pods.
    pub routing: RoutingSpec,
    /// Latency objectives.
    pub slo: SloSpec,
    /// Price of one GPU-hour.
    pub usd_per_gpu_hour: f64,
    /// Width of one timeline row.
    pub timeline_interval_s: f64,
    /// The run's horizon: arrivals after it are not replayed, and GPU time is counted at
    /// least until it. `None` means "until the last arrival".
    pub duration_s: Option<f64>,
    /// How long after the horizon in-flight requests may take to finish before the run
    /// stops and reports them as still in flight.
    pub drain_limit_s: f64,
    /// Names used in labels and events.
    pub names: Names,
    /// Metrics pipeline and autoscaler.
    pub control: ControlSpec,
}

/// The Deployment's pods.
#[derive(Clone, Debug)]
pub struct PodsSpec {
    /// Replicas (fixed until an autoscaler changes them).
    pub replicas: u32,
    /// True: the initial replicas are Ready at time zero (a warm deployment). False: they
    /// start cold at time zero.
    pub initial_ready: bool,
    /// Start-up time of a new pod.
    pub startup: StartupModel,
    /// The readiness probe.
    pub readiness: ProbeSpec,
    /// `terminationGracePeriodSeconds`: how long a terminating pod may drain.
    pub termination_grace_s: f64,
}

/// The GPU node pool.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// GPUs on one node.
    pub gpus_per_node: u32,
    /// Nodes present at time zero.
    pub initial_nodes: u32,
    /// The most nodes the pool may grow to.
    pub max_nodes: u32,
    /// Time to provision a new node.
    pub node_provision: DurationDist,
}

/// What happens to a request when no replica is Ready.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NoEndpoint {
    /// Fail at once, as a Service with no endpoints does (connection refused).
    Fail,
    /// Wait at a gateway until a replica is Ready, up to a timeout.
    Queue { timeout_s: f64 },
}

/// The Service or gateway in front of the pods.
#[derive(Clone, Debug)]
pub struct RoutingSpec {
    /// How a Ready replica is picked.
    pub policy: RoutingPolicy,
    /// Behaviour with no Ready replica.
    pub no_endpoint: NoEndpoint,
    /// A client gives up (and the request counts as failed) after this long.
    pub client_timeout_s: Option<f64>,
}

/// Latency objectives and the failure budget. A request meets the SLO when it completed and
/// met every per-request threshold that is set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SloSpec {
    /// Time to first token, per request.
    pub ttft_s: Option<f64>,
    /// Time per output token after the first, per request.
    pub tpot_s: Option<f64>,
    /// End-to-end latency, per request.
    pub e2e_s: Option<f64>,
    /// Thresholds on percentiles over the run (checked, not part of attainment).
    pub percentile_checks: Vec<PercentileCheck>,
    /// Minimum share of requests that must meet the per-request thresholds.
    pub min_attainment: Option<f64>,
    /// The failure budget: the largest share of requests that may fail or not finish.
    /// Checked in every run, whether or not the scenario states an SLO (default 0).
    pub max_failed_ratio: f64,
    /// Whether the scenario states any objective (an `[slo]` table); `sim check` needs one.
    pub declared: bool,
}

/// A threshold on one percentile of one latency, e.g. `ttft_s_p99 <= 2.0`.
#[derive(Clone, Debug, PartialEq)]
pub struct PercentileCheck {
    /// Which latency.
    pub metric: LatencyMetric,
    /// Which percentile, 0–100.
    pub percentile: f64,
    /// The most it may be, in seconds.
    pub max_s: f64,
}

/// The latencies the simulator reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LatencyMetric {
    /// Arrival to first token.
    Ttft,
    /// Mean time per output token after the first.
    Tpot,
    /// Arrival to last token.
    E2e,
    /// Arrival to first scheduled in an engine.
    Queue,
}

impl LatencyMetric {
    /// Every latency, in report order.
    pub const ALL: [LatencyMetric; 4] = [
        LatencyMetric::Ttft,
        LatencyMetric::Tpot,
        LatencyMetric::E2e,
        LatencyMetric::Queue,
    ];

    /// The name used in files (`ttft_s`, ...).
    pub fn name(self) -> &'static str {
        match self {
            LatencyMetric::Ttft => "ttft_s",
            LatencyMetric::Tpot => "tpot_s",
            LatencyMetric::E2e => "e2e_s",
            LatencyMetric::Queue => "queue_s",
        }
    }
}

/// Names that appear in labels and events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// The namespace of everything (`ai-inference`).
    pub namespace: String,
    /// The Deployment (`mistral-vllm`); pods are named after it.
    pub deployment: String,
    /// vLLM's `model_name` label.
    pub model_label: String,
}

/// A window in which every scrape of the named job fails.
#[derive(Clone, Debug, PartialEq)]
pub struct ScrapeFailure {
    /// Start of the window.
    pub start_s: f64,
    /// End of the window (exclusive).
    pub end_s: f64,
    /// `vllm` or `dcgm`.
    pub job: ScrapeJob,
}

/// The two kinds of scrape target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScrapeJob {
    /// vLLM's `/metrics` on each pod (a ServiceMonitor on the Service).
    Vllm,
    /// The DCGM exporter on each GPU node.
    Dcgm,
    /// The gateway in front of the Service.
    Gateway,
}

/// Prometheus and the exporters it scrapes.
#[derive(Clone, Debug, PartialEq)]
pub struct PrometheusSpec {
    /// ServiceMonitor `interval` (Prometheus `scrape_interval`).
    pub scrape_interval_s: f64,
    /// `--query.lookback-delta`.
    pub lookback_s: f64,
    /// Whether a ServiceMonitor selects the vLLM pods at all.
    pub scrape_vllm: bool,
    /// Whether the DCGM exporter is installed and scraped.
    pub scrape_dcgm: bool,
    /// dcgm-exporter's collect interval (`-c`, 30 s by default).
    pub dcgm_collect_interval_s: f64,
    /// The sampling period behind one `DCGM_FI_DEV_GPU_UTIL` value.
    pub dcgm_sample_window_s: f64,
    /// Injected scrape failures.
    pub failures: Vec<ScrapeFailure>,
    /// Every target's offset inside the scrape interval. `None`: Prometheus's own choice, a
    /// fixed hash of the target (and the seed).
    pub scrape_offset_s: Option<f64>,
}

impl Default for PrometheusSpec {
    fn default() -> Self {
        PrometheusSpec {
            scrape_interval_s: 15.0,
            lookback_s: 300.0,
            scrape_vllm: true,
            scrape_dcgm: true,
            dcgm_collect_interval_s: 30.0,
            dcgm_sample_window_s: 1.0,
            failures: Vec::new(),
            scrape_offset_s: None,
        }
    }
}

/// Where the value of one HPA metric comes from.
#[derive(Clone, Debug)]
pub enum MetricSource {
    /// A Pods metric served by the Prometheus Adapter: the query's result, one element per
    /// `pod` label.
    PerPod {
        /// The adapter's `metricsQuery` with its templates filled in.
        query: sim_metrics::Query,
        /// The Prometheus series behind it, which the adapter must have discovered.
        series: String,
    },
    /// An Object or External metric: the query's result elements, each one value.
    Values {
        /// The query.
        query: sim_metrics::Query,
    },
    /// Nothing serves this metric (the adapter has no rule for it): every read fails.
    Unavailable {
        /// The custom-metrics API's error text.
        message: String,
    },
}

/// A Kubernetes HPA in the loop.
#[derive(Clone, Debug)]
pub struct HpaLoopSpec {
    /// `metadata.name`.
    pub name: String,
    /// The HPA object and controller settings.
    pub config: sim_policy::hpa::HpaConfig,
    /// One source per entry of `config.effective_metrics()`, same order.
    pub sources: Vec<MetricSource>,
    /// Time of the first sync. `None`: a seeded point in the first sync period.
    pub first_sync_s: Option<f64>,
    /// The Prometheus Adapter's `--metrics-relist-interval`: a series it has not listed yet
    /// cannot be served. Series present when the run starts warm count as listed.
    pub adapter_relist_interval_s: f64,
}

/// One KEDA trigger's query.
#[derive(Clone, Debug)]
pub struct TriggerQuery {
    /// The `prometheus` trigger's `query`.
    pub query: sim_metrics::Query,
    /// `ignoreNullValues` (KEDA's default is true).
    pub ignore_null_values: bool,
}

/// A KEDA ScaledObject in the loop.
#[derive(Clone, Debug)]
pub struct KedaLoopSpec {
    /// The ScaledObject.
    pub config: sim_policy::keda::KedaConfig,
    /// One query per trigger, same order as `config.triggers`.
    pub triggers: Vec<TriggerQuery>,
    /// Time of the operator's first poll. `None`: a seeded point in the first interval.
    pub first_poll_s: Option<f64>,
    /// Time of the generated HPA's first sync. `None`: a seeded point in its first period.
    pub first_sync_s: Option<f64>,
}

/// A Knative revision's Pod Autoscaler (KPA) in the loop: how Run:ai and KServe serverless
/// deployments scale. Requests with no Ready pod wait at the activator (the gateway queue).
#[derive(Clone, Debug)]
pub struct KpaLoopSpec {
    /// The revision's name.
    pub name: String,
    /// The autoscaler's settings.
    pub config: sim_policy::kpa::KpaConfig,
}

/// The autoscaler acting on the Deployment.
#[derive(Clone, Debug, Default)]
pub enum AutoscalerSpec {
    /// Fixed replicas.
    #[default]
    None,
    /// A HorizontalPodAutoscaler.
    Hpa(Box<HpaLoopSpec>),
    /// A KEDA ScaledObject (its operator loop and the HPA it generates).
    Keda(Box<KedaLoopSpec>),
    /// Knative's KPA.
    Kpa(Box<KpaLoopSpec>),
}

/// The control plane: metrics pipeline and autoscaler.
#[derive(Clone, Debug, Default)]
pub struct ControlSpec {
    /// Prometheus and exporters.
    pub prometheus: PrometheusSpec,
    /// The autoscaler.
    pub autoscaler: AutoscalerSpec,
}
