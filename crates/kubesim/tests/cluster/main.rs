//! The embedded cluster's integration tests, one binary: the API server, admission, the
//! controllers, the node agent and the ingress, driven through kube and the real kubectl.

mod api;
mod bad_input;
mod controllers;
mod events;
mod gc;
mod ingress;
mod ingress_routing;
mod ingress_tls;
mod kubectl;
mod manifests;
mod node;
mod persistence;

mod common {
    pub use kubesim::testing::*;
}
