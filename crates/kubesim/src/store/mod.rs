//! The versioned object store behind the embedded API server.
//!
//! Objects are JSON values keyed by resource, namespace and name. Every committed change gets
//! the next resource version, is kept in a bounded history (so watches can resume) and is
//! fanned out to watchers through one broadcast channel. Writes are serialised by one mutex:
//! admission, the write and the event happen together, so a failed write leaves nothing behind
//! and watchers see changes in resource-version order.

pub mod error;
mod gc;
pub mod managed_fields;
pub mod merge_keys;
mod meta;
mod persist;

pub use error::{Result, StoreError};
pub use kube_util::selector::{FieldSelector, LabelSelector};

use crate::admission::{self, Operation};
use crate::resources::{self, RESOURCES, ResourceType};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

/// How many committed changes a watch can resume from.
pub const HISTORY: usize = 10_000;
const FANOUT_CAPACITY: usize = 65_536;

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

type Objects = BTreeMap<(String, String), Arc<Value>>;

struct Inner {
    resource_version: u64,
    objects: HashMap<String, Objects>,
    /// uid → where the object lives, for owner lookups.
    uids: HashMap<String, (&'static ResourceType, String, String)>,
    history: VecDeque<Arc<WatchEvent>>,
    /// The newest resource version no longer in `history`: watches from before it get 410.
    history_floor: u64,
    cluster_ips: HashSet<Ipv4Addr>,
    next_ip: u32,
    /// Changes not yet written to disk (flushed at the end of each operation).
    pending: Vec<(String, Option<Vec<u8>>)>,
    /// Events not yet sent (sent at the end of each operation, after persistence).
    outbox: Vec<Arc<WatchEvent>>,
    /// Set while garbage collection runs, so deletions it makes do not start it again.
    in_gc: bool,
    history_limit: usize,
    /// Whether changes are written through to disk (only then are they serialised for it).
    persistent: bool,
}

pub struct Store {
    inner: Mutex<Inner>,
    events: broadcast::Sender<Arc<WatchEvent>>,
    persist: Option<persist::Persist>,
}

fn lookup_key(rt: &ResourceType, ns: &str, name: &str) -> String {
    format!("{}/{}/{}", rt.key(), ns, name)
}

impl Store {
    /// An empty in-memory store with the namespaces and objects every cluster starts with.
    pub fn new() -> Arc<Self> {
        Self::with_history(HISTORY)
    }

    /// An in-memory store that keeps `history` changes for watches to resume from.
    pub fn with_history(history: usize) -> Arc<Self> {
        Self::build(None, history)
            .unwrap_or_else(|_| unreachable!("an in-memory store cannot fail to open"))
    }

    /// A store written through to `dir`, loaded from it when it already holds objects.
    pub fn open(dir: &Path, history: usize) -> Result<Arc<Self>, String> {
        Self::build(Some(persist::Persist::open(dir)?), history)
    }

