//! One rollout per app at a time: a coordination.k8s.io Lease `rollout-<app>` held (and
//! renewed) by the running process. A second rollout is refused with the holder's name; a
//! killed process's lease expires, after which `resume` or `abort` can take it from any
//! machine.
//!
//! The Lease fences: every write to it carries the resourceVersion this process last wrote,
//! so a renewal or a release after someone else took the Lease over conflicts instead of
//! taking it back; a holder that could not renew within [`RENEW_DEADLINE`] counts itself as
//! having lost the Lease (another process may take it over at [`DURATION`]) and the engine
//! stops acting at once ([`Holder::lost`], [`Holder::ensure_held`]).

use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use super::api::Cluster;
use super::error::{Call, ClusterError, Verb};
use crate::labels;

/// How long a lease lasts without renewal.
pub const DURATION: Duration = Duration::from_secs(15);
/// How often the holder renews it.
pub const RENEW_EVERY: Duration = Duration::from_secs(3);
/// A holder that has not renewed for this long stops acting: well before [`DURATION`], so it
/// has stopped before anyone else may take the Lease.
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// How many conflicts in a row a renewal takes for the server's own (the Lease still carries
/// our last write) before it gives up until the next renewal.
const SPURIOUS_CONFLICTS: u32 = 3;

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
    /// This process no longer holds the Lease: it must not act.
    #[error("lost the lease of {app:?}: {why}")]
    Lost { app: String, why: String },
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

/// This machine's name: `HOSTNAME` when set (as in containers and CI jobs), else
/// /etc/hostname.
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|| "localhost".into())
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

/// The holder of a lease and the time left on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldBy {
    pub holder: String,
    pub remaining: Duration,
    /// Seconds since the holder last renewed it.
    pub since_renewal: Duration,
}

/// Time left on a lease held by a live holder, `None` when it is free, expired, or held by
/// a process of this machine that has died.
fn remaining(lease: &Lease) -> Option<HeldBy> {
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
    let since = now().duration_since(renewed);
    (left.is_positive()).then(|| HeldBy {
        holder,
        remaining: left.unsigned_abs(),
        since_renewal: since.unsigned_abs(),
    })
}

/// What the holder knows of its own Lease.
struct Held {
    /// The resourceVersion of our last write: the next write is conditional on it.
    resource_version: String,
    renewed: Instant,
}

pub struct Holder {
    cluster: Cluster,
    pub app: String,
    pub name: String,
    pub identity: String,
    held: Mutex<Held>,
    /// `Some(why)` once the Lease is lost.
    lost: watch::Sender<Option<String>>,
}

