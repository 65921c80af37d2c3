//! Through the embedded ingress: only ready pods get requests; ingress-nginx canary weights,
//! header / cookie precedence; HTTPRoute weights and mirroring.

use crate::common::{
    TestCluster, app_deployment, app_service, eventually, http_client, via_ingress,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DynamicObject, PostParams};
use serde_json::json;
use std::time::Duration;

async fn deploy(tc: &TestCluster, name: &str, app: &str, image: &str, replicas: i32) {
    let api: Api<Deployment> = Api::default_namespaced(tc.client.clone());
    api.create(
        &PostParams::default(),
        &app_deployment(name, app, image, replicas),
    )
    .await
    .expect("deployment");
}

async fn service(tc: &TestCluster, name: &str, selector: serde_json::Value) {
    let api: Api<Service> = Api::default_namespaced(tc.client.clone());
    api.create(&PostParams::default(), &app_service(name, selector))
        .await
        .expect("service");
}

async fn ingress(tc: &TestCluster, name: &str, svc: &str, annotations: serde_json::Value) {
    let api: Api<Ingress> = Api::default_namespaced(tc.client.clone());
    let ing: Ingress = serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": "shop.local", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": svc, "port": {"name": "http"}}}}]}}]}
    }))
    .expect("ingress");
    api.create(&PostParams::default(), &ing)
        .await
        .expect("ingress");
}

