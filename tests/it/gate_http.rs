//! The HTTP check gate against apps in the embedded cluster: through the API server's service
//! proxy and through the ingress; healthy, erroring and unreachable apps; body and JSON
//! conditions.

use crate::common::{TestCluster, app_deployment, app_service, eventually};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{EnvVar, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, PostParams};
use rollout_core::gate::Outcome;
use rollout_core::gate::http::{self, Endpoint};
use rollout_core::spec::{HttpCheck, HttpTarget, VersionRef, Via};
use serde_json::json;
use std::time::Duration;

/// A healthy app's answer with `SIM_BODY`: JSON, so the check's `json` conditions apply.
const JSON_BODY: &str = r#"{"status":"ok","version":"{version}","pod":"{pod}"}"#;

async fn deploy(tc: &TestCluster, name: &str, image: &str, env: &[(&str, &str)]) {
    let mut d = app_deployment(name, name, image, 1);
    if let Some(container) = d
        .spec
        .as_mut()
        .and_then(|s| s.template.spec.as_mut())
        .and_then(|s| s.containers.first_mut())
    {
        container.env = Some(
            env.iter()
                .map(|(k, v)| EnvVar {
                    name: (*k).into(),
                    value: Some((*v).into()),
                    ..Default::default()
                })
                .collect(),
        );
    }
    Api::<Deployment>::default_namespaced(tc.client.clone())
        .create(&PostParams::default(), &d)
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

async fn ingress(tc: &TestCluster, name: &str, host: &str) {
    let ing: Ingress = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": host, "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": name, "port": {"name": "http"}}}}]}}]}
    }))
    .expect("ingress");
    Api::<Ingress>::default_namespaced(tc.client.clone())
        .create(&PostParams::default(), &ing)
        .await
        .expect("ingress");
}

fn check(path: &str, requests: u32) -> HttpCheck {
    HttpCheck {
        target: HttpTarget::Path {
            path: path.into(),
            via: Via::Auto,
        },
        version: VersionRef::New,
        method: "GET".into(),
        headers: vec![],
        body: None,
        requests,
        timeout: rollout_core::spec::Duration::from_secs(2),
        tls_verify: true,
        status: "in [200, 299]".parse().expect("valid"),
        body_match: None,
        json: vec![],
        success_rate: ">= 99%".parse().expect("valid"),
        p50: None,
        p95: Some("< 2s".parse().expect("valid")),
        p99: None,
    }
}

/// The service proxy, with a client that does not retry 503s (see `http::proxy_client`).
async fn proxy(tc: &TestCluster, service: &str) -> Endpoint {
    let kubeconfig =
        kube::config::Kubeconfig::from_yaml(tc.cluster.kubeconfig()).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .expect("config");
    Endpoint::ServiceProxy {
        client: http::proxy_client(config).expect("kube client"),
        namespace: tc.client.default_namespace().to_string(),
        service: service.into(),
        port: "http".into(),
    }
}

fn client() -> reqwest::Client {
    kube_util::tls::install_crypto_provider();
    http::client(true).expect("http client")
}

