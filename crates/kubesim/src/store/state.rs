//! One immutable version of everything the store holds: the objects, the indexes lists and
//! garbage collection read, and the watch history.
//!
//! Every map is a persistent (structurally shared) map, so a writer copies the current state in
//! O(1), changes its copy in O(log n) per object, and publishes it whole; readers keep whatever
//! version they loaded for as long as they like, filtering and serialising it without holding
//! any lock.

use super::{FieldSelector, LabelSelector, WatchEvent, meta};
use crate::resources::{RESOURCES, ResourceType};
use imbl::{HashMap, HashSet, OrdMap, OrdSet, Vector};
use serde_json::Value;
use std::net::Ipv4Addr;
use std::ops::Bound;
use std::sync::Arc;
use std::time::Instant;

pub(super) type Str = Arc<str>;

/// Where an object lives: its resource (position in [`RESOURCES`]), namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct ObjRef {
    pub res: usize,
    pub ns: Str,
    pub name: Str,
}

impl ObjRef {
    pub fn resource(&self) -> &'static ResourceType {
        &RESOURCES[self.res]
    }
}

/// Names by namespace: one entry of an index.
type Posting = OrdMap<Str, OrdSet<Str>>;

/// The objects of one resource, by namespace then name, with their label and field indexes.
#[derive(Clone, Default)]
pub(super) struct Kind {
    pub objects: OrdMap<Str, OrdMap<Str, Arc<Value>>>,
    pub len: usize,
    /// `(label key, value)` → the objects carrying it.
    labels: HashMap<(Str, Str), Posting>,
    /// `(field path, value)` → the objects with that value (non-empty values only), for the
    /// fields in [`indexed_fields`].
    fields: HashMap<(&'static str, Str), Posting>,
}

/// The fields clients select on often enough to index: what a kubelet watches its pods by, and
/// what `kubectl describe` lists an object's Events by. `metadata.name` and
/// `metadata.namespace` need no index: objects are keyed by them.
pub(super) fn indexed_fields(rt: &ResourceType) -> &'static [&'static str] {
    match (rt.group, rt.plural) {
        ("", "pods") => &["spec.nodeName"],
        ("", "events") => &["involvedObject.uid", "involvedObject.name"],
        _ => &[],
    }
}

#[derive(Clone)]
pub(super) struct State {
    pub resource_version: u64,
    pub kinds: Vec<Kind>,
    /// uid → where the object lives.
    pub uids: HashMap<Str, ObjRef>,
    /// Owner uid → the objects naming it in their ownerReferences (whether or not it exists).
    pub dependents: HashMap<Str, OrdSet<ObjRef>>,
    /// Committed changes in resource-version order, for watches to resume from.
    pub history: Vector<Arc<WatchEvent>>,
    /// The newest resource version no longer in `history`: watches from before it get 410.
    pub history_floor: u64,
    /// What the objects of `history` hold, as its events count it.
    pub history_bytes: usize,
    pub cluster_ips: HashSet<Ipv4Addr>,
    pub next_ip: u32,
    /// When each Event expires, in order (and by Event, to move it when the Event is written).
    pub expiry: OrdSet<(Instant, ObjRef)>,
    pub expires_at: HashMap<ObjRef, Instant>,
}

impl State {
    pub fn new() -> Self {
        Self {
            resource_version: 0,
            kinds: vec![Kind::default(); RESOURCES.len()],
            uids: HashMap::new(),
            dependents: HashMap::new(),
            history: Vector::new(),
            history_floor: 0,
            history_bytes: 0,
            cluster_ips: HashSet::new(),
            next_ip: 2,
            expiry: OrdSet::new(),
            expires_at: HashMap::new(),
        }
    }

