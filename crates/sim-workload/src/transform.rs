//! Windowing, shifting and deterministic rate scaling of a request stream.

use sim_des::SimTime;

use crate::{Request, RequestStream, TraceError};

/// Fixed-point denominator of the rate-scale accumulator: scales are exact to 1e-9.
const SCALE_ONE: u64 = 1_000_000_000;

/// What [`transform`] does to a stream, applied in field order.
#[derive(Clone, Debug, PartialEq)]
pub struct Transform {
    /// Drop arrivals before this time, and rebase the rest so that it becomes 0.
    pub window_start_s: f64,
    /// Keep only arrivals before `window_start_s + window_duration_s` (all when `None`).
    pub window_duration_s: Option<f64>,
    /// Then add this to every arrival.
    pub offset_s: f64,
    /// Then multiply the number of requests by this over the same time span (2 doubles the
    /// rate, 0.5 halves it); time is not compressed.
    pub rate_scale: f64,
}

impl Default for Transform {
    /// The identity: the whole stream, unshifted, at its own rate.
    fn default() -> Transform {
        Transform {
            window_start_s: 0.0,
            window_duration_s: None,
            offset_s: 0.0,
            rate_scale: 1.0,
        }
    }
}

impl Transform {
    /// Checks that the window, offset and scale make sense.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.window_start_s.is_finite() && self.window_start_s >= 0.0) {
            return Err(format!(
                "window_start_s must be a non-negative number, got {}",
                self.window_start_s
            ));
        }
        if let Some(d) = self.window_duration_s
            && !(d.is_finite() && d > 0.0)
        {
            return Err(format!(
                "window_duration_s must be a positive number, got {d}"
            ));
        }
        if !(self.offset_s.is_finite() && self.offset_s >= 0.0) {
            return Err(format!(
                "offset_s must be a non-negative number, got {}",
                self.offset_s
            ));
        }
        let k = self.rate_scale;
        if !(k.is_finite() && k > 0.0) {
            return Err(format!("rate_scale must be a positive number, got {k}"));
        }
        if !(1e-9..=1e6).contains(&k) {
            return Err(format!("rate_scale must be between 1e-9 and 1e6, got {k}"));
        }
        Ok(())
    }
}

impl Transform {
    /// `rate_scale` in the accumulator's fixed point.
    pub(crate) fn scale_fixed(&self) -> u64 {
        (self.rate_scale * SCALE_ONE as f64).round() as u64
    }

    /// How many requests `n` original ones become after rate scaling (the accumulator's
    /// exact count).
    pub fn scaled_count(&self, n: u64) -> u64 {
        (u128::from(n) * u128::from(self.scale_fixed()) / u128::from(SCALE_ONE))
            .try_into()
            .unwrap_or(u64::MAX)
    }
}

/// Where an original arrival lands after the window and the offset.
pub(crate) enum Placed {
    /// Before the window: dropped.
    Before,
    /// At or after the window's end: this and (arrivals being sorted) every later one dropped.
    After,
    /// Kept, at this time.
    At(SimTime),
}

/// The window and offset of a [`Transform`] in nanoseconds.
pub(crate) struct Window {
    start_ns: u64,
    end_ns: Option<u64>,
    offset_ns: u64,
}

impl Window {
    pub(crate) fn new(t: &Transform) -> Window {
        let start_ns = SimTime::from_secs_f64(t.window_start_s).as_nanos();
        Window {
            start_ns,
            end_ns: t
                .window_duration_s
                .map(|d| start_ns.saturating_add(SimTime::from_secs_f64(d).as_nanos())),
            offset_ns: SimTime::from_secs_f64(t.offset_s).as_nanos(),
        }
    }

    pub(crate) fn place(&self, arrival: SimTime) -> Placed {
        let ns = arrival.as_nanos();
        if ns < self.start_ns {
            Placed::Before
        } else if self.end_ns.is_some_and(|end| ns >= end) {
            Placed::After
        } else {
            Placed::At(SimTime((ns - self.start_ns).saturating_add(self.offset_ns)))
        }
    }
}