/// Waits until the app answers the check at all (whatever the verdict).
async fn answering(endpoint: &Endpoint, http: &reqwest::Client) {
    eventually("the app answers", Duration::from_secs(30), || async {
        let m = http::measure("wait", &check("/", 1), endpoint, http).await;
        (m.outcome != Outcome::Error).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn healthy_app_passes_via_service_proxy_and_ingress() {
    let tc = TestCluster::fast(20.0).await;
    let http = client();
    deploy(&tc, "web", "shop:v1", &[("SIM_BODY", JSON_BODY)]).await;
    ingress(&tc, "web", "web.local").await;

    let via_proxy = proxy(&tc, "web").await;
    answering(&via_proxy, &http).await;
    let mut good = check("/", 20);
    good.body_match = Some(r#""status":\s*"ok""#.into());
    good.json = vec![
        (
            "$.status".parse().expect("valid"),
            "== ok".parse().expect("valid"),
        ),
        (
            "$.version".parse().expect("valid"),
            "== v1".parse().expect("valid"),
        ),
    ];
    let m = http::measure("smoke", &good, &via_proxy, &http).await;
    assert_eq!(m.outcome, Outcome::Pass, "{}", m.summary);
    assert!(
        m.summary
            .starts_with("20/20 ok, success 100% (>= 99%), p95 "),
        "{}",
        m.summary
    );
    assert!(m.summary.ends_with("(< 2s)"), "{}", m.summary);
    assert_eq!(m.figures["requests"], 20.0);
    assert_eq!(m.figures["ok"], 20.0);
    assert_eq!(m.figures["success_rate"], 100.0);
    assert!(m.figures["p95_ms"] > 0.0 && m.figures["p95_ms"] < 2000.0);

    // Through the ingress, by IP with the Host header.
    let ingress_addr = tc.cluster.ingress().expect("ingress").addr();
    let via_ingress = Endpoint::Url {
        base: format!("http://{ingress_addr}"),
        host: Some("web.local".into()),
        headers: vec![("X-Test".into(), "gate".into())],
    };
    answering(&via_ingress, &http).await;
    let m = http::measure("smoke", &good, &via_ingress, &http).await;
    assert_eq!(m.outcome, Outcome::Pass, "{}", m.summary);

    // A JSON field with another value fails every answer, and says which and why.
    let mut wrong_version = good.clone();
    wrong_version.json[1].1 = "== v2".parse().expect("valid");
    let m = http::measure("smoke", &wrong_version, &via_proxy, &http).await;
    assert_eq!(m.outcome, Outcome::Fail, "{}", m.summary);
    assert_eq!(
        m.summary,
        r#"success 0% (needs >= 99%): 20 × $.version is "v1" (needs == "v2")"#
    );

    let mut wrong_body = check("/", 5);
    wrong_body.body_match = Some("^Host:".into());
    let m = http::measure("smoke", &wrong_body, &via_ingress, &http).await;
    assert_eq!(m.outcome, Outcome::Fail, "{}", m.summary);
    assert!(
        m.summary.contains("5 × body does not match /^Host:/"),
        "{}",
        m.summary
    );

    // A latency nobody meets.
    let mut too_fast = check("/", 5);
    too_fast.p95 = None;
    too_fast.p50 = Some("< 1us".parse().expect("valid"));
    let m = http::measure("smoke", &too_fast, &via_proxy, &http).await;
    assert_eq!(m.outcome, Outcome::Fail, "{}", m.summary);
    assert!(m.summary.starts_with("5/5 ok, p50 "), "{}", m.summary);
    assert!(m.summary.ends_with("(needs < 1us)"), "{}", m.summary);

    // An absolute URL is used as it is, whatever the endpoint.
    let metrics_addr = tc.cluster.ingress().expect("ingress").metrics_addr();
    let mut absolute = check("/", 3);
    absolute.target = HttpTarget::Url(format!("http://{metrics_addr}/healthz"));
    let m = http::measure("smoke", &absolute, &via_proxy, &http).await;
    assert_eq!(m.outcome, Outcome::Pass, "{}", m.summary);

    // A Service without endpoints: the API server answers for the app, which is no answer.
    Api::<Service>::default_namespaced(tc.client.clone())
        .create(
            &PostParams::default(),
            &app_service("ghost", json!({"app": "ghost"})),
        )
        .await
        .expect("service");
    let m = http::measure("smoke", &check("/", 3), &proxy(&tc, "ghost").await, &http).await;
    assert_eq!(m.outcome, Outcome::Error, "{}", m.summary);
    assert!(
        m.summary.starts_with("no answer to 3 requests: ")
            && m.summary.contains("no endpoints available"),
        "{}",
        m.summary
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn erroring_app_fails() {
    let tc = TestCluster::fast(20.0).await;
    let http = client();
    deploy(&tc, "bad", "shop:errors", &[]).await;
    let endpoint = proxy(&tc, "bad").await;
    answering(&endpoint, &http).await;
    let m = http::measure("smoke", &check("/", 60), &endpoint, &http).await;
    assert_eq!(m.outcome, Outcome::Fail, "{}", m.summary);
    assert!(m.summary.starts_with("success "), "{}", m.summary);
    assert!(m.summary.contains(" × status 500"), "{}", m.summary);
    let rate = m.figures["success_rate"];
    assert!(
        (10.0..=90.0).contains(&rate),
        "about half fail: {rate}% {}",
        m.summary
    );
    assert_eq!(m.figures["requests"], 60.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_listening_is_an_error() {
    let http = client();
    // A port that was free a moment ago: connections are refused.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let refused = Endpoint::Url {
        base: format!("http://127.0.0.1:{port}"),
        host: None,
        headers: vec![],
    };
    let m = http::measure("smoke", &check("/healthz", 4), &refused, &http).await;
    assert_eq!(m.outcome, Outcome::Error, "{}", m.summary);
    assert!(
        m.summary.starts_with("no answer to 4 requests: "),
        "{}",
        m.summary
    );
    assert_eq!(m.figures["ok"], 0.0);

    // A server that accepts and never answers: each request times out.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = silent.local_addr().expect("addr");
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            held.push(conn);
        }
    });
    let mut quick = check("/", 2);
    quick.timeout = rollout_core::spec::Duration::from_millis(200);
    let endpoint = Endpoint::Url {
        base: format!("http://{addr}"),
        host: None,
        headers: vec![],
    };
    let m = http::measure("smoke", &quick, &endpoint, &http).await;
    assert_eq!(m.outcome, Outcome::Error, "{}", m.summary);
    assert_eq!(m.summary, "no answer to 2 requests: no answer within 200ms");
    holder.abort();

    // A pattern that does not compile is an error before anything is sent.
    let mut bad_regex = check("/", 1);
    bad_regex.body_match = Some("(".into());
    let m = http::measure("smoke", &bad_regex, &refused, &http).await;
    assert_eq!(m.outcome, Outcome::Error);
    assert!(m.summary.starts_with("invalid bodyMatch"), "{}", m.summary);
}
