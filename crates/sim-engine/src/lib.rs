//! The simulator: one event loop over workload, pods, replicas and control plane.
