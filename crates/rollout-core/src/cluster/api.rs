//! The calls the engine makes, generic over the resource type (kube's `Api<K>` underneath), each
//! with its error said in the object's terms, transient failures retried with back-off, and
//! every wait bounded by a deadline. Waits follow watches (no polling sleeps): a wait
//! re-evaluates its condition on every change of the watched objects.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::core::ApiResource;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{Call, ClusterError, Verb};
use super::httproute::HttpRoute;

pub type Result<T, E = ClusterError> = std::result::Result<T, E>;

/// A namespaced kind the orchestrator reads or writes: a built-in kind from k8s-openapi or a
/// typed custom resource ([`HttpRoute`]).
pub trait Object:
    kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Serialize
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
}

impl<K> Object for K where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug
        + Send
        + Sync
        + 'static
{
}

/// The name the orchestrator's writes are recorded under in `managedFields`.
pub const FIELD_MANAGER: &str = "rollout";

fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    }
}

/// The plural name of `K`, as RBAC rules and messages name it.
pub fn plural<K: Object>() -> String {
    K::plural(&()).into_owned()
}

/// Asked before every write: why this process may no longer write, if it may not (a
/// rollout's Lease taken over or not renewed in time).
pub trait Fence: Send + Sync {
    fn refusal(&self) -> Option<String>;
}

/// One namespace of one cluster.
#[derive(Clone)]
pub struct Cluster {
    /// Checked before every write, when set ([`Cluster::fenced`]).
    fence: Option<std::sync::Arc<dyn Fence>>,
    /// Told how waits go, when set ([`Cluster::told`]).
    pub(super) progress: Option<super::wait::Progress>,
    pub client: kube::Client,
    pub namespace: String,
    /// The API server's address, for messages when it cannot be reached.
    pub server: String,
    /// The EndpointSlice version the server serves, asked once (see
    /// [`kube_util::endpoints::endpoint_slice_resource`]).
    pub(super) slices: std::sync::Arc<tokio::sync::OnceCell<ApiResource>>,
}

const ATTEMPTS: u32 = 5;

