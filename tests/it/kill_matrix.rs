//! Kill at every step: for every strategy and every step boundary k, the real binary is
//! killed (SIGKILL) as it starts step k, then a fresh process either resumes it — the app
//! ends on the new version with nothing left over — or aborts it — the namespace's objects
//! are as they were before the rollout (compared with a snapshot taken then). Each case runs
//! in a namespace of its own on one embedded cluster per strategy, with time sped up.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::TestCluster;
use crate::common::rollouts::{Front, deploy_web_in, leftovers_in, stray_pods_in};
use crate::faults::{STRATEGIES, service_pods_on, strategy, traffic};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, PostParams};
use kube::core::{ApiResource, DynamicObject};
use serde_json::{Value, json};

/// How long one process may take to reach the step it is killed at, or to resume or abort.
const RUN_LIMIT: Duration = Duration::from_secs(90);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Then {
    Resume,
    Abort,
}

impl Then {
    fn verb(self) -> &'static str {
        match self {
            Then::Resume => "resume",
            Then::Abort => "abort",
        }
    }
}

/// The strategy's cluster, its file, and the `rollout` command for one namespace.
struct Matrix {
    tc: TestCluster,
    name: &'static str,
    front: Front,
    path: String,
}

impl Matrix {
    async fn new(name: &str) -> Matrix {
        let (name, head, front) = STRATEGIES
            .iter()
            .copied()
            .find(|(n, _, _)| *n == name)
            .expect("a strategy");
        let tc = TestCluster::fast(20.0).await;
        let path = strategy(&tc, name, head);
        Matrix {
            tc,
            name,
            front,
            path,
        }
    }

    fn rollout(&self, ns: &str, args: &[&str]) -> Command {
        let ingress = self.tc.cluster.ingress().expect("ingress");
        let mut c = Command::new(env!("CARGO_BIN_EXE_rollout"));
        c.args(args)
            .args([
                "--kubeconfig",
                &self.tc.kubeconfig().display().to_string(),
                "-n",
                ns,
            ])
            .env("ROLLOUT_INGRESS_URL", format!("http://{}", ingress.addr()))
            .env(
                "ROLLOUT_METRICS_URL",
                format!("http://{}/metrics", ingress.metrics_addr()),
            )
            .stdin(Stdio::null());
        c
    }

