//! One vLLM V1 engine: the scheduler, KV-cache blocks, preemption and step timing.
//!
//! The scheduler follows `vllm/v1/core/sched/scheduler.py` as described in
//! `research/vllm_model.md` §1–3: RUNNING requests first in admission order, then WAITING
//! requests in FCFS order when no preemption happened in the step; chunked prefill under a
//! token budget; KV blocks allocated on demand; preemption by recompute of the newest running
//! request, which goes back to the front of WAITING.
//!
//! Speed comes from decode runs. When every running request is decoding and nothing can be
//! admitted, consecutive steps differ only in context length, so their times form an
//! arithmetic series (the step-time model is affine in total context for a fixed batch).
//! The replica then advances many steps in one event and answers questions about the
//! middle of the run (gauges, token counters) in closed form. An arrival or an abort cuts the
//! run at the next step boundary, where the scheduler runs again exactly as vLLM would.

use std::collections::VecDeque;

use sim_des::{SimDuration, SimTime};

use crate::itl::TokenGaps;
use crate::perf::{StepShape, StepTimeModel};
use crate::vllm_metrics::{Histogram, ITL_BUCKETS_S};

/// Static engine settings of one replica (vLLM's `EngineArgs` that shape scheduling).
#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    /// Cap on the RUNNING list (`max_num_seqs`).
    pub max_num_seqs: u32,
    /// Token budget per step (`max_num_batched_tokens`).
    pub max_num_batched_tokens: u32,
    /// Tokens per KV block (vLLM's default is 16).
    pub block_size_tokens: u32,
    /// KV blocks on the GPU, including vLLM's one reserved null block.
    pub num_gpu_blocks: u32,
    /// Longest sequence (prompt plus output) the engine accepts.
    pub max_model_len: u32,
    /// Advance runs of identical decode steps in one event (the default). Off, every step is
    /// its own event: slower, and the reference the fused path is tested against.
    pub fuse_decode_steps: bool,
}

/// A request handed to a replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplicaRequest {
    /// The simulator's request id.
    pub id: u64,
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Output tokens the request will generate (already capped by `max_model_len`).
    pub output_tokens: u32,
}

/// Something that happened to a request at the end of a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicaEvent {
    /// The request was scheduled for the first time (it left the queue).
    Scheduled { id: u64, at: SimTime },
    /// The request emitted its first output token.
    FirstToken { id: u64, at: SimTime },
    /// The request emitted its last token and left the engine.
    Finished {
        id: u64,
        at: SimTime,
        preemptions: u32,
    },
}

/// Point-in-time view of the engine, as vLLM's gauges and counters would show it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReplicaGauges {
    /// `vllm:num_requests_running`.
    pub running: u32,
    /// `vllm:num_requests_waiting`.
    pub waiting: u32,
    /// KV blocks held by requests.
    pub kv_blocks_used: u32,
    /// `vllm:kv_cache_usage_perc` (a 0–1 fraction).
    pub kv_usage: f64,
    /// `vllm:generation_tokens_total`.
    pub generation_tokens_total: u64,
    /// `vllm:prompt_tokens_total` (counted when a prefill completes).
    pub prompt_tokens_total: u64,
    /// `vllm:num_preemptions_total`.
    pub preemptions_total: u64,
    /// Computed tokens (prompt and output) whose KV preemption discarded, to be computed again.
    pub recomputed_tokens_total: u64,
    /// Steps executed so far.
    pub steps_total: u64,
    /// Nanoseconds the GPU spent executing steps so far.
    pub busy_ns_total: u64,
}

#[derive(Clone, Debug)]
struct Seq {
    id: u64,
    prompt_tokens: u32,
    output_tokens: u32,
    /// Tokens sampled so far.
    generated: u32,
    /// Tokens whose KV is in the cache.
    computed: u32,
    blocks: u32,
    /// Tokens scheduled in the step in flight.
    step_tokens: u32,
    preemptions: u32,
    /// When the last output token was sampled, for the gap to the next one.
    last_token_at: SimTime,
    scheduled_once: bool,
    aborted: bool,
}

impl Seq {
    /// Prompt plus sampled tokens: what `num_computed_tokens` must catch up with.
    fn num_tokens(&self) -> u32 {
        self.prompt_tokens + self.generated
    }

