//! From the file as written to validated engine types, with every error pointing at its key.

use std::path::Path;
use std::sync::Arc;

use sim_cluster::catalog as perf;
use sim_cluster::catalog::Catalog;
use sim_cluster::perf::StepTimeModel;
use sim_cluster::pod::{DurationDist, ProbeSpec, StartupModel};
use sim_cluster::replica::EngineConfig;
use sim_cluster::router::RoutingPolicy;
use sim_des::SimTime;
use sim_engine::{
    AutoscalerSpec, ClusterSpec, LatencyMetric, Names, NoEndpoint, PercentileCheck, PodsSpec,
    RoutingSpec, RunSpec, SloSpec,
};
use sim_workload::{
    ClientLengths, ClientSpec, LengthDist, RateProfile, SyntheticSpec, TraceError, TraceFormat,
    TraceScan, Transform, Workload,
};

use crate::control::{at_least, non_negative, positive};
use crate::error::ScenarioError;
use crate::locate::Locator;
use crate::wire::{ArrivalsTable, DurationTable, LengthTable, ScenarioFile};

/// The longest timeline interval: one row an hour still draws a 30-day run, and a run ends
/// at a row, so a longer interval would only stretch the run past its last request.
pub const MAX_TIMELINE_INTERVAL_S: f64 = 3_600.0;

/// The most timeline rows a run keeps (about 150 bytes each in memory): 30 days at the
/// default 10 s interval is 259,200.
pub const MAX_TIMELINE_ROWS: u64 = 1_000_000;

/// Reads the files a scenario names (a catalog, traces for empirical lengths). The CLI
/// implements it with the file system; tests with a map.
pub trait Files {
    /// The whole text of `path`, or a one-line reason it cannot be read.
    fn read_to_string(&self, path: &str) -> Result<String, String>;

    /// `path` as a reader, for traces (which may be large). By default, its text.
    fn open(&self, path: &str) -> Result<Box<dyn std::io::BufRead + '_>, String> {
        let text = self.read_to_string(path)?;
        Ok(Box::new(std::io::Cursor::new(text.into_bytes())))
    }

    /// The trace of `key` checked as a run would replay it. By default it is read each time;
    /// a sweep's points share traces, so an implementation may remember results by key.
    fn scan_trace(&self, key: &ScanKey) -> Result<TraceScan, ScanFailure> {
        let reader = self.open(&key.path).map_err(ScanFailure::Open)?;
        key.scan(reader).map_err(ScanFailure::Trace)
    }
}

/// What [`Files::scan_trace`] checks: equal keys give equal results.
#[derive(Clone, Debug, PartialEq)]
pub struct ScanKey {
    /// The trace file.
    pub path: String,
    /// Its format.
    pub format: TraceFormat,
    /// Window and offset (the rate scale only as 1, or 2 for "more than one copy").
    pub transform: Transform,
    /// `run.duration_s`, when set.
    pub horizon: Option<SimTime>,
}

impl ScanKey {
    fn new(path: &str, format: TraceFormat, t: &Transform, horizon: Option<SimTime>) -> ScanKey {
        let copies = if t.scaled_count(1) > 1 { 2.0 } else { 1.0 };
        ScanKey {
            path: path.to_string(),
            format,
            transform: Transform {
                rate_scale: copies,
                ..t.clone()
            },
            horizon,
        }
    }

    /// Runs the scan over `reader`.
    ///
    /// # Errors
    /// The first bad line or arrival past the horizon limit.
    pub fn scan(&self, reader: impl std::io::BufRead) -> Result<TraceScan, TraceError> {
        sim_workload::scan_trace(
            self.format,
            reader,
            &self.transform,
            self.horizon,
            SimTime::from_secs(sim_engine::MAX_HORIZON_S),
        )
    }
}

/// Why [`Files::scan_trace`] failed.
#[derive(Debug)]
pub enum ScanFailure {
    /// The file cannot be opened: a one-line reason.
    Open(String),
    /// A line is bad.
    Trace(TraceError),
}

/// A validated scenario, ready to run.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// A name for reports (the file stem when the file has none).
    pub name: String,
    /// The seed to use when the command line gives none.
    pub seed: u64,
    /// Engine inputs.
    pub spec: RunSpec,
    /// Where requests come from.
    pub workload: WorkloadPlan,
    /// The file, parsed into the schema.
    pub file: ScenarioFile,
    /// The file as written (keys and values only), for echoing into outputs.
    pub source: toml::Table,
    /// Values the scenario left to defaults or derived numbers, for reports.
    pub resolved: Resolved,
    /// Suspicious but valid settings (a query on a series nothing exports, a metric no
    /// adapter rule serves), each at its place in the file.
    pub warnings: Vec<ScenarioError>,
    /// Where the `[workload]` table sits, for errors the run finds in the traffic as a whole.
    pub workload_at: ScenarioError,
}

impl Scenario {
    /// Places an error `sim_engine::run` returned: a trace error with a line in the trace
    /// (`trace_file`), one about the traffic as a whole (more requests than a run simulates)
    /// at the scenario's `[workload]` table.
    pub fn run_error(&self, trace_file: Option<&str>, e: &TraceError) -> ScenarioError {
        match trace_file {
            Some(file) if e.line().is_some() => trace_error(file, e),
            _ => ScenarioError {
                message: e.to_string(),
                ..self.workload_at.clone()
            },
        }
    }
}

/// Numbers the lowering derived, reported next to the scenario as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    /// `max_num_seqs` in effect.
    pub max_num_seqs: u32,
    /// `max_num_batched_tokens` in effect.
    pub max_num_batched_tokens: u32,
    /// `max_model_len` in effect.
    pub max_model_len: u32,
    /// KV blocks per replica, including the null block.
    pub num_gpu_blocks: u32,
    /// KV capacity per replica in tokens.
    pub kv_cache_tokens: u64,
    /// Price per GPU-hour in effect.
    pub usd_per_gpu_hour: f64,
    /// Initial and maximum GPU nodes.
    pub nodes: u32,
    /// The most nodes.
    pub max_nodes: u32,
    /// The run's horizon: `run.duration_s`, else the last arrival of the trace as
    /// transformed (0 without one). The run goes on past it only to drain.
    pub horizon_s: f64,
}

/// Where the requests of a run come from.
#[derive(Clone, Debug)]
pub enum WorkloadPlan {
    /// Generated from a spec and the run's seed.
    Synthetic {
        /// The generator settings.
        spec: SyntheticSpec,
        /// Offset and rate scale (the window does not apply to synthetic load).
        transform: Transform,
    },
    /// Read from a trace file.
    Trace {
        /// The file, resolved against the scenario's folder.
        path: String,
        /// Its format.
        format: TraceFormat,
        /// Window, offset and rate scale.
        transform: Transform,
    },
    /// A closed loop of users (`kind = "closed_loop"`).
    ClosedLoop {
        /// The population.
        spec: ClientSpec,
        /// For [`ClientLengths::Replay`]: the file whose lengths are replayed, and its format.
        replay: Option<(String, TraceFormat)>,
    },
}

impl WorkloadPlan {
    /// The file a run reads (a trace, or a closed loop's replayed lengths), which the caller
    /// opens and hands to [`WorkloadPlan::stream`].
    pub fn file(&self) -> Option<&str> {
        match self {
            WorkloadPlan::Synthetic { .. } => None,
            WorkloadPlan::Trace { path, .. } => Some(path),
            WorkloadPlan::ClosedLoop { replay, .. } => replay.as_ref().map(|(p, _)| p.as_str()),
        }
    }

