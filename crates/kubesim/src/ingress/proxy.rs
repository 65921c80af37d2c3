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
//!   (never per request), writes `status.loadBalancer` on the Ingresses it serves, and serves
//!   the ingress-nginx metrics on a second listener.
//!
//! Per request:
//! * no match → 404 with nginx's error page; a match without backend → its `no_backend_status`
//!   (503 / 500); no ready endpoint → 503 `Service Temporarily Unavailable`.
//! * Round robin over the ready endpoints, one counter per backend.
//! * Forwarded headers: the client's headers minus hop-by-hop ones (`Host` is kept), plus
//!   `X-Request-ID` (kept or generated), `X-Real-IP`, `X-Forwarded-For` (the client address
//!   appended to what the client sent), `X-Forwarded-Host`, `X-Forwarded-Port`,
//!   `X-Forwarded-Proto`/`X-Forwarded-Scheme`/`X-Scheme` (`http`); then the route's
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

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt::Debug;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{
    CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, EXPECT, HOST, HeaderMap, HeaderName,
    HeaderValue, TRANSFER_ENCODING, UPGRADE,
};
use hyper::{Request, Response, StatusCode, Uri, Version};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::reflector::{self, Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::endpoints::{EndpointIndex, Resolve, SharedEndpoints};
use super::metrics::{
    CONTENT_TYPE as METRICS_CONTENT_TYPE, ControllerLabels, Metrics, MirrorOutcome, Observation,
    ProxyStats, RequestLabels,
};
use super::routing::{
    Backend, Decision, HeaderChange, Mirror, RequestInfo, RoutingTable, parse_cookie_header,
};

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

/// How the cluster-fed proxy runs.
#[derive(Debug, Clone)]
pub struct IngressOptions {
    /// Where the proxy listens (port 0: any free port).
    pub listen: SocketAddr,
    /// Ingress class served (`"nginx"`); empty serves every Ingress.
    pub ingress_class: String,
    /// Written to `status.loadBalancer.ingress[].ip` (or `.hostname` when not an IP address) of
    /// every served Ingress; empty: status is not written.
    pub publish_address: String,
    /// Where `/metrics` is served (port 0: any free port).
    pub metrics_listen: SocketAddr,
    /// Upstream connect timeout (ingress-nginx `proxy-connect-timeout`, 5 s).
    pub connect_timeout: Duration,
    /// Wait for upstream response headers (ingress-nginx `proxy-read-timeout`, 60 s).
    pub read_timeout: Duration,
    /// Constant labels of the metrics.
    pub controller: ControllerLabels,
}

impl Default for IngressOptions {
    fn default() -> Self {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        IngressOptions {
            listen: loopback,
            ingress_class: "nginx".into(),
            publish_address: "127.0.0.1".into(),
            metrics_listen: loopback,
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(60),
            controller: ControllerLabels::default(),
        }
    }
}

/// Tuning of the request-handling core.
#[derive(Debug, Clone)]
pub struct HandlerConfig {
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    /// Request bodies with a known length up to this many bytes are buffered (and may be
    /// retried and mirrored).
    pub buffer_limit: usize,
    /// Endpoints tried when connecting fails (nginx `proxy_next_upstream_tries`).
    pub upstream_tries: usize,
    /// Mirrored copies in flight at most; more are skipped.
    pub max_mirrors_in_flight: usize,
    /// Sent as `X-Forwarded-Port`.
    pub listen_port: u16,
    /// Seed for the routing draws (weights, mirror sampling); `None`: thread-local randomness.
    pub seed: Option<u64>,
}

impl Default for HandlerConfig {
    fn default() -> Self {
        HandlerConfig {
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(60),
            buffer_limit: 1 << 20,
            upstream_tries: 3,
            max_mirrors_in_flight: 64,
            listen_port: 80,
            seed: None,
        }
    }
}

/// The request-handling core: route, resolve, forward, record.
pub struct Handler<R: Resolve> {
    table: ArcSwap<RoutingTable>,
    resolver: R,
    client: Client<HttpConnector, ProxyBody>,
    metrics: Arc<Metrics>,
    counters: RwLock<HashMap<Backend, Arc<AtomicUsize>>>,
    mirror_slots: Arc<Semaphore>,
    rng: Option<Mutex<StdRng>>,
    config: HandlerConfig,
}

impl<R: Resolve> Debug for Handler<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The request body, read whole (replayable) or passed through.
enum PreparedBody {
    Buffered(Bytes),
    Streaming(Option<ProxyBody>),
}

/// Labels and clock of one request, to record when it is done.
struct Record {
    metrics: Arc<Metrics>,
    labels: RequestLabels,
    served_by: String,
    canary: bool,
    start: Instant,
    request_size: u64,
}

impl Record {
    fn finish(
        &self,
        status: u16,
        response_size: u64,
        upstream_header_seconds: Option<f64>,
        upstream_response_seconds: Option<f64>,
    ) {
        let mut labels = self.labels.clone();
        labels.status = status;
        self.metrics.observe(&Observation {
            labels,
            request_seconds: self.start.elapsed().as_secs_f64(),
            upstream_header_seconds,
            upstream_response_seconds,
            request_size: self.request_size,
            response_size,
            served_by: self.served_by.clone(),
            canary: self.canary,
        });
    }
}

impl<R: Resolve> Handler<R> {
    pub fn new(
        table: RoutingTable,
        resolver: R,
        metrics: Arc<Metrics>,
        config: HandlerConfig,
    ) -> Handler<R> {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.connect_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(32)
            .build(connector);
        Handler {
            table: ArcSwap::from_pointee(table),
            resolver,
            client,
            metrics,
            counters: RwLock::new(HashMap::new()),
            mirror_slots: Arc::new(Semaphore::new(config.max_mirrors_in_flight)),
            rng: config.seed.map(|s| Mutex::new(StdRng::seed_from_u64(s))),
            config,
        }
    }

    /// Replaces the routing table (requests in flight keep the one they started with).
    pub fn set_table(&self, table: RoutingTable) {
        self.table.store(Arc::new(table));
    }

    /// The current routing table.
    pub fn table(&self) -> Arc<RoutingTable> {
        self.table.load_full()
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn resolver(&self) -> &R {
        &self.resolver
    }

    fn with_random<T>(&self, f: impl FnOnce(&mut dyn FnMut(u32) -> u32) -> T) -> T {
        match &self.rng {
            Some(rng) => {
                let mut guard = match rng.lock() {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                f(&mut |n: u32| guard.random_range(0..n.max(1)))
            }
            None => {
                let mut rng = rand::rng();
                f(&mut |n: u32| rng.random_range(0..n.max(1)))
            }
        }
    }

    fn counter(&self, backend: &Backend) -> Arc<AtomicUsize> {
        if let Ok(map) = self.counters.read()
            && let Some(c) = map.get(backend)
        {
            return c.clone();
        }
        let mut map = match self.counters.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        map.entry(backend.clone()).or_default().clone()
    }

    /// The next endpoint of `backend` in round-robin order.
    fn pick(&self, backend: &Backend, endpoints: &[SocketAddr]) -> Option<SocketAddr> {
        if endpoints.is_empty() {
            return None;
        }
        let n = self.counter(backend).fetch_add(1, Ordering::Relaxed);
        endpoints.get(n % endpoints.len()).copied()
    }

    /// Handles one client request.
    pub async fn handle<B>(
        self: &Arc<Self>,
        mut req: Request<B>,
        remote: SocketAddr,
    ) -> Response<ProxyBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let start = Instant::now();
        let host_header = req
            .headers()
            .get(HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| req.uri().authority().map(|a| a.to_string()))
            .unwrap_or_default();
        let method = req.method().as_str().to_string();
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or("").to_string();
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let cookies = parse_cookie_header(
            req.headers()
                .get_all(COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
        let info = RequestInfo {
            host: &host_header,
            path: &path,
            query: &query,
            method: &method,
            headers: &headers,
            cookies: &cookies,
        };
        let table = self.table();
        let routed = self.with_random(|random| {
            let decision = table.route(&info, random)?;
            let mirrors: Vec<Mirror> = decision
                .mirrors
                .iter()
                .filter(|m| m.sample(random))
                .cloned()
                .collect();
            Some((decision, mirrors))
        });
        let Some((decision, mirrors)) = routed else {
            self.metrics.not_found();
            return error_page(StatusCode::NOT_FOUND);
        };

        let content_length = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let mut record = Record {
            metrics: self.metrics.clone(),
            labels: request_labels(&decision, &host_header, &method),
            served_by: decision
                .backend
                .as_ref()
                .map(|b| b.service.clone())
                .unwrap_or_default(),
            canary: decision.canary,
            start,
            request_size: head_size(&req) + content_length.unwrap_or(0),
        };

        let Some(backend) = decision.backend.clone() else {
            let status = StatusCode::from_u16(decision.no_backend_status)
                .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return local_response(status, &record);
        };
        let endpoints = self.resolver.endpoints(&backend);
        if endpoints.is_empty() {
            return local_response(StatusCode::SERVICE_UNAVAILABLE, &record);
        }

        let upgrade = is_upgrade(req.headers()).then(|| {
            let on_upgrade = hyper::upgrade::on(&mut req);
            let protocol = req.headers().get(UPGRADE).cloned();
            (on_upgrade, protocol)
        });

        let (parts, body) = req.into_parts();
        let chunked = parts.headers.contains_key(TRANSFER_ENCODING);
        let known_len = if chunked {
            None
        } else {
            content_length.or(body.size_hint().exact())
        };
        let prepared = if body.is_end_stream() || known_len == Some(0) {
            PreparedBody::Buffered(Bytes::new())
        } else if known_len.is_some_and(|n| n <= self.config.buffer_limit as u64) {
            let read = Limited::new(body, self.config.buffer_limit).collect();
            match tokio::time::timeout(self.config.read_timeout, read).await {
                Err(_) => return local_response(StatusCode::REQUEST_TIMEOUT, &record),
                Ok(Ok(collected)) => {
                    let bytes = collected.to_bytes();
                    if content_length.is_none() {
                        record.request_size += bytes.len() as u64;
                    }
                    PreparedBody::Buffered(bytes)
                }
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "ingress: reading the request body failed");
                    return local_response(StatusCode::BAD_REQUEST, &record);
                }
            }
        } else {
            PreparedBody::Streaming(Some(body.map_err(Into::into).boxed_unsync()))
        };

        let forwarded = self.forwarded_headers(
            &parts.headers,
            &host_header,
            remote,
            upgrade.as_ref().and_then(|(_, p)| p.as_ref()),
            &decision.request_header_changes,
        );
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_string(), |pq| pq.as_str().to_string());

        if !mirrors.is_empty() {
            self.send_mirrors(
                &mirrors,
                &parts.method,
                &path_and_query,
                &forwarded,
                &prepared,
                upgrade.is_some(),
                &record.labels,
            );
        }

        self.forward(
            backend,
            &endpoints,
            parts.method,
            &path_and_query,
            forwarded,
            prepared,
            upgrade.map(|(u, _)| u),
            record,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn forward(
        self: &Arc<Self>,
        backend: Backend,
        endpoints: &[SocketAddr],
        method: hyper::Method,
        path_and_query: &str,
        headers: HeaderMap,
        mut body: PreparedBody,
        client_upgrade: Option<hyper::upgrade::OnUpgrade>,
        record: Record,
    ) -> Response<ProxyBody> {
        let tries = match body {
            PreparedBody::Buffered(_) => self.config.upstream_tries.clamp(1, endpoints.len()),
            PreparedBody::Streaming(_) => 1,
        };
        let mut status = StatusCode::BAD_GATEWAY;
        for attempt in 0..tries {
            let Some(addr) = self.pick(&backend, endpoints) else {
                break;
            };
            let req_body = match &mut body {
                PreparedBody::Buffered(b) => full(b.clone()),
                PreparedBody::Streaming(s) => match s.take() {
                    Some(s) => s,
                    None => break,
                },
            };
            let upstream = match build_request(&method, addr, path_and_query, &headers, req_body) {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(error = %e, "ingress: cannot build the upstream request");
                    return local_response(StatusCode::BAD_REQUEST, &record);
                }
            };
            let upstream_start = Instant::now();
            match tokio::time::timeout(self.config.read_timeout, self.client.request(upstream))
                .await
            {
                Ok(Ok(resp)) => {
                    let header_secs = upstream_start.elapsed().as_secs_f64();
                    return relay(resp, record, upstream_start, header_secs, client_upgrade);
                }
                Ok(Err(e)) => {
                    let timed_out = is_timeout(&e);
                    status = if timed_out {
                        StatusCode::GATEWAY_TIMEOUT
                    } else {
                        StatusCode::BAD_GATEWAY
                    };
                    tracing::debug!(upstream = %addr, attempt, error = %e, "ingress: upstream failed");
                    if !e.is_connect() {
                        break;
                    }
                }
                Err(_) => {
                    tracing::debug!(upstream = %addr, "ingress: upstream timed out");
                    status = StatusCode::GATEWAY_TIMEOUT;
                    break;
                }
            }
        }
        local_response(status, &record)
    }

    fn forwarded_headers(
        &self,
        incoming: &HeaderMap,
        host_header: &str,
        remote: SocketAddr,
        upgrade: Option<&HeaderValue>,
        changes: &[HeaderChange],
    ) -> HeaderMap {
        let connection_tokens: Vec<String> = incoming
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect();
        let mut out = HeaderMap::with_capacity(incoming.len() + 8);
        for (name, value) in incoming {
            if is_hop_by_hop(name)
                || name == EXPECT
                || connection_tokens.iter().any(|t| t == name.as_str())
            {
                continue;
            }
            out.append(name.clone(), value.clone());
        }
        if let Some(protocol) = upgrade {
            out.insert(CONNECTION, HeaderValue::from_static("upgrade"));
            out.insert(UPGRADE, protocol.clone());
        }
        let ip = remote.ip().to_string();
        let prior: Vec<&str> = incoming
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let xff = if prior.is_empty() {
            ip.clone()
        } else {
            format!("{}, {ip}", prior.join(", "))
        };
        set_header(&mut out, "x-forwarded-for", &xff);
        set_header(&mut out, "x-real-ip", &ip);
        if !incoming.contains_key("x-request-id") {
            let id: u128 = rand::rng().random();
            set_header(&mut out, "x-request-id", &format!("{id:032x}"));
        }
        set_header(&mut out, "x-forwarded-host", host_header);
        set_header(
            &mut out,
            "x-forwarded-port",
            &self.config.listen_port.to_string(),
        );
        for name in ["x-forwarded-proto", "x-forwarded-scheme", "x-scheme"] {
            set_header(&mut out, name, "http");
        }
        for change in changes {
            match change {
                HeaderChange::Set { name, value } => {
                    if let (Ok(n), Ok(v)) = (
                        HeaderName::from_bytes(name.as_bytes()),
                        HeaderValue::from_str(value),
                    ) {
                        out.insert(n, v);
                    }
                }
                HeaderChange::Add { name, value } => {
                    if let (Ok(n), Ok(v)) = (
                        HeaderName::from_bytes(name.as_bytes()),
                        HeaderValue::from_str(value),
                    ) {
                        out.append(n, v);
                    }
                }
                HeaderChange::Remove { name } => {
                    if let Ok(n) = HeaderName::from_bytes(name.as_bytes()) {
                        out.remove(n);
                    }
                }
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
    fn send_mirrors(
        self: &Arc<Self>,
        mirrors: &[Mirror],
        method: &hyper::Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: &PreparedBody,
        upgrade: bool,
        labels: &RequestLabels,
    ) {
        for mirror in mirrors {
            let PreparedBody::Buffered(bytes) = body else {
                self.metrics.mirror(MirrorOutcome::Skipped);
                continue;
            };
            if upgrade {
                self.metrics.mirror(MirrorOutcome::Skipped);
                continue;
            }
            let endpoints = self.resolver.endpoints(&mirror.backend);
            let Some(addr) = self.pick(&mirror.backend, &endpoints) else {
                self.metrics.mirror(MirrorOutcome::Skipped);
                continue;
            };
            let Ok(permit) = self.mirror_slots.clone().try_acquire_owned() else {
                self.metrics.mirror(MirrorOutcome::Skipped);
                continue;
            };
            let Ok(req) = build_request(method, addr, path_and_query, headers, full(bytes.clone()))
            else {
                self.metrics.mirror(MirrorOutcome::Skipped);
                continue;
            };
            let client = self.client.clone();
            let metrics = self.metrics.clone();
            let limit = self.config.read_timeout;
            // The mirror's answers are counted under its own Service (as a gateway's
            // per-backend statistics do), so a shadow version can be compared with the
            // primary; they never reach the client.
            let mut labels = labels.clone();
            labels.service = mirror.backend.service.clone();
            labels.canary = String::new();
            let started = Instant::now();
            tokio::spawn(async move {
                let _permit = permit;
                let mut record = |status: u16| {
                    labels.status = status;
                    let seconds = started.elapsed().as_secs_f64();
                    metrics.observe(&Observation {
                        labels: labels.clone(),
                        request_seconds: seconds,
                        upstream_header_seconds: Some(seconds),
                        upstream_response_seconds: Some(seconds),
                        request_size: 0,
                        response_size: 0,
                        served_by: labels.service.clone(),
                        canary: false,
                    });
                };
                let outcome = match tokio::time::timeout(limit, client.request(req)).await {
                    Ok(Ok(resp)) => {
                        let status = resp.status().as_u16();
                        // Drain the answer so the connection can be reused; ignore it otherwise.
                        let mut body = resp.into_body();
                        let _ = tokio::time::timeout(limit, async {
                            while let Some(frame) = body.frame().await {
                                if frame.is_err() {
                                    break;
                                }
                            }
                        })
                        .await;
                        record(status);
                        MirrorOutcome::Sent
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(upstream = %addr, error = %e, "ingress: mirror failed");
                        record(502);
                        MirrorOutcome::Failed
                    }
                    Err(_) => {
                        record(504);
                        MirrorOutcome::Failed
                    }
                };
                metrics.mirror(outcome);
            });
        }
    }
}

fn request_labels(decision: &Decision, host_header: &str, method: &str) -> RequestLabels {
    RequestLabels {
        canary: decision.canary_label.clone(),
        host: host_without_port(host_header).to_ascii_lowercase(),
        ingress: decision.ingress.clone(),
        method: method.to_string(),
        namespace: decision.namespace.clone(),
        path: decision.matched_path.clone(),
        service: decision.service_label.clone(),
        status: 0,
    }
}

fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Approximate `$request_length` without the body: request line and headers.
fn head_size<B>(req: &Request<B>) -> u64 {
    let line = req.method().as_str().len() + 1 + req.uri().to_string().len() + 11;
    let headers: usize = req
        .headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    (line + headers + 2) as u64
}

fn response_head_size(status: StatusCode, headers: &HeaderMap) -> u64 {
    let line = 13 + status.canonical_reason().map_or(0, str::len) + 2;
    let headers: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    (line + headers + 2) as u64
}

fn set_header(map: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        map.insert(HeaderName::from_static(name), v);
    }
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(UPGRADE)
        && headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        if err.to_string().contains("timed out") {
            return true;
        }
        cur = err.source();
    }
    false
}

fn build_request(
    method: &hyper::Method,
    addr: SocketAddr,
    path_and_query: &str,
    headers: &HeaderMap,
    body: ProxyBody,
) -> Result<Request<ProxyBody>, hyper::http::Error> {
    let uri: Uri = format!("http://{addr}{path_and_query}").parse()?;
    let mut req = Request::builder()
        .method(method.clone())
        .uri(uri)
        .version(Version::HTTP_11)
        .body(body)?;
    *req.headers_mut() = headers.clone();
    Ok(req)
}

fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// nginx's error page for `status`.
pub fn error_page(status: StatusCode) -> Response<ProxyBody> {
    let text = status_text(status);
    let body = format!(
        "<html>\r\n<head><title>{text}</title></head>\r\n<body>\r\n<center><h1>{text}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
    resp
}

/// nginx's status line text (`503 Service Temporarily Unavailable`, `504 Gateway Time-out`).
fn status_text(status: StatusCode) -> String {
    let reason = match status.as_u16() {
        503 => "Service Temporarily Unavailable",
        504 => "Gateway Time-out",
        408 => "Request Time-out",
        413 => "Request Entity Too Large",
        _ => status.canonical_reason().unwrap_or(""),
    };
    format!("{} {reason}", status.as_u16())
}

fn local_response(status: StatusCode, record: &Record) -> Response<ProxyBody> {
    let resp = error_page(status);
    let body_len = resp.body().size_hint().exact().unwrap_or(0);
    record.finish(
        status.as_u16(),
        response_head_size(status, resp.headers()) + body_len,
        None,
        None,
    );
    resp
}

fn relay(
    mut resp: Response<Incoming>,
    record: Record,
    upstream_start: Instant,
    header_secs: f64,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Response<ProxyBody> {
    let status = resp.status();
    if status == StatusCode::SWITCHING_PROTOCOLS
        && let Some(client_upgrade) = client_upgrade
    {
        let upstream_upgrade = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            let (client, upstream) = futures::join!(client_upgrade, upstream_upgrade);
            match (client, upstream) {
                (Ok(client), Ok(upstream)) => {
                    let mut client = TokioIo::new(client);
                    let mut upstream = TokioIo::new(upstream);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
                (c, u) => {
                    tracing::debug!(
                        client = c.is_ok(),
                        upstream = u.is_ok(),
                        "ingress: upgrade failed"
                    );
                }
            }
        });
        let (parts, _) = resp.into_parts();
        record.finish(
            101,
            response_head_size(status, &parts.headers),
            Some(header_secs),
            Some(header_secs),
        );
        return Response::from_parts(parts, full(Bytes::new()));
    }
    let (mut parts, body) = resp.into_parts();
    let connection_tokens: Vec<HeaderName> = parts
        .headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in connection_tokens {
        parts.headers.remove(name);
    }
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        parts.headers.remove(name);
    }
    let head = response_head_size(status, &parts.headers);
    let metered = MeteredBody {
        inner: body.map_err(Into::into).boxed_unsync(),
        bytes: 0,
        pending: Some(PendingRecord {
            record,
            status: status.as_u16(),
            head,
            upstream_start,
            header_secs,
        }),
    };
    Response::from_parts(parts, metered.boxed_unsync())
}

struct PendingRecord {
    record: Record,
    status: u16,
    head: u64,
    upstream_start: Instant,
    header_secs: f64,
}

/// Passes the upstream body through and records the request when it ends (or is dropped).
struct MeteredBody {
    inner: ProxyBody,
    bytes: u64,
    pending: Option<PendingRecord>,
}

impl MeteredBody {
    fn finish(&mut self) {
        if let Some(p) = self.pending.take() {
            p.record.finish(
                p.status,
                p.head + self.bytes,
                Some(p.header_secs),
                Some(p.upstream_start.elapsed().as_secs_f64()),
            );
        }
    }
}

impl Body for MeteredBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes += data.len() as u64;
                }
            }
            Poll::Ready(Some(Err(_)) | None) => this.finish(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for MeteredBody {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Serves `handler` on `listener` until `shutdown` turns true (or its sender is dropped);
/// connections then get a second to finish.
pub async fn serve<R: Resolve>(
    handler: Arc<Handler<R>>,
    listener: TcpListener,
    shutdown: watch::Receiver<bool>,
) {
    accept_loop(listener, shutdown, move |remote| {
        let handler = handler.clone();
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let handler = handler.clone();
            async move { Ok::<_, Infallible>(handler.handle(req, remote).await) }
        })
    })
    .await;
}

/// Serves `GET /metrics` (text format 0.0.4) and `GET /healthz` from `metrics`.
pub async fn serve_metrics(
    metrics: Arc<Metrics>,
    listener: TcpListener,
    shutdown: watch::Receiver<bool>,
) {
    accept_loop(listener, shutdown, move |_| {
        let metrics = metrics.clone();
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let metrics = metrics.clone();
            async move {
                let resp = match req.uri().path() {
                    "/metrics" => {
                        let mut r = Response::new(full(metrics.render()));
                        r.headers_mut()
                            .insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE));
                        r
                    }
                    "/healthz" => Response::new(full("ok")),
                    _ => error_page(StatusCode::NOT_FOUND),
                };
                Ok::<_, Infallible>(resp)
            }
        })
    })
    .await;
}

