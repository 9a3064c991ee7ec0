//! The cluster side of the simulator: the GPU and model catalog, the vLLM step-time model,
//! the vLLM V1 engine (scheduler, KV cache, preemption), pod start-up, GPU nodes and routing.
//!
//! Key types: [`catalog::Catalog`] (GPUs and models from `data/catalog.toml`, extendable),
//! [`perf::StepTimeModel`] (time of one engine step from its shape: one fitted form per kernel
//! family, calibrated on measured vLLM kernel times by `fit/fit_catalog.py`), [`replica::Replica`] (one vLLM engine), [`pod::StartupModel`] (cold start and
//! readiness), [`node::NodePool`] (GPU binding and node provisioning), [`router::Router`]
//! (with [`router::LoadIndex`] for least-outstanding picks).
//!
//! Main design decision: an engine advances runs of identical decode steps in one call and
//! answers questions about the middle of a run in closed form (see [`replica`]). The step-time
//! model is affine in total context for a fixed decode batch so that those sums are exact.
//!
//! What it deliberately does not do: own an event loop (the engine crate does), know about
//! autoscalers or metrics text, or read files (the catalog is parsed from text it is given).

pub mod catalog;
pub mod itl;
pub mod node;
pub mod perf;
pub mod pod;
pub mod replica;
pub mod router;
pub mod vllm_metrics;
