//! The versioned object store behind the embedded API server.
//!
//! Objects are JSON values keyed by resource, namespace and name. The whole state — objects,
//! indexes, watch history — is one immutable [`state::State`] behind an atomic pointer: reads
//! (get, list, watch) load the current version and work on it without any lock, so a list of
//! thousands of objects or a slow serialisation never holds up a writer, and a writer never
//! holds up a reader.
//!
//! Writes are serialised by one mutex. A write copies the state (in O(1): the maps are
//! persistent), runs admission and makes its change on the copy, gives every change the next
//! resource version, writes the changes to disk when the store is persistent, and only then
//! publishes the copy and sends its events to watchers. A write that fails at any step — the
//! disk included — leaves nothing behind, and watchers see changes in resource-version order.
//!
//! What a deletion means for other objects (dependents, a namespace's content) is carried out
//! by the garbage collector (`controllers::gc`) from the owner index, as Kubernetes' garbage
//! collector does, not inside the write.

pub mod error;
pub mod managed_fields;
pub mod merge_keys;
mod meta;
mod persist;
mod size;
mod state;
#[cfg(test)]
mod tests;
mod write;

pub use error::{Result, StoreError};
pub use kube_util::selector::{FieldSelector, LabelSelector};

use crate::admission;
use crate::resources::{self, RESOURCES, ResourceType};
use arc_swap::ArcSwap;
use serde_json::{Value, json};
use state::State;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use write::Txn;

/// How many committed changes a watch can resume from.
pub const HISTORY: usize = 10_000;
/// How much memory (as [`size::approx_bytes`] counts it) the history's objects may hold: a
/// burst of changes to large objects (EndpointSlices of a 1,000-pod Service, each a new version
/// of the whole object) would otherwise pin hundreds of MB that no watcher asks for. Like the
/// real API server's watch cache, the history covers a window of recent changes, not a count.
pub const HISTORY_BYTES: usize = 32 << 20;
/// How many changes the live feed holds for its slowest reader. A watcher further behind is
/// told to relist (410 Expired), as after compaction; the bound keeps a stalled client from
/// pinning old objects in memory (the feed's ring holds its last changes whether or not anyone
/// reads them, so it is kept well under the history).
const FANOUT_CAPACITY: usize = 4_096;
/// How long Events live unless told otherwise: kube-apiserver's `--event-ttl` default.
pub const EVENT_TTL: Duration = Duration::from_secs(3600);
/// Events removed per write when many expire at once, so the writer lock is never held long.
const EXPIRE_BATCH: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One committed change, as watchers receive it.
#[derive(Debug)]
pub struct WatchEvent {
    pub resource_version: u64,
    pub event_type: EventType,
    pub resource: &'static ResourceType,
    pub namespace: String,
    pub object: Arc<Value>,
    /// The object before this change (for MODIFIED and DELETED), so a filtered watch can tell
    /// an object entering or leaving its selector.
    pub previous: Option<Arc<Value>>,
    /// What the object holds in memory, approximately (counted against [`HISTORY_BYTES`]).
    pub bytes: usize,
    /// The watch line for this event in plain JSON, encoded once by the first watcher that
    /// needs it and shared by all others (fan-out to many watchers then costs one encoding).
    pub encoded: std::sync::OnceLock<bytes::Bytes>,
}

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The object itself: status is kept from the stored object when the kind has a status
    /// subresource.
    Main,
    /// The `/status` subresource: only status changes.
    Status,
    /// The server's own write (pod binding): the body is taken whole and the update-only
    /// immutability rules do not apply.
    System,
}

/// Options shared by writes.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Who writes (recorded in managedFields).
    pub field_manager: String,
    /// Run admission and return the result without committing (`dryRun=All`).
    pub dry_run: bool,
    /// The body was built by server-side apply, which wrote managedFields itself.
    pub apply: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    #[default]
    Background,
    Foreground,
    Orphan,
}

#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub propagation: Option<Propagation>,
    pub grace_period_seconds: Option<i64>,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
    pub dry_run: bool,
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// Current state as synthetic ADDED events, then changes (no resourceVersion, or "0").
    Now,
    /// Changes after this resource version.
    After(u64),
}

/// The start of a watch: events to send first, the live feed, and the resource version the
/// feed continues from.
pub type WatchStart = (
    Vec<Arc<WatchEvent>>,
    broadcast::Receiver<Arc<WatchEvent>>,
    u64,
);

