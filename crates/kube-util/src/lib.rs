//! Kubernetes facts that both sides of the project need, in one copy each: the embedded
//! cluster (`kubesim`) enforces them as an API server and its controllers would, and the
//! orchestrator (`rollout-core`) relies on them as a client would.
//!
//! - [`selector`]: label and field selectors, parsed and matched as the API server does;
//! - [`endpoints`]: a Service's EndpointSlices and Endpoints against its serving pods;
//! - [`pod`]: pod readiness;
//! - [`names`]: name, label and key syntax, with the API server's messages;
//! - [`time`]: timestamps as `metav1.Time` writes them.

pub mod endpoints;
pub mod names;
pub mod pod;
pub mod selector;
pub mod time;
pub mod tls;
