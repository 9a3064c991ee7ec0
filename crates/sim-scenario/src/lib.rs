//! The scenario file: its TOML schema, validation with positions, and lowering into the
//! engine's validated types.
//!
//! Key items: [`load`] (text → [`Scenario`] or one [`ScenarioError`] naming file:line:col),
//! [`ScenarioFile`] (the format as written, echoed into outputs), [`WorkloadPlan`] (how to
//! build the run's workload: a request stream, or a closed loop of users), [`Files`] (how the CLI hands over the files a scenario names).
//!
//! Design decision: parse, don't validate. Serde checks shapes and rejects unknown keys; a
//! second pass checks meaning (min ≤ max, known GPU and model, a KV cache that holds
//! `max_model_len`, ...) and points at the offending key using a spanned parse of the same
//! text. After [`load`] succeeds the engine cannot fail on input.
//!
//! A trace workload is read once at load ([`Files::scan_trace`]) as the run would replay it, so
//! a bad line, an arrival past the horizon limit or too many requests fail before any run.
//!
//! What it deliberately does not do: open files (the CLI passes a [`Files`] implementation,
//! and opens traces again for the run), or run anything.

mod control;
mod error;
pub mod explain;
mod locate;
mod lower;
pub mod wire;

pub use error::{
    MAX_ECHOED_CHARS, MAX_MESSAGE_CHARS, MAX_TEXT_FILE_BYTES, ScenarioError, bounded_text,
    clip_message, clip_path, line_col, text_from_bytes,
};
pub use locate::Locator;
pub use lower::{
    Files, MAX_TIMELINE_INTERVAL_S, MAX_TIMELINE_ROWS, Resolved, ScanFailure, ScanKey, Scenario,
    WorkloadPlan, load, toml_error, trace_error,
};
pub use wire::ScenarioFile;
