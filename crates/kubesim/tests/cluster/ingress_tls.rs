//! The embedded ingress as a real cluster's shows itself: TLS with each host's Secret, the
//! redirect of plain HTTP, the status that says where it listens, and its controller pods,
//! whose metrics (ingress-nginx's, and Envoy's for HTTPRoutes) the API server's pod proxy
//! reaches.

use crate::common::{TestCluster, app_deployment, app_service, eventually};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kubesim::ingress::proxy::{IngressOptions, IngressProxy, http_route_resource};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// A plain-HTTP client that shows redirects instead of following them.
fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

/// An HTTPS client that trusts only `ca_pem` and sends `host` (SNI and Host) to `addr`.
fn https_client(ca_pem: &[u8], host: &str, addr: SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem).expect("CA")])
        .resolve(host, addr)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

/// The Secret for `host`, and its CA.
fn tls_secret(name: &str, host: &str) -> (Secret, Vec<u8>) {
    let secret: Secret =
        serde_json::from_value(kubesim::tls::tls_secret("default", name, host).expect("secret"))
            .expect("secret");
    let ca = secret
        .data
        .as_ref()
        .and_then(|d| d.get("ca.crt"))
        .map(|b| b.0.clone())
        .expect("ca.crt");
    (secret, ca)
}

fn ingress(name: &str, host: &str, annotations: Value, secret: &str) -> Ingress {
    serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"ingressClassName": "nginx",
                 "tls": [{"hosts": [host], "secretName": secret}],
                 "rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix",
                     "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
    }))
    .expect("ingress")
}

async fn deploy_web(tc: &TestCluster, name: &str, image: &str) {
    Api::<Deployment>::default_namespaced(tc.client.clone())
        .create(
            &PostParams::default(),
            &app_deployment(name, name, image, 1),
        )
        .await
        .expect("deployment");
    Api::<Service>::default_namespaced(tc.client.clone())
        .create(
            &PostParams::default(),
            &app_service(name, json!({"app": name})),
        )
        .await
        .expect("service");
}

