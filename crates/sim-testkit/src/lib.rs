//! Dev-only: shared check helpers and the tidy test that enforces the dependency arrows.
