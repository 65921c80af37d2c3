//! Server-side apply.
//!
//! Kubernetes records, per field manager and operation, the set of fields that manager owns,
//! encoded as FieldsV1 (`{"f:spec":{"f:replicas":{}}}`; kept by the store, see
//! [`crate::store::managed_fields`]). Apply uses that record to decide what a configuration may
//! change without a conflict and what it dropped since last time.
//!
//! The model here follows structured-merge-diff closely enough for `kubectl apply
//! --server-side`, controllers and kubectl edits to interact as they do on a real cluster, with
//! the schema reduced to the strategic-merge table in [`super::strategic`] plus a short list of
//! atomic maps. Paths are sequences of FieldsV1 elements: `f:<field>`, `k:<json key object>` for
//! an element of a keyed list, `v:<json value>` for an element of a set.

use super::strategic::type_name;
use crate::store::managed_fields::{
    APPLY, Entry, FieldSet, Path, Step, field_set, has_descendant, is_atomic_map, key_of,
    parse_step, read_entries, remove_at, render_path, value_at, write_entries,
};
use crate::store::merge_keys::{ListMerge, list_merge};
use serde_json::{Map, Value};
use std::fmt;

/// Metadata the server sets; an apply configuration cannot change it.
const METADATA_SERVER_SET: &[&str] = &[
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// A field that an apply would change although another manager owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldConflict {
    /// The manager that owns the field.
    pub manager: String,
    /// The field, as Kubernetes prints it: `.spec.replicas`,
    /// `.spec.template.spec.containers[name="app"].image`, `.metadata.finalizers[="x"]`.
    pub field: String,
}

/// Why an apply was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The configuration changes fields other managers own (retry with `force` to take them).
    #[error("{}", ConflictList(.conflicts))]
    Conflict { conflicts: Vec<FieldConflict> },
    /// The configuration is not a valid apply configuration.
    #[error("invalid apply configuration: {0}")]
    Invalid(String),
}

struct ConflictList<'a>(&'a [FieldConflict]);

impl fmt::Display for ConflictList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "Apply failed with {n} conflict{}: ",
            if n == 1 { "" } else { "s" }
        )?;
        for (i, c) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "conflict with \"{}\": {}", c.manager, c.field)?;
        }
        Ok(())
    }
}

/// Applies `applied` (a full or partial object, as `kubectl apply --server-side` sends it) on
/// behalf of `manager`, with `live` the current object (`None` creates it).
///
/// - The configuration merges into the live object: maps recursively, lists by the strategic
///   merge keys, atomic lists and atomic maps (label selectors, `nodeSelector`, key references)
///   replaced. `null` in the configuration means "not set".
/// - Changing the value of a field that another manager owns (by Apply or Update) is a
///   [`ApplyError::Conflict`], unless `force`, which takes the field over.
/// - Fields this manager applied before but leaves out now are removed, unless another manager
///   owns them too.
/// - This manager's Apply entry in `metadata.managedFields` becomes exactly the fields of the
///   configuration, stamped `now` (RFC 3339) when anything changed.
///
/// Status and server-maintained metadata (`uid`, `resourceVersion`, `creationTimestamp`,
/// `generation`, ...) keep their live values whatever the configuration says; a
/// `resourceVersion` precondition is the caller's to check.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, ApplyError> {
    if !applied.is_object() {
        return Err(ApplyError::Invalid(format!(
            "an apply configuration must be a JSON object, found {}",
            type_name(applied)
        )));
    }
    let api_version = required_str(applied, "apiVersion")?;
    let kind = required_str(applied, "kind")?;
    if manager.is_empty() {
        return Err(ApplyError::Invalid(
            "a field manager is required for apply".into(),
        ));
    }
    let empty = Value::Object(Map::new());
    let base = match live {
        None => &empty,
        Some(v @ Value::Object(_)) => v,
        Some(other) => {
            return Err(ApplyError::Invalid(format!(
                "the live object must be a JSON object, found {}",
                type_name(other)
            )));
        }
    };
    if let Some(live_kind) = base.get("kind").and_then(Value::as_str)
        && live_kind != kind
    {
        return Err(ApplyError::Invalid(format!(
            "kind {kind:?} does not match the existing object's kind {live_kind:?}"
        )));
    }

    let mut config = sanitize(applied, kind, &mut Vec::new(), "")?;
    if let Value::Object(map) = &mut config {
        map.shift_remove("status");
        if let Some(Value::Object(meta)) = map.get_mut("metadata") {
            for key in METADATA_SERVER_SET {
                meta.shift_remove(*key);
            }
        }
    }
    let config_set = field_set(&config, kind);
    let mut entries = read_entries(base);
    let mut merged = merge_config(base, &config, kind, &mut Vec::new());

    // Only a change of value conflicts: co-owning a field by agreeing on it is fine.
    let changed: FieldSet = config_set
        .iter()
        .filter(|p| differs(base, &merged, &config_set, p))
        .cloned()
        .collect();
    let own = entries
        .iter()
        .position(|e| e.is(manager, APPLY, api_version, None));
    let mut conflicts: Vec<FieldConflict> = Vec::new();
    for (i, entry) in entries.iter_mut().enumerate() {
        if Some(i) == own {
            continue;
        }
        let hit: Vec<Path> = entry.fields.intersection(&changed).cloned().collect();
        for path in hit {
            if force {
                entry.fields.remove(&path);
            } else {
                let conflict = FieldConflict {
                    manager: entry.manager.clone(),
                    field: render_path(&path),
                };
                if !conflicts.contains(&conflict) {
                    conflicts.push(conflict);
                }
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(ApplyError::Conflict { conflicts });
    }

    let previous = own
        .and_then(|i| entries.get(i))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let mut keep = config_set.clone();
    for (i, entry) in entries.iter().enumerate() {
        if Some(i) != own {
            keep.extend(entry.fields.iter().cloned());
        }
    }
    let mut dropped: Vec<&Path> = previous.difference(&keep).collect();
    // Deepest first, so that a parent is judged after its own dropped children are gone.
    dropped.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for path in dropped {
        // Something under it is still owned: the parent must stay for it. A kept element keeps
        // the field that identifies it.
        if has_descendant(&keep, path) || is_key_field(path) {
            continue;
        }
        remove_at(&mut merged, path);
        prune_empty_ancestors(&mut merged, path, &keep);
    }

    let object_changed = !same_ignoring_managed_fields(base, &merged);
    match own.and_then(|i| entries.get_mut(i)) {
        Some(entry) => {
            if object_changed || entry.fields != config_set || entry.api_version != api_version {
                entry.time = Some(now.to_string());
            }
            entry.fields = config_set;
            entry.api_version = api_version.to_string();
        }
        None => entries.push(Entry {
            manager: manager.to_string(),
            operation: APPLY.to_string(),
            api_version: api_version.to_string(),
            time: Some(now.to_string()),
            subresource: None,
            fields: config_set,
        }),
    }
    write_entries(&mut merged, entries);
    Ok(merged)
}

fn required_str<'v>(obj: &'v Value, field: &str) -> Result<&'v str, ApplyError> {
    obj.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApplyError::Invalid(format!("{field} must be set")))
}

