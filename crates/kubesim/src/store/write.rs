//! One write operation: a private copy of the state that the operation changes, the changes
//! for the disk, and the events for watchers. Nothing of it is visible until the store
//! publishes it (after the disk took it); an operation that fails is simply dropped.

use super::persist::Change;
use super::state::{ObjRef, State, resource_index};
use super::{
    DeleteOptions, EventType, Part, Propagation, Result, StoreError, WatchEvent, WriteOptions,
    invalid, invalid_one, meta, namespaces,
};
use crate::admission::{self, Operation};
use crate::resources::{self, ResourceType};
use serde_json::{Value, json};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(super) struct Txn {
    pub state: State,
    pub disk: Vec<Change>,
    pub outbox: Vec<Arc<WatchEvent>>,
    persistent: bool,
    /// How many changes, and how many bytes of objects, the history keeps.
    history_limit: (usize, usize),
    event_ttl: Duration,
    now: Instant,
}

pub(super) fn lookup_key(rt: &ResourceType, ns: &str, name: &str) -> String {
    format!("{}/{}/{}", rt.key(), ns, name)
}

pub(super) fn is_event(rt: &ResourceType) -> bool {
    rt.group.is_empty() && rt.plural == "events"
}

impl Txn {
    pub fn new(
        state: State,
        persistent: bool,
        history_limit: (usize, usize),
        event_ttl: Duration,
        now: Instant,
    ) -> Self {
        Self {
            state,
            disk: Vec::new(),
            outbox: Vec::new(),
            persistent,
            history_limit,
            event_ttl,
            now,
        }
    }

    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.state.get(rt, ns, name)
    }

    /// Gives the object the next resource version and records the change.
    pub fn commit(
        &mut self,
        rt: &'static ResourceType,
        event_type: EventType,
        mut obj: Value,
    ) -> Arc<Value> {
        self.state.resource_version += 1;
        let rv = self.state.resource_version;
        meta::set_str(&mut obj, "resourceVersion", &rv.to_string());
        let ns = meta::namespace(&obj).to_string();
        let name = meta::name(&obj).to_string();
        let obj = Arc::new(obj);
        let previous = self.state.get(rt, &ns, &name);
        let gone = event_type == EventType::Deleted;
        if gone {
            self.state.remove(rt, &ns, &name);
        } else {
            self.state.put(rt, obj.clone());
        }
        if self.persistent {
            let body = if gone {
                None
            } else {
                serde_json::to_vec(&*obj).ok()
            };
            self.disk.push((lookup_key(rt, &ns, &name), body));
        }
        if is_event(rt) {
            // As the real server's Event lease, every write of an Event starts its TTL anew.
            let at = ObjRef {
                res: resource_index(rt),
                ns: ns.as_str().into(),
                name: name.as_str().into(),
            };
            let expires = (!gone).then(|| self.now + self.event_ttl);
            track_expiry(&mut self.state, at, expires);
        }
        let event = Arc::new(WatchEvent {
            resource_version: rv,
            event_type,
            resource: rt,
            namespace: ns,
            object: obj.clone(),
            previous,
            bytes: super::size::approx_bytes(&obj),
            encoded: Default::default(),
        });
        self.state.history_bytes += event.bytes;
        self.state.history.push_back(event.clone());
        // The newest change always stays, however large: a watch from just before it resumes.
        let (count, bytes) = self.history_limit;
        while self.state.history.len() > count
            || (self.state.history_bytes > bytes && self.state.history.len() > 1)
        {
            if let Some(old) = self.state.history.pop_front() {
                self.state.history_floor = old.resource_version;
                self.state.history_bytes -= old.bytes;
            }
        }
        self.outbox.push(event);
        obj
    }

    pub fn create(
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
                resource: super::resource_name(rt),
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
            && self.state.cluster_ips.contains(&ip)
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
            super::managed_fields::record_update(
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
            let offset = self.state.next_ip % size;
            self.state.next_ip = self.state.next_ip.wrapping_add(1);
            if offset < 2 {
                continue;
            }
            let ip = Ipv4Addr::from(base + offset);
            if !self.state.cluster_ips.contains(&ip) {
                return Ok(ip);
            }
        }
        Err(StoreError::Internal(
            "the service IP range 10.96.0.0/12 is full".into(),
        ))
    }

    pub fn update(
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
            super::managed_fields::record_update(
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
            return Ok(self.commit(rt, EventType::Deleted, new));
        }
        Ok(self.commit(rt, EventType::Modified, new))
    }

    /// Deletes (or marks for deletion) an object. What its deletion means for other objects
    /// (dependents, a namespace's content) is the garbage collector's to carry out, except
    /// orphaning, which must be complete before the owner is gone.
    pub fn delete(
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
            Propagation::Foreground if self.state.has_dependents(meta::uid(obj)) => {
                meta::add_finalizer(&mut marked, "foregroundDeletion");
            }
            _ => {}
        }
        if rt.plural == "namespaces" {
            meta::set_top(&mut marked, "status", json!({"phase": "Terminating"}));
            meta::mark_deleting(&mut marked, 0);
            let obj = self.commit(rt, EventType::Modified, marked);
            // An empty namespace has nothing to wait for; one with content is emptied by the
            // garbage collector. Either way the API answers as for a completed delete, as the
            // real server does for namespaces.
            self.finish_namespace(meta::name(&obj));
            return Ok((obj, true));
        }
        if !meta::finalizers(&marked).is_empty() {
            if !meta::is_deleting(&marked) {
                meta::mark_deleting(&mut marked, 0);
            }
            let obj = self.commit(rt, EventType::Modified, marked);
            return Ok((obj, false));
        }
        let obj = self.commit(rt, EventType::Deleted, marked);
        Ok((obj, true))
    }

    fn orphan_dependents(&mut self, uid: &str) {
        for (rt, dep) in self.state.dependents_of(uid) {
            let mut d = (*dep).clone();
            meta::remove_owner(&mut d, uid);
            self.commit(rt, EventType::Modified, d);
        }
    }

    /// A terminating namespace whose content is all gone goes too; true when it went.
    pub fn finish_namespace(&mut self, name: &str) -> bool {
        let Some(ns) = self.get(namespaces(), "", name) else {
            return true;
        };
        if !meta::is_deleting(&ns) || !self.state.namespace_is_empty(name) {
            return false;
        }
        self.commit(namespaces(), EventType::Deleted, (*ns).clone());
        true
    }

    /// An object waiting in foreground deletion whose dependents are all gone loses its
    /// `foregroundDeletion` finalizer (and goes, if that was the last); true when it did.
    pub fn finish_foreground(&mut self, rt: &'static ResourceType, ns: &str, name: &str) -> bool {
        let Some(obj) = self.get(rt, ns, name) else {
            return false;
        };
        if !meta::is_deleting(&obj)
            || !meta::finalizers(&obj).contains(&"foregroundDeletion")
            || self.state.has_dependents(meta::uid(&obj))
        {
            return false;
        }
        let mut o = (*obj).clone();
        meta::remove_finalizer(&mut o, "foregroundDeletion");
        let kind = if meta::finalizers(&o).is_empty() {
            EventType::Deleted
        } else {
            EventType::Modified
        };
        self.commit(rt, kind, o);
        true
    }

    /// Deletes up to `max` Events whose time is up; returns how many.
    pub fn expire_events(&mut self, max: usize) -> usize {
        let now = self.now;
        let due: Vec<ObjRef> = self
            .state
            .expiry
            .iter()
            .take_while(|(t, _)| *t <= now)
            .take(max)
            .map(|(_, r)| r.clone())
            .collect();
        for r in &due {
            match self.state.get_ref(r) {
                Some(obj) => {
                    self.commit(r.resource(), EventType::Deleted, (*obj).clone());
                }
                None => track_expiry(&mut self.state, r.clone(), None),
            }
        }
        due.len()
    }
}

/// Moves an Event's place in the expiry order (`None`: it is gone).
pub(super) fn track_expiry(state: &mut State, at: ObjRef, expires: Option<Instant>) {
    if let Some(old) = state.expires_at.remove(&at) {
        state.expiry.remove(&(old, at.clone()));
    }
    if let Some(t) = expires {
        state.expiry.insert((t, at.clone()));
        state.expires_at.insert(at, t);
    }
}
