//! The event loop: requests, pods, engines and (later) control loops on one clock.

use std::collections::VecDeque;

use sim_cluster::itl::TokenGaps;
use sim_cluster::node::NodePool;
use sim_cluster::pod::StartupTimes;
use sim_cluster::replica::{Replica, ReplicaEvent, ReplicaRequest, Wake};
use sim_cluster::router::{LoadIndex, Router};
use sim_des::{EventQueue, RngStreams, SimDuration, SimTime};
use sim_workload::{Previous, Request, TraceError, Workload};

use crate::observer::{Observer, PROGRESS_EVERY_EVENTS, Progress, RunError};
use crate::report::{
    CountStats, FailureReason, HELD_CHECK, LatencyRecorder, Outcome, Percentiles, RequestRecord,
    RunReport, SloCheckResult, Summary, TimelineRow,
};
use crate::spec::{AutoscalerSpec, LatencyMetric, NoEndpoint, RunSpec, ScrapeJob, SloSpec};

mod control;
mod kpa;
mod reqs;

use control::{Control, PodControl};
use reqs::Stamp;

/// The most requests one run simulates: a bound on memory and time, so that a typo in a
/// rate is an error rather than a run that never ends.
pub const MAX_REQUESTS_PER_RUN: u64 = 50_000_000;

/// The highest mean arrival rate a run accepts, in requests a second over its horizon (or
/// over a minute, for a shorter one): a billion requests a day is about 11,600 a second,
/// more than one model's deployment serves. Past it a typo in a rate makes a short run
/// simulate tens of millions of requests; at it, a minute on ten thousand replicas takes
/// about 10 s (docs/performance.md).
pub const MAX_MEAN_RATE_RPS: f64 = 20_000.0;

/// The most requests a run holds at once (unresolved ones, and resolved ones behind the
/// oldest unresolved): at about 135 bytes each in a pile-up (request, engine queue entry,
/// timeout events), 4 M keep a run near half a gigabyte, so that a sweep running one job on
/// each of two cores stays within 2 GB. The total cap bounds time; this bounds memory. The
/// arrival that passes it stops the run, and the `requests_held_peak` check fails.
pub const MAX_REQUESTS_HELD: u64 = 4_000_000;

/// How often (in events) the run asks its observer whether to stop: a failed write should
/// end the run within moments, and asking costs one call.
const STOP_CHECK_EVERY_EVENTS: u64 = 1 << 10;

/// The latest time a run's horizon may reach, from any source (`run.duration_s`, a trace's
/// last arrival, an offset): 30 days, the span of the longest public traces.
pub const MAX_HORIZON_S: u64 = 30 * 86_400;

/// The most replicas a scenario (or an explain file) may ask for: every pod is simulated, and
/// past this a run would be a memory test, not a study.
pub const MAX_REPLICAS: u32 = 10_000;

/// Runs one simulation. A pure function of `(spec, seed, workload)`; `observer` receives
/// each request's record and the progress as the run goes (`&mut ()` for neither). The
/// workload is an open-loop request stream or a closed loop of users ([`Workload`]).
///
/// # Errors
/// When the workload stream yields an error (a bad trace line), and when the observer stops
/// the run; the run stops there. Passing [`MAX_REQUESTS_HELD`] is not an error: the run stops
/// with a report whose `requests_held_peak` check fails.
pub fn run<'w>(
    spec: &RunSpec,
    seed: u64,
    workload: impl Into<Workload<'w>>,
    observer: &mut dyn Observer,
) -> Result<RunReport, RunError> {
    run_holding(spec, seed, workload, observer, MAX_REQUESTS_HELD)
}

/// [`run`] with another bound on the requests held at once, so that a test reaches it with
/// a small workload.
///
/// # Errors
/// As [`run`].
#[doc(hidden)]
pub fn run_holding<'w>(
    spec: &RunSpec,
    seed: u64,
    workload: impl Into<Workload<'w>>,
    observer: &mut dyn Observer,
    max_held: u64,
) -> Result<RunReport, RunError> {
    let mut world = World::new(spec, seed, workload.into(), observer);
    world.max_held = max_held;
    world.start()?;
    world.run_loop()?;
    Ok(world.finish())
}

#[derive(Clone, Copy, Debug)]
enum Ev {
    Arrival,
    /// A closed-loop user sends its next request.
    Send {
        user: u32,
    },
    Step {
        pod: u32,
        generation: u64,
    },
    PodBound {
        pod: u32,
    },
    PodServerUp {
        pod: u32,
        generation: u64,
    },
    PodReady {
        pod: u32,
        generation: u64,
    },
    PodTerminateDeadline {
        pod: u32,
        generation: u64,
    },
    NodeReady {
        node: u32,
    },
    GatewayTimeout {
        req: u64,
    },
    ClientTimeout {
        req: u64,
    },
    Scrape {
        pod: u32,
        generation: u64,
        job: ScrapeJob,
    },
    DcgmWindowStart {
        pod: u32,
        generation: u64,
    },
    DcgmCollect {
        pod: u32,
        generation: u64,
    },
    HpaSync,
    AdapterRelist,
    KedaPoll,
    KpaSecond,
    KpaTick {
        periodic: bool,
    },
    Tick,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Pending,
    Starting,
    Ready,
    Terminating,
    Gone,
}

struct Pod {
    phase: Phase,
    created_at: SimTime,
    ctl: PodControl,
    node: Option<u32>,
    bound_at: Option<SimTime>,
    ready_at: Option<SimTime>,
    server_up: bool,
    gone_at: Option<SimTime>,
    /// Bumped when the pod is deleted, so its pending lifecycle events go stale.
    generation: u64,
    replica: Replica,
    /// Counters of the engine at the last timeline tick, for per-interval rates.
    last_tokens: u64,
    last_busy_ns: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    InFlight,
    Completed,
    Failed(FailureReason),
}

#[derive(Clone, Debug)]
struct Req {
    arrival: SimTime,
    prompt_tokens: u32,
    output_tokens: u32,
    status: Status,
    pod: u32,
    dispatched: Stamp,
    first_scheduled: Stamp,
    first_token: Stamp,
    finished: Stamp,
    preemptions: u32,
    /// The closed-loop user that sent it, or `NO_USER`.
    user: u32,
}

const NO_POD: u32 = u32::MAX;
const NO_USER: u32 = u32::MAX;

