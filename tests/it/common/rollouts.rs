//! Helpers for the orchestrator's integration tests: an app (Deployment + Service + Ingress
//! or HTTPRoute) on the embedded cluster, a rollout run against it, and what was left.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, PostParams};
use rollout_core::engine::start::Request;
use rollout_core::engine::{Options, RunEnd};
use rollout_core::report::{Event, Sink};
use serde_json::json;

use super::TestCluster;

pub const HOST: &str = "web.test";

#[derive(Clone, Copy, PartialEq)]
pub enum Front {
    Nothing,
    Nginx,
    Route,
}

/// `web`: a Deployment of `replicas` pods of `image`, its Service, and the front asked for, in
/// `default` with host [`HOST`].
pub async fn deploy_web(tc: &TestCluster, image: &str, replicas: i32, front: Front) {
    deploy_web_in(&tc.client, "default", HOST, image, replicas, front).await;
}

/// [`deploy_web`] in namespace `ns`, with `host` on the Ingress or HTTPRoute.
pub async fn deploy_web_in(
    c: &kube::Client,
    ns: &str,
    host: &str,
    image: &str,
    replicas: i32,
    front: Front,
) {
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
    Api::<Deployment>::namespaced(c.clone(), ns)
        .create(&PostParams::default(), &d)
        .await
        .expect("create deployment");
    Api::<Service>::namespaced(c.clone(), ns)
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
                "spec": {"ingressClassName": "nginx", "rules": [{"host": host, "http": {"paths": [
                    {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
            }))
            .expect("ingress");
            Api::<Ingress>::namespaced(c.clone(), ns)
                .create(&PostParams::default(), &i)
                .await
                .expect("create ingress");
        }
        Front::Route => {
            let api: Api<kube::core::DynamicObject> = Api::namespaced_with(
                c.clone(),
                ns,
                &kube::core::ApiResource::erase::<rollout_core::cluster::httproute::HttpRoute>(&()),
            );
            let r: kube::core::DynamicObject = serde_json::from_value(json!({
                "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                "metadata": {"name": "web"},
                "spec": {"hostnames": [host], "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                          "backendRefs": [{"name": "web", "port": 80}]}]}
            }))
            .expect("route");
            api.create(&PostParams::default(), &r)
                .await
                .expect("create route");
        }
    }
    wait_rolled_out_in(c, ns, "web").await;
}

pub async fn wait_rolled_out_in(c: &kube::Client, ns: &str, name: &str) {
    let api: Api<Deployment> = Api::namespaced(c.clone(), ns);
    super::eventually(
        &format!("{name} rolled out"),
        Duration::from_secs(60),
        || async {
            let d = api.get(name).await.ok()?;
            rollout_core::engine::rolled_out(&d).ok()?.then_some(())
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

/// Options for a rollout on the embedded cluster: the defaults. The checks find the ingress
/// in the Ingress's status and the metrics through its controller pods, as a user's
/// `rollout` with no flags does.
pub fn options(_tc: &TestCluster) -> Options {
    Options::new().expect("options")
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

pub async fn run(tc: &TestCluster, req: &Request, events: &Arc<Events>) -> RunEnd {
    let cluster = rollout_core::cluster::Cluster::new(tc.client.clone(), "default");
    rollout_core::engine::start::run(cluster, req, options(tc), events.clone())
        .await
        .expect("rollout starts")
}

/// The checks the rollout tests' strategies use: probes in the background, `smoke` through
/// the app's front and `smoke-new` at the new version through its Service (the API server's
/// service proxy).
pub fn checks(interval: &str, readiness_deadline: &str) -> String {
    format!(
        r#"
analysis:
  interval: {interval}
  background: [probes]
  checks:
    probes:
      probe: {{ readinessDeadline: {readiness_deadline} }}
    smoke:
      http: {{ path: /, requests: 20 }}
      count: 2
      successRate: ">= 95%"
    smoke-new:
      http: {{ path: /, version: new, via: service, requests: 20 }}
      count: 2
      successRate: ">= 95%"
"#
    )
}

/// What a rollout left in `default`: see [`leftovers_in`].
pub async fn leftovers(tc: &TestCluster) -> serde_json::Value {
    leftovers_in(&tc.client, "default").await
}

/// Names of the Deployments, Services, Ingresses and Leases in `ns`, the Service `web`'s
/// selector, the image of `web`, and whether a rollout record is left.
pub async fn leftovers_in(c: &kube::Client, ns: &str) -> serde_json::Value {
    async fn names<K>(c: &kube::Client, ns: &str) -> Vec<String>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
        K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let mut v: Vec<String> = Api::<K>::namespaced(c.clone(), ns)
            .list(&Default::default())
            .await
            .expect("list")
            .items
            .iter()
            .filter_map(|o| o.meta().name.clone())
            .collect();
        v.sort();
        v
    }
    let web = Api::<Deployment>::namespaced(c.clone(), ns)
        .get_opt("web")
        .await
        .expect("get web");
    let selector = Api::<Service>::namespaced(c.clone(), ns)
        .get_opt("web")
        .await
        .expect("get service")
        .and_then(|s| s.spec?.selector);
    json!({
        "deployments": names::<Deployment>(c, ns).await,
        "services": names::<Service>(c, ns).await,
        "ingresses": names::<Ingress>(c, ns).await,
        "leases": names::<k8s_openapi::api::coordination::v1::Lease>(c, ns).await,
        "selector": selector,
        "image": web.as_ref().and_then(|d| d.spec.clone()?.template.spec?.containers.first()?.image.clone()),
        "record": web.as_ref().and_then(|d| d.metadata.annotations.clone()?.get("rollout.dev/state").cloned()),
    })
}

/// Pods left that are not the `web` Deployment's.
pub async fn stray_pods(tc: &TestCluster) -> Vec<String> {
    stray_pods_in(&tc.client, "default").await
}

pub async fn stray_pods_in(c: &kube::Client, ns: &str) -> Vec<String> {
    let pods: Vec<k8s_openapi::api::core::v1::Pod> = Api::namespaced(c.clone(), ns)
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
        &kube::core::ApiResource::erase::<rollout_core::cluster::httproute::HttpRoute>(&()),
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
