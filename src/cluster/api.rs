//! The calls the engine makes, each with its error said in the object's terms, transient
//! failures retried with back-off, and every wait bounded by a deadline. Waits follow watches
//! (no polling sleeps): a wait re-evaluates its condition on every change of the watched
//! objects.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::time::Instant;

use super::error::{Call, ClusterError};

pub type Result<T> = std::result::Result<T, ClusterError>;

/// The HTTPRoute resource (a CRD on real clusters).
pub fn http_route_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute"),
        "httproutes",
    )
}

type Wakeups = futures::stream::BoxStream<'static, Result<()>>;

/// The wake-ups of one wait, merged from its watches, and the wait's deadline.
struct Changes {
    streams: futures::stream::SelectAll<Wakeups>,
    stop: Instant,
    what: String,
    deadline: Duration,
}

impl Changes {
    fn new(what: &str, deadline: Duration) -> Self {
        Changes {
            streams: futures::stream::SelectAll::new(),
            stop: Instant::now() + deadline,
            what: what.to_owned(),
            deadline,
        }
    }

    fn watch(&mut self, stream: Wakeups) {
        self.streams.push(stream);
    }

    /// Returns at the next change; `Err` at the deadline or when a watch is refused.
    async fn next(&mut self) -> Result<()> {
        match tokio::time::timeout_at(self.stop, self.streams.next()).await {
            Err(_) => Err(ClusterError::Timeout {
                what: self.what.clone(),
                after: self.deadline,
            }),
            Ok(Some(Err(e))) => Err(e),
            Ok(_) => Ok(()),
        }
    }
}

/// One namespace of one cluster.
#[derive(Clone)]
pub struct Cluster {
    pub client: kube::Client,
    pub namespace: String,
}

const ATTEMPTS: u32 = 5;

async fn retry<T, F, Fut>(mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut delay = Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        match f().await {
            Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                tracing::warn!(error = %e, attempt, "retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(3));
                attempt += 1;
            }
            other => return other,
        }
    }
}

