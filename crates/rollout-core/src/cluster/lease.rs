//! One rollout per app at a time: a coordination.k8s.io Lease `rollout-<app>` held (and
//! renewed) by the running process. A second rollout is refused with the holder's name; a
//! killed process's lease expires, after which `resume` or `abort` can take it from any
//! machine.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, PostParams};
use serde_json::json;

use super::error::{Call, ClusterError};

/// How long a lease lasts without renewal.
pub const DURATION: Duration = Duration::from_secs(15);
/// How often the holder renews it.
pub const RENEW_EVERY: Duration = Duration::from_secs(5);

pub fn name(app: &str) -> String {
    format!("rollout-{app}")
}

/// Who this process is: `user@host (pid N)`.
pub fn identity() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("{user}@{} (pid {})", hostname(), std::process::id())
}

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error(
        "another rollout of {app:?} is running, held by {holder} (its lease expires in {}s unless renewed)",
        remaining.as_secs()
    )]
    Held {
        app: String,
        holder: String,
        remaining: Duration,
    },
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// Whether `holder` names a process on this machine that no longer runs (killed), so its
/// lease need not be waited out.
fn is_dead_here(holder: &str) -> bool {
    let Some((who, pid)) = holder.rsplit_once(" (pid ") else {
        return false;
    };
    let Some(pid) = pid.strip_suffix(')').and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    let on_this_host = who
        .rsplit_once('@')
        .is_some_and(|(_, host)| host == hostname());
    on_this_host
        && pid != std::process::id()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Time left on a lease held by a live holder, `None` when it is free, expired, or held by
/// a process of this machine that has died.
fn remaining(lease: &Lease) -> Option<(String, Duration)> {
    let spec = lease.spec.as_ref()?;
    let holder = spec.holder_identity.clone().filter(|h| !h.is_empty())?;
    if is_dead_here(&holder) {
        return None;
    }
    let renewed = spec.renew_time.as_ref().or(spec.acquire_time.as_ref())?.0;
    let secs = i64::from(spec.lease_duration_seconds.unwrap_or(15));
    let expires = renewed
        .checked_add(jiff::SignedDuration::from_secs(secs))
        .ok()?;
    let left = expires.duration_since(now());
    (left.is_positive()).then(|| (holder, left.unsigned_abs()))
}

pub struct Holder {
    api: Api<Lease>,
    pub name: String,
    pub identity: String,
    namespace: String,
}

impl Holder {
    /// Takes the lease for `app`, or says who holds it.
    pub async fn acquire(
        client: kube::Client,
        namespace: &str,
        app: &str,
        identity: &str,
    ) -> Result<Holder, LeaseError> {
        let api: Api<Lease> = Api::namespaced(client, namespace);
        let lease_name = name(app);
        let holder = Holder {
            api,
            name: lease_name.clone(),
            identity: identity.into(),
            namespace: namespace.into(),
        };
        let call = |verb: &'static str| Call {
            verb,
            resource: "leases",
            namespace,
            name: &lease_name,
        };
        for _ in 0..5 {
            let existing = holder
                .api
                .get_opt(&lease_name)
                .await
                .map_err(|e| call("get").error(e))?;
            let body = holder.body(existing.as_ref());
            let result = match &existing {
                None => holder.api.create(&PostParams::default(), &body).await,
                Some(l) => {
                    if let Some((h, left)) = remaining(l)
                        && h != identity
                    {
                        return Err(LeaseError::Held {
                            app: app.into(),
                            holder: h,
                            remaining: left,
                        });
                    }
                    // A merge patch that carries the resourceVersion read: it conflicts if
                    // someone else wrote the Lease since (one write verb, patch, for taking
                    // over and renewing).
                    holder
                        .api
                        .patch(
                            &lease_name,
                            &kube::api::PatchParams::default(),
                            &kube::api::Patch::Merge(&body),
                        )
                        .await
                }
            };
            match result {
                Ok(_) => return Ok(holder),
                // Someone else wrote it between our read and write: read again.
                Err(kube::Error::Api(s)) if s.code == 409 => continue,
                Err(e) => {
                    let verb = if existing.is_some() {
                        "patch"
                    } else {
                        "create"
                    };
                    return Err(call(verb).error(e).into());
                }
            }
        }
        Err(ClusterError::Other(format!("lease {lease_name}: kept conflicting")).into())
    }

    fn body(&self, existing: Option<&Lease>) -> Lease {
        let mut lease: Lease = serde_json::from_value(json!({
            "metadata": {"name": self.name, "namespace": self.namespace,
                         "labels": {"app.kubernetes.io/managed-by": crate::plan::MANAGED_BY}},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": DURATION.as_secs(),
            }
        }))
        .unwrap_or_default();
        if let Some(e) = existing {
            lease.metadata.resource_version = e.metadata.resource_version.clone();
        }
        if let Some(spec) = lease.spec.as_mut() {
            spec.acquire_time = Some(MicroTime(now()));
            spec.renew_time = Some(MicroTime(now()));
        }
        lease
    }

    /// Renews the lease (a merge patch of renewTime).
    pub async fn renew(&self) -> Result<(), ClusterError> {
        let patch =
            json!({"spec": {"renewTime": MicroTime(now()), "holderIdentity": self.identity}});
        self.api
            .patch(
                &self.name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&patch),
            )
            .await
            .map(|_| ())
            .map_err(|e| {
                Call {
                    verb: "patch",
                    resource: "leases",
                    namespace: &self.namespace,
                    name: &self.name,
                }
                .error(e)
            })
    }

    /// Renews every [`RENEW_EVERY`] until dropped.
    pub fn keep_renewed(self: &std::sync::Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                if let Err(e) = me.renew().await {
                    tracing::warn!(error = %e, "could not renew the lease");
                }
            }
        })
    }

    pub async fn release(&self) -> Result<(), ClusterError> {
        match self
            .api
            .delete(&self.name, &kube::api::DeleteParams::default())
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(Call {
                verb: "delete",
                resource: "leases",
                namespace: &self.namespace,
                name: &self.name,
            }
            .error(e)),
        }
    }
}

/// Who holds the lease of `app` now and for how long, if anyone.
pub async fn current(
    client: kube::Client,
    namespace: &str,
    app: &str,
) -> Result<Option<(String, Duration)>, ClusterError> {
    let api: Api<Lease> = Api::namespaced(client, namespace);
    let n = name(app);
    let lease = api.get_opt(&n).await.map_err(|e| {
        Call {
            verb: "get",
            resource: "leases",
            namespace,
            name: &n,
        }
        .error(e)
    })?;
    Ok(lease.as_ref().and_then(remaining))
}
