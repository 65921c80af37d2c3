use crate::common::TestCluster;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kubesim::ingress::proxy::{IngressOptions, IngressProxy, http_route_resource};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn deployment(name: &str, image: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"terminationGracePeriodSeconds": 1,
                                  "containers": [{"name": "app", "image": image, "ports": [{"name": "http", "containerPort": 8080}],
                                                  "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1}}]}}
        }
    })).expect("deployment")
}

fn service(name: &str) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
    })).expect("service")
}

async fn http(addr: std::net::SocketAddr, host: &str, path: &str, extra: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    let status = out.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

async fn until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out: {what}");
}

#[tokio::test(flavor = "multi_thread")]
async fn proxy_against_embedded_cluster() {
    let tc = TestCluster::fast(10.0).await;
    let c = tc.client.clone();
    let deploys: Api<Deployment> = Api::default_namespaced(c.clone());
    let svcs: Api<Service> = Api::default_namespaced(c.clone());
    let ings: Api<Ingress> = Api::default_namespaced(c.clone());
    for (n, img, r) in [
        ("web-v1", "example/hello:v1", 2),
        ("web-v2", "example/hello:v2", 1),
        ("shadow", "example/hello:v3", 1),
    ] {
        deploys
            .create(&PostParams::default(), &deployment(n, img, r))
            .await
            .expect("deploy");
        svcs.create(&PostParams::default(), &service(n))
            .await
            .expect("svc");
    }
    let proxy = IngressProxy::start(c.clone(), IngressOptions::default())
        .await
        .expect("start");
    tokio::time::timeout(Duration::from_secs(10), proxy.ready())
        .await
        .expect("ready");
    let addr = proxy.addr();
    assert_eq!(http(addr, "web.test", "/", "").await.0, 404);

    let main: Ingress = serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {"ingressClassName": "nginx", "rules": [{"host": "web.test", "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web-v1", "port": {"number": 80}}}}]}}]}})).unwrap();
    let canary: Ingress = serde_json::from_value(json!({"metadata": {"name": "web-canary", "annotations": {"nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-by-header": "X-Canary"}}, "spec": {"ingressClassName": "nginx", "rules": [{"host": "web.test", "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web-v2", "port": {"name": "http"}}}}]}}]}})).unwrap();
    ings.create(&PostParams::default(), &main)
        .await
        .expect("ing");
    ings.create(&PostParams::default(), &canary)
        .await
        .expect("ing");

    until("v1 answers", || async {
        let (s, b) = http(addr, "web.test", "/", "").await;
        s == 200 && b.contains("v1")
    })
    .await;
    until("v2 answers to the header", || async {
        let (s, b) = http(addr, "web.test", "/", "X-Canary: always\r\n").await;
        s == 200 && b.contains("v2")
    })
    .await;
    // round robin over the two v1 pods
    until("both v1 pods", || async {
        let mut bodies = std::collections::BTreeSet::new();
        for _ in 0..4 {
            bodies.insert(http(addr, "web.test", "/", "").await.1);
        }
        bodies.len() == 2
    })
    .await;
    until("status written", || async {
        let i = ings.get("web").await.expect("get");
        let ip = i
            .status
            .and_then(|s| s.load_balancer)
            .and_then(|l| l.ingress)
            .and_then(|l| l.first().and_then(|e| e.ip.clone()));
        ip.as_deref() == Some("127.0.0.1")
    })
    .await;
    until("canary status written", || async {
        let i = ings.get("web-canary").await.expect("get");
        i.status
            .and_then(|s| s.load_balancer)
            .and_then(|l| l.ingress)
            .is_some_and(|l| !l.is_empty())
    })
    .await;

    // HTTPRoute with a mirror
    let ar = http_route_resource();
    let routes: Api<DynamicObject> = Api::namespaced_with(c.clone(), "default", &ar);
    let route: DynamicObject = serde_json::from_value(json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "r", "namespace": "default"}, "spec": {"hostnames": ["route.test"], "rules": [{"filters": [{"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "shadow", "port": 80}}}], "backendRefs": [{"name": "web-v2", "port": 80}]}]}})).unwrap();
    match routes.create(&PostParams::default(), &route).await {
        Ok(_) => {
            until("route answers", || async {
                let (s, b) = http(addr, "route.test", "/", "").await;
                s == 200 && b.contains("v2")
            })
            .await;
            until("mirrors sent", || {
                let n = proxy.stats().mirrors_sent;
                async move { n >= 1 }
            })
            .await;
        }
        Err(e) => eprintln!("no HTTPRoute support in the embedded server: {e}"),
    }

    // metrics listener
    let (s, text) = http(proxy.metrics_addr(), "x", "/metrics", "").await;
    assert_eq!(s, 200);
    assert!(
        text.contains("nginx_ingress_controller_requests{canary=\"default-web-v2-http\""),
        "{text}"
    );
    println!("{:#?}", proxy.stats());

    // scale v1 to zero: 503
    deploys
        .patch(
            "web-v1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 0}})),
        )
        .await
        .expect("scale");
    until("503 without endpoints", || async {
        http(addr, "web.test", "/", "").await.0 == 503
    })
    .await;
    let t = Instant::now();
    proxy.stop().await;
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "stop took {:?}",
        t.elapsed()
    );

    let bogus = kube::api::ApiResource {
        group: "example.com".into(),
        version: "v1".into(),
        api_version: "example.com/v1".into(),
        kind: "Nothing".into(),
        plural: "nothings".into(),
    };
    let err = Api::<DynamicObject>::all_with(c.clone(), &bogus)
        .list(&Default::default())
        .await
        .expect_err("no such resource");
    match err {
        kube::Error::Api(s) => assert_eq!(s.code, 404, "{s:?}"),
        other => panic!("{other:?}"),
    }
}