    /// Holds no KV blocks and no computed tokens, as every waiting request must.
    fn is_pristine(&self) -> bool {
        self.blocks == 0 && self.computed == 0
    }
}

/// Fixed-point scale of decode step times: `DECODE_FX` units per nanosecond.
const DECODE_FX: u64 = 1 << 20;

/// A decode step's duration in integer nanoseconds, `floor((a + b·ctx) / DECODE_FX)`, where
/// `a` and `b` are the affine step time of the batch in fixed point (`a` includes half a
/// nanosecond, so the floor rounds). Single decode steps and fused decode runs both use it,
/// so a run's step ends are exact sums of its steps and the two paths agree to the nanosecond.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DecodeFx {
    a: u64,
    b: u64,
}

impl DecodeFx {
    fn new(perf: &StepTimeModel, batch: u32) -> DecodeFx {
        let (a_s, b_s) = perf.decode_affine(batch);
        let scale = DECODE_FX as f64;
        // Saturating casts: a step of more than 2^43 ns (about 2.4 hours) is not a real step.
        DecodeFx {
            a: ((a_s * 1e9 + 0.5) * scale).round() as u64,
            b: (b_s * 1e9 * scale).round() as u64,
        }
    }

    /// Duration of a decode step over `ctx` tokens of cached context.
    fn step_ns(&self, ctx: u64) -> u64 {
        self.b.saturating_mul(ctx).saturating_add(self.a) / DECODE_FX
    }
}

/// `Σ_{i=0}^{n-1} floor((a·i + b) / m)` for non-negative integers, in O(log m) steps (the
/// classic floor-sum recursion). Runs in 64-bit arithmetic, which every real run fits, and
/// saturates instead of wrapping if one ever does not.
fn floor_sum(mut n: u64, mut m: u64, mut a: u64, mut b: u64) -> u64 {
    let mut sum: u64 = 0;
    loop {
        if a >= m {
            let pairs = if n.is_multiple_of(2) {
                (n / 2).saturating_mul(n.saturating_sub(1))
            } else {
                n.saturating_mul(n.saturating_sub(1) / 2)
            };
            sum = sum.saturating_add(pairs.saturating_mul(a / m));
            a %= m;
        }
        if b >= m {
            sum = sum.saturating_add(n.saturating_mul(b / m));
            b %= m;
        }
        let y_max = a.saturating_mul(n).saturating_add(b);
        if y_max < m {
            break;
        }
        n = y_max / m;
        b = y_max % m;
        std::mem::swap(&mut m, &mut a);
    }
    sum
}

/// The work in flight: one step, or a run of identical-shape decode steps.
#[derive(Clone, Copy, Debug)]
struct Work {
    start: SimTime,
    /// Steps in this work item (1 for a mixed step).
    steps: u64,
    /// Closed-form timing of a decode run: step j (1-based) takes `a + b * (c0 + (j-1) * batch)`
    /// seconds (for the ITL histogram and gauges); `fx` is the same in integer nanoseconds.
    a_s: f64,
    b_s: f64,
    c0_tokens: f64,
    batch: u32,
    /// Step j (0-based) of a run lasts `floor((fx_first + fx_step·j) / DECODE_FX)` ns.
    fx_first: u64,
    fx_step: u64,
    /// Nanoseconds from `start` to the end of the last step (cached: queries compare with it).
    end_ns: u64,
    /// Duration of a single (non-run) step.
    single_ns: u64,
    is_run: bool,
}

impl Work {
    /// Nanoseconds from the start of the work to the end of step `j`.
    fn elapsed_ns(&self, j: u64) -> u64 {
        if !self.is_run {
            return if j == 0 { 0 } else { self.single_ns };
        }
        if j == self.steps {
            return self.end_ns;
        }
        floor_sum(j, DECODE_FX, self.fx_step, self.fx_first)
    }

    /// End time of step `j`.
    fn step_end(&self, j: u64) -> SimTime {
        self.start + SimDuration(self.elapsed_ns(j))
    }

    fn end(&self) -> SimTime {
        self.start + SimDuration(self.end_ns)
    }

