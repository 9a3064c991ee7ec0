//! Criterion benchmarks of the simulator; the code lives under `benches/benches/`.
//!
//! What it is for: measuring how fast the simulator replays traffic, so the numbers in
//! `docs/performance.md` can be reproduced with `cargo bench -p sim-benches`.
//!
//! - `engine`: whole runs (the Azure conv trace at four replicas, the same trace rate-scaled
//!   ×10 at sixteen replicas, the synthetic quickstart, and the conv trace step by step).
//! - `step_time`: the step-time model on a mixed prefill/decode step and its decode affine form.
//! - `replica`: one vLLM engine fed 2,000 requests, with fused decode runs on and off.
//!
//! Main design decision: benches load the shipped scenario files rather than build specs by
//! hand, so they measure what users run. Trace bytes are read into memory once, outside the
//! timed loop, and each iteration streams them from a `Cursor`, so disk speed is not measured.
//!
//! What it deliberately does not do: no performance assertions (targets live in the docs, not
//! in tests) and no benches that need data absent from a fresh checkout: cases that need
//! `../shared/traces` print a note and are skipped when the trace is missing.
