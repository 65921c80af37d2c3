//! The request-handling core: route, resolve, forward (with retries on the next endpoint),
//! mirror, record.

use std::collections::HashMap;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Body;
use hyper::header::{
    CONNECTION, CONTENT_LENGTH, COOKIE, EXPECT, HOST, HeaderMap, HeaderName, HeaderValue,
    TRANSFER_ENCODING, UPGRADE,
};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::Semaphore;

use super::relay::{
    build_request, error_page, full, head_size, is_hop_by_hop, is_timeout, is_upgrade,
    local_response, relay, request_labels, set_header,
};
use super::{BoxError, ProxyBody};
use crate::ingress::endpoints::Resolve;
use crate::ingress::metrics::{
    Exported, Metrics, MirrorOutcome, Observation, RequestLabels, envoy_cluster_name,
};
use crate::ingress::routing::{
    Backend, HeaderChange, Mirror, RequestInfo, RouteKind, RoutingTable, parse_cookie_header,
};
use crate::ingress::tls::Certificates;

/// How a request reached the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    /// Over the TLS listener, decrypted there.
    Https,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// The Envoy cluster (Contour's stat name) of a Service backend.
fn cluster_of(backend: &Backend) -> String {
    envoy_cluster_name(
        &backend.namespace,
        &backend.service,
        &backend.port.to_string(),
    )
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
    /// Sent as `X-Forwarded-Port` of plain-HTTP requests.
    pub listen_port: u16,
    /// The HTTPS listener's port: sent as `X-Forwarded-Port` of HTTPS requests, and where
    /// plain-HTTP requests for hosts with a certificate are redirected (`None`: no HTTPS, no
    /// redirects).
    pub https_port: Option<u16>,
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
            https_port: None,
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
    /// Which hosts have a certificate (what makes a plain-HTTP request redirect).
    certificates: Option<Arc<Certificates>>,
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
pub(super) struct Record {
    metrics: Arc<Metrics>,
    labels: RequestLabels,
    served_by: String,
    canary: bool,
    start: Instant,
    request_size: u64,
    exported: Exported,
}

impl Record {
    pub(super) fn finish(
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
            exported: self.exported.clone(),
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
            certificates: None,
            config,
        }
    }

    /// Redirects plain-HTTP requests for the hosts `certificates` covers (with
    /// [`HandlerConfig::https_port`] set).
    pub fn with_certificates(mut self, certificates: Arc<Certificates>) -> Handler<R> {
        self.certificates = Some(certificates);
        self
    }

    /// The certificates the HTTPS listener serves, when it has any.
    pub fn certificates(&self) -> Option<&Arc<Certificates>> {
        self.certificates.as_ref()
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

    /// Handles one client request that came over plain HTTP.
    pub async fn handle<B>(
        self: &Arc<Self>,
        req: Request<B>,
        remote: SocketAddr,
    ) -> Response<ProxyBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.handle_scheme(req, remote, Scheme::Http).await
    }

    /// Handles one client request that came in by `scheme`.
    pub async fn handle_scheme<B>(
        self: &Arc<Self>,
        mut req: Request<B>,
        remote: SocketAddr,
        scheme: Scheme,
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
            // Ingress traffic is ingress-nginx's to count, HTTPRoute traffic Envoy's (see
            // crate::ingress::metrics).
            exported: match decision.kind {
                RouteKind::Ingress => Exported::Nginx,
                RouteKind::HttpRoute => Exported::Envoy(decision.backend.as_ref().map(cluster_of)),
            },
        };

        // ingress-nginx redirects before it picks an upstream (canary or not), so the
        // redirect is counted under the main Service like any answer of the location.
        if scheme == Scheme::Http
            && decision.kind == RouteKind::Ingress
            && let Some(https_port) = self.config.https_port
        {
            let has_cert = self
                .certificates
                .as_ref()
                .is_some_and(|c| c.covers(&host_header));
            if decision.force_ssl_redirect || (decision.ssl_redirect && has_cert) {
                let target = https_location(&host_header, https_port, req.uri());
                return redirect_response(&target, &record);
            }
        }

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
            scheme,
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
        scheme: Scheme,
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
        let port = match (scheme, self.config.https_port) {
            (Scheme::Https, Some(p)) => p,
            _ => self.config.listen_port,
        };
        set_header(&mut out, "x-forwarded-port", &port.to_string());
        for name in ["x-forwarded-proto", "x-forwarded-scheme", "x-scheme"] {
            set_header(&mut out, name, scheme.as_str());
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
            // Envoy counts a shadowed request on the shadow cluster.
            let exported = Exported::Envoy(Some(cluster_of(&mirror.backend)));
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
                        exported: exported.clone(),
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

/// `https://host[:port]/path?query`, ingress-nginx's redirect target: the request's host
/// without its port, the HTTPS port unless it is 443, the request URI as sent.
fn https_location(host_header: &str, https_port: u16, uri: &hyper::Uri) -> String {
    let host = super::relay::host_without_port(host_header);
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    format!("https://{host}{port}{path}")
}

/// A 308 to `location`, with nginx's page, recorded like any answer of the location.
fn redirect_response(location: &str, record: &Record) -> Response<ProxyBody> {
    let mut resp = local_response(StatusCode::PERMANENT_REDIRECT, record);
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(hyper::header::LOCATION, v);
    }
    resp
}

#[cfg(test)]
mod location_tests {
    use super::https_location;

    #[test]
    fn redirect_targets() {
        let uri: hyper::Uri = "/a/b?x=1".parse().expect("uri");
        assert_eq!(
            https_location("Web.example:8080", 8443, &uri),
            "https://Web.example:8443/a/b?x=1"
        );
        assert_eq!(
            https_location("web.example", 443, &uri),
            "https://web.example/a/b?x=1"
        );
        assert_eq!(
            https_location("[::1]:80", 443, &"/".parse().expect("uri")),
            "https://[::1]/"
        );
    }
}
