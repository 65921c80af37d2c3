//! `metadata.managedFields` bookkeeping: which manager owns which fields of an object.
//!
//! Kubernetes records, per field manager and operation, the set of fields that manager owns,
//! encoded as FieldsV1 (`{"f:spec":{"f:replicas":{}}}`). Every write the store commits moves
//! ownership of the fields it changed to its manager ([`record_update`]); server-side apply
//! (`api::patch::apply`) reads and rewrites the same record. Paths are sequences of FieldsV1
//! elements: `f:<field>`, `k:<json key object>` for an element of a keyed list, `v:<json value>`
//! for an element of a set.

use super::merge_keys::{ListMerge, list_merge};
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

pub(crate) const APPLY: &str = "Apply";
pub(crate) const UPDATE: &str = "Update";

/// Top-level fields nobody owns: identity is in the URL and status has its own writers.
const ROOT_IGNORED: &[&str] = &["apiVersion", "kind", "status"];

/// Metadata that identifies the object or that the server maintains; never owned (as in
/// Kubernetes' `stripmeta`).
const METADATA_IGNORED: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// An encoded FieldsV1 path: `["f:spec", "f:template", "k:{\"name\":\"app\"}"]`.
pub(crate) type Path = Vec<String>;
pub(crate) type FieldSet = BTreeSet<Path>;

/// Records a non-apply write (create, update, patch) by `manager` in `new`'s
/// `metadata.managedFields`, `old` being the object before the write (`None` on create).
///
/// The manager's Update entry (identified by manager and `api_version`) gains every field whose
/// value the write set or changed; every other entry loses those fields, and all entries lose
/// fields that no longer exist. Entries left empty are dropped.
///
/// As in Kubernetes, the `managedFields` the request itself carries are honoured: absent or
/// unchanged means "keep the live record", a different non-empty list replaces the record, and
/// `[{}]` clears it (the write is then not recorded either).
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    now: &str,
) {
    if !new.is_object() {
        return;
    }
    let requested = new.pointer("/metadata/managedFields").cloned();
    let previous = old.and_then(|o| o.pointer("/metadata/managedFields"));
    if let Some(Value::Array(list)) = &requested
        && list.len() == 1
        && list
            .first()
            .is_some_and(|e| e.as_object().is_some_and(Map::is_empty))
    {
        if let Some(Value::Object(meta)) = new.get_mut("metadata") {
            meta.shift_remove("managedFields");
        }
        return;
    }
    let from_request = match &requested {
        Some(Value::Array(list)) if !list.is_empty() && requested.as_ref() != previous => list
            .iter()
            .map(Entry::from_json)
            .collect::<Option<Vec<Entry>>>(),
        _ => None,
    };
    let mut entries = match from_request {
        Some(entries) => entries,
        None => old.map(read_entries).unwrap_or_default(),
    };

    let kind = new
        .get("kind")
        .and_then(Value::as_str)
        .or_else(|| old.and_then(|o| o.get("kind")).and_then(Value::as_str))
        .unwrap_or("")
        .to_string();
    let empty = Value::Object(Map::new());
    let old_obj = old.unwrap_or(&empty);
    let old_set = field_set(old_obj, &kind);
    let new_set = field_set(new, &kind);
    let touched: FieldSet = new_set
        .iter()
        .filter(|p| {
            if has_descendant(&new_set, p) {
                !old_set.contains(*p)
            } else {
                value_at(old_obj, p) != value_at(new, p)
            }
        })
        .cloned()
        .collect();

    let own = entries
        .iter()
        .position(|e| e.is(manager, UPDATE, api_version, None));
    for (i, entry) in entries.iter_mut().enumerate() {
        let mine = Some(i) == own;
        entry
            .fields
            .retain(|p| is_status(p) || (new_set.contains(p) && (mine || !touched.contains(p))));
    }
    match own.and_then(|i| entries.get_mut(i)) {
        Some(entry) => {
            if !touched.is_empty() {
                entry.time = Some(now.to_string());
            }
            entry.fields.extend(touched);
        }
        None if !touched.is_empty() => entries.push(Entry {
            manager: manager.to_string(),
            operation: UPDATE.to_string(),
            api_version: api_version.to_string(),
            time: Some(now.to_string()),
            subresource: None,
            fields: touched,
        }),
        None => {}
    }
    write_entries(new, entries);
}