    /// Shortens a run to `steps` steps.
    fn truncate(&mut self, steps: u64) {
        self.steps = steps;
        self.end_ns = if self.is_run {
            floor_sum(steps, DECODE_FX, self.fx_step, self.fx_first)
        } else {
            self.single_ns
        };
    }

    /// Steps completed by time `t` (the largest j with `step_end(j) <= t`).
    fn steps_done_by(&self, t: SimTime) -> u64 {
        if t >= self.end() {
            return self.steps;
        }
        let j = self.first_step_ending_at_or_after(t);
        if self.step_end(j) <= t { j } else { j - 1 }
    }

    /// The smallest j in 1..=steps whose end is at or after `t`.
    fn first_step_ending_at_or_after(&self, t: SimTime) -> u64 {
        if !self.is_run || self.steps == 1 {
            return 1;
        }
        let x = t.saturating_since(self.start).as_secs_f64();
        // Solve (b*B/2) j^2 + (a + b*c0 - b*B/2) j = x for the real root (the continuous
        // version of the step ends), then walk to the exact integer answer.
        let qa = self.b_s * f64::from(self.batch) / 2.0;
        let qb = self.a_s + self.b_s * self.c0_tokens - qa;
        let root = if qa > 0.0 {
            (-qb + (qb * qb + 4.0 * qa * x).sqrt()) / (2.0 * qa)
        } else if qb > 0.0 {
            x / qb
        } else {
            1.0
        };
        let mut j = (root.ceil().max(1.0) as u64).min(self.steps);
        while j > 1 && self.step_end(j - 1) >= t {
            j -= 1;
        }
        while j < self.steps && self.step_end(j) < t {
            j += 1;
        }
        j
    }
}

/// One vLLM engine. See the module docs.
#[derive(Clone, Debug)]
pub struct Replica {
    cfg: EngineConfig,
    running: Vec<Seq>,
    waiting: VecDeque<Seq>,
    usable_blocks: u32,
    free_blocks: u32,
    work: Option<Work>,
    /// Bumped whenever the end time of the work in flight changes; stale step events carry an
    /// older value and are ignored.
    generation: u64,
    generation_tokens_total: u64,
    prompt_tokens_total: u64,
    preemptions_total: u64,
    recomputed_tokens_total: u64,
    steps_total: u64,
    busy_ns_total: u64,
    /// Every output token's gap to the request's previous one (preemption stalls included),
    /// for run-level ITL percentiles.
    token_gaps: TokenGaps,
    /// `vllm:inter_token_latency_seconds`: one observation per non-first output token, of
    /// the duration of the step that produced it.
    itl: Histogram,
}

/// What the caller must schedule after a call that may change the work in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wake {
    /// When the work in flight ends.
    pub at: SimTime,
    /// The generation to attach to the step-end event.
    pub generation: u64,
}

impl Replica {
    /// An idle engine with an empty KV cache.
    ///
    /// # Panics
    /// When the configuration is inconsistent; the scenario layer validates it first.
    pub fn new(cfg: EngineConfig) -> Replica {
        assert!(cfg.num_gpu_blocks >= 2, "need at least one usable KV block");
        assert!(cfg.block_size_tokens > 0);
        assert!(cfg.max_num_seqs > 0 && cfg.max_num_batched_tokens > 0);
        let usable_blocks = cfg.num_gpu_blocks - 1;
        assert!(
            u64::from(usable_blocks) * u64::from(cfg.block_size_tokens)
                >= u64::from(cfg.max_model_len),
            "KV cache smaller than max_model_len"
        );
        Replica {
            cfg,
            running: Vec::new(),
            waiting: VecDeque::new(),
            usable_blocks,
            free_blocks: usable_blocks,
            work: None,
            generation: 0,
            generation_tokens_total: 0,
            prompt_tokens_total: 0,
            preemptions_total: 0,
            recomputed_tokens_total: 0,
            steps_total: 0,
            busy_ns_total: 0,
            token_gaps: TokenGaps::new(),
            itl: Histogram::new(ITL_BUCKETS_S),
        }
    }

    /// The engine settings.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// Requests in the engine (running plus waiting): what a least-outstanding router counts.
    pub fn outstanding(&self) -> usize {
        self.running.len() + self.waiting.len()
    }

