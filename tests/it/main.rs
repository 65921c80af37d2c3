//! End-to-end tests, one binary: the orchestrator against the embedded cluster in-process, the
//! real `rollout` binary and, where the environment names one, a real control plane (see
//! `conformance`). The embedded cluster's own tests live with it (`crates/kubesim/tests`).

mod autoscaler;
mod canary;
mod cli;
mod common;
mod components;
mod conformance;
mod dashboard;
mod differential;
mod gate_http;
mod interruption;
mod lab;
mod lease;
mod prometheus_gate;
mod robustness;
mod status;
mod strategies;