/// The FieldsV1 encoding of every field set in `obj` (its kind taken from `obj.kind`), leaving
/// out what nobody owns: `apiVersion`, `kind`, `status`, and the metadata that names the object
/// or that the server maintains (`name`, `namespace`, `uid`, `resourceVersion`,
/// `creationTimestamp`, `generation`, `managedFields`, ...).
pub fn fields_v1(obj: &Value) -> Value {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    encode_fields(&field_set(obj, kind))
}

/// Maps Kubernetes declares atomic (`+mapType=atomic` / `+structType=atomic`): an apply replaces
/// them whole and they are owned as one field.
pub(crate) fn is_atomic_map(fields: &[&str]) -> bool {
    matches!(
        fields.last().copied(),
        Some(
            "selector"
                | "nodeSelector"
                | "labelSelector"
                | "namespaceSelector"
                | "secretKeyRef"
                | "configMapKeyRef"
                | "fieldRef"
                | "resourceFieldRef"
        )
    )
}

pub(crate) fn is_status(path: &[String]) -> bool {
    path.first().is_some_and(|el| el == "f:status")
}

pub(crate) fn key_of<'v>(item: &'v Value, key: &str) -> Option<&'v Value> {
    item.get(key).filter(|v| !v.is_null())
}

pub(crate) fn key_element(key: &str, value: &Value) -> String {
    let mut map = Map::new();
    map.insert(key.to_string(), value.clone());
    format!("k:{}", Value::Object(map))
}

pub(crate) fn has_descendant(set: &FieldSet, path: &[String]) -> bool {
    // Extensions of `path` sort right after it, so the next element decides.
    set.range::<[String], _>((Bound::Excluded(path), Bound::Unbounded))
        .next()
        .is_some_and(|next| next.len() > path.len() && next.starts_with(path))
}

// ---- Field sets ----------------------------------------------------------------------------

/// Every owned field of `obj`: leaves (scalars, atomic lists and maps, empty objects), list
/// elements identified by key or value, and the fields inside keyed elements.
pub(crate) fn field_set(obj: &Value, kind: &str) -> FieldSet {
    let mut set = FieldSet::new();
    let Some(root) = obj.as_object() else {
        return set;
    };
    let mut path = Path::new();
    let mut fields: Vec<&str> = Vec::new();
    for (k, v) in root {
        if ROOT_IGNORED.contains(&k.as_str()) {
            continue;
        }
        path.push(format!("f:{k}"));
        fields.push(k);
        match v {
            Value::Object(meta) if k == "metadata" => {
                for (mk, mv) in meta {
                    if METADATA_IGNORED.contains(&mk.as_str()) {
                        continue;
                    }
                    path.push(format!("f:{mk}"));
                    fields.push(mk);
                    collect(mv, kind, &mut path, &mut fields, &mut set);
                    fields.pop();
                    path.pop();
                }
            }
            _ => collect(v, kind, &mut path, &mut fields, &mut set),
        }
        fields.pop();
        path.pop();
    }
    set
}

fn collect<'a>(
    value: &'a Value,
    kind: &str,
    path: &mut Path,
    fields: &mut Vec<&'a str>,
    set: &mut FieldSet,
) {
    match value {
        Value::Null => {}
        Value::Object(map) if !map.is_empty() && !is_atomic_map(fields) => {
            collect_members(map, kind, path, fields, set);
        }
        Value::Array(items) if !items.is_empty() => match list_merge(kind, fields) {
            ListMerge::ByKey(key) if items.iter().all(|i| key_of(i, key).is_some()) => {
                for item in items {
                    let (Some(id), Some(map)) = (key_of(item, key), item.as_object()) else {
                        continue;
                    };
                    path.push(key_element(key, id));
                    set.insert(path.clone());
                    collect_members(map, kind, path, fields, set);
                    path.pop();
                }
            }
            ListMerge::Set => {
                for item in items {
                    path.push(format!("v:{item}"));
                    set.insert(path.clone());
                    path.pop();
                }
            }
            // Atomic, or a keyed list that does not identify its elements: owned as a whole.
            _ => {
                set.insert(path.clone());
            }
        },
        _ => {
            set.insert(path.clone());
        }
    }
}

