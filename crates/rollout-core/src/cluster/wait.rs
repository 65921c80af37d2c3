//! Waits on the cluster: each follows watches of the objects its condition reads (no polling
//! sleeps), re-evaluates the condition on every change, and ends at its deadline. A watch the
//! identity may not make ends the wait with the "forbidden" error.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::time::Instant;

use super::api::{Cluster, Object, Result, annotation};
use super::error::{ClusterError, Verb};

/// Why a wait's condition will never hold (a crash-looping pod, an exceeded progress
/// deadline): the wait ends at once with [`ClusterError::Stuck`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck(pub String);

/// The last probe failure per pod name.
pub type ProbeFailures = std::collections::BTreeMap<String, String>;

/// How often a wait for pods re-reads their probes' events (they are not watched: the
/// orchestrator's Role does not grant it).
const PROBE_LOOK: Duration = Duration::from_secs(2);

/// How often a wait re-reads what it does not watch.
pub(super) const RECHECK: Duration = Duration::from_millis(200);

pub(super) type Wakeups = futures::stream::BoxStream<'static, Result<()>>;

/// How often a wait that has not ended says so, in wall time (what the person watching it
/// lives in, whatever the time scale of an embedded cluster).
pub const REMIND_EVERY: Duration = Duration::from_secs(10);

/// A wait that lasts this long says what it waits for, even when nothing changed: only what
/// lasts is worth a line, and a reader should not sit through [`REMIND_EVERY`] to learn it.
const FIRST_WORD: Duration = Duration::from_secs(1);

/// Told what a wait waits for and how long it has: `(what, seconds)`.
pub type Progress = std::sync::Arc<dyn Fn(&str, Duration) + Send + Sync>;

/// The wake-ups of one wait, merged from its watches, and the wait's deadline.
pub(super) struct Changes {
    streams: futures::stream::SelectAll<Wakeups>,
    began: Instant,
    stop: Instant,
    what: String,
    deadline: Duration,
    progress: Option<Progress>,
    /// What was last said, and when.
    said: Option<(String, Instant)>,
}

impl Changes {
    pub(super) fn new(what: &str, deadline: Duration) -> Self {
        let now = Instant::now();
        Changes {
            streams: futures::stream::SelectAll::new(),
            began: now,
            stop: now + deadline,
            what: what.to_owned(),
            deadline,
            progress: None,
            said: None,
        }
    }

    /// Says how the wait goes through `progress`, when there is one.
    pub(super) fn told(mut self, progress: Option<Progress>) -> Self {
        self.progress = progress;
        self
    }

    /// What the wait is for, as its timeout will say (with what was last seen); said at once
    /// when it changed.
    pub(super) fn describe(&mut self, what: &str) {
        self.what = what.to_owned();
        self.tell(false);
    }

