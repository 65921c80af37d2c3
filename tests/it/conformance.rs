//! The scenario suite run against both targets: the embedded cluster (by default) and a real
//! control plane (kube-apiserver + kube-controller-manager + etcd, with the embedded node
//! agent and ingress joined to it) when `ROLLOUT_CONFORMANCE_KUBECONFIG` and
//! `ROLLOUT_CONFORMANCE_INGRESS` say where it is — `scripts/real-k8s.sh test` sets them.
//! Each scenario works in a namespace of its own.

use crate::common;
use crate::common::rollouts::{self, Front};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::PostParams;
use kubesim::traffic::{Traffic, TrafficSpec};
use rollout_core::cluster::Cluster;
use rollout_core::engine::start::Request;
use rollout_core::report::Finish;
use serde_json::{Value, json};

const HOST: &str = "web.conformance";

pub(crate) struct Platform {
    pub(crate) client: kube::Client,
    kubeconfig: PathBuf,
    pub(crate) ingress: SocketAddr,
    pub(crate) real: bool,
    _embedded: Option<common::TestCluster>,
}

impl Platform {
    /// The real control plane when the environment names one, else the embedded cluster.
    pub(crate) async fn get() -> Platform {
        match Platform::real().await {
            Some(t) => t,
            None => Platform::embedded().await,
        }
    }

    /// The control plane `ROLLOUT_CONFORMANCE_KUBECONFIG` and `_INGRESS` point at, if any.
    pub(crate) async fn real() -> Option<Platform> {
        kube_util::tls::install_crypto_provider();
        let path = std::env::var("ROLLOUT_CONFORMANCE_KUBECONFIG").ok()?;
        let kc = kube::config::Kubeconfig::read_from(&path).expect("kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .expect("config");
        let ingress = std::env::var("ROLLOUT_CONFORMANCE_INGRESS")
            .expect("ROLLOUT_CONFORMANCE_INGRESS")
            .parse()
            .expect("ingress address");
        Some(Platform {
            client: kube::Client::try_from(config).expect("client"),
            kubeconfig: path.into(),
            ingress,
            real: true,
            _embedded: None,
        })
    }

    pub(crate) async fn embedded() -> Platform {
        kube_util::tls::install_crypto_provider();
        let tc = common::TestCluster::fast(20.0).await;
        Platform {
            client: tc.client.clone(),
            kubeconfig: tc.kubeconfig(),
            ingress: tc.cluster.ingress().expect("ingress").addr(),
            real: false,
            _embedded: Some(tc),
        }
    }

    /// Deletes a scenario's namespace (without waiting): its pods stop taking the node's
    /// resources.
    pub(crate) async fn forget(&self, ns: &str) {
        let _ = Api::<Namespace>::all(self.client.clone())
            .delete(ns, &Default::default())
            .await;
    }

    /// A fresh namespace for one scenario.
    pub(crate) async fn namespace(&self, prefix: &str) -> String {
        let name = format!(
            "{prefix}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..6]
        );
        let ns: Namespace =
            serde_json::from_value(json!({"metadata": {"name": name}})).expect("namespace");
        Api::<Namespace>::all(self.client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("create namespace");
        // A real API server makes the default ServiceAccount a moment later; pods need it.
        let sa: Api<k8s_openapi::api::core::v1::ServiceAccount> =
            Api::namespaced(self.client.clone(), &name);
        common::eventually(
            "default ServiceAccount",
            Duration::from_secs(30),
            || async { sa.get_opt("default").await.ok().flatten().map(|_| ()) },
        )
        .await;
        name
    }

    /// The identity the orchestrator runs as in `ns`. On a real control plane: the
    /// ServiceAccount of manifests/rbac.yaml with every Role and binding there, `role` (a
    /// variant of one of its Roles) in place of the Role of that name and namespace, and a
    /// token for it. The embedded cluster does not authorize: its own kubeconfig.
    pub(crate) async fn orchestrator(&self, ns: &str, role: Option<&Value>) -> Identity {
        let dir = tempfile::tempdir().expect("tempdir");
        if !self.real {
            return Identity {
                kubeconfig: self.kubeconfig.clone(),
                _dir: dir,
            };
        }
        for d in rbac_documents() {
            let d = match role {
                Some(role) if d["kind"] == "Role" && same_object(&d, role) => role.clone(),
                _ => d,
            };
            let d = for_namespace(&d, ns);
            rollout::lab::apply::apply_texts(&self.client, &[("rbac.yaml", &d.to_string())])
                .await
                .expect("apply manifests/rbac.yaml");
        }
        let token = service_account_token(self, ns).await;
        let kubeconfig = dir.path().join("kubeconfig");
        let server = self.client_server();
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"{server}\", insecure-skip-tls-verify: true}}}}]\nusers: [{{name: u, user: {{token: \"{token}\"}}}}]\ncontexts: [{{name: c, context: {{cluster: c, user: u, namespace: {ns}}}}}]\ncurrent-context: c\n"
            ),
        )
        .expect("kubeconfig");
        Identity {
            kubeconfig,
            _dir: dir,
        }
    }