struct World<'a> {
    spec: &'a RunSpec,
    seed: u64,
    observer: &'a mut dyn Observer,
    queue: EventQueue<Ev>,
    workload: Workload<'a>,
    next_request: Option<Request>,
    /// No request will arrive any more (for a closed loop: the population is exhausted or
    /// the horizon passed), so the run may end once the rest resolve.
    stream_done: bool,
    /// Closed loop: what became of each user's last request, and whether it has one in flight.
    users: Vec<(Option<Previous>, bool)>,
    horizon: Option<SimTime>,
    reqs: reqs::ReqTable,
    max_held: u64,
    last_arrival: Option<SimTime>,
    pods: Vec<Pod>,
    endpoints: Vec<u32>,
    /// The endpoints by the requests inside each engine, for least-outstanding routing.
    loads: LoadIndex,
    gateway: VecDeque<u64>,
    /// Requests in `gateway` still in flight (the deque also holds ones that timed out).
    gateway_waiting: usize,
    nodes: NodePool,
    pending_pods: VecDeque<u32>,
    router: Router,
    replica_events: Vec<ReplicaEvent>,
    // Counters.
    in_flight: u64,
    completed: u64,
    failed: u64,
    failures: [u64; FailureReason::ALL.len()],
    ttft: LatencyRecorder,
    tpot: LatencyRecorder,
    e2e: LatencyRecorder,
    queue_lat: LatencyRecorder,
    slo_met: u64,
    events_total: u64,
    // Gone pods' counters, so totals survive pod deletion.
    gone_tokens: u64,
    gone_prompt_tokens: u64,
    gone_preemptions: u64,
    gone_recomputed: u64,
    gone_steps: u64,
    gone_gaps: TokenGaps,
    // Time-weighted ready replicas and GPU time.
    ready_count: u32,
    ready_since: SimTime,
    ready_integral_ns: u128,
    ready_min: u32,
    ready_max: u32,
    // Timeline accumulators.
    timeline: Vec<TimelineRow>,
    tick_arrivals: u64,
    tick_completed: u64,
    tick_failed: u64,
    last_tick: SimTime,
    now: SimTime,
    end: Option<SimTime>,
    /// The most requests held at once so far.
    held_peak: u64,
    /// Set when an arrival passed `max_held`: the run ends after that event.
    stopped_at: Option<SimTime>,
    // Control plane.
    control: Control,
    /// The Deployment's `spec.replicas`.
    desired: u32,
    scale_events: u64,
    desired_since: SimTime,
    time_at_max_ns: u64,
    time_at_zero_ns: u64,
    desired_integral_ns: u128,
    desired_min: u32,
    desired_max: u32,
}

