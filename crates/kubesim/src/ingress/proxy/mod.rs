//! The ingress reverse proxy: an HTTP/1.1 server that routes every request with the
//! [`RoutingTable`] (Ingress with ingress-nginx canaries, Gateway API HTTPRoute) and forwards it
//! to a ready pod of the chosen Service, the way ingress-nginx does.
//!
//! Two layers:
//! * [`Handler`] is the request-handling core. It knows nothing about Kubernetes: it is given a
//!   routing table (replaceable with [`Handler::set_table`]) and a [`Resolve`]r that turns a
//!   backend into ready addresses, so it can be tested against plain local servers.
//! * [`IngressProxy`] feeds a `Handler` from a cluster through a `kube::Client` — the embedded
//!   API server or a real one. It watches Ingresses, HTTPRoutes (a missing CRD means no routes),
//!   Services and EndpointSlices, rebuilds the routing table / endpoint index when they change
//!   (never per request), writes `status.loadBalancer` (address and ports) on the Ingresses it
//!   serves, terminates TLS with the certificates of their `spec.tls` ([`crate::ingress::tls`])
//!   on a listener of its own, serves the metrics on another, and shows itself as controller
//!   pods ([`presence`]).
//!
//! Per request:
//! * no match → 404 with nginx's error page; a match without backend → its `no_backend_status`
//!   (503 / 500); no ready endpoint → 503 `Service Temporarily Unavailable`.
//! * A plain-HTTP request that an Ingress routes, for a host with a certificate, gets 308 to
//!   `https://host[:port]/path` (the HTTPS port unless it is 443), as ingress-nginx does by
//!   default; the Ingress annotation `nginx.ingress.kubernetes.io/ssl-redirect: "false"` turns
//!   that off, `force-ssl-redirect: "true"` redirects hosts without a certificate too.
//!   HTTPRoutes are never redirected (the Gateway API does that with a filter).
//! * Round robin over the ready endpoints, one counter per backend.
//! * Forwarded headers: the client's headers minus hop-by-hop ones (`Host` is kept), plus
//!   `X-Request-ID` (kept or generated), `X-Real-IP`, `X-Forwarded-For` (the client address
//!   appended to what the client sent), `X-Forwarded-Host`, `X-Forwarded-Port`,
//!   `X-Forwarded-Proto`/`X-Forwarded-Scheme`/`X-Scheme` (`http` or `https`); then the route's
//!   RequestHeaderModifier changes, which win.
//! * Request bodies with a known length up to [`HandlerConfig::buffer_limit`] (1 MiB) are read
//!   first (nginx buffers request bodies too; a client that stalls for `read_timeout` gets 408).
//!   They can be replayed, so a connection failure is retried on the next endpoint (nginx's
//!   `proxy_next_upstream error`, 3 tries), and they can be mirrored. Larger or chunked bodies
//!   are streamed, and neither retried nor mirrored.
//! * Upstream connect failure → 502, connect timeout ([`HandlerConfig::connect_timeout`], 5 s,
//!   ingress-nginx's `proxy-connect-timeout`) or no response headers within
//!   [`HandlerConfig::read_timeout`] (60 s, `proxy-read-timeout`) → 504.
//! * The response is streamed back; its end (or the client going away) records the metrics.
//! * `Connection: upgrade` requests (WebSocket) are tunnelled once the upstream answers 101.
//! * Mirrors (HTTPRoute `RequestMirror`): each sampled mirror gets a copy of a buffered request,
//!   sent in the background to a ready endpoint of the mirror backend, at most
//!   [`HandlerConfig::max_mirrors_in_flight`] at a time; its answer is read and dropped and never
//!   affects the client.

mod cluster;
mod handler;
pub mod presence;
mod relay;
mod server;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;

pub use cluster::{
    IngressOptions, IngressProxy, Published, http_route_resource, serves_ingress, status_patch,
};
pub use handler::{Handler, HandlerConfig, Scheme};
pub use relay::error_page;
pub use server::{serve, serve_metrics, serve_tls};

/// Errors of a streamed body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Body of every response the proxy writes (and of the requests it forwards).
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    #[error("ingress proxy cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("ingress proxy: {0}")]
    Io(#[from] std::io::Error),
}
