//! One vLLM engine on its own, fed the first 2,000 requests of the quickstart's synthetic
//! conv-like load (about six minutes of arrivals at the full four-replica rate), with the
//! quickstart's engine settings; fused decode runs against `fuse_decode_steps = false`.
//! Throughput is in requests.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sim_cluster::perf::StepTimeModel;
use sim_cluster::replica::{EngineConfig, Replica, ReplicaEvent, ReplicaRequest};
use sim_des::{EventQueue, SimTime};
use sim_workload::Request;

const REQUESTS: usize = 2_000;

enum Ev {
    Arrive(usize),
    StepEnd(u64),
}

/// What one drive did, so the work cannot be optimised away and the cases can be compared.
struct Drive {
    events: u64,
    finished: u64,
    steps: u64,
}

/// Feeds `requests` to one fresh engine and runs it until it is empty.
fn drive(cfg: &EngineConfig, perf: &StepTimeModel, requests: &[Request]) -> Drive {
    let mut replica = Replica::new(cfg.clone());
    let mut queue = EventQueue::default();
    for (i, r) in requests.iter().enumerate() {
        queue.push(r.arrival, Ev::Arrive(i));
    }
    let mut out = Vec::new();
    let (mut events, mut finished) = (0, 0);
    while let Some((t, ev)) = queue.pop() {
        events += 1;
        let wake = match ev {
            Ev::Arrive(i) => {
                let r = &requests[i];
                let req = ReplicaRequest {
                    id: r.id,
                    prompt_tokens: r.prompt_tokens,
                    output_tokens: r.output_tokens,
                };
                replica.enqueue(req, t, perf, &mut out)
            }
            Ev::StepEnd(generation) => replica.on_step_end(t, generation, perf, &mut out),
        };
        if let Some(w) = wake {
            queue.push(w.at, Ev::StepEnd(w.generation));
        }
        finished += out
            .drain(..)
            .filter(|e| matches!(e, ReplicaEvent::Finished { .. }))
            .count() as u64;
    }
    Drive {
        events,
        finished,
        steps: replica.gauges_at(SimTime::MAX).steps_total,
    }
}

fn replica(c: &mut Criterion) {
    let scenario = common::load("quickstart", |t| t);
    let sim_workload::Workload::Open(stream) = scenario.workload.stream(scenario.seed, None) else {
        panic!("the quickstart is open-loop");
    };
    let requests: Vec<Request> = stream
        .take(REQUESTS)
        .collect::<Result<_, _>>()
        .expect("the synthetic stream does not fail");
    assert_eq!(
        requests.len(),
        REQUESTS,
        "the quickstart has enough requests"
    );
    let perf = &scenario.spec.perf;
    let fused = scenario.spec.engine.clone();
    let stepwise = EngineConfig {
        fuse_decode_steps: false,
        ..fused.clone()
    };
    let (a, b) = (
        drive(&fused, perf, &requests),
        drive(&stepwise, perf, &requests),
    );
    assert_eq!(a.finished, REQUESTS as u64, "every request finishes");
    assert_eq!(a.finished, b.finished);
    assert_eq!(a.steps, b.steps, "both paths take the same engine steps");

    let mut group = c.benchmark_group("replica_2000_requests");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(REQUESTS as u64));
    group.bench_function("fused_decode_runs", |b| {
        b.iter(|| black_box(drive(&fused, perf, &requests)).events)
    });
    group.bench_function("step_by_step", |b| {
        b.iter(|| black_box(drive(&stepwise, perf, &requests)).events)
    });
    group.finish();
}

criterion_group!(benches, replica);
criterion_main!(benches);
