use super::cluster::{IngressOptions, IngressProxy, Published, serves_ingress, status_patch};
use super::handler::{Handler, HandlerConfig};
use super::relay::{host_without_port, is_timeout};
use super::server::{serve, serve_metrics};
use crate::ingress::endpoints::Resolve;
use crate::ingress::metrics::{
    CONTENT_TYPE as METRICS_CONTENT_TYPE, Metrics, Observation, RequestLabels,
};
use crate::ingress::routing::{Backend, RoutingTable};
use axum::Router;
use axum::routing::get as axum_get;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HOST, HeaderMap};
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use k8s_openapi::api::networking::v1::Ingress;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

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

fn ingress(name: &str, created: &str, annotations: Value, host: &str, service: &str) -> Ingress {
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
    if let (Some(a), Some(extra)) = (annotations.as_object_mut(), canary_annotations.as_object()) {
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

async fn start(table: RoutingTable, resolver: StaticResolver, config: HandlerConfig) -> TestProxy {
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
    // HTTPRoute traffic is Envoy's to count: the primary's cluster, and the shadow's for the
    // mirrored copies (as Envoy counts shadowed requests on the shadow cluster).
    let text = proxy.handler.metrics().render_envoy();
    for line in [
        "envoy_cluster_upstream_rq_total{envoy_cluster_name=\"apps_main_8080\"} 21\n",
        "envoy_cluster_upstream_rq_xx{envoy_response_code_class=\"2\",envoy_cluster_name=\"apps_main_8080\"} 21\n",
        "envoy_cluster_upstream_rq_total{envoy_cluster_name=\"apps_shadow_8080\"} 20\n",
        "envoy_cluster_upstream_rq_xx{envoy_response_code_class=\"2\",envoy_cluster_name=\"apps_shadow_8080\"} 20\n",
        "envoy_cluster_upstream_rq_time_count{envoy_cluster_name=\"apps_shadow_8080\"} 20\n",
    ] {
        assert!(text.contains(line), "{line}in:\n{text}");
    }
    assert!(
        !proxy
            .handler
            .metrics()
            .render()
            .contains("nginx_ingress_controller_requests{"),
        "no ingress-nginx series for HTTPRoute traffic"
    );
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
    // HTTPRoute traffic is counted on the backend's Envoy cluster, not in nginx's series.
    let text = proxy.handler.metrics().render();
    assert!(
        text.contains("envoy_cluster_upstream_rq_total{envoy_cluster_name=\"apps_up_8080\"} 1\n"),
        "{text}"
    );
    assert!(!text.contains("host=\"route.test"), "{text}");
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
            .write_all(
                b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n",
            )
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
                "/api/v1/secrets" => json!({"kind": "SecretList", "apiVersion": "v1",
                    "metadata": {"resourceVersion": "1"}, "items": []})
                .to_string(),
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
    let https = proxy.tls_addr().expect("an HTTPS listener").port();
    assert_eq!(
        patches.lock().expect("lock")[0],
        json!({"status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1", "ports": [
            {"port": proxy.addr().port(), "protocol": "TCP"}, {"port": https, "protocol": "TCP"}]}]}}})
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

    let published = |address: &str| Published {
        address: address.into(),
        ports: vec![8080, 8443],
    };
    let ports = json!([{"port": 8080, "protocol": "TCP"}, {"port": 8443, "protocol": "TCP"}]);
    assert_eq!(
        status_patch(&ing, &published("127.0.0.1")),
        Some(
            json!({"status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1", "ports": ports}]}}})
        )
    );
    assert_eq!(
        status_patch(&ing, &published("ingress.local")),
        Some(
            json!({"status": {"loadBalancer": {"ingress": [{"hostname": "ingress.local", "ports": ports}]}}})
        )
    );
    // The address without ports (as written before ports were) is brought up to date.
    ing.status =
        serde_json::from_value(json!({"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}))
            .expect("status");
    assert!(status_patch(&ing, &published("127.0.0.1")).is_some());
    ing.status = serde_json::from_value(
        json!({"loadBalancer": {"ingress": [{"ip": "127.0.0.1", "ports": ports}]}}),
    )
    .expect("status");
    assert_eq!(status_patch(&ing, &published("127.0.0.1")), None);
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

// ----- TLS -----

fn tls_ingress(name: &str, annotations: Value, host: &str, tls: Value) -> Ingress {
    let mut ing = ingress(name, "2024-01-01T00:00:00Z", annotations, host, "v1");
    let mut v = serde_json::to_value(&ing).expect("ingress");
    v["spec"]["tls"] = tls;
    ing = serde_json::from_value(v).expect("ingress");
    ing
}

fn secret_value(host: &str) -> (k8s_openapi::api::core::v1::Secret, String) {
    let v = crate::tls::tls_secret("default", "tls", host).expect("secret");
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(v).expect("secret");
    let ca = secret
        .data
        .as_ref()
        .and_then(|d| d.get("ca.crt"))
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .expect("ca.crt");
    (secret, ca)
}

/// An HTTPS client trusting `ca_pem` that sends `host` (SNI and Host) to `addr`.
fn https_client(ca_pem: &str, host: &str, addr: SocketAddr) -> reqwest::Client {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("pem")).expect("root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .resolve(host, addr)
        .no_proxy()
        .build()
        .expect("client")
}

#[tokio::test]
async fn tls_is_terminated_with_each_hosts_certificate_and_plain_http_redirected() {
    use crate::ingress::tls::{CertTable, Certificates};
    let v1 = upstream("v1").await;
    let ingresses = [
        tls_ingress(
            "secure",
            json!({}),
            "secure.test",
            json!([{"hosts": ["secure.test"], "secretName": "secure-tls"}]),
        ),
        tls_ingress(
            "optional",
            json!({"nginx.ingress.kubernetes.io/ssl-redirect": "false"}),
            "optional.test",
            json!([{"hosts": ["optional.test"], "secretName": "optional-tls"}]),
        ),
        tls_ingress(
            "forced",
            json!({"nginx.ingress.kubernetes.io/force-ssl-redirect": "true"}),
            "forced.test",
            json!([]),
        ),
        tls_ingress("plain", json!({}), "plain.test", json!([])),
        // Its Secret does not exist: no certificate, so no redirect (as ingress-nginx).
        tls_ingress(
            "unready",
            json!({}),
            "unready.test",
            json!([{"hosts": ["unready.test"], "secretName": "missing"}]),
        ),
    ];
    let (secure, secure_ca) = secret_value("secure.test");
    let (optional, _) = secret_value("optional.test");
    let certs = Arc::new(Certificates::new().expect("certificates"));
    certs.set(CertTable::build(
        &ingresses,
        "nginx",
        &|_, name| match name {
            "secure-tls" => Some(secure.clone()),
            "optional-tls" => Some(optional.clone()),
            _ => None,
        },
    ));

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let tls_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let tls_addr = tls_listener.local_addr().expect("addr");
    let handler = Arc::new(
        Handler::new(
            RoutingTable::build(&ingresses, &[], "nginx"),
            StaticResolver::with(&[("v1", vec![v1.addr])]),
            Arc::new(Metrics::default()),
            HandlerConfig {
                listen_port: addr.port(),
                https_port: Some(tls_addr.port()),
                ..HandlerConfig::default()
            },
        )
        .with_certificates(certs.clone()),
    );
    let (shutdown, rx) = watch::channel(false);
    let servers = [
        tokio::spawn(serve(handler.clone(), listener, rx.clone())),
        tokio::spawn(super::server::serve_tls(
            handler.clone(),
            tls_listener,
            Certificates::server_config(certs),
            rx,
        )),
    ];

    let c = client();
    let a = get(&c, addr, "secure.test:80", "/a/b?c=1").await;
    assert_eq!(a.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        a.headers.get("location").and_then(|v| v.to_str().ok()),
        Some(format!("https://secure.test:{}/a/b?c=1", tls_addr.port()).as_str())
    );
    assert!(a.body.contains("308 Permanent Redirect"), "{}", a.body);
    assert_eq!(
        get(&c, addr, "forced.test", "/").await.status,
        StatusCode::PERMANENT_REDIRECT
    );
    for host in ["optional.test", "plain.test", "unready.test"] {
        let a = get(&c, addr, host, "/").await;
        assert_eq!(
            (a.status, a.body.as_str()),
            (StatusCode::OK, "v1"),
            "{host}"
        );
    }
    assert_eq!(v1.seen().len(), 3, "redirected requests reach no upstream");

    // Over HTTPS: the host's own certificate, chosen by SNI, verified against its CA.
    let https = https_client(&secure_ca, "secure.test", tls_addr);
    let r = https
        .get(format!("https://secure.test:{}/x", tls_addr.port()))
        .send()
        .await
        .expect("HTTPS request");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.expect("body"), "v1");
    let seen = v1.seen();
    let last = seen.last().expect("a request");
    assert_eq!(
        last.headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok()),
        Some("https")
    );
    assert_eq!(
        last.headers
            .get("x-forwarded-port")
            .and_then(|v| v.to_str().ok()),
        Some(tls_addr.port().to_string().as_str())
    );
    // Another host's CA does not vouch for it; a host without a certificate gets the
    // default one, which nobody's CA signed.
    let (_, other_ca) = secret_value("secure.test");
    let wrong = https_client(&other_ca, "secure.test", tls_addr);
    assert!(
        wrong
            .get(format!("https://secure.test:{}/", tls_addr.port()))
            .send()
            .await
            .is_err()
    );
    let plain = https_client(&secure_ca, "plain.test", tls_addr);
    assert!(
        plain
            .get(format!("https://plain.test:{}/", tls_addr.port()))
            .send()
            .await
            .is_err()
    );
    let _ = shutdown.send(true);
    for s in servers {
        let _ = tokio::time::timeout(Duration::from_secs(5), s).await;
    }
}