/// Resolves once `rx` says stop (or its sender is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

async fn accept_loop<F, S>(listener: TcpListener, mut shutdown: watch::Receiver<bool>, make: F)
where
    F: Fn(SocketAddr) -> S,
    S: hyper::service::Service<
            Request<Incoming>,
            Response = Response<ProxyBody>,
            Error = Infallible,
        > + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::debug!(error = %e, "ingress: accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = make(remote);
                let mut conn_shutdown = shutdown.clone();
                conns.spawn(async move {
                    let conn = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(60))
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades();
                    tokio::pin!(conn);
                    tokio::select! {
                        res = conn.as_mut() => {
                            if let Err(e) = res {
                                tracing::trace!(error = %e, "ingress: connection ended");
                            }
                        }
                        _ = stopped(&mut conn_shutdown) => {
                            conn.as_mut().graceful_shutdown();
                            let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
                        }
                    }
                });
            }
            _ = stopped(&mut shutdown) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(2), drain)
        .await
        .is_err()
    {
        conns.abort_all();
    }
}

// ----- the cluster-fed proxy -----

/// Gateway API HTTPRoute, read as a dynamic object.
pub fn http_route_resource() -> ApiResource {
    ApiResource {
        group: "gateway.networking.k8s.io".into(),
        version: "v1".into(),
        api_version: "gateway.networking.k8s.io/v1".into(),
        kind: "HTTPRoute".into(),
        plural: "httproutes".into(),
    }
}