/// One page of a list.
pub struct ListPage {
    pub items: Vec<Arc<Value>>,
    pub resource_version: u64,
    /// Namespace and name of the last item when more remain.
    pub continue_after: Option<(String, String)>,
    pub remaining: usize,
}

/// How a store is set up.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How many changes a watch can resume from before it gets 410 Expired.
    pub history: usize,
    /// How much memory the history's objects may hold (the newest change always stays).
    pub history_bytes: usize,
    /// How long an Event lives after its last write.
    pub event_ttl: Duration,
    /// The clock Event expiry follows.
    pub clock: Clock,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            history: HISTORY,
            history_bytes: HISTORY_BYTES,
            event_ttl: EVENT_TTL,
            clock: Clock::System,
        }
    }
}

/// Time as the store's expiry sees it: the system's monotonic clock, or one that only moves
/// when told (so tests of expiry need not sleep).
#[derive(Debug, Clone, Default)]
pub enum Clock {
    #[default]
    System,
    Manual(Arc<Mutex<Instant>>),
}

impl Clock {
    pub fn manual() -> Self {
        Clock::Manual(Arc::new(Mutex::new(Instant::now())))
    }

    pub fn now(&self) -> Instant {
        match self {
            Clock::System => Instant::now(),
            Clock::Manual(t) => *t.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// Moves a manual clock forward (a system clock moves by itself).
    pub fn advance(&self, by: Duration) {
        if let Clock::Manual(t) = self {
            *t.lock().unwrap_or_else(PoisonError::into_inner) += by;
        }
    }
}

pub struct Store {
    /// The published state: what every read sees.
    current: ArcSwap<State>,
    /// Serialises writers. Held while a write is computed, written to disk and published;
    /// never by a reader.
    writer: Mutex<()>,
    events: broadcast::Sender<Arc<WatchEvent>>,
    persist: Option<persist::Persist>,
    options: StoreOptions,
}

impl Store {
    /// An empty in-memory store with the namespaces and objects every cluster starts with.
    pub fn new() -> Arc<Self> {
        Self::with_history(HISTORY)
    }

    /// An in-memory store that keeps `history` changes for watches to resume from.
    pub fn with_history(history: usize) -> Arc<Self> {
        Self::with_options(StoreOptions {
            history,
            ..Default::default()
        })
    }

    pub fn with_options(options: StoreOptions) -> Arc<Self> {
        Self::build(None, options)
            .unwrap_or_else(|_| unreachable!("an in-memory store cannot fail to open"))
    }

    /// A store written through to `dir`, loaded from it when it already holds objects.
    pub fn open(dir: &Path, history: usize) -> Result<Arc<Self>, String> {
        Self::open_with(
            dir,
            StoreOptions {
                history,
                ..Default::default()
            },
        )
    }

    pub fn open_with(dir: &Path, options: StoreOptions) -> Result<Arc<Self>, String> {
        Self::build(Some(persist::Persist::open(dir)?), options)
    }

    fn build(
        persist: Option<persist::Persist>,
        mut options: StoreOptions,
    ) -> Result<Arc<Self>, String> {
        options.history = options.history.max(1);
        let (events, _) = broadcast::channel(FANOUT_CAPACITY);
        let mut state = State::new();
        if let Some(p) = &persist {
            let loaded = p.load()?;
            state.resource_version = loaded.resource_version;
            state.history_floor = loaded.resource_version;
            let expires = options.clock.now() + options.event_ttl;
            for (key, body) in loaded.objects {
                let obj: Value = serde_json::from_slice(&body)
                    .map_err(|e| format!("corrupt object {key}: {e}"))?;
                let Some(rt) = key
                    .split('/')
                    .next()
                    .and_then(|k| RESOURCES.iter().find(|r| r.key() == k))
                else {
                    continue;
                };
                let at = state::ObjRef {
                    res: state::resource_index(rt),
                    ns: meta::namespace(&obj).into(),
                    name: meta::name(&obj).into(),
                };
                state.put(rt, Arc::new(obj));
                if write::is_event(rt) {
                    // When an Event was last written is not kept: it gets a full TTL again.
                    write::track_expiry(&mut state, at, Some(expires));
                }
            }
        }
        let store = Arc::new(Self {
            current: ArcSwap::from_pointee(state),
            writer: Mutex::new(()),
            events,
            persist,
            options,
        });
        store.bootstrap();
        Ok(store)
    }

    fn bootstrap(&self) {
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            let _ = self.create(namespaces(), "", body, &WriteOptions::system());
        }
        let svc = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}
        });
        let _ = self.create(services(), "default", svc, &WriteOptions::system());
    }

    /// The current state, to read without any lock.
    fn snapshot(&self) -> Arc<State> {
        self.current.load_full()
    }

    /// Runs one write operation on a private copy of the state and publishes it: after the
    /// disk has it (when persistent), then to watchers.
    fn write<T>(&self, op: impl FnOnce(&mut Txn) -> Result<T>) -> Result<T> {
        let run = || {
            // A panic while holding the lock publishes nothing, so a poisoned lock guards a
            // consistent state.
            let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
            let mut txn = Txn::new(
                (*self.snapshot()).clone(),
                self.persist.is_some(),
                (self.options.history, self.options.history_bytes),
                self.options.event_ttl,
                self.options.clock.now(),
            );
            let out = op(&mut txn)?;
            self.publish(txn)?;
            Ok(out)
        };
        if self.persist.is_some() {
            off_executor(run)
        } else {
            run()
        }
    }

    fn publish(&self, txn: Txn) -> Result<()> {
        if txn.outbox.is_empty() {
            return Ok(());
        }
        if let Some(p) = &self.persist {
            p.write(&txn.disk, txn.state.resource_version)
                .map_err(|e| StoreError::Internal(format!("cannot write to the data dir: {e}")))?;
        }
        self.current.store(Arc::new(txn.state));
        for e in txn.outbox {
            // No receivers is fine: nobody is watching.
            let _ = self.events.send(e);
        }
        Ok(())
    }

    /// Whether writes go to disk.
    pub fn is_persistent(&self) -> bool {
        self.persist.is_some()
    }

    /// Makes every disk write fail (or work again), as a full or broken disk would.
    #[cfg(any(test, feature = "testing"))]
    pub fn fail_disk_writes(&self, failing: bool) {
        if let Some(p) = &self.persist {
            p.fail_writes(failing);
        }
    }

    pub fn clock(&self) -> &Clock {
        &self.options.clock
    }

    pub fn resource_version(&self) -> u64 {
        self.snapshot().resource_version
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<WatchEvent>> {
        self.events.subscribe()
    }

    pub fn get(&self, rt: &'static ResourceType, ns: &str, name: &str) -> Result<Arc<Value>> {
        self.snapshot()
            .get(rt, ns, name)
            .ok_or_else(|| not_found(rt, name))
    }

    pub fn list(
        &self,
        rt: &'static ResourceType,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        limit: Option<usize>,
        after: Option<(String, String)>,
    ) -> ListPage {
        let snap = self.snapshot();
        let mut items = Vec::new();
        let mut last = None;
        let mut remaining = 0;
        for (n, name, obj) in snap.select(rt, ns, labels, fields, after.as_ref()) {
            if limit.is_some_and(|l| items.len() >= l) {
                remaining += 1;
                continue;
            }
            items.push(obj.clone());
            last = Some((n, name));
        }
        let continue_after = last
            .filter(|_| remaining > 0)
            .map(|(n, name)| (n.to_string(), name.to_string()));
        ListPage {
            items,
            resource_version: snap.resource_version,
            continue_after,
            remaining,
        }
    }

    /// Every object of a kind in a namespace (or all), without selectors: for in-process readers.
    pub fn all(&self, rt: &'static ResourceType, ns: Option<&str>) -> Vec<Arc<Value>> {
        self.list(
            rt,
            ns,
            &LabelSelector::default(),
            &FieldSelector::default(),
            None,
            None,
        )
        .items
    }

    /// How many objects of a kind there are.
    pub fn count(&self, rt: &'static ResourceType) -> usize {
        self.snapshot().kind(rt).len
    }

    /// The objects that name `uid` in their ownerReferences.
    pub fn dependents(&self, uid: &str) -> Vec<(&'static ResourceType, Arc<Value>)> {
        self.snapshot().dependents_of(uid)
    }

    /// Whether an object with this uid exists.
    pub fn uid_exists(&self, uid: &str) -> bool {
        self.snapshot().uids.contains_key(uid)
    }

    /// The object with this uid.
    pub fn by_uid(&self, uid: &str) -> Option<(&'static ResourceType, Arc<Value>)> {
        let snap = self.snapshot();
        let at = snap.uids.get(uid)?;
        Some((at.resource(), snap.get_ref(at)?))
    }

    /// Every object in a namespace.
    pub fn namespace_content(&self, ns: &str) -> Vec<(&'static ResourceType, Arc<Value>)> {
        self.snapshot().namespace_content(ns)
    }

    pub fn create(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        body: Value,
        opts: &WriteOptions,
    ) -> Result<Arc<Value>> {
        self.write(|txn| txn.create(rt, ns, body, opts))
    }

    /// Replaces an object (PUT). A resourceVersion in the body must match the stored one.
    pub fn update(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        body: Value,
        part: Part,
        opts: &WriteOptions,
    ) -> Result<Arc<Value>> {
        self.write(|txn| {
            let old = txn.get(rt, ns, name).ok_or_else(|| not_found(rt, name))?;
            let body_rv = meta::resource_version(&body);
            if !body_rv.is_empty() && body_rv != meta::resource_version(&old) {
                return Err(conflict(rt, name));
            }
            txn.update(rt, &old, body, part, opts)
        })
    }

    /// Read-modify-write under the writer lock (patches, scale): `change` gets the stored
    /// object and returns the new body, or `None` when the object is absent and `change` gets
    /// `None` to create it.
    pub fn modify<F>(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        part: Part,
        opts: &WriteOptions,
        change: F,
    ) -> Result<Arc<Value>>
    where
        F: FnOnce(Option<&Value>) -> Result<Value>,
    {
        self.write(|txn| match txn.get(rt, ns, name) {
            Some(old) => {
                let body = change(Some(&old))?;
                let body_rv = meta::resource_version(&body);
                if !body_rv.is_empty() && body_rv != meta::resource_version(&old) {
                    return Err(conflict(rt, name));
                }
                txn.update(rt, &old, body, part, opts)
            }
            None => {
                let mut body = change(None)?;
                meta::set_str(&mut body, "name", name);
                txn.create(rt, ns, body, opts)
            }
        })
    }

    /// Deletes an object. Returns the object as it was (gone) or as it now is (marked for
    /// deletion, waiting for finalizers or graceful termination), and whether it is gone.
    pub fn delete(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<(Arc<Value>, bool)> {
        self.write(|txn| {
            let obj = txn.get(rt, ns, name).ok_or_else(|| not_found(rt, name))?;
            if let Some(uid) = &opts.precondition_uid
                && uid != meta::uid(&obj)
            {
                return Err(StoreError::ConflictMessage {
                    resource: rt.key(),
                    name: name.into(),
                    message: format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                        meta::uid(&obj)
                    ),
                });
            }
            if let Some(rv) = &opts.precondition_resource_version
                && rv != meta::resource_version(&obj)
            {
                return Err(StoreError::ConflictMessage {
                    resource: rt.key(),
                    name: name.into(),
                    message: format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        meta::resource_version(&obj)
                    ),
                });
            }
            txn.delete(rt, &obj, opts)
        })
    }

    /// Deletes every matching object (deletecollection); returns what was deleted or marked.
    pub fn delete_collection(
        &self,
        rt: &'static ResourceType,
        ns: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        opts: &DeleteOptions,
    ) -> Result<Vec<Arc<Value>>> {
        let targets = self.list(rt, ns, labels, fields, None, None).items;
        let mut out = Vec::new();
        for obj in targets {
            match self.delete(rt, meta::namespace(&obj), meta::name(&obj), opts) {
                Ok((o, _)) => out.push(o),
                Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Ends a foreground deletion whose dependents are all gone (the garbage collector's
    /// step); true when the object's `foregroundDeletion` finalizer was removed.
    pub fn finish_foreground_deletion(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        name: &str,
    ) -> Result<bool> {
        self.write(|txn| Ok(txn.finish_foreground(rt, ns, name)))
    }

    /// Removes a terminating namespace once it is empty (the garbage collector's step); true
    /// when it is gone.
    pub fn finish_namespace_termination(&self, name: &str) -> Result<bool> {
        self.write(|txn| Ok(txn.finish_namespace(name)))
    }

    /// Deletes the Events whose TTL has run out (watchers see them DELETED); returns how many.
    pub fn expire_events(&self) -> Result<usize> {
        let mut total = 0;
        loop {
            let n = self.write(|txn| Ok(txn.expire_events(EXPIRE_BATCH)))?;
            total += n;
            if n < EXPIRE_BATCH {
                return Ok(total);
            }
        }
    }

    /// When the next Event expires, if any is stored.
    pub fn next_event_expiry(&self) -> Option<Instant> {
        self.snapshot().expiry.get_min().map(|(t, _)| *t)
    }

    /// Starts a watch: the events to send first, and the live feed. The feed is subscribed
    /// before the state is read, so nothing falls between the two; events the backlog already
    /// covers arrive on the feed too, and the watcher skips them by resource version.
    pub fn watch(
        &self,
        rt: &'static ResourceType,
        ns: Option<&str>,
        since: Since,
    ) -> Result<WatchStart> {
        let rx = self.events.subscribe();
        let snap = self.snapshot();
        let current = snap.resource_version;
        let backlog = match since {
            Since::Now => {
                let everything = LabelSelector::default();
                let no_fields = FieldSelector::default();
                snap.select(rt, ns, &everything, &no_fields, None)
                    .map(|(n, _, obj)| {
                        Arc::new(WatchEvent {
                            resource_version: meta::resource_version(obj)
                                .parse()
                                .unwrap_or(current),
                            event_type: EventType::Added,
                            resource: rt,
                            namespace: n.to_string(),
                            object: obj.clone(),
                            previous: None,
                            bytes: 0,
                            encoded: Default::default(),
                        })
                    })
                    .collect()
            }
            Since::After(rv) => {
                if rv < snap.history_floor {
                    return Err(StoreError::Expired {
                        requested: rv,
                        oldest: snap.history_floor + 1,
                    });
                }
                let start = match snap
                    .history
                    .binary_search_by(|e| e.resource_version.cmp(&rv))
                {
                    Ok(i) => i + 1,
                    Err(i) => i,
                };
                snap.history
                    .skip(start)
                    .iter()
                    .filter(|e| std::ptr::eq(e.resource, rt) && ns.is_none_or(|n| n == e.namespace))
                    .cloned()
                    .collect()
            }
        };
        Ok((backlog, rx, current))
    }
}

/// Runs work that may block (a disk commit, or waiting for the writer doing one) without
/// holding up the async runtime: on a worker of a multi-threaded runtime, the worker first
/// hands its other tasks to another thread. Elsewhere (a blocking-pool thread, a plain thread,
/// a single-threaded runtime) the work just runs.
fn off_executor<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

fn namespaces() -> &'static ResourceType {
    resources::find("", "v1", "namespaces")
        .unwrap_or_else(|| unreachable!("namespaces is in the registry"))
}

fn services() -> &'static ResourceType {
    resources::find("", "v1", "services")
        .unwrap_or_else(|| unreachable!("services is in the registry"))
}

pub(crate) fn not_found(rt: &ResourceType, name: &str) -> StoreError {
    StoreError::NotFound {
        resource: resource_name(rt),
        name: name.to_string(),
    }
}

pub(crate) fn conflict(rt: &ResourceType, name: &str) -> StoreError {
    StoreError::Conflict {
        resource: resource_name(rt),
        name: name.to_string(),
    }
}

/// `deployments.apps`, `pods`: how Kubernetes names a resource in messages.
pub fn resource_name(rt: &ResourceType) -> String {
    rt.key()
}

impl WriteOptions {
    pub fn system() -> Self {
        Self {
            field_manager: "rollout-sim".into(),
            dry_run: false,
            apply: false,
        }
    }
}

fn invalid(rt: &ResourceType, name: &str, causes: Vec<admission::Cause>) -> StoreError {
    StoreError::Invalid {
        kind: rt.kind.into(),
        group: rt.group.into(),
        name: name.into(),
        message: admission::invalid_message(rt, name, &causes),
        causes,
    }
}

fn invalid_one(
    rt: &ResourceType,
    name: &str,
    reason: &'static str,
    field: &str,
    message: &str,
) -> StoreError {
    invalid(
        rt,
        name,
        vec![admission::Cause {
            reason,
            field: field.into(),
            message: message.into(),
        }],
    )
}
