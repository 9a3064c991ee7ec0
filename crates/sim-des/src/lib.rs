//! The simulation kernel: time, events and random streams.
//!
//! What it is for: every other crate measures time in [`SimTime`] (integer nanoseconds),
//! orders work through an [`EventQueue`], and draws randomness from a named stream of
//! [`RngStreams`]. A run is then a pure function of its inputs and one seed.
//!
//! What it deliberately does not do: it knows nothing about Kubernetes, requests or GPUs,
//! and it has no scheduler loop of its own. Callers pop events and dispatch them.
//!
//! # Ordering contract
//! Events pop in increasing time. Events at the same time pop in the order they were
//! pushed (FIFO), because each push takes the next value of a sequence counter and the
//! heap orders by `(time, seq)`. Nothing else breaks ties, so there is no hidden order.
//!
//! # Random streams
//! Each purpose (arrivals, lengths, cold starts, scrape phases, ...) asks for its own stream
//! by name. A stream is a PCG-64 generator whose state comes from the seed and whose stream
//! selector comes from a fixed hash of the name. Adding a new stream never shifts the draws
//! of another, which gives common random numbers across sweep points.

mod queue;
mod rng;
mod time;

pub use queue::EventQueue;
pub use rng::{RngStreams, SimRng, stream_id};
pub use time::{SimDuration, SimTime};
