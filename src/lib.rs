//! rollout: a deployment strategy orchestrator for Kubernetes, and the embedded cluster it is
//! tried on.

pub mod cli;
pub mod cluster;
pub mod commands;
pub mod engine;
pub mod gate;
pub mod image;
pub mod lab;
pub mod plan;
pub mod report;
pub mod selector;
pub mod sim;
pub mod spec;
pub mod strategy;
pub mod traffic;
