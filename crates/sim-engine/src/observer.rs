//! What a caller sees of a run while it happens: per-request records and progress. The engine
//! does no IO; a caller that writes `requests.csv` or draws a progress bar does it here, so a
//! run holds no record longer than the request table does.

use sim_workload::TraceError;

use crate::report::RequestRecord;

/// [`Observer::progress`] is called at most once every this many events (and once at the
/// end): often enough for a bar to move several times a second, rare enough to cost nothing.
pub const PROGRESS_EVERY_EVENTS: u64 = 1 << 16;

/// How far a run has got. Every field is non-decreasing from one call to the next.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Progress {
    /// Simulated time now.
    pub sim_time_s: f64,
    /// Requests that have arrived so far.
    pub requests_arrived: u64,
    /// Requests completed or failed so far.
    pub requests_resolved: u64,
    /// Events processed so far.
    pub events: u64,
}

/// Receives a run's records and progress as they happen. Both methods default to doing
/// nothing, and `()` observes nothing. An observer cannot change the run, only stop it
/// ([`Observer::stopped`]): the same inputs give the same records and summary whatever
/// observes them.
pub trait Observer {
    /// One request's final record. Each request is reported exactly once, in id order (the
    /// order of arrival): when it and every older request have resolved, and at the end of
    /// the run for the rest (those still in flight as `Outcome::Unfinished`). Holding back
    /// the ones behind an unresolved request costs nothing extra: the request table holds
    /// them anyway.
    fn request(&mut self, _record: &RequestRecord) {}

    /// How far the run has got: at most every [`PROGRESS_EVERY_EVENTS`] events, and once when
    /// the run ends.
    fn progress(&mut self, _progress: &Progress) {}

    /// True once the observer cannot go on (writing `requests.csv` failed on a full disk):
    /// asked every thousand events or so, and the run then stops with [`RunError::Stopped`]
    /// rather than simulating on for records nobody can keep.
    fn stopped(&self) -> bool {
        false
    }
}

/// Why a run ended without a report.
#[derive(Debug)]
pub enum RunError {
    /// The workload yielded an error: a bad trace line, or more requests or a later arrival
    /// than a run simulates (the loader refuses these first; other callers meet them here).
    Workload(TraceError),
    /// The observer stopped the run ([`Observer::stopped`]); it knows why.
    Stopped,
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Workload(e) => e.fmt(f),
            RunError::Stopped => f.write_str("the run was stopped by its observer"),
        }
    }
}

impl std::error::Error for RunError {}

impl From<TraceError> for RunError {
    fn from(e: TraceError) -> RunError {
        RunError::Workload(e)
    }
}

impl Observer for () {}

/// Collects every record, for tests and small runs (memory grows with the run).
impl Observer for Vec<RequestRecord> {
    fn request(&mut self, record: &RequestRecord) {
        self.push(record.clone());
    }
}
