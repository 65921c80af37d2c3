//! Helpers for tests against the embedded cluster: start one in-process, talk to it with kube
//! or with the real kubectl, deploy a small app, reach it through the ingress.
//!
//! Built with the `testing` feature: the project's test suites use it, the program does not.

use crate::{SimCluster, SimOptions};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

pub struct TestCluster {
    pub cluster: SimCluster,
    pub client: kube::Client,
    pub dir: tempfile::TempDir,
}

impl TestCluster {
    pub async fn start() -> Self {
        Self::start_with(SimOptions {
            bookmark_interval: Duration::from_millis(200),
            ..Default::default()
        })
        .await
    }

    /// The API server alone: no controllers act on what the test writes.
    pub async fn api_only() -> Self {
        Self::start_with(SimOptions {
            bookmark_interval: Duration::from_millis(200),
            controllers: false,
            ..Default::default()
        })
        .await
    }

    /// API server and controllers, but no node agent: the test plays the kubelet.
    pub async fn without_node() -> Self {
        Self::start_with(SimOptions {
            bookmark_interval: Duration::from_millis(200),
            node_agent: false,
            ..Default::default()
        })
        .await
    }

    /// The whole cluster with simulated time sped up `scale` times.
    pub async fn fast(scale: f64) -> Self {
        Self::start_with(SimOptions {
            bookmark_interval: Duration::from_millis(200),
            time_scale: scale,
            ..Default::default()
        })
        .await
    }

    pub async fn start_with(opts: SimOptions) -> Self {
        kube_util::tls::install_crypto_provider();
        let cluster = SimCluster::start(opts)
            .await
            .expect("start embedded cluster");
        let client = cluster.client().await.expect("client");
        let dir = tempfile::tempdir().expect("tempdir");
        cluster
            .write_kubeconfig(&dir.path().join("kubeconfig"))
            .expect("write kubeconfig");
        Self {
            cluster,
            client,
            dir,
        }
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// A kubectl command pointed at this cluster.
    pub fn kubectl(&self) -> Command {
        let mut c = Command::new("kubectl");
        c.env("KUBECONFIG", self.kubeconfig())
            .env("HOME", self.dir.path())
            .env_remove("KUBECTL_EXTERNAL_DIFF");
        c
    }

    /// Runs kubectl with `args`, asserts it succeeded and returns its stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl().args(args).output().expect("run kubectl");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
            out.status
        );
        stdout
    }

    /// Runs kubectl and returns (success, stdout, stderr).
    pub fn kubectl_run(&self, args: &[&str]) -> (bool, String, String) {
        let out = self.kubectl().args(args).output().expect("run kubectl");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }

    /// An authenticated raw HTTPS client for requests kube::Api does not make.
    pub fn raw(&self) -> (reqwest::Client, String, String) {
        let kc: serde_json::Value =
            serde_saphyr::from_str(self.cluster.kubeconfig()).expect("kubeconfig yaml");
        let token = kc["users"][0]["user"]["token"]
            .as_str()
            .expect("token")
            .to_string();
        let ca = kc["clusters"][0]["cluster"]["certificate-authority-data"]
            .as_str()
            .expect("ca")
            .to_string();
        use base64::Engine;
        let pem = base64::engine::general_purpose::STANDARD
            .decode(ca)
            .expect("ca b64");
        let cert = reqwest::Certificate::from_pem(&pem).expect("ca pem");
        let client = reqwest::Client::builder()
            .add_root_certificate(cert)
            .build()
            .expect("reqwest");
        (client, self.cluster.url().to_string(), token)
    }
}

/// Whether the real kubectl is installed; tests that need it say so and return when it is not.
pub fn have_kubectl() -> bool {
    let ok = Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        // CI sets this: there a missing kubectl is a failure, not a reason to skip.
        assert!(
            std::env::var_os("ROLLOUT_REQUIRE_KUBECTL").is_none(),
            "kubectl is not installed, and ROLLOUT_REQUIRE_KUBECTL says the kubectl tests must run"
        );
        eprintln!("SKIPPED: kubectl is not installed on this machine");
    }
    ok
}

/// Polls `check` until it returns Some or the deadline passes.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A Deployment of `replicas` pods of `image` labelled `app: NAME` (plus `extra_labels`),
/// serving `http` on 8080 with a readiness probe on /healthz.
pub fn app_deployment(
    name: &str,
    app: &str,
    image: &str,
    replicas: i32,
) -> k8s_openapi::api::apps::v1::Deployment {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app, "track": name}},
            "template": {"metadata": {"labels": {"app": app, "track": name}},
                         "spec": {"terminationGracePeriodSeconds": 1,
                                  "containers": [{"name": "app", "image": image, "ports": [{"name": "http", "containerPort": 8080}],
                                                  "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1}}]}}
        }
    }))
    .expect("deployment")
}

/// A Service selecting `selector` on port 80 → the pods' `http` port.
pub fn app_service(name: &str, selector: serde_json::Value) -> k8s_openapi::api::core::v1::Service {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "spec": {"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
    }))
    .expect("service")
}

/// A plain HTTP client for talking to the ingress (keep-alive, no proxies).
pub fn http_client() -> reqwest::Client {
    kube_util::tls::install_crypto_provider();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("http client")
}

/// GET through the ingress with a Host header and extra headers; returns status and the
/// `X-Version` the answer carries (empty when none).
pub async fn via_ingress(
    http: &reqwest::Client,
    addr: std::net::SocketAddr,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut req = http
        .get(format!("http://{addr}{path}"))
        .header("Host", host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    match req.send().await {
        Ok(r) => {
            let version = r
                .headers()
                .get("x-version")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            (r.status().as_u16(), version)
        }
        Err(_) => (0, String::new()),
    }
}
