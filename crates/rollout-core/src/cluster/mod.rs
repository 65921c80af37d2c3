//! The orchestrator's side of the Kubernetes API: finding the target, the calls the engine
//! makes, the Lease and the rollout's record. With the engine, the only place that talks to
//! the cluster.

pub mod api;
pub mod connect;
pub mod endpoints;
pub mod error;
pub mod httproute;
pub mod lease;
pub mod target;
pub mod wait;

pub use api::Cluster;
pub use error::ClusterError;
