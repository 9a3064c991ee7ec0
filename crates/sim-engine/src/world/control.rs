//! The control plane in the loop: Prometheus scrapes of the pods and the DCGM exporter, the
//! HPA sync loop, KEDA's polling loop and the HPA it generates, and the Deployment /
//! ReplicaSet that turns a replica count into pods.

use sim_cluster::vllm_metrics::{self, FamilyFilter, RequestHistograms};
use sim_des::{SimDuration, SimTime};
use sim_metrics::{Exposition, Labels, QueryOpts, Store, Value};
use sim_policy::ConditionStatus;
use sim_policy::hpa::{
    self, HpaConfig, HpaDecision, HpaInput, HpaState, MetricObservation, MetricSpec, PodInfo,
    PodPhase, PodReady, PodSample,
};
use sim_policy::keda::{self, KedaState, TargetState, TickAction};

use super::{Ev, Phase, World};
use crate::spec::{AutoscalerSpec, MetricSource, ScrapeJob};

/// How long Prometheus keeps samples: the longest range any autoscaling query uses is far
/// shorter, and a bound keeps memory flat in long runs.
const RETENTION: SimDuration = SimDuration::from_secs(3600);

/// The control plane's own state.
pub(super) struct Control {
    pub(super) store: Store,
    opts: QueryOpts,
    pub(super) filter: FamilyFilter,
    pub(super) scrape_vllm: bool,
    pub(super) scrape_dcgm: bool,
    pub(super) scrape_gateway: bool,
    pub(super) hpa_state: HpaState,
    /// The HPA KEDA generates (or the user's HPA).
    pub(super) hpa_config: Option<HpaConfig>,
    pub(super) keda_state: Option<KedaState>,
    /// What the autoscaler last saw, one value per timeline input (NaN = unknown).
    pub(super) inputs: Vec<f64>,
    /// Names of those inputs.
    pub(super) input_names: Vec<String>,
    /// The last warning text per source, so repeated identical warnings log once.
    last_warning: Option<String>,
    /// kubectl-style event lines.
    pub(super) events: Vec<String>,
    /// Warnings by (reason, object, message), in the order first seen.
    pub(super) warnings: Vec<crate::RunWarning>,
    /// Knative's autoscaler, when it is the one in the loop.
    pub(super) kpa: Option<super::kpa::KpaRuntime>,
    /// Series the Prometheus Adapter has listed (and can serve).
    pub(super) listed: Vec<String>,
}

impl Control {
    pub(super) fn new(spec: &crate::RunSpec) -> Control {
        let p = &spec.control.prometheus;
        // Export only what the autoscaler's queries read; with no autoscaler, nothing is
        // scraped at all (the timeline reads the engines directly).
        let mut families: Vec<String> = Vec::new();
        let mut everything = false;
        let mut add = |q: &sim_metrics::Query| {
            let (names, unpinned) = q.metric_names();
            everything |= unpinned;
            families.extend(names);
        };
        let mut input_names = Vec::new();
        let mut hpa_config = None;
        let mut keda_state = None;
        match &spec.control.autoscaler {
            AutoscalerSpec::None => {}
            AutoscalerSpec::Kpa(_) => {
                input_names = vec![
                    "kpa_stable_value".into(),
                    "kpa_panic_value".into(),
                    "kpa_panic".into(),
                ];
            }
            AutoscalerSpec::Hpa(h) => {
                for (m, s) in h.config.effective_metrics().iter().zip(&h.sources) {
                    match s {
                        MetricSource::PerPod { query, .. } | MetricSource::Values { query } => {
                            add(query)
                        }
                        MetricSource::Unavailable { .. } => {}
                    }
                    input_names.push(input_name(m));
                }
                hpa_config = Some(h.config.clone());
            }
            AutoscalerSpec::Keda(k) => {
                for (t, q) in k.config.triggers.iter().zip(&k.triggers) {
                    add(&q.query);
                    input_names.push(sanitize(&t.metric_name));
                }
                input_names.push("keda_active".to_string());
                hpa_config = Some(keda::generated_hpa(&k.config));
                // The ScaledObject existed before the run; a Deployment already serving
                // counts as active at time zero, so the cooldown starts then.
                let mut ks = KedaState::new(SimTime::ZERO);
                if spec.pods.replicas > 0 {
                    ks.last_active_time = Some(SimTime::ZERO);
                }
                keda_state = Some(ks);
            }
        }
        let filter = if everything {
            FamilyFilter::all()
        } else {
            FamilyFilter::only(families.iter().map(String::as_str))
        };
        let scrape_vllm = p.scrape_vllm && filter.any_vllm();
        let scrape_dcgm = p.scrape_dcgm && filter.has(vllm_metrics::DCGM_GPU_UTIL);
        let scrape_gateway =
            filter.has(vllm_metrics::GATEWAY_QUEUE) || filter.has(vllm_metrics::GATEWAY_INFLIGHT);
        Control {
            store: Store::new(RETENTION),
            opts: QueryOpts {
                lookback: SimDuration::from_secs_f64(p.lookback_s),
            },
            filter,
            scrape_vllm,
            scrape_dcgm,
            scrape_gateway,
            hpa_state: HpaState::new(),
            hpa_config,
            keda_state,
            inputs: vec![f64::NAN; input_names.len()],
            input_names,
            last_warning: None,
            events: Vec::new(),
            warnings: Vec::new(),
            kpa: None,
            listed: Vec::new(),
        }
    }
}

