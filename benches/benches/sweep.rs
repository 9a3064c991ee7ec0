//! Sweep throughput: the same plan run on one and on two threads (parallel efficiency is the
//! ratio of the two times divided by two). Cases: 8 points of the synthetic quickstart, and 8
//! points of the seed's KEDA scenario over the conv trace (skipped when ../shared is absent).
//! Throughput is in runs. The 1,000-point measurement is in docs/sweep.md. Also the planning
//! of a 10,000-point grid, the most a plan holds (throughput in points).

use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use sim_scenario::Files;
use sim_sweep::{Plan, Runner};

struct Disk;

impl Files for Disk {
    fn read_to_string(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| e.to_string())
    }
}

fn open_trace(path: &str) -> Result<Box<dyn std::io::BufRead>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    Ok(Box::new(std::io::BufReader::new(file)))
}

/// A sweep file placed in `scenarios/sweeps/` (so `base` resolves like the shipped ones).
fn plan(text: &str) -> Plan {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/sweeps/bench.toml");
    sim_sweep::plan(&file.display().to_string(), text, &Disk, "bench")
        .unwrap_or_else(|e| panic!("{e}"))
}

const QUICKSTART: &str = r#"
base = "../quickstart.toml"
[[axis]]
path = "deployment.replicas"
values = [2, 3, 4, 5]
[[axis]]
path = "routing.policy"
values = ["random", "least-outstanding"]
"#;

const KEDA_CONV: &str = r#"
base = "../seed-keda.toml"
[[axis]]
path = "keda.triggers.0.threshold"
values = [2, 5, 10, 20]
[[axis]]
path = "keda.triggers.1.threshold"
values = [85, 95]
"#;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("sweep");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for (name, text) in [("quickstart_8", QUICKSTART), ("keda_conv_8", KEDA_CONV)] {
        let plan = plan(text);
        let Ok(runner) = Runner::new(&plan, &open_trace) else {
            skip_note(name);
            continue;
        };
        let jobs: Vec<usize> = (0..plan.jobs()).collect();
        g.throughput(Throughput::Elements(jobs.len() as u64));
        for threads in [1, 2] {
            g.bench_function(format!("{name}/jobs_{threads}"), |b| {
                b.iter(|| {
                    let stop = AtomicBool::new(false);
                    black_box(
                        runner
                            .run_jobs(&plan, &jobs, threads, &|_| {}, &stop)
                            .expect("runs"),
                    )
                })
            });
        }
    }
    // Planning the largest plan there is: every point's scenario is loaded and checked.
    // Loading parsed the built-in catalog and compiled the adapter's regexes per point,
    // 4.8 s for this plan; both are now once per process.
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("plan_10000_points", |b| {
        b.iter(|| black_box(plan(PLAN_10000)));
    });
    g.finish();
}

const PLAN_10000: &str = r#"
base = "../quickstart.toml"
[[axis]]
path = "deployment.replicas"
linear = { from = 1, to = 100, steps = 100 }
[[axis]]
path = "engine.max_num_seqs"
linear = { from = 8, to = 800, steps = 100 }
"#;

#[expect(
    clippy::print_stderr,
    reason = "a bench that cannot run says why instead of failing"
)]
fn skip_note(name: &str) {
    eprintln!("skipping {name}: its trace is not readable (../shared is absent)");
}

criterion_group!(benches, bench);
criterion_main!(benches);
