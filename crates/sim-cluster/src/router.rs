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

/// The endpoints by load (requests inside each engine), for least-outstanding routing: a
/// min segment tree over pod indices whose leaves hold `load << 32 | pod`, so the root is
/// the least-loaded endpoint with the lowest pod index among equals. A change costs a walk
/// up the tree that usually stops after a step or two; scanning ten thousand replicas per
/// request made a large fleet's run take minutes, and a `BTreeSet` cost an eighth of a small
/// one's.
#[derive(Clone, Debug, Default)]
pub struct LoadIndex {
    /// `tree[1]` is the root; leaf `pod` is `tree[leaves + pod]`; `EMPTY` where no endpoint.
    tree: Vec<u64>,
    leaves: usize,
    len: usize,
}

const EMPTY: u64 = u64::MAX;

impl LoadIndex {
    /// Adds `pod` with `load`, or moves it to `load`.
    pub fn set(&mut self, pod: u32, load: usize) {
        let i = pod as usize;
        if i >= self.leaves {
            self.grow(i + 1);
        }
        let key = (u64::try_from(load)
            .unwrap_or(u64::MAX)
            .min(u64::from(u32::MAX))
            << 32)
            | u64::from(pod);
        let leaf = self.leaves + i;
        if self.tree[leaf] == EMPTY {
            self.len += 1;
        }
        self.put(leaf, key);
    }

    /// Moves `pod` to `load` if it is indexed (an endpoint); otherwise does nothing.
    pub fn update(&mut self, pod: u32, load: usize) {
        if self.load_of(pod).is_some() {
            self.set(pod, load);
        }
    }

    /// Drops `pod`, if it is indexed.
    pub fn remove(&mut self, pod: u32) {
        if self.load_of(pod).is_some() {
            self.len -= 1;
            self.put(self.leaves + pod as usize, EMPTY);
        }
    }

    /// The load indexed for `pod`, `None` when it is not an endpoint.
    pub fn load_of(&self, pod: u32) -> Option<usize> {
        let i = pod as usize;
        if i >= self.leaves {
            return None;
        }
        let key = self.tree[self.leaves + i];
        (key != EMPTY).then_some((key >> 32) as usize)
    }

    /// The pod with the least load, the lowest index among equals.
    pub fn least(&self) -> Option<u32> {
        let root = *self.tree.get(1)?;
        (root != EMPTY).then_some((root & u64::from(u32::MAX)) as u32)
    }

    /// Pods indexed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no pod is indexed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes a leaf and fixes its ancestors, stopping where one does not change.
    fn put(&mut self, leaf: usize, key: u64) {
        if self.tree[leaf] == key {
            return;
        }
        self.tree[leaf] = key;
        let mut i = leaf / 2;
        while i >= 1 {
            let m = self.tree[2 * i].min(self.tree[2 * i + 1]);
            if self.tree[i] == m {
                break;
            }
            self.tree[i] = m;
            i /= 2;
        }
    }

    /// Makes room for `pods` leaves (a power of two, at least twice the old size).
    fn grow(&mut self, pods: usize) {
        let leaves = pods.next_power_of_two().max(2 * self.leaves).max(2);
        let mut tree = vec![EMPTY; 2 * leaves];
        if self.leaves > 0 {
            tree[leaves..leaves + self.leaves]
                .copy_from_slice(&self.tree[self.leaves..2 * self.leaves]);
        }
        for i in (1..leaves).rev() {
            tree[i] = tree[2 * i].min(tree[2 * i + 1]);
        }
        self.tree = tree;
        self.leaves = leaves;
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
