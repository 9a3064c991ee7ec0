//! Prometheus model: scraped series store and a PromQL-subset evaluator.
//!
//! What it is for: the autoscaling control plane (Prometheus Adapter, KEDA's prometheus
//! scaler) sees the cluster only through Prometheus. This crate is the only one that
//! understands PromQL. The engine scrapes targets into a [`Store`] (see
//! [`Store::ingest_scrape`], [`Store::scrape_failed`], [`Store::mark_target_stale`] and
//! [`scrape_offset`]); the policies [`parse`] their queries once and [`query`] them at each
//! poll; KEDA's rules for turning a result into one number are in
//! [`query_scalar_for_keda`].
//!
//! Key types: [`Labels`] (a sorted label set with `__name__`), [`Store`] (append-only
//! series with staleness markers and a retention bound), [`Exposition`] (what one target
//! exposes), [`Query`] and [`Value`].
//!
//! Main design decision: queries are converted from `promql-parser`'s AST into a small
//! tree of our own at parse time, and every construct we do not implement is rejected
//! there with [`QueryError::Unsupported`]. Evaluation is then a plain recursive walk at
//! one instant, with binary search into each series, and copies Prometheus 3 semantics on
//! purpose: left-open range windows, left-open lookback, staleness markers,
//! `rate`'s extrapolation and counter-reset rules, and classic `histogram_quantile`.
//! Results are sorted by labels so runs are deterministic. See `docs/promql.md`.
//!
//! What it deliberately does not do: range queries (`query_range`), subqueries, `@`,
//! `group_left`/`group_right`, native histograms, string functions such as
//! `label_replace`, recording rules or alerting. Time is simulated ([`sim_des::SimTime`]);
//! there is no IO.

mod eval;
mod exposition;
mod keda;
mod labels;
mod query;
mod store;

#[cfg(test)]
mod promtest;

pub use eval::{QueryOpts, Value, query};
pub use exposition::{ExposedSample, Exposition};
pub use keda::{KedaError, query_scalar_for_keda};
pub use labels::{Labels, LabelsParseError, METRIC_NAME};
pub use query::{Query, QueryError, parse};
pub use store::{Store, StoreError, scrape_offset};
