//! End-to-end tests, one binary: the orchestrator against the embedded cluster in-process, the
//! real `rollout` binary and, where the environment names one, a real control plane (see
//! `conformance`). The embedded cluster's own tests live with it (`crates/kubesim/tests`).

mod api_timeout;
mod autoscaler;
mod canary;
mod cli;
mod common;
mod components;
mod conformance;
mod dashboard;
mod differential;
mod exec_webhook;
mod faults;
mod gate_http;
mod headline;
mod interruption;
mod kill_matrix;
mod lab;
mod lease;
mod notify;
mod prometheus_gate;
mod receiver;
mod robustness;
mod sim_stop;
mod status;
mod strategies;
mod synthetic_load;
mod waits;
mod walkthrough;
