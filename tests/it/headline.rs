//! The headline, as a user types it: `rollout sim up`, `kubectl apply -f` an app (Deployment,
//! Service, and an nginx Ingress — with or without TLS — or an HTTPRoute), users' traffic
//! beside it (`rollout sim traffic`), and `rollout --strategy canary --image v2 --app web`
//! with no other flag than the kubeconfig: the orchestrator finds the ingress in the
//! Ingress's status (HTTPS with SNI and the Secret's CA when it has TLS) and the per-version
//! metrics through the controller pods the embedded ingress registers, and every check of
//! the built-in canary runs. A good image completes (exit 0); a bad one is rolled back (exit
//! 3) by a check that measured it failing.

use crate::common::Killed;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{eventually, have_kubectl};

/// `rollout sim up` running, and what it printed.
struct SimUp {
    _child: Killed,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    /// The ingress's plain-HTTP and HTTPS listeners.
    http: SocketAddr,
    https: SocketAddr,
}

/// The address after `prefix` in `line`.
fn address_after(line: &str, prefix: &str) -> Option<SocketAddr> {
    line.split(prefix)
        .nth(1)?
        .split(|c: char| c.is_whitespace() || c == '/')
        .next()?
        .parse()
        .ok()
}

/// Starts `rollout sim up` on free ports (as a user would on the default ones) and waits for
/// it to say where everything is.
fn sim_up() -> SimUp {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rollout"))
        .args([
            "sim",
            "up",
            "--port",
            "0",
            "--ingress-port",
            "0",
            "--ingress-tls-port",
            "0",
            "--speed",
            "10",
            "--kubeconfig",
        ])
        .arg(&kubeconfig)
        .env("ROLLOUT_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rollout sim up");
    let stderr = child.stderr.take().expect("stderr");
    let child = Killed(child);
    let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
    let (mut http, mut https) = (None, None);
    for line in lines.by_ref() {
        if line.starts_with("ingress ") {
            http = address_after(&line, "http://");
        }
        if line.trim_start().starts_with("HTTPS at") {
            https = address_after(&line, "https://");
        }
        if line.starts_with("kubeconfig written") {
            break;
        }
    }
    // Keep reading what it prints, so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    SimUp {
        _child: child,
        kubeconfig,
        http: http.expect("sim up prints the ingress's address"),
        https: https.expect("sim up prints the ingress's HTTPS address"),
        dir,
    }
}

