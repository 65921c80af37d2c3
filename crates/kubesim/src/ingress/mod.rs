//! The embedded ingress: routing decisions for Ingress (with the ingress-nginx canary
//! annotations) and Gateway API HTTPRoute, and the reverse proxy that applies them, with
//! ingress-nginx-compatible metrics.

pub mod endpoints;
pub mod metrics;
pub mod proxy;
pub mod routing;
