//! The node agent: pods are scheduled, get their own loopback address, serve real HTTP, are
//! probed, restarted and terminated like a kubelet does, and kubectl shows it all.

use crate::common::{TestCluster, eventually, have_kubectl};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn deployment(name: &str, image: &str, replicas: i32, extra: serde_json::Value) -> Deployment {
    let mut d = json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"terminationGracePeriodSeconds": 2,
                                  "containers": [{"name": "app", "image": image, "ports": [{"name": "http", "containerPort": 8080}],
                                                  "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1}}]}}
        }
    });
    json_patch::merge(&mut d, &extra);
    serde_json::from_value(d).expect("deployment")
}

async fn http_get(ip: &str, port: u16, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect((ip, port))
        .await
        .expect("connect to pod");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

async fn pods_of(api: &Api<Pod>, app: &str) -> Vec<Pod> {
    api.list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .expect("pods")
        .items
}

#[tokio::test(flavor = "multi_thread")]
async fn pods_run_real_http_servers_on_their_own_addresses() {
    let tc = TestCluster::fast(10.0).await;
    let deploys: Api<Deployment> = Api::default_namespaced(tc.client.clone());
    deploys
        .create(
            &PostParams::default(),
            &deployment("hello", "example/hello:v1", 2, json!({})),
        )
        .await
        .expect("create");
    let pods: Api<Pod> = Api::default_namespaced(tc.client.clone());
    let ready = eventually("two ready pods", Duration::from_secs(20), || async {
        let ps = pods_of(&pods, "hello").await;
        let ready: Vec<Pod> = ps
            .into_iter()
            .filter(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .collect();
        (ready.len() == 2).then_some(ready)
    })
    .await;
    let mut ips = Vec::new();
    for p in &ready {
        let status = p.status.clone().unwrap_or_default();
        let ip = status.pod_ip.clone().expect("pod IP");
        assert!(
            ip.starts_with("127.") && !ip.starts_with("127.0."),
            "a loopback pod address: {ip}"
        );
        assert_eq!(
            p.spec.as_ref().and_then(|s| s.node_name.as_deref()),
            Some("sim-node-1")
        );
        let name = p.metadata.name.clone().expect("name");
        let body = http_get(&ip, 8080, "/").await;
        assert!(
            body.contains(&format!("Host: {name}, Version: v1")),
            "{body}"
        );
        assert!(body.to_lowercase().contains("x-version: v1"), "{body}");
        ips.push(ip);
    }
    assert_ne!(ips[0], ips[1], "each pod has its own address");

    // The API server's proxy subresources reach the apps too.
    let svcs: Api<k8s_openapi::api::core::v1::Service> = Api::default_namespaced(tc.client.clone());
    let svc = serde_json::from_value(json!({"metadata": {"name": "hello"}, "spec": {"selector": {"app": "hello"}, "ports": [{"name": "web", "port": 80, "targetPort": "http"}]}})).expect("svc");
    svcs.create(&PostParams::default(), &svc)
        .await
        .expect("service");
    let (http, base, token) = tc.raw();
    let body = eventually("service proxy answers", Duration::from_secs(10), || async {
        let r = http
            .get(format!(
                "{base}/api/v1/namespaces/default/services/hello:web/proxy/"
            ))
            .bearer_auth(&token)
            .send()
            .await
            .ok()?;
        let ok = r.status().is_success();
        let text = r.text().await.ok()?;
        (ok && text.contains("Version: v1")).then_some(text)
    })
    .await;
    assert!(body.starts_with("Host: hello-"), "{body}");
    let pod_name = ready[0].metadata.name.clone().expect("name");
    let r = http
        .get(format!(
            "{base}/api/v1/namespaces/default/pods/{pod_name}:8080/proxy/healthz"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("pod proxy");
    assert_eq!(r.status().as_u16(), 200);
    let r = http
        .get(format!(
            "{base}/api/v1/namespaces/default/services/nothing/proxy/"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("missing");
    assert_eq!(r.status().as_u16(), 404);
    let d = deploys.get("hello").await.expect("get");
    assert_eq!(d.status.and_then(|s| s.available_replicas), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_rollout_status_history_undo_pause_resume_restart() {
    if !have_kubectl() {
        return;
    }
    let tc = TestCluster::fast(10.0).await;
    let out = tc.kubectl_ok(&[
        "apply",
        "-f",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../manifests/web/"),
    ]);
    assert!(out.contains("deployment.apps/web created"), "{out}");
    let out = tc.kubectl_ok(&["rollout", "status", "deploy/web", "--timeout=60s"]);
    assert!(
        out.contains("deployment \"web\" successfully rolled out"),
        "{out}"
    );

    tc.kubectl_ok(&["set", "image", "deploy/web", "app=nginx:1.28"]);
    let out = tc.kubectl_ok(&["rollout", "status", "deploy/web", "--timeout=60s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let out = tc.kubectl_ok(&["rollout", "history", "deploy/web"]);
    assert!(
        out.contains("REVISION")
            && out.lines().any(|l| l.trim_start().starts_with('1'))
            && out.lines().any(|l| l.trim_start().starts_with('2')),
        "{out}"
    );

    let rs_before = tc.kubectl_ok(&["get", "rs", "-o", "name"]);
    let out = tc.kubectl_ok(&["rollout", "undo", "deploy/web"]);
    assert!(out.contains("deployment.apps/web rolled back"), "{out}");
    tc.kubectl_ok(&["rollout", "status", "deploy/web", "--timeout=60s"]);
    let rs_after = tc.kubectl_ok(&["get", "rs", "-o", "name"]);
    assert_eq!(
        rs_before.lines().count(),
        rs_after.lines().count(),
        "undo reuses the old ReplicaSet:\n{rs_before}\n{rs_after}"
    );
    let image = tc.kubectl_ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.metadata.annotations.deployment\\.kubernetes\\.io/revision}"]);
    assert_eq!(image.trim(), "nginx:1.27 3");

    let out = tc.kubectl_ok(&["rollout", "pause", "deploy/web"]);
    assert!(out.contains("paused"), "{out}");
    tc.kubectl_ok(&["set", "image", "deploy/web", "app=nginx:1.29"]);
    let rs_paused = tc.kubectl_ok(&["get", "rs", "-o", "name"]);
    assert_eq!(
        rs_paused.lines().count(),
        rs_after.lines().count(),
        "no new ReplicaSet while paused"
    );
    let out = tc.kubectl_ok(&["rollout", "resume", "deploy/web"]);
    assert!(out.contains("resumed"), "{out}");
    tc.kubectl_ok(&["rollout", "status", "deploy/web", "--timeout=60s"]);
    let out = tc.kubectl_ok(&["rollout", "restart", "deploy/web"]);
    assert!(out.contains("restarted"), "{out}");
    tc.kubectl_ok(&["rollout", "status", "deploy/web", "--timeout=60s"]);

    let out = tc.kubectl_ok(&["get", "pods", "-o", "wide"]);
    assert!(out.contains("127.") && out.contains("sim-node-1"), "{out}");
    let out = tc.kubectl_ok(&["get", "endpoints", "web"]);
    assert!(out.contains("127.") && out.contains(":80"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn failure_modes_show_as_kubectl_shows_them() {
    if !have_kubectl() {
        return;
    }
    let tc = TestCluster::fast(20.0).await;
    let deploys: Api<Deployment> = Api::default_namespaced(tc.client.clone());
    deploys
        .create(
            &PostParams::default(),
            &deployment("crasher", "example/app:crash", 1, json!({})),
        )
        .await
        .expect("crash");
    deploys
        .create(
            &PostParams::default(),
            &deployment("nopull", "example/app:unpullable", 1, json!({})),
        )
        .await
        .expect("pull");
    deploys
        .create(
            &PostParams::default(),
            &deployment("unready", "example/app:never-ready", 1, json!({})),
        )
        .await
        .expect("unready");
    let liveness = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "example/app:never-ready", "ports": [{"name": "http", "containerPort": 8080}],
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1, "failureThreshold": 2}}]}}}});
    deploys
        .create(
            &PostParams::default(),
            &deployment("unlive", "example/app:never-ready", 1, liveness),
        )
        .await
        .expect("unlive");

    let row = |out: &str, app: &str| {
        out.lines()
            .find(|l| l.starts_with(app))
            .unwrap_or_default()
            .to_string()
    };
    let restarts = |r: &str| {
        r.split_whitespace()
            .nth(3)
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
    };
    let mut crash_restarts = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    let (mut saw_crashloop, mut saw_pull, mut saw_unready, mut saw_liveness) =
        (false, false, false, false);
    while std::time::Instant::now() < deadline
        && !(saw_crashloop && saw_pull && saw_unready && saw_liveness && crash_restarts.len() >= 2)
    {
        let out = tc.kubectl_ok(&["get", "pods"]);
        let crash = row(&out, "crasher");
        if crash.contains("CrashLoopBackOff") {
            saw_crashloop = true;
            let n = restarts(&crash);
            if crash_restarts.last() != Some(&n) {
                crash_restarts.push(n);
            }
        }
        let pull = row(&out, "nopull");
        saw_pull |= pull.contains("ImagePullBackOff") || pull.contains("ErrImagePull");
        let unready = row(&out, "unready");
        saw_unready |= unready.contains("0/1") && unready.contains("Running");
        saw_liveness |= restarts(&row(&out, "unlive")) >= 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let last = tc.kubectl_ok(&["get", "pods"]);
    assert!(saw_crashloop, "CrashLoopBackOff shown:\n{last}");
    assert!(
        crash_restarts.windows(2).any(|w| w[1] > w[0]),
        "restarts grow: {crash_restarts:?}"
    );
    assert!(saw_pull, "ImagePullBackOff / ErrImagePull shown");
    assert!(saw_unready, "Running but 0/1 ready shown");
    assert!(
        saw_liveness,
        "a failing liveness probe restarts the container"
    );
    let out = tc.kubectl_ok(&["describe", "pod", "-l", "app=unlive"]);
    assert!(
        out.contains("Unhealthy") && out.contains("Liveness probe failed"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_never_ready_rollout_exceeds_its_progress_deadline() {
    if !have_kubectl() {
        return;
    }
    let tc = TestCluster::fast(10.0).await;
    let deploys: Api<Deployment> = Api::default_namespaced(tc.client.clone());
    deploys
        .create(
            &PostParams::default(),
            &deployment(
                "stuck",
                "example/app:never-ready",
                1,
                json!({"spec": {"progressDeadlineSeconds": 3}}),
            ),
        )
        .await
        .expect("create");
    let (ok, out, err) = tc.kubectl_run(&["rollout", "status", "deploy/stuck", "--timeout=30s"]);
    assert!(
        !ok,
        "{out}\n{}\n{}",
        tc.kubectl_ok(&["get", "deploy,rs,pods", "-o", "wide"]),
        tc.kubectl_ok(&["get", "deploy", "stuck", "-o", "yaml"])
    );
    assert!(
        err.contains("exceeded its progress deadline"),
        "{out}\n{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hpa_scales_on_load_served_by_the_pods() {
    if !have_kubectl() {
        return;
    }
    let tc = TestCluster::fast(10.0).await;
    let deploys: Api<Deployment> = Api::default_namespaced(tc.client.clone());
    let extra = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "example/busy:v1",
        "ports": [{"name": "http", "containerPort": 8080}],
        "env": [{"name": "SIM_LATENCY", "value": "40ms"}],
        "resources": {"requests": {"cpu": "100m"}}}]}}}});
    deploys
        .create(
            &PostParams::default(),
            &deployment("busy", "example/busy:v1", 1, extra),
        )
        .await
        .expect("create");
    let hpa = tc.dir.path().join("hpa.yaml");
    std::fs::write(&hpa, "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: busy}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: busy}\n  minReplicas: 1\n  maxReplicas: 4\n  metrics:\n  - type: Resource\n    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}\n").expect("write");
    tc.kubectl_ok(&["apply", "-f", hpa.to_str().unwrap_or_default()]);
    let pods: Api<Pod> = Api::default_namespaced(tc.client.clone());
    let ip = eventually("a ready pod", Duration::from_secs(20), || async {
        pods_of(&pods, "busy").await.into_iter().find_map(|p| {
            let s = p.status?;
            s.conditions?
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
                .then_some(s.pod_ip?)
        })
    })
    .await;
    // Load: 8 clients in a loop for at most 15 s, bounded to 3,000 requests.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..8 {
        let (ip, stop) = (ip.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            for _ in 0..375 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                if let Ok(mut s) = tokio::net::TcpStream::connect((ip.as_str(), 8080)).await {
                    let _ = s
                        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        .await;
                    let mut sink = Vec::new();
                    let _ = s.read_to_end(&mut sink).await;
                }
            }
        }));
    }
    let replicas = eventually(
        "the HPA scales the Deployment up",
        Duration::from_secs(15),
        || async {
            let r = deploys.get("busy").await.ok()?.spec?.replicas?;
            (r > 1).then_some(r)
        },
    )
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for l in load {
        let _ = l.await;
    }
    assert!(replicas <= 4);
    let out = tc.kubectl_ok(&["get", "hpa", "busy"]);
    assert!(out.contains("cpu: ") && out.contains("/50%"), "{out}");
    let out = tc.kubectl_ok(&["describe", "hpa", "busy"]);
    assert!(out.contains("SuccessfulRescale"), "{out}");
}

