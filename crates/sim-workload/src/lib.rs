//! Requests and traces: trace readers and synthetic generators.
