//! The real kubectl against the embedded cluster: each command works and prints what it
//! prints on a real cluster.

use crate::common::{TestCluster, have_kubectl};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

const MANIFESTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../manifests/web");

fn header(out: &str) -> Vec<String> {
    out.lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_walkthrough() {
    if !have_kubectl() {
        return;
    }
    let tc = TestCluster::start().await;

    let out = tc.kubectl_ok(&["apply", "-f", MANIFESTS]);
    for line in [
        "configmap/web-config created",
        "secret/web-secret created",
        "deployment.apps/web created",
        "horizontalpodautoscaler.autoscaling/web created",
        "ingress.networking.k8s.io/web created",
        "service/web created",
    ] {
        assert!(out.contains(line), "apply output lacks {line:?}:\n{out}");
    }
    // Applying again changes nothing.
    let out = tc.kubectl_ok(&["apply", "-f", MANIFESTS]);
    assert!(out.contains("deployment.apps/web unchanged"), "{out}");

    let out = tc.kubectl_ok(&["get", "all"]);
    for s in [
        "service/kubernetes",
        "service/web",
        "deployment.apps/web",
        "horizontalpodautoscaler.autoscaling/web",
    ] {
        assert!(out.contains(s), "get all lacks {s}:\n{out}");
    }

    let out = tc.kubectl_ok(&["get", "deploy", "-o", "wide"]);
    assert_eq!(
        header(&out),
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ],
        "{out}"
    );
    let row: Vec<&str> = out
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(row.first(), Some(&"web"), "{out}");
    assert_eq!(row.get(1), Some(&"0/3"), "{out}");
    assert!(
        out.contains("nginx:1.27") && out.contains("app=web"),
        "{out}"
    );

    let out = tc.kubectl_ok(&["get", "svc", "web"]);
    assert_eq!(
        header(&out),
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ],
        "{out}"
    );
    assert!(out.contains("ClusterIP") && out.contains("80/TCP"), "{out}");

    let out = tc.kubectl_ok(&["get", "deploy", "web", "-o", "yaml"]);
    for s in [
        "kind: Deployment",
        "maxSurge: 25%",
        "maxUnavailable: 25%",
        "revisionHistoryLimit: 10",
        "progressDeadlineSeconds: 600",
        "uid:",
        "generation: 1",
    ] {
        assert!(out.contains(s), "yaml lacks {s:?}:\n{out}");
    }

    let out = tc.kubectl_ok(&["describe", "deploy", "web"]);
    for s in [
        "Name:",
        "web",
        "Selector:",
        "app=web",
        "Replicas:",
        "StrategyType:",
        "RollingUpdate",
        "RollingUpdateStrategy:",
        "25% max unavailable, 25% max surge",
        "nginx:1.27",
    ] {
        assert!(out.contains(s), "describe lacks {s:?}:\n{out}");
    }

    let out = tc.kubectl_ok(&["scale", "deploy", "web", "--replicas=5"]);
    assert!(out.contains("deployment.apps/web scaled"), "{out}");
    let out = tc.kubectl_ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]);
    assert_eq!(out.trim(), "5");

    let out = tc.kubectl_ok(&["set", "image", "deploy/web", "app=img:v2"]);
    assert!(out.contains("deployment.apps/web image updated"), "{out}");
    let out = tc.kubectl_ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image} {.metadata.generation}",
    ]);
    assert_eq!(out.trim(), "img:v2 3");

    let out = tc.kubectl_ok(&[
        "patch",
        "svc",
        "web",
        "-p",
        r#"{"spec":{"selector":{"version":"v2"}}}"#,
    ]);
    assert!(out.contains("service/web patched"), "{out}");
    let out = tc.kubectl_ok(&["get", "svc", "web", "-o", "jsonpath={.spec.selector}"]);
    assert!(
        out.contains(r#""app":"web""#) && out.contains(r#""version":"v2""#),
        "{out}"
    );

    let ssa = tc.dir.path().join("ssa.yaml");
    std::fs::write(&ssa, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa-config\n  labels:\n    app: web\ndata:\n  mode: server-side\n").expect("write");
    let out = tc.kubectl_ok(&[
        "apply",
        "--server-side",
        "-f",
        ssa.to_str().unwrap_or_default(),
    ]);
    assert!(
        out.contains("configmap/ssa-config serverside-applied"),
        "{out}"
    );
    let out = tc.kubectl_ok(&[
        "get",
        "cm",
        "ssa-config",
        "-o",
        "yaml",
        "--show-managed-fields",
    ]);
    assert!(
        out.contains("manager: kubectl") && out.contains("operation: Apply"),
        "{out}"
    );

    let out = tc.kubectl_ok(&["api-resources"]);
    assert_eq!(
        header(&out),
        ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("deployments") && l.contains("deploy") && l.contains("apps/v1")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("httproutes") && l.contains("gateway.networking.k8s.io/v1")),
        "{out}"
    );

    // Cascading delete: the ReplicaSet that belongs to the Deployment goes too.
    let uid = tc.kubectl_ok(&["get", "deploy", "web", "-o", "jsonpath={.metadata.uid}"]);
    let rs = tc.dir.path().join("rs.yaml");
    std::fs::write(
        &rs,
        format!(
            "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: web-1\n  labels: {{app: other}}\n  ownerReferences:\n  - {{apiVersion: apps/v1, kind: Deployment, name: web, uid: {uid}, controller: true}}\nspec:\n  selector: {{matchLabels: {{app: other}}}}\n  template:\n    metadata: {{labels: {{app: other}}}}\n    spec: {{containers: [{{name: app, image: img:v2}}]}}\n"
        ),
    )
    .expect("write");
    tc.kubectl_ok(&["apply", "-f", rs.to_str().unwrap_or_default()]);
    let out = tc.kubectl_ok(&["delete", "all", "-l", "app=web"]);
    for s in [
        "deployment.apps \"web\" deleted",
        "service \"web\" deleted",
        "horizontalpodautoscaler.autoscaling \"web\" deleted",
    ] {
        assert!(out.contains(s), "delete lacks {s:?}:\n{out}");
    }
    let (ok, _, err) = tc.kubectl_run(&["get", "rs", "web-1"]);
    assert!(
        !ok && err.contains("NotFound") || err.contains("not found"),
        "the owned ReplicaSet is gone: {err}"
    );
    let out = tc.kubectl_ok(&["get", "cm", "-l", "app=web", "-o", "name"]);
    assert!(
        out.contains("configmap/web-config"),
        "configmaps are not in `all`: {out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_get_pods_watch_streams() {
    if !have_kubectl() {
        return;
    }
    let tc = TestCluster::start().await;
    let mut child = tc
        .kubectl()
        .args(["get", "pods", "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Give the watch a moment to start, then create pods one after another.
    std::thread::sleep(Duration::from_millis(500));
    let pod = tc.dir.path().join("pod.yaml");
    for name in ["watched-1", "watched-2"] {
        std::fs::write(&pod, format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: c\n    image: img:v1\n")).expect("write");
        tc.kubectl_ok(&["create", "-f", pod.to_str().unwrap_or_default()]);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut lines = Vec::new();
    while Instant::now() < deadline && !lines.iter().any(|l: &String| l.starts_with("watched-2")) {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            lines.push(l);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("NAME") && l.contains("READY") && l.contains("STATUS")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("watched-1") && l.contains("Pending")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("watched-2")),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_imperative_creates_send_protobuf_and_work() {
    if !have_kubectl() {
        return;
    }
    let tc = TestCluster::fast(10.0).await;
    for (args, expect) in [
        (
            vec!["create", "namespace", "team"],
            "namespace/team created",
        ),
        (
            vec![
                "create",
                "configmap",
                "settings",
                "--from-literal=mode=fast",
            ],
            "configmap/settings created",
        ),
        (
            vec![
                "create",
                "secret",
                "generic",
                "creds",
                "--from-literal=password=s3cret",
            ],
            "secret/creds created",
        ),
        (
            vec![
                "create",
                "deployment",
                "hello",
                "--image=example/hello:v1",
                "--replicas=2",
                "--port=8080",
            ],
            "deployment.apps/hello created",
        ),
        (
            vec!["create", "service", "clusterip", "hello", "--tcp=80:8080"],
            "service/hello created",
        ),
    ] {
        let out = tc.kubectl_ok(&args);
        assert!(out.contains(expect), "{args:?}: {out}");
    }
    let out = tc.kubectl_ok(&["get", "secret", "creds", "-o", "jsonpath={.data.password}"]);
    assert_eq!(out.trim(), "czNjcmV0");
    let out = tc.kubectl_ok(&["rollout", "status", "deployment/hello", "--timeout=60s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let out = tc.kubectl_ok(&[
        "get",
        "deploy",
        "hello",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].ports[0].containerPort}",
    ]);
    assert_eq!(out.trim(), "8080");
}
