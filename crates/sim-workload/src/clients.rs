//! Closed-loop clients: a fixed population of users, each with at most one request in flight.
//!
//! This is what `vllm bench serve --max-concurrency N` and chat users do: a user sends a
//! request, waits for it to finish, thinks, and sends the next. The engine drives a
//! [`ClosedLoop`]: it asks when each user starts ([`ClosedLoop::start_at`]), for a user's next
//! request ([`ClosedLoop::next_request`], given what became of the previous one), and how long
//! the user waits after a request resolves ([`ClosedLoop::wait_after`]). Arrivals thus depend
//! on the simulated service, which an arrival-ordered [`RequestStream`] cannot express.
//!
//! Randomness is per user (`think_time`, `prompt_tokens` and `output_tokens` streams indexed
//! by user), so user `k`'s `j`-th request has the same lengths and think time at every sweep
//! point, whatever order requests finish in.

use rand_distr::{Distribution, Gamma};
use sim_des::{RngStreams, SimDuration, SimRng, SimTime};

use crate::synthetic::LengthSampler;
use crate::{LengthDist, Request, RequestStream, TraceError};

/// The most users a closed loop may have: each holds at most one request, so this also
/// bounds the requests a closed loop holds at once; `vllm bench serve` runs use up to a few
/// thousand.
pub const MAX_USERS: u32 = 100_000;

/// The largest think-time coefficient of variation accepted.
pub const MAX_THINK_TIME_CV: f64 = 10.0;

/// A closed-loop client population.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientSpec {
    /// Users, each with at most one request in flight.
    pub users: u32,
    /// Mean think time between a request's completion and the user's next request.
    pub think_time_s: f64,
    /// Coefficient of variation of the think time: 0 is constant, 1 exponential, others a
    /// Gamma distribution with that mean.
    pub think_time_cv: f64,
    /// User `k` (from 0) sends its first request at `k * ramp_up_s / users`; 0 starts every
    /// user at time zero, as `--max-concurrency` does.
    pub ramp_up_s: f64,
    /// The most requests sent over the run (`--num-prompts`); `None`: until the horizon or
    /// the end of a replayed file.
    pub max_requests: Option<u64>,
    /// How long a user waits after a failed request (instead of its think time), so that a
    /// deployment that fails requests at once is not hammered at one instant.
    pub retry_delay_s: f64,
    /// Where request lengths come from.
    pub lengths: ClientLengths,
}

/// Where a closed loop's request lengths come from.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientLengths {
    /// Drawn for each user from its own streams.
    Synthetic {
        /// Prompt lengths.
        prompt_tokens: LengthDist,
        /// Output lengths.
        output_tokens: LengthDist,
    },
    /// Taken in order from a trace given to [`ClosedLoop::new`] (its arrival times are
    /// ignored), one line per request sent. No request is sent after the last line.
    Replay,
}

impl ClientSpec {
    /// Checks the spec; the message starts with the bad field's name.
    pub fn validate(&self) -> Result<(), String> {
        if self.users == 0 || self.users > MAX_USERS {
            return Err(format!(
                "users must be between 1 and {MAX_USERS}, got {}",
                self.users
            ));
        }
        let finite_non_negative = |name: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(format!("{name} must be zero or more, got {v}"))
            }
        };
        finite_non_negative("think_time_s", self.think_time_s)?;
        finite_non_negative("think_time_cv", self.think_time_cv)?;
        finite_non_negative("ramp_up_s", self.ramp_up_s)?;
        if self.think_time_cv > MAX_THINK_TIME_CV {
            return Err(format!(
                "think_time_cv must be at most {MAX_THINK_TIME_CV}, got {}",
                self.think_time_cv
            ));
        }
        if !(self.retry_delay_s.is_finite() && self.retry_delay_s > 0.0) {
            return Err(format!(
                "retry_delay_s must be a positive number, got {}",
                self.retry_delay_s
            ));
        }
        if self.max_requests == Some(0) {
            return Err("max_requests must be at least 1".to_string());
        }
        if let ClientLengths::Synthetic {
            prompt_tokens,
            output_tokens,
        } = &self.lengths
        {
            prompt_tokens
                .validate()
                .map_err(|e| format!("prompt_tokens: {e}"))?;
            output_tokens
                .validate()
                .map_err(|e| format!("output_tokens: {e}"))?;
        }
        Ok(())
    }
}

/// What became of a user's previous request. A client derives its next request from it:
/// today only replay and independent draws exist, but a chat session's next turn extends
/// the previous context (prompt plus output plus a new message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Previous {
    /// The previous request's prompt tokens.
    pub prompt_tokens: u32,
    /// Its output tokens.
    pub output_tokens: u32,
    /// True when it completed, false when it failed (or timed out).
    pub completed: bool,
}