    /// A namespace with `web` at v1 behind the strategy's front.
    async fn app(&self, k: usize, then: Then) -> String {
        let ns = format!("{}-{k}-{}", self.name, then.verb());
        let namespace: Namespace =
            serde_json::from_value(json!({"metadata": {"name": ns}})).expect("namespace");
        Api::<Namespace>::all(self.tc.client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .expect("create namespace");
        deploy_web_in(
            &self.tc.client,
            &ns,
            &format!("{ns}.test"),
            "web:v1",
            2,
            self.front,
        )
        .await;
        ns
    }

    /// Starts the rollout of v2 in `ns` and SIGKILLs it when it says step `k` runs; returns
    /// the plan's steps.
    async fn kill_at(&self, ns: &str, k: usize) -> Vec<String> {
        let mut child = self
            .rollout(
                ns,
                &[
                    "--strategy",
                    &self.path,
                    "--image",
                    "v2",
                    "--app",
                    "web",
                    "--output",
                    "json",
                ],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start rollout");
        let stdout = child.stdout.take().expect("stdout");
        let pid = child.id();
        // A watchdog: a run that never reaches step k is killed, which ends the reading.
        let watchdog = tokio::spawn(async move {
            tokio::time::sleep(RUN_LIMIT).await;
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        });
        let what = format!("{} {ns}", self.name);
        let (steps, seen) = tokio::task::spawn_blocking(move || {
            let mut steps = None;
            let mut seen = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(event) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                seen.push(line.clone());
                match event["event"].as_str() {
                    Some("started") => {
                        steps = event["steps"].as_array().map(|a| {
                            a.iter()
                                .map(|s| s.as_str().unwrap_or_default().to_owned())
                                .collect::<Vec<_>>()
                        });
                    }
                    Some("step") if event["index"] == k && event["state"] == "running" => {
                        // SIGKILL: nothing of the process runs after this.
                        child.kill().expect("SIGKILL");
                        break;
                    }
                    _ => {}
                }
            }
            // Reaped, so that the holder's pid is seen gone.
            let _ = child.kill();
            let _ = child.wait();
            (steps, seen)
        })
        .await
        .expect("join");
        watchdog.abort();
        let killed = seen
            .last()
            .is_some_and(|l| l.contains("\"event\":\"step\"") && l.contains("\"running\""));
        assert!(killed, "{what}: never reached step {k}: {seen:#?}");
        steps.unwrap_or_else(|| panic!("{what}: no plan: {seen:#?}"))
    }

    /// Runs `rollout resume|abort web` in `ns` to its end: exit code and stderr.
    async fn then(&self, ns: &str, then: Then) -> (Option<i32>, String) {
        let mut c = self.rollout(ns, &[then.verb(), "web"]);
        let began = Instant::now();
        let out = tokio::task::spawn_blocking(move || c.output().expect("run"))
            .await
            .expect("join");
        assert!(
            began.elapsed() < RUN_LIMIT,
            "{ns}: {} too slow",
            then.verb()
        );
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// One cell of the matrix: kill at step `k`, then resume or abort. Returns the plan's
    /// steps.
    async fn case(&self, k: usize, then: Then) -> Vec<String> {
        let ns = self.app(k, then).await;
        let before = snapshot(&self.tc.client, &ns).await;
        let _load = traffic(&self.tc, &format!("{ns}.test"), 50.0);
        let steps = self.kill_at(&ns, k).await;
        assert!(
            leftovers_in(&self.tc.client, &ns).await["record"].is_string(),
            "{ns}: the record survives the process"
        );
        let (code, stderr) = self.then(&ns, then).await;
        match then {
            Then::Resume => {
                assert_eq!(code, Some(0), "{ns}: {stderr}");
                let ingresses: Vec<&str> = if self.front == Front::Nginx {
                    vec!["web"]
                } else {
                    vec![]
                };
                assert_eq!(
                    leftovers_in(&self.tc.client, &ns).await,
                    json!({"deployments": ["web"], "services": ["web"], "ingresses": ingresses,
                           "leases": [], "selector": {"app": "web"}, "image": "web:v2", "record": null}),
                    "{ns}: {stderr}"
                );
                service_pods_on(&self.tc.client, &ns, "web:v2").await;
            }
            Then::Abort => {
                assert_eq!(code, Some(3), "{ns}: {stderr}");
                assert_eq!(
                    snapshot(&self.tc.client, &ns).await,
                    before,
                    "{ns}: the namespace as before the rollout: {stderr}"
                );
                service_pods_on(&self.tc.client, &ns, "web:v1").await;
            }
        }
        assert!(
            stray_pods_in(&self.tc.client, &ns).await.is_empty(),
            "{ns}: temporary pods left"
        );
        // Done with it: its pods would only take the machine's time from the next case.
        let _ = Api::<Namespace>::all(self.tc.client.clone())
            .delete(&ns, &Default::default())
            .await;
        steps
    }

    /// Every step boundary, each followed by resume and (at the same time, in another
    /// namespace) by abort; returns how many cells ran.
    async fn run(&self) -> usize {
        let mut k = 0;
        let plan = loop {
            let (resumed, aborted) =
                tokio::join!(self.case(k, Then::Resume), self.case(k, Then::Abort));
            assert_eq!(resumed, aborted, "{}: one plan", self.name);
            k += 1;
            if k >= resumed.len() {
                break resumed;
            }
        };
        let mut table = format!(
            "kill matrix: {} — {} step boundaries × (resume, abort) = {} cells, all passed:",
            self.name,
            plan.len(),
            2 * plan.len()
        );
        for (k, step) in plan.iter().enumerate() {
            table.push_str(&format!(
                "\n  killed at {k:>2} ({step}): resume done, abort restored"
            ));
        }
        eprintln!("{table}");
        2 * plan.len()
    }
}

/// What a namespace holds, as a comparison should see it: each object of the kinds a
/// rollout touches by name with its uid, labels, annotations and spec (what the cluster
/// itself changes — status, resourceVersion, the Deployment's revision counter — and the
/// note of the last rollout's outcome left out).
async fn snapshot(c: &kube::Client, ns: &str) -> Value {
    let kinds = [
        ApiResource::erase::<Deployment>(&()),
        ApiResource::erase::<Service>(&()),
        ApiResource::erase::<Ingress>(&()),
        ApiResource::erase::<rollout_core::cluster::httproute::HttpRoute>(&()),
        ApiResource::erase::<ConfigMap>(&()),
        ApiResource::erase::<Lease>(&()),
    ];
    let mut all = serde_json::Map::new();
    for ar in kinds {
        let api: Api<DynamicObject> = Api::namespaced_with(c.clone(), ns, &ar);
        let mut objects = serde_json::Map::new();
        for o in api.list(&Default::default()).await.expect("list").items {
            let mut annotations = o.metadata.annotations.clone().unwrap_or_default();
            annotations.remove("deployment.kubernetes.io/revision");
            // The outcome of the last rollout, which every rollout leaves on the app's
            // Deployment (`rollout status` reads it): what happened, not a leftover.
            annotations.remove(rollout_core::engine::record::LAST);
            objects.insert(
                o.metadata.name.clone().unwrap_or_default(),
                json!({
                    "uid": o.metadata.uid,
                    "labels": o.metadata.labels,
                    "annotations": annotations,
                    "spec": o.data.get("spec"),
                    "data": o.data.get("data"),
                }),
            );
        }
        all.insert(ar.plural.clone(), Value::Object(objects));
    }
    Value::Object(all)
}

/// The narrowest window of a kill: after a step made an object, before the record could
/// name it. Made here deterministically: killed as the new Service's step starts, then the
/// Service made as that step would have (with the rollout's labels) and left out of the
/// record; `abort` still finds it by its rollout label and removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_removes_an_object_made_just_before_the_kill() {
    let m = Matrix::new("canary").await;
    let ns = m.app(3, Then::Abort).await;
    let before = snapshot(&m.tc.client, &ns).await;
    let _load = traffic(&m.tc, &format!("{ns}.test"), 50.0);
    let plan = m.kill_at(&ns, 3).await;
    assert_eq!(plan[3], "create the Service of the new version");
    let record: Value = serde_json::from_str(
        leftovers_in(&m.tc.client, &ns).await["record"]
            .as_str()
            .expect("a record"),
    )
    .expect("the record is JSON");
    let id = record["id"].as_str().expect("the rollout's id");
    let services: Api<Service> = Api::namespaced(m.tc.client.clone(), &ns);
    if services.get_opt("web-canary").await.expect("get").is_none() {
        let made: Service = serde_json::from_value(json!({
            "metadata": rollout_core::labels::owned_metadata("web-canary", &ns, "web", Some(id)),
            "spec": {"selector": {"app": "web", "rollout.dev/role": "canary"},
                     "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
        }))
        .expect("service");
        services
            .create(&PostParams::default(), &made)
            .await
            .expect("the Service the killed step made");
    }
    // The process may have got as far as naming it in its record before the kill landed:
    // the record is put back as it was before the step, so that only the label tells.
    let mut record = record;
    if let Some(owned) = record["owned"].as_array_mut() {
        owned.retain(|o| !(o["resource"] == "services" && o["name"] == "web-canary"));
    }
    let deployments: Api<Deployment> = Api::namespaced(m.tc.client.clone(), &ns);
    deployments
        .patch(
            "web",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"metadata": {"annotations": {
                rollout_core::engine::record::STATE: record.to_string()
            }}})),
        )
        .await
        .expect("the record without the Service");
    let (code, stderr) = m.then(&ns, Then::Abort).await;
    assert_eq!(code, Some(3), "{stderr}");
    assert_eq!(snapshot(&m.tc.client, &ns).await, before, "{stderr}");
}

async fn matrix(name: &str) {
    let cells = Matrix::new(name).await.run().await;
    assert!(cells >= 2, "{name}: a plan without steps");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_killed_at_every_step() {
    matrix("recreate").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_killed_at_every_step() {
    matrix("rolling").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_killed_at_every_step() {
    matrix("blue-green").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_killed_at_every_step() {
    matrix("canary").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ab_killed_at_every_step() {
    matrix("ab").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_killed_at_every_step() {
    matrix("shadow").await;
}
