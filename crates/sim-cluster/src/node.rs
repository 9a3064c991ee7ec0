//! GPU nodes: whole-GPU allocation and a node pool that can grow.
//!
//! Each pod asks for `gpus` GPUs on one node (tensor parallelism needs them together). The
//! pool binds pending pods first-come first-served onto the first ready node with room, and,
//! like the cluster autoscaler, asks for a new node when a pending pod fits nowhere and the
//! pool is below its maximum. New nodes join after a provisioning delay.

/// One GPU node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Whether the node has joined the cluster.
    pub ready: bool,
    /// GPUs not bound to a pod.
    pub free_gpus: u32,
}

/// The cluster's GPU node pool.
#[derive(Clone, Debug)]
pub struct NodePool {
    gpus_per_node: u32,
    max_nodes: u32,
    nodes: Vec<Node>,
}

impl NodePool {
    /// A pool with `initial_nodes` ready nodes that may grow to `max_nodes`.
    ///
    /// # Panics
    /// When `gpus_per_node` is zero or `initial_nodes > max_nodes`.
    pub fn new(gpus_per_node: u32, initial_nodes: u32, max_nodes: u32) -> NodePool {
        assert!(gpus_per_node > 0);
        assert!(initial_nodes <= max_nodes);
        let nodes = (0..initial_nodes)
            .map(|_| Node {
                ready: true,
                free_gpus: gpus_per_node,
            })
            .collect();
        NodePool {
            gpus_per_node,
            max_nodes,
            nodes,
        }
    }

    /// GPUs per node.
    pub fn gpus_per_node(&self) -> u32 {
        self.gpus_per_node
    }

    /// Binds `gpus` GPUs on the first ready node with room; returns the node index.
    pub fn bind(&mut self, gpus: u32) -> Option<u32> {
        let idx = self
            .nodes
            .iter()
            .position(|n| n.ready && n.free_gpus >= gpus)?;
        self.nodes[idx].free_gpus -= gpus;
        Some(idx as u32)
    }

    /// Returns `gpus` GPUs to `node`.
    pub fn release(&mut self, node: u32, gpus: u32) {
        let n = &mut self.nodes[node as usize];
        n.free_gpus += gpus;
        assert!(n.free_gpus <= self.gpus_per_node, "GPU released twice");
    }

    /// Starts provisioning a node if one could host `gpus` GPUs and the pool may grow and no
    /// node being provisioned already has room for `gpus_pending` GPUs. Returns the new
    /// node's index; the caller marks it ready later with [`NodePool::node_ready`].
    pub fn provision_for(&mut self, gpus: u32, gpus_pending: u32) -> Option<u32> {
        if gpus > self.gpus_per_node || self.nodes.len() as u32 >= self.max_nodes {
            return None;
        }
        let provisioning: u32 = self
            .nodes
            .iter()
            .filter(|n| !n.ready)
            .map(|n| n.free_gpus)
            .sum();
        if provisioning >= gpus_pending {
            return None;
        }
        self.nodes.push(Node {
            ready: false,
            free_gpus: self.gpus_per_node,
        });
        Some(self.nodes.len() as u32 - 1)
    }

    /// Marks a provisioned node ready.
    pub fn node_ready(&mut self, node: u32) {
        self.nodes[node as usize].ready = true;
    }

    /// Number of nodes, ready or not.
    pub fn node_count(&self) -> u32 {
        self.nodes.len() as u32
    }

    /// GPUs bound to pods.
    pub fn gpus_bound(&self) -> u32 {
        self.nodes
            .iter()
            .filter(|n| n.ready)
            .map(|n| self.gpus_per_node - n.free_gpus)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_first_fit_and_grows_up_to_the_maximum() {
        let mut pool = NodePool::new(8, 1, 2);
        assert_eq!(pool.bind(4), Some(0));
        assert_eq!(pool.bind(4), Some(0));
        assert_eq!(pool.bind(1), None);
        assert_eq!(pool.provision_for(4, 4), Some(1));
        // The node being provisioned already covers the pending GPUs.
        assert_eq!(pool.provision_for(4, 4), None);
        assert_eq!(pool.bind(4), None, "not ready yet");
        pool.node_ready(1);
        assert_eq!(pool.bind(4), Some(1));
        assert_eq!(pool.gpus_bound(), 12);
        pool.release(0, 4);
        assert_eq!(pool.bind(2), Some(0));
        // At the maximum the pool does not grow.
        assert_eq!(pool.provision_for(8, 16), None);
        // A pod larger than a node never fits.
        assert_eq!(NodePool::new(4, 0, 3).provision_for(8, 8), None);
    }
}
