//! Picking a Ready replica for a request, as a Service or a gateway would.

use rand::RngExt;
use sim_des::SimRng;

/// How requests are spread over the Service's endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoutingPolicy {
    /// Uniformly at random, as kube-proxy's iptables mode does per connection.
    Random,
    /// In turn over the endpoint list (kube-proxy IPVS `rr`).
    RoundRobin,
    /// The endpoint with the fewest requests inside its engine (ties: lowest pod index), as
    /// an inference gateway with least-request balancing does.
    LeastOutstanding,
}

/// The router's own state (round-robin position, random stream).
#[derive(Clone, Debug)]
pub struct Router {
    policy: RoutingPolicy,
    next: usize,
    rng: SimRng,
}

impl Router {
    /// A router with its own random stream.
    pub fn new(policy: RoutingPolicy, rng: SimRng) -> Router {
        Router {
            policy,
            next: 0,
            rng,
        }
    }

    /// Picks one of `endpoints` (pod indices, in a stable order). `outstanding(pod)` gives the
    /// requests inside that pod's engine. Returns `None` when there is no endpoint.
    pub fn pick(&mut self, endpoints: &[u32], outstanding: impl Fn(u32) -> usize) -> Option<u32> {
        if endpoints.is_empty() {
            return None;
        }
        let idx = match self.policy {
            RoutingPolicy::Random => self.rng.random_range(0..endpoints.len()),
            RoutingPolicy::RoundRobin => {
                let i = self.next % endpoints.len();
                self.next = i + 1;
                i
            }
            RoutingPolicy::LeastOutstanding => {
                let mut best = 0;
                let mut best_load = usize::MAX;
                for (i, &pod) in endpoints.iter().enumerate() {
                    let load = outstanding(pod);
                    if load < best_load {
                        best = i;
                        best_load = load;
                    }
                }
                best
            }
        };
        Some(endpoints[idx])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_des::RngStreams;

    fn router(policy: RoutingPolicy) -> Router {
        Router::new(policy, RngStreams::new(5).stream("routing"))
    }

    #[test]
    fn round_robin_cycles_and_survives_endpoint_changes() {
        let mut r = router(RoutingPolicy::RoundRobin);
        let eps = [3, 7, 9];
        let picks: Vec<u32> = (0..5).map(|_| r.pick(&eps, |_| 0).unwrap()).collect();
        assert_eq!(picks, [3, 7, 9, 3, 7]);
        assert_eq!(r.pick(&[1], |_| 0), Some(1));
        assert_eq!(r.pick(&[], |_| 0), None);
    }

    #[test]
    fn least_outstanding_prefers_the_idlest_then_the_lowest_index() {
        let mut r = router(RoutingPolicy::LeastOutstanding);
        let load = |p: u32| [5usize, 2, 2, 9][p as usize];
        assert_eq!(r.pick(&[0, 1, 2, 3], load), Some(1));
    }

    #[test]
    fn random_is_roughly_uniform_and_seeded() {
        let mut r = router(RoutingPolicy::Random);
        let mut counts = [0u32; 4];
        for _ in 0..40_000 {
            counts[r.pick(&[0, 1, 2, 3], |_| 0).unwrap() as usize] += 1;
        }
        for c in counts {
            assert!((9_500..10_500).contains(&c), "{counts:?}");
        }
        let mut a = router(RoutingPolicy::Random);
        let mut b = router(RoutingPolicy::Random);
        for _ in 0..100 {
            assert_eq!(a.pick(&[0, 1, 2], |_| 0), b.pick(&[0, 1, 2], |_| 0));
        }
    }
}