/// Applies a [`Transform`] lazily, holding at most one request of lookahead.
///
/// Rate scaling is deterministic. An accumulator gains `rate_scale` per original request;
/// the request becomes `floor(acc)` copies and `acc` keeps the fraction (in fixed point, so
/// nothing drifts). Copy `j` of `c` arrives at `t + j * gap / c`, where `gap` is the time to
/// the next original request (for the last one, the previous gap, or 0 when there is none).
/// Copies keep their token counts, ids are renumbered from 0, and order is preserved.
/// An invalid transform yields one [`TraceError::Invalid`].
pub fn transform<'a>(stream: RequestStream<'a>, t: &Transform) -> RequestStream<'a> {
    if let Err(msg) = t.validate() {
        return Box::new(std::iter::once(Err(TraceError::Invalid(msg))));
    }
    Box::new(Transformed {
        inner: stream,
        window: Window::new(t),
        scale: t.scale_fixed(),
        acc: 0,
        inner_done: false,
        lookahead: None,
        pending_error: None,
        prev_gap_ns: 0,
        expanding: None,
        next_id: 0,
        finished: false,
    })
}

struct Expansion {
    base: Request,
    copies: u64,
    next_copy: u64,
    gap_ns: u64,
}

struct Transformed<'a> {
    inner: RequestStream<'a>,
    window: Window,
    scale: u64,
    acc: u64,
    inner_done: bool,
    lookahead: Option<Request>,
    pending_error: Option<TraceError>,
    prev_gap_ns: u64,
    expanding: Option<Expansion>,
    next_id: u64,
    finished: bool,
}

impl Transformed<'_> {
    /// The next request inside the window, rebased and shifted.
    fn pull(&mut self) -> Option<Result<Request, TraceError>> {
        while !self.inner_done {
            match self.inner.next() {
                None => self.inner_done = true,
                Some(Err(e)) => {
                    self.inner_done = true;
                    return Some(Err(e));
                }
                Some(Ok(r)) => match self.window.place(r.arrival) {
                    Placed::Before => {}
                    Placed::After => {
                        self.inner_done = true;
                        return None;
                    }
                    Placed::At(arrival) => return Some(Ok(Request { arrival, ..r })),
                },
            }
        }
        None
    }
}

impl Iterator for Transformed<'_> {
    type Item = Result<Request, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(x) = &mut self.expanding {
                if x.next_copy < x.copies {
                    let delay =
                        u128::from(x.gap_ns) * u128::from(x.next_copy) / u128::from(x.copies);
                    x.next_copy += 1;
                    let id = self.next_id;
                    self.next_id += 1;
                    let arrival = SimTime(x.base.arrival.as_nanos().saturating_add(delay as u64));
                    return Some(Ok(Request {
                        id,
                        arrival,
                        ..x.base
                    }));
                }
                self.expanding = None;
            }
            if self.finished {
                return None;
            }
            let current = match self.lookahead.take() {
                Some(r) => r,
                None => {
                    let next = match self.pending_error.take() {
                        Some(e) => Some(Err(e)),
                        None => self.pull(),
                    };
                    match next {
                        Some(Ok(r)) => r,
                        other => {
                            self.finished = true;
                            return other;
                        }
                    }
                }
            };
            let gap_ns = match self.pull() {
                Some(Ok(next)) => {
                    let gap = next.arrival.saturating_since(current.arrival).as_nanos();
                    self.lookahead = Some(next);
                    gap
                }
                Some(Err(e)) => {
                    self.pending_error = Some(e);
                    self.prev_gap_ns
                }
                None => self.prev_gap_ns,
            };
            self.prev_gap_ns = gap_ns;
            self.acc += self.scale;
            let copies = self.acc / SCALE_ONE;
            self.acc %= SCALE_ONE;
            if copies > 0 {
                self.expanding = Some(Expansion {
                    base: current,
                    copies,
                    next_copy: 0,
                    gap_ns,
                });
            }
        }
    }
}