/// Cleans an apply configuration: drops nulls (unset), rejects patch directives, and checks that
/// keyed lists identify every element exactly once.
fn sanitize<'a>(
    value: &'a Value,
    kind: &str,
    fields: &mut Vec<&'a str>,
    at: &str,
) -> Result<Value, ApplyError> {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                if k.starts_with('$') {
                    return Err(ApplyError::Invalid(format!(
                        "{}: {k:?} is a patch directive; an apply configuration is a plain object",
                        location(at)
                    )));
                }
                if v.is_null() {
                    continue;
                }
                fields.push(k);
                let child = sanitize(v, kind, fields, &format!("{at}.{k}"));
                fields.pop();
                out.insert(k.clone(), child?);
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => {
            let strategy = list_merge(kind, fields);
            let mut out: Vec<Value> = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let item_at = format!("{at}[{i}]");
                if let ListMerge::ByKey(key) = strategy {
                    let Some(id) = key_of(item, key) else {
                        return Err(ApplyError::Invalid(format!(
                            "{item_at}: element has no {key:?}, which identifies the elements of this list"
                        )));
                    };
                    if out.iter().any(|o| key_of(o, key) == Some(id)) {
                        return Err(ApplyError::Invalid(format!(
                            "{item_at}: duplicate entries for key {key}={id}"
                        )));
                    }
                }
                let clean = sanitize(item, kind, fields, &item_at)?;
                if strategy == ListMerge::Set && out.contains(&clean) {
                    continue;
                }
                out.push(clean);
            }
            Ok(Value::Array(out))
        }
        scalar => Ok(scalar.clone()),
    }
}

fn location(at: &str) -> &str {
    if at.is_empty() { "the top level" } else { at }
}