impl SimUp {
    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> String {
        let mut cmd = Command::new("kubectl");
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().expect("kubectl");
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use std::io::Write;
            pipe.write_all(text.as_bytes()).expect("kubectl stdin");
        }
        let out = child.wait_with_output().expect("kubectl");
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl apply -f FILE` of `yaml`.
    fn apply(&self, name: &str, yaml: &str) {
        let path = self.dir.path().join(name);
        std::fs::write(&path, yaml).expect("write manifest");
        self.kubectl(&["apply", "-f", &path.display().to_string()], None);
    }

    fn rollout(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_rollout"))
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .expect("rollout")
    }

    async fn wait_rolled_out(&self) {
        let kubeconfig = self.kubeconfig.clone();
        tokio::task::spawn_blocking(move || {
            let out = Command::new("kubectl")
                .env("KUBECONFIG", &kubeconfig)
                .args(["rollout", "status", "deployment/web", "--timeout=120s"])
                .output()
                .expect("kubectl rollout status");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        })
        .await
        .expect("join");
    }

    /// Users: `rollout sim traffic` through the ingress (over HTTPS, trusting `ca`, when
    /// given), until dropped.
    fn users(&self, ca: Option<&Path>) -> Killed {
        let target = if ca.is_some() { self.https } else { self.http };
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollout"));
        cmd.args(["sim", "traffic", "--host", HOST, "--rate", "100"])
            .args(["--duration", "20m", "--target", &target.to_string()]);
        if let Some(ca) = ca {
            cmd.arg("--tls-ca").arg(ca);
        }
        Killed(
            cmd.stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("rollout sim traffic"),
        )
    }
}

const HOST: &str = "web.example.local";

const APP: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: app
          image: web:v1
          ports: [{name: http, containerPort: 8080}]
          readinessProbe:
            httpGet: {path: /healthz, port: http}
            periodSeconds: 2
---
apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {app: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
"#;

fn ingress(tls: bool) -> String {
    let tls = if tls {
        format!("  tls:\n    - hosts: [{HOST}]\n      secretName: web-tls\n")
    } else {
        String::new()
    };
    format!(
        r#"apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  labels: {{app: web}}
spec:
  ingressClassName: nginx
{tls}  rules:
    - host: {HOST}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: web
                port: {{name: http}}
"#
    )
}

const ROUTE: &str = r#"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
  labels: {app: web}
spec:
  hostnames: [web.example.local]
  rules:
    - matches: [{path: {type: PathPrefix, value: /}}]
      backendRefs: [{name: web, port: 80}]
"#;

/// The exit code and stderr of the headline command with `image`: the kubeconfig is all it
/// is told.
async fn canary(sim: &SimUp, image: &str) -> (Option<i32>, String) {
    let kubeconfig = sim.kubeconfig.clone();
    let image = image.to_string();
    // It runs for minutes: off the test's runtime threads.
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_rollout"))
            .args(["--strategy", "canary", "--image", &image, "--app", "web"])
            .env("KUBECONFIG", &kubeconfig)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .expect("rollout")
    })
    .await
    .expect("join");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A good image completes with every check planned; a bad one is rolled back by a check
/// that measured it.
async fn good_then_bad(sim: &SimUp) {
    let (code, stderr) = canary(sim, "v2").await;
    assert_eq!(code, Some(0), "v2:\n{stderr}");
    assert!(
        !stderr.contains("will not run"),
        "every check runs with no flags:\n{stderr}"
    );
    let image = sim.kubectl(
        &[
            "get",
            "deployment/web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ],
        None,
    );
    assert_eq!(image, "web:v2");

    let (code, stderr) = canary(sim, "v2-errors").await;
    assert_eq!(code, Some(3), "v2-errors:\n{stderr}");
    assert!(
        !stderr.contains("will not run"),
        "every check runs with no flags:\n{stderr}"
    );
    // Rolled back because a check measured the new version's errors: its success rate
    // through the ingress, or its error rate against stable's — not because something could
    // not be reached.
    let measured = ["success rate", "error rate", "errors"];
    assert!(
        measured.iter().any(|m| stderr.contains(m)),
        "the reason names what was measured:\n{stderr}"
    );
    for unreachable in ["connection", "cannot reach", "no answer", "timed out"] {
        assert!(
            !stderr.to_lowercase().contains(unreachable),
            "rolled back for {unreachable:?}, not for what the new version did:\n{stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_through_an_nginx_ingress_with_no_flags() {
    if !have_kubectl() {
        return;
    }
    let sim = sim_up();
    sim.apply("app.yaml", APP);
    sim.apply("ingress.yaml", &ingress(false));
    sim.wait_rolled_out().await;
    let _users = sim.users(None);
    good_then_bad(&sim).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_through_a_tls_ingress_with_no_flags() {
    if !have_kubectl() {
        return;
    }
    let sim = sim_up();
    // The Secret the Ingress names, as `rollout sim tls-secret` prints it.
    let secret = sim.rollout(&["sim", "tls-secret", "--name", "web-tls", "--host", HOST]);
    assert!(secret.status.success(), "{secret:?}");
    sim.kubectl(
        &["apply", "-f", "-"],
        Some(&String::from_utf8_lossy(&secret.stdout)),
    );
    sim.apply("app.yaml", APP);
    sim.apply("ingress.yaml", &ingress(true));
    sim.wait_rolled_out().await;
    // Users come over HTTPS, trusting the Secret's CA; plain HTTP is redirected there.
    let ca = sim.dir.path().join("ca.crt");
    let ca_b64 = sim.kubectl(
        &[
            "get",
            "secret",
            "web-tls",
            "-o",
            "jsonpath={.data.ca\\.crt}",
        ],
        None,
    );
    use base64::Engine as _;
    let pem = base64::engine::general_purpose::STANDARD
        .decode(ca_b64.trim())
        .expect("ca.crt");
    std::fs::write(&ca, pem).expect("write ca.crt");
    // A client that shows the redirect rather than following it.
    kube_util::tls::install_crypto_provider();
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .expect("http client");
    let sim_http = sim.http;
    let redirect = eventually("a redirect to HTTPS", Duration::from_secs(30), || {
        let http = http.clone();
        async move {
            let r = http
                .get(format!("http://{sim_http}/"))
                .header("Host", HOST)
                .send()
                .await
                .ok()?;
            (r.status().as_u16() == 308).then(|| {
                r.headers()
                    .get("location")
                    .and_then(|l| l.to_str().ok())
                    .map(str::to_owned)
            })?
        }
    })
    .await;
    assert_eq!(redirect, format!("https://{HOST}:{}/", sim.https.port()));
    let _users = sim.users(Some(&ca));
    good_then_bad(&sim).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_through_an_httproute_with_no_flags() {
    if !have_kubectl() {
        return;
    }
    let sim = sim_up();
    sim.apply("app.yaml", APP);
    sim.apply("route.yaml", ROUTE);
    sim.wait_rolled_out().await;
    let _users = sim.users(None);
    good_then_bad(&sim).await;
}