impl<'a> World<'a> {
    fn new(
        spec: &'a RunSpec,
        seed: u64,
        workload: Workload<'a>,
        observer: &'a mut dyn Observer,
    ) -> World<'a> {
        let streams = RngStreams::new(seed);
        let users = match &workload {
            Workload::Open(_) => Vec::new(),
            Workload::Closed(c) => vec![(None, false); c.users() as usize],
        };
        World {
            spec,
            seed,
            observer,
            queue: EventQueue::default(),
            workload,
            next_request: None,
            stream_done: false,
            users,
            horizon: spec.duration_s.map(SimTime::from_secs_f64),
            reqs: reqs::ReqTable::new(),
            max_held: MAX_REQUESTS_HELD,
            last_arrival: None,
            pods: Vec::new(),
            endpoints: Vec::new(),
            loads: LoadIndex::default(),
            gateway: VecDeque::new(),
            gateway_waiting: 0,
            nodes: NodePool::new(
                spec.cluster.gpus_per_node,
                spec.cluster.initial_nodes,
                spec.cluster.max_nodes,
            ),
            pending_pods: VecDeque::new(),
            router: Router::new(spec.routing.policy, streams.stream("routing")),
            replica_events: Vec::new(),
            in_flight: 0,
            completed: 0,
            failed: 0,
            failures: [0; FailureReason::ALL.len()],
            ttft: LatencyRecorder::new(),
            tpot: LatencyRecorder::new(),
            e2e: LatencyRecorder::new(),
            queue_lat: LatencyRecorder::new(),
            slo_met: 0,
            events_total: 0,
            gone_tokens: 0,
            gone_prompt_tokens: 0,
            gone_preemptions: 0,
            gone_recomputed: 0,
            gone_steps: 0,
            gone_gaps: TokenGaps::new(),
            ready_count: 0,
            ready_since: SimTime::ZERO,
            ready_integral_ns: 0,
            ready_min: u32::MAX,
            ready_max: 0,
            timeline: Vec::new(),
            tick_arrivals: 0,
            tick_completed: 0,
            tick_failed: 0,
            last_tick: SimTime::ZERO,
            now: SimTime::ZERO,
            end: None,
            held_peak: 0,
            stopped_at: None,
            control: Control::new(spec),
            desired: spec.pods.replicas,
            scale_events: 0,
            desired_since: SimTime::ZERO,
            time_at_max_ns: 0,
            time_at_zero_ns: 0,
            desired_integral_ns: 0,
            desired_min: spec.pods.replicas,
            desired_max: spec.pods.replicas,
        }
    }

    fn start(&mut self) -> Result<(), TraceError> {
        for _ in 0..self.spec.pods.replicas {
            let pod = self.create_pod();
            if self.spec.pods.initial_ready {
                let gpus = self.spec.tp;
                let node = self.nodes.bind(gpus);
                match node {
                    Some(node) => {
                        let p = &mut self.pods[pod as usize];
                        p.node = Some(node);
                        p.bound_at = Some(SimTime::ZERO);
                        p.server_up = true;
                        p.ctl.container_start = Some(SimTime::ZERO);
                        self.set_ready(pod);
                        self.start_scraping(pod);
                        self.warm_scrape(pod);
                    }
                    None => self.pending_pods.push_back(pod),
                }
            } else {
                self.pending_pods.push_back(pod);
            }
        }
        self.bind_pending();
        self.record_ready_change();
        self.schedule_control_loops();
        self.start_scraping_gateway();
        self.start_adapter();
        if let Workload::Closed(c) = &self.workload {
            // Pushed in user order, so users starting together send in that order.
            for user in 0..c.users() {
                self.queue.push(c.start_at(user), Ev::Send { user });
            }
        }
        self.pull_next_arrival()?;
        let tick = SimTime::ZERO + self.tick_interval();
        self.queue.push(tick, Ev::Tick);
        Ok(())
    }

    /// First HPA sync and KEDA poll, each at its own seeded phase within its period.
    fn schedule_control_loops(&mut self) {
        let streams = RngStreams::new(self.seed);
        let first = |fixed: Option<f64>, name: &str, period: SimDuration| match fixed {
            Some(s) => SimTime::from_secs_f64(s),
            None => {
                let mut rng = streams.stream(name);
                SimTime(rand::RngExt::random_range(
                    &mut rng,
                    0..period.as_nanos().max(1),
                ))
            }
        };
        match &self.spec.control.autoscaler {
            AutoscalerSpec::None => {}
            AutoscalerSpec::Kpa(_) => self.schedule_kpa(),
            AutoscalerSpec::Hpa(h) => {
                let t = first(h.first_sync_s, "hpa_phase", h.config.controller.sync_period);
                self.queue.push(t, Ev::HpaSync);
            }
            AutoscalerSpec::Keda(k) => {
                let t = first(k.first_poll_s, "keda_phase", k.config.polling_interval);
                self.queue.push(t, Ev::KedaPoll);
                let config = self.control.hpa_config.as_ref().expect("generated HPA");
                let t = first(k.first_sync_s, "hpa_phase", config.controller.sync_period);
                self.queue.push(t, Ev::HpaSync);
            }
        }
    }

    fn tick_interval(&self) -> SimDuration {
        SimDuration::from_secs_f64(self.spec.timeline_interval_s).max(SimDuration(1))
    }

    fn run_loop(&mut self) -> Result<(), RunError> {
        while let Some((t, ev)) = self.queue.pop() {
            assert!(t >= self.now, "time went backwards: {t} < {}", self.now);
            self.now = t;
            self.events_total += 1;
            if self.events_total.is_multiple_of(PROGRESS_EVERY_EVENTS) {
                self.report_progress();
            }
            if self.events_total.is_multiple_of(STOP_CHECK_EVERY_EVENTS) && self.observer.stopped()
            {
                return Err(RunError::Stopped);
            }
            match ev {
                Ev::Arrival => self.on_arrival()?,
                Ev::Send { user } => self.on_send(user)?,
                Ev::Step { pod, generation } => self.on_step(pod, generation),
                Ev::PodBound { pod } => self.on_pod_bound(pod),
                Ev::PodServerUp { pod, generation } => {
                    if self.pods[pod as usize].generation == generation {
                        self.pods[pod as usize].server_up = true;
                    }
                }
                Ev::PodReady { pod, generation } => {
                    if self.pods[pod as usize].generation == generation {
                        self.set_ready(pod);
                        self.record_ready_change();
                        self.drain_gateway();
                    }
                }
                Ev::PodTerminateDeadline { pod, generation } => {
                    self.on_terminate_deadline(pod, generation)
                }
                Ev::NodeReady { node } => {
                    self.nodes.node_ready(node);
                    self.bind_pending();
                }
                Ev::GatewayTimeout { req } => {
                    if self
                        .reqs
                        .get(req)
                        .is_some_and(|r| r.status == Status::InFlight && r.pod == NO_POD)
                    {
                        self.gateway_waiting -= 1;
                        self.fail(req, FailureReason::GatewayTimeout);
                        // Timeouts come in queue order: drop what has left, so the queue
                        // holds only what waits.
                        while self
                            .gateway
                            .front()
                            .is_some_and(|&id| !self.reqs.in_flight(id))
                        {
                            self.gateway.pop_front();
                        }
                    }
                }
                Ev::ClientTimeout { req } => self.on_client_timeout(req),
                Ev::Scrape {
                    pod,
                    generation,
                    job,
                } => self.on_scrape(pod, generation, job),
                Ev::DcgmWindowStart { pod, generation } => {
                    self.on_dcgm_window_start(pod, generation)
                }
                Ev::DcgmCollect { pod, generation } => self.on_dcgm_collect(pod, generation),
                Ev::HpaSync => self.on_hpa_sync(),
                Ev::AdapterRelist => self.on_adapter_relist(),
                Ev::KedaPoll => self.on_keda_poll(),
                Ev::KpaSecond => self.on_kpa_second(),
                Ev::KpaTick { periodic } => self.on_kpa_tick(periodic),
                Ev::Tick => {
                    if self.on_tick() {
                        break;
                    }
                }
            }
            if self.stopped_at.is_some() {
                // The last row covers the stop; one at the same instant (a tick just before
                // the arrival) takes the interval's counts instead of a second row.
                let now_s = self.now.as_secs_f64();
                match self.timeline.last_mut() {
                    Some(row) if row.t_s == now_s => {
                        row.arrivals += std::mem::take(&mut self.tick_arrivals);
                        row.completed += std::mem::take(&mut self.tick_completed);
                        row.failed += std::mem::take(&mut self.tick_failed);
                    }
                    _ => self.push_timeline_row(self.now),
                }
                self.end = Some(self.now);
                break;
            }
        }
        Ok(())
    }

    // ---- Requests -------------------------------------------------------------------------

    fn pull_next_arrival(&mut self) -> Result<(), TraceError> {
        let Workload::Open(stream) = &mut self.workload else {
            return Ok(());
        };
        if self.stream_done {
            return Ok(());
        }
        if self.reqs.arrived() >= MAX_REQUESTS_PER_RUN {
            return Err(TraceError::Invalid(format!(
                "the workload has more than {MAX_REQUESTS_PER_RUN} requests, the most one run simulates; \
                 use a window (workload.window_duration_s) or a lower rate_scale"
            )));
        }
        match stream.next() {
            // `sim-scenario` checks traces before a run; this keeps any other caller bounded.
            Some(Ok(req))
                if self.horizon.is_none() && req.arrival > SimTime::from_secs(MAX_HORIZON_S) =>
            {
                return Err(TraceError::Invalid(format!(
                    "request {} arrives at {:.3} s, past the {MAX_HORIZON_S}-second limit on a run's horizon",
                    req.id,
                    req.arrival.as_secs_f64()
                )));
            }
            Some(Ok(req)) if self.horizon.is_none_or(|h| req.arrival <= h) => {
                assert!(req.arrival >= self.now, "workload arrivals out of order");
                self.queue.push(req.arrival, Ev::Arrival);
                self.next_request = Some(req);
            }
            Some(Err(e)) => return Err(e),
            _ => {
                self.stream_done = true;
                self.next_request = None;
            }
        }
        Ok(())
    }

    fn on_arrival(&mut self) -> Result<(), TraceError> {
        let r = self.next_request.take().expect("arrival without request");
        self.admit(r.prompt_tokens, r.output_tokens, NO_USER);
        self.pull_next_arrival()
    }

    /// A closed-loop user's turn to send: its next request arrives now, unless the
    /// population is exhausted or the horizon has passed.
    fn on_send(&mut self, user: u32) -> Result<(), TraceError> {
        let Workload::Closed(clients) = &mut self.workload else {
            unreachable!("a send without clients");
        };
        if self.stream_done || self.horizon.is_some_and(|h| self.now > h) {
            self.stream_done = true;
            return Ok(());
        }
        if self.horizon.is_none() && self.now > SimTime::from_secs(MAX_HORIZON_S) {
            return Err(TraceError::Invalid(format!(
                "a closed-loop user sends at {:.3} s, past the {MAX_HORIZON_S}-second limit on a run's horizon; \
                 set run.duration_s or workload.max_requests",
                self.now.as_secs_f64()
            )));
        }
        if self.reqs.arrived() >= MAX_REQUESTS_PER_RUN {
            return Err(TraceError::Invalid(format!(
                "the closed loop sent more than {MAX_REQUESTS_PER_RUN} requests, the most one run simulates; \
                 set workload.max_requests or a shorter run.duration_s"
            )));
        }
        let (previous, busy) = self.users[user as usize];
        assert!(
            !busy,
            "a closed-loop user sent while its request was in flight"
        );
        let next = clients.next_request(user, previous.as_ref())?;
        if clients.is_exhausted() {
            self.stream_done = true;
        }
        if let Some(n) = next {
            self.users[user as usize].1 = true;
            self.admit(n.prompt_tokens, n.output_tokens, user);
        }
        Ok(())
    }

    /// A closed-loop user's request resolved: it sends its next one after a think time (or
    /// the retry delay after a failure).
    fn user_resolved(&mut self, user: u32, previous: Previous) {
        let Workload::Closed(clients) = &mut self.workload else {
            unreachable!("a user's request without clients");
        };
        let slot = &mut self.users[user as usize];
        debug_assert!(slot.1, "a user's request resolved twice");
        *slot = (Some(previous), false);
        if self.stream_done {
            return;
        }
        let wait = clients.wait_after(user, previous.completed);
        self.queue.push(self.now + wait, Ev::Send { user });
    }

    /// A request arrives now: it enters the table and goes to the router.
    fn admit(&mut self, prompt_tokens: u32, output_tokens: u32, user: u32) {
        self.last_arrival = Some(self.now);
        let id = self.reqs.push(Req {
            arrival: self.now,
            prompt_tokens,
            output_tokens,
            status: Status::InFlight,
            pod: NO_POD,
            dispatched: Stamp::NONE,
            first_scheduled: Stamp::NONE,
            first_token: Stamp::NONE,
            finished: Stamp::NONE,
            preemptions: 0,
            user,
        });
        let held = self.reqs.held();
        self.held_peak = self.held_peak.max(held);
        if held > self.max_held {
            // The deployment cannot keep up: stop here rather than grow without bound. The
            // request counts as arrived and unfinished, like every other one held.
            self.stopped_at = Some(self.now);
        }
        self.kpa_note_inflight(true);
        self.in_flight += 1;
        self.tick_arrivals += 1;
        if let Some(timeout_s) = self.spec.routing.client_timeout_s {
            self.queue.push(
                self.now + SimDuration::from_secs_f64(timeout_s),
                Ev::ClientTimeout { req: id },
            );
        }
        self.route(id);
    }

    /// Sends a request to a Ready replica, or applies the no-endpoint behaviour.
    fn route(&mut self, id: u64) {
        let picked = self.router.pick(&self.endpoints, &self.loads);
        debug_assert!(
            self.endpoints.iter().all(|&p| {
                self.loads.load_of(p) == Some(self.pods[p as usize].replica.outstanding())
            }),
            "the load index is out of date"
        );
        match picked {
            Some(pod) => self.dispatch(id, pod),
            None => match self.spec.routing.no_endpoint {
                NoEndpoint::Fail => self.fail(id, FailureReason::NoEndpoint),
                NoEndpoint::Queue { timeout_s } => {
                    self.gateway.push_back(id);
                    self.gateway_waiting += 1;
                    self.kpa_request_buffered();
                    self.queue.push(
                        self.now + SimDuration::from_secs_f64(timeout_s),
                        Ev::GatewayTimeout { req: id },
                    );
                }
            },
        }
    }

    fn dispatch(&mut self, id: u64, pod: u32) {
        let p = &self.pods[pod as usize];
        assert_eq!(p.phase, Phase::Ready, "only Ready pods serve");
        let server_up = p.server_up;
        let r = self.reqs.live(id);
        r.pod = pod;
        let total = u64::from(r.prompt_tokens) + u64::from(r.output_tokens);
        if !server_up {
            self.fail(id, FailureReason::NotServing);
            return;
        }
        if total > u64::from(self.spec.engine.max_model_len) {
            self.fail(id, FailureReason::ContextLength);
            return;
        }
        r.dispatched = Stamp::at(self.now);
        let rr = ReplicaRequest {
            id,
            prompt_tokens: r.prompt_tokens,
            output_tokens: r.output_tokens,
        };
        let wake = self.pods[pod as usize].replica.enqueue(
            rr,
            self.now,
            &self.spec.perf,
            &mut self.replica_events,
        );
        self.after_replica_call(pod, wake);
    }

    fn on_step(&mut self, pod: u32, generation: u64) {
        let p = &mut self.pods[pod as usize];
        if p.phase == Phase::Gone {
            return;
        }
        let wake = p.replica.on_step_end(
            self.now,
            generation,
            &self.spec.perf,
            &mut self.replica_events,
        );
        self.after_replica_call(pod, wake);
        if self.pods[pod as usize].phase == Phase::Terminating
            && self.pods[pod as usize].replica.is_empty()
        {
            self.pod_gone(pod);
        }
    }

    fn after_replica_call(&mut self, pod: u32, wake: Option<Wake>) {
        self.loads
            .update(pod, self.pods[pod as usize].replica.outstanding());
        if let Some(w) = wake {
            self.queue.push(
                w.at,
                Ev::Step {
                    pod,
                    generation: w.generation,
                },
            );
        }
        let mut events = std::mem::take(&mut self.replica_events);
        for ev in events.drain(..) {
            match ev {
                ReplicaEvent::Scheduled { id, at } => {
                    let r = self.reqs.live(id);
                    if r.first_scheduled.get().is_none() {
                        r.first_scheduled = Stamp::at(at);
                    }
                }
                ReplicaEvent::FirstToken { id, at } => {
                    let r = self.reqs.live(id);
                    if r.first_token.get().is_none() {
                        r.first_token = Stamp::at(at);
                        let ttft_s = (at - r.arrival).as_secs_f64();
                        self.pods[pod as usize].ctl.hist.ttft.observe(ttft_s);
                    }
                }
                ReplicaEvent::Finished {
                    id,
                    at,
                    preemptions,
                } => {
                    if self.reqs.in_flight(id) {
                        self.reqs.live(id).preemptions = preemptions;
                        self.complete(id, at);
                    }
                }
            }
        }
        self.replica_events = events;
    }

    fn complete(&mut self, id: u64, at: SimTime) {
        let slo = &self.spec.slo;
        let r = self.reqs.live(id);
        r.status = Status::Completed;
        r.finished = Stamp::at(at);
        let first_token = r.first_token.get().expect("finished without a first token");
        let ttft = first_token - r.arrival;
        let e2e = at - r.arrival;
        let first_scheduled = r
            .first_scheduled
            .get()
            .expect("finished without being scheduled");
        let queue = first_scheduled - r.arrival;
        let hist = &mut self.pods[r.pod as usize].ctl.hist;
        hist.e2e.observe(e2e.as_secs_f64());
        hist.queue.observe(
            first_scheduled
                .saturating_since(r.dispatched.get().unwrap_or(r.arrival))
                .as_secs_f64(),
        );
        if let Some(t) = tpot_s(r) {
            hist.tpot.observe(t);
        }
        hist.finished += 1;
        self.ttft.record_ns(ttft.as_nanos());
        self.e2e.record_ns(e2e.as_nanos());
        self.queue_lat.record_ns(queue.as_nanos());
        let tpot_s = tpot_s(r);
        if let Some(t) = tpot_s {
            self.tpot
                .record_ns(SimDuration::from_secs_f64(t).as_nanos());
        }
        let met = slo.ttft_s.is_none_or(|m| ttft.as_secs_f64() <= m)
            && slo.tpot_s.is_none_or(|m| tpot_s.unwrap_or(0.0) <= m)
            && slo.e2e_s.is_none_or(|m| e2e.as_secs_f64() <= m);
        if met {
            self.slo_met += 1;
        }
        let (user, prompt_tokens, output_tokens) = (r.user, r.prompt_tokens, r.output_tokens);
        self.kpa_note_inflight(false);
        self.in_flight -= 1;
        self.completed += 1;
        self.tick_completed += 1;
        self.retire();
        if user != NO_USER {
            let previous = Previous {
                prompt_tokens,
                output_tokens,
                completed: true,
            };
            self.user_resolved(user, previous);
        }
    }

    fn fail(&mut self, id: u64, reason: FailureReason) {
        let r = self.reqs.live(id);
        assert_eq!(r.status, Status::InFlight, "request resolved twice");
        r.status = Status::Failed(reason);
        r.finished = Stamp::at(self.now);
        let (user, prompt_tokens, output_tokens) = (r.user, r.prompt_tokens, r.output_tokens);
        self.kpa_note_inflight(false);
        self.in_flight -= 1;
        self.failed += 1;
        self.tick_failed += 1;
        self.retire();
        let idx = FailureReason::ALL
            .iter()
            .position(|&f| f == reason)
            .expect("known reason");
        self.failures[idx] += 1;
        if user != NO_USER {
            let previous = Previous {
                prompt_tokens,
                output_tokens,
                completed: false,
            };
            self.user_resolved(user, previous);
        }
    }

    fn on_client_timeout(&mut self, id: u64) {
        let Some(r) = self.reqs.get(id) else { return };
        if r.status != Status::InFlight {
            return;
        }
        let pod = r.pod;
        if pod == NO_POD {
            // In flight without a pod: waiting at the gateway (`route` resolves every other
            // request it cannot place at once).
            self.gateway_waiting -= 1;
        }
        self.fail(id, FailureReason::ClientTimeout);
        if pod != NO_POD {
            let wake = self.pods[pod as usize].replica.abort(id, self.now);
            self.after_replica_call(pod, wake);
        }
    }

    /// Requests waiting at the gateway. Counted as they come and go: the deque also holds
    /// ones that timed out since, and scanning it at each scrape made a pile-up quadratic.
    fn gateway_queue_len(&self) -> usize {
        debug_assert_eq!(
            self.gateway_waiting,
            self.gateway
                .iter()
                .filter(|&&id| self.reqs.in_flight(id))
                .count()
        );
        self.gateway_waiting
    }

    fn drain_gateway(&mut self) {
        while !self.endpoints.is_empty() {
            let Some(id) = self.gateway.pop_front() else {
                break;
            };
            if self.reqs.in_flight(id) {
                self.gateway_waiting -= 1;
                self.route(id);
            }
        }
    }

    // ---- Pods and nodes -------------------------------------------------------------------

    fn create_pod(&mut self) -> u32 {
        let replica = Replica::new(self.spec.engine.clone());
        let index = self.pods.len() as u32;
        let names = &self.spec.names;
        self.pods.push(Pod {
            phase: Phase::Pending,
            created_at: self.now,
            ctl: PodControl::new(&names.namespace, &names.deployment, index),
            node: None,
            bound_at: None,
            ready_at: None,
            server_up: false,
            gone_at: None,
            generation: 0,
            replica,
            last_tokens: 0,
            last_busy_ns: 0,
        });
        self.pods.len() as u32 - 1
    }

    /// Binds pending pods in FIFO order; asks for nodes for those that do not fit.
    fn bind_pending(&mut self) {
        let gpus = self.spec.tp;
        let mut still_pending = VecDeque::new();
        while let Some(pod) = self.pending_pods.pop_front() {
            if self.pods[pod as usize].phase != Phase::Pending {
                continue;
            }
            match self.nodes.bind(gpus) {
                Some(node) => {
                    let p = &mut self.pods[pod as usize];
                    p.node = Some(node);
                    p.bound_at = Some(self.now);
                    p.phase = Phase::Starting;
                    self.queue.push(self.now, Ev::PodBound { pod });
                }
                None => still_pending.push_back(pod),
            }
        }
        if !still_pending.is_empty() {
            // Like the cluster autoscaler, ask for as many nodes as the pending pods need.
            let pending_gpus = still_pending.len() as u32 * gpus;
            let before = self.nodes.node_count();
            while let Some(node) = self.nodes.provision_for(gpus, pending_gpus) {
                let mut rng =
                    RngStreams::new(self.seed).stream_indexed("node_provision", u64::from(node));
                let delay = self.spec.cluster.node_provision.sample(&mut rng);
                self.queue.push(self.now + delay, Ev::NodeReady { node });
            }
            let after = self.nodes.node_count();
            if after > before {
                let max = self.spec.cluster.max_nodes;
                let msg =
                    format!("pod triggered scale-up: [gpu-pool {before}->{after} (max: {max})]");
                self.event("Normal", "TriggeredScaleUp", "cluster-autoscaler", &msg);
            }
        }
        self.pending_pods = still_pending;
    }

    fn on_pod_bound(&mut self, pod: u32) {
        let p = &self.pods[pod as usize];
        if p.phase != Phase::Starting {
            return;
        }
        let generation = p.generation;
        // One stream per pod: pod k draws the same cold start at every sweep point.
        let mut rng = RngStreams::new(self.seed).stream_indexed("cold_start", u64::from(pod));
        let times: StartupTimes = self
            .spec
            .pods
            .startup
            .sample(&self.spec.pods.readiness, &mut rng);
        self.pods[pod as usize].ctl.container_start = Some(self.now + times.container_start);
        let name = self.pods[pod as usize].ctl.name.clone();
        let node = self.pods[pod as usize].node.unwrap_or(0);
        let ns = &self.spec.names.namespace;
        self.event(
            "Normal",
            "Scheduled",
            &format!("pod/{name}"),
            &format!("Successfully assigned {ns}/{name} to gpu-node-{node}"),
        );
        self.start_scraping(pod);
        self.queue.push(
            self.now + times.server_up,
            Ev::PodServerUp { pod, generation },
        );
        self.queue
            .push(self.now + times.ready, Ev::PodReady { pod, generation });
    }

    fn set_ready(&mut self, pod: u32) {
        let p = &mut self.pods[pod as usize];
        p.phase = Phase::Ready;
        p.ready_at = Some(self.now);
        let pos = self.endpoints.partition_point(|&e| e < pod);
        self.endpoints.insert(pos, pod);
        self.loads.set(pod, p.replica.outstanding());
    }

    /// Deletes `pod`: it leaves the endpoints at once and drains for the grace period.
    fn delete_pod(&mut self, pod: u32) {
        if matches!(
            self.pods[pod as usize].phase,
            Phase::Starting | Phase::Ready
        ) {
            self.stop_scraping(pod);
            let name = self.pods[pod as usize].ctl.name.clone();
            self.event(
                "Normal",
                "Killing",
                &format!("pod/{name}"),
                "Stopping container vllm",
            );
        }
        let p = &mut self.pods[pod as usize];
        p.generation += 1;
        match p.phase {
            Phase::Pending => {
                p.phase = Phase::Gone;
                p.gone_at = Some(self.now);
            }
            Phase::Starting => self.pod_gone(pod),
            Phase::Ready => {
                self.endpoints.retain(|&e| e != pod);
                self.loads.remove(pod);
                self.record_ready_change();
                let p = &mut self.pods[pod as usize];
                p.phase = Phase::Terminating;
                if p.replica.is_empty() {
                    self.pod_gone(pod);
                } else {
                    let generation = p.generation;
                    let deadline =
                        self.now + SimDuration::from_secs_f64(self.spec.pods.termination_grace_s);
                    self.queue
                        .push(deadline, Ev::PodTerminateDeadline { pod, generation });
                }
            }
            Phase::Terminating | Phase::Gone => {}
        }
    }

    fn on_terminate_deadline(&mut self, pod: u32, generation: u64) {
        let p = &self.pods[pod as usize];
        if p.generation != generation || p.phase != Phase::Terminating {
            return;
        }
        self.pod_gone(pod);
    }

    fn pod_gone(&mut self, pod: u32) {
        let now = self.now;
        self.loads.remove(pod);
        let p = &mut self.pods[pod as usize];
        let leftover = p.replica.evict_all(now);
        let g_after = p.replica.gauges_at(now);
        self.gone_tokens += g_after.generation_tokens_total;
        self.gone_prompt_tokens += g_after.prompt_tokens_total;
        self.gone_preemptions += g_after.preemptions_total;
        self.gone_recomputed += g_after.recomputed_tokens_total;
        self.gone_steps += g_after.steps_total;
        self.gone_gaps.merge(&p.replica.token_gaps_at(now));
        p.phase = Phase::Gone;
        p.gone_at = Some(now);
        p.generation += 1;
        if let Some(node) = p.node {
            self.nodes.release(node, self.spec.tp);
        }
        for id in leftover {
            if self.reqs.in_flight(id) {
                self.fail(id, FailureReason::PodTerminated);
            }
        }
        self.bind_pending();
    }

    /// The most replicas the autoscaler may ask for (the fixed count without one).
    fn max_replicas(&self) -> u32 {
        match &self.spec.control.autoscaler {
            AutoscalerSpec::None => self.spec.pods.replicas,
            AutoscalerSpec::Hpa(h) => h.config.max_replicas.max(0) as u32,
            AutoscalerSpec::Keda(k) => k.config.hpa_max_replicas().max(0) as u32,
            AutoscalerSpec::Kpa(k) => k.config.max_scale,
        }
    }

    /// Closes the interval during which `desired` held its current value.
    fn record_desired_change(&mut self) {
        let dt = self.now.saturating_since(self.desired_since).as_nanos();
        self.desired_integral_ns += u128::from(self.desired) * u128::from(dt);
        if self.desired >= self.max_replicas() {
            self.time_at_max_ns += dt;
        }
        if self.desired == 0 {
            self.time_at_zero_ns += dt;
        }
        self.desired_since = self.now;
        self.desired_min = self.desired_min.min(self.desired);
        self.desired_max = self.desired_max.max(self.desired);
    }

    fn record_ready_change(&mut self) {
        let now = self.now;
        self.ready_integral_ns += u128::from(self.ready_count)
            * u128::from(now.saturating_since(self.ready_since).as_nanos());
        self.ready_since = now;
        self.ready_count = self.endpoints.len() as u32;
        self.ready_min = self.ready_min.min(self.ready_count);
        self.ready_max = self.ready_max.max(self.ready_count);
    }

    // ---- Timeline and the end of the run --------------------------------------------------

    /// Records a timeline row; returns true when the run is over.
    fn on_tick(&mut self) -> bool {
        let now = self.now;
        if matches!(self.workload, Workload::Closed(_)) && self.horizon.is_some_and(|h| now > h) {
            // No user sends after the horizon.
            self.stream_done = true;
        }
        let done = self.stream_done && self.in_flight == 0;
        // A closed loop that sent its last request (`max_requests`, the end of a replayed
        // file) ends when that resolves, as `vllm bench serve --num-prompts` does.
        let exhausted = matches!(&self.workload, Workload::Closed(c) if c.is_exhausted());
        let past_horizon = exhausted || self.horizon.is_none_or(|h| now >= h);
        let drain_limit = self
            .horizon
            .or(self.last_arrival)
            .map(|h| h + SimDuration::from_secs_f64(self.spec.drain_limit_s));
        let out_of_time = self.stream_done && drain_limit.is_some_and(|d| now >= d);
        self.push_timeline_row(now);
        self.check_conservation();
        if (done && past_horizon) || out_of_time {
            self.end = Some(now);
            return true;
        }
        let mut next = now + self.tick_interval();
        if let Some(h) = self.horizon
            && now < h
            && next > h
        {
            next = h;
        }
        self.queue.push(next, Ev::Tick);
        false
    }

    fn push_timeline_row(&mut self, now: SimTime) {
        let dt_s = now.saturating_since(self.last_tick).as_secs_f64();
        let dt_ns = now.saturating_since(self.last_tick).as_nanos();
        let mut row = TimelineRow {
            t_s: now.as_secs_f64(),
            arrivals: std::mem::take(&mut self.tick_arrivals),
            completed: std::mem::take(&mut self.tick_completed),
            failed: std::mem::take(&mut self.tick_failed),
            gateway_queue: self.gateway_queue_len() as u32,
            ..TimelineRow::default()
        };
        let mut tokens = 0u64;
        let mut kv_sum = 0.0;
        let mut busy_sum = 0.0;
        for p in &mut self.pods {
            match p.phase {
                Phase::Pending => row.pending_replicas += 1,
                Phase::Starting => row.starting_replicas += 1,
                Phase::Ready | Phase::Terminating => {
                    let g = p.replica.gauges_at(now);
                    row.running += g.running;
                    row.waiting += g.waiting;
                    tokens += g.generation_tokens_total - p.last_tokens;
                    let busy = g.busy_ns_total - p.last_busy_ns;
                    p.last_tokens = g.generation_tokens_total;
                    p.last_busy_ns = g.busy_ns_total;
                    if p.phase == Phase::Ready {
                        row.ready_replicas += 1;
                        kv_sum += g.kv_usage;
                        if dt_ns > 0 {
                            busy_sum += busy as f64 / dt_ns as f64;
                        }
                    } else {
                        row.terminating_replicas += 1;
                    }
                }
                Phase::Gone => {}
            }
        }
        if row.ready_replicas > 0 {
            row.kv_usage_mean = kv_sum / f64::from(row.ready_replicas);
            row.gpu_busy_mean = busy_sum / f64::from(row.ready_replicas);
        }
        row.desired_replicas = self.desired;
        row.inputs = self.control.inputs.clone();
        row.tokens_per_s = if dt_s > 0.0 {
            tokens as f64 / dt_s
        } else {
            0.0
        };
        self.last_tick = now;
        self.timeline.push(row);
    }

    fn check_conservation(&self) {
        let arrived = self.reqs.arrived();
        assert_eq!(
            arrived,
            self.completed + self.failed + self.in_flight,
            "requests not conserved"
        );
    }

    fn finish(mut self) -> RunReport {
        let end = self.end.unwrap_or(self.now);
        self.now = end;
        self.record_ready_change();
        self.record_desired_change();
        self.check_conservation();
        let spec = self.spec;
        let mut gpu_ns: u128 = 0;
        let (mut tokens, mut prompt, mut preempt, mut recomputed, mut steps) = (
            self.gone_tokens,
            self.gone_prompt_tokens,
            self.gone_preemptions,
            self.gone_recomputed,
            self.gone_steps,
        );
        let mut gaps = std::mem::take(&mut self.gone_gaps);
        for p in &self.pods {
            if let Some(bound) = p.bound_at {
                let until = p.gone_at.unwrap_or(end).min(end);
                gpu_ns +=
                    u128::from(until.saturating_since(bound).as_nanos()) * u128::from(spec.tp);
            }
            if p.phase != Phase::Gone {
                let g = p.replica.gauges_at(end);
                tokens += g.generation_tokens_total;
                prompt += g.prompt_tokens_total;
                preempt += g.preemptions_total;
                recomputed += g.recomputed_tokens_total;
                steps += g.steps_total;
                gaps.merge(&p.replica.token_gaps_at(end));
            }
        }
        let gpu_hours = gpu_ns as f64 / 3.6e12;
        let total = self.reqs.arrived();
        let share = |n: u64| {
            if total == 0 {
                0.0
            } else {
                n as f64 / total as f64
            }
        };
        let unserved = self.failed + self.in_flight;
        let mut summary = Summary {
            seed: self.seed,
            requests_total: total,
            requests_completed: self.completed,
            requests_failed: self.failed,
            requests_in_flight_at_end: self.in_flight,
            requests_held_peak: self.held_peak,
            stopped_at_s: self.stopped_at.map(SimTime::as_secs_f64),
            failures: FailureReason::ALL
                .iter()
                .copied()
                .zip(self.failures)
                .collect(),
            failed_ratio: share(unserved),
            ttft_s: self.ttft.quantiles(unserved),
            tpot_s: self.tpot.quantiles(unserved),
            e2e_s: self.e2e.quantiles(unserved),
            queue_s: self.queue_lat.quantiles(unserved),
            completed_ttft_s: self.ttft.percentiles(),
            completed_tpot_s: self.tpot.percentiles(),
            completed_e2e_s: self.e2e.percentiles(),
            completed_queue_s: self.queue_lat.percentiles(),
            itl_s: {
                let g = gaps.stats();
                Percentiles {
                    mean: g.mean_s,
                    p50: g.p50_s,
                    p90: g.p90_s,
                    p99: g.p99_s,
                    count: g.count,
                }
            },
            slo_attainment: share(self.slo_met),
            slo_checks: Vec::new(),
            gpu_hours,
            cost_usd: gpu_hours * spec.usd_per_gpu_hour,
            replicas: CountStats {
                min: if self.ready_min == u32::MAX {
                    0
                } else {
                    self.ready_min
                },
                max: self.ready_max,
                mean: if end.as_nanos() == 0 {
                    f64::from(self.ready_count)
                } else {
                    self.ready_integral_ns as f64 / end.as_nanos() as f64
                },
            },
            desired_replicas: CountStats {
                min: self.desired_min,
                max: self.desired_max,
                mean: if end.as_nanos() == 0 {
                    f64::from(self.desired)
                } else {
                    self.desired_integral_ns as f64 / end.as_nanos() as f64
                },
            },
            scale_events: self.scale_events,
            scale_events_per_hour: if end.as_nanos() == 0 {
                0.0
            } else {
                self.scale_events as f64 * 3600.0 / end.as_secs_f64()
            },
            time_at_max_s: self.time_at_max_ns as f64 / 1e9,
            time_at_zero_s: self.time_at_zero_ns as f64 / 1e9,
            autoscaler_conditions: self.autoscaler_conditions(),
            sim_duration_s: end.as_secs_f64(),
            prompt_tokens_total: prompt,
            generation_tokens_total: tokens,
            preemptions_total: preempt,
            recomputed_tokens_total: recomputed,
            engine_steps_total: steps,
            events_total: self.events_total,
            warnings: self.control.warnings.len() as u64,
        };
        let recorders = [&self.ttft, &self.tpot, &self.e2e, &self.queue_lat];
        summary.slo_checks = slo_checks(&spec.slo, &summary, recorders, self.max_held);
        let observer = &mut *self.observer;
        self.reqs
            .drain(|id, r| observer.request(&request_record(&spec.slo, id, r)));
        self.report_progress();
        RunReport {
            summary,
            timeline: self.timeline,
            input_names: self.control.input_names,
            events: self.control.events,
            warnings: self.control.warnings,
        }
    }

    /// Hands the resolved requests at the front of the table to the observer, then drops them.
    fn retire(&mut self) {
        let (slo, observer) = (&self.spec.slo, &mut *self.observer);
        self.reqs
            .retire(|id, r| observer.request(&request_record(slo, id, r)));
    }

    fn report_progress(&mut self) {
        self.observer.progress(&Progress {
            sim_time_s: self.now.as_secs_f64(),
            requests_arrived: self.reqs.arrived(),
            requests_resolved: self.completed + self.failed,
            events: self.events_total,
        });
    }
}

