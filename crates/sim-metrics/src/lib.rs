//! Prometheus model: scraped series store and a PromQL-subset evaluator.
