//! The README's walk-through as a normal user: `rollout sim up`, `kubectl apply -f
//! manifests/web/`, `kubectl rollout status`, a request through the ingress, and a rollout by
//! hand. The web app declares containerPort 80, which only root may bind: the node agent serves
//! it on a high port of the pod's address and every path into the cluster follows. Run as root
//! (as in CI), the commands run as `nobody` through `setpriv`.

use crate::common::Killed;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A command run as a normal user with `home` as its home and working directory.
fn as_user(program: &Path, home: &Path) -> Command {
    let mut c = if is_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(program);
        c
    } else {
        Command::new(program)
    };
    c.current_dir(home)
        .env("HOME", home)
        .env("KUBECONFIG", home.join("rollout-sim.kubeconfig"))
        .env("NO_COLOR", "1");
    c
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn ok(what: &str, out: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what}: {:?}\n{text}", out.status);
    text
}

/// A directory a normal user can use, holding copies of the binary and the manifests (the
/// checkout itself may not be readable by that user).
fn workspace() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().to_path_buf();
    let bin = home.join("rollout");
    std::fs::copy(env!("CARGO_BIN_EXE_rollout"), &bin).expect("copy the binary");
    let web = home.join("manifests/web");
    std::fs::create_dir_all(&web).expect("manifests dir");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/web");
    for entry in std::fs::read_dir(&source).expect("manifests/web") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), web.join(entry.file_name())).expect("copy a manifest");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for p in [home.clone(), home.join("manifests"), web] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        }
    }
    (dir, bin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walkthrough_works_as_a_normal_user() {
    if !kubesim::testing::have_kubectl() {
        return;
    }
    kube_util::tls::install_crypto_provider();
    let (_dir, bin) = workspace();
    let home = bin.parent().expect("home").to_path_buf();
    let kubectl = PathBuf::from("kubectl");
    let (api, ingress) = (free_port(), free_port());
    let mut up = as_user(&bin, &home);
    // Users come with the cluster, as the README's rollout by hand starts them.
    up.args([
        "sim",
        "up",
        "--speed",
        "10",
        "--traffic",
        "web.example.local",
    ])
    .args(["--port", &api.to_string()])
    .args(["--ingress-port", &ingress.to_string()])
    // Not the README's, so that other tests' clusters may run beside this one.
    .args(["--ingress-tls-port", "0"])
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let _cluster = Killed(up.spawn().expect("rollout sim up"));

    // `sim up` is serving once kubectl gets an answer.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = as_user(&kubectl, &home)
            .args(["get", "namespaces"])
            .output()
            .expect("kubectl");
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "sim up did not answer: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ok(
        "kubectl apply",
        &as_user(&kubectl, &home)
            .args(["apply", "-f", "manifests/web/"])
            .output()
            .expect("kubectl apply"),
    );
    ok(
        "kubectl rollout status",
        &as_user(&kubectl, &home)
            .args(["rollout", "status", "deploy/web", "--timeout=60s"])
            .output()
            .expect("kubectl rollout status"),
    );

    // A request through the ingress reaches a pod of the app.
    let answer = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{ingress}/"))
        .header("Host", "web.example.local")
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("a request through the ingress");
    assert!(answer.status().is_success(), "{}", answer.status());
    let body = answer.text().await.expect("body");
    assert!(body.contains("Version: 1.27"), "{body}");

    // A rollout by hand, as the README writes it: no flag says where the ingress or its
    // metrics are, and the users `sim up --traffic` started give the comparison its data.
    let out = as_user(&bin, &home)
        .args(["--strategy", "canary", "--image", "1.28", "--app", "web"])
        .args(["--max-pause", "5s"])
        .output()
        .expect("rollout");
    let text = ok("rollout --strategy canary", &out);
    assert!(text.contains("done after"), "{text}");
    // The comparison of live traffic concluded: it passed on data, it was not skipped.
    assert!(
        text.lines()
            .any(|l| l.contains("gate errors") && l.contains("pass") && l.contains("not worse")),
        "no concluded comparison: {text}"
    );
    let image = ok(
        "kubectl get",
        &as_user(&kubectl, &home)
            .args([
                "get",
                "deploy/web",
                "-o",
                "jsonpath={.spec.template.spec.containers[0].image}",
            ])
            .output()
            .expect("kubectl get"),
    );
    assert!(image.ends_with(":1.28"), "{image}");
}