    /// True when no request is inside the engine.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty() && self.waiting.is_empty()
    }

    /// The current generation (see [`Wake`]).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Accepts a request at `now`. Returns a wake-up when the caller must (re)schedule the
    /// step-end event: the engine was idle, or a decode run had to be cut so that the
    /// scheduler can admit the new request at the next step boundary.
    pub fn enqueue(
        &mut self,
        req: ReplicaRequest,
        now: SimTime,
        perf: &StepTimeModel,
        events: &mut Vec<ReplicaEvent>,
    ) -> Option<Wake> {
        assert!(req.prompt_tokens > 0 && req.output_tokens > 0);
        assert!(req.prompt_tokens + req.output_tokens <= self.cfg.max_model_len + 1);
        self.waiting.push_back(Seq {
            id: req.id,
            prompt_tokens: req.prompt_tokens,
            output_tokens: req.output_tokens,
            generated: 0,
            computed: 0,
            blocks: 0,
            step_tokens: 0,
            preemptions: 0,
            last_token_at: now,
            scheduled_once: false,
            aborted: false,
        });
        match self.work {
            None => self.schedule(now, perf, events),
            Some(_) if self.running.len() < self.cfg.max_num_seqs as usize => self.cut_run(now),
            Some(_) => None,
        }
    }

    /// Stops serving request `id` (client went away). A waiting request leaves at once; a
    /// running one leaves at the next step boundary. Returns a wake-up if the run was cut.
    pub fn abort(&mut self, id: u64, now: SimTime) -> Option<Wake> {
        if let Some(pos) = self.waiting.iter().position(|s| s.id == id) {
            self.waiting.remove(pos);
            return None;
        }
        let seq = self.running.iter_mut().find(|s| s.id == id)?;
        seq.aborted = true;
        self.cut_run(now)
    }

    /// Removes every request (the pod is gone) and returns their ids, running first.
    pub fn evict_all(&mut self, now: SimTime) -> Vec<u64> {
        if let Some(work) = self.work.take() {
            let done = work.steps_done_by(now);
            self.busy_ns_total += now.min(work.end()).saturating_since(work.start).as_nanos();
            self.steps_total += done;
            if work.is_run {
                self.generation_tokens_total += done * u64::from(work.batch);
                observe_run_itl(&mut self.itl, &work, done);
                observe_run_gaps(&mut self.token_gaps, &work, done);
            }
        }
        self.generation += 1;
        let mut ids: Vec<u64> = self.running.drain(..).map(|s| s.id).collect();
        ids.extend(self.waiting.drain(..).map(|s| s.id));
        self.free_blocks = self.usable_blocks;
        ids
    }

    /// Handles the end of the work in flight at `now` (the time a [`Wake`] named). Pushes
    /// what happened to requests into `events` and returns the next wake-up, if any.
    pub fn on_step_end(
        &mut self,
        now: SimTime,
        generation: u64,
        perf: &StepTimeModel,
        events: &mut Vec<ReplicaEvent>,
    ) -> Option<Wake> {
        if generation != self.generation {
            return None;
        }
        let work = self.work.take().expect("step end without work in flight");
        debug_assert_eq!(work.end(), now);
        self.busy_ns_total += (now - work.start).as_nanos();
        self.steps_total += work.steps;
        if work.is_run {
            observe_run_itl(&mut self.itl, &work, work.steps);
            observe_run_gaps(&mut self.token_gaps, &work, work.steps);
            self.finish_run(work.steps as u32, now, events);
        } else {
            self.finish_step(now, (now - work.start).as_secs_f64(), events);
        }
        self.drop_aborted();
        self.check_invariants();
        self.schedule(now, perf, events)
    }

    /// Gauges and counters as of time `t` (which may fall inside a decode run).
    pub fn gauges_at(&self, t: SimTime) -> ReplicaGauges {
        let mut g = ReplicaGauges {
            running: self.running.len() as u32,
            waiting: self.waiting.len() as u32,
            kv_blocks_used: self.usable_blocks - self.free_blocks,
            kv_usage: 0.0,
            generation_tokens_total: self.generation_tokens_total,
            prompt_tokens_total: self.prompt_tokens_total,
            preemptions_total: self.preemptions_total,
            recomputed_tokens_total: self.recomputed_tokens_total,
            steps_total: self.steps_total,
            busy_ns_total: self.busy_ns_total,
        };
        if let Some(work) = &self.work {
            let clamp_t = t.max(work.start);
            g.busy_ns_total += clamp_t
                .min(work.end())
                .saturating_since(work.start)
                .as_nanos();
            let done = work.steps_done_by(clamp_t);
            g.steps_total += done;
            if work.is_run && done > 0 {
                // Blocks cover the step in flight (step done+1), as they do between the events
                // of step-by-step simulation; step 1 was allocated when the run was planned.
                let in_flight = (done + 1).min(work.steps) as u32;
                g.kv_blocks_used += self.run_extra_blocks(in_flight);
                g.generation_tokens_total += done * u64::from(work.batch);
            }
        }
        g.kv_usage = f64::from(g.kv_blocks_used) / f64::from(self.usable_blocks);
        g
    }

    /// The inter-token latency histogram as of time `t` (which may fall inside a decode run).
    pub fn itl_histogram_at(&self, t: SimTime) -> Histogram {
        let mut h = self.itl.clone();
        if let Some(work) = self.work.as_ref().filter(|w| w.is_run) {
            observe_run_itl(&mut h, work, work.steps_done_by(t.max(work.start)));
        }
        h
    }

    /// Every output token's gap to its request's previous token as of time `t` (which may
    /// fall inside a decode run).
    pub fn token_gaps_at(&self, t: SimTime) -> TokenGaps {
        let mut h = self.token_gaps.clone();
        if let Some(work) = self.work.as_ref().filter(|w| w.is_run) {
            observe_run_gaps(&mut h, work, work.steps_done_by(t.max(work.start)));
        }
        h
    }

    /// Panics if an engine invariant is broken (KV over capacity, sequence cap exceeded).
    pub fn check_invariants(&self) {
        let held: u64 = self.running.iter().map(|s| u64::from(s.blocks)).sum();
        assert_eq!(
            held + u64::from(self.free_blocks),
            u64::from(self.usable_blocks),
            "KV blocks leaked"
        );
        assert!(self.free_blocks <= self.usable_blocks, "KV over capacity");
        assert!(
            self.running.len() <= self.cfg.max_num_seqs as usize,
            "max_num_seqs exceeded"
        );
        // A waiting request holds no blocks and no computed tokens. Checked here at the head
        // and in `schedule` as each one leaves the queue: scanning a queue of millions at
        // every step made an overloaded run quadratic.
        assert!(self.waiting.front().is_none_or(Seq::is_pristine));
    }

    fn blocks_for(&self, tokens: u32) -> u32 {
        tokens.div_ceil(self.cfg.block_size_tokens)
    }

    /// Cuts a decode run at the first step boundary at or after `now`.
    fn cut_run(&mut self, now: SimTime) -> Option<Wake> {
        let work = self.work.as_mut()?;
        if !work.is_run {
            return None;
        }
        let j = work.first_step_ending_at_or_after(now);
        if j >= work.steps {
            return None;
        }
        work.truncate(j);
        self.generation += 1;
        Some(Wake {
            at: work.end(),
            generation: self.generation,
        })
    }

    fn finish_step(&mut self, now: SimTime, duration_s: f64, events: &mut Vec<ReplicaEvent>) {
        // Tokens of a step mostly share one gap (the step): record them as one batch.
        let mut gaps = (SimDuration::ZERO, 0u64);
        let mut i = 0;
        while i < self.running.len() {
            let seq = &mut self.running[i];
            let n = std::mem::take(&mut seq.step_tokens);
            if n == 0 {
                i += 1;
                continue;
            }
            seq.computed += n;
            debug_assert!(seq.computed <= seq.num_tokens());
            if seq.computed < seq.num_tokens() {
                i += 1;
                continue;
            }
            if seq.generated == 0 {
                self.prompt_tokens_total += u64::from(seq.prompt_tokens);
            }
            seq.generated += 1;
            self.generation_tokens_total += 1;
            if seq.generated > 1 {
                self.itl.observe(duration_s);
                let gap = now.saturating_since(seq.last_token_at);
                if gap != gaps.0 && gaps.1 > 0 {
                    self.token_gaps.observe_n(gaps.0.as_secs_f64(), gaps.1);
                    gaps.1 = 0;
                }
                gaps = (gap, gaps.1 + 1);
            }
            seq.last_token_at = now;
            if seq.generated == 1 && !seq.aborted {
                events.push(ReplicaEvent::FirstToken {
                    id: seq.id,
                    at: now,
                });
            }
            if seq.generated >= seq.output_tokens {
                self.retire_finished(i, now, events);
                continue;
            }
            i += 1;
        }
        self.token_gaps.observe_n(gaps.0.as_secs_f64(), gaps.1);
    }

    fn finish_run(&mut self, steps: u32, now: SimTime, events: &mut Vec<ReplicaEvent>) {
        let bs = self.cfg.block_size_tokens;
        let mut i = 0;
        while i < self.running.len() {
            let seq = &mut self.running[i];
            seq.step_tokens = 0;
            seq.computed += steps;
            seq.generated += steps;
            seq.last_token_at = now;
            let need = seq.computed.div_ceil(bs);
            if need > seq.blocks {
                self.free_blocks -= need - seq.blocks;
                seq.blocks = need;
            }
            self.generation_tokens_total += u64::from(steps);
            debug_assert_eq!(seq.computed + 1, seq.num_tokens());
            if seq.generated >= seq.output_tokens {
                self.retire_finished(i, now, events);
                continue;
            }
            i += 1;
        }
    }

    /// Removes the finished request at `running[i]`, frees its blocks and reports it.
    fn retire_finished(&mut self, i: usize, now: SimTime, events: &mut Vec<ReplicaEvent>) {
        let seq = self.running.remove(i);
        self.free_blocks += seq.blocks;
        if !seq.aborted {
            events.push(ReplicaEvent::Finished {
                id: seq.id,
                at: now,
                preemptions: seq.preemptions,
            });
        }
    }

    fn drop_aborted(&mut self) {
        let mut i = 0;
        while i < self.running.len() {
            if self.running[i].aborted {
                let seq = self.running.remove(i);
                self.free_blocks += seq.blocks;
            } else {
                i += 1;
            }
        }
    }

    /// Blocks a decode run allocates beyond step 1 after `done` completed steps (allocation
    /// for step j happens when step j is scheduled, so after `done` steps the blocks cover
    /// `computed + done` tokens).
    fn run_extra_blocks(&self, done: u32) -> u32 {
        let bs = self.cfg.block_size_tokens;
        self.running
            .iter()
            .map(|s| (s.computed + done).div_ceil(bs).saturating_sub(s.blocks))
            .sum()
    }

    /// Builds the next step at `now` (vLLM's `schedule()`), starts it, and returns its wake-up.
    fn schedule(
        &mut self,
        now: SimTime,
        perf: &StepTimeModel,
        events: &mut Vec<ReplicaEvent>,
    ) -> Option<Wake> {
        debug_assert!(self.work.is_none());
        let mut budget = self.cfg.max_num_batched_tokens;
        let mut shape = StepShape::default();
        let mut preempted = false;
        let mut all_decode = true;
        let mut i = 0;
        // 1. RUNNING requests, in admission order.
        while i < self.running.len() && budget > 0 {
            let seq = &self.running[i];
            let n = (seq.num_tokens() - seq.computed).min(budget);
            debug_assert!(n > 0);
            let target_blocks = self.blocks_for(seq.computed + n);
            let need = target_blocks.saturating_sub(seq.blocks);
            let mut self_preempted = false;
            while need > self.free_blocks {
                let victim_is_self = self.running.len() == i + 1;
                self.preempt_last();
                preempted = true;
                if victim_is_self {
                    self_preempted = true;
                    break;
                }
            }
            if self_preempted {
                break;
            }
            let seq = &mut self.running[i];
            self.free_blocks -= need;
            seq.blocks += need;
            seq.step_tokens = n;
            budget -= n;
            let samples = seq.computed + n == seq.num_tokens();
            // A one-token final prefill chunk also looks like a decode, but it emits the
            // first token, which only the single-step path reports.
            all_decode &= n == 1 && samples && seq.generated > 0;
            perf.add(&mut shape, n, seq.computed, samples);
            i += 1;
        }
        let all_running_scheduled = i == self.running.len();
        for seq in &mut self.running[i..] {
            seq.step_tokens = 0;
        }
        // 2. WAITING requests, FCFS, only when nothing was preempted in this step.
        let mut admitted = false;
        if !preempted {
            while let Some(head) = self.waiting.front() {
                if self.running.len() >= self.cfg.max_num_seqs as usize || budget == 0 {
                    break;
                }
                let n = head.num_tokens().min(budget);
                let need = self.blocks_for(n);
                if need > self.free_blocks {
                    break;
                }
                let mut seq = self.waiting.pop_front().expect("head exists");
                assert!(seq.is_pristine(), "a waiting request held KV state");
                self.free_blocks -= need;
                seq.blocks = need;
                seq.step_tokens = n;
                budget -= n;
                let samples = n == seq.num_tokens();
                perf.add(&mut shape, n, 0, samples);
                if !seq.scheduled_once {
                    seq.scheduled_once = true;
                    events.push(ReplicaEvent::Scheduled {
                        id: seq.id,
                        at: now,
                    });
                }
                self.running.push(seq);
                admitted = true;
            }
        }
        if shape.num_tokens == 0 {
            return None;
        }
        let can_run = self.cfg.fuse_decode_steps
            && all_decode
            && all_running_scheduled
            && !admitted
            && !preempted
            && self.waiting_stays_blocked(budget);
        let work = if can_run {
            self.plan_run(now, perf)
        } else {
            // A decode-only step takes the same integer time as the same step inside a run.
            let single_ns = if shape.decode_seqs == shape.num_seqs {
                let ctx = shape.decode_kv_tokens - u64::from(shape.decode_seqs);
                DecodeFx::new(perf, shape.decode_seqs).step_ns(ctx)
            } else {
                SimDuration::from_secs_f64(perf.step_time_s(&shape)).as_nanos()
            };
            Work {
                start: now,
                steps: 1,
                a_s: 0.0,
                b_s: 0.0,
                c0_tokens: 0.0,
                batch: 0,
                fx_first: 0,
                fx_step: 0,
                end_ns: single_ns,
                single_ns,
                is_run: false,
            }
        };
        self.work = Some(work);
        self.generation += 1;
        Some(Wake {
            at: work.end(),
            generation: self.generation,
        })
    }

    /// True when the head of WAITING cannot be admitted in any step of a decode run that
    /// leaves `budget` tokens after the decodes. Free blocks only shrink during a run, so a
    /// head that does not fit now will not fit later in the run.
    fn waiting_stays_blocked(&self, budget: u32) -> bool {
        let Some(head) = self.waiting.front() else {
            return true;
        };
        if self.running.len() >= self.cfg.max_num_seqs as usize || budget == 0 {
            return true;
        }
        self.blocks_for(head.num_tokens().min(budget)) > self.free_blocks
    }

    /// Plans a run of decode steps over the whole RUNNING list, starting with the step whose
    /// blocks were just allocated.
    fn plan_run(&self, now: SimTime, perf: &StepTimeModel) -> Work {
        let batch = self.running.len() as u32;
        let steps_to_finish = self
            .running
            .iter()
            .map(|s| s.output_tokens - s.generated)
            .min()
            .expect("non-empty batch");
        let steps = self.kv_limited_steps(steps_to_finish);
        let c0: u64 = self.running.iter().map(|s| u64::from(s.computed)).sum();
        let (a_s, b_s) = perf.decode_affine(batch);
        let fx = DecodeFx::new(perf, batch);
        let mut work = Work {
            start: now,
            steps: 0,
            a_s,
            b_s,
            c0_tokens: c0 as f64,
            batch,
            fx_first: fx.b.saturating_mul(c0).saturating_add(fx.a),
            fx_step: fx.b.saturating_mul(u64::from(batch)),
            end_ns: 0,
            single_ns: 0,
            is_run: true,
        };
        work.truncate(u64::from(steps));
        work
    }

    /// The most steps (at most `max_steps`) whose block allocations all succeed. Step 1 is
    /// already allocated.
    fn kv_limited_steps(&self, max_steps: u32) -> u32 {
        if max_steps <= 1 {
            return max_steps.max(1);
        }
        // Upper bound on new blocks over the whole run: each sequence crosses at most
        // ceil(max_steps / bs) block boundaries.
        let bs = self.cfg.block_size_tokens;
        let bound = u64::from(max_steps.div_ceil(bs)) * self.running.len() as u64;
        if bound <= u64::from(self.free_blocks) {
            return max_steps;
        }
        // Steps 1..=j need blocks for computed + j tokens (allocated when scheduled).
        let fits = |j: u32| self.run_extra_blocks(j) <= self.free_blocks;
        let (mut lo, mut hi) = (1u32, max_steps);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if fits(mid) { lo = mid } else { hi = mid - 1 }
        }
        lo
    }

    fn preempt_last(&mut self) {
        let mut victim = self
            .running
            .pop()
            .expect("preemption needs a running request");
        self.free_blocks += victim.blocks;
        victim.blocks = 0;
        self.recomputed_tokens_total += u64::from(victim.computed);
        victim.computed = 0;
        victim.step_tokens = 0;
        victim.preemptions += 1;
        self.preemptions_total += 1;
        self.waiting.push_front(victim);
    }
}