    pub fn kind(&self, rt: &ResourceType) -> &Kind {
        &self.kinds[resource_index(rt)]
    }

    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.kind(rt).objects.get(ns)?.get(name).cloned()
    }

    pub fn get_ref(&self, r: &ObjRef) -> Option<Arc<Value>> {
        self.kinds[r.res]
            .objects
            .get(&*r.ns)?
            .get(&*r.name)
            .cloned()
    }

    /// Stores `obj` (replacing any object of that name) and keeps every index in step.
    pub fn put(&mut self, rt: &ResourceType, obj: Arc<Value>) {
        let res = resource_index(rt);
        let ns: Str = meta::namespace(&obj).into();
        let name: Str = meta::name(&obj).into();
        self.remove(rt, &ns, &name);
        let at = ObjRef {
            res,
            ns: ns.clone(),
            name: name.clone(),
        };
        let uid = meta::uid(&obj);
        if !uid.is_empty() {
            self.uids.insert(uid.into(), at.clone());
        }
        for owner in meta::owner_uids(&obj) {
            self.dependents
                .entry(owner.into())
                .or_default()
                .insert(at.clone());
        }
        if rt.plural == "services"
            && let Some(ip) = cluster_ip(&obj)
        {
            self.cluster_ips.insert(ip);
        }
        let kind = &mut self.kinds[res];
        for (k, v) in labels(&obj) {
            add_posting(
                kind.labels.entry((k.into(), v.into())).or_default(),
                &ns,
                &name,
            );
        }
        for field in indexed_fields(rt) {
            let value = FieldSelector::value_of(&obj, field);
            if !value.is_empty() {
                add_posting(
                    kind.fields.entry((*field, value.into())).or_default(),
                    &ns,
                    &name,
                );
            }
        }
        kind.objects.entry(ns).or_default().insert(name, obj);
        kind.len += 1;
    }

    /// Removes an object and its index entries; returns it.
    pub fn remove(&mut self, rt: &ResourceType, ns: &str, name: &str) -> Option<Arc<Value>> {
        let res = resource_index(rt);
        let kind = &mut self.kinds[res];
        let names = kind.objects.get_mut(ns)?;
        let obj = names.remove(name)?;
        if names.is_empty() {
            kind.objects.remove(ns);
        }
        kind.len -= 1;
        for (k, v) in labels(&obj) {
            let key: (Str, Str) = (k.into(), v.into());
            if let Some(p) = kind.labels.get_mut(&key)
                && remove_posting(p, ns, name)
            {
                kind.labels.remove(&key);
            }
        }
        for field in indexed_fields(rt) {
            let value = FieldSelector::value_of(&obj, field);
            if value.is_empty() {
                continue;
            }
            let key: (&'static str, Str) = (field, value.into());
            if let Some(p) = kind.fields.get_mut(&key)
                && remove_posting(p, ns, name)
            {
                kind.fields.remove(&key);
            }
        }
        let at = ObjRef {
            res,
            ns: ns.into(),
            name: name.into(),
        };
        let uid = meta::uid(&obj);
        if self.uids.get(uid).is_some_and(|r| *r == at) {
            self.uids.remove(uid);
        }
        for owner in meta::owner_uids(&obj) {
            if let Some(deps) = self.dependents.get_mut(owner) {
                deps.remove(&at);
                if deps.is_empty() {
                    self.dependents.remove(owner);
                }
            }
        }
        if rt.plural == "services"
            && let Some(ip) = cluster_ip(&obj)
        {
            self.cluster_ips.remove(&ip);
        }
        Some(obj)
    }

    /// The objects that name `uid` as an owner.
    pub fn dependents_of(&self, uid: &str) -> Vec<(&'static ResourceType, Arc<Value>)> {
        self.dependents
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|r| Some((r.resource(), self.get_ref(r)?)))
            .collect()
    }

    pub fn has_dependents(&self, uid: &str) -> bool {
        self.dependents.get(uid).is_some_and(|d| !d.is_empty())
    }

    /// Every object in a namespace, of every namespaced resource.
    pub fn namespace_content(&self, ns: &str) -> Vec<(&'static ResourceType, Arc<Value>)> {
        RESOURCES
            .iter()
            .zip(&self.kinds)
            .filter(|(rt, _)| rt.namespaced)
            .flat_map(|(rt, kind)| {
                kind.objects
                    .get(ns)
                    .into_iter()
                    .flat_map(|m| m.values())
                    .map(move |o| (rt, o.clone()))
            })
            .collect()
    }

    pub fn namespace_is_empty(&self, ns: &str) -> bool {
        RESOURCES
            .iter()
            .zip(&self.kinds)
            .all(|(rt, kind)| !rt.namespaced || !kind.objects.contains_key(ns))
    }

    /// The objects of `rt` (in `ns`, or all) that both selectors match, in (namespace, name)
    /// order, starting after `after`. The cheapest index the selectors allow narrows the
    /// candidates; every candidate is then checked against the whole of both selectors.
    pub fn select<'a>(
        &'a self,
        rt: &ResourceType,
        ns: Option<&'a str>,
        labels: &'a LabelSelector,
        fields: &'a FieldSelector,
        after: Option<&'a (String, String)>,
    ) -> impl Iterator<Item = (&'a Str, &'a Str, &'a Arc<Value>)> + 'a {
        let kind = self.kind(rt);
        let mut ns = ns.filter(|_| rt.namespaced);
        let mut impossible = false;
        for (field, value) in fields.required_fields() {
            if field == "metadata.namespace" {
                match ns {
                    Some(n) if n != value => impossible = true,
                    _ => ns = Some(value),
                }
            }
        }
        let plan = if impossible {
            Plan::Nothing
        } else if let Some(name) = fields.pinned_name() {
            Plan::Name(name)
        } else {
            cheapest_posting(kind, rt, ns, labels, fields).map_or(Plan::Scan, Plan::Posting)
        };
        let keys: Box<dyn Iterator<Item = (&'a Str, &'a Str)> + 'a> = match plan {
            Plan::Nothing => Box::new(std::iter::empty()),
            Plan::Scan => Box::new(walk(&kind.objects, ns, after, |m| {
                Box::new(m.keys()) as Box<dyn Iterator<Item = &'a Str> + 'a>
            })),
            Plan::Posting(p) => Box::new(walk(p, ns, after, |names| {
                Box::new(names.iter()) as Box<dyn Iterator<Item = &'a Str> + 'a>
            })),
            Plan::Name(name) => Box::new(
                namespaces_from(&kind.objects, ns, after)
                    .filter_map(move |(n, m)| {
                        let (key, _) = m.get_key_value(name)?;
                        Some((n, key))
                    })
                    .filter(move |(n, key)| is_after(after, n, key)),
            ),
        };
        keys.filter_map(move |(n, name)| {
            let obj = kind.objects.get(&**n)?.get(&**name)?;
            (labels.matches_object(obj) && fields.matches(obj)).then_some((n, name, obj))
        })
    }
}