/// What became of request `id`, as the observer sees it.
fn request_record(slo: &SloSpec, id: u64, r: &Req) -> RequestRecord {
    let completed = r.status == Status::Completed;
    let secs = |t: Option<SimTime>| t.map(|t| t.saturating_since(r.arrival).as_secs_f64());
    let ttft_s = if completed {
        secs(r.first_token.get())
    } else {
        None
    };
    let e2e_s = if completed {
        secs(r.finished.get())
    } else {
        None
    };
    let tpot = if completed { tpot_s(r) } else { None };
    let slo_met = completed
        && slo.ttft_s.is_none_or(|m| ttft_s.unwrap_or(f64::MAX) <= m)
        && slo.tpot_s.is_none_or(|m| tpot.unwrap_or(0.0) <= m)
        && slo.e2e_s.is_none_or(|m| e2e_s.unwrap_or(f64::MAX) <= m);
    RequestRecord {
        id,
        arrival_s: r.arrival.as_secs_f64(),
        prompt_tokens: r.prompt_tokens,
        output_tokens: r.output_tokens,
        pod: (r.pod != NO_POD).then_some(r.pod),
        outcome: match r.status {
            Status::Completed => Outcome::Completed,
            Status::Failed(f) => Outcome::Failed(f),
            Status::InFlight => Outcome::Unfinished,
        },
        ttft_s,
        tpot_s: tpot,
        e2e_s,
        queue_s: if completed {
            secs(r.first_scheduled.get())
        } else {
            None
        },
        preemptions: r.preemptions,
        slo_met,
    }
}