#[derive(Default)]
struct SyncState {
    ingresses: AtomicBool,
    routes: AtomicBool,
    services: AtomicBool,
    slices: AtomicBool,
    routes_changed: Notify,
    endpoints_changed: Notify,
    status_changed: Notify,
}

impl SyncState {
    fn all_synced(&self) -> bool {
        [&self.ingresses, &self.routes, &self.services, &self.slices]
            .iter()
            .all(|f| f.load(Ordering::Acquire))
    }
}

/// The ingress proxy of a cluster: watches it through `kube`, serves HTTP on
/// [`IngressProxy::addr`] and metrics on [`IngressProxy::metrics_addr`].
pub struct IngressProxy {
    addr: SocketAddr,
    metrics_addr: SocketAddr,
    handler: Arc<Handler<Arc<SharedEndpoints>>>,
    shutdown: watch::Sender<bool>,
    ready: watch::Receiver<bool>,
    servers: Vec<JoinHandle<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Debug for IngressProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngressProxy")
            .field("addr", &self.addr)
            .field("metrics_addr", &self.metrics_addr)
            .finish_non_exhaustive()
    }
}

impl IngressProxy {
    /// Binds both listeners, starts watching the cluster and serving. Requests that arrive
    /// before the first sync get 404; await [`IngressProxy::ready`] first.
    pub async fn start(
        client: kube::Client,
        opts: IngressOptions,
    ) -> Result<IngressProxy, IngressError> {
        let listener = bind(opts.listen).await?;
        let addr = listener.local_addr()?;
        let metrics_listener = bind(opts.metrics_listen).await?;
        let metrics_addr = metrics_listener.local_addr()?;

        let metrics = Arc::new(Metrics::new(opts.controller.clone()));
        let endpoints = Arc::new(SharedEndpoints::default());
        let config = HandlerConfig {
            connect_timeout: opts.connect_timeout,
            read_timeout: opts.read_timeout,
            listen_port: addr.port(),
            ..HandlerConfig::default()
        };
        let handler = Arc::new(Handler::new(
            RoutingTable::default(),
            endpoints.clone(),
            metrics.clone(),
            config,
        ));
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = watch::channel(false);
        let sync = Arc::new(SyncState::default());

        let (ingress_store, ingress_writer) = reflector::store::<Ingress>();
        let (service_store, service_writer) = reflector::store::<Service>();
        // EndpointSlices are discovery.k8s.io/v1 since Kubernetes 1.21; older API servers
        // (1.20) serve v1beta1, whose fields the proxy reads are the same.
        let slice_resource = kube_util::endpoints::endpoint_slice_resource(&client).await;
        let slice_writer = Writer::<DynamicObject>::new(slice_resource.clone());
        let slice_store = slice_writer.as_reader();
        let route_resource = http_route_resource();
        let route_writer = Writer::<DynamicObject>::new(route_resource.clone());
        let route_store = route_writer.as_reader();

        let mut tasks = Vec::new();
        {
            let sync2 = sync.clone();
            tasks.push(tokio::spawn(watch_kind(
                Api::<Ingress>::all(client.clone()),
                ingress_writer,
                false,
                "Ingress",
                move |synced| {
                    if synced {
                        sync2.ingresses.store(true, Ordering::Release);
                    }
                    sync2.routes_changed.notify_one();
                    sync2.status_changed.notify_one();
                },
            )));
        }
        {
            let sync2 = sync.clone();
            tasks.push(tokio::spawn(watch_kind(
                Api::<DynamicObject>::all_with(client.clone(), &route_resource),
                route_writer,
                true,
                "HTTPRoute",
                move |synced| {
                    if synced {
                        sync2.routes.store(true, Ordering::Release);
                    }
                    sync2.routes_changed.notify_one();
                },
            )));
        }
        {
            let sync2 = sync.clone();
            tasks.push(tokio::spawn(watch_kind(
                Api::<Service>::all(client.clone()),
                service_writer,
                false,
                "Service",
                move |synced| {
                    if synced {
                        sync2.services.store(true, Ordering::Release);
                    }
                    sync2.endpoints_changed.notify_one();
                },
            )));
        }
        {
            let sync2 = sync.clone();
            tasks.push(tokio::spawn(watch_kind(
                Api::<DynamicObject>::all_with(client.clone(), &slice_resource),
                slice_writer,
                false,
                "EndpointSlice",
                move |synced| {
                    if synced {
                        sync2.slices.store(true, Ordering::Release);
                    }
                    sync2.endpoints_changed.notify_one();
                },
            )));
        }
        tasks.push(tokio::spawn(rebuild_loop(
            handler.clone(),
            endpoints,
            Stores {
                ingresses: ingress_store.clone(),
                routes: route_store,
                services: service_store,
                slices: slice_store,
            },
            sync.clone(),
            opts.ingress_class.clone(),
            ready_tx,
            shutdown_rx.clone(),
        )));
        if !opts.publish_address.is_empty() {
            tasks.push(tokio::spawn(status_loop(
                client,
                ingress_store,
                sync,
                opts.ingress_class.clone(),
                opts.publish_address.clone(),
                shutdown_rx.clone(),
            )));
        }

        let servers = vec![
            tokio::spawn(serve(handler.clone(), listener, shutdown_rx.clone())),
            tokio::spawn(serve_metrics(metrics, metrics_listener, shutdown_rx)),
        ];
        Ok(IngressProxy {
            addr,
            metrics_addr,
            handler,
            shutdown: shutdown_tx,
            ready: ready_rx,
            servers,
            tasks,
        })
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The metrics listener's address (`GET /metrics`).
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    /// Resolves once Ingresses, HTTPRoutes (or their absence), Services and EndpointSlices
    /// have all been listed and the routing table and endpoints built from them.
    pub async fn ready(&self) {
        let mut ready = self.ready.clone();
        let _ = ready.wait_for(|r| *r).await;
    }

    /// Counters per Ingress / Service / canary, by status class.
    pub fn stats(&self) -> ProxyStats {
        self.handler.metrics().stats()
    }

    /// The metrics exposition (what `/metrics` serves).
    pub fn metrics_text(&self) -> String {
        self.handler.metrics().render()
    }

    /// The routing table in use (its `warnings()` explain what is not served).
    pub fn routing_table(&self) -> Arc<RoutingTable> {
        self.handler.table()
    }

    /// The endpoint index in use.
    pub fn endpoints(&self) -> Arc<EndpointIndex> {
        self.handler.resolver().get()
    }

    /// Stops serving (connections get a second to finish) and watching.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        for server in std::mem::take(&mut self.servers) {
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
        for task in std::mem::take(&mut self.tasks) {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for IngressProxy {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks.iter().chain(self.servers.iter()) {
            task.abort();
        }
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, IngressError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| IngressError::Bind { addr, source })
}

/// Runs a watcher into `writer` until aborted. `changed(synced)` is called after each change;
/// `synced` is true once a full list has been applied. With `missing_ok`, a 404 / 403 (the CRD
/// is not installed, or we may not read it) counts as a synced empty list.
async fn watch_kind<K>(
    api: Api<K>,
    mut writer: Writer<K>,
    missing_ok: bool,
    kind: &'static str,
    changed: impl Fn(bool) + Send + 'static,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    let stream = watcher(api, watcher::Config::default()).default_backoff();
    futures::pin_mut!(stream);
    let mut missing = false;
    let mut synced = false;
    while let Some(event) = stream.next().await {
        match event {
            Ok(event) => {
                writer.apply_watcher_event(&event);
                match event {
                    watcher::Event::InitDone => {
                        synced = true;
                        if missing {
                            tracing::info!(kind, "ingress: now watching {kind}");
                            missing = false;
                        }
                        changed(true);
                    }
                    watcher::Event::Apply(_) | watcher::Event::Delete(_) => changed(synced),
                    watcher::Event::Init | watcher::Event::InitApply(_) => {}
                }
            }
            Err(e) if missing_ok && is_missing(&e) => {
                if !missing || !synced {
                    tracing::info!(kind, error = %e, "ingress: {kind} not served by the API server; none used");
                    writer.apply_watcher_event(&watcher::Event::Init);
                    writer.apply_watcher_event(&watcher::Event::InitDone);
                    missing = true;
                    synced = true;
                    changed(true);
                }
            }
            Err(e) => tracing::warn!(kind, error = %e, "ingress: watch failed; retrying"),
        }
    }
}

fn is_missing(e: &watcher::Error) -> bool {
    let code = match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => s.code,
        watcher::Error::WatchError(s) => s.code,
        _ => return false,
    };
    matches!(code, 403 | 404)
}

struct Stores {
    ingresses: Store<Ingress>,
    routes: Store<DynamicObject>,
    services: Store<Service>,
    /// EndpointSlices (v1 or v1beta1), read as v1.
    slices: Store<DynamicObject>,
}

fn build_table(stores: &Stores, ingress_class: &str) -> RoutingTable {
    let ingresses: Vec<Ingress> = stores
        .ingresses
        .state()
        .iter()
        .map(|i| (**i).clone())
        .collect();
    let routes: Vec<serde_json::Value> = stores
        .routes
        .state()
        .iter()
        .filter_map(|r| serde_json::to_value(&**r).ok())
        .collect();
    let table = RoutingTable::build(&ingresses, &routes, ingress_class);
    for w in table.warnings() {
        tracing::debug!(warning = %w, "ingress: routing");
    }
    table
}

fn build_endpoints(stores: &Stores) -> EndpointIndex {
    let services = stores.services.state();
    let slices: Vec<EndpointSlice> = stores
        .slices
        .state()
        .iter()
        .filter_map(|o| kube_util::endpoints::slice_as_v1(o))
        .collect();
    EndpointIndex::build(services.iter().map(|s| &**s), slices.iter())
}

#[allow(clippy::too_many_arguments)]
async fn rebuild_loop(
    handler: Arc<Handler<Arc<SharedEndpoints>>>,
    endpoints: Arc<SharedEndpoints>,
    stores: Stores,
    sync: Arc<SyncState>,
    ingress_class: String,
    ready: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = sync.routes_changed.notified() => {
                handler.set_table(build_table(&stores, &ingress_class));
            }
            _ = sync.endpoints_changed.notified() => {
                endpoints.set(build_endpoints(&stores));
            }
            _ = stopped(&mut shutdown) => return,
        }
        if !*ready.borrow() && sync.all_synced() {
            handler.set_table(build_table(&stores, &ingress_class));
            endpoints.set(build_endpoints(&stores));
            let _ = ready.send(true);
        }
    }
}