    /// Builds the run's workload: a request stream, or a closed loop. `trace` must be the
    /// opened [`WorkloadPlan::file`] when there is one.
    ///
    /// # Panics
    /// When a plan with a file gets no reader (a caller bug).
    pub fn stream<'a>(
        &self,
        seed: u64,
        trace: Option<Box<dyn std::io::BufRead + 'a>>,
    ) -> Workload<'a> {
        let streams = sim_des::RngStreams::new(seed);
        match self {
            WorkloadPlan::Synthetic { spec, transform } => {
                let base = sim_workload::synthetic(spec, &streams);
                sim_workload::transform(base, transform).into()
            }
            WorkloadPlan::Trace {
                format, transform, ..
            } => {
                let reader = trace.expect("a trace plan needs its reader");
                sim_workload::transform(sim_workload::read_trace(*format, reader), transform).into()
            }
            WorkloadPlan::ClosedLoop { spec, replay } => {
                let lengths = replay.as_ref().map(|(_, format)| {
                    let reader = trace.expect("a replay plan needs its reader");
                    sim_workload::read_trace(*format, reader)
                });
                sim_workload::ClosedLoop::new(spec, &streams, lengths)
                    .expect("the spec was validated at load")
                    .into()
            }
        }
    }
}

/// Parses and validates a scenario. `file` is the path as the user gave it (used in error
/// messages and to resolve relative paths); `files` reads the files the scenario names.
///
/// # Errors
/// Any problem, as one [`ScenarioError`] naming the file, line and column.
pub fn load(file: &str, text: &str, files: &dyn Files) -> Result<Scenario, ScenarioError> {
    let parsed: ScenarioFile = toml::from_str(text).map_err(|e| toml_error(file, text, &e))?;
    let source: toml::Table = toml::from_str(text).map_err(|e| toml_error(file, text, &e))?;
    let loc = Locator::new(file, text);
    let mut scenario = Lowering {
        file,
        loc: &loc,
        files,
    }
    .lower(parsed)?;
    scenario.source = source;
    scenario.warnings = loc.take_warnings();
    Ok(scenario)
}

/// The burstiest arrivals accepted (coefficient of variation of the gaps).
const MAX_ARRIVAL_CV: f64 = 100.0;

/// The shortest span a workload's mean rate is taken over (see `mean_rate_within_limit`).
const MIN_RATE_SPAN_S: f64 = 60.0;

/// Places a trace error in its file.
pub fn trace_error(file: &str, e: &TraceError) -> ScenarioError {
    let message = match e {
        TraceError::Parse { message, .. } => message.clone(),
        TraceError::Io { source, .. } => format!("read failed: {source}"),
        TraceError::Invalid(_) | TraceError::Empty => e.to_string(),
    };
    ScenarioError {
        file: file.to_string(),
        line: e.line(),
        column: e.column(),
        message,
    }
}

/// Turns a TOML error into ours, keeping its position.
pub fn toml_error(file: &str, text: &str, e: &toml::de::Error) -> ScenarioError {
    let message = e.message().trim().to_string();
    match e.span() {
        Some(span) => ScenarioError::at_offset(file, text, span.start, message),
        // The parser's recursion limit has no span (found by `sim-fuzz`): point at the
        // deepest nesting, which is what passed it.
        None if message.contains("recursion limit") => ScenarioError::at_offset(
            file,
            text,
            deepest_offset(text),
            format!("{message}: keys, tables or arrays nest too deeply"),
        ),
        None => ScenarioError::whole_file(file, message),
    }
}

/// The byte offset where `text` nests deepest: open brackets and braces plus the dots of the
/// current line's dotted key, outside strings and comments. A heuristic for an error that
/// has no place of its own; it never decides whether a text is valid.
fn deepest_offset(text: &str) -> usize {
    let b = text.as_bytes();
    let (mut depth, mut dots, mut best, mut at) = (0usize, 0usize, 0usize, 0usize);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            q @ (b'"' | b'\'') => {
                let triple = b[i..].starts_with(&[q, q, q]);
                i += if triple { 3 } else { 1 };
                while i < b.len() {
                    if q == b'"' && b[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if triple && b[i..].starts_with(&[q, q, q]) {
                        i += 3;
                        break;
                    }
                    if !triple && (b[i] == q || b[i] == b'\n') {
                        i += 1;
                        break;
                    }
                    i += 1;
                }
                continue;
            }
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'.' => dots += 1,
            b'\n' => dots = 0,
            _ => {}
        }
        if depth + dots > best {
            best = depth + dots;
            at = i;
        }
        i += 1;
    }
    at.min(b.len())
}

struct Lowering<'a> {
    file: &'a str,
    loc: &'a Locator<'a>,
    files: &'a dyn Files,
}