/// The live object with the configuration's values laid over it (nothing removed yet).
fn merge_config<'a>(
    live: &Value,
    config: &'a Value,
    kind: &str,
    fields: &mut Vec<&'a str>,
) -> Value {
    match (live, config) {
        (Value::Object(l), Value::Object(c)) if !is_atomic_map(fields) => {
            let mut out = l.clone();
            for (k, cv) in c {
                fields.push(k);
                let merged = match out.get(k) {
                    Some(lv) => merge_config(lv, cv, kind, fields),
                    None => cv.clone(),
                };
                fields.pop();
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(c)) => match list_merge(kind, fields) {
            ListMerge::ByKey(key) => {
                let mut out = l.clone();
                for item in c {
                    let id = key_of(item, key);
                    match out
                        .iter()
                        .position(|o| id.is_some() && key_of(o, key) == id)
                    {
                        Some(i) => {
                            let merged = merge_config(&out[i], item, kind, fields);
                            out[i] = merged;
                        }
                        None => out.push(item.clone()),
                    }
                }
                Value::Array(out)
            }
            ListMerge::Set => {
                let mut out = l.clone();
                for item in c {
                    if !out.contains(item) {
                        out.push(item.clone());
                    }
                }
                Value::Array(out)
            }
            ListMerge::Atomic => config.clone(),
        },
        _ => config.clone(),
    }
}

/// Whether applying changed the field at `path`: a leaf by value, an inner member (a list
/// element) by coming into existence.
fn differs(live: &Value, merged: &Value, set: &FieldSet, path: &[String]) -> bool {
    if has_descendant(set, path) {
        value_at(live, path).is_none()
    } else {
        value_at(live, path) != value_at(merged, path)
    }
}

/// After a removal, drops containers it left empty that nobody owns as such (an emptied
/// `labels` map, an emptied keyed list), the way omitempty fields vanish in Kubernetes. Top-level
/// fields (`spec`, `metadata`) always stay.
fn prune_empty_ancestors(obj: &mut Value, path: &[String], keep: &FieldSet) {
    for len in (2..path.len()).rev() {
        let ancestor = &path[..len];
        if keep.contains(ancestor) {
            break;
        }
        let empty = match value_at(obj, ancestor) {
            Some(Value::Object(m)) => m.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            _ => false,
        };
        if !empty {
            break;
        }
        remove_at(obj, ancestor);
    }
}

/// Whether `path` ends at a key field of a keyed list element (`...k:{"name":"a"}, f:name`).
fn is_key_field(path: &[String]) -> bool {
    let [.., parent, last] = path else {
        return false;
    };
    match (parse_step(parent), parse_step(last)) {
        (Some(Step::Key(key)), Some(Step::Field(name))) => key.contains_key(name),
        _ => false,
    }
}

fn same_ignoring_managed_fields(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(Value::Object(meta)) = v.get_mut("metadata") {
            meta.shift_remove("managedFields");
        }
        v
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::managed_fields::{decode_fields, encode_fields, fields_v1, record_update};
    use serde_json::json;

    const T0: &str = "2024-01-01T00:00:00Z";
    const T1: &str = "2024-01-01T00:01:00Z";
    const T2: &str = "2024-01-01T00:02:00Z";

    fn ok(result: Result<Value, ApplyError>) -> Value {
        match result {
            Ok(v) => v,
            Err(e) => panic!("apply failed: {e}"),
        }
    }

    fn conflicts(result: Result<Value, ApplyError>) -> Vec<FieldConflict> {
        match result {
            Err(ApplyError::Conflict { conflicts }) => conflicts,
            Err(e) => panic!("expected a conflict, got {e}"),
            Ok(v) => panic!("expected a conflict, got {v}"),
        }
    }

    fn invalid(result: Result<Value, ApplyError>) -> String {
        match result {
            Err(ApplyError::Invalid(msg)) => msg,
            Err(e) => panic!("expected invalid, got {e}"),
            Ok(v) => panic!("expected invalid, got {v}"),
        }
    }

    fn entries(obj: &Value) -> Vec<Value> {
        obj.pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    fn entry_for<'a>(obj: &'a Value, manager: &str, operation: &str) -> Option<&'a Value> {
        obj.pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .and_then(|list| {
                list.iter()
                    .find(|e| e["manager"] == manager && e["operation"] == operation)
            })
    }

    fn deploy(replicas: u64, image: &str) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "app", "image": image}]}
                }
            }
        })
    }

    /// What the store adds on create.
    fn stored(mut obj: Value) -> Value {
        if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
            meta.insert("uid".into(), json!("u-1"));
            meta.insert("resourceVersion".into(), json!("7"));
            meta.insert("creationTimestamp".into(), json!(T0));
        }
        obj
    }

    #[test]
    fn apply_creates_and_records_fields() {
        let out = ok(apply(None, &deploy(3, "web:1"), "kubectl", false, T0));
        let list = entries(&out);
        assert_eq!(list.len(), 1);
        assert_eq!(
            list[0],
            json!({
                "manager": "kubectl",
                "operation": "Apply",
                "apiVersion": "apps/v1",
                "time": T0,
                "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {
                        "f:replicas": {},
                        "f:selector": {},
                        "f:template": {
                            "f:metadata": {"f:labels": {"f:app": {}}},
                            "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {
                                ".": {}, "f:image": {}, "f:name": {}
                            }}}
                        }
                    }
                }
            })
        );
        assert_eq!(out["spec"]["replicas"], json!(3));
        assert_eq!(out["metadata"]["name"], json!("web"));
    }

    #[test]
    fn fields_v1_encoding() {
        let obj = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "p", "namespace": "d", "uid": "u", "resourceVersion": "1",
                "creationTimestamp": "x", "generation": 2, "managedFields": [{}],
                "finalizers": ["a/b", "c"],
                "annotations": {"x": "1"}
            },
            "spec": {
                "nodeSelector": {"disk": "ssd"},
                "tolerations": [{"key": "k"}],
                "securityContext": {},
                "containers": [{
                    "name": "app",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "env": [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}],
                    "args": ["a"],
                    "resources": {}
                }],
                "dnsPolicy": null
            },
            "status": {"phase": "Running"}
        });
        assert_eq!(
            fields_v1(&obj),
            json!({
                "f:metadata": {
                    "f:annotations": {"f:x": {}},
                    "f:finalizers": {"v:\"a/b\"": {}, "v:\"c\"": {}}
                },
                "f:spec": {
                    "f:containers": {"k:{\"name\":\"app\"}": {
                        ".": {},
                        "f:args": {},
                        "f:env": {"k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:valueFrom": {"f:fieldRef": {}}}},
                        "f:name": {},
                        "f:ports": {"k:{\"containerPort\":80}": {".": {}, "f:containerPort": {}, "f:protocol": {}}},
                        "f:resources": {}
                    }},
                    "f:nodeSelector": {},
                    "f:securityContext": {},
                    "f:tolerations": {}
                }
            })
        );
    }

    #[test]
    fn fields_v1_service_ports_and_keyless_lists() {
        let svc =
            json!({"kind": "Service", "spec": {"ports": [{"port": 80}], "selector": {"app": "a"}}});
        assert_eq!(
            fields_v1(&svc),
            json!({"f:spec": {"f:ports": {"k:{\"port\":80}": {".": {}, "f:port": {}}}, "f:selector": {}}})
        );
        // A keyed list whose elements lack their key cannot be tracked per element.
        let pod = json!({"kind": "Pod", "spec": {"containers": [{"image": "x"}], "volumes": []}});
        assert_eq!(
            fields_v1(&pod),
            json!({"f:spec": {"f:containers": {}, "f:volumes": {}}})
        );
        assert_eq!(fields_v1(&json!("x")), json!({}));
    }

    #[test]
    fn decode_round_trips_encode() {
        let obj = deploy(2, "a");
        let set = field_set(&obj, "Deployment");
        assert_eq!(decode_fields(&encode_fields(&set)), set);
        assert!(decode_fields(&json!("junk")).is_empty());
    }

    #[test]
    fn reapplying_the_same_config_changes_nothing() {
        let first = stored(ok(apply(None, &deploy(3, "web:1"), "kubectl", false, T0)));
        let second = ok(apply(
            Some(&first),
            &deploy(3, "web:1"),
            "kubectl",
            false,
            T1,
        ));
        assert_eq!(second, first);
    }

    #[test]
    fn apply_updates_values_and_time() {
        let first = stored(ok(apply(None, &deploy(3, "web:1"), "kubectl", false, T0)));
        let second = ok(apply(
            Some(&first),
            &deploy(3, "web:2"),
            "kubectl",
            false,
            T1,
        ));
        assert_eq!(
            second["spec"]["template"]["spec"]["containers"][0]["image"],
            json!("web:2")
        );
        assert_eq!(entries(&second).len(), 1);
        assert_eq!(entries(&second)[0]["time"], json!(T1));
        // Server-maintained metadata survives.
        assert_eq!(second["metadata"]["uid"], json!("u-1"));
        assert_eq!(second["metadata"]["resourceVersion"], json!("7"));
        assert_eq!(second["metadata"]["creationTimestamp"], json!(T0));
    }

    #[test]
    fn config_cannot_set_server_fields_or_status() {
        let mut live = stored(ok(apply(None, &deploy(1, "a"), "kubectl", false, T0)));
        live["status"] = json!({"replicas": 1});
        let mut config = deploy(1, "a");
        config["metadata"]["uid"] = json!("evil");
        config["metadata"]["resourceVersion"] = json!("999");
        config["metadata"]["managedFields"] = json!([]);
        config["status"] = json!({"replicas": 50});
        let out = ok(apply(Some(&live), &config, "kubectl", false, T1));
        assert_eq!(out["metadata"]["uid"], json!("u-1"));
        assert_eq!(out["metadata"]["resourceVersion"], json!("7"));
        assert_eq!(out["status"], json!({"replicas": 1}));
        assert_eq!(entries(&out).len(), 1);
        // On create the server fields are left for the store to fill in.
        let created = ok(apply(None, &config, "kubectl", false, T1));
        assert!(created["metadata"].get("uid").is_none());
        assert!(created.get("status").is_none());
    }

    #[test]
    fn dropping_a_field_from_the_config_removes_it() {
        let mut config = deploy(3, "web:1");
        config["metadata"]["labels"]["tier"] = json!("front");
        config["metadata"]["annotations"] = json!({"note": "x"});
        let live = stored(ok(apply(None, &config, "kubectl", false, T0)));
        let out = ok(apply(
            Some(&live),
            &deploy(3, "web:1"),
            "kubectl",
            false,
            T1,
        ));
        assert_eq!(out["metadata"]["labels"], json!({"app": "web"}));
        // The emptied annotations map goes with its last key.
        assert!(out["metadata"].get("annotations").is_none());
        assert!(out["metadata"].get("uid").is_some());
        let fields = &entries(&out)[0]["fieldsV1"]["f:metadata"];
        assert_eq!(fields, &json!({"f:labels": {"f:app": {}}}));
    }

    #[test]
    fn dropping_a_field_another_manager_owns_keeps_it() {
        let mut config = deploy(3, "web:1");
        config["metadata"]["labels"]["tier"] = json!("front");
        let live = stored(ok(apply(None, &config, "a", false, T0)));
        // A second applier agrees on the label: co-owned, no conflict.
        let mut other = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"tier": "front"}}});
        let live = ok(apply(Some(&live), &other, "b", false, T1));
        let out = ok(apply(Some(&live), &deploy(3, "web:1"), "a", false, T2));
        assert_eq!(out["metadata"]["labels"]["tier"], json!("front"));
        // Once b lets go too, the label goes.
        other["metadata"] = json!({"name": "web"});
        let out = ok(apply(Some(&out), &other, "b", false, T2));
        assert!(out["metadata"]["labels"].get("tier").is_none());
        assert!(
            entry_for(&out, "b", "Apply").is_none(),
            "empty entries are dropped"
        );
    }

    #[test]
    fn removing_a_container_from_the_config() {
        let mut config = deploy(1, "a");
        config["spec"]["template"]["spec"]["containers"] =
            json!([{"name": "app", "image": "a"}, {"name": "log", "image": "l"}]);
        let live = stored(ok(apply(None, &config, "kubectl", false, T0)));
        let out = ok(apply(Some(&live), &deploy(1, "a"), "kubectl", false, T1));
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "app", "image": "a"}])
        );
    }

    #[test]
    fn container_another_manager_added_survives_and_partial_ownership_keeps_element() {
        let live = stored(ok(apply(None, &deploy(1, "a"), "kubectl", false, T0)));
        // A controller injects a sidecar and sets a field on the applier's container.
        let mut updated = live.clone();
        updated["spec"]["template"]["spec"]["containers"] = json!([
            {"name": "app", "image": "a", "imagePullPolicy": "Always"},
            {"name": "proxy", "image": "p"}
        ]);
        record_update(Some(&live), &mut updated, "injector", "apps/v1", T1);
        // The applier now drops its container altogether.
        let mut config = deploy(1, "a");
        config["spec"]["template"]["spec"]["containers"] = json!([{"name": "other", "image": "o"}]);
        let out = ok(apply(Some(&updated), &config, "kubectl", false, T2));
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([
                {"name": "app", "imagePullPolicy": "Always"},
                {"name": "proxy", "image": "p"},
                {"name": "other", "image": "o"}
            ])
        );
    }

    #[test]
    fn changing_a_field_another_manager_owns_conflicts() {
        let live = stored(ok(apply(None, &deploy(3, "web:1"), "kubectl", false, T0)));
        let mut scaled = live.clone();
        scaled["spec"]["replicas"] = json!(5);
        record_update(Some(&live), &mut scaled, "kubectl-scale", "apps/v1", T1);
        assert!(entry_for(&scaled, "kubectl-scale", "Update").is_some());

        let err = apply(Some(&scaled), &deploy(3, "web:2"), "kubectl", false, T2);
        let found = conflicts(err);
        assert_eq!(
            found,
            vec![FieldConflict {
                manager: "kubectl-scale".into(),
                field: ".spec.replicas".into()
            }]
        );
        // Agreeing with the current value is not a conflict.
        let out = ok(apply(
            Some(&scaled),
            &deploy(5, "web:2"),
            "kubectl",
            false,
            T2,
        ));
        assert_eq!(out["spec"]["replicas"], json!(5));
        let scale = entry_for(&out, "kubectl-scale", "Update").map(|e| e["fieldsV1"].clone());
        assert_eq!(scale, Some(json!({"f:spec": {"f:replicas": {}}})));
    }

    #[test]
    fn conflicts_between_appliers_and_message() {
        let live = stored(ok(apply(None, &deploy(3, "web:1"), "alice", false, T0)));
        let err = apply(Some(&live), &deploy(4, "web:2"), "bob", false, T1);
        let found = conflicts(err);
        assert_eq!(found.len(), 2);
        assert!(found.contains(&FieldConflict {
            manager: "alice".into(),
            field: ".spec.template.spec.containers[name=\"app\"].image".into()
        }));
        let msg = ApplyError::Conflict { conflicts: found }.to_string();
        assert!(
            msg.starts_with("Apply failed with 2 conflicts: conflict with \"alice\": "),
            "{msg}"
        );
        let one = ApplyError::Conflict {
            conflicts: vec![FieldConflict {
                manager: "m".into(),
                field: ".spec.replicas".into(),
            }],
        };
        assert_eq!(
            one.to_string(),
            "Apply failed with 1 conflict: conflict with \"m\": .spec.replicas"
        );
    }

    #[test]
    fn force_takes_ownership() {
        let live = stored(ok(apply(None, &deploy(3, "web:1"), "alice", false, T0)));
        let out = ok(apply(Some(&live), &deploy(4, "web:1"), "bob", true, T1));
        assert_eq!(out["spec"]["replicas"], json!(4));
        let alice = entry_for(&out, "alice", "Apply").map(|e| e["fieldsV1"]["f:spec"].clone());
        assert!(
            alice
                .as_ref()
                .is_some_and(|s| s.get("f:replicas").is_none()),
            "{alice:?}"
        );
        let bob = entry_for(&out, "bob", "Apply").map(|e| e["fieldsV1"]["f:spec"].clone());
        assert!(bob.is_some_and(|s| s.get("f:replicas").is_some()));
        // Alice re-applying her old value now conflicts with bob.
        let found = conflicts(apply(Some(&out), &deploy(3, "web:1"), "alice", false, T2));
        assert_eq!(
            found,
            vec![FieldConflict {
                manager: "bob".into(),
                field: ".spec.replicas".into()
            }]
        );
    }

    #[test]
    fn force_drops_entries_left_empty() {
        let live = stored(ok(apply(None, &deploy(3, "a"), "kubectl", false, T0)));
        let mut scaled = live.clone();
        scaled["spec"]["replicas"] = json!(5);
        record_update(Some(&live), &mut scaled, "hpa", "apps/v1", T1);
        let out = ok(apply(Some(&scaled), &deploy(2, "a"), "kubectl", true, T2));
        assert!(entry_for(&out, "hpa", "Update").is_none());
        assert_eq!(out["spec"]["replicas"], json!(2));
    }

    #[test]
    fn atomic_maps_are_replaced_and_owned_whole() {
        let svc = |selector: Value| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"selector": selector, "ports": [{"port": 80}]}});
        let live = stored(ok(apply(
            None,
            &svc(json!({"app": "a", "track": "stable"})),
            "k",
            false,
            T0,
        )));
        let out = ok(apply(
            Some(&live),
            &svc(json!({"app": "a"})),
            "k",
            false,
            T1,
        ));
        assert_eq!(out["spec"]["selector"], json!({"app": "a"}));
        assert_eq!(
            entries(&out)[0]["fieldsV1"]["f:spec"]["f:selector"],
            json!({})
        );
    }

    #[test]
    fn service_ports_merge_by_port() {
        let svc = |ports: Value| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": ports}});
        let live = stored(ok(apply(
            None,
            &svc(json!([{"port": 80, "targetPort": 8080}])),
            "k",
            false,
            T0,
        )));
        let mut with_node_port = live.clone();
        with_node_port["spec"]["ports"][0]["nodePort"] = json!(30080);
        record_update(Some(&live), &mut with_node_port, "allocator", "v1", T1);
        let out = ok(apply(
            Some(&with_node_port),
            &svc(json!([{"port": 80, "targetPort": 9090}, {"port": 443}])),
            "k",
            false,
            T2,
        ));
        assert_eq!(
            out["spec"]["ports"],
            json!([{"port": 80, "targetPort": 9090, "nodePort": 30080}, {"port": 443}])
        );
    }

    #[test]
    fn finalizers_are_a_set() {
        let obj = |f: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": f}});
        let live = stored(ok(apply(None, &obj(json!(["a", "b"])), "k", false, T0)));
        let mut other = live.clone();
        other["metadata"]["finalizers"] = json!(["a", "b", "c"]);
        record_update(Some(&live), &mut other, "controller", "v1", T1);
        let out = ok(apply(Some(&other), &obj(json!(["a"])), "k", false, T2));
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "c"]));
        let fields = entry_for(&out, "controller", "Update").map(|e| e["fieldsV1"].clone());
        assert_eq!(
            fields,
            Some(json!({"f:metadata": {"f:finalizers": {"v:\"c\"": {}}}}))
        );
    }

    #[test]
    fn null_in_config_means_unset() {
        let mut config = deploy(2, "a");
        config["metadata"]["labels"]["gone"] = json!("x");
        let live = stored(ok(apply(None, &config, "k", false, T0)));
        config["metadata"]["labels"]["gone"] = Value::Null;
        let out = ok(apply(Some(&live), &config, "k", false, T1));
        assert!(out["metadata"]["labels"].get("gone").is_none());
    }

    #[test]
    fn invalid_configurations() {
        assert!(invalid(apply(None, &json!([]), "k", false, T0)).contains("JSON object"));
        assert!(
            invalid(apply(None, &json!({"kind": "Pod"}), "k", false, T0)).contains("apiVersion")
        );
        assert!(
            invalid(apply(None, &json!({"apiVersion": "v1"}), "k", false, T0)).contains("kind")
        );
        assert!(invalid(apply(None, &deploy(1, "a"), "", false, T0)).contains("field manager"));
        let msg = invalid(apply(
            None,
            &json!({"apiVersion": "v1", "kind": "Pod", "spec": {"$patch": "replace"}}),
            "k",
            false,
            T0,
        ));
        assert!(msg.contains(".spec") && msg.contains("$patch"), "{msg}");
        let msg = invalid(apply(
            None,
            &json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"image": "x"}]}}),
            "k",
            false,
            T0,
        ));
        assert!(
            msg.contains(".spec.containers[0]") && msg.contains("\"name\""),
            "{msg}"
        );
        let msg = invalid(apply(
            None,
            &json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "a"}, {"name": "a"}]}}),
            "k",
            false,
            T0,
        ));
        assert!(msg.contains("duplicate"), "{msg}");
        let live = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}});
        let msg = invalid(apply(
            Some(&live),
            &json!({"apiVersion": "v1", "kind": "Pod"}),
            "k",
            false,
            T0,
        ));
        assert!(msg.contains("Service"), "{msg}");
        assert!(invalid(apply(Some(&json!(1)), &deploy(1, "a"), "k", false, T0)).contains("live"));
    }

    #[test]
    fn duplicate_set_values_in_config_collapse() {
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["a", "a"]}});
        let out = ok(apply(None, &obj, "k", false, T0));
        assert_eq!(out["metadata"]["finalizers"], json!(["a"]));
    }

    #[test]
    fn record_update_on_create_owns_everything() {
        let mut obj = stored(deploy(1, "a"));
        record_update(None, &mut obj, "kubectl-create", "apps/v1", T0);
        let list = entries(&obj);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["operation"], json!("Update"));
        assert_eq!(list[0]["manager"], json!("kubectl-create"));
        assert_eq!(list[0]["time"], json!(T0));
        let mut expected = stored(deploy(1, "a"));
        if let Some(Value::Object(meta)) = expected.get_mut("metadata") {
            meta.remove("uid");
        }
        assert_eq!(list[0]["fieldsV1"], fields_v1(&expected));
    }

    #[test]
    fn record_update_moves_ownership() {
        let mut v1 = stored(deploy(1, "a"));
        record_update(None, &mut v1, "creator", "apps/v1", T0);
        let mut v2 = v1.clone();
        v2["spec"]["replicas"] = json!(4);
        v2["metadata"]["labels"]["extra"] = json!("y");
        record_update(Some(&v1), &mut v2, "editor", "apps/v1", T1);
        let editor = entry_for(&v2, "editor", "Update").map(|e| e["fieldsV1"].clone());
        assert_eq!(
            editor,
            Some(
                json!({"f:metadata": {"f:labels": {"f:extra": {}}}, "f:spec": {"f:replicas": {}}})
            )
        );
        let creator = entry_for(&v2, "creator", "Update").map(|e| e["fieldsV1"].clone());
        assert!(
            creator
                .as_ref()
                .is_some_and(|f| f["f:spec"].get("f:replicas").is_none()),
            "{creator:?}"
        );
        // Entries are ordered by time.
        let order: Vec<Value> = entries(&v2).iter().map(|e| e["manager"].clone()).collect();
        assert_eq!(order, vec![json!("creator"), json!("editor")]);
    }

    #[test]
    fn record_update_drops_fields_that_no_longer_exist() {
        let mut v1 = stored(deploy(1, "a"));
        v1["metadata"]["labels"]["x"] = json!("1");
        record_update(None, &mut v1, "creator", "apps/v1", T0);
        let mut v2 = v1.clone();
        if let Some(Value::Object(labels)) = v2.pointer_mut("/metadata/labels") {
            labels.remove("x");
        }
        record_update(Some(&v1), &mut v2, "editor", "apps/v1", T1);
        assert!(
            entry_for(&v2, "editor", "Update").is_none(),
            "a pure removal owns nothing"
        );
        let creator =
            entry_for(&v2, "creator", "Update").map(|e| e["fieldsV1"]["f:metadata"].clone());
        assert_eq!(creator, Some(json!({"f:labels": {"f:app": {}}})));
    }

    #[test]
    fn record_update_noop_keeps_managed_fields_identical() {
        let mut v1 = stored(deploy(1, "a"));
        record_update(None, &mut v1, "creator", "apps/v1", T0);
        let mut v2 = v1.clone();
        record_update(Some(&v1), &mut v2, "editor", "apps/v1", T1);
        assert_eq!(v2, v1);
        // A PUT body without managedFields gets the live record back.
        let mut v3 = v1.clone();
        if let Some(Value::Object(meta)) = v3.get_mut("metadata") {
            meta.remove("managedFields");
        }
        record_update(Some(&v1), &mut v3, "editor", "apps/v1", T1);
        assert_eq!(v3, v1);
    }

    #[test]
    fn record_update_same_manager_accumulates() {
        let mut v1 = stored(deploy(1, "a"));
        record_update(None, &mut v1, "ctl", "apps/v1", T0);
        let mut v2 = v1.clone();
        v2["spec"]["paused"] = json!(true);
        record_update(Some(&v1), &mut v2, "ctl", "apps/v1", T1);
        let list = entries(&v2);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["time"], json!(T1));
        assert!(list[0]["fieldsV1"]["f:spec"].get("f:paused").is_some());
        assert!(list[0]["fieldsV1"]["f:spec"].get("f:replicas").is_some());
    }

    #[test]
    fn record_update_takes_fields_from_appliers() {
        let live = stored(ok(apply(None, &deploy(3, "a"), "kubectl", false, T0)));
        let mut edited = live.clone();
        edited["spec"]["template"]["spec"]["containers"][0]["image"] = json!("b");
        record_update(Some(&live), &mut edited, "kubectl-edit", "apps/v1", T1);
        let applier = entry_for(&edited, "kubectl", "Apply")
            .map(|e| e["fieldsV1"]["f:spec"]["f:template"]["f:spec"].clone());
        assert_eq!(
            applier,
            Some(json!({"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:name": {}}}}))
        );
        let editor = entry_for(&edited, "kubectl-edit", "Update").map(|e| e["fieldsV1"].clone());
        assert_eq!(
            editor,
            Some(
                json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {"f:image": {}}}}}}})
            )
        );
        // Apply entries sort before Update entries.
        assert_eq!(entries(&edited)[0]["operation"], json!("Apply"));
    }

    #[test]
    fn record_update_honours_requested_managed_fields() {
        let mut v1 = stored(deploy(1, "a"));
        record_update(None, &mut v1, "creator", "apps/v1", T0);
        // `[{}]` clears the record.
        let mut cleared = v1.clone();
        cleared["metadata"]["managedFields"] = json!([{}]);
        record_update(Some(&v1), &mut cleared, "editor", "apps/v1", T1);
        assert!(cleared["metadata"].get("managedFields").is_none());
        // An empty list does not.
        let mut kept = v1.clone();
        kept["metadata"]["managedFields"] = json!([]);
        record_update(Some(&v1), &mut kept, "editor", "apps/v1", T1);
        assert_eq!(kept, v1);
        // A different list replaces the record.
        let mut replaced = v1.clone();
        replaced["metadata"]["managedFields"] = json!([{
            "manager": "someone", "operation": "Update", "apiVersion": "apps/v1", "time": T0,
            "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}
        }]);
        record_update(Some(&v1), &mut replaced, "editor", "apps/v1", T1);
        let list = entries(&replaced);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["manager"], json!("someone"));
    }

    #[test]
    fn record_update_leaves_status_ownership_alone() {
        let mut v1 = stored(deploy(1, "a"));
        v1["metadata"]["managedFields"] = json!([{
            "manager": "controller", "operation": "Update", "apiVersion": "apps/v1", "time": T0,
            "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:replicas": {}}}, "subresource": "status"
        }]);
        let mut v2 = v1.clone();
        v2["spec"]["replicas"] = json!(2);
        record_update(Some(&v1), &mut v2, "editor", "apps/v1", T1);
        let status = entry_for(&v2, "controller", "Update");
        assert_eq!(
            status.map(|e| e["subresource"].clone()),
            Some(json!("status"))
        );
        assert_eq!(
            status.map(|e| e["fieldsV1"].clone()),
            Some(json!({"f:status": {"f:replicas": {}}}))
        );
    }

    #[test]
    fn record_update_ignores_non_objects() {
        let mut v = json!("x");
        record_update(None, &mut v, "m", "v1", T0);
        assert_eq!(v, json!("x"));
    }

    #[test]
    fn apply_entry_identity_ignores_api_version() {
        let live = stored(ok(apply(None, &deploy(1, "a"), "k", false, T0)));
        let mut config = deploy(1, "b");
        config["apiVersion"] = json!("apps/v1beta2");
        let out = ok(apply(Some(&live), &config, "k", false, T1));
        let list = entries(&out);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["apiVersion"], json!("apps/v1beta2"));
    }

    #[test]
    fn render_paths() {
        let p = |els: &[&str]| render_path(&els.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(p(&["f:spec", "f:replicas"]), ".spec.replicas");
        assert_eq!(
            p(&["f:spec", "f:ports", "k:{\"port\":80}", "f:name"]),
            ".spec.ports[port=80].name"
        );
        assert_eq!(
            p(&["f:metadata", "f:finalizers", "v:\"x\""]),
            ".metadata.finalizers[=\"x\"]"
        );
        assert_eq!(p(&["f:a", "i:2"]), ".a[2]");
    }

    #[test]
    fn value_navigation_and_removal() {
        let mut obj = json!({"spec": {"ports": [{"port": 80, "name": "a"}, {"port": 81}], "list": ["x", "y"]}});
        let path = |els: &[&str]| els.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            value_at(
                &obj,
                &path(&["f:spec", "f:ports", "k:{\"port\":80}", "f:name"])
            ),
            Some(&json!("a"))
        );
        assert_eq!(
            value_at(&obj, &path(&["f:spec", "f:list", "v:\"y\""])),
            Some(&json!("y"))
        );
        assert_eq!(
            value_at(&obj, &path(&["f:spec", "f:list", "i:0"])),
            Some(&json!("x"))
        );
        assert_eq!(value_at(&obj, &path(&["f:spec", "bogus"])), None);
        remove_at(&mut obj, &path(&["f:spec", "f:ports", "k:{\"port\":81}"]));
        remove_at(&mut obj, &path(&["f:spec", "f:list", "v:\"x\""]));
        remove_at(&mut obj, &path(&["f:spec", "f:list", "i:5"]));
        remove_at(&mut obj, &path(&["f:nothing", "f:here"]));
        assert_eq!(
            obj,
            json!({"spec": {"ports": [{"port": 80, "name": "a"}], "list": ["y"]}})
        );
    }

    #[test]
    fn entries_sort_by_operation_time_manager() {
        let e = |manager: &str, op: &str, time: &str| Entry {
            manager: manager.into(),
            operation: op.into(),
            api_version: "v1".into(),
            time: Some(time.into()),
            subresource: None,
            fields: FieldSet::from([vec!["f:a".to_string()]]),
        };
        let mut obj = json!({"metadata": {}});
        write_entries(
            &mut obj,
            vec![
                e("z", "Update", T0),
                e("b", "Apply", T1),
                e("a", "Apply", T1),
                e("y", "Update", "bad"),
            ],
        );
        let order: Vec<Value> = entries(&obj).iter().map(|e| e["manager"].clone()).collect();
        assert_eq!(order, vec![json!("a"), json!("b"), json!("y"), json!("z")]);
        write_entries(&mut obj, Vec::new());
        assert_eq!(obj, json!({"metadata": {}}));
    }
}