/// Whether the proxy serves `ing`: the routing table's own rule.
pub fn serves_ingress(ing: &Ingress, ingress_class: &str) -> bool {
    super::routing::serves_class(ing, ingress_class)
}

/// The status merge patch for `ing`, or `None` when it already lists `publish`.
pub fn status_patch(ing: &Ingress, publish: &str) -> Option<serde_json::Value> {
    let is_ip = publish.parse::<IpAddr>().is_ok();
    let present = ing
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .is_some_and(|list| {
            list.iter().any(|e| {
                if is_ip {
                    e.ip.as_deref() == Some(publish)
                } else {
                    e.hostname.as_deref() == Some(publish)
                }
            })
        });
    if present {
        return None;
    }
    let entry = if is_ip {
        serde_json::json!({ "ip": publish })
    } else {
        serde_json::json!({ "hostname": publish })
    };
    Some(serde_json::json!({ "status": { "loadBalancer": { "ingress": [entry] } } }))
}

async fn status_loop(
    client: kube::Client,
    ingresses: Store<Ingress>,
    sync: Arc<SyncState>,
    ingress_class: String,
    publish: String,
    mut shutdown: watch::Receiver<bool>,
) {
    // Another controller writing its own address must not make us patch in a loop.
    let mut last_patch: HashMap<String, Instant> = HashMap::new();
    let mut retry = tokio::time::interval(Duration::from_secs(15));
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = sync.status_changed.notified() => {}
            _ = retry.tick() => {}
            _ = stopped(&mut shutdown) => return,
        }
        if !sync.ingresses.load(Ordering::Acquire) {
            continue;
        }
        last_patch.retain(|_, t| t.elapsed() < Duration::from_secs(30));
        for ing in ingresses.state() {
            if !serves_ingress(&ing, &ingress_class) {
                continue;
            }
            let Some(patch) = status_patch(&ing, &publish) else {
                continue;
            };
            let key = ing.uid().unwrap_or_else(|| {
                format!("{}/{}", ing.namespace().unwrap_or_default(), ing.name_any())
            });
            if last_patch.contains_key(&key) {
                continue;
            }
            let Some(ns) = ing.namespace() else {
                continue;
            };
            let api = Api::<Ingress>::namespaced(client.clone(), &ns);
            match api
                .patch_status(
                    &ing.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
            {
                Ok(_) => {
                    last_patch.insert(key, Instant::now());
                }
                Err(e) => {
                    tracing::debug!(ingress = %ing.name_any(), namespace = %ns, error = %e, "ingress: status update failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::get as axum_get;
    use serde_json::{Value, json};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // ----- local upstreams -----

    #[derive(Debug, Clone)]
    struct Seen {
        method: String,
        uri: String,
        headers: HeaderMap,
        body_len: usize,
        body: Bytes,
    }

    struct Upstream {
        addr: SocketAddr,
        seen: Arc<Mutex<Vec<Seen>>>,
        task: JoinHandle<()>,
    }

    impl Upstream {
        fn seen(&self) -> Vec<Seen> {
            self.seen.lock().expect("lock").clone()
        }
    }

    impl Drop for Upstream {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    /// An axum server answering its `name` (and `x-backend: name`) to everything except
    /// `/slow`, remembering what it got.
    async fn upstream(name: &'static str) -> Upstream {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let app = Router::new()
            .route(
                "/slow",
                axum_get(|| async {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    "slow"
                }),
            )
            .fallback(move |req: axum::extract::Request| {
                let record = record.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let body = axum::body::to_bytes(body, usize::MAX)
                        .await
                        .unwrap_or_default();
                    record.lock().expect("lock").push(Seen {
                        method: parts.method.to_string(),
                        uri: parts.uri.to_string(),
                        headers: parts.headers,
                        body_len: body.len(),
                        body,
                    });
                    ([("x-backend", name)], name)
                }
            });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Upstream { addr, seen, task }
    }

    /// An address nothing listens on.
    async fn dead_addr() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        l.local_addr().expect("addr")
    }

    // ----- resolver, tables -----

    #[derive(Default)]
    struct StaticResolver(Mutex<HashMap<String, Vec<SocketAddr>>>);

    impl StaticResolver {
        fn with(entries: &[(&str, Vec<SocketAddr>)]) -> StaticResolver {
            let r = StaticResolver::default();
            for (svc, addrs) in entries {
                r.0.lock()
                    .expect("lock")
                    .insert((*svc).to_string(), addrs.clone());
            }
            r
        }
    }

    impl Resolve for StaticResolver {
        fn endpoints(&self, backend: &Backend) -> Arc<[SocketAddr]> {
            self.0
                .lock()
                .expect("lock")
                .get(&backend.service)
                .cloned()
                .unwrap_or_default()
                .into()
        }
    }

    fn ingress(
        name: &str,
        created: &str,
        annotations: Value,
        host: &str,
        service: &str,
    ) -> Ingress {
        serde_json::from_value(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": "default", "creationTimestamp": created,
                         "annotations": annotations},
            "spec": {"ingressClassName": "nginx", "rules": [{"host": host, "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": service, "port": {"number": 80}}}}
            ]}}]},
        }))
        .expect("valid Ingress")
    }

    fn main_and_canary(canary_annotations: Value) -> RoutingTable {
        let mut annotations = json!({"nginx.ingress.kubernetes.io/canary": "true"});
        if let (Some(a), Some(extra)) =
            (annotations.as_object_mut(), canary_annotations.as_object())
        {
            for (k, v) in extra {
                a.insert(format!("nginx.ingress.kubernetes.io/{k}"), v.clone());
            }
        }
        RoutingTable::build(
            &[
                ingress("app", "2024-01-01T00:00:00Z", json!({}), "app.test", "v1"),
                ingress(
                    "app-canary",
                    "2024-01-01T00:00:01Z",
                    annotations,
                    "app.test",
                    "v2",
                ),
            ],
            &[],
            "nginx",
        )
    }

    fn route_table(rule: Value) -> RoutingTable {
        let route = json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "web", "namespace": "apps", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"hostnames": ["route.test"], "rules": [rule]},
        });
        RoutingTable::build(&[], &[route], "nginx")
    }

    // ----- proxy and client -----

    struct TestProxy {
        addr: SocketAddr,
        handler: Arc<Handler<StaticResolver>>,
        shutdown: watch::Sender<bool>,
        server: JoinHandle<()>,
    }

    impl TestProxy {
        async fn stop(self) {
            let _ = self.shutdown.send(true);
            let _ = tokio::time::timeout(Duration::from_secs(5), self.server).await;
        }
    }

    async fn start(
        table: RoutingTable,
        resolver: StaticResolver,
        config: HandlerConfig,
    ) -> TestProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let handler = Arc::new(Handler::new(
            table,
            resolver,
            Arc::new(Metrics::default()),
            HandlerConfig {
                listen_port: addr.port(),
                seed: Some(7),
                ..config
            },
        ));
        let (shutdown, rx) = watch::channel(false);
        let server = tokio::spawn(serve(handler.clone(), listener, rx));
        TestProxy {
            addr,
            handler,
            shutdown,
            server,
        }
    }

    type TestClient = Client<HttpConnector, Full<Bytes>>;

    fn client() -> TestClient {
        Client::builder(TokioExecutor::new()).build(HttpConnector::new())
    }

    struct Answer {
        status: StatusCode,
        headers: HeaderMap,
        body: String,
    }

    async fn send(
        client: &TestClient,
        proxy: SocketAddr,
        method: &str,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Answer {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("http://{proxy}{path}"))
            .header(HOST, host);
        for (n, v) in headers {
            builder = builder.header(*n, *v);
        }
        let req = builder.body(Full::new(body.into())).expect("request");
        let resp = client.request(req).await.expect("response");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    async fn get(client: &TestClient, proxy: SocketAddr, host: &str, path: &str) -> Answer {
        send(client, proxy, "GET", host, path, &[], Bytes::new()).await
    }

    async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
        for _ in 0..200 {
            if check() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("timed out waiting for {what}");
    }

    // ----- tests -----

    #[tokio::test]
    async fn weight_split_and_metrics_labels() {
        let v1 = upstream("v1").await;
        let v2 = upstream("v2").await;
        let proxy = start(
            main_and_canary(json!({"canary-weight": "20"})),
            StaticResolver::with(&[("v1", vec![v1.addr]), ("v2", vec![v2.addr])]),
            HandlerConfig::default(),
        )
        .await;
        let c = client();
        let (mut n1, mut n2) = (0u64, 0u64);
        for _ in 0..2000 {
            let a = get(&c, proxy.addr, "app.test", "/x").await;
            assert_eq!(a.status, StatusCode::OK);
            match a.body.as_str() {
                "v1" => n1 += 1,
                "v2" => n2 += 1,
                other => panic!("unexpected body {other}"),
            }
        }
        let share = n2 as f64 / 2000.0;
        assert!((0.17..=0.23).contains(&share), "canary share {share}");

        let stats = proxy.handler.metrics().stats();
        let main = stats
            .backends
            .iter()
            .find(|b| !b.canary)
            .expect("main entry");
        let canary = stats
            .backends
            .iter()
            .find(|b| b.canary)
            .expect("canary entry");
        assert_eq!(
            (main.ingress.as_str(), main.service.as_str()),
            ("app", "v1")
        );
        assert_eq!(
            (canary.ingress.as_str(), canary.service.as_str()),
            ("app", "v2")
        );
        assert_eq!((main.by_class[1], canary.by_class[1]), (n1, n2));

        let text = proxy.handler.metrics().render();
        let rest = "controller_class=\"k8s.io/ingress-nginx\",controller_namespace=\"ingress-nginx\",controller_pod=\"rollout-ingress\",host=\"app.test\",ingress=\"app\",method=\"GET\",namespace=\"default\",path=\"/\",service=\"v1\",status=\"200\"";
        assert!(
            text.contains(&format!(
                "nginx_ingress_controller_requests{{canary=\"\",{rest}}} {n1}\n"
            )),
            "{text}"
        );
        assert!(text.contains(&format!(
            "nginx_ingress_controller_requests{{canary=\"default-v2-80\",{rest}}} {n2}\n"
        )));
        assert!(text.contains(&format!(
            "nginx_ingress_controller_request_duration_seconds_count{{canary=\"default-v2-80\",{rest}}} {n2}\n"
        )));
        assert!(text.contains(&format!(
            "nginx_ingress_controller_response_size_count{{canary=\"\",{rest}}} {n1}\n"
        )));
        proxy.stop().await;
    }

    #[tokio::test]
    async fn no_endpoints_is_503_and_unmatched_is_404() {
        let proxy = start(
            main_and_canary(json!({"canary-weight": "0"})),
            StaticResolver::default(),
            HandlerConfig::default(),
        )
        .await;
        let c = client();
        let a = get(&c, proxy.addr, "app.test", "/").await;
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            a.body.contains("503 Service Temporarily Unavailable"),
            "{}",
            a.body
        );
        assert!(a.body.contains("<center>nginx</center>"));
        assert_eq!(
            a.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()),
            Some("text/html")
        );
        let a = get(&c, proxy.addr, "other.test", "/").await;
        assert_eq!(a.status, StatusCode::NOT_FOUND);
        assert!(a.body.contains("404 Not Found"));

        let stats = proxy.handler.metrics().stats();
        assert_eq!(stats.not_found, 1);
        assert_eq!(stats.backends.len(), 1);
        assert_eq!(stats.backends[0].by_class, [0, 0, 0, 0, 1]);
        let text = proxy.handler.metrics().render();
        assert!(text.contains("status=\"503\"} 1\n"));
        assert!(!text.contains("other.test"));
        // no upstream was involved
        assert!(!text.contains("nginx_ingress_controller_header_duration_seconds_count{"));
        proxy.stop().await;
    }

    #[tokio::test]
    async fn route_without_backend_answers_its_status() {
        let proxy = start(
            route_table(json!({"backendRefs": [{"name": "gone", "port": 80, "weight": 0}]})),
            StaticResolver::default(),
            HandlerConfig::default(),
        )
        .await;
        let a = get(&client(), proxy.addr, "route.test", "/").await;
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
        proxy.stop().await;
    }

    #[tokio::test]
    async fn header_canary_routing() {
        let v1 = upstream("v1").await;
        let v2 = upstream("v2").await;
        let proxy = start(
            main_and_canary(json!({"canary-by-header": "X-Canary"})),
            StaticResolver::with(&[("v1", vec![v1.addr]), ("v2", vec![v2.addr])]),
            HandlerConfig::default(),
        )
        .await;
        let c = client();
        for _ in 0..5 {
            let a = send(
                &c,
                proxy.addr,
                "GET",
                "app.test",
                "/",
                &[("x-canary", "always")],
                "",
            )
            .await;
            assert_eq!(a.body, "v2");
            assert_eq!(
                a.headers.get("x-backend").and_then(|v| v.to_str().ok()),
                Some("v2")
            );
            let a = send(
                &c,
                proxy.addr,
                "GET",
                "app.test",
                "/",
                &[("X-Canary", "never")],
                "",
            )
            .await;
            assert_eq!(a.body, "v1");
            let a = get(&c, proxy.addr, "app.test:8080", "/").await;
            assert_eq!(a.body, "v1");
        }
        assert_eq!(v2.seen().len(), 5);
        assert_eq!(v1.seen().len(), 10);
        proxy.stop().await;
    }

    #[tokio::test]
    async fn mirror_gets_copies_and_client_sees_primary_only() {
        let main = upstream("main").await;
        let shadow = upstream("shadow").await;
        let proxy = start(
            route_table(json!({
                "filters": [{"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "shadow", "port": 8080}}}],
                "backendRefs": [{"name": "main", "port": 8080}],
            })),
            StaticResolver::with(&[("main", vec![main.addr]), ("shadow", vec![shadow.addr])]),
            HandlerConfig::default(),
        )
        .await;
        let c = client();
        for i in 0..20 {
            let a = send(
                &c,
                proxy.addr,
                "POST",
                "route.test",
                &format!("/orders?n={i}"),
                &[("content-type", "text/plain")],
                format!("payload-{i}"),
            )
            .await;
            assert_eq!(a.status, StatusCode::OK);
            assert_eq!(a.body, "main");
        }
        eventually("20 mirrored copies", || shadow.seen().len() == 20).await;
        let mut copies: Vec<(String, String, String)> = shadow
            .seen()
            .into_iter()
            .map(|s| {
                (
                    s.method,
                    s.uri,
                    String::from_utf8_lossy(&s.body).into_owned(),
                )
            })
            .collect();
        copies.sort();
        assert!(copies.contains(&("POST".into(), "/orders?n=7".into(), "payload-7".into())));
        assert!(copies.iter().all(|(m, _, _)| m == "POST"));
        assert_eq!(main.seen().len(), 20);
        let host = shadow.seen()[0].headers.get(HOST).cloned();
        assert_eq!(
            host.as_ref().and_then(|h| h.to_str().ok()),
            Some("route.test")
        );

        // A body too big to buffer is streamed to the primary and not mirrored.
        let big = vec![b'x'; (1 << 20) + 10];
        let a = send(&c, proxy.addr, "PUT", "route.test", "/big", &[], big).await;
        assert_eq!(a.body, "main");
        assert_eq!(main.seen().last().map(|s| s.body_len), Some((1 << 20) + 10));
        eventually("mirror counters", || {
            let s = proxy.handler.metrics().stats();
            s.mirrors_sent == 20 && s.mirrors_skipped == 1
        })
        .await;
        assert_eq!(shadow.seen().len(), 20);
        proxy.stop().await;
    }

    #[tokio::test]
    async fn mirror_failures_never_reach_the_client() {
        let main = upstream("main").await;
        let dead = dead_addr().await;
        let proxy = start(
            route_table(json!({
                "filters": [{"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "shadow", "port": 8080}}}],
                "backendRefs": [{"name": "main", "port": 8080}],
            })),
            StaticResolver::with(&[("main", vec![main.addr]), ("shadow", vec![dead])]),
            HandlerConfig::default(),
        )
        .await;
        let c = client();
        for _ in 0..3 {
            let a = get(&c, proxy.addr, "route.test", "/").await;
            assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "main"));
        }
        eventually("failed mirrors", || {
            proxy.handler.metrics().stats().mirrors_failed == 3
        })
        .await;
        proxy.stop().await;
    }

    #[tokio::test]
    async fn round_robin_across_endpoints() {
        let a = upstream("a").await;
        let b = upstream("b").await;
        let proxy = start(
            main_and_canary(json!({"canary-weight": "0"})),
            StaticResolver::with(&[("v1", vec![a.addr, b.addr])]),
            HandlerConfig::default(),
        )
        .await;
        let c = client();
        let mut order = Vec::new();
        for _ in 0..10 {
            order.push(get(&c, proxy.addr, "app.test", "/").await.body);
        }
        assert_eq!(a.seen().len(), 5);
        assert_eq!(b.seen().len(), 5);
        assert!(order.windows(2).all(|w| w[0] != w[1]), "{order:?}");
        proxy.stop().await;
    }

    #[tokio::test]
    async fn forwarded_and_modified_headers() {
        let up = upstream("up").await;
        let proxy = start(
            route_table(json!({
                "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {
                    "set": [{"name": "X-Env", "value": "blue"}],
                    "add": [{"name": "X-Tag", "value": "two"}],
                    "remove": ["X-Drop"],
                }}],
                "backendRefs": [{"name": "up", "port": 8080}],
            })),
            StaticResolver::with(&[("up", vec![up.addr])]),
            HandlerConfig::default(),
        )
        .await;
        let a = send(
            &client(),
            proxy.addr,
            "GET",
            "route.test:8443",
            "/p/q?x=1&y=%20",
            &[
                ("x-drop", "1"),
                ("x-tag", "one"),
                ("x-env", "green"),
                ("x-forwarded-for", "10.9.8.7"),
                ("connection", "keep-alive, x-hop"),
                ("x-hop", "gone"),
            ],
            "",
        )
        .await;
        assert_eq!(a.status, StatusCode::OK);
        let seen = up.seen();
        let s = &seen[0];
        let h = |n: &str| {
            s.headers
                .get_all(n)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect::<Vec<_>>()
        };
        assert_eq!(s.uri, "/p/q?x=1&y=%20");
        assert_eq!(h("host"), ["route.test:8443"]);
        assert_eq!(h("x-env"), ["blue"]);
        assert_eq!(h("x-tag"), ["one", "two"]);
        assert!(h("x-drop").is_empty());
        assert!(h("x-hop").is_empty());
        assert_eq!(h("x-forwarded-for"), ["10.9.8.7, 127.0.0.1"]);
        assert_eq!(h("x-real-ip"), ["127.0.0.1"]);
        assert_eq!(h("x-forwarded-host"), ["route.test:8443"]);
        assert_eq!(h("x-forwarded-proto"), ["http"]);
        assert_eq!(
            h("x-forwarded-port"),
            [proxy.addr.port().to_string().as_str()]
        );
        assert_eq!(h("x-request-id").first().map(|v| v.len()), Some(32));
        // metrics: host label without the port
        assert!(
            proxy
                .handler
                .metrics()
                .render()
                .contains("host=\"route.test\"")
        );
        proxy.stop().await;
    }

    #[tokio::test]
    async fn upstream_failures_map_to_502_504_and_retry() {
        let live = upstream("live").await;
        let dead = dead_addr().await;
        let proxy = start(
            main_and_canary(json!({"canary-weight": "0"})),
            StaticResolver::with(&[("v1", vec![dead])]),
            HandlerConfig {
                read_timeout: Duration::from_millis(300),
                ..HandlerConfig::default()
            },
        )
        .await;
        let c = client();
        let a = get(&c, proxy.addr, "app.test", "/").await;
        assert_eq!(a.status, StatusCode::BAD_GATEWAY);
        assert!(a.body.contains("502 Bad Gateway"));

        // A dead endpoint next to a live one: connection failures go to the next endpoint.
        proxy
            .handler
            .resolver()
            .0
            .lock()
            .expect("lock")
            .insert("v1".into(), vec![dead, live.addr]);
        for _ in 0..6 {
            let a = send(&c, proxy.addr, "POST", "app.test", "/", &[], "body").await;
            assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "live"));
        }
        assert!(live.seen().iter().all(|s| s.body.as_ref() == b"body"));

        proxy
            .handler
            .resolver()
            .0
            .lock()
            .expect("lock")
            .insert("v1".into(), vec![live.addr]);
        let a = get(&c, proxy.addr, "app.test", "/slow").await;
        assert_eq!(a.status, StatusCode::GATEWAY_TIMEOUT);
        assert!(a.body.contains("504 Gateway Time-out"));
        let s = proxy.handler.metrics().stats();
        assert_eq!(s.backends[0].by_class, [0, 6, 0, 0, 2]);
        proxy.stop().await;
    }

    #[tokio::test]
    async fn upgrade_is_tunnelled() {
        // A raw upstream that switches protocols and echoes.
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let up = listener.local_addr().expect("addr");
        let echo = tokio::spawn(async move {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = s
                .write_all(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n")
                .await;
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let proxy = start(
            main_and_canary(json!({"canary-weight": "0"})),
            StaticResolver::with(&[("v1", vec![up])]),
            HandlerConfig::default(),
        )
        .await;
        let mut s = tokio::net::TcpStream::connect(proxy.addr)
            .await
            .expect("connect");
        s.write_all(
            b"GET /ws HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n",
        )
        .await
        .expect("write");
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed early");
            head.extend_from_slice(&buf[..n]);
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 101"), "{head}");
        assert!(head.contains("upgrade: echo"));
        s.write_all(b"ping").await.expect("write");
        let mut got = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut got))
            .await
            .expect("echo in time")
            .expect("echo");
        assert_eq!(&got, b"ping");
        drop(s);
        echo.abort();
        proxy.stop().await;
    }

    #[tokio::test]
    async fn table_swap_takes_effect() {
        let v1 = upstream("v1").await;
        let proxy = start(
            RoutingTable::default(),
            StaticResolver::with(&[("v1", vec![v1.addr])]),
            HandlerConfig::default(),
        )
        .await;
        let c = client();
        assert_eq!(
            get(&c, proxy.addr, "app.test", "/").await.status,
            StatusCode::NOT_FOUND
        );
        proxy.handler.set_table(main_and_canary(json!({})));
        assert_eq!(get(&c, proxy.addr, "app.test", "/").await.body, "v1");
        proxy.stop().await;
    }

    #[tokio::test]
    async fn metrics_listener_serves_exposition() {
        let metrics = Arc::new(Metrics::default());
        metrics.observe(&Observation {
            labels: RequestLabels {
                status: 200,
                ..RequestLabels::default()
            },
            ..Observation::default()
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = watch::channel(false);
        let server = tokio::spawn(serve_metrics(metrics, listener, rx));
        let c = client();
        let a = get(&c, addr, "localhost", "/metrics").await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(
            a.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()),
            Some(METRICS_CONTENT_TYPE)
        );
        assert!(
            a.body
                .contains("# TYPE nginx_ingress_controller_requests counter")
        );
        assert!(a.body.contains("status=\"200\"} 1"));
        assert_eq!(
            get(&c, addr, "localhost", "/x").await.status,
            StatusCode::NOT_FOUND
        );
        let _ = tx.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    }

    /// A tiny API server: lists (and endless watches) one Ingress, its Service and
    /// EndpointSlice; answers 404 for HTTPRoutes (CRD not installed); records status patches.
    async fn fake_api(pod: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<Value>>>, JoinHandle<()>) {
        let ingress = json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "5",
                         "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"ingressClassName": "nginx", "rules": [{"host": "web.test", "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": "web", "port": {"name": "http"}}}}]}}]},
        });
        let service = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "default", "resourceVersion": "6"},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
        });
        let slice = json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "web-x", "namespace": "default", "resourceVersion": "7",
                         "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": pod.port()}],
            "endpoints": [{"addresses": [pod.ip().to_string()], "conditions": {"ready": true}}],
        });
        let patches = Arc::new(Mutex::new(Vec::new()));
        let recorded = patches.clone();
        let app = Router::new().fallback(move |req: axum::extract::Request| {
            let recorded = recorded.clone();
            let (ingress, service, slice) = (ingress.clone(), service.clone(), slice.clone());
            async move {
                let path = req.uri().path().to_string();
                let watch = req.uri().query().is_some_and(|q| q.contains("watch=true"));
                let list = |kind: &str, api_version: &str, item: Value| {
                    json!({"kind": kind, "apiVersion": api_version,
                           "metadata": {"resourceVersion": "10"}, "items": [item]})
                    .to_string()
                };
                let json_type = [(CONTENT_TYPE, "application/json")];
                if path.ends_with("/status") {
                    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
                        .await
                        .unwrap_or_default();
                    let patch: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    recorded.lock().expect("lock").push(patch);
                    return (
                        StatusCode::OK,
                        json_type,
                        axum::body::Body::from(ingress.to_string()),
                    );
                }
                if path.contains("httproutes") {
                    return (
                        StatusCode::NOT_FOUND,
                        [(CONTENT_TYPE, "text/plain")],
                        axum::body::Body::from("404 page not found"),
                    );
                }
                if watch {
                    let pending = futures::stream::pending::<Result<Bytes, std::io::Error>>();
                    return (
                        StatusCode::OK,
                        json_type,
                        axum::body::Body::from_stream(pending),
                    );
                }
                let body = match path.as_str() {
                    "/apis/networking.k8s.io/v1/ingresses" => {
                        list("IngressList", "networking.k8s.io/v1", ingress)
                    }
                    "/api/v1/services" => list("ServiceList", "v1", service),
                    "/apis/discovery.k8s.io/v1/endpointslices" => {
                        list("EndpointSliceList", "discovery.k8s.io/v1", slice)
                    }
                    "/apis/discovery.k8s.io/v1" => json!({
                        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "discovery.k8s.io/v1",
                        "resources": [{"name": "endpointslices", "singularName": "endpointslice", "namespaced": true,
                                       "kind": "EndpointSlice", "verbs": ["list", "watch"]}]
                    })
                    .to_string(),
                    _ => {
                        return (
                            StatusCode::NOT_FOUND,
                            json_type,
                            axum::body::Body::from("{}"),
                        );
                    }
                };
                (StatusCode::OK, json_type, axum::body::Body::from(body))
            }
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (addr, patches, task)
    }

    #[tokio::test]
    async fn cluster_fed_proxy_without_httproute_crd() {
        let pod = upstream("pod").await;
        let (api, patches, api_task) = fake_api(pod.addr).await;
        let url: hyper::Uri = format!("http://{api}").parse().expect("url");
        let kube_client = kube::Client::try_from(kube::Config::new(url)).expect("kube client");
        let proxy = IngressProxy::start(kube_client, IngressOptions::default())
            .await
            .expect("start");
        tokio::time::timeout(Duration::from_secs(10), proxy.ready())
            .await
            .expect("ready although HTTPRoutes are not served");
        assert!(proxy.routing_table().warnings().is_empty());
        assert_eq!(proxy.endpoints().len(), 1);

        let c = client();
        let a = get(&c, proxy.addr(), "web.test", "/hello").await;
        assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "pod"));
        assert_eq!(
            get(&c, proxy.addr(), "nope.test", "/").await.status,
            StatusCode::NOT_FOUND
        );

        eventually("status patch", || !patches.lock().expect("lock").is_empty()).await;
        assert_eq!(
            patches.lock().expect("lock")[0],
            json!({"status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}})
        );

        let m = get(&c, proxy.metrics_addr(), "localhost", "/metrics").await;
        assert!(m.body.contains("ingress=\"web\",method=\"GET\",namespace=\"default\",path=\"/\",service=\"web\",status=\"200\"} 1\n"), "{}", m.body);
        let stats = proxy.stats();
        assert_eq!((stats.total(), stats.not_found), (1, 1));
        assert!(
            proxy
                .metrics_text()
                .contains("nginx_ingress_controller_requests{")
        );

        let t = Instant::now();
        proxy.stop().await;
        assert!(t.elapsed() < Duration::from_secs(5));
        api_task.abort();
    }

    #[test]
    fn status_patch_and_class() {
        let mut ing = ingress("a", "2024-01-01T00:00:00Z", json!({}), "h", "s");
        assert!(serves_ingress(&ing, "nginx"));
        assert!(!serves_ingress(&ing, "traefik"));
        assert!(serves_ingress(&ing, ""));
        let legacy = ingress(
            "b",
            "2024-01-01T00:00:00Z",
            json!({"kubernetes.io/ingress.class": "traefik"}),
            "h",
            "s",
        );
        assert!(!serves_ingress(&legacy, "nginx"));

        assert_eq!(
            status_patch(&ing, "127.0.0.1"),
            Some(json!({"status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}}))
        );
        assert_eq!(
            status_patch(&ing, "ingress.local"),
            Some(json!({"status": {"loadBalancer": {"ingress": [{"hostname": "ingress.local"}]}}}))
        );
        ing.status =
            serde_json::from_value(json!({"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}))
                .expect("status");
        assert_eq!(status_patch(&ing, "127.0.0.1"), None);
    }

    #[test]
    fn host_port_is_stripped() {
        assert_eq!(host_without_port("a.test:8080"), "a.test");
        assert_eq!(host_without_port("a.test"), "a.test");
        assert_eq!(host_without_port("[::1]:80"), "::1");
        assert_eq!(host_without_port(""), "");
    }

    #[test]
    fn timeouts_are_recognised_in_error_chains() {
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "x");
        assert!(is_timeout(&io));
        let other = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(!is_timeout(&other));
    }
}
