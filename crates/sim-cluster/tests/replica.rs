//! The vLLM engine model driven on its own: scheduler rules (chunked prefill, sequence cap,
//! preemption by recompute), KV accounting, and the fused decode path against step-by-step.

use sim_cluster::catalog::Catalog;
use sim_cluster::perf::StepTimeModel;
use sim_cluster::replica::{EngineConfig, Replica, ReplicaEvent, ReplicaRequest};
use sim_des::{EventQueue, SimDuration, SimTime};

#[derive(Clone, Copy, Debug, PartialEq)]
struct Outcome {
    first_token: SimTime,
    finished: SimTime,
    preemptions: u32,
}

struct Run {
    outcomes: Vec<Option<Outcome>>,
    steps: u64,
    preemptions: u64,
    max_kv_blocks_used: u32,
    events: u64,
}

fn perf() -> StepTimeModel {
    let cat = Catalog::builtin();
    StepTimeModel::new(
        cat.gpu("H100-SXM").unwrap(),
        cat.model("Mistral-7B").unwrap(),
        1,
    )
    .unwrap()
}

fn config(num_gpu_blocks: u32, fuse: bool) -> EngineConfig {
    EngineConfig {
        max_num_seqs: 64,
        max_num_batched_tokens: 2048,
        block_size_tokens: 16,
        num_gpu_blocks,
        max_model_len: 8192,
        fuse_decode_steps: fuse,
    }
}

enum Ev {
    Arrive(usize),
    Step(u64),
}

/// Drives one replica through `arrivals` (time, prompt, output) and checks invariants after
/// every event.
fn drive(cfg: EngineConfig, arrivals: &[(f64, u32, u32)]) -> Run {
    let perf = perf();
    let mut r = Replica::new(cfg.clone());
    let mut q = EventQueue::default();
    for (i, a) in arrivals.iter().enumerate() {
        q.push(SimTime::from_secs_f64(a.0), Ev::Arrive(i));
    }
    let mut firsts = vec![None; arrivals.len()];
    let mut outcomes = vec![None; arrivals.len()];
    let mut evs = Vec::new();
    let mut max_used = 0;
    let mut events = 0;
    while let Some((t, ev)) = q.pop() {
        events += 1;
        let wake = match ev {
            Ev::Arrive(i) => {
                let (_, prompt_tokens, output_tokens) = arrivals[i];
                r.enqueue(
                    ReplicaRequest {
                        id: i as u64,
                        prompt_tokens,
                        output_tokens,
                    },
                    t,
                    &perf,
                    &mut evs,
                )
            }
            Ev::Step(g) => r.on_step_end(t, g, &perf, &mut evs),
        };
        if let Some(w) = wake {
            q.push(w.at, Ev::Step(w.generation));
        }
        r.check_invariants();
        let g = r.gauges_at(t);
        assert!(g.kv_blocks_used < cfg.num_gpu_blocks, "KV over capacity");
        max_used = max_used.max(g.kv_blocks_used);
        for e in evs.drain(..) {
            match e {
                ReplicaEvent::Scheduled { .. } => {}
                ReplicaEvent::FirstToken { id, at } => firsts[id as usize] = Some(at),
                ReplicaEvent::Finished {
                    id,
                    at,
                    preemptions,
                } => {
                    outcomes[id as usize] = Some(Outcome {
                        first_token: firsts[id as usize].expect("first token first"),
                        finished: at,
                        preemptions,
                    })
                }
            }
        }
    }
    assert!(r.is_empty());
    let g = r.gauges_at(SimTime::MAX);
    assert_eq!(g.kv_blocks_used, 0, "blocks leaked");
    Run {
        outcomes,
        steps: g.steps_total,
        preemptions: g.preemptions_total,
        max_kv_blocks_used: max_used,
        events,
    }
}

/// A reproducible pseudo-random workload (no RNG crate needed for a fixture).
fn workload(n: usize, rate_rps: f64, seed: u64) -> Vec<(f64, u32, u32)> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) as f64 / (1u64 << 31) as f64
    };
    let mut t = 0.0;
    (0..n)
        .map(|_| {
            t += -next().max(1e-12).ln() / rate_rps;
            let prompt = 50 + (next() * 3000.0) as u32;
            let output = 5 + (next() * 400.0) as u32;
            (t, prompt, output)
        })
        .collect()
}

#[test]
fn a_lone_request_takes_one_prefill_step_then_one_step_per_token() {
    let run = drive(config(10_000, false), &[(0.0, 1000, 50)]);
    let o = run.outcomes[0].unwrap();
    assert_eq!(
        run.steps, 50,
        "1 prefill step that samples token 1, then 49 decode steps"
    );
    assert_eq!(run.preemptions, 0);
    let perf = perf();
    let mut shape = sim_cluster::perf::StepShape::default();
    perf.add(&mut shape, 1000, 0, true);
    let prefill = SimDuration::from_secs_f64(perf.step_time_s(&shape));
    assert_eq!(o.first_token, SimTime::ZERO + prefill);
    // The fused path gives the same answer to within rounding.
    let fused = drive(config(10_000, true), &[(0.0, 1000, 50)]);
    let f = fused.outcomes[0].unwrap();
    assert_eq!(f.first_token, o.first_token);
    assert_eq!(f.finished, o.finished, "{f:?} vs {o:?}");
    assert!(
        fused.events < run.events / 5,
        "fused {} events vs {}",
        fused.events,
        run.events
    );
}