/// The lengths of a user's next request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextRequest {
    /// Input tokens.
    pub prompt_tokens: u32,
    /// Output tokens.
    pub output_tokens: u32,
}

enum Lengths<'a> {
    Synthetic {
        prompt: LengthSampler,
        output: LengthSampler,
    },
    Replay(RequestStream<'a>),
}

struct User {
    think: SimRng,
    prompt: SimRng,
    output: SimRng,
}

/// A running closed loop: per-user random streams, the replayed file, and the count sent.
pub struct ClosedLoop<'a> {
    spec: ClientSpec,
    think: Option<Gamma<f64>>,
    lengths: Lengths<'a>,
    users: Vec<User>,
    sent: u64,
    exhausted: bool,
}

impl<'a> ClosedLoop<'a> {
    /// A population for a run with `streams`; `replay` is the trace for
    /// [`ClientLengths::Replay`] (ignored otherwise).
    ///
    /// # Errors
    /// When the spec is invalid, or replay has no trace.
    pub fn new(
        spec: &ClientSpec,
        streams: &RngStreams,
        replay: Option<RequestStream<'a>>,
    ) -> Result<ClosedLoop<'a>, TraceError> {
        spec.validate().map_err(TraceError::Invalid)?;
        let lengths = match (&spec.lengths, replay) {
            (
                ClientLengths::Synthetic {
                    prompt_tokens,
                    output_tokens,
                },
                _,
            ) => Lengths::Synthetic {
                prompt: LengthSampler::new(prompt_tokens).map_err(TraceError::Invalid)?,
                output: LengthSampler::new(output_tokens).map_err(TraceError::Invalid)?,
            },
            (ClientLengths::Replay, Some(stream)) => Lengths::Replay(stream),
            (ClientLengths::Replay, None) => {
                return Err(TraceError::Invalid(
                    "replayed lengths need a trace".to_string(),
                ));
            }
        };
        let cv = spec.think_time_cv;
        let think = if cv > 0.0 && spec.think_time_s > 0.0 {
            let var = cv * cv;
            Some(
                Gamma::new(1.0 / var, spec.think_time_s * var)
                    .map_err(|e| TraceError::Invalid(format!("think_time_cv: {e}")))?,
            )
        } else {
            None
        };
        let users = (0..spec.users)
            .map(|u| User {
                think: streams.stream_indexed("think_time", u64::from(u)),
                prompt: streams.stream_indexed("prompt_tokens", u64::from(u)),
                output: streams.stream_indexed("output_tokens", u64::from(u)),
            })
            .collect();
        Ok(ClosedLoop {
            spec: spec.clone(),
            think,
            lengths,
            users,
            sent: 0,
            exhausted: false,
        })
    }

    /// Users in the population.
    pub fn users(&self) -> u32 {
        self.spec.users
    }

    /// When `user` sends its first request.
    pub fn start_at(&self, user: u32) -> SimTime {
        let ramp_ns = SimDuration::from_secs_f64(self.spec.ramp_up_s).as_nanos();
        let at = u128::from(ramp_ns) * u128::from(user) / u128::from(self.spec.users);
        SimTime(at as u64)
    }

    /// Requests handed out so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// True once no user will send again (the request cap or the end of the replayed file).
    pub fn is_exhausted(&self) -> bool {
        self.exhausted
    }

    /// The next request of `user` (`previous` is what became of its last one, `None` for its
    /// first), or `None` when the population is exhausted.
    ///
    /// # Errors
    /// A bad line in the replayed file.
    pub fn next_request(
        &mut self,
        user: u32,
        previous: Option<&Previous>,
    ) -> Result<Option<NextRequest>, TraceError> {
        // Independent requests; a session would build on `previous` here.
        let _ = previous;
        if self.exhausted || self.spec.max_requests.is_some_and(|m| self.sent >= m) {
            self.exhausted = true;
            return Ok(None);
        }
        let next = match &mut self.lengths {
            Lengths::Synthetic { prompt, output } => {
                let u = &mut self.users[user as usize];
                NextRequest {
                    prompt_tokens: prompt.draw(&mut u.prompt),
                    output_tokens: output.draw(&mut u.output),
                }
            }
            Lengths::Replay(stream) => match stream.next() {
                Some(Ok(Request {
                    prompt_tokens,
                    output_tokens,
                    ..
                })) => NextRequest {
                    prompt_tokens,
                    output_tokens,
                },
                Some(Err(e)) => return Err(e),
                None => {
                    self.exhausted = true;
                    return Ok(None);
                }
            },
        };
        self.sent += 1;
        Ok(Some(next))
    }

    /// How long `user` waits after its request resolved before sending the next: its think
    /// time after a completion, `retry_delay_s` after a failure.
    pub fn wait_after(&mut self, user: u32, completed: bool) -> SimDuration {
        if !completed {
            return SimDuration::from_secs_f64(self.spec.retry_delay_s);
        }
        let s = match &self.think {
            Some(g) => g.sample(&mut self.users[user as usize].think),
            None => self.spec.think_time_s,
        };
        SimDuration::from_secs_f64(s)
    }
}