/// A never-ready app fails its readiness probe whatever path the probe names: probed at `/`
/// (which it serves), it still never becomes ready.
#[tokio::test(flavor = "multi_thread")]
async fn a_never_ready_app_fails_readiness_on_any_path() {
    let tc = TestCluster::fast(10.0).await;
    let deploys: Api<Deployment> = Api::default_namespaced(tc.client.clone());
    let probed_at_root = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "example/app:never-ready",
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1}}]}}}});
    deploys
        .create(
            &PostParams::default(),
            &deployment("elsewhere", "example/app:never-ready", 1, probed_at_root),
        )
        .await
        .expect("create");
    let pods: Api<Pod> = Api::default_namespaced(tc.client.clone());
    let ip = eventually("the pod to run", Duration::from_secs(20), || async {
        let p = pods_of(&pods, "elsewhere").await.into_iter().next()?;
        let s = p.status?;
        (s.phase.as_deref() == Some("Running")).then_some(s.pod_ip?)
    })
    .await;
    // The app does answer `/` (once it listens): only its readiness is refused.
    eventually("the app to answer /", Duration::from_secs(20), || async {
        let mut s = tokio::net::TcpStream::connect((ip.as_str(), 8080))
            .await
            .ok()?;
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).await.ok()?;
        out.starts_with("HTTP/1.1 200").then_some(())
    })
    .await;
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::default_namespaced(tc.client.clone());
    eventually(
        "a failed readiness probe",
        Duration::from_secs(20),
        || async {
            events
                .list(&ListParams::default())
                .await
                .ok()?
                .items
                .into_iter()
                .find(|e| {
                    e.involved_object
                        .name
                        .as_deref()
                        .is_some_and(|n| n.starts_with("elsewhere-"))
                        && e.message
                            .as_deref()
                            .is_some_and(|m| m.contains("Readiness probe failed"))
                })
        },
    )
    .await;
    let p = pods_of(&pods, "elsewhere")
        .await
        .into_iter()
        .next()
        .expect("pod");
    let ready = p
        .status
        .and_then(|s| s.conditions)
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status);
    assert_eq!(ready.as_deref(), Some("False"));
}
