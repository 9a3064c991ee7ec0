//! Kubernetes HPA v2 and KEDA decision logic as pure state machines.

mod conditions;
pub mod hpa;
pub mod keda;

pub use conditions::{Condition, ConditionStatus};