    /// Says what the wait sees, when it changed or when nothing was said for a while.
    fn tell(&mut self, reminder: bool) {
        let Some(progress) = &self.progress else {
            return;
        };
        let now = Instant::now();
        let changed = self.said.as_ref().is_none_or(|(w, _)| *w != self.what);
        let due = self
            .said
            .as_ref()
            .is_none_or(|(_, at)| now.duration_since(*at) >= REMIND_EVERY);
        // A wait that ends at once says nothing: only what lasts is worth a line.
        let lasting = now.duration_since(self.began) >= FIRST_WORD;
        if lasting && (changed || (reminder && due)) {
            progress(&self.what, now.duration_since(self.began));
            self.said = Some((self.what.clone(), now));
        }
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

    /// When the wait next has something to say even if nothing changed: the first word once
    /// it has lasted, then a reminder after each silence; `None` when nobody is told.
    fn remind_at(&self) -> Option<Instant> {
        let at = match (&self.progress, &self.said) {
            (None, _) => return None,
            (Some(_), None) => self.began + FIRST_WORD,
            (Some(_), Some((_, at))) => *at + REMIND_EVERY,
        };
        Some(at.max(Instant::now()))
    }

    /// Runs `read` (a read of what the wait looks at), still saying on the wait's schedule
    /// that it goes on: a server that does not answer holds a read up to `--api-timeout`,
    /// and the person watching hears meanwhile what the run waits for and since when.
    pub(super) async fn during<T>(&mut self, read: impl std::future::Future<Output = T>) -> T {
        tokio::pin!(read);
        loop {
            let Some(remind) = self.remind_at() else {
                return read.await;
            };
            match tokio::time::timeout_at(remind, &mut read).await {
                Ok(t) => return t,
                Err(_) => self.tell(true),
            }
        }
    }

    /// Returns at the next change; `Err` at the deadline or when a watch is refused. Says
    /// what it still waits for at least every [`REMIND_EVERY`].
    pub(super) async fn next(&mut self) -> Result<()> {
        loop {
            let until = self.remind_at().map_or(self.stop, |r| r.min(self.stop));
            match tokio::time::timeout_at(until, self.streams.next()).await {
                Err(_) if until >= self.stop => {
                    return Err(ClusterError::Timeout {
                        what: self.what.clone(),
                        after: self.deadline,
                    });
                }
                Err(_) => self.tell(true),
                Ok(Some(Err(e))) => return Err(e),
                Ok(_) => {
                    self.tell(false);
                    return Ok(());
                }
            }
        }
    }
}

impl Cluster {
    /// The changes of one wait, told to the cluster's progress when it has one.
    pub(super) fn changes(&self, what: &str, deadline: Duration) -> Changes {
        Changes::new(what, deadline).told(self.progress.clone())
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
    /// change of the Deployment and every [`RECHECK`] (the controller writes the Deployment's
    /// revision and `observedGeneration` apart from the ReplicaSets).
    async fn wait_rs<T>(
        &self,
        deployment: &str,
        deadline: Duration,
        what: &str,
        mut f: impl FnMut(&Deployment, &[ReplicaSet]) -> Option<T>,
    ) -> Result<T> {
        let mut changes = self.changes(what, deadline);
        changes.add(self.deployment_watch(deployment));
        // The controller makes the ReplicaSet, then writes the Deployment's revision: the
        // Deployment's changes wake the wait, and a re-read every RECHECK covers the rest
        // without a watch on ReplicaSets (one verb less in the Role).
        changes.every(RECHECK);
        loop {
            let d = changes.during(self.deployment(deployment)).await?;
            let sets = changes.during(self.replica_sets_of(&d)).await?;
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

    /// The last probe failure of each pod named in `pods` that has one, from the pods'
    /// `Unhealthy` events (`Readiness probe failed: HTTP probe failed with statuscode: 500`,
    /// with how many times). Only for what a wait says: an identity that may not list
    /// Events (the orchestrator's Role does not need them) gets none, and the wait goes on.
    /// A server that did not answer in time fails it: the wait could read nothing else
    /// either, and reading on would hold the run for another `--api-timeout`.
    pub async fn probe_failures(&self, pods: &[&str]) -> Result<ProbeFailures> {
        let mut out = ProbeFailures::new();
        if pods.is_empty() {
            return Ok(out);
        }
        let lp =
            kube::api::ListParams::default().fields("involvedObject.kind=Pod,reason=Unhealthy");
        let events = match self.api::<Event>().list(&lp).await {
            Ok(events) => events,
            Err(e) => {
                return match self.error::<Event>(Verb::List, "", e) {
                    e @ ClusterError::Unanswered { .. } => Err(e),
                    _ => Ok(out),
                };
            }
        };
        let mut latest: std::collections::BTreeMap<String, (String, String)> = Default::default();
        for e in events.items {
            let Some(pod) = e.involved_object.name.as_deref() else {
                continue;
            };
            if !pods.contains(&pod) {
                continue;
            }
            let when = e
                .last_timestamp
                .as_ref()
                .map(|t| t.0.to_string())
                .or_else(|| e.event_time.as_ref().map(|t| t.0.to_string()))
                .unwrap_or_default();
            let message = match e.count {
                Some(n) if n > 1 => format!("{} ({n} times)", e.message.unwrap_or_default()),
                _ => e.message.unwrap_or_default(),
            };
            let newer = latest.get(pod).is_none_or(|(at, _)| *at <= when);
            if newer {
                latest.insert(pod.to_owned(), (when, message));
            }
        }
        for (pod, (_, message)) in latest {
            out.insert(pod, message);
        }
        Ok(out)
    }

    /// Waits until `done` holds for the Deployment, re-checking on every change of it or of
    /// its pods. `done` returns `Err` to stop the wait with a failure (a crash-looping pod);
    /// `explain` says what is seen while it does not hold (said as it changes), given the
    /// last probe failure of each pod that is not ready.
    pub async fn wait_deployment<T>(
        &self,
        name: &str,
        deadline: Duration,
        what: &str,
        mut done: impl FnMut(&Deployment, &[Pod]) -> std::result::Result<Option<T>, Stuck>,
        explain: impl Fn(&Deployment, &[Pod], &ProbeFailures) -> String,
    ) -> Result<T> {
        let mut changes = self.changes(what, deadline);
        changes.add(self.deployment_watch(name));
        changes.add(self.watch::<Pod>(watcher::Config::default()));
        // A probe that keeps failing changes no pod: its events are read again this often.
        changes.every(PROBE_LOOK);
        loop {
            let d = changes.during(self.deployment(name)).await?;
            let pods = changes.during(self.pods_of(&d)).await?;
            match done(&d, &pods) {
                Ok(Some(t)) => return Ok(t),
                Ok(None) => {
                    // Probes fail without changing the pod (a flapping readiness probe), so
                    // their events are read again whenever the wait looks.
                    let unready: Vec<&str> = pods
                        .iter()
                        .filter(|p| !kube_util::pod::is_ready(p))
                        .filter_map(|p| p.metadata.name.as_deref())
                        .collect();
                    let failures = changes.during(self.probe_failures(&unready)).await?;
                    changes.describe(&format!("{what}: {}", explain(&d, &pods, &failures)));
                }
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

    /// Like [`Cluster::wait_deployment`] for a condition on the Deployment alone (an
    /// annotation, its status): neither watches nor lists pods.
    pub async fn wait_deployment_alone<T>(
        &self,
        name: &str,
        deadline: Duration,
        what: &str,
        mut done: impl FnMut(&Deployment) -> std::result::Result<Option<T>, Stuck>,
    ) -> Result<T> {
        let mut changes = self.changes(what, deadline);
        changes.add(self.deployment_watch(name));
        loop {
            let d = changes.during(self.deployment(name)).await?;
            match done(&d) {
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
        let mut changes = self.changes(&format!("Deployment {name:?} to be deleted"), deadline);
        changes.add(self.deployment_watch(name));
        while changes
            .during(self.get_opt::<Deployment>(name))
            .await?
            .is_some()
        {
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
        let mut changes = self.changes(what, deadline);
        changes.add(self.watch::<Deployment>(watcher::Config::default()));
        while !done(&changes.during(self.list::<Deployment>(None)).await?) {
            changes.next().await?;
        }
        Ok(())
    }

    /// Waits until no pod matches `selector`.
    pub async fn wait_no_pods(&self, selector: &str, deadline: Duration, what: &str) -> Result<()> {
        let mut changes = self.changes(what, deadline);
        changes.add(self.watch::<Pod>(watcher::Config::default().labels(selector)));
        while !changes
            .during(self.list::<Pod>(Some(selector)))
            .await?
            .is_empty()
        {
            changes.next().await?;
        }
        Ok(())
    }
}
