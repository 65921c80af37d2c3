//! Helpers for the orchestrator's integration tests: an app (Deployment + Service + Ingress
//! or HTTPRoute) on the embedded cluster, a rollout run against it, and what was left.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, PostParams};
use rollout::engine::start::Request;
use rollout::engine::{Options, Outcome};
use rollout::report::{Event, Sink};
use serde_json::json;

use super::TestCluster;

pub const HOST: &str = "web.test";

#[derive(Clone, Copy, PartialEq)]
pub enum Front {
    Nothing,
    Nginx,
    Route,
}

/// `web`: a Deployment of `replicas` pods of `image`, its Service, and the front asked for.
pub async fn deploy_web(tc: &TestCluster, image: &str, replicas: i32, front: Front) {
    let c = &tc.client;
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"terminationGracePeriodSeconds": 1,
                                  "containers": [{"name": "app", "image": image, "ports": [{"name": "http", "containerPort": 8080}],
                                                  "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1}}]}}
        }
    }))
    .expect("deployment");
    Api::<Deployment>::namespaced(c.clone(), "default")
        .create(&PostParams::default(), &d)
        .await
        .expect("create deployment");
    Api::<Service>::namespaced(c.clone(), "default")
        .create(
            &PostParams::default(),
            &super::app_service("web", json!({"app": "web"})),
        )
        .await
        .expect("create service");
    match front {
        Front::Nothing => {}
        Front::Nginx => {
            let i: Ingress = serde_json::from_value(json!({
                "metadata": {"name": "web"},
                "spec": {"ingressClassName": "nginx", "rules": [{"host": HOST, "http": {"paths": [
                    {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
            }))
            .expect("ingress");
            Api::<Ingress>::namespaced(c.clone(), "default")
                .create(&PostParams::default(), &i)
                .await
                .expect("create ingress");
        }
        Front::Route => {
            let api: Api<kube::core::DynamicObject> = Api::namespaced_with(
                c.clone(),
                "default",
                &rollout::cluster::api::http_route_resource(),
            );
            let r: kube::core::DynamicObject = serde_json::from_value(json!({
                "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                "metadata": {"name": "web"},
                "spec": {"hostnames": [HOST], "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                          "backendRefs": [{"name": "web", "port": 80}]}]}
            }))
            .expect("route");
            api.create(&PostParams::default(), &r)
                .await
                .expect("create route");
        }
    }
    wait_rolled_out(tc, "web").await;
}

pub async fn wait_rolled_out(tc: &TestCluster, name: &str) {
    let api: Api<Deployment> = Api::namespaced(tc.client.clone(), "default");
    super::eventually(
        &format!("{name} rolled out"),
        Duration::from_secs(30),
        || async {
            let d = api.get(name).await.ok()?;
            let s = d.status?;
            let want = d.spec?.replicas?;
            (s.observed_generation >= d.metadata.generation
                && s.updated_replicas == Some(want)
                && s.available_replicas == Some(want)
                && s.replicas == Some(want))
            .then_some(())
        },
    )
    .await;
}

/// Every event with when it happened.
#[derive(Default)]
pub struct Events(pub std::sync::Mutex<Vec<(Instant, Event)>>);

impl Sink for Events {
    fn emit(&self, event: &Event) {
        if std::env::var_os("ROLLOUT_TEST_VERBOSE").is_some() {
            eprintln!("{}", serde_json::to_string(event).unwrap_or_default());
        }
        self.0
            .lock()
            .expect("events")
            .push((Instant::now(), event.clone()));
    }
}

impl Events {
    pub fn all(&self) -> Vec<(Instant, Event)> {
        self.0.lock().expect("events").clone()
    }

    /// (when, weight) of each weight change.
    pub fn weights(&self) -> Vec<(Instant, u8)> {
        self.all()
            .into_iter()
            .filter_map(|(t, e)| match e {
                Event::Weight { weight, .. } => Some((t, weight)),
                _ => None,
            })
            .collect()
    }
}

/// Options pointing the checks at the embedded ingress and its metrics.
pub fn options(tc: &TestCluster) -> Options {
    let mut o = Options::new().expect("options");
    if let Some(i) = tc.cluster.ingress() {
        o.ingress_url = Some(format!("http://{}", i.addr()));
        o.metrics_url = Some(format!("http://{}/metrics", i.metrics_addr()));
    }
    o
}

/// Writes `yaml` as a strategy file in the test's directory; returns its path.
pub fn strategy_file(tc: &TestCluster, name: &str, yaml: &str) -> String {
    let path = tc.dir.path().join(format!("{name}.yaml"));
    std::fs::write(&path, yaml).expect("write strategy");
    path.display().to_string()
}

pub fn request(strategy: &str, image: &str) -> Request {
    Request {
        strategy: strategy.into(),
        image: image.into(),
        app: Some("web".into()),
        ..Default::default()
    }
}

pub async fn run(tc: &TestCluster, req: &Request, events: &Arc<Events>) -> Outcome {
    let cluster = rollout::cluster::Cluster::new(tc.client.clone(), "default");
    rollout::engine::start::run(cluster, req, options(tc), events.clone())
        .await
        .expect("rollout starts")
}

/// Names of the Deployments, Services, Ingresses and HTTPRoutes in `default`, and the
/// Service `web`'s selector, the image of `web`, and whether a record or lease is left.
pub async fn leftovers(tc: &TestCluster) -> serde_json::Value {
    let c = &tc.client;
    let names = |items: Vec<serde_json::Value>| -> Vec<String> {
        let mut v: Vec<String> = items
            .iter()
            .filter_map(|o| o.pointer("/metadata/name")?.as_str().map(str::to_owned))
            .collect();
        v.sort();
        v
    };
    let deployments: Vec<Deployment> = Api::<Deployment>::namespaced(c.clone(), "default")
        .list(&Default::default())
        .await
        .expect("list")
        .items;
    let web = deployments
        .iter()
        .find(|d| d.metadata.name.as_deref() == Some("web"))
        .cloned();
    let services: Vec<Service> = Api::<Service>::namespaced(c.clone(), "default")
        .list(&Default::default())
        .await
        .expect("list")
        .items;
    let selector = services
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some("web"))
        .and_then(|s| s.spec.clone()?.selector);
    let ingresses: Vec<Ingress> = Api::<Ingress>::namespaced(c.clone(), "default")
        .list(&Default::default())
        .await
        .expect("list")
        .items;
    let leases: Vec<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(c.clone(), "default")
            .list(&Default::default())
            .await
            .expect("list")
            .items;
    let to_values = |v: Vec<serde_json::Value>| names(v);
    json!({
        "deployments": to_values(deployments.iter().map(|d| serde_json::to_value(d).expect("json")).collect()),
        "services": to_values(services.iter().map(|d| serde_json::to_value(d).expect("json")).collect()),
        "ingresses": to_values(ingresses.iter().map(|d| serde_json::to_value(d).expect("json")).collect()),
        "leases": to_values(leases.iter().map(|d| serde_json::to_value(d).expect("json")).collect()),
        "selector": selector,
        "image": web.as_ref().and_then(|d| d.spec.clone()?.template.spec?.containers.first()?.image.clone()),
        "record": web.as_ref().and_then(|d| d.metadata.annotations.clone()?.get("rollout.dev/state").cloned()),
    })
}

/// Pods left that are not the `web` Deployment's.
pub async fn stray_pods(tc: &TestCluster) -> Vec<String> {
    let pods: Vec<k8s_openapi::api::core::v1::Pod> = Api::namespaced(tc.client.clone(), "default")
        .list(&Default::default())
        .await
        .expect("list")
        .items;
    pods.iter()
        .filter(|p| {
            p.metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key("rollout.dev/role"))
        })
        .filter_map(|p| p.metadata.name.clone())
        .collect()
}

/// The rules of HTTPRoute `web`, if there is one.
pub async fn route_rules(tc: &TestCluster) -> Option<serde_json::Value> {
    let api: Api<kube::core::DynamicObject> = Api::namespaced_with(
        tc.client.clone(),
        "default",
        &rollout::cluster::api::http_route_resource(),
    );
    let r = api.get_opt("web").await.expect("get route")?;
    Some(r.data.pointer("/spec/rules")?.clone())
}

/// The rules `deploy_web` gives the HTTPRoute, with the defaults the API server fills in
/// (group, kind and weight of a backendRef), as they read back.
pub fn original_route_rules() -> serde_json::Value {
    json!([{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
            "backendRefs": [{"name": "web", "port": 80, "group": "", "kind": "Service", "weight": 1}]}])
}