enum Plan<'a> {
    Nothing,
    Scan,
    Name(&'a str),
    Posting(&'a Posting),
}

/// The smallest index entry that every match must be in, when it is small enough to beat a
/// scan.
fn cheapest_posting<'a>(
    kind: &'a Kind,
    rt: &ResourceType,
    ns: Option<&str>,
    labels: &LabelSelector,
    fields: &FieldSelector,
) -> Option<&'a Posting> {
    let size = |p: &Posting| match ns {
        Some(n) => p.get(n).map_or(0, OrdSet::len),
        None => p.values().map(OrdSet::len).sum(),
    };
    let empty: &'static Posting = empty_posting();
    let mut best: Option<(&'a Posting, usize)> = None;
    let mut consider = |p: Option<&'a Posting>| {
        let p = p.unwrap_or(empty);
        let n = size(p);
        if best.is_none_or(|(_, b)| n < b) {
            best = Some((p, n));
        }
    };
    for (field, value) in fields.required_fields() {
        if let Some(indexed) = indexed_fields(rt).iter().find(|f| **f == field)
            && !value.is_empty()
        {
            consider(kind.fields.get(&(*indexed, Str::from(value))));
        }
    }
    for (k, v) in labels.required_labels() {
        consider(kind.labels.get(&(Str::from(k), Str::from(v))));
    }
    // Walking an index entry costs a lookup per name; a scan of nearly as many objects is
    // cheaper.
    let scanned = match ns {
        Some(n) => kind.objects.get(n).map_or(0, OrdMap::len),
        None => kind.len,
    };
    best.filter(|(_, n)| n.saturating_mul(2) <= scanned)
        .map(|(p, _)| p)
}

fn empty_posting() -> &'static Posting {
    static EMPTY: std::sync::OnceLock<Posting> = std::sync::OnceLock::new();
    EMPTY.get_or_init(OrdMap::new)
}

fn is_after(after: Option<&(String, String)>, ns: &str, name: &str) -> bool {
    after.is_none_or(|(ans, aname)| (ns, name) > (ans.as_str(), aname.as_str()))
}

/// The namespaces of `map` to visit: just `ns` when given, else all from the continue point.
fn namespaces_from<'a, V>(
    map: &'a OrdMap<Str, V>,
    ns: Option<&'a str>,
    after: Option<&'a (String, String)>,
) -> Box<dyn Iterator<Item = (&'a Str, &'a V)> + 'a>
where
    V: Clone,
{
    match ns {
        Some(n) => Box::new(map.get_key_value(n).into_iter()),
        None => match after {
            Some((ans, _)) => {
                Box::new(map.range::<_, str>((Bound::Included(ans.as_str()), Bound::Unbounded)))
            }
            None => Box::new(map.iter()),
        },
    }
}

/// (namespace, name) keys of a namespace → names map, in order, after the continue point.
fn walk<'a, V, F>(
    map: &'a OrdMap<Str, V>,
    ns: Option<&'a str>,
    after: Option<&'a (String, String)>,
    names: F,
) -> impl Iterator<Item = (&'a Str, &'a Str)> + 'a
where
    V: Clone + 'a,
    F: Fn(&'a V) -> Box<dyn Iterator<Item = &'a Str> + 'a> + 'a,
{
    namespaces_from(map, ns, after).flat_map(move |(n, inner)| {
        let skip_to = after.filter(|a| a.0.as_str() == &**n).map(|a| a.1.as_str());
        names(inner)
            .skip_while(move |name| skip_to.is_some_and(|a| &***name <= a))
            .map(move |name| (n, name))
    })
}

fn add_posting(p: &mut Posting, ns: &Str, name: &Str) {
    p.entry(ns.clone()).or_default().insert(name.clone());
}

/// Removes a name; true when the entry is left empty.
fn remove_posting(p: &mut Posting, ns: &str, name: &str) -> bool {
    if let Some(names) = p.get_mut(ns) {
        names.remove(name);
        if names.is_empty() {
            p.remove(ns);
        }
    }
    p.is_empty()
}

fn labels(obj: &Value) -> impl Iterator<Item = (&str, &str)> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
}

fn cluster_ip(obj: &Value) -> Option<Ipv4Addr> {
    obj.pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
}

/// The position of a resource in [`RESOURCES`], which every stored resource comes from.
pub(super) fn resource_index(rt: &ResourceType) -> usize {
    RESOURCES
        .iter()
        .position(|r| std::ptr::eq(r, rt))
        .or_else(|| RESOURCES.iter().position(|r| r == rt))
        .unwrap_or_else(|| unreachable!("{} is not in the resource table", rt.key()))
}
