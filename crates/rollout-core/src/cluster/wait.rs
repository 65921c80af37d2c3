//! Waits on the cluster: each follows watches of the objects its condition reads (no polling
//! sleeps), re-evaluates the condition on every change, and ends at its deadline. A watch the
//! identity may not make ends the wait with the "forbidden" error.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::time::Instant;

use super::api::{Cluster, Object, Result, annotation};
use super::error::{ClusterError, Verb};

/// Why a wait's condition will never hold (a crash-looping pod, an exceeded progress
/// deadline): the wait ends at once with [`ClusterError::Stuck`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck(pub String);

/// How often a wait re-reads what it does not watch.
pub(super) const RECHECK: Duration = Duration::from_millis(200);

pub(super) type Wakeups = futures::stream::BoxStream<'static, Result<()>>;

/// The wake-ups of one wait, merged from its watches, and the wait's deadline.
pub(super) struct Changes {
    streams: futures::stream::SelectAll<Wakeups>,
    stop: Instant,
    what: String,
    deadline: Duration,
}

impl Changes {
    pub(super) fn new(what: &str, deadline: Duration) -> Self {
        Changes {
            streams: futures::stream::SelectAll::new(),
            stop: Instant::now() + deadline,
            what: what.to_owned(),
            deadline,
        }
    }

    /// What the wait is for, as its timeout will say (with what was last seen).
    pub(super) fn describe(&mut self, what: &str) {
        self.what = what.to_owned();
    }

    /// Also wake every `period`, for what is read without a watch.
    pub(super) fn every(&mut self, period: Duration) {
        self.add(
            tokio_stream::wrappers::IntervalStream::new(tokio::time::interval(period))
                .map(|_| Ok(()))
                .boxed(),
        );
    }

    pub(super) fn add(&mut self, stream: Wakeups) {
        self.streams.push(stream);
    }

    /// Returns at the next change; `Err` at the deadline or when a watch is refused.
    pub(super) async fn next(&mut self) -> Result<()> {
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

impl Cluster {
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
    /// change of the Deployment and every [`RECHECK`] (the controller writes the Deployment's
    /// revision and `observedGeneration` apart from the ReplicaSets).
    async fn wait_rs<T>(
        &self,
        deployment: &str,
        deadline: Duration,
        what: &str,
        mut f: impl FnMut(&Deployment, &[ReplicaSet]) -> Option<T>,
    ) -> Result<T> {
        let mut changes = Changes::new(what, deadline);
        changes.add(self.deployment_watch(deployment));
        // The controller makes the ReplicaSet, then writes the Deployment's revision: the
        // Deployment's changes wake the wait, and a re-read every RECHECK covers the rest
        // without a watch on ReplicaSets (one verb less in the Role).
        changes.every(RECHECK);
        loop {
            let d = self.deployment(deployment).await?;
            let sets = self.replica_sets_of(&d).await?;
            if let Some(t) = f(&d, &sets) {
                return Ok(t);
            }
            changes.next().await?;
        }
    }

    /// Changes of one kind of object in the namespace, as wake-ups for a wait.
    pub(super) fn watch<K: Object>(&self, config: watcher::Config) -> Wakeups {
        self.wakeups::<K>(watcher(self.api::<K>(), config))
    }

    /// A watch's events as wake-ups: a refusal ends the wait rather than spinning on it;
    /// any other error is worth another look (wake up and re-read).
    pub(super) fn wakeups<K: Object>(
        &self,
        events: impl futures::Stream<Item = std::result::Result<watcher::Event<K>, watcher::Error>>
        + Send
        + 'static,
    ) -> Wakeups {
        let me = self.clone();
        events
            .default_backoff()
            .map(move |event| {
                let e = match event {
                    Ok(_) => return Ok(()),
                    Err(
                        watcher::Error::InitialListFailed(e)
                        | watcher::Error::WatchStartFailed(e)
                        | watcher::Error::WatchFailed(e),
                    ) => me.error::<K>(Verb::Watch, "", e),
                    Err(watcher::Error::WatchError(status)) => {
                        me.error::<K>(Verb::Watch, "", kube::Error::Api(status))
                    }
                    // Anything else is worth another look: wake up and re-read.
                    Err(_) => return Ok(()),
                };
                if e.is_forbidden() { Err(e) } else { Ok(()) }
            })
            .boxed()
    }

    fn deployment_watch(&self, name: &str) -> Wakeups {
        self.watch::<Deployment>(
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
        done: impl FnMut(&Deployment, &[Pod]) -> std::result::Result<Option<T>, Stuck>,
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
        mut done: impl FnMut(&Deployment) -> std::result::Result<Option<T>, Stuck>,
    ) -> Result<T> {
        self.wait(name, deadline, what, false, |d, _| done(d)).await
    }

    async fn wait<T>(
        &self,
        name: &str,
        deadline: Duration,
        what: &str,
        with_pods: bool,
        mut done: impl FnMut(&Deployment, &[Pod]) -> std::result::Result<Option<T>, Stuck>,
    ) -> Result<T> {
        let mut changes = Changes::new(what, deadline);
        changes.add(self.deployment_watch(name));
        if with_pods {
            changes.add(self.watch::<Pod>(watcher::Config::default()));
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
                Err(Stuck(reason)) => {
                    return Err(ClusterError::Stuck {
                        what: what.to_owned(),
                        reason,
                    });
                }
            }
            changes.next().await?;
        }
    }

    /// Waits until the Deployment `name` is gone (a foreground deletion keeps it until the
    /// garbage collector has removed its ReplicaSets and pods).
    pub async fn wait_deployment_gone(&self, name: &str, deadline: Duration) -> Result<()> {
        let mut changes = Changes::new(&format!("Deployment {name:?} to be deleted"), deadline);
        changes.add(self.deployment_watch(name));
        while self.get_opt::<Deployment>(name).await?.is_some() {
            changes.next().await?;
        }
        Ok(())
    }

    /// Waits until `done` holds for all the Deployments of the namespace, re-checking on every
    /// change of one.
    pub async fn wait_deployments(
        &self,
        deadline: Duration,
        what: &str,
        mut done: impl FnMut(&[Deployment]) -> bool,
    ) -> Result<()> {
        let mut changes = Changes::new(what, deadline);
        changes.add(self.watch::<Deployment>(watcher::Config::default()));
        while !done(&self.list::<Deployment>(None).await?) {
            changes.next().await?;
        }
        Ok(())
    }

    /// Waits until no pod matches `selector`.
    pub async fn wait_no_pods(&self, selector: &str, deadline: Duration, what: &str) -> Result<()> {
        let mut changes = Changes::new(what, deadline);
        changes.add(self.watch::<Pod>(watcher::Config::default().labels(selector)));
        while !self.list::<Pod>(Some(selector)).await?.is_empty() {
            changes.next().await?;
        }
        Ok(())
    }
}
