//! The headline, as a user types it: `rollout sim up`, `kubectl apply -f` apps (Deployment,
//! Service, and an nginx Ingress — with or without TLS — or an HTTPRoute), users' traffic
//! beside each (`rollout sim traffic`, with the A/B header for a group of them), and
//! `rollout --strategy S --image v2 --app APP` with no other flag than the kubeconfig (and
//! the README's flags that shorten waits): the orchestrator finds the ingress in the
//! Ingress's status (HTTPS with SNI and the Secret's CA when it has TLS) and the per-version
//! metrics through the controller pods the embedded ingress registers, and every check of
//! the built-in strategies runs. A good image completes (exit 0); a bad one is rolled back
//! (exit 3) by a check that measured it failing.

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

    /// `kubectl rollout status` of each app's Deployment, off the test's runtime threads.
    async fn wait_rolled_out(&self, apps: &[&str]) {
        let kubeconfig = self.kubeconfig.clone();
        let deployments: Vec<String> = apps.iter().map(|a| format!("deployment/{a}")).collect();
        tokio::task::spawn_blocking(move || {
            for deployment in deployments {
                let out = Command::new("kubectl")
                    .env("KUBECONFIG", &kubeconfig)
                    .args(["rollout", "status", &deployment, "--timeout=120s"])
                    .output()
                    .expect("kubectl rollout status");
                assert!(
                    out.status.success(),
                    "{deployment}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        })
        .await
        .expect("join");
    }

    /// The Secret `APP-tls` for `host`, as `rollout sim tls-secret` prints it, applied; returns
    /// the path of its CA (what users trust).
    fn tls_secret(&self, app: &str, host: &str) -> PathBuf {
        let name = format!("{app}-tls");
        let secret = self.rollout(&["sim", "tls-secret", "--name", &name, "--host", host]);
        assert!(secret.status.success(), "{secret:?}");
        self.kubectl(
            &["apply", "-f", "-"],
            Some(&String::from_utf8_lossy(&secret.stdout)),
        );
        let ca_b64 = self.kubectl(
            &["get", "secret", &name, "-o", "jsonpath={.data.ca\\.crt}"],
            None,
        );
        use base64::Engine as _;
        let pem = base64::engine::general_purpose::STANDARD
            .decode(ca_b64.trim())
            .expect("ca.crt");
        let ca = self.dir.path().join(format!("{app}-ca.crt"));
        std::fs::write(&ca, pem).expect("write ca.crt");
        ca
    }

    /// Users of `app`: `rollout sim traffic` through the ingress at `rate` requests/s (over
    /// HTTPS, trusting `ca`, when given; `groups` as its `--group`), until dropped.
    fn users(&self, app: &str, ca: Option<&Path>, rate: u32, groups: &[&str]) -> Killed {
        let target = if ca.is_some() { self.https } else { self.http };
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollout"));
        cmd.args(["sim", "traffic", "--host", &host(app)])
            .args(["--rate", &rate.to_string()])
            .args(["--duration", "20m", "--target", &target.to_string()]);
        if let Some(ca) = ca {
            cmd.arg("--tls-ca").arg(ca);
        }
        for group in groups {
            cmd.args(["--group", group]);
        }
        Killed(
            cmd.stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("rollout sim traffic"),
        )
    }
}

/// The host of `app`'s Ingress rule or HTTPRoute.
fn host(app: &str) -> String {
    format!("{app}.example.local")
}

/// `app`'s Deployment and Service, as a user writes them.
fn app(name: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: app
          image: {name}:v1
          ports: [{{name: http, containerPort: 8080}}]
          readinessProbe:
            httpGet: {{path: /healthz, port: http}}
            periodSeconds: 2
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
  selector: {{app: {name}}}
  ports: [{{name: http, port: 80, targetPort: http}}]
"#
    )
}

/// `app`'s nginx Ingress, with TLS from the Secret `APP-tls` when `tls`.
fn ingress(app: &str, tls: bool) -> String {
    let host = host(app);
    let tls = if tls {
        format!("  tls:\n    - hosts: [{host}]\n      secretName: {app}-tls\n")
    } else {
        String::new()
    };
    format!(
        r#"apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {app}
  labels: {{app: {app}}}
spec:
  ingressClassName: nginx
{tls}  rules:
    - host: {host}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {app}
                port: {{name: http}}
"#
    )
}

/// `app`'s HTTPRoute.
fn route(app: &str) -> String {
    format!(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {app}
  labels: {{app: {app}}}
spec:
  hostnames: [{host}]
  rules:
    - matches: [{{path: {{type: PathPrefix, value: /}}}}]
      backendRefs: [{{name: {app}, port: 80}}]
"#,
        host = host(app)
    )
}

/// The A/B strategy's group: users carrying its header (strategies/ab.yaml's `match`).
const AB_GROUP: &str = "50%:header:X-Variant=b";

/// One headline command: `rollout --strategy S --image IMAGE --app APP` with only the
/// kubeconfig and the flags a README user gives to shorten waits.
struct Case {
    strategy: &'static str,
    app: &'static str,
    image: &'static str,
}

impl Case {
    /// The README's flags that shorten a run (the strategy files' pauses and A/B or shadow
    /// durations are minutes long); none of them says where the ingress or metrics are.
    fn shortening(&self) -> &'static [&'static str] {
        match self.strategy {
            "canary" | "blue-green" => &["--max-pause", "5s"],
            "ab" | "shadow" => &["--duration", "1m"],
            _ => &[],
        }
    }
}

/// Runs every case at once (they are different apps, so they do not share a lease or
/// objects) and checks each: `v2` completes with the Deployment on the new image; `v2-errors`
/// is rolled back by a check that measured the new version failing.
async fn run_all(sim: &SimUp, cases: &[Case]) {
    let kubeconfig = sim.kubeconfig.clone();
    let args: Vec<Vec<String>> = cases
        .iter()
        .map(|c| {
            ["--strategy", c.strategy, "--image", c.image, "--app", c.app]
                .iter()
                .chain(c.shortening())
                .map(|s| s.to_string())
                .collect()
        })
        .collect();
    // They run for minutes: off the test's runtime threads, one thread each.
    let outputs = tokio::task::spawn_blocking(move || {
        std::thread::scope(|scope| {
            let handles: Vec<_> = args
                .iter()
                .map(|args| {
                    let kubeconfig = &kubeconfig;
                    scope.spawn(move || {
                        Command::new(env!("CARGO_BIN_EXE_rollout"))
                            .args(args)
                            .env("KUBECONFIG", kubeconfig)
                            .env("NO_COLOR", "1")
                            .stdin(Stdio::null())
                            .output()
                            .expect("rollout")
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("rollout thread"))
                .collect::<Vec<_>>()
        })
    })
    .await
    .expect("join");
    for (case, out) in cases.iter().zip(outputs) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let what = format!("{} {} of {}", case.strategy, case.image, case.app);
        assert!(
            !stderr.contains("will not run"),
            "{what}: every check runs with no flags:\n{stderr}"
        );
        if case.image == "v2" {
            assert_eq!(out.status.code(), Some(0), "{what}:\n{stderr}");
            let image = sim.kubectl(
                &[
                    "get",
                    &format!("deployment/{}", case.app),
                    "-o",
                    "jsonpath={.spec.template.spec.containers[0].image}",
                ],
                None,
            );
            assert_eq!(image, format!("{}:v2", case.app), "{what}");
        } else {
            assert_eq!(out.status.code(), Some(3), "{what}:\n{stderr}");
            assert_rolled_back_by_a_measurement(&what, &stderr);
        }
    }
}

/// The reason for the rollback names what a check measured of the new version — its
/// success rate over the smoke check's requests (with the 500s it got), or its error rate
/// against stable's — not something that could not be reached.
fn assert_rolled_back_by_a_measurement(what: &str, stderr: &str) {
    let reason = stderr
        .lines()
        .find(|l| l.contains("rolled back after"))
        .unwrap_or_else(|| panic!("{what}: no rollback line:\n{stderr}"));
    let smoke = reason.contains("success ") && reason.contains("status 500");
    let compared = reason.contains("worse: error rate new");
    assert!(
        smoke || compared,
        "{what}: the reason names what was measured:\n{stderr}"
    );
    // What the gates said and why it rolled back; the waits' lines may quote a pod's probe
    // failing before its app listens, which is the pod starting, not a gate's request.
    let verdicts: Vec<String> = stderr
        .lines()
        .filter(|l| l.contains("gate ") || l.contains("rolling back") || l.contains("rolled back"))
        .map(str::to_lowercase)
        .collect();
    for unreachable in [
        "connection",
        "cannot reach",
        "could not send",
        "no answer",
        "timed out",
    ] {
        assert!(
            !verdicts.iter().any(|l| l.contains(unreachable)),
            "{what}: rolled back for {unreachable:?}, not for what the new version did:\n{stderr}"
        );
    }
}

/// Plain HTTP to a TLS host is answered as ingress-nginx does (`ssl-redirect`): a 308 to
/// the HTTPS listener, which a smoke check must not count as the app's answer.
async fn assert_redirected_to_https(sim: &SimUp, app: &str) {
    kube_util::tls::install_crypto_provider();
    // A client that shows the redirect rather than following it.
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .expect("http client");
    let (sim_http, app_host) = (sim.http, host(app));
    let redirect = eventually("a redirect to HTTPS", Duration::from_secs(30), || {
        let (http, host) = (http.clone(), app_host.clone());
        async move {
            let r = http
                .get(format!("http://{sim_http}/"))
                .header("Host", host)
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
    assert_eq!(
        redirect,
        format!("https://{}:{}/", app_host, sim.https.port())
    );
}

/// Requests per second of each app's users. A/B's comparison of a good version has to show
/// it no worse on latency as well as errors, which takes a few thousand requests in its group
/// (half the users); the canary's and shadow's comparisons need a few hundred on the new
/// version. A bad version is caught on a few dozen, and the smoke checks of the others send
/// their own requests: their users only need to be there, so they stay light on a small
/// machine where ten rollouts share two cores.
fn rate(case: &Case) -> u32 {
    match (case.strategy, case.image) {
        ("ab", "v2") => 100,
        ("canary" | "shadow", "v2") => 50,
        ("ab", _) => 20,
        _ => 5,
    }
}

/// Recreate, rolling, blue-green, canary and A/B through nginx Ingresses, all at once on
/// one embedded cluster, each strategy on two apps: one with TLS, one without. Which of the
/// two gets the good image alternates, so both a promotion and a rollback go through TLS
/// somewhere, and every strategy goes through TLS once, at the cost of one app per run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_strategy_through_nginx_ingresses_with_no_flags() {
    if !have_kubectl() {
        return;
    }
    let sim = sim_up();
    // (strategy, app with TLS, app without): the TLS app gets v2 for recreate, blue-green
    // and ab, v2-errors for rolling and canary.
    let plan = [
        ("recreate", "recreate-tls", "recreate-plain", "v2"),
        ("rolling", "rolling-tls", "rolling-plain", "v2-errors"),
        ("blue-green", "bluegreen-tls", "bluegreen-plain", "v2"),
        ("canary", "canary-tls", "canary-plain", "v2-errors"),
        ("ab", "ab-tls", "ab-plain", "v2"),
    ];
    let mut cases = Vec::new();
    let mut tls_apps = Vec::new();
    for (strategy, tls, plain, tls_image) in plan {
        let plain_image = if tls_image == "v2" { "v2-errors" } else { "v2" };
        cases.push(Case {
            strategy,
            app: tls,
            image: tls_image,
        });
        cases.push(Case {
            strategy,
            app: plain,
            image: plain_image,
        });
        tls_apps.push(tls);
    }
    let mut cas = std::collections::HashMap::new();
    for case in &cases {
        let tls = tls_apps.contains(&case.app);
        if tls {
            cas.insert(case.app, sim.tls_secret(case.app, &host(case.app)));
        }
        sim.apply(&format!("{}.yaml", case.app), &app(case.app));
        sim.apply(
            &format!("{}-ingress.yaml", case.app),
            &ingress(case.app, tls),
        );
    }
    let apps: Vec<&str> = cases.iter().map(|c| c.app).collect();
    sim.wait_rolled_out(&apps).await;
    assert_redirected_to_https(&sim, "canary-tls").await;
    let _users: Vec<Killed> = cases
        .iter()
        .map(|c| {
            let groups: &[&str] = if c.strategy == "ab" { &[AB_GROUP] } else { &[] };
            sim.users(c.app, cas.get(c.app).map(PathBuf::as_path), rate(c), groups)
        })
        .collect();
    run_all(&sim, &cases).await;
}

/// Canary, A/B and shadow through an HTTPRoute (Gateway API; metrics as Contour's Envoy
/// publishes them), each with a good image and a bad one on two apps, all at once. Shadow
/// mirrors the requests to the new version: users never see its errors, but the mirrored
/// answers are counted, so a failing version is caught and never promoted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_ab_and_shadow_through_httproutes_with_no_flags() {
    if !have_kubectl() {
        return;
    }
    let sim = sim_up();
    let mut cases = Vec::new();
    for (strategy, good, bad) in [
        ("canary", "canary-good", "canary-bad"),
        ("ab", "ab-good", "ab-bad"),
        ("shadow", "shadow-good", "shadow-bad"),
    ] {
        cases.push(Case {
            strategy,
            app: good,
            image: "v2",
        });
        cases.push(Case {
            strategy,
            app: bad,
            image: "v2-errors",
        });
    }
    for case in &cases {
        sim.apply(&format!("{}.yaml", case.app), &app(case.app));
        sim.apply(&format!("{}-route.yaml", case.app), &route(case.app));
    }
    let apps: Vec<&str> = cases.iter().map(|c| c.app).collect();
    sim.wait_rolled_out(&apps).await;
    let _users: Vec<Killed> = cases
        .iter()
        .map(|c| {
            let groups: &[&str] = if c.strategy == "ab" { &[AB_GROUP] } else { &[] };
            sim.users(c.app, None, rate(c), groups)
        })
        .collect();
    run_all(&sim, &cases).await;
}
