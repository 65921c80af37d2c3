//! The `rollout` command line: the orchestrator's commands (`rollout --strategy ...`, `plan`,
//! `status`, `promote`, `abort`, `resume`, `undo`, `history`), the embedded cluster's
//! (`sim up`, `sim traffic`, `sim node`, `sim ingress`), and the lab that puts the two
//! together on a fresh embedded cluster (`demo`, `compare`, `experiment`, `bench`).
//!
//! This is the only crate that depends on both `rollout-core` (the orchestrator) and
//! `kubesim` (the embedded cluster); they meet only at the Kubernetes API.

pub mod cli;
pub mod commands;
pub mod lab;
pub mod output;