    /// The checks reach the app through the ingress's address; the comparisons find the
    /// controller's metrics themselves (its pods, through the API server's pod proxy), as
    /// they do on a real cluster.
    fn options(&self) -> rollout_core::engine::Options {
        let mut o = rollout_core::engine::Options::new().expect("options");
        o.ingress_url = Some(format!("http://{}", self.ingress));
        o
    }

    pub(crate) fn kubectl(&self, ns: &str, args: &[&str]) -> String {
        let out = Command::new("kubectl")
            .env("KUBECONFIG", &self.kubeconfig)
            .args(["-n", ns])
            .args(args)
            .output()
            .expect("kubectl");
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    async fn install_route_crd(&self) {
        if !self.real {
            return;
        }
        let crd = std::fs::read_to_string("manifests/gateway-api/httproute-crd.yaml").expect("crd");
        rollout::lab::apply::apply_texts(&self.client, &[("httproute-crd.yaml", &crd)])
            .await
            .expect("install the HTTPRoute CRD");
        let api: Api<kube::core::DynamicObject> = Api::all_with(
            self.client.clone(),
            &kube::core::ApiResource::erase::<rollout_core::cluster::httproute::HttpRoute>(&()),
        );
        common::eventually("HTTPRoute served", Duration::from_secs(30), || async {
            api.list(&Default::default()).await.ok().map(|_| ())
        })
        .await;
    }
}

/// A kubeconfig for the orchestrator (and the directory that holds it).
pub(crate) struct Identity {
    pub(crate) kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Identity {
    async fn connect(&self) -> rollout_core::cluster::connect::Connection {
        rollout_core::cluster::connect::connect(&rollout_core::cluster::connect::KubeSource {
            kubeconfig: Some(self.kubeconfig.clone()),
            ..Default::default()
        })
        .await
        .expect("connect as the orchestrator")
    }
}

/// The documents of manifests/rbac.yaml, with `APP_NAMESPACE` (the app's namespace) as
/// written.
fn rbac_documents() -> Vec<Value> {
    let rbac = std::fs::read_to_string("manifests/rbac.yaml").expect("rbac.yaml");
    rollout::lab::apply::documents(&rbac, "manifests/rbac.yaml").expect("rbac documents")
}

/// `d` for the app in namespace `ns`, as the file's instructions apply it.
fn for_namespace(d: &Value, ns: &str) -> Value {
    serde_json::from_str(&d.to_string().replace("APP_NAMESPACE", ns)).expect("document")
}

/// Whether `a` and `b` name the same object (name and namespace).
fn same_object(a: &Value, b: &Value) -> bool {
    a["metadata"]["name"] == b["metadata"]["name"]
        && a["metadata"]["namespace"] == b["metadata"]["namespace"]
}

/// `web` (2 replicas of `image`), its Service and `front` in `ns`, rolled out.
pub(crate) async fn deploy_web(t: &Platform, ns: &str, image: &str, front: Front) {
    if front == Front::Route {
        t.install_route_crd().await;
    }
    rollouts::deploy_web_in(&t.client, ns, &format!("{ns}.{HOST}"), image, 2, front).await;
}

/// What a scenario leaves: its objects, and the temporary pods still there.
async fn leftovers(t: &Platform, ns: &str) -> Value {
    let mut left = rollouts::leftovers_in(&t.client, ns).await;
    left["temporary pods"] = json!(rollouts::stray_pods_in(&t.client, ns).await);
    left
}

fn clean(front: Front, image: &str) -> Value {
    let ingresses: Vec<&str> = if front == Front::Nginx {
        vec!["web"]
    } else {
        vec![]
    };
    json!({"deployments": ["web"], "services": ["web"], "ingresses": ingresses, "leases": [],
           "selector": {"app": "web"}, "image": image, "record": null, "temporary pods": []})
}

/// The strategies' checks, with time for a real control plane.
fn checks() -> String {
    format!("progressDeadline: 60s\n{}", rollouts::checks("300ms", "8s"))
}

/// [`checks`], with a comparison of the versions' error rates in the background.
fn rbac_checks() -> String {
    checks().replace("background: [probes]", "background: [probes, errors]")
        + "    errors:\n      compare: canary-vs-stable\n      metric: error-rate\n      maxErrorRateIncrease: 5%\n      minSamples: 10\n"
}

async fn scenario(strategy_head: &str, front: Front, image: &str, expect: Finish) {
    let t = Platform::get().await;
    let ns = t.namespace("conf").await;
    deploy_web(&t, &ns, "web:v1", front).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("strategy.yaml");
    std::fs::write(&path, format!("{strategy_head}\n{}", checks())).expect("write");
    let req = Request {
        strategy: path.display().to_string(),
        image: image.into(),
        app: Some("web".into()),
        ..Default::default()
    };
    // Users, half of them in group B: what A/B and shadow compare.
    let mut spec = TrafficSpec::new(t.ingress, format!("{ns}.{HOST}"));
    spec.rate_per_second = 100.0;
    spec.duration = Some(Duration::from_secs(60));
    spec.groups
        .push(kubesim::traffic::parse_group("50%:header:X-Variant=b").expect("group"));
    let load = Traffic::start(spec).expect("traffic");
    let identity = t.orchestrator(&ns, None).await;
    let conn = identity.connect().await;
    let mut options = t.options();
    options.proxy_client = Some(conn.proxy_client);
    let events = Arc::new(common::rollouts::Events::default());
    let outcome =
        rollout_core::engine::start::run(Cluster::new(conn.client, &ns), &req, options, events)
            .await
            .expect("rollout starts");
    load.stop().await;
    assert_eq!(
        outcome.finish, expect,
        "{strategy_head} {image}: {:?}",
        outcome.reason
    );
    let image = if expect == Finish::Done {
        "web:v2"
    } else {
        "web:v1"
    };
    assert_eq!(
        leftovers(&t, &ns).await,
        clean(front, image),
        "{strategy_head}"
    );
    t.forget(&ns).await;
}

const CANARY: &str =
    "strategy: canary\nsteps:\n  - setWeight: 50\n  - pause: 1s\n  - analysis: smoke-new";
const BLUE_GREEN: &str = "strategy: blue-green\nprePromotion: [smoke-new]\npostPromotion: [smoke]\npostPromotionWindow: 500ms\nscaleDownDelay: 0s";
const ROLLING: &str = "strategy: rolling\nmaxSurge: 1\nmaxUnavailable: 0\nverify: [smoke-new]";
const RECREATE: &str = "strategy: recreate\nverify: [smoke-new]";
const SHADOW: &str = "strategy: shadow\nmirror: 100%\nduration: 3s\ncompare:\n  metric: [error-rate]\n  maxErrorRateIncrease: 5%\n  minSamples: 10\npromote: if-no-worse";
const AB: &str = "strategy: ab\nmatch:\n  - header: X-Variant\n    value: b\nduration: 3s\ncompare:\n  metric: [error-rate]\n  maxErrorRateIncrease: 5%\n  minSamples: 10\npromote: if-no-worse";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_completes_and_rolls_back() {
    scenario(CANARY, Front::Nginx, "v2", Finish::Done).await;
    scenario(CANARY, Front::Nginx, "v2-errors", Finish::RolledBack).await;
    scenario(CANARY, Front::Route, "v2-crash", Finish::RolledBack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_completes_and_rolls_back() {
    scenario(BLUE_GREEN, Front::Nginx, "v2", Finish::Done).await;
    scenario(
        BLUE_GREEN,
        Front::Nginx,
        "v2-never-ready",
        Finish::RolledBack,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_and_recreate_complete_and_roll_back() {
    scenario(ROLLING, Front::Nginx, "v2", Finish::Done).await;
    scenario(ROLLING, Front::Nginx, "v2-crash", Finish::RolledBack).await;
    scenario(RECREATE, Front::Nginx, "v2", Finish::Done).await;
    scenario(RECREATE, Front::Nginx, "v2-errors", Finish::RolledBack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_through_an_httproute_completes_and_rolls_back() {
    scenario(SHADOW, Front::Route, "v2", Finish::Done).await;
    scenario(SHADOW, Front::Route, "v2-errors", Finish::RolledBack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ab_completes_and_rolls_back() {
    scenario(AB, Front::Nginx, "v2", Finish::Done).await;
    scenario(AB, Front::Nginx, "v2-errors", Finish::RolledBack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_rollout_status_undo_and_endpoints() {
    if !common::have_kubectl() {
        return;
    }
    let t = Platform::get().await;
    let ns = t.namespace("kubectl").await;
    deploy_web(&t, &ns, "web:v1", Front::Nginx).await;
    t.kubectl(&ns, &["set", "image", "deployment/web", "app=web:v2"]);
    let status = t.kubectl(
        &ns,
        &["rollout", "status", "deployment/web", "--timeout=60s"],
    );
    assert!(status.contains("successfully rolled out"), "{status}");
    t.kubectl(&ns, &["rollout", "undo", "deployment/web"]);
    t.kubectl(
        &ns,
        &["rollout", "status", "deployment/web", "--timeout=60s"],
    );
    let history = t.kubectl(&ns, &["rollout", "history", "deployment/web"]);
    assert!(history.contains('2') && history.contains('3'), "{history}");
    let image = t.kubectl(
        &ns,
        &[
            "get",
            "deployment/web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ],
    );
    assert_eq!(image, "web:v1");
    let api: Api<k8s_openapi::api::core::v1::Endpoints> = Api::namespaced(t.client.clone(), &ns);
    common::eventually("2 endpoints", Duration::from_secs(30), || async {
        let e = api.get("web").await.ok()?;
        let n: usize = e
            .subsets?
            .iter()
            .map(|s| s.addresses.as_ref().map_or(0, Vec::len))
            .sum();
        (n == 2).then_some(())
    })
    .await;
    // Requests through the ingress reach the pods.
    let http = common::http_client();
    let host = format!("{ns}.{HOST}");
    let (status, version) = common::eventually(
        "an answer through the ingress",
        Duration::from_secs(30),
        || async {
            let r = common::via_ingress(&http, t.ingress, &host, "/", &[]).await;
            (r.0 == 200).then_some(r)
        },
    )
    .await;
    assert_eq!((status, version.as_str()), (200, "v1"));
}

/// The orchestrator with only the Roles of manifests/rbac.yaml: it completes; without any one
/// of their verbs it stops with a "forbidden" message, or plans a check it cannot run (the
/// message saying why is "forbidden"). Two runs between them use every verb: a canary through
/// ingress-nginx that finds the app by itself, takes over the expired Lease of a run that
/// died and compares the versions with ingress-nginx's metrics, and a canary of an autoscaled
/// app through an HTTPRoute from scratch comparing them with Envoy's; both find the metrics
/// through the controller pods and the API server's pod proxy (the Roles in `ingress-nginx`
/// and `projectcontour`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rbac_role_is_enough_and_each_verb_is_needed() {
    let t = Platform::get().await;
    if !t.real {
        eprintln!(
            "the embedded cluster does not authorize requests: RBAC is checked on the real control plane only"
        );
        return;
    }
    let roles: Vec<Value> = rbac_documents()
        .into_iter()
        .filter(|d| d["kind"] == "Role")
        .collect();
    assert_eq!(roles.len(), 3, "the app's Role and the two metrics Roles");
    let full = [RbacRun::IngressTakeover, RbacRun::RouteFresh];
    for run in full {
        let (code, stderr, clean) = run.exec(&t, None).await;
        assert_eq!(code, Some(0), "{run:?} with the whole Roles: {stderr}");
        assert!(
            clean,
            "{run:?} with the whole Roles left its Lease: {stderr}"
        );
        assert!(
            !stderr.contains("will not run"),
            "{run:?} with the whole Roles dropped a check: {stderr}"
        );
    }
    // Kubernetes before 1.23 (the real suite's 1.20) does not serve autoscaling/v2: there the
    // autoscaler rule cannot be exercised and is left out of the check; it is checked wherever
    // autoscaling/v2 is served.
    let autoscaling_served = autoscaling_v2_served(&t).await;
    if !autoscaling_served {
        eprintln!("autoscaling/v2 is not served: the autoscaler rule is not checked here");
    }
    let mut unneeded = Vec::new();
    for role in &roles {
        for (what, variant) in without_each_verb(role)
            .into_iter()
            .filter(|(what, _)| autoscaling_served || !what.contains("horizontalpodautoscalers"))
        {
            let what = format!("{what} in {}", role["metadata"]["namespace"]);
            let mut refused = false;
            for run in full {
                let (code, stderr, clean) = run.exec(&t, Some(&variant)).await;
                // Refused outright, done but unable to clean up after itself, or unable to
                // read what a check needs.
                if code != Some(0) || !clean || stderr.contains("will not run") {
                    assert!(
                        stderr.contains("forbidden"),
                        "{run:?} without {what}: exit {code:?}, clean: {clean}, no \"forbidden\" in: {stderr}"
                    );
                    refused = true;
                    break;
                }
            }
            if !refused {
                unneeded.push(what);
            }
        }
    }
    assert!(unneeded.is_empty(), "verbs no run needed: {unneeded:?}");
}

/// The Role with one verb taken away, for every verb it has (a rule whose only verb goes,
/// goes: a rule needs a verb).
fn without_each_verb(role: &Value) -> Vec<(String, Value)> {
    let rules = role["rules"].as_array().cloned().unwrap_or_default();
    let mut variants = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let verbs: Vec<String> = rule["verbs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        for verb in &verbs {
            let rest: Vec<&String> = verbs.iter().filter(|v| *v != verb).collect();
            let mut r = role.clone();
            if rest.is_empty() {
                if let Some(rules) = r["rules"].as_array_mut() {
                    rules.remove(i);
                }
            } else {
                r["rules"][i]["verbs"] = json!(rest);
            }
            variants.push((format!("{verb} {}", rule["resources"]), r));
        }
    }
    variants
}

#[derive(Debug, Clone, Copy)]
enum RbacRun {
    IngressTakeover,
    RouteFresh,
}

impl RbacRun {
    /// Runs the binary as the ServiceAccount of manifests/rbac.yaml (with `role` in place of
    /// the Role it varies) in a fresh namespace: its exit code, what it printed on stderr, and
    /// whether it left no Lease behind.
    async fn exec(self, t: &Platform, role: Option<&Value>) -> (Option<i32>, String, bool) {
        let ns = t.namespace("rbac").await;
        let front = match self {
            RbacRun::IngressTakeover => Front::Nginx,
            RbacRun::RouteFresh => Front::Route,
        };
        deploy_web(t, &ns, "web:v1", front).await;
        // With a comparison of the versions, whose metrics it finds by itself (no
        // --metrics-url): that is what needs the metrics Roles.
        let strategy_text = match self {
            RbacRun::IngressTakeover => {
                expired_lease(t, &ns).await;
                format!("{CANARY}\n{}", rbac_checks())
            }
            RbacRun::RouteFresh => {
                // An autoscaled app, and two weights: the new version's autoscaler is
                // created, resized and deleted.
                autoscaler_for_web(t, &ns).await;
                format!("{CANARY_TWO_WEIGHTS}\n{}", rbac_checks())
            }
        };
        let identity = t.orchestrator(&ns, role).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let strategy = dir.path().join("s.yaml");
        std::fs::write(&strategy, strategy_text).expect("strategy");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollout"));
        cmd.args([
            "--strategy",
            &strategy.display().to_string(),
            "--image",
            "v2",
        ])
        .args(["--kubeconfig", &identity.kubeconfig.display().to_string()])
        .args(["--ingress-url", &format!("http://{}", t.ingress)]);
        if let RbacRun::RouteFresh = self {
            cmd.args(["--app", "web"]);
        }
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .expect("join")
            .expect("rollout");
        let leases =
            Api::<k8s_openapi::api::coordination::v1::Lease>::namespaced(t.client.clone(), &ns)
                .list(&Default::default())
                .await
                .expect("leases");
        t.forget(&ns).await;
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            leases.items.is_empty(),
        )
    }
}

const CANARY_TWO_WEIGHTS: &str = "strategy: canary\nsteps:\n  - setWeight: 25\n  - pause: 1s\n  - setWeight: 50\n  - pause: 1s\n  - analysis: smoke-new";

async fn autoscaling_v2_served(t: &Platform) -> bool {
    use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
    Api::<HorizontalPodAutoscaler>::all(t.client.clone())
        .list(&kube::api::ListParams::default().limit(1))
        .await
        .is_ok()
}

/// An autoscaler (1–4 replicas) for `web`, where autoscaling/v2 is served.
async fn autoscaler_for_web(t: &Platform, ns: &str) {
    if !autoscaling_v2_served(t).await {
        return;
    }
    use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
    let hpa: HorizontalPodAutoscaler = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1, "maxReplicas": 4,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                         "target": {"type": "Utilization", "averageUtilization": 50}}}]
        }
    }))
    .expect("autoscaler");
    Api::<HorizontalPodAutoscaler>::namespaced(t.client.clone(), ns)
        .create(&PostParams::default(), &hpa)
        .await
        .expect("create the autoscaler");
}

/// The Lease of a run that died an hour ago, as a crashed `rollout` leaves it.
async fn expired_lease(t: &Platform, ns: &str) {
    let an_hour_ago = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1))
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let lease: k8s_openapi::api::coordination::v1::Lease = serde_json::from_value(json!({
        "metadata": {"name": rollout_core::cluster::lease::name("web")},
        "spec": {"holderIdentity": "rollout@gone-1234", "leaseDurationSeconds": 15,
                 "acquireTime": an_hour_ago, "renewTime": an_hour_ago}
    }))
    .expect("lease");
    Api::<k8s_openapi::api::coordination::v1::Lease>::namespaced(t.client.clone(), ns)
        .create(&PostParams::default(), &lease)
        .await
        .expect("create the expired lease");
}

impl Platform {
    fn client_server(&self) -> String {
        kube::config::Kubeconfig::read_from(&self.kubeconfig)
            .expect("kubeconfig")
            .clusters
            .into_iter()
            .find_map(|c| c.cluster?.server)
            .expect("a server in the kubeconfig")
    }
}

async fn service_account_token(t: &Platform, ns: &str) -> String {
    let api: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(t.client.clone(), ns);
    let req: k8s_openapi::api::authentication::v1::TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 3600}}))
            .expect("token request");
    let r: Value = api
        .create_subresource("token", "rollout", &PostParams::default(), &req)
        .await
        .expect("token");
    r.pointer("/status/token")
        .and_then(Value::as_str)
        .expect("token in status")
        .to_owned()
}
