//! Interrupting a rollout: Ctrl-C rolls back; a killed process leaves its record, and
//! `rollout resume` finishes it or `rollout abort` rolls it back; a second rollout of the same
//! app is refused while one runs; bad input changes nothing. The real binary runs against the
//! conformance target (the in-process cluster, or a real control plane where one is named —
//! there as the ServiceAccount of manifests/rbac.yaml), each test in a namespace of its own.

use crate::common;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::rollouts::{Front, leftovers_in, stray_pods_in};
use crate::conformance::{Identity, Platform};
use serde_json::json;

/// A canary that waits long enough at 50% to be interrupted there.
const SLOW: &str = r#"
strategy: canary
steps:
  - setWeight: 50
  - pause: 3s
analysis:
  interval: 200ms
  background: [probes]
  checks:
    probes:
      probe: { readinessDeadline: 10s }
"#;

/// One test's app: `web` at v1 behind ingress-nginx in a fresh namespace, the orchestrator's
/// identity there, and a directory for strategy files.
struct Setup {
    t: Platform,
    ns: String,
    identity: Identity,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn new() -> Setup {
        let t = Platform::get().await;
        let ns = t.namespace("intr").await;
        crate::conformance::deploy_web(&t, &ns, "web:v1", Front::Nginx).await;
        let identity = t.orchestrator(&ns, None).await;
        let dir = tempfile::tempdir().expect("tempdir");
        Setup {
            t,
            ns,
            identity,
            dir,
        }
    }