/// GET `https://host:port/` through the ingress's HTTPS listener: status and X-Version.
async fn get_https(ca: &[u8], host: &str, addr: SocketAddr) -> Option<(u16, String)> {
    let r = https_client(ca, host, addr)
        .get(format!("https://{host}:{}/", addr.port()))
        .send()
        .await
        .ok()?;
    let version = r
        .headers()
        .get("x-version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    Some((r.status().as_u16(), version))
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_ingresses_are_served_with_their_secret_and_plain_http_redirected() {
    let tc = TestCluster::fast(10.0).await;
    let proxy = tc.cluster.ingress().expect("ingress");
    let http_addr = proxy.addr();
    let tls_addr = proxy.tls_addr().expect("an HTTPS listener");
    deploy_web(&tc, "web", "web:v1").await;
    let secrets: Api<Secret> = Api::default_namespaced(tc.client.clone());
    let (secure, secure_ca) = tls_secret("secure-tls", "secure.test");
    let (open, open_ca) = tls_secret("open-tls", "open.test");
    for s in [&secure, &open] {
        secrets
            .create(&PostParams::default(), s)
            .await
            .expect("secret");
    }
    let ings: Api<Ingress> = Api::default_namespaced(tc.client.clone());
    ings.create(
        &PostParams::default(),
        &ingress("secure", "secure.test", json!({}), "secure-tls"),
    )
    .await
    .expect("ingress");
    ings.create(
        &PostParams::default(),
        &ingress(
            "open",
            "open.test",
            json!({"nginx.ingress.kubernetes.io/ssl-redirect": "false"}),
            "open-tls",
        ),
    )
    .await
    .expect("ingress");

    // The status says where it listens: the address, HTTP first, then HTTPS.
    let status = eventually("the Ingress's status", WAIT, || async {
        let i = ings.get("secure").await.ok()?;
        let lb = i.status?.load_balancer?.ingress?.into_iter().next()?;
        serde_json::to_value(lb).ok()
    })
    .await;
    assert_eq!(
        status,
        json!({"ip": "127.0.0.1", "ports": [{"port": http_addr.port(), "protocol": "TCP"},
                                             {"port": tls_addr.port(), "protocol": "TCP"}]})
    );

    // HTTPS with the host's own certificate, chosen by SNI.
    let (code, version) = eventually("HTTPS for secure.test", WAIT, || {
        let ca = secure_ca.clone();
        async move {
            get_https(&ca, "secure.test", tls_addr)
                .await
                .filter(|a| a.0 == 200)
        }
    })
    .await;
    assert_eq!((code, version.as_str()), (200, "v1"));
    let (code, _) = eventually("HTTPS for open.test", WAIT, || {
        let ca = open_ca.clone();
        async move {
            get_https(&ca, "open.test", tls_addr)
                .await
                .filter(|a| a.0 == 200)
        }
    })
    .await;
    assert_eq!(code, 200);
    // Each host's CA vouches for its own certificate only.
    assert!(get_https(&open_ca, "secure.test", tls_addr).await.is_none());

    // Plain HTTP: 308 to HTTPS, unless the Ingress says `ssl-redirect: "false"`.
    let plain = plain_client();
    let r = plain
        .get(format!("http://{http_addr}/a?b=1"))
        .header("Host", "secure.test")
        .send()
        .await
        .expect("plain request");
    assert_eq!(r.status().as_u16(), 308);
    assert_eq!(
        r.headers().get("location").and_then(|l| l.to_str().ok()),
        Some(format!("https://secure.test:{}/a?b=1", tls_addr.port()).as_str())
    );
    let r = plain
        .get(format!("http://{http_addr}/"))
        .header("Host", "open.test")
        .send()
        .await
        .expect("plain request");
    assert_eq!(r.status().as_u16(), 200);

    // A new certificate in the Secret is served from then on.
    let (renewed, renewed_ca) = tls_secret("secure-tls", "secure.test");
    let mut current = secrets.get("secure-tls").await.expect("secret");
    current.data = renewed.data;
    secrets
        .replace("secure-tls", &PostParams::default(), &current)
        .await
        .expect("renew the secret");
    eventually("the renewed certificate", WAIT, || {
        let ca = renewed_ca.clone();
        async move {
            get_https(&ca, "secure.test", tls_addr)
                .await
                .filter(|a| a.0 == 200)
        }
    })
    .await;
    assert!(
        get_https(&secure_ca, "secure.test", tls_addr)
            .await
            .is_none()
    );

    // Users over HTTPS: the traffic generator asks for the host (SNI) and trusts its CA.
    let mut spec = kubesim::traffic::TrafficSpec::new(tls_addr, "secure.test");
    spec.tls_ca = Some(String::from_utf8(renewed_ca).expect("PEM"));
    spec.rate_per_second = 50.0;
    spec.max_requests = Some(20);
    let users = kubesim::traffic::Traffic::start(spec).expect("traffic");
    tokio::time::timeout(WAIT, users.finished())
        .await
        .expect("20 requests within the deadline");
    let report = users.stop().await;
    assert_eq!((report.total, report.ok), (20, 20), "{report:?}");
}

/// `GET path` through the API server (its pod proxy, here).
async fn through_api(tc: &TestCluster, path: &str) -> Result<String, kube::Error> {
    let req = hyper::http::Request::get(path)
        .body(Vec::new())
        .expect("request");
    tc.client.request_text(req).await
}

/// The one pod matching `selector` in `namespace`.
async fn the_pod(tc: &TestCluster, namespace: &str, selector: &str) -> Pod {
    let api: Api<Pod> = Api::namespaced(tc.client.clone(), namespace);
    let pods = api
        .list(&ListParams::default().labels(selector))
        .await
        .expect("list");
    assert_eq!(pods.items.len(), 1, "pods {selector} in {namespace}");
    pods.items.into_iter().next().expect("a pod")
}

fn metrics_port(pod: &Pod) -> i32 {
    pod.spec
        .iter()
        .flat_map(|s| &s.containers)
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some("metrics"))
        .map(|p| p.container_port)
        .expect("a port named metrics")
}

#[tokio::test(flavor = "multi_thread")]
async fn controller_pods_show_the_metrics_envoy_counting_httproute_traffic() {
    let tc = TestCluster::fast(10.0).await;
    let proxy = tc.cluster.ingress().expect("ingress");
    let metrics = proxy.metrics_addr();

    // Pods as the controllers are installed, Running and Ready, on a Node of their own.
    let nginx = the_pod(
        &tc,
        "ingress-nginx",
        "app.kubernetes.io/name=ingress-nginx,app.kubernetes.io/component=controller",
    )
    .await;
    let envoy = the_pod(&tc, "projectcontour", "app=envoy").await;
    for pod in [&nginx, &envoy] {
        let status = pod.status.clone().expect("status");
        assert_eq!(status.phase.as_deref(), Some("Running"));
        assert_eq!(status.pod_ip, Some(metrics.ip().to_string()));
        assert!(
            status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        );
        assert_eq!(metrics_port(pod), i32::from(metrics.port()));
        assert_eq!(
            pod.spec.as_ref().and_then(|s| s.node_name.as_deref()),
            Some(kubesim::INGRESS_NODE)
        );
    }
    let node = Api::<Node>::all(tc.client.clone())
        .get(kubesim::INGRESS_NODE)
        .await
        .expect("the ingress's Node");
    assert_eq!(node.spec.and_then(|s| s.unschedulable), Some(true));

    // HTTPRoute traffic, with a mirror: Envoy's cluster statistics, not ingress-nginx's.
    deploy_web(&tc, "web", "web:v1").await;
    deploy_web(&tc, "shadow", "web:v2").await;
    let routes: Api<DynamicObject> =
        Api::default_namespaced_with(tc.client.clone(), &http_route_resource());
    let route: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web"},
        "spec": {"hostnames": ["route.test"], "rules": [{
            "filters": [{"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "shadow", "port": 80}}}],
            "backendRefs": [{"name": "web", "port": 80}]}]}
    }))
    .expect("route");
    routes
        .create(&PostParams::default(), &route)
        .await
        .expect("route");
    // Both backends ready in the proxy's endpoints, so that every request is answered and
    // every copy sent.
    eventually("both backends' endpoints", WAIT, || async {
        let index = proxy.endpoints();
        let ready = ["web", "shadow"].iter().all(|svc| {
            !index
                .resolve(&kubesim::ingress::routing::Backend {
                    namespace: "default".into(),
                    service: (*svc).into(),
                    port: kubesim::ingress::routing::ServicePort::Number(80),
                })
                .is_empty()
        });
        (ready && !proxy.routing_table().is_empty()).then_some(())
    })
    .await;
    let plain = plain_client();
    for _ in 0..20 {
        let r = plain
            .get(format!("http://{}/", proxy.addr()))
            .header("Host", "route.test")
            .send()
            .await
            .expect("request through the HTTPRoute");
        assert_eq!(r.status().as_u16(), 200);
    }

    // Read as a client does: through the API server's pod proxy, by the port's number.
    let envoy_path = format!(
        "/api/v1/namespaces/projectcontour/pods/{}:{}/proxy/stats/prometheus",
        envoy.metadata.name.as_deref().expect("name"),
        metrics_port(&envoy)
    );
    let text = eventually("the mirrored requests counted", WAIT, || async {
        let text = through_api(&tc, &envoy_path).await.ok()?;
        text.contains(
            "envoy_cluster_upstream_rq_xx{envoy_response_code_class=\"2\",envoy_cluster_name=\"default_shadow_80\"} 20\n",
        )
        .then_some(text)
    })
    .await;
    for line in [
        "envoy_cluster_upstream_rq_total{envoy_cluster_name=\"default_web_80\"} 20\n",
        "envoy_cluster_upstream_rq_xx{envoy_response_code_class=\"2\",envoy_cluster_name=\"default_web_80\"} 20\n",
        "envoy_cluster_upstream_rq_time_count{envoy_cluster_name=\"default_web_80\"} 20\n",
        "envoy_cluster_upstream_rq_total{envoy_cluster_name=\"default_shadow_80\"} 20\n",
    ] {
        assert!(text.contains(line), "{line}in:\n{text}");
    }
    let nginx_path = format!(
        "/api/v1/namespaces/ingress-nginx/pods/{}:metrics/proxy/metrics",
        nginx.metadata.name.as_deref().expect("name")
    );
    let all = through_api(&tc, &nginx_path).await.expect("/metrics");
    assert!(all.contains("# TYPE nginx_ingress_controller_requests counter"));
    assert!(
        !all.contains("nginx_ingress_controller_requests{"),
        "HTTPRoute traffic is not ingress-nginx's:\n{all}"
    );
    assert!(all.contains("envoy_cluster_upstream_rq_total{"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_ingress_takes_its_pods_and_node_away() {
    let tc = TestCluster::fast(10.0).await;
    let extra = IngressProxy::start(
        tc.client.clone(),
        IngressOptions {
            controller_node: Some("extra-ingress".into()),
            ..Default::default()
        },
    )
    .await
    .expect("a second ingress");
    let pods = extra.controller_pods();
    assert_eq!(pods.len(), 2);
    for (ns, name) in &pods {
        Api::<Pod>::namespaced(tc.client.clone(), ns)
            .get(name)
            .await
            .expect("registered before start returns");
    }
    // Deleted by someone: put back.
    let (ns, name) = &pods[0];
    let api: Api<Pod> = Api::namespaced(tc.client.clone(), ns);
    api.delete(name, &Default::default()).await.expect("delete");
    eventually("the pod put back", WAIT, || async {
        api.get_opt(name)
            .await
            .ok()
            .flatten()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .map(|_| ())
    })
    .await;
    extra.stop().await;
    for (ns, name) in &pods {
        let api: Api<Pod> = Api::namespaced(tc.client.clone(), ns);
        eventually("the pod gone", WAIT, || async {
            api.get_opt(name).await.ok()?.is_none().then_some(())
        })
        .await;
    }
    assert!(
        Api::<Node>::all(tc.client.clone())
            .get_opt("extra-ingress")
            .await
            .expect("get")
            .is_none()
    );
    // The cluster's own ingress is still there.
    the_pod(&tc, "projectcontour", "app=envoy").await;
}
