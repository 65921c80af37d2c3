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

/// How [`retry`] retries a call that failed: exponential back-off with jitter, at least as
/// long as the server's `Retry-After`, within a bound on the number of attempts and on the
/// total time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RetryPolicy {
    /// The back-off before the first retry; it doubles with each retry after.
    pub first: Duration,
    /// The longest back-off between two attempts (before jitter).
    pub cap: Duration,
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// No retry starts later than this after the first attempt: a call gives up rather
    /// than wait past it, whatever the server asks.
    pub budget: Duration,
}

impl RetryPolicy {
    /// The orchestrator's: 8 attempts within 30 seconds, back-off from 100ms to 3s. Under
    /// one failure in ten, all eight fail once in 10^8 calls; a server that refuses for
    /// longer is down, and the engine's own rollback takes over.
    pub const DEFAULT: RetryPolicy = RetryPolicy {
        first: Duration::from_millis(100),
        cap: Duration::from_secs(3),
        attempts: 8,
        budget: Duration::from_secs(30),
    };

    /// The wait before retry number `retry` (1 for the first): the exponential back-off
    /// scaled by `jitter` (in [0, 1)) into its upper half — so that clients failed by the
    /// same fault do not retry in step — and never shorter than the server's `retry_after`.
    pub fn delay(&self, retry: u32, jitter: f64, retry_after: Option<Duration>) -> Duration {
        let exp = 2u32.saturating_pow(retry.saturating_sub(1).min(16));
        let backoff = self.first.saturating_mul(exp).min(self.cap);
        let jittered = backoff.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
        retry_after.map_or(jittered, |ra| jittered.max(ra))
    }
}

/// A failed attempt of a call, as the call itself judged it.
#[derive(Debug)]
pub(crate) enum Failed {
    /// Worth another attempt: the server or the connection had a passing problem, or the
    /// write conflicted where re-applying it is correct.
    Retry(ClusterError),
    /// Final.
    Stop(ClusterError),
}

impl Failed {
    /// Transient errors ([`ClusterError::is_transient`]) are retried, others are final.
    pub fn judged(e: ClusterError) -> Failed {
        if e.is_transient() {
            Failed::Retry(e)
        } else {
            Failed::Stop(e)
        }
    }
}

impl From<ClusterError> for Failed {
    fn from(e: ClusterError) -> Self {
        Failed::judged(e)
    }
}

/// What the server asked the client to wait, from the Status's `details.retryAfterSeconds`
/// (kube's `Error::Api` keeps the Status, not the response's headers; a Kubernetes server
/// that sends `Retry-After` puts the same number there).
pub(crate) fn retry_after(e: &ClusterError) -> Option<Duration> {
    let ClusterError::Api { source, .. } = e else {
        return None;
    };
    match source.as_ref() {
        kube::Error::Api(s) => s
            .details
            .as_ref()
            .map(|d| d.retry_after_seconds)
            .filter(|s| *s > 0)
            .map(|s| Duration::from_secs(u64::from(s))),
        _ => None,
    }
}

/// Whether the server answered 409 Conflict (not AlreadyExists, which a create's caller
/// reads as "exists").
pub(crate) fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409 && s.reason != "AlreadyExists")
}