fn collect_members<'a>(
    map: &'a Map<String, Value>,
    kind: &str,
    path: &mut Path,
    fields: &mut Vec<&'a str>,
    set: &mut FieldSet,
) {
    for (k, v) in map {
        path.push(format!("f:{k}"));
        fields.push(k);
        collect(v, kind, path, fields, set);
        fields.pop();
        path.pop();
    }
}

#[derive(Default)]
struct Node {
    member: bool,
    children: BTreeMap<String, Node>,
}

pub(crate) fn encode_fields(set: &FieldSet) -> Value {
    let mut root = Node::default();
    for path in set {
        let mut node = &mut root;
        for el in path {
            node = node.children.entry(el.clone()).or_default();
        }
        node.member = true;
    }
    node_json(&root)
}

fn node_json(node: &Node) -> Value {
    let mut map = Map::new();
    // "." marks a node that is owned itself as well as having owned children.
    if node.member && !node.children.is_empty() {
        map.insert(".".into(), Value::Object(Map::new()));
    }
    for (el, child) in &node.children {
        map.insert(el.clone(), node_json(child));
    }
    Value::Object(map)
}

pub(crate) fn decode_fields(fields: &Value) -> FieldSet {
    let mut set = FieldSet::new();
    decode_into(fields, &mut Path::new(), &mut set);
    set
}

fn decode_into(node: &Value, path: &mut Path, set: &mut FieldSet) {
    let Some(map) = node.as_object() else {
        return;
    };
    for (el, child) in map {
        if el == "." {
            continue;
        }
        path.push(el.clone());
        let member = child
            .as_object()
            .is_none_or(|m| m.is_empty() || m.contains_key("."));
        if member {
            set.insert(path.clone());
        }
        decode_into(child, path, set);
        path.pop();
    }
}

// ---- Paths into objects ----------------------------------------------------------------------

pub(crate) enum Step<'p> {
    Field(&'p str),
    Key(Map<String, Value>),
    Value(Value),
    Index(usize),
}

pub(crate) fn parse_step(el: &str) -> Option<Step<'_>> {
    if let Some(name) = el.strip_prefix("f:") {
        Some(Step::Field(name))
    } else if let Some(key) = el.strip_prefix("k:") {
        serde_json::from_str(key).ok().map(Step::Key)
    } else if let Some(value) = el.strip_prefix("v:") {
        serde_json::from_str(value).ok().map(Step::Value)
    } else if let Some(index) = el.strip_prefix("i:") {
        index.parse().ok().map(Step::Index)
    } else {
        None
    }
}

impl Step<'_> {
    fn matches(&self, item: &Value) -> bool {
        match self {
            Step::Key(key) => key.iter().all(|(k, v)| item.get(k) == Some(v)),
            Step::Value(value) => item == value,
            Step::Field(_) | Step::Index(_) => false,
        }
    }

    fn child<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        match self {
            Step::Field(name) => value.as_object()?.get(*name),
            Step::Index(i) => value.as_array()?.get(*i),
            _ => value.as_array()?.iter().find(|item| self.matches(item)),
        }
    }

    fn child_mut<'v>(&self, value: &'v mut Value) -> Option<&'v mut Value> {
        match self {
            Step::Field(name) => value.as_object_mut()?.get_mut(*name),
            Step::Index(i) => value.as_array_mut()?.get_mut(*i),
            _ => value
                .as_array_mut()?
                .iter_mut()
                .find(|item| self.matches(item)),
        }
    }
}

pub(crate) fn value_at<'v>(value: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter()
        .try_fold(value, |cur, el| parse_step(el)?.child(cur))
}

pub(crate) fn value_at_mut<'v>(value: &'v mut Value, path: &[String]) -> Option<&'v mut Value> {
    let mut cur = value;
    for el in path {
        cur = parse_step(el)?.child_mut(cur)?;
    }
    Some(cur)
}

pub(crate) fn remove_at(value: &mut Value, path: &[String]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let (Some(step), Some(parent)) = (parse_step(last), value_at_mut(value, parent_path)) else {
        return;
    };
    match (&step, parent) {
        (Step::Field(name), Value::Object(map)) => {
            map.shift_remove(*name);
        }
        (Step::Index(i), Value::Array(items)) if *i < items.len() => {
            items.remove(*i);
        }
        (Step::Key(_) | Step::Value(_), Value::Array(items)) => {
            items.retain(|item| !step.matches(item));
        }
        _ => {}
    }
}

