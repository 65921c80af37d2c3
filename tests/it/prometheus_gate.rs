//! The Prometheus gate and the version comparison against a real Prometheus server scraping
//! the embedded ingress's metrics. Needs the `prometheus` binary (Debian package
//! `prometheus`); CI installs it, so its absence fails the test rather than skipping it.

use crate::common::{
    TestCluster, app_deployment, app_service, eventually, http_client, via_ingress,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, PostParams};
use rollout_core::gate::compare::Comparer;
use rollout_core::gate::prometheus::{self, Vars};
use rollout_core::gate::{Measurement, Outcome};
use rollout_core::metrics::Access;
use rollout_core::metrics::observer::IngressNginx;

/// The source `access` names (neither needs the API server's client).
fn open(access: &Access) -> std::sync::Arc<dyn rollout_core::metrics::Source> {
    let client = kube::Client::try_from(kube::Config::new(
        "https://127.0.0.1:1".parse().expect("url"),
    ))
    .expect("client");
    rollout_core::metrics::source::open(access, &client)
        .expect("a source")
        .into()
}
use rollout_core::spec::{Compare, CompareMetric, Percent, PrometheusCheck, StatTest};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A Prometheus server in a temporary directory, killed when dropped.
struct PrometheusServer {
    child: Child,
    address: String,
    dir: tempfile::TempDir,
}

impl PrometheusServer {
    /// Starts Prometheus scraping `target` (`host:port`, path `/metrics`) every second.
    fn start(target: &str) -> PrometheusServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: ingress\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("write prometheus.yml");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start prometheus: the `prometheus` binary must be installed (apt-get install prometheus)");
        PrometheusServer {
            child,
            address: format!("http://127.0.0.1:{port}"),
            dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Waits for `/-/ready`, failing early with the log if the server exits.
    async fn ready(&mut self, http: &reqwest::Client) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("poll prometheus") {
                panic!("prometheus exited ({status}):\n{}", self.log());
            }
            let ready = http
                .get(format!("{}/-/ready", self.address))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "prometheus not ready within 60s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn deploy(tc: &TestCluster, name: &str, image: &str) {
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

async fn ingress(tc: &TestCluster, name: &str, service: &str, annotations: serde_json::Value) {
    let ing: Ingress = serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": "shop.local", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": service, "port": {"name": "http"}}}}]}}]}
    }))
    .expect("ingress");
    Api::<Ingress>::default_namespaced(tc.client.clone())
        .create(&PostParams::default(), &ing)
        .await
        .expect("ingress");
}

fn check(query: &str, condition: &str) -> PrometheusCheck {
    PrometheusCheck {
        address: None,
        query: query.into(),
        condition: condition.parse().expect("condition"),
    }
}