    fn build(persist: Option<persist::Persist>, history: usize) -> Result<Arc<Self>, String> {
        let (events, _) = broadcast::channel(FANOUT_CAPACITY);
        let mut inner = Inner {
            resource_version: 0,
            objects: HashMap::new(),
            uids: HashMap::new(),
            history: VecDeque::new(),
            history_floor: 0,
            cluster_ips: HashSet::new(),
            next_ip: 2,
            pending: Vec::new(),
            outbox: Vec::new(),
            in_gc: false,
            history_limit: history.max(1),
            persistent: persist.is_some(),
        };
        if let Some(p) = &persist {
            let loaded = p.load()?;
            inner.resource_version = loaded.resource_version;
            inner.history_floor = loaded.resource_version;
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
                let ns = meta::namespace(&obj).to_string();
                let name = meta::name(&obj).to_string();
                inner.index(rt, &ns, &name, Arc::new(obj));
            }
        }
        let store = Arc::new(Self {
            inner: Mutex::new(inner),
            events,
            persist,
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

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied change (changes are
        // built first and committed last), so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn resource_version(&self) -> u64 {
        self.lock().resource_version
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<WatchEvent>> {
        self.events.subscribe()
    }

    pub fn get(&self, rt: &'static ResourceType, ns: &str, name: &str) -> Result<Arc<Value>> {
        let inner = self.lock();
        inner.get(rt, ns, name).ok_or_else(|| not_found(rt, name))
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
        let inner = self.lock();
        let mut items = Vec::new();
        let mut continue_after = None;
        let mut remaining = 0;
        if let Some(objects) = inner.objects.get(&rt.key()) {
            let start = match &after {
                Some(k) => std::ops::Bound::Excluded(k.clone()),
                None => std::ops::Bound::Unbounded,
            };
            for ((ons, oname), obj) in objects.range((start, std::ops::Bound::Unbounded)) {
                if ns.is_some_and(|n| n != ons)
                    || !labels.matches_object(obj)
                    || !fields.matches(obj)
                {
                    continue;
                }
                if limit.is_some_and(|l| items.len() >= l) {
                    remaining += 1;
                    continue;
                }
                items.push(obj.clone());
                continue_after = Some((ons.clone(), oname.clone()));
            }
        }
        if remaining == 0 {
            continue_after = None;
        }
        ListPage {
            items,
            resource_version: inner.resource_version,
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

    pub fn create(
        &self,
        rt: &'static ResourceType,
        ns: &str,
        body: Value,
        opts: &WriteOptions,
    ) -> Result<Arc<Value>> {
        let mut inner = self.lock();
        let out = inner.create(rt, ns, body, opts)?;
        self.finish(inner, opts.dry_run)?;
        Ok(out)
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
        let mut inner = self.lock();
        let old = inner.get(rt, ns, name).ok_or_else(|| not_found(rt, name))?;
        let body_rv = meta::resource_version(&body);
        if !body_rv.is_empty() && body_rv != meta::resource_version(&old) {
            return Err(conflict(rt, name));
        }
        let out = inner.update(rt, &old, body, part, opts)?;
        self.finish(inner, opts.dry_run)?;
        Ok(out)
    }

    /// Read-modify-write under the store lock (patches, scale): `change` gets the stored object
    /// and returns the new body, or `None` when the object is absent and `change` gets `None`
    /// to create it.
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
        let mut inner = self.lock();
        let out = match inner.get(rt, ns, name) {
            Some(old) => {
                let body = change(Some(&old))?;
                let body_rv = meta::resource_version(&body);
                if !body_rv.is_empty() && body_rv != meta::resource_version(&old) {
                    return Err(conflict(rt, name));
                }
                inner.update(rt, &old, body, part, opts)?
            }
            None => {
                let mut body = change(None)?;
                meta::set_str(&mut body, "name", name);
                inner.create(rt, ns, body, opts)?
            }
        };
        self.finish(inner, opts.dry_run)?;
        Ok(out)
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
        let mut inner = self.lock();
        let obj = inner.get(rt, ns, name).ok_or_else(|| not_found(rt, name))?;
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
        let out = inner.delete(rt, &obj, opts)?;
        self.finish(inner, opts.dry_run)?;
        Ok(out)
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

    /// Starts a watch: the events to send first, and the live feed. Taken under the store lock
    /// so nothing falls between the two.
    pub fn watch(
        &self,
        rt: &'static ResourceType,
        ns: Option<&str>,
        since: Since,
    ) -> Result<WatchStart> {
        let inner = self.lock();
        let rx = self.events.subscribe();
        let current = inner.resource_version;
        let backlog = match since {
            Since::Now => inner
                .objects
                .get(&rt.key())
                .map(|objs| {
                    objs.iter()
                        .filter(|((ons, _), _)| ns.is_none_or(|n| n == ons))
                        .map(|((ons, _), obj)| {
                            Arc::new(WatchEvent {
                                resource_version: meta::resource_version(obj)
                                    .parse()
                                    .unwrap_or(current),
                                event_type: EventType::Added,
                                resource: rt,
                                namespace: ons.clone(),
                                object: obj.clone(),
                                previous: None,
                                encoded: Default::default(),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
            Since::After(rv) => {
                if rv < inner.history_floor {
                    return Err(StoreError::Expired {
                        requested: rv,
                        oldest: inner.history_floor + 1,
                    });
                }
                inner
                    .history
                    .iter()
                    .filter(|e| {
                        e.resource_version > rv
                            && std::ptr::eq(e.resource, rt)
                            && ns.is_none_or(|n| n == e.namespace)
                    })
                    .cloned()
                    .collect()
            }
        };
        Ok((backlog, rx, current))
    }

    /// Persists and publishes what the operation committed, then releases the lock.
    fn finish(&self, mut inner: MutexGuard<'_, Inner>, dry_run: bool) -> Result<()> {
        if dry_run {
            // Dry runs never reach `commit`; nothing is pending.
            return Ok(());
        }
        if let Some(p) = &self.persist
            && !inner.pending.is_empty()
        {
            let pending = std::mem::take(&mut inner.pending);
            p.write(&pending, inner.resource_version)
                .map_err(StoreError::Internal)?;
        }
        inner.pending.clear();
        for e in std::mem::take(&mut inner.outbox) {
            // No receivers is fine: nobody is watching.
            let _ = self.events.send(e);
        }
        Ok(())
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

impl Inner {
    fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.objects
            .get(&rt.key())?
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    fn index(&mut self, rt: &'static ResourceType, ns: &str, name: &str, obj: Arc<Value>) {
        let uid = meta::uid(&obj).to_string();
        if !uid.is_empty() {
            self.uids
                .insert(uid, (rt, ns.to_string(), name.to_string()));
        }
        if rt.plural == "services"
            && let Some(ip) = obj
                .pointer("/spec/clusterIP")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
        {
            self.cluster_ips.insert(ip);
        }
        self.objects
            .entry(rt.key())
            .or_default()
            .insert((ns.to_string(), name.to_string()), obj);
    }

    fn unindex(&mut self, rt: &'static ResourceType, ns: &str, name: &str) -> Option<Arc<Value>> {
        let obj = self
            .objects
            .get_mut(&rt.key())?
            .remove(&(ns.to_string(), name.to_string()))?;
        self.uids.remove(meta::uid(&obj));
        if rt.plural == "services"
            && let Some(ip) = obj
                .pointer("/spec/clusterIP")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<Ipv4Addr>().ok())
        {
            self.cluster_ips.remove(&ip);
        }
        Some(obj)
    }

    /// Gives the object the next resource version and records the change.
    fn commit(
        &mut self,
        rt: &'static ResourceType,
        event_type: EventType,
        mut obj: Value,
    ) -> Arc<Value> {
        self.resource_version += 1;
        let rv = self.resource_version;
        meta::set_str(&mut obj, "resourceVersion", &rv.to_string());
        let ns = meta::namespace(&obj).to_string();
        let name = meta::name(&obj).to_string();
        let obj = Arc::new(obj);
        let key = lookup_key(rt, &ns, &name);
        let previous = self.get(rt, &ns, &name);
        if event_type == EventType::Deleted {
            self.unindex(rt, &ns, &name);
            if self.persistent {
                self.pending.push((key, None));
            }
        } else {
            self.index(rt, &ns, &name, obj.clone());
            if self.persistent {
                self.pending.push((key, serde_json::to_vec(&*obj).ok()));
            }
        }
        let event = Arc::new(WatchEvent {
            resource_version: rv,
            event_type,
            resource: rt,
            namespace: ns,
            object: obj.clone(),
            previous,
            encoded: Default::default(),
        });
        self.history.push_back(event.clone());
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.history_floor = old.resource_version;
            }
        }
        self.outbox.push(event);
        obj
    }

    fn create(
        &mut self,
        rt: &'static ResourceType,
        ns: &str,
        mut body: Value,
        opts: &WriteOptions,
    ) -> Result<Arc<Value>> {
        meta::check_type(rt, &mut body)?;
        let ns = if rt.namespaced { ns } else { "" };
        meta::check_namespace(rt, &mut body, ns)?;
        if rt.namespaced && ns.is_empty() {
            return Err(StoreError::BadRequest(
                "the server could not find the requested resource: a namespace is required".into(),
            ));
        }
        if meta::name(&body).is_empty() {
            let prefix = meta::str_field(&body, "generateName").to_string();
            if prefix.is_empty() {
                return Err(StoreError::Invalid {
                    kind: rt.kind.into(),
                    group: rt.group.into(),
                    name: String::new(),
                    message: format!(
                        "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                        admission::qualified_kind(rt)
                    ),
                    causes: vec![admission::Cause {
                        reason: "FieldValueRequired",
                        field: "metadata.name".into(),
                        message: "Required value: name or generateName is required".into(),
                    }],
                });
            }
            // Retry on the rare clash, as the real server's generator does.
            let mut name = format!("{prefix}{}", meta::random_suffix());
            while self.get(rt, ns, &name).is_some() {
                name = format!("{prefix}{}", meta::random_suffix());
            }
            meta::set_str(&mut body, "name", &name);
        }
        let name = meta::name(&body).to_string();
        if rt.namespaced {
            match self.get(namespaces(), "", ns) {
                None => {
                    return Err(StoreError::NotFound {
                        resource: "namespaces".into(),
                        name: ns.into(),
                    });
                }
                Some(n) if meta::is_deleting(&n) => {
                    return Err(StoreError::Forbidden(format!(
                        "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                        rt.plural
                    )));
                }
                Some(_) => {}
            }
        }
        if self.get(rt, ns, &name).is_some() {
            return Err(StoreError::AlreadyExists {
                resource: resource_name(rt),
                name,
            });
        }
        let applied_fields = if opts.apply {
            body.pointer("/metadata/managedFields").cloned()
        } else {
            None
        };
        meta::reset_for_create(rt, &mut body);
        if let Some(f) = applied_fields {
            meta::set_meta(&mut body, "managedFields", f);
        }
        admission::default_object(rt, &mut body);
        if rt.plural == "services" && admission::needs_cluster_ip(&body) {
            let ip = self.allocate_ip()?;
            if let Some(spec) = body.get_mut("spec").and_then(Value::as_object_mut) {
                spec.insert("clusterIP".into(), json!(ip.to_string()));
                spec.insert("clusterIPs".into(), json!([ip.to_string()]));
            }
        } else if rt.plural == "services"
            && let Some(ip) = body
                .pointer("/spec/clusterIP")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<Ipv4Addr>().ok())
            && self.cluster_ips.contains(&ip)
        {
            return Err(invalid_one(
                rt,
                &name,
                "FieldValueInvalid",
                "spec.clusterIPs",
                &format!(
                    "Invalid value: []string{{\"{ip}\"}}: failed to allocate IP {ip}: provided IP is already allocated"
                ),
            ));
        }
        let causes = admission::validate(rt, &body, None, Operation::Create);
        if !causes.is_empty() {
            return Err(invalid(rt, &name, causes));
        }
        if !opts.apply {
            managed_fields::record_update(
                None,
                &mut body,
                &opts.field_manager,
                &rt.api_version(),
                &meta::now(),
            );
        }
        if opts.dry_run {
            return Ok(Arc::new(body));
        }
        let obj = self.commit(rt, EventType::Added, body);
        if rt.plural == "namespaces" {
            self.namespace_created(&name);
        }
        Ok(obj)
    }

    fn namespace_created(&mut self, ns: &str) {
        let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}});
        if let Some(rt) = resources::find("", "v1", "serviceaccounts") {
            let _ = self.create(rt, ns, sa, &WriteOptions::system());
        }
    }

    fn allocate_ip(&mut self) -> Result<Ipv4Addr> {
        // 10.96.0.0/12, as kubeadm's default service CIDR; .1 belongs to `kubernetes`.
        let base = u32::from(Ipv4Addr::new(10, 96, 0, 0));
        let size = 1u32 << 20;
        for _ in 0..size {
            let offset = self.next_ip % size;
            self.next_ip = self.next_ip.wrapping_add(1);
            if offset < 2 {
                continue;
            }
            let ip = Ipv4Addr::from(base + offset);
            if !self.cluster_ips.contains(&ip) {
                return Ok(ip);
            }
        }
        Err(StoreError::Internal(
            "the service IP range 10.96.0.0/12 is full".into(),
        ))
    }

    fn update(
        &mut self,
        rt: &'static ResourceType,
        old: &Arc<Value>,
        mut body: Value,
        part: Part,
        opts: &WriteOptions,
    ) -> Result<Arc<Value>> {
        meta::check_type(rt, &mut body)?;
        let name = meta::name(old).to_string();
        let ns = meta::namespace(old).to_string();
        if !meta::name(&body).is_empty() && meta::name(&body) != name {
            return Err(StoreError::BadRequest(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta::name(&body)
            )));
        }
        meta::check_namespace(rt, &mut body, &ns)?;
        let mut new = match part {
            Part::Status => {
                let mut n = (**old).clone();
                match body.get("status") {
                    Some(s) => meta::set_top(&mut n, "status", s.clone()),
                    None => meta::remove_top(&mut n, "status"),
                }
                n
            }
            Part::System => body,
            Part::Main => {
                if rt.has_status {
                    match old.get("status") {
                        Some(s) => meta::set_top(&mut body, "status", s.clone()),
                        None => meta::remove_top(&mut body, "status"),
                    }
                }
                body
            }
        };
        meta::keep_system_fields(old, &mut new);
        admission::default_object(rt, &mut new);
        // An update that omits the allocated cluster IPs (or node ports) keeps them.
        admission::carry_over_allocated(rt, &mut new, old);
        let causes = if part == Part::System {
            admission::validate(rt, &new, None, Operation::Create)
        } else {
            admission::validate(rt, &new, Some(old), Operation::Update)
        };
        if !causes.is_empty() {
            return Err(invalid(rt, &name, causes));
        }
        if rt.tracks_generation() && meta::spec_changed(old, &new) {
            let g = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            meta::set_meta(&mut new, "generation", json!(g + 1));
        }
        if !opts.apply {
            managed_fields::record_update(
                Some(old),
                &mut new,
                &opts.field_manager,
                &rt.api_version(),
                &meta::now(),
            );
        }
        if meta::same_content(old, &new) {
            return Ok(old.clone());
        }
        if opts.dry_run {
            return Ok(Arc::new(new));
        }
        // The last finalizer removed from an object being deleted: it goes now.
        if meta::is_deleting(&new)
            && meta::finalizers(&new).is_empty()
            && !meta::is_graceful_pod(rt, &new)
        {
            let obj = self.commit(rt, EventType::Deleted, new);
            self.collect_garbage();
            return Ok(obj);
        }
        let obj = self.commit(rt, EventType::Modified, new);
        if meta::is_deleting(&obj) {
            self.collect_garbage();
        }
        Ok(obj)
    }

    fn delete(
        &mut self,
        rt: &'static ResourceType,
        obj: &Arc<Value>,
        opts: &DeleteOptions,
    ) -> Result<(Arc<Value>, bool)> {
        let policy = opts.propagation.unwrap_or_default();
        if opts.dry_run {
            return Ok((obj.clone(), true));
        }
        // A pod on a node stops gracefully: it is marked, and its kubelet removes it once the
        // containers have stopped (or right away with a grace period of 0).
        if rt.plural == "pods" && meta::is_graceful_pod(rt, obj) {
            let grace = opts.grace_period_seconds.unwrap_or_else(|| {
                obj.pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
                    .unwrap_or(30)
            });
            let already = obj
                .pointer("/metadata/deletionGracePeriodSeconds")
                .and_then(Value::as_i64);
            if grace > 0 && already.is_none_or(|a| grace < a) {
                let mut marked = (**obj).clone();
                meta::mark_deleting(&mut marked, grace);
                return Ok((self.commit(rt, EventType::Modified, marked), false));
            }
            if grace > 0 {
                return Ok((obj.clone(), false));
            }
        }
        let mut marked = (**obj).clone();
        match policy {
            Propagation::Orphan => self.orphan_dependents(meta::uid(obj)),
            Propagation::Foreground if self.has_dependents(meta::uid(obj)) => {
                meta::add_finalizer(&mut marked, "foregroundDeletion");
            }
            _ => {}
        }
        if rt.plural == "namespaces" {
            meta::set_top(&mut marked, "status", json!({"phase": "Terminating"}));
            meta::mark_deleting(&mut marked, 0);
            let obj = self.commit(rt, EventType::Modified, marked);
            self.collect_garbage();
            let gone = self.get(rt, "", meta::name(&obj)).is_none();
            return Ok((obj, gone));
        }
        if !meta::finalizers(&marked).is_empty() {
            if !meta::is_deleting(&marked) {
                meta::mark_deleting(&mut marked, 0);
            }
            let obj = self.commit(rt, EventType::Modified, marked);
            self.collect_garbage();
            return Ok((obj, false));
        }
        let obj = self.commit(rt, EventType::Deleted, marked);
        self.collect_garbage();
        Ok((obj, true))
    }

    /// Every stored object with its type (snapshot of the Arcs, so callers may write while
    /// walking it).
    fn every_object(&self) -> Vec<(&'static ResourceType, Arc<Value>)> {
        RESOURCES
            .iter()
            .flat_map(|rt| {
                self.objects
                    .get(&rt.key())
                    .into_iter()
                    .flat_map(|m| m.values())
                    .map(move |o| (rt, o.clone()))
            })
            .collect()
    }

    fn has_dependents(&self, uid: &str) -> bool {
        self.objects
            .values()
            .flat_map(|m| m.values())
            .any(|o| meta::owner_uids(o).any(|u| u == uid))
    }

    fn orphan_dependents(&mut self, uid: &str) {
        let dependents: Vec<(&'static ResourceType, Arc<Value>)> = self.dependents_of(uid);
        for (rt, dep) in dependents {
            let mut d = (*dep).clone();
            meta::remove_owner(&mut d, uid);
            self.commit(rt, EventType::Modified, d);
        }
    }

    fn dependents_of(&self, uid: &str) -> Vec<(&'static ResourceType, Arc<Value>)> {
        self.every_object()
            .into_iter()
            .filter(|(_, o)| meta::owner_uids(o).any(|u| u == uid))
            .collect()
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
