//! The orchestrator's side of the Kubernetes API: finding the target, and (with the engine)
//! the only place that talks to the cluster.

pub mod target;