/// Runs `f` until it succeeds or fails for good, under [`RetryPolicy::DEFAULT`].
pub(super) async fn retry<T, F, Fut>(f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failed>>,
{
    retry_with(RetryPolicy::DEFAULT, f).await
}

/// Runs `f` until it succeeds, fails for good ([`Failed::Stop`]), runs out of attempts, or
/// would have to wait past the policy's budget; the last error is returned then.
pub(crate) async fn retry_with<T, F, Fut>(policy: RetryPolicy, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failed>>,
{
    let began = tokio::time::Instant::now();
    let mut attempt = 1;
    loop {
        let e = match f().await {
            Ok(t) => return Ok(t),
            Err(Failed::Stop(e)) => return Err(e),
            Err(Failed::Retry(e)) => e,
        };
        if attempt >= policy.attempts {
            return Err(e);
        }
        let wait = policy.delay(attempt, rand::random::<f64>(), retry_after(&e));
        if began.elapsed() + wait > policy.budget {
            tracing::debug!(error = %crate::error::chain(&e), attempt, "not retrying: past the retry budget");
            return Err(e);
        }
        tracing::debug!(error = %crate::error::chain(&e), attempt, wait_ms = wait.as_millis() as u64, "retrying");
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

impl Cluster {
    /// [`retry`], saying at least every [`super::wait::REMIND_EVERY`] while the API server
    /// has not answered `call` (a stopped or overloaded server holds a request up to
    /// `--api-timeout`): a run never waits on the server in silence.
    pub(super) async fn retry<T, F, Fut>(&self, call: Call, f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failed>>,
    {
        let attempts = retry(f);
        let Some(progress) = self.progress.clone() else {
            return attempts.await;
        };
        tokio::pin!(attempts);
        let began = tokio::time::Instant::now();
        loop {
            match tokio::time::timeout(super::wait::REMIND_EVERY, &mut attempts).await {
                Ok(r) => return r,
                Err(_) => progress(
                    &format!("the API server at {} to answer: {call}", self.server),
                    began.elapsed(),
                ),
            }
        }
    }

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

    /// This cluster, its waits saying nothing: for a wait nothing is blocked on (a watch for
    /// `rollout abort` beside the run).
    pub fn untold(mut self) -> Self {
        self.progress = None;
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
        self.retry(self.call::<K>(Verb::Get, name), || async {
            api.get_opt(name)
                .await
                .map_err(|e| Failed::judged(self.error::<K>(Verb::Get, name, e)))
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
        self.retry(self.call::<K>(Verb::List, ""), || async {
            api.list(&lp)
                .await
                .map(|l| l.items)
                .map_err(|e| Failed::judged(self.error::<K>(Verb::List, "", e)))
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
    ///
    /// A 409 Conflict is retried when the patch has no precondition: it says what the object
    /// must become, whatever it was, so applying it again is correct. A patch that carries
    /// `metadata.resourceVersion` is a conditional write (the Lease's): its conflict means
    /// someone else wrote the object, and is the caller's answer. With `metadata.uid`, the
    /// conflict is retried only while the object still has that uid.
    pub async fn merge<K: Object>(&self, name: &str, patch: &Value) -> Result<K> {
        self.may_write::<K>(Verb::Patch, name)?;
        let api = self.api::<K>();
        let pp = patch_params();
        let versioned = !patch["metadata"]["resourceVersion"].is_null();
        let uid = patch["metadata"]["uid"].as_str();
        self.retry(self.call::<K>(Verb::Patch, name), || async {
            match api.patch(name, &pp, &Patch::Merge(patch)).await {
                Ok(k) => Ok(k),
                Err(e) if is_conflict(&e) && !versioned => {
                    let e = self.error::<K>(Verb::Patch, name, e);
                    Err(self.conflict_retry::<K>(name, uid, e).await)
                }
                Err(e) => Err(Failed::judged(self.error::<K>(Verb::Patch, name, e))),
            }
        })
        .await
    }

    /// A conflict on a write that can be applied again: retried, unless `uid` is given and
    /// the object is gone or is now another one (the write's precondition fails for good).
    async fn conflict_retry<K: Object>(
        &self,
        name: &str,
        uid: Option<&str>,
        conflict: ClusterError,
    ) -> Failed {
        let Some(uid) = uid else {
            return Failed::Retry(conflict);
        };
        match self.api::<K>().get_opt(name).await {
            Ok(Some(o)) if o.meta().uid.as_deref() == Some(uid) => Failed::Retry(conflict),
            Ok(_) => Failed::Stop(conflict),
            // The re-read failed too: another attempt will tell.
            Err(_) => Failed::Retry(conflict),
        }
    }

    /// JSON patch (RFC 6902). A 409 Conflict is retried unless the patch tests something
    /// (a `test` operation makes it conditional on what it read).
    pub async fn json_patch<K: Object>(&self, name: &str, patch: &json_patch::Patch) -> Result<K> {
        self.may_write::<K>(Verb::Patch, name)?;
        let api = self.api::<K>();
        let pp = patch_params();
        let conditional = patch
            .0
            .iter()
            .any(|op| matches!(op, json_patch::PatchOperation::Test(_)));
        self.retry(self.call::<K>(Verb::Patch, name), || async {
            match api
                .patch(name, &pp, &Patch::<()>::Json(patch.clone()))
                .await
            {
                Ok(k) => Ok(k),
                Err(e) if is_conflict(&e) && !conditional => {
                    Err(Failed::Retry(self.error::<K>(Verb::Patch, name, e)))
                }
                Err(e) => Err(Failed::judged(self.error::<K>(Verb::Patch, name, e))),
            }
        })
        .await
    }

    /// Creates `object`; `None` when an object of that name exists already (409
    /// AlreadyExists — also when an earlier attempt made it and its answer was lost). Any
    /// other 409 made nothing, and is retried.
    pub async fn create<K: Object>(&self, object: &K) -> Result<Option<K>> {
        let api = self.api::<K>();
        let name = object.meta().name.clone().unwrap_or_default();
        self.may_write::<K>(Verb::Create, &name)?;
        let pp = PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PostParams::default()
        };
        self.retry(self.call::<K>(Verb::Create, &name), || async {
            match api.create(&pp, object).await {
                Ok(created) => Ok(Some(created)),
                Err(kube::Error::Api(s)) if s.code == 409 && s.reason == "AlreadyExists" => {
                    Ok(None)
                }
                Err(e) if is_conflict(&e) => {
                    Err(Failed::Retry(self.error::<K>(Verb::Create, &name, e)))
                }
                Err(e) => Err(Failed::judged(self.error::<K>(Verb::Create, &name, e))),
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
    /// precondition: a namesake made since is left alone, and its conflict returned).
    /// Foreground for Deployments, so their pods go first. A 409 Conflict while the object
    /// is still the one meant is retried.
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
        self.retry(self.call::<K>(Verb::Delete, name), || async {
            match api.delete(name, &dp).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                Err(e) if is_conflict(&e) => {
                    let e = self.error::<K>(Verb::Delete, name, e);
                    match (uid, self.api::<K>().get_opt(name).await) {
                        // Gone since: what the delete wanted.
                        (_, Ok(None)) => Ok(()),
                        // A namesake made since: left alone.
                        (Some(uid), Ok(Some(o))) if o.meta().uid.as_deref() != Some(uid) => {
                            Err(Failed::Stop(e))
                        }
                        _ => Err(Failed::Retry(e)),
                    }
                }
                Err(e) => Err(Failed::judged(self.error::<K>(Verb::Delete, name, e))),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// An API error as kube gives it: `code`, `reason`, and the Status's retryAfterSeconds.
    fn api_error(code: u16, reason: &str, retry_after: u32) -> ClusterError {
        let status: kube::core::Status = serde_json::from_value(serde_json::json!({
            "status": "Failure", "code": code, "reason": reason, "message": "injected",
            "details": {"retryAfterSeconds": retry_after},
        }))
        .expect("a Status");
        ClusterError::Api {
            call: Call::new(Verb::Patch, "deployments", "shop", "web"),
            source: Box::new(kube::Error::Api(Box::new(status))),
        }
    }

    /// Small numbers, so the tests take milliseconds.
    const QUICK: RetryPolicy = RetryPolicy {
        first: Duration::from_millis(1),
        cap: Duration::from_millis(4),
        attempts: 6,
        budget: Duration::from_secs(5),
    };

    /// Runs a fake call that fails with `errors` in turn, then succeeds; returns the result
    /// and how many attempts were made.
    async fn fake(policy: RetryPolicy, errors: Vec<Failed>) -> (Result<u32>, u32) {
        let attempts = AtomicU32::new(0);
        let errors = std::sync::Mutex::new(errors.into_iter());
        let result = retry_with(policy, || async {
            let n = attempts.fetch_add(1, Ordering::SeqCst) + 1;
            match errors.lock().expect("errors").next() {
                Some(e) => Err(e),
                None => Ok(n),
            }
        })
        .await;
        (result, attempts.load(Ordering::SeqCst))
    }

    #[test]
    fn back_off_doubles_up_to_its_cap_with_jitter_in_the_upper_half() {
        let p = RetryPolicy::DEFAULT;
        assert_eq!(p.delay(1, 1.0, None), Duration::from_millis(100));
        assert_eq!(p.delay(2, 1.0, None), Duration::from_millis(200));
        assert_eq!(p.delay(3, 1.0, None), Duration::from_millis(400));
        assert_eq!(p.delay(10, 1.0, None), Duration::from_secs(3));
        assert_eq!(p.delay(u32::MAX, 1.0, None), Duration::from_secs(3));
        assert_eq!(p.delay(1, 0.0, None), Duration::from_millis(50));
        assert_eq!(p.delay(3, 0.5, None), Duration::from_millis(300));
        // The server's Retry-After is a floor, never shortened by jitter.
        assert_eq!(
            p.delay(1, 0.3, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            p.delay(10, 1.0, Some(Duration::from_secs(1))),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn retry_after_comes_from_the_status_details() {
        assert_eq!(
            retry_after(&api_error(429, "TooManyRequests", 3)),
            Some(Duration::from_secs(3))
        );
        assert_eq!(retry_after(&api_error(500, "InternalError", 0)), None);
        assert!(is_conflict(&kube::Error::Api(Box::new(
            kube::core::Status::failure("x", "Conflict").with_code(409)
        ))));
        assert!(!is_conflict(&kube::Error::Api(Box::new(
            kube::core::Status::failure("x", "AlreadyExists").with_code(409)
        ))));
    }

    #[tokio::test]
    async fn transient_failures_are_retried_until_success() {
        let errors = vec![
            Failed::judged(api_error(500, "InternalError", 0)),
            Failed::judged(api_error(429, "TooManyRequests", 0)),
            Failed::judged(api_error(503, "ServiceUnavailable", 0)),
            Failed::Retry(api_error(409, "Conflict", 0)),
        ];
        let (result, attempts) = fake(QUICK, errors).await;
        assert_eq!(result.expect("succeeds"), 5);
        assert_eq!(attempts, 5);
    }

    #[tokio::test]
    async fn final_errors_are_not_retried() {
        for e in [
            Failed::judged(api_error(409, "Conflict", 0)),
            Failed::judged(api_error(422, "Invalid", 0)),
            Failed::Stop(api_error(500, "InternalError", 0)),
        ] {
            let (result, attempts) = fake(QUICK, vec![e]).await;
            assert!(result.is_err());
            assert_eq!(attempts, 1);
        }
    }

    #[tokio::test]
    async fn attempts_are_bounded_and_the_last_error_returned() {
        let errors = (0..10)
            .map(|i| Failed::judged(api_error(500 + i, "InternalError", 0)))
            .collect();
        let (result, attempts) = fake(QUICK, errors).await;
        assert_eq!(attempts, QUICK.attempts);
        assert_eq!(
            result.expect_err("gives up").status_code(),
            Some(500 + QUICK.attempts as u16 - 1)
        );
    }

    #[tokio::test]
    async fn retry_after_is_waited_for() {
        let began = std::time::Instant::now();
        let errors = vec![Failed::judged(api_error(429, "TooManyRequests", 1))];
        let (result, attempts) = fake(QUICK, errors).await;
        assert_eq!((result.expect("succeeds"), attempts), (2, 2));
        assert!(
            began.elapsed() >= Duration::from_secs(1),
            "{:?}",
            began.elapsed()
        );
    }

    #[tokio::test]
    async fn nothing_waits_past_the_budget() {
        // A server asking for longer than the budget leaves gives the caller its error at once.
        let policy = RetryPolicy {
            budget: Duration::from_millis(500),
            ..QUICK
        };
        let began = std::time::Instant::now();
        let errors = vec![Failed::judged(api_error(429, "TooManyRequests", 30))];
        let (result, attempts) = fake(policy, errors).await;
        assert_eq!(result.expect_err("gives up").status_code(), Some(429));
        assert_eq!(attempts, 1);
        assert!(began.elapsed() < Duration::from_millis(500));
        // Back-off alone stops at the budget too.
        let policy = RetryPolicy {
            first: Duration::from_millis(40),
            cap: Duration::from_millis(40),
            attempts: 1000,
            budget: Duration::from_millis(200),
        };
        let errors = (0..1000)
            .map(|_| Failed::judged(api_error(500, "InternalError", 0)))
            .collect();
        let began = std::time::Instant::now();
        let (result, attempts) = fake(policy, errors).await;
        assert!(result.is_err());
        assert!((5..=11).contains(&attempts), "{attempts}");
        assert!(
            began.elapsed() < Duration::from_millis(400),
            "{:?}",
            began.elapsed()
        );
    }
}
