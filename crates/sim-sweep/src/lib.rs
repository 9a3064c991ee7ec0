//! Parameter sweeps: many scenarios that differ in a few keys, run in parallel, reduced to
//! per-point statistics, a Pareto front and the cheapest point that meets an SLO.
//!
//! Key items: [`plan`] (a `sweep.toml` → a validated [`Plan`], every point loaded as a
//! scenario), [`Runner`] (runs jobs, one per point × seed, on a rayon pool), [`JobResult`],
//! [`summarize`] → [`PointStats`], [`pareto`], [`best`], the journal ([`journal_line`],
//! [`read_journal`]) and writers for `results.csv`, `points.csv`, `pareto.csv`, `best.toml`
//! and `plan.json`.
//!
//! Main design decision: a point is the base scenario's TOML document with overrides applied
//! by dotted key path, re-serialised and loaded by `sim_scenario::load`. A point is thus
//! exactly a scenario file: the same checks, the same defaults, and `best.toml` runs with
//! `sim run`. Errors in a point are traced back to the axis that set the offending key and
//! reported at that axis' line and column in the sweep file. Replication `r` uses the same
//! seed at every point, so the engine's named random streams give every point the same
//! arrivals and cold-start draws (common random numbers). Results are collected and reduced
//! in job order, so the files are byte-identical for any thread count or shard split.
//!
//! What it deliberately does not do: open files, read the environment or show progress. The
//! CLI reads the sweep, base and trace files, owns the output directory (atomic writes,
//! resume, shards, merge) and draws the progress bar through the callback of
//! [`Runner::run_jobs`].

mod doc;
mod error;
mod output;
mod plan;
mod report;
mod run;
mod stats;
mod wire;

pub use error::SweepError;
pub use output::{
    Journal, Manifest, best_toml, journal_line, read_journal, shard_jobs, write_pareto_csv,
    write_points_csv, write_results_csv,
};
pub use plan::{
    Check, FORMAT_VERSION, MAX_JOBS, MAX_POINTS, PATH_KEYS, Plan, fnv1a64, is_sweep, metric_names,
    plan,
};
pub use report::write_report_html;
pub use run::{JobResult, MAX_HELD_TRACE_REQUESTS, OpenTrace, Runner};
pub use stats::{PointStats, best, nearest_miss, pareto, relative_miss, student_t_975, summarize};