impl Lowering<'_> {
    fn err(&self, path: &[&str], message: impl Into<String>) -> ScenarioError {
        self.loc.error(path, message)
    }

    fn resolve_path(&self, rel: &str) -> String {
        let p = Path::new(rel);
        if p.is_absolute() {
            return rel.to_string();
        }
        match Path::new(self.file).parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(p).to_string_lossy().into_owned(),
            _ => rel.to_string(),
        }
    }

    fn lower(&self, f: ScenarioFile) -> Result<Scenario, ScenarioError> {
        // Catalog.
        let mut catalog = Catalog::builtin();
        if let Some(rel) = &f.catalog.path {
            let path = self.resolve_path(rel);
            let text = self
                .files
                .read_to_string(&path)
                .map_err(|e| self.err(&["catalog", "path"], format!("cannot read {path}: {e}")))?;
            let extra = Catalog::parse(&text).map_err(|e| match e.line {
                Some(_) => ScenarioError {
                    file: path.clone(),
                    line: e.line,
                    column: e.column,
                    message: e.message.clone(),
                },
                // The TOML recursion limit has no span (found by `sim-fuzz`).
                None if e.message.contains("recursion limit") => ScenarioError::at_offset(
                    &path,
                    &text,
                    deepest_offset(&text),
                    format!("{}: keys, tables or arrays nest too deeply", e.message),
                ),
                None => self.err(&["catalog", "path"], format!("{path}: {}", e.message)),
            })?;
            catalog.extend(extra);
        }
        let d = &f.deployment;
        let gpu = catalog.gpu(&d.gpu).cloned().ok_or_else(|| {
            let known: Vec<&str> = catalog.gpu_names().collect();
            self.err(
                &["deployment", "gpu"],
                format!("unknown GPU {:?}; known: {}", d.gpu, known.join(", ")),
            )
        })?;
        let mut model = catalog.model(&d.model).cloned().ok_or_else(|| {
            let known: Vec<&str> = catalog.model_names().collect();
            self.err(
                &["deployment", "model"],
                format!("unknown model {:?}; known: {}", d.model, known.join(", ")),
            )
        })?;
        let tp = d.tensor_parallel.unwrap_or(1);
        if tp == 0 || !tp.is_power_of_two() {
            return Err(self.err(
                &["deployment", "tensor_parallel"],
                format!("tensor_parallel must be 1, 2, 4 or 8, got {tp}"),
            ));
        }
        let gpus_per_node = f.cluster.gpus_per_node.unwrap_or(8);
        if gpus_per_node == 0 {
            return Err(self.err(
                &["cluster", "gpus_per_node"],
                "gpus_per_node must be at least 1",
            ));
        }
        if tp > gpus_per_node {
            return Err(self.err(
                &["deployment", "tensor_parallel"],
                format!("tensor_parallel {tp} needs more GPUs than a node has ({gpus_per_node})"),
            ));
        }
        // FP8 weights (`--quantization fp8`) and KV cache (`--kv-cache-dtype fp8`) change the
        // bytes per element, which sizes the weights and KV blocks and picks the FP8 kernel fits.
        match f.engine.quantization.as_deref() {
            None | Some("none") => {}
            Some("fp8") => model.weight_bytes_per_param = 1.0,
            Some(other) => {
                return Err(self.err(
                    &["engine", "quantization"],
                    format!("quantization must be \"none\" or \"fp8\", got {other:?}"),
                ));
            }
        }
        match f.engine.kv_cache_dtype.as_deref() {
            None | Some("auto") => {}
            Some("fp8") => model.kv_bytes_per_elem = 1.0,
            Some(other) => {
                return Err(self.err(
                    &["engine", "kv_cache_dtype"],
                    format!("kv_cache_dtype must be \"auto\" or \"fp8\", got {other:?}"),
                ));
            }
        }
        // Only a TP above 1 can fail here (heads that do not divide, no all-reduce data).
        let perf_model = StepTimeModel::new(&gpu, &model, tp)
            .map_err(|e| self.err(&["deployment", "tensor_parallel"], e))?;

        // Engine.
        let e = &f.engine;
        let max_num_batched_tokens = e
            .max_num_batched_tokens
            .unwrap_or_else(|| perf::default_max_num_batched_tokens(&gpu));
        let max_num_seqs = e
            .max_num_seqs
            .unwrap_or_else(|| perf::default_max_num_seqs(&gpu).min(max_num_batched_tokens));
        let block_size_tokens = e.block_size_tokens.unwrap_or(16);
        let gpu_memory_utilization = e.gpu_memory_utilization.unwrap_or(0.9);
        let max_model_len = e.max_model_len.unwrap_or(model.max_model_len);
        positive_u32(
            self,
            &["engine", "max_num_batched_tokens"],
            max_num_batched_tokens,
        )?;
        positive_u32(self, &["engine", "max_num_seqs"], max_num_seqs)?;
        if max_num_seqs > max_num_batched_tokens {
            return Err(self.err(
                &["engine", "max_num_seqs"],
                format!(
                    "max_num_seqs ({max_num_seqs}) must not exceed max_num_batched_tokens \
                     ({max_num_batched_tokens}), as in vLLM"
                ),
            ));
        }
        if ![8, 16, 32, 64, 128].contains(&block_size_tokens) {
            return Err(self.err(
                &["engine", "block_size_tokens"],
                format!("block_size_tokens must be 8, 16, 32, 64 or 128, got {block_size_tokens}"),
            ));
        }
        if !(gpu_memory_utilization > 0.0 && gpu_memory_utilization <= 1.0) {
            return Err(self.err(
                &["engine", "gpu_memory_utilization"],
                format!("gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization}"),
            ));
        }
        if max_model_len == 0 || max_model_len > model.max_model_len {
            return Err(self.err(
                &["engine", "max_model_len"],
                format!("max_model_len must be between 1 and the model's {} tokens, got {max_model_len}", model.max_model_len),
            ));
        }
        let num_gpu_blocks = match e.num_gpu_blocks_override {
            Some(n) => n,
            None => perf::kv_cache_blocks(
                &gpu,
                &model,
                tp,
                gpu_memory_utilization,
                max_num_batched_tokens,
                block_size_tokens,
            )
            .map_err(|msg| self.err(&["deployment", "model"], msg))?,
        };
        let kv_cache_tokens =
            u64::from(num_gpu_blocks.saturating_sub(1)) * u64::from(block_size_tokens);
        if num_gpu_blocks < 2 || kv_cache_tokens < u64::from(max_model_len) {
            let path: &[&str] = if e.num_gpu_blocks_override.is_some() {
                &["engine", "num_gpu_blocks_override"]
            } else if e.max_model_len.is_some() {
                &["engine", "max_model_len"]
            } else {
                &["deployment", "model"]
            };
            let hint = if e.num_gpu_blocks_override.is_some() {
                "raise num_gpu_blocks_override or lower engine.max_model_len"
            } else {
                "lower engine.max_model_len or raise gpu_memory_utilization / tensor_parallel"
            };
            return Err(self.err(
                path,
                format!(
                    "the model's max seq len ({max_model_len}) is larger than the KV cache can hold ({kv_cache_tokens} tokens); {hint}"
                ),
            ));
        }
        let engine = EngineConfig {
            max_num_seqs,
            max_num_batched_tokens,
            block_size_tokens,
            num_gpu_blocks,
            max_model_len,
            fuse_decode_steps: e.fuse_decode_steps.unwrap_or(true),
        };

        // Pods.
        let initial_ready = match d.initial_state.as_deref().unwrap_or("ready") {
            "ready" => true,
            "cold" => false,
            other => {
                return Err(self.err(
                    &["deployment", "initial_state"],
                    format!("initial_state must be \"ready\" or \"cold\", got {other:?}"),
                ));
            }
        };
        let termination_grace_s = d.termination_grace_s.unwrap_or(30.0);
        non_negative(
            self.loc,
            &["deployment", "termination_grace_s"],
            termination_grace_s,
        )?;
        let startup = self.startup(&f)?;
        let r = &f.readiness;
        let readiness = ProbeSpec {
            initial_delay_s: r.initial_delay_s.unwrap_or(0.0),
            period_s: r.period_s.unwrap_or(10.0),
            checks_model: r.checks_model.unwrap_or(true),
        };
        non_negative(
            self.loc,
            &["readiness", "initial_delay_s"],
            readiness.initial_delay_s,
        )?;
        at_least(
            self.loc,
            &["readiness", "period_s"],
            readiness.period_s,
            1.0,
            "s",
        )?;

        // Cluster. The default pool fits the most replicas the autoscaler may ask for (GPU
        // time is charged per pod, not per node, so idle nodes cost nothing here).
        let c = &f.cluster;
        let names = Names {
            namespace: self.k8s_name(
                &["deployment", "namespace"],
                d.namespace.as_deref(),
                "default",
            )?,
            deployment: self.k8s_name(&["deployment", "name"], d.name.as_deref(), "vllm")?,
            model_label: model.name.clone(),
        };
        let control = crate::control::lower_control(self.loc, &f, &names)?;
        let most_replicas = match &control.autoscaler {
            AutoscalerSpec::None => d.replicas,
            AutoscalerSpec::Hpa(h) => h.config.max_replicas.max(0) as u32,
            AutoscalerSpec::Keda(k) => k.config.hpa_max_replicas().max(0) as u32,
            AutoscalerSpec::Kpa(k) => k.config.max_scale,
        }
        .max(d.replicas);
        const MAX_REPLICAS: u32 = sim_engine::MAX_REPLICAS;
        if most_replicas > MAX_REPLICAS {
            let path: &[&str] = match &control.autoscaler {
                _ if d.replicas > MAX_REPLICAS => &["deployment", "replicas"],
                AutoscalerSpec::Hpa(_) => &["hpa", "max_replicas"],
                AutoscalerSpec::Keda(_) => &["keda", "max_replica_count"],
                AutoscalerSpec::Kpa(_) => &["kpa", "max_scale"],
                AutoscalerSpec::None => &["deployment", "replicas"],
            };
            return Err(self.err(
                path,
                format!("at most {MAX_REPLICAS} replicas are simulated, got {most_replicas}"),
            ));
        }
        // In u64: replicas × TP can exceed u32. The quotient cannot, as TP ≤ gpus_per_node.
        let needed_nodes = (u64::from(most_replicas) * u64::from(tp))
            .div_ceil(u64::from(gpus_per_node))
            .try_into()
            .unwrap_or(u32::MAX);
        let nodes = c.nodes.unwrap_or(needed_nodes);
        // The initial pool is allocated node by node, and no run uses more nodes than
        // replicas (each replica fits on one node, as TP ≤ gpus_per_node).
        if nodes > MAX_REPLICAS {
            return Err(self.err(
                &["cluster", "nodes"],
                format!("at most {MAX_REPLICAS} nodes are simulated, got {nodes}"),
            ));
        }
        let max_nodes = c.max_nodes.unwrap_or(nodes.max(needed_nodes));
        if max_nodes < nodes {
            return Err(self.err(
                &["cluster", "max_nodes"],
                format!("max_nodes ({max_nodes}) must be at least nodes ({nodes})"),
            ));
        }
        let node_provision = match &c.node_provision_s {
            Some(t) => self.duration(&["cluster", "node_provision_s"], t)?,
            None => DurationDist::Fixed { secs: 300.0 },
        };

        // Routing.
        let rt = &f.routing;
        let policy = match rt.policy.as_deref().unwrap_or("random") {
            "random" => RoutingPolicy::Random,
            "round-robin" => RoutingPolicy::RoundRobin,
            "least-outstanding" => RoutingPolicy::LeastOutstanding,
            other => {
                return Err(self.err(
                    &["routing", "policy"],
                    format!("policy must be \"random\", \"round-robin\" or \"least-outstanding\", got {other:?}"),
                ))
            }
        };
        let no_endpoint = match rt.no_endpoint.as_deref().unwrap_or("fail") {
            "fail" => {
                if rt.gateway_timeout_s.is_some() {
                    return Err(self.err(
                        &["routing", "gateway_timeout_s"],
                        "gateway_timeout_s needs no_endpoint = \"queue\"",
                    ));
                }
                NoEndpoint::Fail
            }
            "queue" => {
                let timeout_s = rt.gateway_timeout_s.unwrap_or(300.0);
                positive(self.loc, &["routing", "gateway_timeout_s"], timeout_s)?;
                NoEndpoint::Queue { timeout_s }
            }
            other => {
                return Err(self.err(
                    &["routing", "no_endpoint"],
                    format!("no_endpoint must be \"fail\" or \"queue\", got {other:?}"),
                ));
            }
        };
        if let Some(t) = rt.client_timeout_s {
            positive(self.loc, &["routing", "client_timeout_s"], t)?;
        }

        let slo = self.slo(&f)?;
        let usd_per_gpu_hour = f.cost.usd_per_gpu_hour.unwrap_or(gpu.usd_per_hour);
        non_negative(self.loc, &["cost", "usd_per_gpu_hour"], usd_per_gpu_hour)?;

        let run = &f.run;
        let timeline_interval_s = run.timeline_interval_s.unwrap_or(10.0);
        at_least(
            self.loc,
            &["run", "timeline_interval_s"],
            timeline_interval_s,
            0.1,
            "s",
        )?;
        // A run ends at a timeline row, so the interval also bounds how long it runs on.
        if timeline_interval_s > MAX_TIMELINE_INTERVAL_S {
            return Err(self.err(
                &["run", "timeline_interval_s"],
                format!(
                    "timeline_interval_s is limited to {MAX_TIMELINE_INTERVAL_S} s, got {timeline_interval_s}"
                ),
            ));
        }
        let drain_limit_s = run.drain_limit_s.unwrap_or(600.0);
        non_negative(self.loc, &["run", "drain_limit_s"], drain_limit_s)?;
        if let Some(dur) = run.duration_s {
            positive(self.loc, &["run", "duration_s"], dur)?;
            if dur > sim_engine::MAX_HORIZON_S as f64 {
                return Err(self.err(
                    &["run", "duration_s"],
                    format!("duration_s is limited to 30 days, got {dur}"),
                ));
            }
        }
        if drain_limit_s > 7.0 * 86_400.0 {
            return Err(self.err(
                &["run", "drain_limit_s"],
                format!("drain_limit_s is limited to 7 days, got {drain_limit_s}"),
            ));
        }
        let (workload, last_arrival_s) = self.workload(&f)?;
        let horizon_s = run.duration_s.or(last_arrival_s).unwrap_or(0.0);
        // The timeline is held in memory: bound its rows over the longest the run can last
        // (a closed loop without a horizon ends when its requests are done, up to 30 days).
        let open_ended =
            matches!(workload, WorkloadPlan::ClosedLoop { .. }) && run.duration_s.is_none();
        let span_s = if open_ended {
            sim_engine::MAX_HORIZON_S as f64 + drain_limit_s
        } else {
            horizon_s + drain_limit_s
        };
        let rows = span_s / timeline_interval_s;
        if rows > MAX_TIMELINE_ROWS as f64 {
            return Err(self.err(
                &["run", "timeline_interval_s"],
                format!(
                    "timeline_interval_s {timeline_interval_s} gives about {rows:.0} timeline rows over \
                     {span_s:.0} s (the horizon plus drain_limit_s); at most {MAX_TIMELINE_ROWS} are kept, so raise it"
                ),
            ));
        }
        match &control.autoscaler {
            AutoscalerSpec::Hpa(h) => {
                let (min, max) = (h.config.effective_min_replicas(), h.config.max_replicas);
                if (d.replicas as i32) < min || d.replicas as i32 > max {
                    return Err(self.err(
                        &["deployment", "replicas"],
                        format!(
                            "the initial replicas ({}) must be within the HPA's [{min}, {max}]",
                            d.replicas
                        ),
                    ));
                }
            }
            AutoscalerSpec::Keda(k) => {
                let max = k.config.hpa_max_replicas();
                if d.replicas as i32 > max {
                    return Err(self.err(
                        &["deployment", "replicas"],
                        format!("the initial replicas ({}) exceed the ScaledObject's maxReplicaCount ({max})", d.replicas),
                    ));
                }
            }
            AutoscalerSpec::Kpa(k) => {
                let (min, max) = (k.config.min_scale, k.config.max_scale);
                if d.replicas < min || (max > 0 && d.replicas > max) {
                    return Err(self.err(
                        &["deployment", "replicas"],
                        format!("the initial replicas ({}) must be within the KPA's min_scale {min} and max_scale {max}", d.replicas),
                    ));
                }
            }
            AutoscalerSpec::None => {}
        }
        // Knative's activator buffers requests while no pod is Ready (default request
        // timeout 300 s); a fail-fast Service does not exist there.
        let no_endpoint = match (&control.autoscaler, rt.no_endpoint.as_deref()) {
            (AutoscalerSpec::Kpa(_), Some("fail")) => {
                return Err(self.err(
                    &["routing", "no_endpoint"],
                    "with [kpa], requests wait at Knative's activator: no_endpoint must be \"queue\"",
                ));
            }
            (AutoscalerSpec::Kpa(_), None) => NoEndpoint::Queue {
                timeout_s: rt.gateway_timeout_s.unwrap_or(300.0),
            },
            _ => no_endpoint,
        };

        let spec = RunSpec {
            gpu,
            model,
            tp,
            engine,
            perf: perf_model,
            pods: PodsSpec {
                replicas: d.replicas,
                initial_ready,
                startup,
                readiness,
                termination_grace_s,
            },
            cluster: ClusterSpec {
                gpus_per_node,
                initial_nodes: nodes,
                max_nodes,
                node_provision,
            },
            routing: RoutingSpec {
                policy,
                no_endpoint,
                client_timeout_s: rt.client_timeout_s,
            },
            slo,
            usd_per_gpu_hour,
            timeline_interval_s,
            duration_s: run.duration_s,
            drain_limit_s,
            control,
            names,
        };
        let name = f.name.clone().unwrap_or_else(|| {
            Path::new(self.file).file_stem().map_or_else(
                || "scenario".to_string(),
                |s| s.to_string_lossy().into_owned(),
            )
        });
        Ok(Scenario {
            name,
            seed: f.seed.unwrap_or(1),
            spec,
            workload,
            resolved: Resolved {
                max_num_seqs,
                max_num_batched_tokens,
                max_model_len,
                num_gpu_blocks,
                kv_cache_tokens,
                usd_per_gpu_hour,
                nodes,
                max_nodes,
                horizon_s,
            },
            file: f,
            source: toml::Table::new(),
            warnings: Vec::new(),
            workload_at: self.err(&["workload"], ""),
        })
    }

    /// A Kubernetes object name (an RFC 1123 label): lowercase letters, digits and `-`,
    /// starting and ending with a letter or digit, at most 63 characters.
    fn k8s_name(
        &self,
        path: &[&str],
        value: Option<&str>,
        default: &str,
    ) -> Result<String, ScenarioError> {
        let v = value.unwrap_or(default);
        let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        let ends_ok = v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric());
        if v.is_empty() || v.len() > 63 || !v.chars().all(ok_char) || !ends_ok {
            return Err(self.err(
                path,
                format!(
                    "{v:?} is not a valid Kubernetes name: use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
                ),
            ));
        }
        Ok(v.to_string())
    }

    fn startup(&self, f: &ScenarioFile) -> Result<StartupModel, ScenarioError> {
        let s = &f.startup;
        let phases = [&s.image_pull_s, &s.model_load_s, &s.engine_init_s];
        let any_phase = phases.iter().any(|p| p.is_some());
        let model = match (&s.total_s, any_phase) {
            (Some(_), true) => {
                return Err(self.err(&["startup", "total_s"], "give either total_s or the phases (image_pull_s, model_load_s, engine_init_s), not both"));
            }
            (Some(t), false) => StartupModel::Total {
                total: self.duration(&["startup", "total_s"], t)?,
            },
            (None, true) => {
                let zero = DurationTable {
                    dist: "fixed".into(),
                    value_s: Some(0.0),
                    ..DurationTable::default()
                };
                let get = |key: &str, t: &Option<DurationTable>| {
                    self.duration(&["startup", key], t.as_ref().unwrap_or(&zero))
                };
                StartupModel::Phases {
                    image_pull: get("image_pull_s", &s.image_pull_s)?,
                    model_load: get("model_load_s", &s.model_load_s)?,
                    engine_init: get("engine_init_s", &s.engine_init_s)?,
                }
            }
            (None, false) => StartupModel::Total {
                total: DurationDist::Uniform {
                    min_s: 30.0,
                    max_s: 120.0,
                },
            },
        };
        Ok(model)
    }

    fn duration(&self, path: &[&str], t: &DurationTable) -> Result<DurationDist, ScenarioError> {
        let mut key_path: Vec<&str> = path.to_vec();
        let used: &[(&str, bool)] = &[
            ("value_s", t.value_s.is_some()),
            ("min_s", t.min_s.is_some()),
            ("max_s", t.max_s.is_some()),
            ("p50_s", t.p50_s.is_some()),
            ("p99_s", t.p99_s.is_some()),
        ];
        let (dist, allowed): (Option<DurationDist>, &[&str]) = match t.dist.as_str() {
            "fixed" => (
                t.value_s.map(|secs| DurationDist::Fixed { secs }),
                &["value_s"],
            ),
            "uniform" => (
                t.min_s
                    .zip(t.max_s)
                    .map(|(min_s, max_s)| DurationDist::Uniform { min_s, max_s }),
                &["min_s", "max_s"],
            ),
            "lognormal" => (
                t.p50_s
                    .zip(t.p99_s)
                    .map(|(p50_s, p99_s)| DurationDist::LogNormal { p50_s, p99_s }),
                &["p50_s", "p99_s"],
            ),
            other => {
                key_path.push("dist");
                return Err(self.err(
                    &key_path,
                    format!("dist must be \"fixed\", \"uniform\" or \"lognormal\", got {other:?}"),
                ));
            }
        };
        if let Some((extra, _)) = used.iter().find(|(k, set)| *set && !allowed.contains(k)) {
            key_path.push(extra);
            return Err(self.err(
                &key_path,
                format!(
                    "{extra} does not apply to dist = {:?} (it takes {})",
                    t.dist,
                    allowed.join(", ")
                ),
            ));
        }
        let dist = dist.ok_or_else(|| {
            self.err(
                path,
                format!("dist = {:?} needs {}", t.dist, allowed.join(" and ")),
            )
        })?;
        // Name the offending key in plain words; `validate` stays as the final word.
        let problem = match dist {
            DurationDist::Fixed { secs } if !(secs.is_finite() && secs >= 0.0) => Some((
                "value_s",
                format!("value_s must be zero or more, got {secs}"),
            )),
            DurationDist::Uniform { min_s, .. } if !(min_s.is_finite() && min_s >= 0.0) => {
                Some(("min_s", format!("min_s must be zero or more, got {min_s}")))
            }
            DurationDist::Uniform { min_s, max_s } if !(max_s.is_finite() && max_s >= min_s) => {
                Some(("max_s", format!("max_s ({max_s}) is below min_s ({min_s})")))
            }
            DurationDist::LogNormal { p50_s, .. } if !(p50_s.is_finite() && p50_s > 0.0) => Some((
                "p50_s",
                format!("p50_s must be a positive number, got {p50_s}"),
            )),
            DurationDist::LogNormal { p50_s, p99_s } if !(p99_s.is_finite() && p99_s >= p50_s) => {
                Some(("p99_s", format!("p99_s ({p99_s}) is below p50_s ({p50_s})")))
            }
            _ => None,
        };
        if let Some((key, message)) = problem {
            key_path.push(key);
            return Err(self.err(&key_path, message));
        }
        dist.validate().map_err(|m| self.err(path, m))?;
        Ok(dist)
    }

    fn slo(&self, f: &ScenarioFile) -> Result<SloSpec, ScenarioError> {
        let mut slo = SloSpec {
            declared: !f.slo.is_empty(),
            ..SloSpec::default()
        };
        for (key, &value) in &f.slo {
            let path = ["slo", key.as_str()];
            if !(value.is_finite() && value >= 0.0) {
                return Err(self.err(
                    &path,
                    format!("{key} must be a non-negative number, got {value}"),
                ));
            }
            match key.as_str() {
                "ttft_s" => slo.ttft_s = Some(value),
                "tpot_s" => slo.tpot_s = Some(value),
                "e2e_s" => slo.e2e_s = Some(value),
                "min_attainment" => {
                    if value > 1.0 {
                        return Err(self.err(
                            &path,
                            format!("min_attainment is a share between 0 and 1, got {value}"),
                        ));
                    }
                    slo.min_attainment = Some(value);
                }
                "max_failed_ratio" => {
                    if value > 1.0 {
                        return Err(self.err(
                            &path,
                            format!("max_failed_ratio is a share between 0 and 1, got {value}"),
                        ));
                    }
                    slo.max_failed_ratio = value;
                }
                _ => {
                    let check = parse_percentile_key(key, value).ok_or_else(|| {
                        self.err(
                            &path,
                            format!(
                                "unknown SLO key {key:?}; expected ttft_s, tpot_s, e2e_s, min_attainment, \
                                 max_failed_ratio, or a percentile threshold like ttft_s_p99 / tpot_s_p50 / e2e_s_p90 / queue_s_p99"
                            ),
                        )
                    })?;
                    slo.percentile_checks.push(check);
                }
            }
        }
        // Per-request thresholds alone check nothing: likely a forgotten min_attainment.
        if slo.min_attainment.is_none() && slo.percentile_checks.is_empty() {
            for key in ["ttft_s", "tpot_s", "e2e_s"] {
                if f.slo.contains_key(key) {
                    self.loc.warn(
                        &["slo", key],
                        format!(
                            "{key} is a per-request threshold; without min_attainment nothing \
                             checks it (it only shapes slo_attainment)"
                        ),
                    );
                }
            }
        }
        Ok(slo)
    }

    /// The workload plan, and for a trace its last arrival in seconds.
    fn workload(&self, f: &ScenarioFile) -> Result<(WorkloadPlan, Option<f64>), ScenarioError> {
        let w = &f.workload;
        let transform = Transform {
            window_start_s: w.window_start_s.unwrap_or(0.0),
            window_duration_s: w.window_duration_s,
            offset_s: w.offset_s.unwrap_or(0.0),
            rate_scale: w.rate_scale.unwrap_or(1.0),
        };
        transform.validate().map_err(|m| {
            let key = first_word(&m).to_string();
            self.err(&["workload", &key], m)
        })?;
        if transform.offset_s > sim_engine::MAX_HORIZON_S as f64 {
            return Err(self.err(
                &["workload", "offset_s"],
                format!("offset_s is limited to 30 days, got {}", transform.offset_s),
            ));
        }
        if w.kind != "closed_loop" {
            for (key, set) in [
                ("users", w.users.is_some()),
                ("think_time_s", w.think_time_s.is_some()),
                ("think_time_cv", w.think_time_cv.is_some()),
                ("ramp_up_s", w.ramp_up_s.is_some()),
                ("max_requests", w.max_requests.is_some()),
                ("retry_delay_s", w.retry_delay_s.is_some()),
            ] {
                if set {
                    return Err(self.err(
                        &["workload", key],
                        format!("{key} applies to kind = \"closed_loop\""),
                    ));
                }
            }
        }
        match w.kind.as_str() {
            "closed_loop" => Ok((self.closed_loop(f)?, None)),
            "trace" => {
                for (key, set) in [
                    ("preset", w.preset.is_some()),
                    ("arrivals", w.arrivals.is_some()),
                    ("prompt_tokens", w.prompt_tokens.is_some()),
                    ("output_tokens", w.output_tokens.is_some()),
                ] {
                    if set {
                        return Err(self.err(
                            &["workload", key],
                            format!("{key} applies to kind = \"synthetic\", not to a trace"),
                        ));
                    }
                }
                let rel = w
                    .path
                    .as_ref()
                    .ok_or_else(|| self.err(&["workload"], "a trace workload needs path"))?;
                let format = self.trace_format(&["workload", "format"], w.format.as_deref())?;
                let path = self.resolve_path(rel);
                let last = self.scan_trace(&path, format, &transform, f.run.duration_s)?;
                Ok((
                    WorkloadPlan::Trace {
                        path,
                        format,
                        transform,
                    },
                    last,
                ))
            }
            "synthetic" => {
                for (key, set) in [
                    ("path", w.path.is_some()),
                    ("format", w.format.is_some()),
                    ("window_start_s", w.window_start_s.is_some()),
                    ("window_duration_s", w.window_duration_s.is_some()),
                ] {
                    if set {
                        return Err(self.err(
                            &["workload", key],
                            format!("{key} applies to kind = \"trace\", not to synthetic load"),
                        ));
                    }
                }
                let duration_s = f.run.duration_s.ok_or_else(|| {
                    self.err(&["run"], "a synthetic workload needs run.duration_s")
                })?;
                let mut spec = match w.preset.as_deref() {
                    Some("azure-conv-like") => sim_workload::azure_conv_like(duration_s),
                    Some(other) => {
                        return Err(self.err(
                            &["workload", "preset"],
                            format!("unknown preset {other:?}; known: azure-conv-like"),
                        ));
                    }
                    None => {
                        let missing = [
                            ("arrivals", w.arrivals.is_none()),
                            ("prompt_tokens", w.prompt_tokens.is_none()),
                            ("output_tokens", w.output_tokens.is_none()),
                        ];
                        if let Some((key, _)) = missing.iter().find(|(_, m)| *m) {
                            return Err(self.err(
                                &["workload"],
                                format!(
                                    "a synthetic workload without a preset needs [workload.{key}]"
                                ),
                            ));
                        }
                        SyntheticSpec {
                            duration_s,
                            rate: RateProfile::Constant { rate_rps: 1.0 },
                            arrival_cv: 1.0,
                            prompt_tokens: LengthDist::Fixed { tokens: 1 },
                            output_tokens: LengthDist::Fixed { tokens: 1 },
                        }
                    }
                };
                if let Some(a) = &w.arrivals {
                    let (rate, cv) = self.arrivals(a, spec.arrival_cv)?;
                    spec.rate = rate;
                    spec.arrival_cv = cv;
                }
                if let Some(t) = &w.prompt_tokens {
                    spec.prompt_tokens = self.lengths("prompt_tokens", t)?;
                }
                if let Some(t) = &w.output_tokens {
                    spec.output_tokens = self.lengths("output_tokens", t)?;
                }
                spec.validate().map_err(|m| self.err(&["workload"], m))?;
                // A bound on the run's size: a typo such as rate_rps = 1e9 must be an error,
                // not a simulation of sixty billion requests.
                let expected =
                    spec.rate.expected_requests(0.0, spec.duration_s) * transform.rate_scale;
                let limit = sim_engine::MAX_REQUESTS_PER_RUN as f64;
                let path: &[&str] = if w.arrivals.is_some() {
                    &["workload", "arrivals"]
                } else {
                    &["run", "duration_s"]
                };
                if expected.is_nan() || expected > limit {
                    return Err(self.err(
                        path,
                        format!(
                            "this workload would generate about {expected:.3e} requests; a run is limited to {limit:.0e} \
                             (shorten run.duration_s or lower the rate)"
                        ),
                    ));
                }
                self.mean_rate_within_limit(path, expected, spec.duration_s)?;
                Ok((WorkloadPlan::Synthetic { spec, transform }, None))
            }
            other => Err(self.err(
                &["workload", "kind"],
                format!("kind must be \"synthetic\", \"trace\" or \"closed_loop\", got {other:?}"),
            )),
        }
    }

    /// `kind = "closed_loop"`: users, think time, ramp, bound and where lengths come from.
    fn closed_loop(&self, f: &ScenarioFile) -> Result<WorkloadPlan, ScenarioError> {
        let w = &f.workload;
        for (key, set) in [
            ("arrivals", w.arrivals.is_some()),
            ("window_start_s", w.window_start_s.is_some()),
            ("window_duration_s", w.window_duration_s.is_some()),
            ("offset_s", w.offset_s.is_some()),
            ("rate_scale", w.rate_scale.is_some()),
        ] {
            if set {
                return Err(self.err(
                    &["workload", key],
                    format!(
                        "{key} applies to open-loop workloads; a closed loop's arrivals follow \
                         its users (users, think_time_s, ramp_up_s)"
                    ),
                ));
            }
        }
        let users = w
            .users
            .ok_or_else(|| self.err(&["workload"], "a closed_loop workload needs users"))?;
        let limit = sim_engine::MAX_REQUESTS_PER_RUN;
        if let Some(m) = w.max_requests
            && m > limit
        {
            return Err(self.err(
                &["workload", "max_requests"],
                format!("max_requests is limited to {limit}, got {m}"),
            ));
        }
        let (lengths, replay) = if let Some(rel) = &w.path {
            for (key, set) in [
                ("preset", w.preset.is_some()),
                ("prompt_tokens", w.prompt_tokens.is_some()),
                ("output_tokens", w.output_tokens.is_some()),
            ] {
                if set {
                    return Err(self.err(
                        &["workload", key],
                        format!("{key} does not apply when lengths are replayed from path"),
                    ));
                }
            }
            let format = self.trace_format(&["workload", "format"], w.format.as_deref())?;
            let path = self.resolve_path(rel);
            // Arrival times are ignored, so the scan has no horizon; it counts the lines.
            let key = ScanKey::new(&path, format, &Transform::default(), None);
            let scan = self.files.scan_trace(&key).map_err(|e| match e {
                ScanFailure::Open(e) => self.err(
                    &["workload", "path"],
                    format!("cannot open trace {path}: {e}"),
                ),
                ScanFailure::Trace(e) => trace_error(&path, &e),
            })?;
            if scan.requests == 0 {
                return Err(self.err(
                    &["workload", "path"],
                    format!("{path} holds no requests to replay"),
                ));
            }
            if scan.requests > limit {
                return Err(self.err(
                    &["workload", "path"],
                    format!(
                        "{path} holds {} requests; a run is limited to {limit} (set max_requests)",
                        scan.requests
                    ),
                ));
            }
            if let Some(m) = w.max_requests
                && m > scan.requests
            {
                self.loc.warn(
                    &["workload", "max_requests"],
                    format!(
                        "{path} holds only {} requests; the run sends no more after the last \
                         (lengths are not reused)",
                        scan.requests
                    ),
                );
            }
            (ClientLengths::Replay, Some((path, format)))
        } else {
            if w.format.is_some() {
                return Err(self.err(
                    &["workload", "format"],
                    "format applies to replayed lengths (path)",
                ));
            }
            let (mut prompt, mut output) = match w.preset.as_deref() {
                Some("azure-conv-like") => {
                    let s = sim_workload::azure_conv_like(1.0);
                    (Some(s.prompt_tokens), Some(s.output_tokens))
                }
                Some(other) => {
                    return Err(self.err(
                        &["workload", "preset"],
                        format!("unknown preset {other:?}; known: azure-conv-like"),
                    ));
                }
                None => (None, None),
            };
            if let Some(t) = &w.prompt_tokens {
                prompt = Some(self.lengths("prompt_tokens", t)?);
            }
            if let Some(t) = &w.output_tokens {
                output = Some(self.lengths("output_tokens", t)?);
            }
            let (Some(prompt_tokens), Some(output_tokens)) = (prompt, output) else {
                return Err(self.err(
                    &["workload"],
                    "a closed_loop workload needs path (replayed lengths), preset, or both \
                     [workload.prompt_tokens] and [workload.output_tokens]",
                ));
            };
            if f.run.duration_s.is_none() && w.max_requests.is_none() {
                return Err(self.err(
                    &["workload"],
                    "a closed_loop workload needs run.duration_s or max_requests to end",
                ));
            }
            (
                ClientLengths::Synthetic {
                    prompt_tokens,
                    output_tokens,
                },
                None,
            )
        };
        let spec = ClientSpec {
            users,
            think_time_s: w.think_time_s.unwrap_or(0.0),
            think_time_cv: w.think_time_cv.unwrap_or(0.0),
            ramp_up_s: w.ramp_up_s.unwrap_or(0.0),
            max_requests: w.max_requests,
            retry_delay_s: w.retry_delay_s.unwrap_or(1.0),
            lengths,
        };
        spec.validate().map_err(|m| {
            let key = first_word(&m).trim_end_matches(':').to_string();
            self.err(&["workload", &key], m)
        })?;
        for (key, v) in [
            ("think_time_s", spec.think_time_s),
            ("ramp_up_s", spec.ramp_up_s),
        ] {
            if v > sim_engine::MAX_HORIZON_S as f64 {
                return Err(self.err(
                    &["workload", key],
                    format!("{key} is limited to 30 days, got {v}"),
                ));
            }
        }
        if let Some(m) = spec.max_requests
            && m < u64::from(users)
        {
            self.loc.warn(
                &["workload", "max_requests"],
                format!("max_requests ({m}) is below users ({users}): only {m} users ever send"),
            );
        }
        if spec.think_time_cv > 0.0 && spec.think_time_s == 0.0 {
            self.loc.warn(
                &["workload", "think_time_cv"],
                "think_time_cv has no effect with a zero think_time_s",
            );
        }
        if let Some(d) = f.run.duration_s
            && spec.ramp_up_s > 0.0
            && spec.ramp_up_s * f64::from(users - 1) / f64::from(users) > d
        {
            self.loc.warn(
                &["workload", "ramp_up_s"],
                format!(
                    "ramp_up_s ({}) runs past run.duration_s ({d}): the last users never send",
                    spec.ramp_up_s
                ),
            );
        }
        Ok(WorkloadPlan::ClosedLoop { spec, replay })
    }

    /// Reads the trace once before any run: a bad line, an arrival past the horizon limit or
    /// more requests than a run simulates fail here, naming the line.
    fn scan_trace(
        &self,
        path: &str,
        format: TraceFormat,
        transform: &Transform,
        duration_s: Option<f64>,
    ) -> Result<Option<f64>, ScenarioError> {
        let key = ScanKey::new(
            path,
            format,
            transform,
            duration_s.map(SimTime::from_secs_f64),
        );
        let scan = self.files.scan_trace(&key).map_err(|e| match e {
            ScanFailure::Open(e) => self.err(
                &["workload", "path"],
                format!("cannot open trace {path}: {e}"),
            ),
            ScanFailure::Trace(e) => trace_error(path, &e),
        })?;
        let requests = transform.scaled_count(scan.requests);
        let limit = sim_engine::MAX_REQUESTS_PER_RUN;
        let key = if transform.rate_scale > 1.0 {
            "rate_scale"
        } else {
            "path"
        };
        if requests > limit {
            return Err(self.err(
                &["workload", key],
                format!(
                    "this trace gives {requests} requests; a run is limited to {limit} \
                     (use a window, workload.window_duration_s, or a lower rate_scale)"
                ),
            ));
        }
        let last_arrival_s = scan.last_arrival.map(SimTime::as_secs_f64);
        let horizon_s = duration_s.or(last_arrival_s).unwrap_or(0.0);
        self.mean_rate_within_limit(&["workload", key], requests as f64, horizon_s)?;
        Ok(last_arrival_s)
    }

    /// `requests` over `horizon_s` (taken as at least [`MIN_RATE_SPAN_S`], so that a burst
    /// at the start is not read as an endless rate) must average at most
    /// [`sim_engine::MAX_MEAN_RATE_RPS`]: past it a run simulates millions of requests a
    /// minute, which bounds its time where the total cap alone would not.
    fn mean_rate_within_limit(
        &self,
        path: &[&str],
        requests: f64,
        horizon_s: f64,
    ) -> Result<(), ScenarioError> {
        let span_s = horizon_s.max(MIN_RATE_SPAN_S);
        let limit = sim_engine::MAX_MEAN_RATE_RPS;
        let mean = requests / span_s;
        if mean > limit {
            return Err(self.err(
                path,
                format!(
                    "this workload averages about {mean:.0} requests a second over {span_s:.0} s; \
                     a run is limited to {limit:.0} a second on average (lower the rate or rate_scale)"
                ),
            ));
        }
        Ok(())
    }

    fn trace_format(
        &self,
        path: &[&str],
        name: Option<&str>,
    ) -> Result<TraceFormat, ScenarioError> {
        let name = name.unwrap_or("azure");
        match name {
            "azure" => Ok(TraceFormat::AzureCsv),
            "mooncake" => Ok(TraceFormat::MooncakeJsonl),
            "generic" => Ok(TraceFormat::GenericCsv),
            other => Err(self.err(
                path,
                format!("format must be \"azure\", \"mooncake\" or \"generic\", got {other:?}"),
            )),
        }
    }

    fn arrivals(
        &self,
        a: &ArrivalsTable,
        default_cv: f64,
    ) -> Result<(RateProfile, f64), ScenarioError> {
        let base = ["workload", "arrivals"];
        let field = |key: &'static str, v: Option<f64>| -> Result<f64, ScenarioError> {
            v.ok_or_else(|| self.err(&base, format!("pattern = {:?} needs {key}", a.pattern)))
        };
        let set: [(&str, bool); 13] = [
            ("rate_rps", a.rate_rps.is_some()),
            ("base_rps", a.base_rps.is_some()),
            ("amplitude_rps", a.amplitude_rps.is_some()),
            ("period_s", a.period_s.is_some()),
            ("phase_s", a.phase_s.is_some()),
            ("before_rps", a.before_rps.is_some()),
            ("after_rps", a.after_rps.is_some()),
            ("at_s", a.at_s.is_some()),
            ("spike_rps", a.spike_rps.is_some()),
            ("start_s", a.start_s.is_some()),
            ("duration_s", a.duration_s.is_some()),
            ("step_s", a.step_s.is_some()),
            ("rates_rps", a.rates_rps.is_some()),
        ];
        let (rate, allowed): (RateProfile, &[&str]) = match a.pattern.as_str() {
            "constant" => (
                RateProfile::Constant {
                    rate_rps: field("rate_rps", a.rate_rps)?,
                },
                &["rate_rps"],
            ),
            "diurnal" => (
                RateProfile::Diurnal {
                    base_rps: field("base_rps", a.base_rps)?,
                    amplitude_rps: field("amplitude_rps", a.amplitude_rps)?,
                    period_s: a.period_s.unwrap_or(86_400.0),
                    phase_s: a.phase_s.unwrap_or(0.0),
                },
                &["base_rps", "amplitude_rps", "period_s", "phase_s"],
            ),
            "step" => (
                RateProfile::Step {
                    before_rps: field("before_rps", a.before_rps)?,
                    after_rps: field("after_rps", a.after_rps)?,
                    at_s: field("at_s", a.at_s)?,
                },
                &["before_rps", "after_rps", "at_s"],
            ),
            "spike" => (
                RateProfile::Spike {
                    base_rps: field("base_rps", a.base_rps)?,
                    spike_rps: field("spike_rps", a.spike_rps)?,
                    start_s: field("start_s", a.start_s)?,
                    duration_s: field("duration_s", a.duration_s)?,
                },
                &["base_rps", "spike_rps", "start_s", "duration_s"],
            ),
            "piecewise" => (
                RateProfile::Piecewise {
                    step_s: field("step_s", a.step_s)?,
                    rates_rps: a.rates_rps.clone().ok_or_else(|| {
                        self.err(&base, "pattern = \"piecewise\" needs rates_rps")
                    })?,
                },
                &["step_s", "rates_rps"],
            ),
            other => {
                return Err(self.err(
                    &["workload", "arrivals", "pattern"],
                    format!("pattern must be \"constant\", \"diurnal\", \"step\", \"spike\" or \"piecewise\", got {other:?}"),
                ));
            }
        };
        if let Some((key, _)) = set.iter().find(|(k, s)| *s && !allowed.contains(k)) {
            return Err(self.err(
                &["workload", "arrivals", key],
                format!(
                    "{key} does not apply to pattern = {:?} (it takes {})",
                    a.pattern,
                    allowed.join(", ")
                ),
            ));
        }
        let cv = a.cv.unwrap_or(default_cv);
        rate.validate()
            .map_err(|m| self.err(&[base[0], base[1], &named_key(&m)], m))?;
        positive(self.loc, &["workload", "arrivals", "cv"], cv)?;
        // Measured traces have inter-arrival cv of about 1 to 10; far past that, nearly every
        // request arrives in a few bursts of millions (found by sim-fuzz: cv = 604801).
        if cv > MAX_ARRIVAL_CV {
            return Err(self.err(
                &["workload", "arrivals", "cv"],
                format!("cv must be at most {MAX_ARRIVAL_CV}, got {cv}"),
            ));
        }
        // The gaps are Gamma(shape 1/cv², scale cv²); both must be positive and finite.
        let (scale, shape) = (cv * cv, 1.0 / (cv * cv));
        if !(scale.is_finite() && scale > 0.0 && shape.is_finite() && shape > 0.0) {
            return Err(self.err(
                &["workload", "arrivals", "cv"],
                format!("cv {cv:e} is too extreme for a Gamma gap distribution (1/cv² and cv² must be finite and positive)"),
            ));
        }
        Ok((rate, cv))
    }

    fn lengths(&self, which: &str, t: &LengthTable) -> Result<LengthDist, ScenarioError> {
        let base = ["workload", which];
        let set: [(&str, bool); 8] = [
            ("tokens", t.tokens.is_some()),
            ("min_tokens", t.min_tokens.is_some()),
            ("max_tokens", t.max_tokens.is_some()),
            ("p50_tokens", t.p50_tokens.is_some()),
            ("p99_tokens", t.p99_tokens.is_some()),
            ("mean_tokens", t.mean_tokens.is_some()),
            ("trace_path", t.trace_path.is_some()),
            ("trace_format", t.trace_format.is_some()),
        ];
        let need = |key: &str| self.err(&base, format!("dist = {:?} needs {key}", t.dist));
        let (dist, allowed): (LengthDist, &[&str]) = match t.dist.as_str() {
            "fixed" => (
                LengthDist::Fixed {
                    tokens: t.tokens.ok_or_else(|| need("tokens"))?,
                },
                &["tokens"],
            ),
            "uniform" => (
                LengthDist::Uniform {
                    min_tokens: t.min_tokens.ok_or_else(|| need("min_tokens"))?,
                    max_tokens: t.max_tokens.ok_or_else(|| need("max_tokens"))?,
                },
                &["min_tokens", "max_tokens"],
            ),
            "lognormal" => {
                let min_tokens = t.min_tokens.unwrap_or(1);
                let max_tokens = t.max_tokens.unwrap_or(u32::MAX);
                let p50 = t.p50_tokens.ok_or_else(|| need("p50_tokens"))?;
                let dist = match (t.p99_tokens, t.mean_tokens) {
                    (Some(p99_tokens), None) => LengthDist::LogNormal { p50_tokens: p50, p99_tokens, min_tokens, max_tokens },
                    (None, Some(mean)) => LengthDist::lognormal_from_mean_p50(mean, p50, min_tokens, max_tokens)
                        .map_err(|m| self.err(&base, m))?,
                    _ => return Err(self.err(&base, "dist = \"lognormal\" needs p50_tokens and exactly one of p99_tokens, mean_tokens")),
                };
                (
                    dist,
                    &[
                        "p50_tokens",
                        "p99_tokens",
                        "mean_tokens",
                        "min_tokens",
                        "max_tokens",
                    ],
                )
            }
            "empirical" => {
                let rel = t.trace_path.as_ref().ok_or_else(|| need("trace_path"))?;
                let format = self.trace_format(
                    &["workload", which, "trace_format"],
                    t.trace_format.as_deref(),
                )?;
                let path = self.resolve_path(rel);
                let reader = self.files.open(&path).map_err(|e| {
                    self.err(
                        &["workload", which, "trace_path"],
                        format!("cannot read {path}: {e}"),
                    )
                })?;
                let stream = sim_workload::read_trace(format, reader);
                // A line-level error points into the trace; one about the trace as a whole
                // (no requests in it) points at the key that names it (found by sim-fuzz).
                let (prompts, outputs) =
                    sim_workload::empirical_lengths(stream).map_err(|e| match e.line() {
                        Some(_) => trace_error(&path, &e),
                        None => {
                            self.err(&["workload", which, "trace_path"], format!("{path}: {e}"))
                        }
                    })?;
                let samples: Arc<[u32]> = if which == "prompt_tokens" {
                    prompts.into()
                } else {
                    outputs.into()
                };
                (
                    LengthDist::Empirical { samples },
                    &["trace_path", "trace_format"],
                )
            }
            other => {
                return Err(self.err(
                    &["workload", which, "dist"],
                    format!("dist must be \"fixed\", \"uniform\", \"lognormal\" or \"empirical\", got {other:?}"),
                ));
            }
        };
        if let Some((key, _)) = set.iter().find(|(k, s)| *s && !allowed.contains(k)) {
            return Err(self.err(
                &["workload", which, key],
                format!(
                    "{key} does not apply to dist = {:?} (it takes {})",
                    t.dist,
                    allowed.join(", ")
                ),
            ));
        }
        dist.validate()
            .map_err(|m| self.err(&[base[0], base[1], &named_key(&m)], m))?;
        Ok(dist)
    }
}

