//! Picking a Ready replica for a request, as a Service or a gateway would.

use std::collections::BTreeSet;

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

    /// Picks one of `endpoints` (pod indices, ascending). `loads` holds the same pods with
    /// the requests inside each one's engine. Returns `None` when there is no endpoint.
    pub fn pick(&mut self, endpoints: &[u32], loads: &LoadIndex) -> Option<u32> {
        if endpoints.is_empty() {
            return None;
        }
        debug_assert_eq!(loads.len(), endpoints.len(), "loads cover the endpoints");
        let idx = match self.policy {
            RoutingPolicy::Random => self.rng.random_range(0..endpoints.len()),
            RoutingPolicy::RoundRobin => {
                let i = self.next % endpoints.len();
                self.next = i + 1;
                i
            }
            RoutingPolicy::LeastOutstanding => return loads.least(),
        };
        Some(endpoints[idx])
    }
}

/// The endpoints ordered by load (requests inside each engine), ties by pod index, so that
/// least-outstanding routing costs O(log n): scanning ten thousand replicas per request
/// made a large fleet's run take minutes.
#[derive(Clone, Debug, Default)]
pub struct LoadIndex {
    by_load: BTreeSet<(usize, u32)>,
    /// Each pod's load as indexed, `None` when it is not an endpoint.
    load: Vec<Option<usize>>,
}

impl LoadIndex {
    /// Adds `pod` with `load`, or moves it to `load`.
    pub fn set(&mut self, pod: u32, load: usize) {
        let i = pod as usize;
        if self.load.len() <= i {
            self.load.resize(i + 1, None);
        }
        match self.load[i] {
            Some(old) if old == load => return,
            Some(old) => {
                self.by_load.remove(&(old, pod));
            }
            None => {}
        }
        self.load[i] = Some(load);
        self.by_load.insert((load, pod));
    }

    /// Moves `pod` to `load` if it is indexed (an endpoint); otherwise does nothing.
    pub fn update(&mut self, pod: u32, load: usize) {
        if self.load_of(pod).is_some() {
            self.set(pod, load);
        }
    }

    /// Drops `pod`, if it is indexed.
    pub fn remove(&mut self, pod: u32) {
        if let Some(slot) = self.load.get_mut(pod as usize)
            && let Some(old) = slot.take()
        {
            self.by_load.remove(&(old, pod));
        }
    }

    /// The load indexed for `pod`, `None` when it is not an endpoint.
    pub fn load_of(&self, pod: u32) -> Option<usize> {
        self.load.get(pod as usize).copied().flatten()
    }

    /// The pod with the least load, the lowest index among equals.
    pub fn least(&self) -> Option<u32> {
        self.by_load.first().map(|&(_, pod)| pod)
    }

    /// Pods indexed.
    pub fn len(&self) -> usize {
        self.by_load.len()
    }

    /// True when no pod is indexed.
    pub fn is_empty(&self) -> bool {
        self.by_load.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_des::RngStreams;

    fn router(policy: RoutingPolicy) -> Router {
        Router::new(policy, RngStreams::new(5).stream("routing"))
    }

    /// An index of `pods`, each with load 0.
    fn idle(pods: &[u32]) -> LoadIndex {
        let mut loads = LoadIndex::default();
        for &p in pods {
            loads.set(p, 0);
        }
        loads
    }

    #[test]
    fn round_robin_cycles_and_survives_endpoint_changes() {
        let mut r = router(RoutingPolicy::RoundRobin);
        let eps = [3, 7, 9];
        let picks: Vec<u32> = (0..5).map(|_| r.pick(&eps, &idle(&eps)).unwrap()).collect();
        assert_eq!(picks, [3, 7, 9, 3, 7]);
        assert_eq!(r.pick(&[1], &idle(&[1])), Some(1));
        assert_eq!(r.pick(&[], &idle(&[])), None);
    }

    #[test]
    fn least_outstanding_prefers_the_idlest_then_the_lowest_index() {
        let mut r = router(RoutingPolicy::LeastOutstanding);
        let mut loads = LoadIndex::default();
        for (pod, load) in [(3, 9), (2, 2), (0, 5), (1, 2)] {
            loads.set(pod, load);
        }
        assert_eq!(r.pick(&[0, 1, 2, 3], &loads), Some(1));
        loads.set(1, 3);
        assert_eq!(r.pick(&[0, 1, 2, 3], &loads), Some(2));
        loads.remove(2);
        loads.update(2, 0);
        assert_eq!(r.pick(&[0, 1, 3], &loads), Some(1));
        loads.set(3, 1);
        assert_eq!(r.pick(&[0, 1, 3], &loads), Some(3));
    }

    /// The index picks what a scan of every endpoint picks, through random changes.
    #[test]
    fn the_load_index_agrees_with_a_scan() {
        let mut rng = RngStreams::new(9).stream("loads");
        let mut loads = LoadIndex::default();
        let mut truth: Vec<Option<usize>> = vec![None; 40];
        for _ in 0..20_000 {
            let pod = rng.random_range(0..40u32);
            match rng.random_range(0..4) {
                0 => {
                    loads.remove(pod);
                    truth[pod as usize] = None;
                }
                1 => {
                    let load = rng.random_range(0..6);
                    loads.set(pod, load);
                    truth[pod as usize] = Some(load);
                }
                _ => {
                    let load = rng.random_range(0..6);
                    loads.update(pod, load);
                    if truth[pod as usize].is_some() {
                        truth[pod as usize] = Some(load);
                    }
                }
            }
            let scan = (0..40u32)
                .filter_map(|p| truth[p as usize].map(|l| (l, p)))
                .min()
                .map(|(_, p)| p);
            assert_eq!(loads.least(), scan);
            assert_eq!(loads.len(), truth.iter().flatten().count());
        }
    }

    #[test]
    fn random_is_roughly_uniform_and_seeded() {
        let mut r = router(RoutingPolicy::Random);
        let eps = [0, 1, 2, 3];
        let mut counts = [0u32; 4];
        for _ in 0..40_000 {
            counts[r.pick(&eps, &idle(&eps)).unwrap() as usize] += 1;
        }
        for c in counts {
            assert!((9_500..10_500).contains(&c), "{counts:?}");
        }
        let mut a = router(RoutingPolicy::Random);
        let mut b = router(RoutingPolicy::Random);
        let eps = [0, 1, 2];
        for _ in 0..100 {
            assert_eq!(a.pick(&eps, &idle(&eps)), b.pick(&eps, &idle(&eps)));
        }
    }
}
