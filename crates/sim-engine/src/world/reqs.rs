//! The table of requests, indexed by id. Resolved requests at the front are dropped (handed to
//! the caller on the way out, in id order), so memory grows with the requests in flight (and
//! the span between the oldest unresolved one and the newest), not with the length of the trace.

use std::collections::VecDeque;

use sim_des::SimTime;

use super::{Req, Status};

/// An optional instant in 8 bytes, where `Option<SimTime>` takes 16: a pile-up of unresolved
/// requests is the largest state a run holds, so a request's size bounds its memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Stamp(u64);

impl Stamp {
    /// Not yet. (`u64::MAX` ns is 584 years, far past any horizon.)
    pub(super) const NONE: Stamp = Stamp(u64::MAX);

    pub(super) fn at(t: SimTime) -> Stamp {
        debug_assert!(t.as_nanos() != u64::MAX);
        Stamp(t.as_nanos())
    }

    pub(super) fn get(self) -> Option<SimTime> {
        (self != Stamp::NONE).then_some(SimTime(self.0))
    }
}

pub(super) struct ReqTable {
    /// Id of `items[0]`.
    base: u64,
    items: VecDeque<Req>,
}

impl ReqTable {
    pub(super) fn new() -> ReqTable {
        ReqTable {
            base: 0,
            items: VecDeque::new(),
        }
    }

    /// Adds a request and returns its id.
    pub(super) fn push(&mut self, r: Req) -> u64 {
        self.items.push_back(r);
        self.base + self.items.len() as u64 - 1
    }

    /// Requests held now: every unresolved one and the resolved ones behind the oldest.
    pub(super) fn held(&self) -> u64 {
        self.items.len() as u64
    }

    /// Requests that ever arrived.
    pub(super) fn arrived(&self) -> u64 {
        self.base + self.items.len() as u64
    }

    /// The request, or `None` when it was resolved and dropped.
    pub(super) fn get(&self, id: u64) -> Option<&Req> {
        id.checked_sub(self.base)
            .and_then(|i| self.items.get(i as usize))
    }

    /// True when the request is still unresolved.
    pub(super) fn in_flight(&self, id: u64) -> bool {
        self.get(id).is_some_and(|r| r.status == Status::InFlight)
    }

    /// The request, which must still be held.
    ///
    /// # Panics
    /// When it was dropped: only resolved requests are, and callers ask for live ones.
    pub(super) fn live(&mut self, id: u64) -> &mut Req {
        let i = id.checked_sub(self.base).expect("request already dropped");
        self.items
            .get_mut(i as usize)
            .expect("request id from the future")
    }

    /// Drops resolved requests from the front, handing each to `out` with its id.
    pub(super) fn retire(&mut self, mut out: impl FnMut(u64, &Req)) {
        while self
            .items
            .front()
            .is_some_and(|r| r.status != Status::InFlight)
        {
            if let Some(r) = self.items.pop_front() {
                out(self.base, &r);
            }
            self.base += 1;
        }
    }

    /// Drops every request, handing each to `out` with its id, in id order.
    pub(super) fn drain(&mut self, mut out: impl FnMut(u64, &Req)) {
        for r in self.items.drain(..) {
            out(self.base, &r);
            self.base += 1;
        }
    }
}

// docs/performance.md's memory bound counts on this size.
const _: () = assert!(std::mem::size_of::<Req>() <= 64);
