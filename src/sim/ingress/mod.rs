//! The embedded ingress: routing decisions for Ingress (with the ingress-nginx canary
//! annotations) and Gateway API HTTPRoute.

pub mod routing;
