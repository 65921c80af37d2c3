//! The embedded ingress: routing decisions for Ingress (with the ingress-nginx canary
//! annotations) and Gateway API HTTPRoute, and the reverse proxy that applies them, with TLS
//! termination and the metrics real implementations export (ingress-nginx's for Ingress
//! traffic, Envoy's as Contour configures it for HTTPRoute traffic).

pub mod endpoints;
pub mod metrics;
pub mod proxy;
pub mod routing;
pub mod tls;
