//! The node agent (a simulated kubelet) and its parts: pod addresses, what each image's app
//! does (behaviour profiles), the in-process HTTP server that plays a container, probes, and
//! the pod status it reports.

pub mod addresses;
pub mod app;
pub mod behaviour;
pub mod kubelet;
pub mod pod_status;
pub mod ports;
pub mod probe;