/// Sends `n` requests and counts answers per version (non-2xx counted as "error").
async fn split(
    tc: &TestCluster,
    n: usize,
    headers: &[(&str, &str)],
) -> std::collections::BTreeMap<String, usize> {
    let addr = tc.cluster.ingress().expect("ingress").addr();
    let http = http_client();
    let mut counts = std::collections::BTreeMap::new();
    for _ in 0..n {
        let (code, version) = via_ingress(&http, addr, "shop.local", "/", headers).await;
        let key = if (200..300).contains(&code) {
            version
        } else {
            format!("error-{code}")
        };
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

/// Waits until both versions answer through the ingress.
async fn both_serving(tc: &TestCluster, headers: &[(&str, &str)], want: &[&str]) {
    eventually(
        "both versions serve through the ingress",
        Duration::from_secs(30),
        || async {
            let c = split(tc, 40, headers).await;
            want.iter().all(|v| c.contains_key(*v)).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn only_ready_pods_get_requests() {
    let tc = TestCluster::fast(10.0).await;
    deploy(&tc, "good", "shop", "shop:v1", 2).await;
    deploy(&tc, "unready", "shop", "shop:v9-never-ready", 2).await;
    service(&tc, "shop", json!({"app": "shop"})).await;
    ingress(&tc, "shop", "shop", json!({})).await;
    eventually("the ready pods serve", Duration::from_secs(30), || async {
        split(&tc, 5, &[]).await.contains_key("v1").then_some(())
    })
    .await;
    let counts = split(&tc, 400, &[]).await;
    assert_eq!(
        counts.get("v1"),
        Some(&400),
        "never-ready pods get no traffic: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nginx_canary_weight_header_and_cookie() {
    let tc = TestCluster::fast(10.0).await;
    deploy(&tc, "stable", "stable", "shop:v1", 2).await;
    deploy(&tc, "canary", "canary", "shop:v2", 1).await;
    service(&tc, "stable", json!({"app": "stable"})).await;
    service(&tc, "canary", json!({"app": "canary"})).await;
    ingress(&tc, "shop", "stable", json!({})).await;
    ingress(
        &tc,
        "shop-canary",
        "canary",
        json!({
            "nginx.ingress.kubernetes.io/canary": "true",
            "nginx.ingress.kubernetes.io/canary-weight": "10",
            "nginx.ingress.kubernetes.io/canary-by-header": "X-Canary",
            "nginx.ingress.kubernetes.io/canary-by-cookie": "canary",
        }),
    )
    .await;
    both_serving(&tc, &[], &["v1", "v2"]).await;

    let counts = split(&tc, 5000, &[]).await;
    let canary = *counts.get("v2").unwrap_or(&0) as f64 / 5000.0;
    assert!(
        (0.08..=0.12).contains(&canary),
        "canary-weight 10 gives 10% ± 2%: {canary} {counts:?}"
    );
    assert_eq!(counts.len(), 2, "no errors: {counts:?}");

    // header wins over cookie; `never` beats weight; other values fall through to the cookie.
    let only =
        |c: &std::collections::BTreeMap<String, usize>, v: &str| c.len() == 1 && c.contains_key(v);
    assert!(only(&split(&tc, 50, &[("X-Canary", "always")]).await, "v2"));
    assert!(only(&split(&tc, 50, &[("X-Canary", "never")]).await, "v1"));
    assert!(
        only(
            &split(
                &tc,
                50,
                &[("X-Canary", "never"), ("Cookie", "canary=always")]
            )
            .await,
            "v1"
        ),
        "header before cookie"
    );
    assert!(
        only(
            &split(
                &tc,
                50,
                &[("X-Canary", "maybe"), ("Cookie", "canary=always")]
            )
            .await,
            "v2"
        ),
        "other header values fall through"
    );
    assert!(only(
        &split(&tc, 50, &[("Cookie", "canary=never")]).await,
        "v1"
    ));
    assert!(only(
        &split(&tc, 50, &[("Cookie", "canary=always")]).await,
        "v2"
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn nginx_canary_header_value_and_pattern() {
    let tc = TestCluster::fast(10.0).await;
    deploy(&tc, "stable", "stable", "shop:v1", 1).await;
    deploy(&tc, "canary", "canary", "shop:v2", 1).await;
    service(&tc, "stable", json!({"app": "stable"})).await;
    service(&tc, "canary", json!({"app": "canary"})).await;
    ingress(&tc, "shop", "stable", json!({})).await;
    ingress(
        &tc,
        "shop-canary",
        "canary",
        json!({
            "nginx.ingress.kubernetes.io/canary": "true",
            "nginx.ingress.kubernetes.io/canary-by-header": "X-Group",
            "nginx.ingress.kubernetes.io/canary-by-header-value": "beta",
            "nginx.ingress.kubernetes.io/canary-by-header-pattern": "^never-used$",
        }),
    )
    .await;
    both_serving(&tc, &[("X-Group", "beta")], &["v2"]).await;
    let only =
        |c: &std::collections::BTreeMap<String, usize>, v: &str| c.len() == 1 && c.contains_key(v);
    assert!(
        only(&split(&tc, 30, &[("X-Group", "beta")]).await, "v2"),
        "the exact value goes to the canary"
    );
    assert!(
        only(&split(&tc, 30, &[("X-Group", "always")]).await, "v1"),
        "with a value set, `always` means nothing"
    );
    assert!(
        only(&split(&tc, 30, &[("X-Group", "never-used")]).await, "v1"),
        "the pattern is ignored when a value is set"
    );

    // Now a pattern alone.
    let api: Api<Ingress> = Api::default_namespaced(tc.client.clone());
    let patch = json!({"metadata": {"annotations": {"nginx.ingress.kubernetes.io/canary-by-header-value": null, "nginx.ingress.kubernetes.io/canary-by-header-pattern": "^(alpha|beta)-[0-9]+$"}}});
    api.patch(
        "shop-canary",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&patch),
    )
    .await
    .expect("patch");
    eventually("the pattern applies", Duration::from_secs(10), || async {
        only(&split(&tc, 10, &[("X-Group", "alpha-7")]).await, "v2").then_some(())
    })
    .await;
    assert!(only(&split(&tc, 30, &[("X-Group", "gamma-7")]).await, "v1"));
}

fn http_route(backends: serde_json::Value, filters: serde_json::Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "shop"},
        "spec": {"parentRefs": [{"name": "gw"}], "hostnames": ["shop.local"],
                 "rules": [{"backendRefs": backends, "filters": filters}]}
    }))
    .expect("route")
}

#[tokio::test(flavor = "multi_thread")]
async fn httproute_weights_and_mirror() {
    let tc = TestCluster::fast(10.0).await;
    deploy(&tc, "stable", "stable", "shop:v1", 2).await;
    deploy(&tc, "canary", "canary", "shop:v2", 1).await;
    deploy(&tc, "shadow", "shadow", "shop:v3", 1).await;
    for s in ["stable", "canary", "shadow"] {
        service(&tc, s, json!({"app": s})).await;
    }
    let routes: Api<DynamicObject> = Api::namespaced_with(
        tc.client.clone(),
        "default",
        &kubesim::ingress::proxy::http_route_resource(),
    );
    let backends = json!([{"name": "stable", "port": 80, "weight": 90}, {"name": "canary", "port": 80, "weight": 10}]);
    let mirror = json!([{"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "shadow", "port": 80}}}]);
    routes
        .create(&PostParams::default(), &http_route(backends, mirror))
        .await
        .expect("route");
    both_serving(&tc, &[], &["v1", "v2"]).await;

    let counts = split(&tc, 5000, &[]).await;
    let canary = *counts.get("v2").unwrap_or(&0) as f64 / 5000.0;
    assert!(
        (0.08..=0.12).contains(&canary),
        "weights 90/10: {canary} {counts:?}"
    );
    assert!(
        !counts.contains_key("v3"),
        "clients never see the mirror's answers: {counts:?}"
    );

    // The shadow pod received copies.
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::default_namespaced(tc.client.clone());
    let shadow = pods
        .list(&kube::api::ListParams::default().labels("app=shadow"))
        .await
        .expect("pods")
        .items;
    let name = shadow[0].metadata.name.clone().expect("name");
    let node = tc.cluster.node().expect("node agent");
    let copies: u64 = node
        .pod_stats("default", &name)
        .iter()
        .map(|s| s.requests.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    assert!(
        copies >= 4000,
        "the mirror got copies of the requests: {copies}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn scaling_down_under_traffic_loses_no_request() {
    use kubesim::traffic::{Traffic, TrafficSpec};
    let tc = TestCluster::fast(10.0).await;
    deploy(&tc, "shop", "shop", "shop:v1", 4).await;
    service(&tc, "shop", json!({"app": "shop"})).await;
    ingress(&tc, "shop", "shop", json!({})).await;
    let deploys: Api<Deployment> = Api::default_namespaced(tc.client.clone());
    eventually("4 ready pods", Duration::from_secs(30), || async {
        let ready = deploys.get("shop").await.ok()?.status?.ready_replicas?;
        (ready == 4 && split(&tc, 5, &[]).await.contains_key("v1")).then_some(())
    })
    .await;
    let mut spec = TrafficSpec::new(tc.cluster.ingress().expect("ingress").addr(), "shop.local");
    spec.rate_per_second = 200.0;
    spec.duration = Some(Duration::from_secs(4));
    let traffic = Traffic::start(spec).expect("traffic");
    tokio::time::sleep(Duration::from_millis(500)).await;
    deploys
        .patch_scale(
            "shop",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"replicas": 1}})),
        )
        .await
        .expect("scale down");
    traffic.finished().await;
    let report = traffic.stop().await;
    assert!(report.total >= 600, "{}", report.total);
    assert_eq!(
        report.failed, 0,
        "graceful termination drains: {:?}",
        report.by_status
    );
    let pods = eventually("3 pods gone", Duration::from_secs(20), || async {
        let n = deploys.get("shop").await.ok()?.status?.replicas?;
        (n == 1).then_some(n)
    })
    .await;
    assert_eq!(pods, 1);
}