impl Cluster {
    pub fn new(client: kube::Client, namespace: impl Into<String>) -> Self {
        Cluster {
            client,
            namespace: namespace.into(),
        }
    }

    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn routes(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.namespace, &http_route_resource())
    }

    fn call<'a>(&'a self, verb: &'a str, resource: &'a str, name: &'a str) -> Call<'a> {
        Call {
            verb,
            resource,
            namespace: &self.namespace,
            name,
        }
    }

    /// A resource by plural name, `None` when absent.
    pub async fn get_opt<K>(&self, resource: &str, name: &str) -> Result<Option<K>>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
        <K as kube::Resource>::DynamicType: Default,
    {
        let api = self.api::<K>();
        retry(|| async {
            api.get_opt(name)
                .await
                .map_err(|e| self.call("get", resource, name).error(e))
        })
        .await
    }

    pub async fn deployment(&self, name: &str) -> Result<Deployment> {
        self.get_opt::<Deployment>("deployments", name)
            .await?
            .ok_or_else(|| ClusterError::Api {
                verb: "get".into(),
                resource: "deployments".into(),
                name: name.into(),
                namespace: self.namespace.clone(),
                code: 404,
                message: "not found".into(),
            })
    }

    pub async fn list<K>(&self, resource: &str, selector: Option<&str>) -> Result<Vec<K>>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
        <K as kube::Resource>::DynamicType: Default,
    {
        let api = self.api::<K>();
        let lp = match selector {
            Some(s) => ListParams::default().labels(s),
            None => ListParams::default(),
        };
        retry(|| async {
            api.list(&lp)
                .await
                .map(|l| l.items)
                .map_err(|e| self.call("list", resource, "").error(e))
        })
        .await
    }

    /// HTTPRoutes of the namespace as JSON; an API server without the Gateway API has none.
    pub async fn http_routes(&self) -> Result<Vec<Value>> {
        match self.routes().list(&ListParams::default()).await {
            Ok(l) => Ok(l
                .items
                .into_iter()
                .filter_map(|o| serde_json::to_value(o).ok())
                .collect()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(Vec::new()),
            Err(e) => Err(self.call("list", "httproutes", "").error(e)),
        }
    }

    /// Merge patch (`application/merge-patch+json`).
    pub async fn merge(&self, resource: &str, name: &str, patch: &Value) -> Result<()> {
        let pp = PatchParams::default();
        retry(|| async {
            let r = match resource {
                "deployments" => self
                    .api::<Deployment>()
                    .patch(name, &pp, &Patch::Merge(patch))
                    .await
                    .map(|_| ()),
                "services" => self
                    .api::<Service>()
                    .patch(name, &pp, &Patch::Merge(patch))
                    .await
                    .map(|_| ()),
                "ingresses" => self
                    .api::<Ingress>()
                    .patch(name, &pp, &Patch::Merge(patch))
                    .await
                    .map(|_| ()),
                "httproutes" => self
                    .routes()
                    .patch(name, &pp, &Patch::Merge(patch))
                    .await
                    .map(|_| ()),
                other => {
                    return Err(ClusterError::Other(format!(
                        "cannot patch resource {other}"
                    )));
                }
            };
            r.map_err(|e| self.call("patch", resource, name).error(e))
        })
        .await
    }

    /// JSON patch (RFC 6902).
    pub async fn json_patch(&self, name: &str, ops: Value) -> Result<()> {
        let patch: json_patch::Patch = serde_json::from_value(ops)
            .map_err(|e| ClusterError::Other(format!("bad JSON patch: {e}")))?;
        let pp = PatchParams::default();
        retry(|| async {
            self.api::<Deployment>()
                .patch(name, &pp, &Patch::<()>::Json(patch.clone()))
                .await
                .map(|_| ())
                .map_err(|e| self.call("patch", "deployments", name).error(e))
        })
        .await
    }

    /// Creates `object` (Deployment, Service or Ingress as JSON); when it already exists (a
    /// resumed rollout), merges it over the existing one.
    pub async fn create_or_merge(&self, resource: &str, object: &Value) -> Result<()> {
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let pp = PostParams::default();
        let created = retry(|| async {
            let r = match resource {
                "deployments" => create::<Deployment>(self.api(), &pp, object).await,
                "services" => create::<Service>(self.api(), &pp, object).await,
                "ingresses" => create::<Ingress>(self.api(), &pp, object).await,
                other => {
                    return Err(ClusterError::Other(format!(
                        "cannot create resource {other}"
                    )));
                }
            };
            match r {
                Ok(()) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(self.call("create", resource, &name).error(e)),
            }
        })
        .await?;
        if !created {
            let mut patch = object.clone();
            if let Some(o) = patch.as_object_mut() {
                o.remove("apiVersion");
                o.remove("kind");
            }
            self.merge(resource, &name, &patch).await?;
        }
        Ok(())
    }

    /// Deletes an object; absent is fine. Foreground for Deployments, so their pods go
    /// first.
    pub async fn delete(&self, resource: &str, name: &str) -> Result<()> {
        let dp = if resource == "deployments" {
            DeleteParams::foreground()
        } else {
            DeleteParams::default()
        };
        retry(|| async {
            let r = match resource {
                "deployments" => self.api::<Deployment>().delete(name, &dp).await.map(|_| ()),
                "services" => self.api::<Service>().delete(name, &dp).await.map(|_| ()),
                "ingresses" => self.api::<Ingress>().delete(name, &dp).await.map(|_| ()),
                "leases" => self
                    .api::<k8s_openapi::api::coordination::v1::Lease>()
                    .delete(name, &dp)
                    .await
                    .map(|_| ()),
                other => {
                    return Err(ClusterError::Other(format!(
                        "cannot delete resource {other}"
                    )));
                }
            };
            match r {
                Ok(()) => Ok(()),
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                Err(e) => Err(self.call("delete", resource, name).error(e)),
            }
        })
        .await
    }

    /// The `pod-template-hash` of the Deployment's current ReplicaSet (the one whose
    /// revision is the Deployment's), once the controller has made it.
    pub async fn current_hash(&self, deployment: &str, deadline: Duration) -> Result<String> {
        let what = format!("ReplicaSet of Deployment {deployment:?} for its current template");
        self.wait_rs(deployment, deadline, &what, |d, sets| {
            let revision = annotation(&d.metadata, "deployment.kubernetes.io/revision")?;
            let generation_seen = d
                .status
                .as_ref()
                .and_then(|s| s.observed_generation)
                .unwrap_or(0)
                >= d.metadata.generation.unwrap_or(0);
            if !generation_seen {
                return None;
            }
            sets.iter()
                .find(|rs| {
                    annotation(&rs.metadata, "deployment.kubernetes.io/revision") == Some(revision)
                })
                .and_then(|rs| {
                    rs.metadata
                        .labels
                        .as_ref()?
                        .get("pod-template-hash")
                        .cloned()
                })
        })
        .await
    }

    /// Waits until `f` holds for the Deployment and its ReplicaSets, re-checking on every
    /// change of either (the controller writes the Deployment's revision and
    /// `observedGeneration` apart from the ReplicaSets).
    async fn wait_rs<T>(
        &self,
        deployment: &str,
        deadline: Duration,
        what: &str,
        mut f: impl FnMut(&Deployment, &[ReplicaSet]) -> Option<T>,
    ) -> Result<T> {
        let mut changes = Changes::new(what, deadline);
        changes.watch(self.deployment_watch(deployment));
        changes.watch(self.watch::<ReplicaSet>("replicasets", watcher::Config::default()));
        loop {
            let d = self.deployment(deployment).await?;
            let uid = d.metadata.uid.clone().unwrap_or_default();
            let sets: Vec<ReplicaSet> = self
                .list::<ReplicaSet>("replicasets", None)
                .await?
                .into_iter()
                .filter(|rs| {
                    rs.metadata
                        .owner_references
                        .iter()
                        .flatten()
                        .any(|o| o.uid == uid)
                })
                .collect();
            if let Some(t) = f(&d, &sets) {
                return Ok(t);
            }
            changes.next().await?;
        }
    }

    /// Changes of one kind of object in the namespace, as wake-ups for a wait. A watch the
    /// identity may not make ends the wait with that "forbidden" error rather than spinning.
    fn watch<K>(&self, resource: &'static str, config: watcher::Config) -> Wakeups
    where
        K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
        K: Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
    {
        let namespace = self.namespace.clone();
        watcher(self.api::<K>(), config)
            .default_backoff()
            .map(move |event| match event {
                Ok(_) => Ok(()),
                Err(e) => {
                    let call = Call {
                        verb: "watch",
                        resource,
                        namespace: &namespace,
                        name: "",
                    };
                    let e = match e {
                        watcher::Error::InitialListFailed(e)
                        | watcher::Error::WatchStartFailed(e)
                        | watcher::Error::WatchFailed(e) => call.error(e),
                        watcher::Error::WatchError(status) => call.error(kube::Error::Api(status)),
                        other => ClusterError::Other(other.to_string()),
                    };
                    // Anything but a refusal is worth another look: wake up and re-read.
                    if e.is_forbidden() { Err(e) } else { Ok(()) }
                }
            })
            .boxed()
    }

    fn deployment_watch(&self, name: &str) -> Wakeups {
        self.watch::<Deployment>(
            "deployments",
            watcher::Config::default().fields(&format!("metadata.name={name}")),
        )
    }

    /// Waits until `done` holds for the Deployment, re-checking on every change of it or of
    /// its pods. `done` returns `Err` to stop the wait with a failure (a crash-looping pod).
    pub async fn wait_deployment<T>(
        &self,
        name: &str,
        deadline: Duration,
        what: &str,
        done: impl FnMut(&Deployment, &[Pod]) -> std::result::Result<Option<T>, String>,
    ) -> Result<T> {
        self.wait(name, deadline, what, true, done).await
    }

    /// Like [`Cluster::wait_deployment`] for a condition on the Deployment alone (an
    /// annotation, its status): neither watches nor lists pods.
    pub async fn wait_deployment_alone<T>(
        &self,
        name: &str,
        deadline: Duration,
        what: &str,
        mut done: impl FnMut(&Deployment) -> std::result::Result<Option<T>, String>,
    ) -> Result<T> {
        self.wait(name, deadline, what, false, |d, _| done(d)).await
    }

    async fn wait<T>(
        &self,
        name: &str,
        deadline: Duration,
        what: &str,
        with_pods: bool,
        mut done: impl FnMut(&Deployment, &[Pod]) -> std::result::Result<Option<T>, String>,
    ) -> Result<T> {
        let mut changes = Changes::new(what, deadline);
        changes.watch(self.deployment_watch(name));
        if with_pods {
            changes.watch(self.watch::<Pod>("pods", watcher::Config::default()));
        }
        loop {
            let d = self.deployment(name).await?;
            let pods = if with_pods {
                self.pods_of(&d).await?
            } else {
                Vec::new()
            };
            match done(&d, &pods) {
                Ok(Some(t)) => return Ok(t),
                Ok(None) => {}
                Err(why) => return Err(ClusterError::Other(why)),
            }
            changes.next().await?;
        }
    }

    /// The pods of a Deployment: those its selector matches, owned by one of its
    /// ReplicaSets (not the pods of another Deployment sharing the labels).
    pub async fn pods_of(&self, d: &Deployment) -> Result<Vec<Pod>> {
        let selector = selector_query(d);
        let name = d.metadata.name.clone().unwrap_or_default();
        let pods: Vec<Pod> = self.list("pods", Some(&selector)).await?;
        Ok(pods
            .into_iter()
            .filter(|p| {
                p.metadata.owner_references.iter().flatten().any(|o| {
                    o.kind == "ReplicaSet"
                        && o.name
                            .strip_prefix(&name)
                            .is_some_and(|rest| rest.starts_with('-') && !rest[1..].contains('-'))
                })
            })
            .collect())
    }

    /// Waits until the Deployment `name` is gone (a foreground deletion keeps it until the
    /// garbage collector has removed its ReplicaSets and pods).
    pub async fn wait_deployment_gone(&self, name: &str, deadline: Duration) -> Result<()> {
        let mut changes = Changes::new(&format!("Deployment {name:?} to be deleted"), deadline);
        changes.watch(self.deployment_watch(name));
        while self
            .get_opt::<Deployment>("deployments", name)
            .await?
            .is_some()
        {
            changes.next().await?;
        }
        Ok(())
    }

    /// Waits until no pod matches `selector`.
    pub async fn wait_no_pods(&self, selector: &str, deadline: Duration, what: &str) -> Result<()> {
        let mut changes = Changes::new(what, deadline);
        changes.watch(self.watch::<Pod>("pods", watcher::Config::default().labels(selector)));
        while !self.list::<Pod>("pods", Some(selector)).await?.is_empty() {
            changes.next().await?;
        }
        Ok(())
    }
}

async fn create<K>(
    api: Api<K>,
    pp: &PostParams,
    object: &Value,
) -> std::result::Result<(), kube::Error>
where
    K: kube::Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let typed: K = serde_json::from_value(object.clone()).map_err(kube::Error::SerdeError)?;
    api.create(pp, &typed).await.map(|_| ())
}

pub fn annotation<'a>(
    meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// The Deployment's `matchLabels` as a label-selector query.
pub fn selector_query(d: &Deployment) -> String {
    d.spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.as_ref())
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}