impl Holder {
    /// Takes the lease for `app`, or says who holds it.
    pub async fn acquire(
        cluster: &Cluster,
        app: &str,
        identity: &str,
    ) -> Result<Holder, LeaseError> {
        let lease_name = name(app);
        for _ in 0..5 {
            let existing = cluster.get_opt::<Lease>(&lease_name).await?;
            if let Some(l) = &existing
                && let Some(held) = remaining(l)
                && held.holder != identity
            {
                return Err(LeaseError::Held {
                    app: app.into(),
                    holder: held.holder,
                    remaining: held.remaining,
                });
            }
            let written = match &existing {
                None => {
                    let lease = Lease {
                        metadata: labels::owned_metadata(
                            &lease_name,
                            &cluster.namespace,
                            app,
                            None,
                        ),
                        spec: Some(lease_spec(identity)),
                    };
                    cluster.create(&lease).await?
                }
                // A merge patch that carries the resourceVersion read: it conflicts if
                // someone else wrote the Lease since (one write verb, patch, for taking
                // over and renewing).
                Some(l) => {
                    let patch = json!({
                        "metadata": {"resourceVersion": l.metadata.resource_version},
                        "spec": lease_spec(identity),
                    });
                    match cluster.merge::<Lease>(&lease_name, &patch).await {
                        Ok(l) => Some(l),
                        Err(e) if e.status_code() == Some(409) => None,
                        Err(e) => return Err(e.into()),
                    }
                }
            };
            // None: someone else wrote it between our read and our write; read again.
            if let Some(l) = written {
                let (lost, _) = watch::channel(None);
                return Ok(Holder {
                    cluster: cluster.clone(),
                    app: app.into(),
                    name: lease_name,
                    identity: identity.into(),
                    held: Mutex::new(Held {
                        resource_version: l.metadata.resource_version.unwrap_or_default(),
                        renewed: Instant::now(),
                    }),
                    lost,
                });
            }
        }
        Err(ClusterError::Conflicts {
            call: Call::new(Verb::Patch, "leases", &cluster.namespace, &lease_name),
        }
        .into())
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lose(&self, why: String) -> LeaseError {
        self.lost.send_if_modified(|l| {
            if l.is_none() {
                *l = Some(why.clone());
                true
            } else {
                false
            }
        });
        LeaseError::Lost {
            app: self.app.clone(),
            why,
        }
    }

    /// Renews the lease: a merge patch of renewTime, conditional on our last write. A
    /// conflict means someone took the Lease over: it is lost — unless the Lease still
    /// carries our last write, when nobody else wrote it and the conflict was the server's
    /// (the condition travels with the patch, so writing again is safe).
    pub async fn renew(&self) -> Result<(), LeaseError> {
        let mut attempt = 1;
        loop {
            self.ensure_held()?;
            let rv = self.held().resource_version.clone();
            let patch = json!({
                "metadata": {"resourceVersion": rv},
                "spec": {"renewTime": MicroTime(now()), "holderIdentity": self.identity},
            });
            match self.cluster.merge::<Lease>(&self.name, &patch).await {
                Ok(l) => {
                    let mut held = self.held();
                    held.resource_version = l.metadata.resource_version.unwrap_or_default();
                    held.renewed = Instant::now();
                    return Ok(());
                }
                Err(e) if e.status_code() == Some(409) || e.is_not_found() => {
                    let now = self.cluster.get_opt::<Lease>(&self.name).await?;
                    let unchanged = now.as_ref().is_some_and(|l| {
                        l.metadata.resource_version.as_deref() == Some(rv.as_str())
                    });
                    if unchanged && attempt < SPURIOUS_CONFLICTS {
                        attempt += 1;
                        continue;
                    }
                    if unchanged {
                        return Err(e.into());
                    }
                    let by = now
                        .and_then(|l| l.spec?.holder_identity)
                        .unwrap_or_else(|| "nobody (it was deleted)".into());
                    return Err(self.lose(format!("it was taken over; it is now held by {by}")));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Fails when this process may no longer act: the Lease was lost, or not renewed for
    /// [`RENEW_DEADLINE`] (someone may take it over soon).
    pub fn ensure_held(&self) -> Result<(), LeaseError> {
        if let Some(why) = self.lost.borrow().clone() {
            return Err(LeaseError::Lost {
                app: self.app.clone(),
                why,
            });
        }
        let since = self.held().renewed.elapsed();
        if since > RENEW_DEADLINE {
            return Err(self.lose(format!(
                "not renewed for {}s (the API server did not answer in time)",
                since.as_secs()
            )));
        }
        Ok(())
    }

    /// Becomes `Some(why)` when the Lease is lost.
    pub fn lost(&self) -> watch::Receiver<Option<String>> {
        self.lost.subscribe()
    }

    /// Renews every [`RENEW_EVERY`] until aborted; marks the Lease lost when it cannot.
    pub fn keep_renewed(self: &std::sync::Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                let deadline = me.held().renewed + RENEW_DEADLINE;
                match tokio::time::timeout_at(deadline, me.renew()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(LeaseError::Lost { .. })) => return,
                    Ok(Err(e)) => {
                        tracing::warn!(error = %crate::error::chain(&e), "could not renew the lease");
                    }
                    Err(_) => {}
                }
                if me.ensure_held().is_err() {
                    return;
                }
            }
        })
    }

    /// Deletes the Lease, only if it is still ours (a precondition on our last write).
    pub async fn release(&self) -> Result<(), ClusterError> {
        if self.lost.borrow().is_some() {
            return Ok(());
        }
        let rv = self.held().resource_version.clone();
        let api: kube::Api<Lease> =
            kube::Api::namespaced(self.cluster.client.clone(), &self.cluster.namespace);
        let dp = kube::api::DeleteParams {
            preconditions: Some(kube::api::Preconditions {
                uid: None,
                resource_version: Some(rv.clone()),
            }),
            ..Default::default()
        };
        // Retried when the server or the connection fails: the precondition makes another
        // attempt safe (one after a delete whose answer was lost finds the Lease gone).
        super::api::retry(|| async {
            match api.delete(&self.name, &dp).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                // Someone else's now: not ours to delete. Unless the Lease still carries our
                // last write: then the conflict was the server's, and deleting again is
                // as safe as the first time.
                Err(e @ kube::Error::Api(_)) if super::api::is_conflict(&e) => {
                    let call =
                        || Call::new(Verb::Delete, "leases", &self.cluster.namespace, &self.name);
                    match api.get_opt(&self.name).await {
                        Ok(Some(l))
                            if l.metadata.resource_version.as_deref() == Some(rv.as_str()) =>
                        {
                            Err(super::api::Failed::Retry(
                                call().error(e, &self.cluster.server),
                            ))
                        }
                        Ok(_) => Ok(()),
                        Err(read) => Err(super::api::Failed::judged(
                            call().error(read, &self.cluster.server),
                        )),
                    }
                }
                Err(e) => Err(super::api::Failed::judged(
                    Call::new(Verb::Delete, "leases", &self.cluster.namespace, &self.name)
                        .error(e, &self.cluster.server),
                )),
            }
        })
        .await
    }
}

impl super::api::Fence for Holder {
    fn refusal(&self) -> Option<String> {
        self.ensure_held().err().map(|e| match e {
            LeaseError::Lost { why, .. } => why,
            other => other.to_string(),
        })
    }
}

fn lease_spec(identity: &str) -> k8s_openapi::api::coordination::v1::LeaseSpec {
    k8s_openapi::api::coordination::v1::LeaseSpec {
        holder_identity: Some(identity.to_owned()),
        lease_duration_seconds: Some(i32::try_from(DURATION.as_secs()).unwrap_or(15)),
        acquire_time: Some(MicroTime(now())),
        renew_time: Some(MicroTime(now())),
        ..Default::default()
    }
}

/// Who holds the lease of `app` now and for how long, if anyone.
pub async fn current(cluster: &Cluster, app: &str) -> Result<Option<HeldBy>, ClusterError> {
    let lease = cluster.get_opt::<Lease>(&name(app)).await?;
    Ok(lease.as_ref().and_then(remaining))
}
