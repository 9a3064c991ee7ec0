//! The step-time model, called once per scheduled step (and once per fused decode run through
//! its affine form), on Mistral-7B on one H100.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use sim_cluster::catalog::Catalog;
use sim_cluster::perf::{StepShape, StepTimeModel};

fn model() -> StepTimeModel {
    let catalog = Catalog::builtin();
    let gpu = catalog.gpu("H100-SXM").expect("built-in GPU");
    let model = catalog.model("Mistral-7B").expect("built-in model");
    StepTimeModel::new(gpu, model, 1).expect("a valid model")
}

/// A mixed step: one 512-token prefill chunk on 1,024 cached tokens and 63 decodes with
/// contexts spread between 200 and 3,300 tokens.
fn mixed_shape(perf: &StepTimeModel) -> StepShape {
    let mut shape = StepShape::new();
    perf.add(&mut shape, 512, 1024, false);
    for i in 0..63 {
        perf.add(&mut shape, 1, 200 + 50 * i, true);
    }
    shape
}

fn step_time(c: &mut Criterion) {
    let perf = model();
    let shape = mixed_shape(&perf);
    let mut group = c.benchmark_group("step_time");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1));
    group.bench_function("step_time_s_mixed", |b| {
        b.iter(|| perf.step_time_s(black_box(&shape)))
    });
    group.bench_function("decode_affine_64", |b| {
        b.iter(|| perf.decode_affine(black_box(64)))
    });
    group.bench_function("step_shape_build_mixed", |b| b.iter(|| mixed_shape(&perf)));
    group.finish();
}

criterion_group!(benches, step_time);
criterion_main!(benches);