/// Records the inter-token latencies of the first `steps` steps of a decode run: step j lasts
/// `a + b * (c0 + (j-1) * batch)` and every request in the batch emits one token.
fn observe_run_itl(h: &mut Histogram, work: &Work, steps: u64) {
    let first = work.a_s + work.b_s * work.c0_tokens;
    let step = work.b_s * f64::from(work.batch);
    h.observe_arithmetic(first, step, steps, u64::from(work.batch));
}

/// As [`observe_run_itl`], into the fine histogram: steps of a run follow one another, so a
/// token's gap is its step's duration.
fn observe_run_gaps(h: &mut TokenGaps, work: &Work, steps: u64) {
    let first = work.a_s + work.b_s * work.c0_tokens;
    let step = work.b_s * f64::from(work.batch);
    h.observe_arithmetic(first, step, steps, u64::from(work.batch));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_sum_matches_the_plain_sum() {
        for (n, m, a, b) in [
            (0_u64, 7_u64, 3_u64, 5_u64),
            (1, 7, 3, 5),
            (10, 7, 3, 5),
            (1000, DECODE_FX, 123_456_789, 987_654_321),
            (4096, DECODE_FX, 5_000_000_000, 11_000_000_000_000),
            (37, 1, 0, 0),
        ] {
            let plain: u64 = (0..n).map(|i| (a * i + b) / m).sum();
            assert_eq!(floor_sum(n, m, a, b), plain, "n {n} m {m} a {a} b {b}");
        }
    }

    #[test]
    fn a_run_ends_where_its_single_steps_would() {
        let catalog = crate::catalog::Catalog::builtin();
        let perf = StepTimeModel::new(
            catalog.gpu("A100-80GB").expect("gpu"),
            catalog.model("Llama-3-8B").expect("model"),
            1,
        )
        .expect("model");
        for (batch, c0) in [(1_u32, 0_u64), (1, 1234), (7, 10_000), (64, 300_000)] {
            let fx = DecodeFx::new(&perf, batch);
            let mut work = Work {
                start: SimTime::ZERO,
                steps: 0,
                a_s: 0.0,
                b_s: 0.0,
                c0_tokens: c0 as f64,
                batch,
                fx_first: fx.a + fx.b * c0,
                fx_step: fx.b * u64::from(batch),
                end_ns: 0,
                single_ns: 0,
                is_run: true,
            };
            work.truncate(500);
            let mut end_ns = 0;
            for j in 0..500_u64 {
                end_ns += fx.step_ns(c0 + j * u64::from(batch));
                assert_eq!(work.elapsed_ns(j + 1), end_ns, "batch {batch} step {j}");
            }
            // Within a nanosecond of the step-time model, per step.
            let direct = perf.step_time_s(&crate::perf::StepShape::decode(batch, c0)) * 1e9;
            assert!(
                (fx.step_ns(c0) as f64 - direct).abs() <= 0.5 + 1e-6,
                "{direct}"
            );
        }
    }
}
