//! The calls the engine makes, each with its error said in the object's terms, transient
//! failures retried with back-off, and every wait bounded by a deadline. Waits follow watches
//! (no polling sleeps): a wait re-evaluates its condition on every change of the watched
//! objects.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{Call, ClusterError};

pub type Result<T> = std::result::Result<T, ClusterError>;

/// The HTTPRoute resource (a CRD on real clusters).
pub fn http_route_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute"),
        "httproutes",
    )
}

/// One namespace of one cluster.
#[derive(Clone)]
pub struct Cluster {
    pub client: kube::Client,
    pub namespace: String,
    /// The EndpointSlice version the server serves, asked once (see
    /// [`super::endpoints::endpoint_slice_resource`]).
    pub(super) slices: std::sync::Arc<tokio::sync::OnceCell<ApiResource>>,
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
            slices: Default::default(),
        }
    }

    pub(super) fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn routes(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.namespace, &http_route_resource())
    }

    pub(super) fn call<'a>(&'a self, verb: &'a str, resource: &'a str, name: &'a str) -> Call<'a> {
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

    /// The ReplicaSets a Deployment owns.
    pub async fn replica_sets_of(&self, d: &Deployment) -> Result<Vec<ReplicaSet>> {
        let uid = d.metadata.uid.clone().unwrap_or_default();
        Ok(self
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
            .collect())
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