fn first_word(message: &str) -> &str {
    message.split_whitespace().next().unwrap_or("")
}

/// The key a validation message starts with (`rates_rps[2] must ...` names `rates_rps`). When
/// the first word is no key, the locator falls back to the enclosing table.
fn named_key(message: &str) -> String {
    let word = first_word(message);
    word.split('[').next().unwrap_or(word).to_string()
}

fn positive_u32(l: &Lowering<'_>, path: &[&str], v: u32) -> Result<(), ScenarioError> {
    if v > 0 {
        Ok(())
    } else {
        Err(l.err(
            path,
            format!("{} must be at least 1", path.last().unwrap_or(&"")),
        ))
    }
}

/// Parses `ttft_s_p99` style keys.
fn parse_percentile_key(key: &str, max_s: f64) -> Option<PercentileCheck> {
    let (metric_name, pct) = key.rsplit_once("_p")?;
    let metric = match metric_name {
        "ttft_s" => LatencyMetric::Ttft,
        "tpot_s" => LatencyMetric::Tpot,
        "e2e_s" => LatencyMetric::E2e,
        "queue_s" => LatencyMetric::Queue,
        _ => return None,
    };
    let percentile: f64 = pct.replace('_', ".").parse().ok()?;
    if !(percentile > 0.0 && percentile <= 100.0) {
        return None;
    }
    Some(PercentileCheck {
        metric,
        percentile,
        max_s,
    })
}