/// The SLO's checks on a finished run. Percentile objectives count unserved requests as
/// infinite; every SLO also carries its failure budget and needs one completed request.
/// `recorders` are in [`LatencyMetric::ALL`] order.
fn slo_checks(
    slo: &SloSpec,
    s: &Summary,
    recorders: [&LatencyRecorder; 4],
    max_held: u64,
) -> Vec<SloCheckResult> {
    let unserved = s.requests_failed + s.requests_in_flight_at_end;
    let mut out = Vec::new();
    for c in &slo.percentile_checks {
        let i = LatencyMetric::ALL
            .iter()
            .position(|m| *m == c.metric)
            .expect("every metric is in ALL");
        let actual = recorders[i].quantile_with_unserved_s(c.percentile / 100.0, unserved);
        out.push(SloCheckResult::new(
            format!("{}_p{}", c.metric.name(), fmt_pct(c.percentile)),
            c.max_s,
            false,
            actual,
        ));
    }
    if let Some(min) = slo.min_attainment {
        out.push(SloCheckResult::new(
            "slo_attainment",
            min,
            true,
            s.slo_attainment,
        ));
    }
    out.push(SloCheckResult::new(
        "failed_ratio",
        slo.max_failed_ratio,
        false,
        s.failed_ratio,
    ));
    out.push(SloCheckResult::new(
        "requests_completed",
        1.0,
        true,
        s.requests_completed as f64,
    ));
    out.push(SloCheckResult::new(
        HELD_CHECK,
        max_held as f64,
        false,
        s.requests_held_peak as f64,
    ));
    out
}

/// Mean time per output token after the first; `None` for single-token outputs.
fn tpot_s(r: &Req) -> Option<f64> {
    let (first, last) = (r.first_token.get()?, r.finished.get()?);
    if r.output_tokens <= 1 {
        return None;
    }
    Some((last - first).as_secs_f64() / f64::from(r.output_tokens - 1))
}

fn fmt_pct(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("{}", p as u64)
    } else {
        format!("{p}").replace('.', "_")
    }
}