fn has_traffic(m: &Measurement) -> bool {
    m.figures.get("new_requests").is_some_and(|n| *n > 0.0)
        && m.figures.get("stable_requests").is_some_and(|n| *n > 0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_gate_and_comparison_on_live_traffic() {
    let tc = TestCluster::fast(20.0).await;
    let http = http_client();
    let namespace = tc.client.default_namespace().to_string();

    // Stable and canary behind one host, the canary taking half the requests.
    deploy(&tc, "stable", "shop:v1").await;
    deploy(&tc, "canary", "shop:v2").await;
    ingress(&tc, "shop", "stable", json!({})).await;
    ingress(
        &tc,
        "shop-canary",
        "canary",
        json!({
            "nginx.ingress.kubernetes.io/canary": "true",
            "nginx.ingress.kubernetes.io/canary-weight": "50",
        }),
    )
    .await;
    let proxy = tc.cluster.ingress().expect("ingress");
    let ingress_addr = proxy.addr();
    eventually(
        "both versions serve through the ingress",
        Duration::from_secs(30),
        || async {
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..20 {
                let (code, version) =
                    via_ingress(&http, ingress_addr, "shop.local", "/", &[]).await;
                if code == 200 {
                    seen.insert(version);
                }
            }
            (seen.len() == 2).then_some(())
        },
    )
    .await;

    let metrics_addr = proxy.metrics_addr();
    let mut server = PrometheusServer::start(&metrics_addr.to_string());
    server.ready(&http).await;

    let mut scraped = Comparer::new(
        open(&Access::Url {
            url: format!("http://{metrics_addr}/metrics"),
        }),
        &IngressNginx,
        namespace.clone(),
        "stable",
        "canary",
    );
    let mut queried = Comparer::new(
        open(&Access::Prometheus {
            address: server.address.clone(),
        }),
        &IngressNginx,
        namespace.clone(),
        "stable",
        "canary",
    );
    scraped.start(&http).await.expect("scrape");
    queried.start(&http).await.expect("start");

    // Steady traffic until the test is done (and at most two minutes).
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (stop, http) = (stop.clone(), http.clone());
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) && tokio::time::Instant::now() < deadline {
                via_ingress(&http, ingress_addr, "shop.local", "/", &[]).await;
                sent += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            sent
        })
    };

    let vars = Vars {
        namespace: namespace.clone(),
        app: "shop".into(),
        service: "stable".into(),
        new: "canary".into(),
        stable: "stable".into(),
        interval: "30s".into(),
    };
    let rate = check(
        r#"sum(rate(nginx_ingress_controller_requests{namespace="{{namespace}}",service="{{service}}"}[{{interval}}]))"#,
        "> 0",
    );
    let passed = eventually(
        "Prometheus sees the requests",
        Duration::from_secs(60),
        || async {
            let m = prometheus::measure("rate", &rate, &server.address, &vars, &http).await;
            assert_ne!(m.outcome, Outcome::Error, "{}", m.summary);
            (m.outcome == Outcome::Pass).then_some(m)
        },
    )
    .await;
    let value = passed.figures["value"];
    assert!(value > 0.0, "{value}");
    assert!(
        passed.summary.starts_with("value ") && passed.summary.ends_with(" (> 0)"),
        "{}",
        passed.summary
    );

    let impossible = PrometheusCheck {
        condition: "< 0".parse().expect("condition"),
        ..rate.clone()
    };
    let m = prometheus::measure("rate", &impossible, &server.address, &vars, &http).await;
    assert_eq!(m.outcome, Outcome::Fail, "{}", m.summary);
    assert!(m.summary.ends_with(" (needs < 0)"), "{}", m.summary);

    let invalid = check("sum(rate(nginx_ingress_controller_requests[30s]", "> 0");
    let m = prometheus::measure("bad", &invalid, &server.address, &vars, &http).await;
    assert_eq!(m.outcome, Outcome::Error, "{}", m.summary);
    assert!(
        m.summary.starts_with("query failed: bad_data: ") && m.summary.contains("parse error"),
        "{}",
        m.summary
    );

    let nothing = check(
        r#"sum(nginx_ingress_controller_requests{service="no-such-service"})"#,
        "> 0",
    );
    let m = prometheus::measure("none", &nothing, &server.address, &vars, &http).await;
    assert_eq!(m.outcome, Outcome::Inconclusive, "{}", m.summary);
    assert_eq!(m.summary, "query returned no data");

    let unreachable = prometheus::measure("down", &rate, "http://127.0.0.1:1", &vars, &http).await;
    assert_eq!(
        unreachable.outcome,
        Outcome::Error,
        "{}",
        unreachable.summary
    );

    // Both sources see both versions' requests, the canary's by its upstream label.
    eventually(
        "Prometheus has the canary's requests",
        Duration::from_secs(30),
        || async {
            let q = format!(
                r#"sum(nginx_ingress_controller_requests{{namespace="{namespace}",canary!=""}})"#
            );
            let v = rollout_core::metrics::prometheus::query(&http, &server.address, &q)
                .await
                .expect("query");
            v.filter(|v| *v > 0.0)
        },
    )
    .await;
    let compare = Compare {
        metrics: vec![CompareMetric::ErrorRate, CompareMetric::Latency],
        test: StatTest::Sequential,
        confidence: Percent::new(95.0).expect("percent"),
        max_error_rate_increase: Percent::new(1.0).expect("percent"),
        max_latency_increase: Percent::new(50.0).expect("percent"),
        min_samples: 20,
    };
    let from_scrape = scraped.measure("compare", &compare, &http).await;
    let from_prometheus = queried.measure("compare", &compare, &http).await;
    stop.store(true, Ordering::Relaxed);
    let sent = traffic.await.expect("traffic");

    for (source, m) in [("scrape", &from_scrape), ("prometheus", &from_prometheus)] {
        eprintln!("{source}: {} {}", m.outcome, m.summary);
        assert!(has_traffic(m), "{source} sees both versions: {m:?}");
        assert!(
            !matches!(m.outcome, Outcome::Fail | Outcome::Error),
            "{source}: two healthy versions: {m:?}"
        );
        assert!(
            m.figures["new_requests"] + m.figures["stable_requests"] <= sent as f64 * 1.5,
            "{source} counts no more than was sent ({sent}): {m:?}"
        );
    }
    // Half the requests each way, give or take.
    let share = from_scrape.figures["new_requests"]
        / (from_scrape.figures["new_requests"] + from_scrape.figures["stable_requests"]);
    assert!((0.3..=0.7).contains(&share), "{share} {from_scrape:?}");

    // The evidence adds each window once: with the traffic stopped, the next measurement
    // counts (almost) nothing more.
    let after = scraped.measure("compare", &compare, &http).await;
    let grew = after.figures["new_requests"] - from_scrape.figures["new_requests"];
    assert!((0.0..=5.0).contains(&grew), "{after:?} vs {from_scrape:?}");
}
