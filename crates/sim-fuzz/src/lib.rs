//! A deterministic mutation fuzzer for `sim`'s inputs: the scenario, sweep, explain and trace
//! parsers, and the whole `sim run` path (load, simulate, write outputs).
//!
//! Key items: [`Corpus`] (the repository's own files, the seeds), [`Rng`] (case `i` of a
//! target and seed is always the same input), [`mutate`](mutate::mutate) (byte and TOML-aware
//! mutations), [`Target`] and [`execute`](target::execute) (one case in-process, panics
//! caught). The binary (`src/main.rs`) runs batches of cases in child processes under a 2 GB
//! address-space limit and a per-case wall-time limit, so aborts, memory and hangs are caught
//! too. See `docs/fuzz.md`.
//!
//! Why not cargo-fuzz: it needs a nightly toolchain; a mutation harness on stable runs in CI.

pub mod corpus;
pub mod mutate;
pub mod rng;
pub mod target;

pub use corpus::{Corpus, MemFiles};
pub use rng::Rng;
pub use target::{Canary, Case, Outcome, Target, execute, make_case};