/// `pods metric vllm_num_requests_waiting` → `vllm_num_requests_waiting`.
fn input_name(m: &MetricSpec) -> String {
    match m {
        MetricSpec::Pods { metric, .. }
        | MetricSpec::Object { metric, .. }
        | MetricSpec::External { metric, .. } => sanitize(metric),
        MetricSpec::Resource { name, .. } | MetricSpec::ContainerResource { name, .. } => {
            sanitize(name)
        }
        MetricSpec::Unknown { source_type } => sanitize(source_type),
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Per-pod control-plane bookkeeping.
#[derive(Clone, Debug)]
pub(super) struct PodControl {
    /// The pod's name.
    pub(super) name: String,
    /// Prometheus target labels of its vLLM endpoint.
    pub(super) target: Labels,
    /// Request histograms vLLM would expose.
    pub(super) hist: RequestHistograms,
    /// When the container started (the pod is Running from then).
    pub(super) container_start: Option<SimTime>,
    /// Busy nanoseconds at the start of the current DCGM sample window.
    pub(super) dcgm_window_start_busy_ns: u64,
    /// The last value the DCGM exporter collected (percent).
    pub(super) dcgm_value: Option<f64>,
}

impl PodControl {
    pub(super) fn new(namespace: &str, deployment: &str, index: u32) -> PodControl {
        let name = pod_name(deployment, index);
        let target = Labels::new([
            ("job", deployment.to_string()),
            ("namespace", namespace.to_string()),
            ("pod", name.clone()),
            ("instance", format!("{name}:8000")),
        ]);
        PodControl {
            name,
            target,
            hist: RequestHistograms::default(),
            container_start: None,
            dcgm_window_start_busy_ns: 0,
            dcgm_value: None,
        }
    }
}

/// Kubernetes-style pod names: `<deployment>-<replicaset hash>-<5 characters>`, derived from
/// the pod's index so they are stable across runs.
fn pod_name(deployment: &str, index: u32) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let rs = replica_set_hash(deployment);
    let mut x = u64::from(index).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x2545_F491_4F6C_DD1D;
    let mut suffix = String::new();
    for _ in 0..5 {
        x ^= x >> 29;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        suffix.push(ALPHABET[(x % ALPHABET.len() as u64) as usize] as char);
    }
    format!("{deployment}-{rs}-{suffix}")
}

fn replica_set_hash(deployment: &str) -> String {
    let h = sim_des::stream_id(deployment) as u64;
    format!("{:x}", h % 0xff_ffff_ffff)
        .chars()
        .take(9)
        .collect()
}

/// The ReplicaSet's name.
pub(super) fn replica_set_name(deployment: &str) -> String {
    format!("{deployment}-{}", replica_set_hash(deployment))
}

impl World<'_> {
    /// The HPA's and the ScaledObject's status conditions now.
    pub(super) fn autoscaler_conditions(&self) -> Vec<crate::ConditionSnapshot> {
        let snap = |object: &str, c: &sim_policy::Condition| crate::ConditionSnapshot {
            object: object.to_string(),
            kind: c.kind.clone(),
            status: c.status.as_str().to_string(),
            reason: c.reason.clone(),
            message: c.message.clone(),
        };
        let mut out = Vec::new();
        match &self.spec.control.autoscaler {
            AutoscalerSpec::Hpa(h) => {
                let obj = format!("horizontalpodautoscaler/{}", h.name);
                out.extend(
                    self.control
                        .hpa_state
                        .conditions
                        .iter()
                        .map(|c| snap(&obj, c)),
                );
            }
            AutoscalerSpec::Keda(k) => {
                let so = format!("scaledobject/{}", k.config.name);
                if let Some(ks) = &self.control.keda_state {
                    out.extend(ks.conditions.iter().map(|c| snap(&so, c)));
                }
                let obj = format!("horizontalpodautoscaler/keda-hpa-{}", k.config.name);
                out.extend(
                    self.control
                        .hpa_state
                        .conditions
                        .iter()
                        .map(|c| snap(&obj, c)),
                );
            }
            AutoscalerSpec::None | AutoscalerSpec::Kpa(_) => {}
        }
        out
    }

    // ---- Events log -------------------------------------------------------------------------

    pub(super) fn event(&mut self, kind: &str, reason: &str, object: &str, message: &str) {
        let line = format!(
            "{:>12}  {kind:<7} {reason:<28} {object:<48} {message}",
            fmt_time(self.now)
        );
        self.control.events.push(line);
    }

    /// Counts a warning; a new one also goes to events.log unless it repeats the last
    /// warning line (as the controllers' event recorder folds repeats).
    fn warn(&mut self, reason: &str, object: &str, message: &str) {
        const MAX_DISTINCT: usize = 100;
        let now_s = self.now.as_secs_f64();
        let found = self
            .control
            .warnings
            .iter()
            .position(|w| w.reason == reason && w.object == object && w.message == message);
        match found {
            Some(i) => {
                let w = &mut self.control.warnings[i];
                w.count += 1;
                w.last_s = now_s;
            }
            None if self.control.warnings.len() < MAX_DISTINCT => {
                self.control.warnings.push(crate::RunWarning {
                    reason: reason.to_string(),
                    object: object.to_string(),
                    message: message.to_string(),
                    first_s: now_s,
                    last_s: now_s,
                    count: 1,
                });
            }
            // Bounded: a message that changes at every sync folds into one catch-all line.
            None => {
                let last = self.control.warnings.last_mut().expect("MAX_DISTINCT > 0");
                if last.reason != "TooManyWarnings" {
                    self.control.warnings.push(crate::RunWarning {
                        reason: "TooManyWarnings".into(),
                        object: object.to_string(),
                        message: format!(
                            "more than {MAX_DISTINCT} distinct warnings; the rest are counted here"
                        ),
                        first_s: now_s,
                        last_s: now_s,
                        count: 1,
                    });
                } else {
                    last.count += 1;
                    last.last_s = now_s;
                }
            }
        }
        let text = format!("{reason}|{object}|{message}");
        if self.control.last_warning.as_deref() != Some(text.as_str()) {
            self.event("Warning", reason, object, message);
            self.control.last_warning = Some(text);
        }
    }

    // ---- Deployment and ReplicaSet -------------------------------------------------------

    /// Sets the Deployment's `spec.replicas` and lets the ReplicaSet create or delete pods.
    pub(super) fn set_desired(&mut self, n: u32, by: &str) {
        let old = self.desired;
        if n == old {
            return;
        }
        self.record_desired_change();
        self.desired = n;
        self.scale_events += 1;
        let rs = replica_set_name(&self.spec.names.deployment);
        let deploy = format!("deployment/{}", self.spec.names.deployment);
        let verb = if n > old { "up" } else { "down" };
        self.event(
            "Normal",
            "ScalingReplicaSet",
            &deploy,
            &format!("Scaled {verb} replica set {rs} to {n} (by {by})"),
        );
        self.reconcile_replica_set();
    }

    /// Creates or deletes pods until the live (non-terminating) pods equal `desired`.
    pub(super) fn reconcile_replica_set(&mut self) {
        let live: Vec<u32> = (0..self.pods.len() as u32)
            .filter(|&p| {
                matches!(
                    self.pods[p as usize].phase,
                    Phase::Pending | Phase::Starting | Phase::Ready
                )
            })
            .collect();
        let want = self.desired as usize;
        let rs = format!(
            "replicaset/{}",
            replica_set_name(&self.spec.names.deployment)
        );
        if live.len() < want {
            for _ in live.len()..want {
                let pod = self.create_pod();
                let name = self.pods[pod as usize].ctl.name.clone();
                self.event(
                    "Normal",
                    "SuccessfulCreate",
                    &rs,
                    &format!("Created pod: {name}"),
                );
                self.pending_pods.push_back(pod);
            }
            self.bind_pending();
        } else if live.len() > want {
            let mut ranked = live;
            ranked.sort_by_key(|&p| self.deletion_rank(p));
            for &pod in ranked.iter().take(ranked.len() - want) {
                let name = self.pods[pod as usize].ctl.name.clone();
                self.event(
                    "Normal",
                    "SuccessfulDelete",
                    &rs,
                    &format!("Deleted pod: {name}"),
                );
                self.delete_pod(pod);
            }
        }
    }

    /// The ReplicaSet controller's order for picking pods to delete (smallest first):
    /// unscheduled before scheduled, pending before running, not ready before ready, pods
    /// doubled up on a node before lone ones, shorter-ready before longer-ready (on a log2
    /// scale of seconds, as with `LogarithmicScaleDown`), then newer before older.
    fn deletion_rank(
        &self,
        pod: u32,
    ) -> (
        u8,
        u8,
        u8,
        std::cmp::Reverse<u32>,
        u64,
        std::cmp::Reverse<u32>,
    ) {
        let p = &self.pods[pod as usize];
        let scheduled = u8::from(p.node.is_some());
        let running = u8::from(p.ctl.container_start.is_some_and(|t| t <= self.now));
        let ready = u8::from(p.phase == Phase::Ready);
        let same_node = p.node.map_or(0, |n| {
            self.pods
                .iter()
                .filter(|q| q.node == Some(n) && matches!(q.phase, Phase::Starting | Phase::Ready))
                .count() as u32
        });
        let ready_bucket = p.ready_at.map_or(0, |t| {
            let secs = self.now.saturating_since(t).as_nanos() / 1_000_000_000;
            u64::from(64 - secs.leading_zeros())
        });
        (
            scheduled,
            running,
            ready,
            std::cmp::Reverse(same_node),
            ready_bucket,
            std::cmp::Reverse(pod),
        )
    }

    // ---- Prometheus ---------------------------------------------------------------------

    /// Starts scraping a pod that just got a node (and an IP).
    pub(super) fn start_scraping(&mut self, pod: u32) {
        let interval = SimDuration::from_secs_f64(self.spec.control.prometheus.scrape_interval_s);
        let generation = self.pods[pod as usize].generation;
        let jobs = [
            (self.control.scrape_vllm, ScrapeJob::Vllm, "vllm"),
            (self.control.scrape_dcgm, ScrapeJob::Dcgm, "dcgm"),
        ];
        for (on, job, prefix) in jobs {
            if on {
                let key = format!("{prefix}/{}", self.pods[pod as usize].ctl.name);
                let t = next_phase_time(self.now, interval, self.scrape_phase(&key, interval));
                self.queue.push(
                    t,
                    Ev::Scrape {
                        pod,
                        generation,
                        job,
                    },
                );
            }
        }
        if self.control.scrape_dcgm {
            let key = format!("dcgm/{}", self.pods[pod as usize].ctl.name);
            let collect =
                SimDuration::from_secs_f64(self.spec.control.prometheus.dcgm_collect_interval_s);
            let window =
                SimDuration::from_secs_f64(self.spec.control.prometheus.dcgm_sample_window_s);
            let phase =
                sim_metrics::scrape_offset(&format!("dcgm-collect/{key}"), collect, self.seed);
            let tc = next_phase_time(self.now + window, collect, phase);
            self.queue.push(
                SimTime(tc.as_nanos() - window.as_nanos()),
                Ev::DcgmWindowStart { pod, generation },
            );
        }
    }

    /// A target's offset inside the scrape interval.
    fn scrape_phase(&self, key: &str, interval: SimDuration) -> SimDuration {
        match self.spec.control.prometheus.scrape_offset_s {
            Some(s) => SimDuration::from_secs_f64(s),
            None => sim_metrics::scrape_offset(key, interval, self.seed),
        }
    }

    /// Starts scraping the gateway, if any query reads it.
    pub(super) fn start_scraping_gateway(&mut self) {
        if self.control.scrape_gateway {
            let interval =
                SimDuration::from_secs_f64(self.spec.control.prometheus.scrape_interval_s);
            let t = next_phase_time(self.now, interval, self.scrape_phase("gateway", interval));
            self.queue.push(
                t,
                Ev::Scrape {
                    pod: 0,
                    generation: 0,
                    job: ScrapeJob::Gateway,
                },
            );
        }
    }

    fn on_gateway_scrape(&mut self) {
        let now = self.now;
        let interval = SimDuration::from_secs_f64(self.spec.control.prometheus.scrape_interval_s);
        self.queue.push(
            now + interval,
            Ev::Scrape {
                pod: 0,
                generation: 0,
                job: ScrapeJob::Gateway,
            },
        );
        let target = Labels::new([
            ("job", "gateway".to_string()),
            ("instance", "gateway:9090".to_string()),
        ]);
        let failing = self.spec.control.prometheus.failures.iter().any(|f| {
            f.job == ScrapeJob::Gateway
                && f.start_s <= now.as_secs_f64()
                && now.as_secs_f64() < f.end_s
        });
        if failing {
            self.control
                .store
                .scrape_failed(now, &target)
                .expect("time moves forward");
            return;
        }
        let queued = self.gateway_queue_len() as f64;
        let inflight = self.in_flight as f64 - queued;
        let labels = [
            ("namespace", self.spec.names.namespace.as_str()),
            ("service", self.spec.names.deployment.as_str()),
        ];
        let mut exp = Exposition::new();
        exp.gauge(vllm_metrics::GATEWAY_QUEUE, &labels, queued);
        exp.gauge(vllm_metrics::GATEWAY_INFLIGHT, &labels, inflight);
        self.control
            .store
            .ingest_scrape(now, &target, exp.samples())
            .expect("time moves forward");
    }

    /// Stops scraping a deleted pod: it left the endpoints, so its series go stale now.
    pub(super) fn stop_scraping(&mut self, pod: u32) {
        let now = self.now;
        let target = self.pods[pod as usize].ctl.target.clone();
        self.control
            .store
            .mark_target_stale(now, &target)
            .expect("time moves forward");
        let dcgm = dcgm_target(&self.pods[pod as usize].ctl.name);
        self.control
            .store
            .mark_target_stale(now, &dcgm)
            .expect("time moves forward");
    }

    pub(super) fn on_scrape(&mut self, pod: u32, generation: u64, job: ScrapeJob) {
        if job == ScrapeJob::Gateway {
            return self.on_gateway_scrape();
        }
        let p = &self.pods[pod as usize];
        if p.generation != generation || !matches!(p.phase, Phase::Starting | Phase::Ready) {
            return;
        }
        let interval = SimDuration::from_secs_f64(self.spec.control.prometheus.scrape_interval_s);
        self.queue.push(
            self.now + interval,
            Ev::Scrape {
                pod,
                generation,
                job,
            },
        );
        self.scrape_target(pod, job);
    }

    /// A warm pod at time zero: it has served (idle) long before the run, so Prometheus
    /// already holds its samples and its GPU exporter reports the idle window. Without this a
    /// warm run's first sync would see `<unknown>` metrics a real long-lived cluster never
    /// shows.
    pub(super) fn warm_scrape(&mut self, pod: u32) {
        if self.control.scrape_dcgm {
            self.pods[pod as usize].ctl.dcgm_value = Some(0.0);
        }
        for (on, job) in [
            (self.control.scrape_vllm, ScrapeJob::Vllm),
            (self.control.scrape_dcgm, ScrapeJob::Dcgm),
        ] {
            if on {
                self.scrape_target(pod, job);
            }
        }
    }

    /// One scrape of a pod's target now (injected scrape failures included).
    fn scrape_target(&mut self, pod: u32, job: ScrapeJob) {
        let p = &self.pods[pod as usize];
        let now = self.now;
        let failing =
            self.spec.control.prometheus.failures.iter().any(|f| {
                f.job == job && f.start_s <= now.as_secs_f64() && now.as_secs_f64() < f.end_s
            });
        match job {
            ScrapeJob::Vllm => {
                let target = p.ctl.target.clone();
                if failing || !p.server_up {
                    self.control
                        .store
                        .scrape_failed(now, &target)
                        .expect("time moves forward");
                    return;
                }
                let g = p.replica.gauges_at(now);
                let itl = p.replica.itl_histogram_at(now);
                let labels = [
                    ("model_name", self.spec.names.model_label.as_str()),
                    ("engine", "0"),
                ];
                let mut exp = Exposition::new();
                vllm_metrics::expose_vllm(
                    &mut exp,
                    &self.control.filter,
                    &labels,
                    &g,
                    &p.ctl.hist,
                    &itl,
                )
                .expect("built-in buckets are valid");
                self.control
                    .store
                    .ingest_scrape(now, &target, exp.samples())
                    .expect("time moves forward");
            }
            ScrapeJob::Gateway => unreachable!("handled above"),
            ScrapeJob::Dcgm => {
                let target = dcgm_target(&p.ctl.name);
                if failing {
                    self.control
                        .store
                        .scrape_failed(now, &target)
                        .expect("time moves forward");
                    return;
                }
                let Some(util) = p.ctl.dcgm_value else {
                    // The exporter has not collected this GPU yet: nothing to expose.
                    self.control
                        .store
                        .ingest_scrape(now, &target, &[])
                        .expect("time moves forward");
                    return;
                };
                let node = format!("gpu-node-{}", p.node.unwrap_or(0));
                let mut exp = Exposition::new();
                for gpu in 0..self.spec.tp {
                    let gpu = gpu.to_string();
                    let labels = [
                        ("gpu", gpu.as_str()),
                        ("modelName", self.spec.gpu.name.as_str()),
                        ("Hostname", node.as_str()),
                        ("namespace", self.spec.names.namespace.as_str()),
                        ("pod", p.ctl.name.as_str()),
                        ("container", "vllm"),
                    ];
                    exp.gauge(vllm_metrics::DCGM_GPU_UTIL, &labels, util.round());
                }
                self.control
                    .store
                    .ingest_scrape(now, &target, exp.samples())
                    .expect("time moves forward");
            }
        }
    }

    pub(super) fn on_dcgm_window_start(&mut self, pod: u32, generation: u64) {
        let now = self.now;
        let p = &mut self.pods[pod as usize];
        if p.generation != generation || !matches!(p.phase, Phase::Starting | Phase::Ready) {
            return;
        }
        p.ctl.dcgm_window_start_busy_ns = p.replica.gauges_at(now).busy_ns_total;
        let window = SimDuration::from_secs_f64(self.spec.control.prometheus.dcgm_sample_window_s);
        self.queue
            .push(now + window, Ev::DcgmCollect { pod, generation });
    }

    pub(super) fn on_dcgm_collect(&mut self, pod: u32, generation: u64) {
        let now = self.now;
        let p = &mut self.pods[pod as usize];
        if p.generation != generation || !matches!(p.phase, Phase::Starting | Phase::Ready) {
            return;
        }
        let pr = &self.spec.control.prometheus;
        let window = SimDuration::from_secs_f64(pr.dcgm_sample_window_s);
        let busy = p.replica.gauges_at(now).busy_ns_total - p.ctl.dcgm_window_start_busy_ns;
        p.ctl.dcgm_value = Some(100.0 * busy as f64 / window.as_nanos().max(1) as f64);
        let collect = SimDuration::from_secs_f64(pr.dcgm_collect_interval_s);
        let next = SimTime((now + collect).as_nanos() - window.as_nanos());
        self.queue
            .push(next, Ev::DcgmWindowStart { pod, generation });
    }

    fn query(&self, q: &sim_metrics::Query) -> Result<Value, String> {
        sim_metrics::query(&self.control.store, q, self.now, &self.control.opts)
            .map_err(|e| e.to_string())
    }

    // ---- The HPA ------------------------------------------------------------------------

    /// The pods the HPA's selector matches, as the API server shows them.
    fn pod_infos(&self) -> Vec<PodInfo> {
        let now = self.now;
        self.pods
            .iter()
            .filter(|p| p.phase != Phase::Gone)
            .map(|p| {
                let running = p.ctl.container_start.is_some_and(|t| t <= now);
                let ready = match p.ready_at {
                    Some(t) if p.phase == Phase::Ready => PodReady {
                        status: ConditionStatus::True,
                        last_transition: t,
                    },
                    _ => PodReady {
                        status: ConditionStatus::False,
                        last_transition: p.ctl.container_start.unwrap_or(p.created_at),
                    },
                };
                PodInfo {
                    name: p.ctl.name.clone(),
                    phase: if running {
                        PodPhase::Running
                    } else {
                        PodPhase::Pending
                    },
                    deleted: p.phase == Phase::Terminating,
                    start_time: p.bound_at,
                    ready: Some(ready),
                    containers: Vec::new(),
                }
            })
            .collect()
    }

    fn target_state(&self) -> TargetState {
        TargetState {
            spec_replicas: self.desired as i32,
            ready_replicas: self.endpoints.len() as i32,
        }
    }

    fn status_replicas(&self) -> i32 {
        self.pods
            .iter()
            .filter(|p| matches!(p.phase, Phase::Pending | Phase::Starting | Phase::Ready))
            .count() as i32
    }

    /// What the custom/external metrics APIs return for one metric source now.
    fn observe(&self, source: &MetricSource, spec: &MetricSpec) -> MetricObservation {
        let now = self.now;
        match source {
            MetricSource::Unavailable { message } => MetricObservation::Error(message.clone()),
            MetricSource::PerPod { series, .. }
                if !self.control.listed.iter().any(|s| s == series) =>
            {
                MetricObservation::Error(format!(
                    "unable to fetch metrics from custom metrics API: the server could not find the metric {} for pods",
                    metric_name(spec)
                ))
            }
            MetricSource::PerPod { query, .. } => match self.query(query) {
                Err(e) => MetricObservation::Error(e),
                Ok(Value::Scalar(_)) => {
                    MetricObservation::Error("the adapter's query returned a scalar".into())
                }
                Ok(Value::Vector(v)) => {
                    let samples: Vec<PodSample> = v
                        .iter()
                        .filter_map(|(labels, value)| {
                            Some(PodSample {
                                pod: labels.get("pod")?.to_string(),
                                value_milli: Some(milli(*value)),
                                timestamp: now,
                                window: SimDuration::from_secs(60),
                            })
                        })
                        .collect();
                    if samples.is_empty() {
                        MetricObservation::Error(
                            "no metrics returned from custom metrics API".into(),
                        )
                    } else {
                        MetricObservation::PodSamples(samples)
                    }
                }
            },
            MetricSource::Values { query } => match self.query(query) {
                Err(e) => MetricObservation::Error(e),
                Ok(Value::Scalar(s)) => value_observation(spec, vec![milli(s)]),
                Ok(Value::Vector(v)) if v.is_empty() => {
                    MetricObservation::Error("no metrics returned from external metrics API".into())
                }
                Ok(Value::Vector(v)) => {
                    value_observation(spec, v.iter().map(|(_, x)| milli(*x)).collect())
                }
            },
        }
    }

    /// One HPA sync: the user's HPA reads the adapter; KEDA's HPA reads KEDA's metrics API.
    pub(super) fn on_hpa_sync(&mut self) {
        let (config, metrics, object) = match &self.spec.control.autoscaler {
            AutoscalerSpec::Hpa(h) => {
                let metrics: Vec<MetricObservation> = h
                    .config
                    .effective_metrics()
                    .iter()
                    .zip(&h.sources)
                    .map(|(m, s)| self.observe(s, m))
                    .collect();
                (
                    h.config.clone(),
                    metrics,
                    format!("horizontalpodautoscaler/{}", h.name),
                )
            }
            AutoscalerSpec::Keda(k) => {
                let readings = self.keda_readings();
                let target = self.target_state();
                let mut ks = self.control.keda_state.take().expect("KEDA state");
                let served =
                    keda::hpa_metric_values(&k.config, &mut ks, self.now, &readings, target);
                self.control.keda_state = Some(ks);
                let unserved =
                    || MetricObservation::Error("resource metrics are not simulated".into());
                let metrics = served
                    .into_iter()
                    .map(|o| o.unwrap_or_else(unserved))
                    .collect();
                let config = self
                    .control
                    .hpa_config
                    .clone()
                    .expect("KEDA has a generated HPA");
                (
                    config,
                    metrics,
                    format!("horizontalpodautoscaler/keda-hpa-{}", k.config.name),
                )
            }
            AutoscalerSpec::None | AutoscalerSpec::Kpa(_) => return,
        };
        self.queue
            .push(self.now + config.controller.sync_period, Ev::HpaSync);
        let input = HpaInput {
            now: self.now,
            spec_replicas: self.desired as i32,
            status_replicas: self.status_replicas(),
            pods: self.pod_infos(),
            metrics,
        };
        let mut state = std::mem::take(&mut self.control.hpa_state);
        let decision = hpa::reconcile(&config, &mut state, &input);
        self.control.hpa_state = state;
        if matches!(self.spec.control.autoscaler, AutoscalerSpec::Hpa(_)) {
            for (i, st) in decision.metric_statuses.iter().enumerate() {
                if let Some(slot) = self.control.inputs.get_mut(i) {
                    *slot = current_value(st);
                }
            }
        }
        self.apply_hpa_decision(&object, &decision, &config);
    }

    fn apply_hpa_decision(&mut self, object: &str, d: &HpaDecision, config: &HpaConfig) {
        if let Some(err) = &d.error {
            let reason = d
                .conditions
                .iter()
                .find(|c| c.status == ConditionStatus::False && c.kind == "ScalingActive")
                .map_or("FailedGetMetrics", |c| c.reason.as_str());
            let reason = if reason == "FailedGetPodsMetric" || reason == "FailedGetExternalMetric" {
                reason.to_string()
            } else {
                "FailedComputeMetricsReplicas".to_string()
            };
            self.warn(&reason, object, err);
        } else {
            self.control.last_warning = None;
        }
        if d.rescale {
            let n = d.desired_replicas.max(0) as u32;
            assert!(
                i64::from(d.desired_replicas)
                    >= i64::from(config.effective_min_replicas().min(d.current_replicas))
                    && d.desired_replicas <= config.max_replicas.max(d.current_replicas),
                "HPA desired {} outside [{}, {}]",
                d.desired_replicas,
                config.effective_min_replicas(),
                config.max_replicas
            );
            self.event(
                "Normal",
                "SuccessfulRescale",
                object,
                &format!("New size: {n}; reason: {}", d.reason),
            );
            self.set_desired(n, object);
        }
    }

    // ---- The Prometheus Adapter ---------------------------------------------------------

    /// The series behind the HPA's Pods metrics.
    fn adapter_series(&self) -> Vec<String> {
        let AutoscalerSpec::Hpa(h) = &self.spec.control.autoscaler else {
            return Vec::new();
        };
        let mut v: Vec<String> = h
            .sources
            .iter()
            .filter_map(|s| match s {
                MetricSource::PerPod { series, .. } => Some(series.clone()),
                _ => None,
            })
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Starts the adapter's relist loop. A run that starts warm began long after the adapter
    /// did, so the series its pods already expose count as listed.
    pub(super) fn start_adapter(&mut self) {
        let AutoscalerSpec::Hpa(h) = &self.spec.control.autoscaler else {
            return;
        };
        let series = self.adapter_series();
        if series.is_empty() {
            return;
        }
        if self.spec.pods.initial_ready && self.spec.pods.replicas > 0 {
            let (vllm, dcgm) = (self.control.scrape_vllm, self.control.scrape_dcgm);
            self.control.listed = series
                .into_iter()
                .filter(|s| if s.starts_with("DCGM") { dcgm } else { vllm })
                .collect();
        }
        let interval = SimDuration::from_secs_f64(h.adapter_relist_interval_s);
        self.queue.push(SimTime::ZERO + interval, Ev::AdapterRelist);
    }

    pub(super) fn on_adapter_relist(&mut self) {
        let AutoscalerSpec::Hpa(h) = &self.spec.control.autoscaler else {
            return;
        };
        self.queue.push(
            self.now + SimDuration::from_secs_f64(h.adapter_relist_interval_s),
            Ev::AdapterRelist,
        );
        for s in self.adapter_series() {
            if !self.control.listed.contains(&s) && self.control.store.has_metric(&s) {
                self.control.listed.push(s);
            }
        }
    }

    // ---- KEDA -----------------------------------------------------------------------------

    fn keda_readings(&self) -> Vec<Result<f64, String>> {
        let AutoscalerSpec::Keda(k) = &self.spec.control.autoscaler else {
            return Vec::new();
        };
        k.triggers
            .iter()
            .map(|t| {
                let v = self.query(&t.query)?;
                sim_metrics::query_scalar_for_keda(&v, t.ignore_null_values)
                    .map_err(|e| e.to_string())
            })
            .collect()
    }

    pub(super) fn on_keda_poll(&mut self) {
        let AutoscalerSpec::Keda(k) = &self.spec.control.autoscaler else {
            return;
        };
        self.queue
            .push(self.now + k.config.polling_interval, Ev::KedaPoll);
        let readings = self.keda_readings();
        let target = self.target_state();
        let mut ks = self.control.keda_state.take().expect("KEDA state");
        let tick = keda::operator_tick(&k.config, &mut ks, self.now, &readings, target);
        self.control.keda_state = Some(ks);
        for (i, r) in readings.iter().enumerate() {
            self.control.inputs[i] = *r.as_ref().unwrap_or(&f64::NAN);
        }
        let last = self.control.inputs.len() - 1;
        self.control.inputs[last] = if tick.state.is_active { 1.0 } else { 0.0 };
        let object = format!("scaledobject/{}", k.config.name);
        if tick.state.is_error {
            let err = readings
                .iter()
                .find_map(|r| r.as_ref().err())
                .cloned()
                .unwrap_or_default();
            self.warn("KEDAScalerFailed", &object, &err);
        }
        if let Some((reason, message)) = &tick.executor.event {
            self.event("Normal", reason, &object, message);
        }
        if let TickAction::ScaleTo(n) = tick.action {
            let max = k.config.hpa_max_replicas();
            assert!((0..=max).contains(&n), "KEDA wrote {n} outside [0, {max}]");
            self.set_desired(n as u32, &object);
        }
    }
}

fn metric_name(spec: &MetricSpec) -> &str {
    match spec {
        MetricSpec::Pods { metric, .. }
        | MetricSpec::Object { metric, .. }
        | MetricSpec::External { metric, .. } => metric,
        MetricSpec::Resource { name, .. } | MetricSpec::ContainerResource { name, .. } => name,
        MetricSpec::Unknown { source_type } => source_type,
    }
}

fn value_observation(spec: &MetricSpec, values: Vec<i64>) -> MetricObservation {
    match spec {
        MetricSpec::Object { .. } => MetricObservation::ObjectValue(values.iter().sum()),
        _ => MetricObservation::ExternalValues(values),
    }
}

/// A float as the milli-units of the Quantity the adapter builds (`int64(v * 1000)`).
fn milli(v: f64) -> i64 {
    if v.is_finite() {
        (v * 1000.0) as i64
    } else {
        0
    }
}

/// The current value `kubectl describe hpa` would show (average or total), or NaN.
fn current_value(st: &hpa::MetricStatus) -> f64 {
    match st.current {
        None => f64::NAN,
        Some(c) => {
            if let Some(v) = c.average_value_milli {
                v as f64 / 1000.0
            } else if let Some(v) = c.value_milli {
                v as f64 / 1000.0
            } else if let Some(u) = c.average_utilization {
                f64::from(u)
            } else {
                f64::NAN
            }
        }
    }
}

fn dcgm_target(pod: &str) -> Labels {
    Labels::new([
        ("job", "dcgm-exporter".to_string()),
        ("instance", format!("dcgm/{pod}")),
    ])
}

/// The first time at or after `now` that is `phase` past a multiple of `interval`.
pub(super) fn next_phase_time(now: SimTime, interval: SimDuration, phase: SimDuration) -> SimTime {
    let i = interval.as_nanos().max(1);
    let p = phase.as_nanos() % i;
    let n = now.as_nanos();
    let base = n - n % i + p;
    SimTime(if base >= n { base } else { base + i })
}

fn fmt_time(t: SimTime) -> String {
    format!("{:.3}s", t.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_times_land_on_the_grid() {
        // (now, interval, phase) -> first grid time at or after now, all in seconds.
        for (now, interval, phase, expected) in [
            (0, 15, 4, 4),
            (4, 15, 4, 4),
            (5, 15, 4, 19),
            (31, 15, 0, 45),
        ] {
            let got = next_phase_time(
                SimTime::from_secs(now),
                SimDuration::from_secs(interval),
                SimDuration::from_secs(phase),
            );
            assert_eq!(
                got,
                SimTime::from_secs(expected),
                "now {now} interval {interval} phase {phase}"
            );
        }
    }

    #[test]
    fn pod_names_look_like_kubernetes_and_are_stable() {
        let a = pod_name("mistral-vllm", 0);
        assert_eq!(a, pod_name("mistral-vllm", 0));
        assert_ne!(a, pod_name("mistral-vllm", 1));
        assert!(a.starts_with("mistral-vllm-"), "{a}");
        assert_eq!(a.rsplit('-').next().unwrap().len(), 5);
    }
}