    fn strategy_file(&self, name: &str, yaml: &str) -> String {
        let path: PathBuf = self.dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, yaml).expect("write strategy");
        path.display().to_string()
    }

    fn rollout(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rollout"));
        c.args(args)
            .args([
                "--kubeconfig",
                &self.identity.kubeconfig.display().to_string(),
                "-n",
                &self.ns,
            ])
            .env("ROLLOUT_INGRESS_URL", format!("http://{}", self.t.ingress))
            .stdin(Stdio::null());
        c
    }

    fn start(&self, strategy: &str) -> Child {
        self.rollout(&[
            "--strategy",
            strategy,
            "--image",
            "v2",
            "--app",
            "web",
            "--output",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rollout")
    }

    /// Waits until the record says the rollout reached weight 50.
    async fn at_weight_50(&self) {
        let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
            kube::Api::namespaced(self.t.client.clone(), &self.ns);
        common::eventually(
            "the rollout at weight 50",
            Duration::from_secs(30),
            || async {
                let d = api.get("web").await.ok()?;
                let text = d.metadata.annotations?.get("rollout.dev/state")?.clone();
                let v: serde_json::Value = serde_json::from_str(&text).ok()?;
                (v["routing"]["weight"] == 50).then_some(())
            },
        )
        .await;
    }

    async fn leftovers(&self) -> serde_json::Value {
        leftovers_in(&self.t.client, &self.ns).await
    }

    /// Nothing left but `web` on `image`, and no temporary pod.
    async fn assert_clean(&self, image: &str) {
        assert_eq!(
            self.leftovers().await,
            json!({"deployments": ["web"], "services": ["web"], "ingresses": ["web"], "leases": [],
                   "selector": {"app": "web"}, "image": image, "record": null})
        );
        assert!(stray_pods_in(&self.t.client, &self.ns).await.is_empty());
        self.t.forget(&self.ns).await;
    }

    /// Runs `rollout ARGS` to its end off the async runtime: exit code and stderr.
    async fn run(&self, args: &[&str]) -> (Option<i32>, String) {
        self.run_as(args, None).await
    }

    /// Like [`Setup::run`], on the machine named `host` when given.
    async fn run_as(&self, args: &[&str], host: Option<&str>) -> (Option<i32>, String) {
        let mut c = self.rollout(args);
        if let Some(host) = host {
            c.env("HOSTNAME", host);
        }
        let out = tokio::task::spawn_blocking(move || c.output().expect("run"))
            .await
            .expect("join");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn wait(mut child: Child, limit: Duration) -> (i32, String, String) {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let out = child.wait_with_output().expect("output");
            return (
                status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("rollout did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `signal` to a canary at 50%: it rolls back, says why and exits 130, leaving the app
/// as it was.
async fn signal_rolls_back_and_exits_130(signal: &str, named: &str) {
    let s = Setup::new().await;
    let path = s.strategy_file("slow", SLOW);
    let child = s.start(&path);
    s.at_weight_50().await;
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("kill")
            .success()
    );
    let (code, stdout, stderr) =
        tokio::task::spawn_blocking(move || wait(child, Duration::from_secs(60)))
            .await
            .expect("join");
    assert_eq!(code, 130, "{stderr}");
    assert!(stdout.contains("\"event\":\"rolling-back\""), "{stdout}");
    assert!(
        stdout.contains(&format!("interrupted ({named})")),
        "the reason names the signal: {stdout}"
    );
    s.assert_clean("web:v1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_rolls_back_and_exits_130() {
    // SIGINT, as Ctrl-C sends.
    signal_rolls_back_and_exits_130("-INT", "Ctrl-C").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_rolls_back_and_exits_130() {
    // What CI runners, `timeout` and Kubernetes Jobs send on cancellation.
    signal_rolls_back_and_exits_130("-TERM", "SIGTERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_then_resumed_completes_and_a_second_rollout_is_refused() {
    let s = Setup::new().await;
    let path = s.strategy_file("slow", SLOW);
    let mut child = s.start(&path);
    s.at_weight_50().await;
    // While it runs, another rollout of the same app is refused, naming the holder.
    let (code, text) = s
        .run(&["--strategy", &path, "--image", "v3", "--app", "web"])
        .await;
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("another rollout of \"web\" is running") && text.contains("held by"),
        "{text}"
    );
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    // The record survives the process.
    assert!(s.leftovers().await["record"].is_string());
    let (code, stderr) = s.run(&["resume", "web"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    s.assert_clean("web:v2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_then_aborted_rolls_back() {
    let s = Setup::new().await;
    let path = s.strategy_file("slow", SLOW);
    let mut child = s.start(&path);
    s.at_weight_50().await;
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let (code, stderr) = s.run(&["abort", "web"]).await;
    assert_eq!(code, Some(3), "{stderr}");
    s.assert_clean("web:v1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_then_aborted_from_another_machine_waits_out_the_lease() {
    let s = Setup::new().await;
    let path = s.strategy_file("slow", SLOW);
    let mut child = s.start(&path);
    s.at_weight_50().await;
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    // Another machine cannot tell that the holder died: it waits for the Lease to expire,
    // says how long, then takes it over and rolls back itself.
    let (code, stderr) = s.run_as(&["abort", "web"], Some("another-machine")).await;
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("lease expires in"), "a countdown: {stderr}");
    s.assert_clean("web:v1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborting_a_live_rollout_waits_until_it_has_rolled_back() {
    let s = Setup::new().await;
    let path = s.strategy_file("slow", SLOW);
    let child = s.start(&path);
    s.at_weight_50().await;
    let (code, stderr) = s.run_as(&["abort", "web"], Some("another-machine")).await;
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("rolled-back"), "{stderr}");
    let (code, _, stderr) =
        tokio::task::spawn_blocking(move || wait(child, Duration::from_secs(60)))
            .await
            .expect("join");
    assert_eq!(code, 3, "the running rollout rolled back: {stderr}");
    s.assert_clean("web:v1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_object_named_like_the_canarys_is_left_alone() {
    let s = Setup::new().await;
    let services: kube::Api<k8s_openapi::api::core::v1::Service> =
        kube::Api::namespaced(s.t.client.clone(), &s.ns);
    let mine: k8s_openapi::api::core::v1::Service = serde_json::from_value(json!({
        "metadata": {"name": "web-canary", "labels": {"owner": "user"}},
        "spec": {"selector": {"app": "something-else"}, "ports": [{"port": 9999}]}
    }))
    .expect("service");
    let before = services
        .create(&Default::default(), &mine)
        .await
        .expect("the user's Service");
    let path = s.strategy_file("slow", SLOW);
    let (code, stderr) = s
        .run(&["--strategy", &path, "--image", "v2", "--app", "web"])
        .await;
    assert_eq!(code, Some(2), "refused before anything changes: {stderr}");
    assert!(
        stderr.contains("Service \"web-canary\" already exists")
            && stderr.contains("never changes what it did not make"),
        "{stderr}"
    );
    let after = services.get("web-canary").await.expect("still there");
    assert_eq!(after.metadata.uid, before.metadata.uid);
    assert_eq!(
        after.metadata.resource_version,
        before.metadata.resource_version
    );
    services
        .delete("web-canary", &Default::default())
        .await
        .expect("clean up");
    s.assert_clean("web:v1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_exits_2_and_changes_nothing() {
    let s = Setup::new().await;
    let before = s.leftovers().await;
    let bad_file = s.strategy_file("bad", "strategy: canary\nsteps:\n  - setWeight: 150\n");
    for (args, expected) in [
        (vec!["--strategy", "nope", "--image", "v2"], "nope"),
        (
            vec!["--strategy", bad_file.as_str(), "--image", "v2"],
            "bad.yaml:3:",
        ),
        (
            vec!["--strategy", "canary", "--image", "Not An Image"],
            "--image",
        ),
        (
            vec!["--strategy", "canary", "--image", "v2", "--app", "missing"],
            "no Deployment named \"missing\"",
        ),
        (
            vec!["--strategy", "shadow", "--image", "v2", "--app", "web"],
            "request mirroring",
        ),
    ] {
        let (code, stderr) = s.run(&args).await;
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    assert_eq!(s.leftovers().await, before);
    s.t.forget(&s.ns).await;
}