/// What a run simulates: an open-loop stream of requests, or a closed loop of users.
pub enum Workload<'a> {
    /// Requests arrive when the stream says, whatever the service does.
    Open(RequestStream<'a>),
    /// Users send their next request when their previous one resolves.
    Closed(Box<ClosedLoop<'a>>),
}

impl<'a> From<RequestStream<'a>> for Workload<'a> {
    fn from(stream: RequestStream<'a>) -> Workload<'a> {
        Workload::Open(stream)
    }
}

impl<'a> From<ClosedLoop<'a>> for Workload<'a> {
    fn from(clients: ClosedLoop<'a>) -> Workload<'a> {
        Workload::Closed(Box::new(clients))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(users: u32) -> ClientSpec {
        ClientSpec {
            users,
            think_time_s: 2.0,
            think_time_cv: 1.0,
            ramp_up_s: 10.0,
            max_requests: Some(5),
            retry_delay_s: 1.0,
            lengths: ClientLengths::Synthetic {
                prompt_tokens: LengthDist::Uniform {
                    min_tokens: 1,
                    max_tokens: 1000,
                },
                output_tokens: LengthDist::Fixed { tokens: 7 },
            },
        }
    }

    #[test]
    fn a_user_draws_the_same_requests_whatever_the_others_do() {
        let streams = RngStreams::new(3);
        let mut a = ClosedLoop::new(&spec(2), &streams, None).unwrap();
        let mut b = ClosedLoop::new(&spec(2), &streams, None).unwrap();
        let a1 = a.next_request(1, None).unwrap();
        let _ = b.next_request(0, None).unwrap();
        let b1 = b.next_request(1, None).unwrap();
        assert_eq!(a1, b1);
        assert_eq!(a.wait_after(1, true), b.wait_after(1, true));
        assert_eq!(a.wait_after(0, false), SimDuration::from_secs(1));
    }

    #[test]
    fn the_cap_and_the_ramp_bound_the_population() {
        let streams = RngStreams::new(1);
        let mut c = ClosedLoop::new(&spec(4), &streams, None).unwrap();
        assert_eq!(c.start_at(0), SimTime::ZERO);
        assert_eq!(c.start_at(2), SimTime::from_secs(5));
        for i in 0..5 {
            assert!(c.next_request(i % 4, None).unwrap().is_some());
        }
        assert!(c.next_request(0, None).unwrap().is_none());
        assert!(c.is_exhausted());
        assert_eq!(c.sent(), 5);
    }

    #[test]
    fn replay_takes_lengths_in_file_order_and_stops_at_the_end() {
        let text = "arrival_s,prompt_tokens,output_tokens\n9,10,2\n9,20,3\n";
        let stream = crate::read_trace(crate::TraceFormat::GenericCsv, text.as_bytes());
        let s = ClientSpec {
            lengths: ClientLengths::Replay,
            max_requests: None,
            ..spec(8)
        };
        let mut c = ClosedLoop::new(&s, &RngStreams::new(1), Some(stream)).unwrap();
        let got: Vec<u32> = (0..3)
            .filter_map(|u| c.next_request(u, None).unwrap())
            .map(|r| r.prompt_tokens)
            .collect();
        assert_eq!(got, [10, 20]);
        assert!(c.is_exhausted());
    }

    #[test]
    fn constant_and_gamma_think_times_have_the_mean() {
        let mut c = ClosedLoop::new(&spec(1), &RngStreams::new(5), None).unwrap();
        let n = 20_000;
        let total: f64 = (0..n).map(|_| c.wait_after(0, true).as_secs_f64()).sum();
        assert!(
            (total / f64::from(n) - 2.0).abs() < 0.05,
            "{}",
            total / f64::from(n)
        );
        let fixed = ClientSpec {
            think_time_cv: 0.0,
            ..spec(1)
        };
        let mut c = ClosedLoop::new(&fixed, &RngStreams::new(5), None).unwrap();
        assert_eq!(c.wait_after(0, true), SimDuration::from_secs(2));
        let bad = ClientSpec {
            users: 0,
            ..spec(1)
        };
        assert!(bad.validate().unwrap_err().starts_with("users"));
    }
}