async fn retry<T, F, Fut>(mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut delay = Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        match f().await {
            Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                tracing::debug!(error = %crate::error::chain(&e), attempt, "retrying");
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
            fence: None,
            progress: None,
            client,
            namespace: namespace.into(),
            server: String::new(),
            slices: Default::default(),
        }
    }

    /// This cluster, telling `progress` what its waits wait for while they last.
    pub fn told(mut self, progress: super::wait::Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// This cluster, with every write refused once `fence` says so.
    pub fn fenced(mut self, fence: std::sync::Arc<dyn Fence>) -> Self {
        self.fence = Some(fence);
        self
    }

    /// Refuses a write when the fence says this process may no longer write.
    fn may_write<K: Object>(&self, verb: Verb, name: &str) -> Result<()> {
        match self.fence.as_ref().and_then(|f| f.refusal()) {
            Some(why) => Err(ClusterError::Fenced {
                call: self.call::<K>(verb, name),
                why,
            }),
            None => Ok(()),
        }
    }

    /// Names the API server in messages about reaching it.
    pub fn with_server(mut self, server: impl Into<String>) -> Self {
        self.server = server.into();
        self
    }

    pub(super) fn api<K: Object>(&self) -> Api<K> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub(super) fn call<K: Object>(&self, verb: Verb, name: &str) -> Call {
        Call::new(verb, &K::plural(&()), &self.namespace, name)
    }

    pub(super) fn error<K: Object>(&self, verb: Verb, name: &str, e: kube::Error) -> ClusterError {
        self.call::<K>(verb, name).error(e, &self.server)
    }

    /// An object, `None` when absent.
    pub async fn get_opt<K: Object>(&self, name: &str) -> Result<Option<K>> {
        let api = self.api::<K>();
        retry(|| async {
            api.get_opt(name)
                .await
                .map_err(|e| self.error::<K>(Verb::Get, name, e))
        })
        .await
    }

    /// An object that must exist.
    pub async fn get<K: Object>(&self, name: &str) -> Result<K> {
        self.get_opt::<K>(name)
            .await?
            .ok_or_else(|| ClusterError::NotFound {
                call: self.call::<K>(Verb::Get, name),
            })
    }

    pub async fn deployment(&self, name: &str) -> Result<Deployment> {
        self.get::<Deployment>(name).await
    }

    /// The objects of a kind, those matching a label selector when one is given.
    pub async fn list<K: Object>(&self, selector: Option<&str>) -> Result<Vec<K>> {
        let api = self.api::<K>();
        let lp = match selector {
            Some(s) => ListParams::default().labels(s),
            None => ListParams::default(),
        };
        retry(|| async {
            api.list(&lp)
                .await
                .map(|l| l.items)
                .map_err(|e| self.error::<K>(Verb::List, "", e))
        })
        .await
    }

    /// HTTPRoutes of the namespace; an API server without the Gateway API has none.
    pub async fn http_routes(&self) -> Result<Vec<HttpRoute>> {
        match self.list::<HttpRoute>(None).await {
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            other => other,
        }
    }

    /// Merge patch (`application/merge-patch+json`).
    pub async fn merge<K: Object>(&self, name: &str, patch: &Value) -> Result<K> {
        self.may_write::<K>(Verb::Patch, name)?;
        let api = self.api::<K>();
        let pp = patch_params();
        retry(|| async {
            api.patch(name, &pp, &Patch::Merge(patch))
                .await
                .map_err(|e| self.error::<K>(Verb::Patch, name, e))
        })
        .await
    }

    /// JSON patch (RFC 6902).
    pub async fn json_patch<K: Object>(&self, name: &str, patch: &json_patch::Patch) -> Result<K> {
        self.may_write::<K>(Verb::Patch, name)?;
        let api = self.api::<K>();
        let pp = patch_params();
        retry(|| async {
            api.patch(name, &pp, &Patch::<()>::Json(patch.clone()))
                .await
                .map_err(|e| self.error::<K>(Verb::Patch, name, e))
        })
        .await
    }

    /// Creates `object`; `None` when an object of that name exists already.
    pub async fn create<K: Object>(&self, object: &K) -> Result<Option<K>> {
        let api = self.api::<K>();
        let name = object.meta().name.clone().unwrap_or_default();
        self.may_write::<K>(Verb::Create, &name)?;
        let pp = PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PostParams::default()
        };
        retry(|| async {
            match api.create(&pp, object).await {
                Ok(created) => Ok(Some(created)),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(None),
                Err(e) => Err(self.error::<K>(Verb::Create, &name, e)),
            }
        })
        .await
    }

    /// Creates `object` for the rollout `rollout`, or, when the rollout made it already (a
    /// resumed run), merges it over what is there. An object of that name that is not the
    /// rollout's is never touched ([`ClusterError::Foreign`]). Returns the object's uid.
    pub async fn create_owned<K: Object>(&self, object: &K, rollout: &str) -> Result<String> {
        if let Some(created) = self.create(object).await? {
            return Ok(created.meta().uid.clone().unwrap_or_default());
        }
        let name = object.meta().name.clone().unwrap_or_default();
        let existing = self.get::<K>(&name).await?;
        if !crate::labels::made_by(existing.meta(), rollout) {
            return Err(ClusterError::Foreign {
                call: self.call::<K>(Verb::Create, &name),
                owner: crate::labels::owner_of(existing.meta()),
            });
        }
        let mut patch = serde_json::to_value(object).map_err(|e| ClusterError::Unexpected {
            call: self.call::<K>(Verb::Patch, &name),
            problem: format!("cannot encode the object: {e}"),
        })?;
        if let Some(o) = patch.as_object_mut() {
            o.remove("apiVersion");
            o.remove("kind");
        }
        // Only if it is still the object read (a precondition on its uid).
        patch["metadata"]["uid"] = serde_json::json!(existing.meta().uid);
        self.merge::<K>(&name, &patch).await?;
        Ok(existing.meta().uid.clone().unwrap_or_default())
    }

    /// Deletes an object; absent is fine. With `uid`, only the object with that uid (a
    /// precondition: a namesake made since is left alone). Foreground for Deployments, so
    /// their pods go first.
    pub async fn delete<K: Object>(&self, name: &str, uid: Option<&str>) -> Result<()> {
        self.may_write::<K>(Verb::Delete, name)?;
        let mut dp = if K::kind(&()) == "Deployment" {
            DeleteParams::foreground()
        } else {
            DeleteParams::default()
        };
        if let Some(uid) = uid {
            dp.preconditions = Some(Preconditions {
                uid: Some(uid.to_owned()),
                resource_version: None,
            });
        }
        let api = self.api::<K>();
        retry(|| async {
            match api.delete(name, &dp).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                Err(e) => Err(self.error::<K>(Verb::Delete, name, e)),
            }
        })
        .await
    }

    /// The ReplicaSets a Deployment owns.
    pub async fn replica_sets_of(&self, d: &Deployment) -> Result<Vec<ReplicaSet>> {
        let uid = d.metadata.uid.clone().unwrap_or_default();
        Ok(self
            .list::<ReplicaSet>(None)
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
        let pods: Vec<Pod> = self.list(Some(&selector)).await?;
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
