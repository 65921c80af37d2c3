//! `rollout sim up` stops within two seconds of SIGTERM or SIGINT, however busy it is: here
//! while it starts hundreds of pods probed every simulated second at ten times speed behind a
//! Service, and clients list them all without pause.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

/// The behaviour under test: from the signal to the process gone.
const STOP_WITHIN: Duration = Duration::from_secs(2);

/// `rollout sim up` running as a process of its own: one that can be signalled, stopped and
/// continued.
pub(crate) struct SimUp {
    pub(crate) child: Child,
    pub(crate) stderr: std::sync::mpsc::Receiver<String>,
    _dir: tempfile::TempDir,
    pub(crate) kubeconfig: std::path::PathBuf,
}

impl Drop for SimUp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `rollout sim up --speed SPEED` on free ports and waits until it says it serves.
pub(crate) fn sim_up(speed: &str) -> SimUp {
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
            // Every port free, so that the tests that start one run side by side.
            "--ingress-tls-port",
            "0",
            "--speed",
            speed,
        ])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rollout sim up");
    let (tx, stderr) = std::sync::mpsc::channel();
    let pipe = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match stderr.recv_timeout(left) {
            // Printed once its signal handlers are in place.
            Ok(line) if line.contains("Ctrl-C stops it") => break,
            Ok(_) => {}
            Err(e) => panic!("rollout sim up did not come up: {e}"),
        }
    }
    SimUp {
        child,
        stderr,
        _dir: dir,
        kubeconfig,
    }
}

pub(crate) async fn client(kubeconfig: &Path) -> kube::Client {
    kube_util::tls::install_crypto_provider();
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .expect("config");
    kube::Client::try_from(config).expect("client")
}

/// Hundreds of pods on their way up behind a Service (every pod that starts or gets ready is
/// a status write and an endpoints update), and clients listing them all the time.
async fn load(client: &kube::Client) -> Vec<tokio::task::JoinHandle<()>> {
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "busy"},
        "spec": {"replicas": 600, "selector": {"matchLabels": {"app": "busy"}},
                 "template": {"metadata": {"labels": {"app": "busy"}},
                              "spec": {"containers": [{"name": "app", "image": "web:v1", "ports": [{"containerPort": 8080}],
                                                       "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1}}]}}}
    }))
    .expect("deployment");
    Api::<Deployment>::default_namespaced(client.clone())
        .create(&PostParams::default(), &d)
        .await
        .expect("create");
    let s: Service = serde_json::from_value(json!({
        "metadata": {"name": "busy"},
        "spec": {"selector": {"app": "busy"}, "ports": [{"port": 80, "targetPort": 8080}]}
    }))
    .expect("service");
    Api::<Service>::default_namespaced(client.clone())
        .create(&PostParams::default(), &s)
        .await
        .expect("create");
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let deadline = Instant::now() + Duration::from_secs(120);
    // Busy: a third of the pods run, the rest are being made, bound and started.
    loop {
        let running = pods.list(&ListParams::default()).await.map_or(0, |l| {
            l.items
                .iter()
                .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
                .count()
        });
        if running >= 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {running} pods running after 120 s"
        );
        tokio::task::yield_now().await;
    }
    (0..4)
        .map(|_| {
            let pods = pods.clone();
            // Until the cluster is gone: a failed call can come back without ever waiting,
            // and a loop that never waits would hold its runtime thread for good.
            tokio::spawn(async move {
                while pods.list(&ListParams::default()).await.is_ok() {
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect()
}

/// Sends `signal` and returns how long the process took to exit, and its exit code.
fn stop_with(sim: &mut SimUp, signal: &str) -> (Duration, Option<i32>) {
    let pid = sim.child.id().to_string();
    let sent = Instant::now();
    assert!(
        Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("kill")
            .success()
    );
    loop {
        if let Some(status) = sim.child.try_wait().expect("wait") {
            return (sent.elapsed(), status.code());
        }
        // Past the bound the answer is known: no need to wait for the process any longer.
        if sent.elapsed() > STOP_WITHIN * 2 {
            return (sent.elapsed(), None);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

async fn stops_under_load(signal: &'static str) {
    let mut sim = sim_up("10");
    let client = client(&sim.kubeconfig).await;
    let listers = load(&client).await;
    let ((took, code), said) = tokio::task::spawn_blocking(move || {
        let stopped = stop_with(&mut sim, signal);
        // What it said on the way out: the lines until its stderr closes.
        let mut said = Vec::new();
        while let Ok(line) = sim.stderr.recv_timeout(STOP_WITHIN) {
            said.push(line);
        }
        (stopped, said)
    })
    .await
    .expect("join");
    assert!(
        took <= STOP_WITHIN,
        "still running {took:?} after {signal}; it said: {said:?}"
    );
    assert!(said.iter().any(|l| l.contains("stopping")), "{said:?}");
    assert_eq!(code, Some(0), "{said:?}");
    for l in listers {
        let _ = l.await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_up_stops_within_two_seconds_of_sigterm_under_load() {
    stops_under_load("-TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_up_stops_within_two_seconds_of_sigint_under_load() {
    stops_under_load("-INT").await;
}
