//! Integration tests, one binary: the embedded cluster in-process, the real `rollout` binary
//! and, where the environment names one, a real control plane (see `conformance`).

mod api;
mod bad_input;
mod canary;
mod cli;
mod common;
mod components;
mod conformance;
mod controllers;
mod differential;
mod gate_http;
mod ingress;
mod ingress_routing;
mod interruption;
mod kubectl;
mod lab;
mod manifests;
mod node;
mod persistence;
mod prometheus_gate;
mod strategies;
