//! The sweep file as written. Every table rejects unknown keys.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A whole `sweep.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SweepFile {
    /// A name for reports (default: the file stem).
    pub(crate) name: Option<String>,
    /// One-line description.
    #[allow(dead_code)]
    pub(crate) description: Option<String>,
    /// A scenario path (relative to the sweep file) or an inline scenario table.
    pub(crate) base: Option<toml::Value>,
    /// The axes, in order: the first varies slowest in a grid.
    #[serde(default, rename = "axis")]
    pub(crate) axes: Vec<AxisTable>,
    /// How points are drawn from the axes.
    pub(crate) sampling: Option<SamplingTable>,
    /// Explicit replication seeds.
    pub(crate) seeds: Option<Vec<u64>>,
    /// Replications with seeds 1..=N.
    pub(crate) replications: Option<u64>,
    /// SLO thresholds; replaces the base scenario's `[slo]` when present.
    pub(crate) slo: Option<BTreeMap<String, f64>>,
    /// The metric to minimise when picking the best point (default `cost_usd`).
    pub(crate) objective: Option<String>,
    /// The latency metric of the Pareto front (default `ttft_s_p99`).
    pub(crate) latency: Option<String>,
}

/// `[[axis]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [[axis]] table")]
pub(crate) struct AxisTable {
    /// Dotted key path into the scenario (`hpa.metrics.0.target_average_value`).
    pub(crate) path: Option<String>,
    /// The name of an axis whose values are tables of keys set together (instead of `path`):
    /// each value maps dotted key paths to values, and `unset = [...]` lists keys to remove.
    pub(crate) name: Option<String>,
    /// Explicit values.
    pub(crate) values: Option<Vec<toml::Value>>,
    /// Evenly spaced values.
    pub(crate) linear: Option<RangeTable>,
    /// Geometrically spaced values.
    pub(crate) log: Option<RangeTable>,
}

/// `linear = { from, to, steps }` and `log = { ... }`
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a range such as { from = 1, to = 8, steps = 8 }"
)]
pub(crate) struct RangeTable {
    pub(crate) from: f64,
    pub(crate) to: f64,
    pub(crate) steps: Option<u32>,
}

/// `[sampling]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "the [sampling] table")]
pub(crate) struct SamplingTable {
    /// `"grid"`, `"random"` or `"lhs"`.
    pub(crate) mode: String,
    /// Points to draw (random and lhs).
    pub(crate) points: Option<u32>,
    /// Seed of the sampler (default 1).
    pub(crate) seed: Option<u64>,
}
