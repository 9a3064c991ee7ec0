//! The simulator: one event loop over the workload, the pods, the vLLM engines and (with the
//! control-plane work) the autoscaling loops.
//!
//! Key types: [`RunSpec`] (validated inputs, built by `sim-scenario`), [`run`] (one run, a
//! pure function of spec, seed and workload: an open-loop request stream or a closed loop of
//! users, `sim_workload::Workload`, whose next arrivals the loop schedules as requests
//! resolve), [`RunReport`] (summary, timeline,
//! events), [`Observer`] (per-request records and progress, handed over as the run goes).
//!
//! Design decision: the loop is single-threaded and event-driven on integer time. The cost of
//! a run grows with requests and with changes of batch composition, not with tokens: engines
//! advance runs of identical decode steps in one event (see `sim_cluster::replica`), and
//! timeline rows and metric reads ask the engines for their state at an instant in closed form.
//!
//! Invariants checked during every run (violations are bugs and panic): simulated time never
//! goes backwards; requests are conserved (arrived = completed + failed + in flight) at every
//! timeline row and at the end; KV blocks are never over capacity nor leaked (checked by each
//! engine after every step); only Ready pods receive requests; a request is resolved once.
//!
//! What it deliberately does not do: read files, parse TOML, or know PromQL text. The workload
//! arrives as a stream of requests or a client population; the scenario arrives validated.

mod observer;
mod report;
mod spec;
mod world;

pub use observer::{Observer, PROGRESS_EVERY_EVENTS, Progress, RunError};
pub use report::{
    ConditionSnapshot, CountStats, FailureReason, HELD_CHECK, Outcome, Percentiles, Quantiles,
    RequestRecord, RunReport, RunWarning, SloCheckResult, Summary, TimelineRow,
};
pub use spec::{
    AutoscalerSpec, ClusterSpec, ControlSpec, HpaLoopSpec, KedaLoopSpec, KpaLoopSpec,
    LatencyMetric, MetricSource, Names, NoEndpoint, PercentileCheck, PodsSpec, PrometheusSpec,
    RoutingSpec, RunSpec, ScrapeFailure, ScrapeJob, SloSpec, TriggerQuery,
};
pub use world::{
    MAX_HORIZON_S, MAX_MEAN_RATE_RPS, MAX_REPLICAS, MAX_REQUESTS_HELD, MAX_REQUESTS_PER_RUN, run,
    run_holding,
};
