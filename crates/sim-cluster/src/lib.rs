//! GPU and model catalog, vLLM step-time model, the vLLM V1 scheduler, pods and routing.
