//! Kubernetes HPA v2 and KEDA decision logic as pure state machines.