#[test]
fn long_prompts_are_chunked_by_the_token_budget() {
    // 5000 prompt tokens with a 2048 budget: chunks of 2048, 2048, 904; the first token
    // comes with the third chunk.
    let run = drive(config(10_000, false), &[(0.0, 5000, 2)]);
    assert_eq!(run.steps, 4);
    let perf = perf();
    let step = |n: u32, c: u32, samples: bool| {
        let mut s = sim_cluster::perf::StepShape::default();
        perf.add(&mut s, n, c, samples);
        SimDuration::from_secs_f64(perf.step_time_s(&s))
    };
    let expected =
        SimTime::ZERO + step(2048, 0, false) + step(2048, 2048, false) + step(904, 4096, true);
    assert_eq!(run.outcomes[0].unwrap().first_token, expected);
}

#[test]
fn the_sequence_cap_limits_the_running_batch() {
    let mut cfg = config(10_000, true);
    cfg.max_num_seqs = 4;
    let arrivals: Vec<_> = (0..10).map(|i| (0.0, 100, 20 + i)).collect();
    let run = drive(cfg, &arrivals);
    // With 4 seats, the 5th request is scheduled only after one of the first four finishes.
    let first_four_done = run.outcomes[..4]
        .iter()
        .map(|o| o.unwrap().finished)
        .min()
        .unwrap();
    assert!(run.outcomes[4].unwrap().first_token > first_four_done);
}

#[test]
fn a_small_kv_cache_forces_preemption_but_never_overflows() {
    // 200 blocks = 3184 usable tokens: eight requests of 300 + 300 tokens cannot all fit.
    let arrivals: Vec<_> = (0..8).map(|i| (f64::from(i) * 0.001, 300, 300)).collect();
    for fuse in [false, true] {
        let mut cfg = config(200, fuse);
        cfg.max_model_len = 2048;
        let run = drive(cfg, &arrivals);
        assert!(run.preemptions > 0, "expected preemptions");
        assert!(run.max_kv_blocks_used <= 199);
        assert!(
            run.outcomes.iter().all(|o| o.is_some()),
            "every request finishes"
        );
        // The newest requests are the victims.
        let preempted: Vec<u32> = run
            .outcomes
            .iter()
            .map(|o| o.unwrap().preemptions)
            .collect();
        assert_eq!(preempted[0], 0, "{preempted:?}");
        assert!(preempted[7] > 0, "{preempted:?}");
    }
}

#[test]
fn fused_decode_runs_match_step_by_step_on_a_busy_replica() {
    for (seed, blocks) in [(1, 10_000), (2, 10_000), (3, 600)] {
        let arrivals = workload(400, 6.0, seed);
        let mut cfg_a = config(blocks, false);
        let mut cfg_b = config(blocks, true);
        cfg_a.max_model_len = 4096;
        cfg_b.max_model_len = 4096;
        let a = drive(cfg_a, &arrivals);
        let b = drive(cfg_b, &arrivals);
        assert_eq!(a.steps, b.steps, "seed {seed}: same number of engine steps");
        assert_eq!(a.preemptions, b.preemptions, "seed {seed}");
        let mut worst_ns = 0;
        for (x, y) in a.outcomes.iter().zip(&b.outcomes) {
            let (x, y) = (x.unwrap(), y.unwrap());
            assert_eq!(x.preemptions, y.preemptions);
            worst_ns = worst_ns.max(x.finished.as_nanos().abs_diff(y.finished.as_nanos()));
            worst_ns = worst_ns.max(x.first_token.as_nanos().abs_diff(y.first_token.as_nanos()));
        }
        // Rounding to whole nanoseconds per step versus per run: microseconds at most.
        assert!(
            worst_ns < 20_000,
            "seed {seed}: worst difference {worst_ns} ns"
        );
        assert!(
            b.events * 3 < a.events,
            "seed {seed}: fused {} vs step-by-step {}",
            b.events,
            a.events
        );
    }
}

#[test]
fn gauges_inside_a_fused_run_match_step_by_step() {
    let arrivals: Vec<_> = (0..6).map(|i| (0.0, 200 + 10 * i, 400)).collect();
    let probe_times: Vec<SimTime> = (1..40)
        .map(|i| SimTime::from_secs_f64(0.05 * f64::from(i)))
        .collect();
    let sample = |fuse: bool| {
        let perf = perf();
        let mut r = Replica::new(config(10_000, fuse));
        let mut evs = Vec::new();
        let mut q = EventQueue::default();
        for (i, a) in arrivals.iter().enumerate() {
            let w = r.enqueue(
                ReplicaRequest {
                    id: i as u64,
                    prompt_tokens: a.1,
                    output_tokens: a.2,
                },
                SimTime::ZERO,
                &perf,
                &mut evs,
            );
            if let Some(w) = w {
                q.push(w.at, w.generation);
            }
        }
        let mut out = Vec::new();
        let mut probes = probe_times.iter().peekable();
        while let Some(&&p) = probes.peek() {
            if q.peek_time().is_some_and(|t| t <= p) {
                let (t, g) = q.pop().unwrap();
                if let Some(w) = r.on_step_end(t, g, &perf, &mut evs) {
                    q.push(w.at, w.generation);
                }
            } else {
                let g = r.gauges_at(p);
                out.push((
                    g.running,
                    g.kv_blocks_used,
                    g.generation_tokens_total,
                    g.steps_total,
                    r.itl_histogram_at(p).counts().to_vec(),
                ));
                probes.next();
            }
        }
        out
    };
    assert_eq!(sample(true), sample(false));
}
