//! Requests and traces: trace readers, trace transforms and synthetic generators.
//!
//! What it is for: the engine consumes a [`RequestStream`], a lazy iterator of [`Request`]s in
//! non-decreasing arrival order with ids `0, 1, 2, ...`. Streams come from a recorded trace
//! ([`read_trace`] over any `BufRead`, in one of the [`TraceFormat`]s), from a synthetic
//! [`SyntheticSpec`] ([`synthetic`], with [`azure_conv_like`] as the built-in default), and can
//! be windowed, shifted and rate-scaled with [`transform`]. [`fit_trace`] derives a synthetic
//! look-alike of a trace (rate profile, detrended gap CV, length quantile tables).
//! A closed loop of users ([`ClosedLoop`], from a [`ClientSpec`]) is the other kind of
//! [`Workload`]: its arrivals depend on when earlier requests finish, so the engine drives it.
//!
//! Main design decision: everything is a stream. Readers parse one line at a time and never
//! hold the whole trace, so a week-long trace costs the same memory as a minute. Synthetic
//! arrivals use time rescaling (a unit-rate renewal process mapped through the inverse of the
//! cumulative rate), so every rate profile shares one generator and one random stream, and
//! prompt and output lengths draw from their own streams (common random numbers across
//! sweep points). Rate scaling is deterministic (an integer Bresenham accumulator), so a
//! scaled trace needs no randomness at all.
//!
//! What it deliberately does not do: no file IO (callers pass readers), no tokenization or
//! prompt text, no multi-turn sessions yet (a closed-loop user's requests are independent;
//! [`ClosedLoop::next_request`] receives the previous one so that a session can extend it),
//! no prefix-cache structure (Mooncake `hash_ids` are ignored), and no reordering: a trace whose timestamps go backwards is an error, not something to sort.

mod azure_conv_like;
mod clients;
mod error;
mod fit;
mod rate;
mod read;
mod synthetic;
mod transform;

pub use azure_conv_like::azure_conv_like;
pub use clients::{
    ClientLengths, ClientSpec, ClosedLoop, MAX_THINK_TIME_CV, MAX_USERS, NextRequest, Previous,
    Workload,
};
pub use error::TraceError;
pub use fit::{TraceFit, fit_trace, percentile, quantile_table};
pub use read::{
    MAX_TRACE_BYTES, MAX_TRACE_LINE_BYTES, TraceFormat, TraceScan, read_trace, scan_trace,
    write_generic_csv,
};
pub use synthetic::{LengthDist, RateProfile, SyntheticSpec, synthetic};
pub use transform::{Transform, transform};

use sim_des::SimTime;

/// One inference request as the engine sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// Position in the stream, starting at 0.
    pub id: u64,
    /// When the request reaches the gateway.
    pub arrival: SimTime,
    /// Input (prefill) tokens.
    pub prompt_tokens: u32,
    /// Output (decode) tokens the request is forced to produce.
    pub output_tokens: u32,
}

/// A lazy stream of requests. The first error ends the stream.
pub type RequestStream<'a> = Box<dyn Iterator<Item = Result<Request, TraceError>> + 'a>;

/// Collects the prompt and output lengths of a stream, for [`LengthDist::Empirical`].
///
/// Stops at the first error. An empty stream is an error, because an empirical
/// distribution needs at least one sample.
pub fn empirical_lengths<I>(stream: I) -> Result<(Vec<u32>, Vec<u32>), TraceError>
where
    I: IntoIterator<Item = Result<Request, TraceError>>,
{
    let mut prompts = Vec::new();
    let mut outputs = Vec::new();
    for request in stream {
        let request = request?;
        prompts.push(request.prompt_tokens);
        outputs.push(request.output_tokens);
    }
    if prompts.is_empty() {
        return Err(TraceError::Empty);
    }
    Ok((prompts, outputs))
}