/// `.spec.template.spec.containers[name="app"].image`, as Kubernetes prints field paths.
pub(crate) fn render_path(path: &[String]) -> String {
    let mut out = String::new();
    for el in path {
        match parse_step(el) {
            Some(Step::Field(name)) => {
                out.push('.');
                out.push_str(name);
            }
            Some(Step::Key(key)) => {
                let parts: Vec<String> = key.iter().map(|(k, v)| format!("{k}={v}")).collect();
                out.push('[');
                out.push_str(&parts.join(","));
                out.push(']');
            }
            Some(Step::Value(value)) => out.push_str(&format!("[={value}]")),
            Some(Step::Index(i)) => out.push_str(&format!("[{i}]")),
            None => {
                out.push('.');
                out.push_str(el);
            }
        }
    }
    out
}

// ---- managedFields entries ---------------------------------------------------------------------

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) manager: String,
    pub(crate) operation: String,
    pub(crate) api_version: String,
    pub(crate) time: Option<String>,
    pub(crate) subresource: Option<String>,
    pub(crate) fields: FieldSet,
}

impl Entry {
    /// Kubernetes identifies an entry by manager, operation and subresource, and for Update
    /// also by API version (an applier keeps one entry across versions).
    pub(crate) fn is(
        &self,
        manager: &str,
        operation: &str,
        api_version: &str,
        subresource: Option<&str>,
    ) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
            && (operation == APPLY || self.api_version == api_version)
    }

    pub(crate) fn from_json(value: &Value) -> Option<Entry> {
        let map = value.as_object()?;
        let text = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_string);
        Some(Entry {
            manager: text("manager").unwrap_or_default(),
            operation: text("operation").unwrap_or_default(),
            api_version: text("apiVersion").unwrap_or_default(),
            time: text("time"),
            subresource: text("subresource").filter(|s| !s.is_empty()),
            fields: map.get("fieldsV1").map(decode_fields).unwrap_or_default(),
        })
    }

    fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("manager".into(), Value::String(self.manager.clone()));
        map.insert("operation".into(), Value::String(self.operation.clone()));
        map.insert("apiVersion".into(), Value::String(self.api_version.clone()));
        if let Some(time) = &self.time {
            map.insert("time".into(), Value::String(time.clone()));
        }
        map.insert("fieldsType".into(), Value::String("FieldsV1".into()));
        map.insert("fieldsV1".into(), encode_fields(&self.fields));
        if let Some(sub) = &self.subresource {
            map.insert("subresource".into(), Value::String(sub.clone()));
        }
        Value::Object(map)
    }

    fn seconds(&self) -> i64 {
        self.time
            .as_deref()
            .and_then(kube_util::time::parse)
            .map_or(0, |t| kube_util::time::whole_seconds(t).as_second())
    }
}

pub(crate) fn read_entries(obj: &Value) -> Vec<Entry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Entry::from_json).collect())
        .unwrap_or_default()
}

/// Kubernetes' order: by operation (Apply first), then time, manager, API version, subresource.
fn entry_order(a: &Entry, b: &Entry) -> Ordering {
    a.operation
        .cmp(&b.operation)
        .then_with(|| a.seconds().cmp(&b.seconds()))
        .then_with(|| a.manager.cmp(&b.manager))
        .then_with(|| a.api_version.cmp(&b.api_version))
        .then_with(|| a.subresource.cmp(&b.subresource))
}

/// Stores `entries` (empty ones dropped, sorted) as `obj`'s `metadata.managedFields`, removing
/// the field when none is left.
pub(crate) fn write_entries(obj: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.fields.is_empty());
    entries.sort_by(entry_order);
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    if entries.is_empty() {
        if let Some(Value::Object(meta)) = root.get_mut("metadata") {
            meta.shift_remove("managedFields");
        }
        return;
    }
    let list = Value::Array(entries.iter().map(Entry::to_json).collect());
    let meta = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(meta) = meta {
        meta.insert("managedFields".into(), list);
    }
}
