//! Kubernetes strategic merge patch (`application/strategic-merge-patch+json`).
//!
//! A strategic merge patch is a JSON merge patch that knows the schema: lists that Kubernetes
//! declares with `patchStrategy:"merge"` merge element by element (by their `patchMergeKey`)
//! instead of being replaced, and a few `$`-prefixed directives give finer control. This is what
//! `kubectl patch`, `kubectl set image`, `kubectl edit` and client-side `kubectl apply` send.
//!
//! The schema knowledge is a small table, `list_merge`, transcribed from the struct tags
//! in `k8s.io/api` for the kinds the embedded server serves; any list it does not name is atomic
//! and replaced whole, exactly as Kubernetes treats lists without a merge strategy.

use serde_json::{Map, Value};
use std::fmt;

const PATCH_DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// Why a strategic merge patch could not be applied. Every message names where in the document
/// the problem is and what was expected there.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    #[error("strategic merge patch must be a JSON object at the top level, found {found}")]
    PatchNotAnObject { found: &'static str },
    #[error("the object to patch must be a JSON object, found {found}")]
    OriginalNotAnObject { found: &'static str },
    #[error("{path}: invalid value for {directive}: expected {expected}, found {found}")]
    BadDirective {
        path: String,
        directive: String,
        expected: &'static str,
        found: String,
    },
    #[error("{path}: unknown patch directive {key:?}")]
    UnknownDirective { path: String, key: String },
    #[error("{path}: list element has no merge key {key:?} (this list merges by {key:?})")]
    MissingMergeKey { path: String, key: &'static str },
    #[error(
        "{path}: expected a JSON object as list element (this list merges by {key:?}), found {found}"
    )]
    ElementNotAnObject {
        path: String,
        key: &'static str,
        found: &'static str,
    },
    #[error("{path}: key {key:?} is set by the patch but not listed in $retainKeys")]
    NotInRetainKeys { path: String, key: String },
}

pub(crate) use crate::store::merge_keys::{ListMerge, list_merge};

/// Applies a strategic merge `patch` to `original`, taking the kind from the object's (or the
/// patch's) `kind` field. Use [`strategic_merge_for`] when the kind is known from the URL.
pub fn strategic_merge(original: &Value, patch: &Value) -> Result<Value, PatchError> {
    let kind = original
        .get("kind")
        .and_then(Value::as_str)
        .or_else(|| patch.get("kind").and_then(Value::as_str))
        .unwrap_or("");
    strategic_merge_for(original, patch, kind)
}

/// Applies a strategic merge `patch` to `original`, an object of `kind` (`"Deployment"`,
/// `"Service"`, ...).
///
/// - Maps merge recursively; a `null` value deletes the key.
/// - Lists merge as the Kubernetes types declare (the `list_merge` table); other lists are
///   replaced.
/// - Directives: `$patch` (`replace`, `delete`, `merge`) in a map or as a list element,
///   `$setElementOrder/<list>`, `$retainKeys` and `$deleteFromPrimitiveList/<list>`. They steer
///   the merge and never appear in the result.
///
/// `$patch: delete` in a nested map removes that map's key from its parent (at the top level it
/// yields an empty object). A `null` original is treated as an empty object.
pub fn strategic_merge_for(
    original: &Value,
    patch: &Value,
    kind: &str,
) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::PatchNotAnObject {
            found: type_name(patch),
        });
    };
    let original = match original {
        Value::Object(map) => Some(map),
        Value::Null => None,
        other => {
            return Err(PatchError::OriginalNotAnObject {
                found: type_name(other),
            });
        }
    };
    let merger = Merger { kind };
    let merged = merger.merge_map(original, patch, &mut Vec::new())?;
    Ok(Value::Object(merged.unwrap_or_default()))
}

/// One step of the location being merged, kept for the field-name chain and error messages.
#[derive(Debug, Clone)]
enum Seg {
    Field(String),
    Key(&'static str, Value),
    Index(usize),
}

struct DisplayPath<'a>(&'a [Seg]);

impl fmt::Display for DisplayPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("at the top level");
        }
        f.write_str("at ")?;
        for seg in self.0 {
            match seg {
                Seg::Field(name) => write!(f, ".{name}")?,
                Seg::Key(key, value) => write!(f, "[{key}={value}]")?,
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

fn render(path: &[Seg]) -> String {
    DisplayPath(path).to_string()
}

fn field_chain(path: &[Seg]) -> Vec<&str> {
    path.iter()
        .filter_map(|seg| match seg {
            Seg::Field(name) => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn bad_directive(
    path: &[Seg],
    directive: &str,
    expected: &'static str,
    found: &Value,
) -> PatchError {
    PatchError::BadDirective {
        path: render(path),
        directive: directive.to_string(),
        expected,
        found: found.to_string(),
    }
}

struct Merger<'k> {
    kind: &'k str,
}

impl Merger<'_> {
    /// Merges `patch` into `original` (absent when the key is new). `None` means the map is to
    /// be deleted (`$patch: delete`).
    fn merge_map(
        &self,
        original: Option<&Map<String, Value>>,
        patch: &Map<String, Value>,
        path: &mut Vec<Seg>,
    ) -> Result<Option<Map<String, Value>>, PatchError> {
        if let Some(directive) = patch.get(PATCH_DIRECTIVE) {
            match directive.as_str() {
                Some("replace") => {
                    let rest: Map<String, Value> = patch
                        .iter()
                        .filter(|(k, _)| *k != PATCH_DIRECTIVE)
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    return self.merge_map(None, &rest, path);
                }
                Some("delete") => return Ok(None),
                Some("merge") => {}
                _ => {
                    return Err(bad_directive(
                        path,
                        PATCH_DIRECTIVE,
                        "\"replace\", \"delete\" or \"merge\"",
                        directive,
                    ));
                }
            }
        }

        let mut out = original.cloned().unwrap_or_default();

        if let Some(retain) = patch.get(RETAIN_KEYS) {
            let keys = retain
                .as_array()
                .filter(|list| list.iter().all(Value::is_string))
                .ok_or_else(|| bad_directive(path, RETAIN_KEYS, "a list of strings", retain))?;
            let listed = |k: &str| keys.iter().any(|v| v.as_str() == Some(k));
            // A key the patch sets but does not retain is contradictory; Kubernetes rejects it.
            for (k, v) in patch {
                if !v.is_null() && !k.starts_with('$') && !listed(k) {
                    return Err(PatchError::NotInRetainKeys {
                        path: render(path),
                        key: k.clone(),
                    });
                }
            }
            out.retain(|k, _| listed(k));
        }

        let mut orders: Vec<(&str, &[Value])> = Vec::new();
        for (k, v) in patch {
            if let Some(field) = k.strip_prefix(SET_ELEMENT_ORDER) {
                let list = v
                    .as_array()
                    .ok_or_else(|| bad_directive(path, k, "a list", v))?;
                orders.push((field, list));
            }
        }
        let order_for = |field: &str| {
            orders
                .iter()
                .find(|(name, _)| *name == field)
                .map(|(_, order)| *order)
        };

        for (k, v) in patch {
            if k == PATCH_DIRECTIVE || k == RETAIN_KEYS || k.starts_with(SET_ELEMENT_ORDER) {
                continue;
            }
            if let Some(field) = k.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
                let doomed = v
                    .as_array()
                    .ok_or_else(|| bad_directive(path, k, "a list", v))?;
                if let Some(Value::Array(items)) = out.get_mut(field) {
                    items.retain(|item| !doomed.contains(item));
                }
                continue;
            }
            if k.starts_with('$') {
                return Err(PatchError::UnknownDirective {
                    path: render(path),
                    key: k.clone(),
                });
            }
            if v.is_null() {
                out.shift_remove(k);
                continue;
            }
            path.push(Seg::Field(k.clone()));
            let merged = self.merge_value(out.get(k), v, order_for(k), path)?;
            path.pop();
            match merged {
                Some(value) => {
                    out.insert(k.clone(), value);
                }
                None => {
                    out.shift_remove(k);
                }
            }
        }

        // An order directive may come without the list itself (only the order changed).
        for (field, order) in &orders {
            if patch.contains_key(*field) {
                continue;
            }
            if let Some(Value::Array(items)) = out.get_mut(*field) {
                path.push(Seg::Field((*field).to_string()));
                let strategy = list_merge(self.kind, &field_chain(path));
                *items = apply_order(std::mem::take(items), order, strategy, path)?;
                path.pop();
            }
        }

        Ok(Some(out))
    }

    /// Merges one patch value into the original value at `path`. `None` deletes the field.
    fn merge_value(
        &self,
        original: Option<&Value>,
        patch: &Value,
        order: Option<&[Value]>,
        path: &mut Vec<Seg>,
    ) -> Result<Option<Value>, PatchError> {
        match patch {
            Value::Object(p) => Ok(self
                .merge_map(original.and_then(Value::as_object), p, path)?
                .map(Value::Object)),
            Value::Array(p) => Ok(Some(Value::Array(self.merge_list(
                original.and_then(Value::as_array),
                p,
                order,
                path,
            )?))),
            scalar => Ok(Some(scalar.clone())),
        }
    }

    fn merge_list(
        &self,
        original: Option<&Vec<Value>>,
        patch: &[Value],
        order: Option<&[Value]>,
        path: &mut Vec<Seg>,
    ) -> Result<Vec<Value>, PatchError> {
        let strategy = list_merge(self.kind, &field_chain(path));
        let merged = match strategy {
            ListMerge::Atomic => return self.replace_list(patch, path),
            ListMerge::Set => merge_set(original, patch, path)?,
            ListMerge::ByKey(key) => self.merge_keyed(original, patch, key, path)?,
        };
        match order {
            Some(order) => apply_order(merged, order, strategy, path),
            None => Ok(merged),
        }
    }

    /// An atomic list takes the patch's elements; they still pass through the merge so that
    /// nulls and directives inside them do not end up stored.
    fn replace_list(&self, patch: &[Value], path: &mut Vec<Seg>) -> Result<Vec<Value>, PatchError> {
        let mut out = Vec::with_capacity(patch.len());
        for (i, element) in patch.iter().enumerate() {
            // Directive elements mean nothing in a list that is replaced anyway.
            if element.get(PATCH_DIRECTIVE).is_some() {
                continue;
            }
            path.push(Seg::Index(i));
            let cleaned = self.merge_value(None, element, None, path)?;
            path.pop();
            out.extend(cleaned);
        }
        Ok(out)
    }

    fn merge_keyed(
        &self,
        original: Option<&Vec<Value>>,
        patch: &[Value],
        key: &'static str,
        path: &mut Vec<Seg>,
    ) -> Result<Vec<Value>, PatchError> {
        let mut out = original.cloned().unwrap_or_default();
        let mut replace = false;
        let mut regular: Vec<(usize, &Map<String, Value>)> = Vec::new();
        for (i, element) in patch.iter().enumerate() {
            let Value::Object(map) = element else {
                path.push(Seg::Index(i));
                let err = PatchError::ElementNotAnObject {
                    path: render(path),
                    key,
                    found: type_name(element),
                };
                return Err(err);
            };
            let Some(directive) = map.get(PATCH_DIRECTIVE) else {
                regular.push((i, map));
                continue;
            };
            match directive.as_str() {
                Some("delete") => {
                    let Some(value) = map.get(key).filter(|v| !v.is_null()) else {
                        path.push(Seg::Index(i));
                        return Err(PatchError::MissingMergeKey {
                            path: render(path),
                            key,
                        });
                    };
                    out.retain(|item| item.get(key) != Some(value));
                }
                Some("replace") => replace = true,
                Some("merge") => regular.push((i, map)),
                _ => {
                    path.push(Seg::Index(i));
                    return Err(bad_directive(
                        path,
                        PATCH_DIRECTIVE,
                        "\"replace\", \"delete\" or \"merge\"",
                        directive,
                    ));
                }
            }
        }
        if replace {
            out.clear();
        }
        for (i, map) in regular {
            let Some(value) = map.get(key).filter(|v| !v.is_null()) else {
                path.push(Seg::Index(i));
                return Err(PatchError::MissingMergeKey {
                    path: render(path),
                    key,
                });
            };
            let position = out.iter().position(|item| item.get(key) == Some(value));
            path.push(Seg::Key(key, value.clone()));
            let merged = self.merge_map(position.and_then(|p| out[p].as_object()), map, path)?;
            path.pop();
            match (position, merged) {
                (Some(p), Some(m)) => out[p] = Value::Object(m),
                (Some(p), None) => {
                    out.remove(p);
                }
                (None, Some(m)) => out.push(Value::Object(m)),
                (None, None) => {}
            }
        }
        Ok(out)
    }
}

/// Ordered union of scalars: the original's order, then the patch's new values.
fn merge_set(
    original: Option<&Vec<Value>>,
    patch: &[Value],
    path: &[Seg],
) -> Result<Vec<Value>, PatchError> {
    let mut replace = false;
    let mut values: Vec<&Value> = Vec::new();
    for element in patch {
        match element.get(PATCH_DIRECTIVE) {
            None => values.push(element),
            Some(directive) => match directive.as_str() {
                Some("replace") => replace = true,
                Some("merge") => {}
                _ => {
                    return Err(bad_directive(
                        path,
                        PATCH_DIRECTIVE,
                        "\"replace\" or \"merge\" in a list of scalars",
                        directive,
                    ));
                }
            },
        }
    }
    let mut out = if replace {
        Vec::new()
    } else {
        original.cloned().unwrap_or_default()
    };
    for value in values {
        if !out.contains(value) {
            out.push(value.clone());
        }
    }
    Ok(out)
}

/// Reorders `items` as `$setElementOrder` lists them; items it does not mention follow in their
/// current relative order. Orders of atomic lists carry no meaning and are ignored.
fn apply_order(
    items: Vec<Value>,
    order: &[Value],
    strategy: ListMerge,
    path: &[Seg],
) -> Result<Vec<Value>, PatchError> {
    let directive = || match path.last() {
        Some(Seg::Field(name)) => format!("{SET_ELEMENT_ORDER}{name}"),
        _ => SET_ELEMENT_ORDER.to_string(),
    };
    let mut slots: Vec<Option<Value>> = items.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(slots.len());
    match strategy {
        ListMerge::Atomic => return Ok(slots.into_iter().flatten().collect()),
        ListMerge::ByKey(key) => {
            for entry in order {
                let Some(wanted) = entry.get(key).filter(|v| !v.is_null()) else {
                    return Err(PatchError::BadDirective {
                        path: render(path),
                        directive: directive(),
                        expected: "a list of objects, each with the list's merge key",
                        found: entry.to_string(),
                    });
                };
                for slot in &mut slots {
                    if let Some(item) = slot.take_if(|item| item.get(key) == Some(wanted)) {
                        out.push(item);
                    }
                }
            }
        }
        ListMerge::Set => {
            for entry in order {
                if entry.is_object() || entry.is_array() {
                    return Err(PatchError::BadDirective {
                        path: render(path),
                        directive: directive(),
                        expected: "a list of scalars",
                        found: entry.to_string(),
                    });
                }
                for slot in &mut slots {
                    if let Some(item) = slot.take_if(|item| item == entry) {
                        out.push(item);
                    }
                }
            }
        }
    }
    out.extend(slots.into_iter().flatten());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn smp(original: Value, patch: Value) -> Value {
        match strategic_merge(&original, &patch) {
            Ok(v) => v,
            Err(e) => panic!("patch failed: {e}"),
        }
    }

    fn smp_for(kind: &str, original: Value, patch: Value) -> Value {
        match strategic_merge_for(&original, &patch, kind) {
            Ok(v) => v,
            Err(e) => panic!("patch failed: {e}"),
        }
    }

    fn smp_err(original: Value, patch: Value) -> PatchError {
        match strategic_merge(&original, &patch) {
            Ok(v) => panic!("expected an error, got {v}"),
            Err(e) => e,
        }
    }

    fn deployment(containers: Value) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": containers}}}
        })
    }

    fn containers(v: &Value) -> &Value {
        &v["spec"]["template"]["spec"]["containers"]
    }

    #[test]
    fn maps_merge_recursively_and_null_deletes() {
        let out = smp(
            json!({"metadata": {"labels": {"a": "1", "b": "2"}, "name": "x"}}),
            json!({"metadata": {"labels": {"b": null, "c": "3"}}}),
        );
        assert_eq!(
            out,
            json!({"metadata": {"labels": {"a": "1", "c": "3"}, "name": "x"}})
        );
    }

    #[test]
    fn key_order_is_kept_and_new_keys_append() {
        let out = smp(
            json!({"a": 1, "b": 2, "c": 3}),
            json!({"b": null, "a": 10, "d": 4}),
        );
        let keys: Vec<&String> = out
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["a", "c", "d"]);
        assert_eq!(out, json!({"a": 10, "c": 3, "d": 4}));
    }

    #[test]
    fn null_for_absent_key_is_not_stored() {
        let out = smp(
            json!({"a": 1}),
            json!({"b": null, "c": {"d": null, "e": 1}}),
        );
        assert_eq!(out, json!({"a": 1, "c": {"e": 1}}));
    }

    #[test]
    fn scalar_replaces_map_and_map_replaces_scalar() {
        let out = smp(
            json!({"a": {"x": 1}, "b": 5}),
            json!({"a": 3, "b": {"y": 2}}),
        );
        assert_eq!(out, json!({"a": 3, "b": {"y": 2}}));
    }

    #[test]
    fn null_original_is_empty_object() {
        let out = smp(Value::Null, json!({"a": {"b": 1}}));
        assert_eq!(out, json!({"a": {"b": 1}}));
    }

    #[test]
    fn containers_merge_by_name_in_place_and_new_ones_append() {
        let original = deployment(json!([
            {"name": "app", "image": "app:1", "args": ["--a"]},
            {"name": "side", "image": "side:1"}
        ]));
        // The shape `kubectl set image` sends.
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "new", "image": "new:1"},
            {"name": "app", "image": "app:2"}
        ]}}}});
        let out = smp(original, patch);
        assert_eq!(
            containers(&out),
            &json!([
                {"name": "app", "image": "app:2", "args": ["--a"]},
                {"name": "side", "image": "side:1"},
                {"name": "new", "image": "new:1"}
            ])
        );
    }

    #[test]
    fn pod_containers_merge_at_spec() {
        let out = smp(
            json!({"kind": "Pod", "spec": {"initContainers": [{"name": "i", "image": "a"}], "containers": [{"name": "c", "image": "a"}]}}),
            json!({"spec": {"initContainers": [{"name": "i", "image": "b"}], "containers": [{"name": "c", "command": ["x"]}]}}),
        );
        assert_eq!(
            out["spec"],
            json!({"initContainers": [{"name": "i", "image": "b"}], "containers": [{"name": "c", "image": "a", "command": ["x"]}]})
        );
    }

    #[test]
    fn env_merges_by_name_and_env_from_is_replaced() {
        let original = deployment(json!([{
            "name": "app",
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            "envFrom": [{"configMapRef": {"name": "one"}}]
        }]));
        let patch = json!({"spec": {"template": {"spec": {"containers": [{
            "name": "app",
            "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
            "envFrom": [{"secretRef": {"name": "two"}}]
        }]}}}});
        let out = smp(original, patch);
        assert_eq!(
            containers(&out)[0]["env"],
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}])
        );
        assert_eq!(
            containers(&out)[0]["envFrom"],
            json!([{"secretRef": {"name": "two"}}])
        );
    }

    #[test]
    fn env_value_from_replaces_value_via_null() {
        let original = deployment(json!([{"name": "app", "env": [{"name": "A", "value": "1"}]}]));
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [
            {"name": "A", "value": null, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
        ]}]}}}});
        let out = smp(original, patch);
        assert_eq!(
            containers(&out)[0]["env"],
            json!([{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}])
        );
    }

    #[test]
    fn volume_mounts_merge_by_mount_path() {
        let original = deployment(json!([{"name": "app", "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "cfg", "mountPath": "/etc/cfg"}
        ]}]));
        // Same volume name, different mount path: a second mount, not an update.
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "volumeMounts": [
            {"name": "data", "mountPath": "/data2"},
            {"name": "cfg2", "mountPath": "/etc/cfg", "readOnly": true}
        ]}]}}}});
        let out = smp(original, patch);
        assert_eq!(
            containers(&out)[0]["volumeMounts"],
            json!([
                {"name": "data", "mountPath": "/data"},
                {"name": "cfg2", "mountPath": "/etc/cfg", "readOnly": true},
                {"name": "data", "mountPath": "/data2"}
            ])
        );
    }

    #[test]
    fn volumes_image_pull_secrets_and_resource_claims_merge_by_name() {
        let original = json!({"kind": "Pod", "spec": {
            "volumes": [{"name": "a", "emptyDir": {}}],
            "imagePullSecrets": [{"name": "reg1"}],
            "resourceClaims": [{"name": "gpu", "resourceClaimName": "x"}],
            "schedulingGates": [{"name": "g1"}]
        }});
        let patch = json!({"spec": {
            "volumes": [{"name": "b", "configMap": {"name": "cm"}}],
            "imagePullSecrets": [{"name": "reg2"}],
            "resourceClaims": [{"name": "gpu", "resourceClaimName": "y"}],
            "schedulingGates": [{"name": "g1", "$patch": "delete"}]
        }});
        let out = smp(original, patch);
        assert_eq!(
            out["spec"],
            json!({
                "volumes": [{"name": "a", "emptyDir": {}}, {"name": "b", "configMap": {"name": "cm"}}],
                "imagePullSecrets": [{"name": "reg1"}, {"name": "reg2"}],
                "resourceClaims": [{"name": "gpu", "resourceClaimName": "y"}],
                "schedulingGates": []
            })
        );
    }

    #[test]
    fn container_ports_merge_by_container_port() {
        let original = deployment(json!([{"name": "app", "ports": [
            {"containerPort": 80, "name": "http"},
            {"containerPort": 9090, "name": "metrics"}
        ]}]));
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "ports": [
            {"containerPort": 80, "name": "web"},
            {"containerPort": 443}
        ]}]}}}});
        let out = smp(original, patch);
        assert_eq!(
            containers(&out)[0]["ports"],
            json!([
                {"containerPort": 80, "name": "web"},
                {"containerPort": 9090, "name": "metrics"},
                {"containerPort": 443}
            ])
        );
    }

    #[test]
    fn service_ports_merge_by_port() {
        let original = json!({"kind": "Service", "spec": {"ports": [
            {"name": "http", "port": 80, "targetPort": 8080},
            {"name": "https", "port": 443}
        ], "selector": {"app": "a"}}});
        let patch = json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}], "selector": {"track": "canary"}}});
        let out = smp(original.clone(), patch.clone());
        assert_eq!(
            out["spec"],
            json!({"ports": [
                {"name": "http", "port": 80, "targetPort": 9090},
                {"name": "https", "port": 443}
            ], "selector": {"app": "a", "track": "canary"}})
        );
        // The kind from the URL wins when the body does not say.
        let mut bare = original;
        if let Some(m) = bare.as_object_mut() {
            m.remove("kind");
        }
        assert_eq!(
            smp_for("Service", bare.clone(), patch.clone())["spec"],
            out["spec"]
        );
        // Without a kind, `spec.ports` is not known to merge and is replaced.
        assert_eq!(
            smp(bare, patch)["spec"]["ports"],
            json!([{"port": 80, "targetPort": 9090}])
        );
    }

    #[test]
    fn kind_from_patch_when_original_has_none() {
        let out = smp(
            json!({"spec": {"ports": [{"port": 80, "name": "a"}]}}),
            json!({"kind": "Service", "spec": {"ports": [{"port": 81}]}}),
        );
        assert_eq!(
            out["spec"]["ports"],
            json!([{"port": 80, "name": "a"}, {"port": 81}])
        );
    }

    #[test]
    fn conditions_merge_by_type() {
        let original = json!({"kind": "Deployment", "status": {"conditions": [
            {"type": "Available", "status": "False"},
            {"type": "Progressing", "status": "True"}
        ]}});
        let patch = json!({"status": {"conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}]}});
        let out = smp(original, patch);
        assert_eq!(
            out["status"]["conditions"],
            json!([
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True"}
            ])
        );
    }

    #[test]
    fn owner_references_merge_by_uid_and_finalizers_union() {
        let original = json!({"metadata": {
            "ownerReferences": [{"uid": "u1", "kind": "ReplicaSet", "name": "a"}],
            "finalizers": ["a", "b"]
        }});
        let patch = json!({"metadata": {
            "ownerReferences": [{"uid": "u2", "kind": "ReplicaSet", "name": "b"}, {"uid": "u1", "controller": true}],
            "finalizers": ["c", "a"]
        }});
        let out = smp(original, patch);
        assert_eq!(
            out["metadata"],
            json!({
                "ownerReferences": [
                    {"uid": "u1", "kind": "ReplicaSet", "name": "a", "controller": true},
                    {"uid": "u2", "kind": "ReplicaSet", "name": "b"}
                ],
                "finalizers": ["a", "b", "c"]
            })
        );
    }

    #[test]
    fn template_metadata_finalizers_also_union() {
        let out = smp_for(
            "Deployment",
            json!({"spec": {"template": {"metadata": {"finalizers": ["x"]}}}}),
            json!({"spec": {"template": {"metadata": {"finalizers": ["y"]}}}}),
        );
        assert_eq!(
            out["spec"]["template"]["metadata"]["finalizers"],
            json!(["x", "y"])
        );
    }

    #[test]
    fn other_primitive_lists_are_replaced() {
        let original = deployment(json!([{"name": "app", "args": ["a", "b"], "command": ["x"]}]));
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "args": ["c"]}]}}}});
        let out = smp(original, patch);
        assert_eq!(containers(&out)[0]["args"], json!(["c"]));
        assert_eq!(containers(&out)[0]["command"], json!(["x"]));
        // Namespace spec.finalizers has no merge strategy.
        let ns = smp(
            json!({"kind": "Namespace", "spec": {"finalizers": ["kubernetes"]}}),
            json!({"spec": {"finalizers": ["other"]}}),
        );
        assert_eq!(ns["spec"]["finalizers"], json!(["other"]));
    }

    #[test]
    fn host_aliases_merge_by_ip_and_topology_spread_by_topology_key() {
        let original = json!({"kind": "Pod", "spec": {
            "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["a"]}],
            "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 1}]
        }});
        let patch = json!({"spec": {
            "hostAliases": [{"ip": "10.0.0.2", "hostnames": ["b"]}, {"ip": "10.0.0.1", "hostnames": ["c"]}],
            "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 2}, {"topologyKey": "host", "maxSkew": 1}]
        }});
        let out = smp(original, patch);
        assert_eq!(
            out["spec"]["hostAliases"],
            json!([{"ip": "10.0.0.1", "hostnames": ["c"]}, {"ip": "10.0.0.2", "hostnames": ["b"]}])
        );
        assert_eq!(
            out["spec"]["topologySpreadConstraints"],
            json!([{"topologyKey": "zone", "maxSkew": 2}, {"topologyKey": "host", "maxSkew": 1}])
        );
    }

    #[test]
    fn tolerations_are_replaced() {
        let original =
            json!({"kind": "Pod", "spec": {"tolerations": [{"key": "a", "operator": "Exists"}]}});
        let patch =
            json!({"spec": {"tolerations": [{"key": "b", "operator": "Exists", "effect": null}]}});
        let out = smp(original, patch);
        assert_eq!(
            out["spec"]["tolerations"],
            json!([{"key": "b", "operator": "Exists"}])
        );
    }

    #[test]
    fn ingress_and_endpoints_lists_are_replaced() {
        let ing = smp(
            json!({"kind": "Ingress", "spec": {"rules": [{"host": "a"}], "tls": [{"hosts": ["a"]}]}}),
            json!({"spec": {"rules": [{"host": "b"}]}}),
        );
        assert_eq!(
            ing["spec"],
            json!({"rules": [{"host": "b"}], "tls": [{"hosts": ["a"]}]})
        );
        let ep = smp(
            json!({"kind": "Endpoints", "subsets": [{"addresses": [{"ip": "1.1.1.1"}], "ports": [{"port": 80}]}]}),
            json!({"subsets": [{"addresses": [{"ip": "2.2.2.2"}]}]}),
        );
        assert_eq!(ep["subsets"], json!([{"addresses": [{"ip": "2.2.2.2"}]}]));
    }

    #[test]
    fn config_map_and_secret_data_merge_as_maps() {
        let out = smp(
            json!({"kind": "ConfigMap", "data": {"a": "1", "b": "2"}}),
            json!({"data": {"a": null, "c": "3"}}),
        );
        assert_eq!(out["data"], json!({"b": "2", "c": "3"}));
        let out = smp(
            json!({"kind": "Secret", "data": {"a": "MQ=="}, "type": "Opaque"}),
            json!({"stringData": {"b": "2"}}),
        );
        assert_eq!(
            out,
            json!({"kind": "Secret", "data": {"a": "MQ=="}, "type": "Opaque", "stringData": {"b": "2"}})
        );
    }

    #[test]
    fn service_account_secrets_merge_but_image_pull_secrets_do_not() {
        let out = smp(
            json!({"kind": "ServiceAccount", "secrets": [{"name": "a"}], "imagePullSecrets": [{"name": "r1"}]}),
            json!({"secrets": [{"name": "b"}], "imagePullSecrets": [{"name": "r2"}]}),
        );
        assert_eq!(out["secrets"], json!([{"name": "a"}, {"name": "b"}]));
        assert_eq!(out["imagePullSecrets"], json!([{"name": "r2"}]));
    }

    #[test]
    fn node_addresses_merge_by_type() {
        let out = smp(
            json!({"kind": "Node", "status": {"addresses": [{"type": "InternalIP", "address": "1"}]}, "spec": {"podCIDRs": ["a"]}}),
            json!({"status": {"addresses": [{"type": "Hostname", "address": "n"}]}, "spec": {"podCIDRs": ["b"]}}),
        );
        assert_eq!(
            out["status"]["addresses"],
            json!([{"type": "InternalIP", "address": "1"}, {"type": "Hostname", "address": "n"}])
        );
        assert_eq!(out["spec"]["podCIDRs"], json!(["a", "b"]));
    }

    #[test]
    fn pod_ips_merge_by_ip() {
        let out = smp(
            json!({"kind": "Pod", "status": {"podIPs": [{"ip": "10.0.0.1"}]}}),
            json!({"status": {"podIPs": [{"ip": "fd00::1"}]}}),
        );
        assert_eq!(
            out["status"]["podIPs"],
            json!([{"ip": "10.0.0.1"}, {"ip": "fd00::1"}])
        );
    }

    #[test]
    fn unknown_lists_are_replaced() {
        let out = smp(
            json!({"spec": {"things": [{"name": "a", "x": 1}]}}),
            json!({"spec": {"things": [{"name": "a", "y": 2}]}}),
        );
        assert_eq!(out["spec"]["things"], json!([{"name": "a", "y": 2}]));
    }

    #[test]
    fn patch_replace_in_map_replaces_it() {
        let out = smp(
            json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}, "replicas": 2}}),
            json!({"spec": {"strategy": {"$patch": "replace", "type": "Recreate"}}}),
        );
        assert_eq!(
            out,
            json!({"spec": {"strategy": {"type": "Recreate"}, "replicas": 2}})
        );
    }

    #[test]
    fn patch_replace_at_top_level() {
        let out = smp(
            json!({"a": 1, "b": {"c": 2}}),
            json!({"$patch": "replace", "b": {"d": 3}}),
        );
        assert_eq!(out, json!({"b": {"d": 3}}));
    }

    #[test]
    fn patch_delete_in_map_deletes_it() {
        let out = smp(
            json!({"spec": {"strategy": {"type": "Recreate"}, "replicas": 2}}),
            json!({"spec": {"strategy": {"$patch": "delete"}}}),
        );
        assert_eq!(out, json!({"spec": {"replicas": 2}}));
        assert_eq!(smp(json!({"a": 1}), json!({"$patch": "delete"})), json!({}));
    }

    #[test]
    fn patch_merge_is_the_default() {
        let out = smp(
            json!({"spec": {"strategy": {"type": "Recreate"}}}),
            json!({"spec": {"strategy": {"$patch": "merge", "x": 1}}}),
        );
        assert_eq!(
            out,
            json!({"spec": {"strategy": {"type": "Recreate", "x": 1}}})
        );
    }

    #[test]
    fn bad_patch_directive_value_is_an_error() {
        let err = smp_err(json!({}), json!({"spec": {"$patch": "explode"}}));
        assert!(matches!(&err, PatchError::BadDirective { path, .. } if path == "at .spec"));
        let msg = err.to_string();
        assert!(msg.contains("$patch"), "{msg}");
        assert!(msg.contains("\"explode\""), "{msg}");
        let err = smp_err(json!({}), json!({"$patch": 3}));
        assert!(matches!(err, PatchError::BadDirective { .. }));
    }

    #[test]
    fn list_element_replace_directive_replaces_the_list() {
        let original =
            deployment(json!([{"name": "a", "image": "a"}, {"name": "b", "image": "b"}]));
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "c", "ports": null},
            {"$patch": "replace"}
        ]}}}});
        let out = smp(original, patch);
        assert_eq!(containers(&out), &json!([{"name": "c", "image": "c"}]));
    }

    #[test]
    fn list_element_delete_directive_removes_by_key() {
        let original = deployment(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}]));
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "b", "$patch": "delete"},
            {"name": "a", "image": "a:2"}
        ]}}}});
        let out = smp(original, patch);
        assert_eq!(
            containers(&out),
            &json!([{"name": "a", "image": "a:2"}, {"name": "c"}])
        );
    }

    #[test]
    fn list_element_delete_without_merge_key_is_an_error() {
        let err = smp_err(
            deployment(json!([{"name": "a"}])),
            json!({"spec": {"template": {"spec": {"containers": [{"$patch": "delete"}]}}}}),
        );
        assert_eq!(
            err,
            PatchError::MissingMergeKey {
                path: "at .spec.template.spec.containers[0]".into(),
                key: "name"
            }
        );
    }

    #[test]
    fn list_element_bad_directive_is_an_error() {
        let err = smp_err(
            deployment(json!([{"name": "a"}])),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "nope"}]}}}}),
        );
        assert!(matches!(err, PatchError::BadDirective { .. }));
    }

    #[test]
    fn list_element_merge_directive_is_ordinary() {
        let out = smp(
            deployment(json!([{"name": "a", "image": "1"}])),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "merge", "image": "2"}]}}}}),
        );
        assert_eq!(containers(&out), &json!([{"name": "a", "image": "2"}]));
    }

    #[test]
    fn replace_directive_in_primitive_set() {
        let out = smp(
            json!({"metadata": {"finalizers": ["a", "b"]}}),
            json!({"metadata": {"finalizers": ["c", {"$patch": "replace"}]}}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["c"]));
        let err = smp_err(
            json!({"metadata": {"finalizers": ["a"]}}),
            json!({"metadata": {"finalizers": [{"$patch": "delete"}]}}),
        );
        assert!(matches!(err, PatchError::BadDirective { .. }));
    }

    #[test]
    fn missing_merge_key_is_an_error_naming_the_path() {
        let err = smp_err(
            deployment(json!([{"name": "a"}])),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "env": [{"value": "x"}]}]}}}}),
        );
        assert_eq!(
            err,
            PatchError::MissingMergeKey {
                path: "at .spec.template.spec.containers[name=\"a\"].env[0]".into(),
                key: "name"
            }
        );
        assert_eq!(
            err.to_string(),
            "at .spec.template.spec.containers[name=\"a\"].env[0]: list element has no merge key \"name\" (this list merges by \"name\")"
        );
    }

    #[test]
    fn non_object_element_in_keyed_list_is_an_error() {
        let err = smp_err(
            deployment(json!([{"name": "a"}])),
            json!({"spec": {"template": {"spec": {"containers": ["a"]}}}}),
        );
        assert_eq!(
            err,
            PatchError::ElementNotAnObject {
                path: "at .spec.template.spec.containers[0]".into(),
                key: "name",
                found: "a string"
            }
        );
    }

    #[test]
    fn top_level_patch_must_be_an_object() {
        assert_eq!(
            smp_err(json!({}), json!([1])),
            PatchError::PatchNotAnObject { found: "a list" }
        );
        assert_eq!(
            smp_err(json!({}), json!("x")).to_string(),
            "strategic merge patch must be a JSON object at the top level, found a string"
        );
        assert_eq!(
            strategic_merge(&json!([1]), &json!({})),
            Err(PatchError::OriginalNotAnObject { found: "a list" })
        );
    }

    #[test]
    fn set_element_order_orders_keyed_list() {
        let original = deployment(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}]));
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "c"}, {"name": "d"}, {"name": "a"}],
            "containers": [{"name": "d", "image": "d"}]
        }}}});
        let out = smp(original, patch);
        assert_eq!(
            containers(&out),
            &json!([{"name": "c"}, {"name": "d", "image": "d"}, {"name": "a"}, {"name": "b"}])
        );
        let spec = out["spec"]["template"]["spec"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(spec.keys().all(|k| !k.starts_with('$')));
    }

    #[test]
    fn set_element_order_without_the_list_reorders_the_original() {
        let original = deployment(json!([{"name": "a"}, {"name": "b"}]));
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]
        }}}});
        let out = smp(original, patch);
        assert_eq!(containers(&out), &json!([{"name": "b"}, {"name": "a"}]));
    }

    #[test]
    fn set_element_order_for_primitive_set() {
        let out = smp(
            json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            json!({"metadata": {"$setElementOrder/finalizers": ["c", "d", "a"], "finalizers": ["d"]}}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["c", "d", "a", "b"]));
    }

    #[test]
    fn set_element_order_bad_values_are_errors() {
        let err = smp_err(
            deployment(json!([{"name": "a"}])),
            json!({"spec": {"template": {"spec": {"$setElementOrder/containers": "a"}}}}),
        );
        assert!(
            matches!(&err, PatchError::BadDirective { directive, expected, .. } if directive == "$setElementOrder/containers" && *expected == "a list"),
            "{err:?}"
        );
        let err = smp_err(
            deployment(json!([{"name": "a"}])),
            json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"image": "x"}]}}}}),
        );
        assert!(
            matches!(&err, PatchError::BadDirective { directive, path, .. } if directive == "$setElementOrder/containers" && path == "at .spec.template.spec.containers"),
            "{err:?}"
        );
        let err = smp_err(
            json!({"metadata": {"finalizers": ["a"]}}),
            json!({"metadata": {"$setElementOrder/finalizers": [["a"]]}}),
        );
        assert!(matches!(err, PatchError::BadDirective { .. }));
    }

    #[test]
    fn set_element_order_on_atomic_list_is_ignored() {
        let out = smp(
            json!({"kind": "Pod", "spec": {"tolerations": [{"key": "a"}]}}),
            json!({"spec": {"$setElementOrder/tolerations": [{"key": "b"}], "tolerations": [{"key": "b"}, {"key": "c"}]}}),
        );
        assert_eq!(
            out["spec"]["tolerations"],
            json!([{"key": "b"}, {"key": "c"}])
        );
    }

    #[test]
    fn retain_keys_drops_unlisted_keys() {
        // What `kubectl apply` sends when switching a Deployment to Recreate.
        let out = smp(
            json!({"kind": "Deployment", "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}}}),
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null}}}),
        );
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
        let out = smp(
            json!({"kind": "Pod", "spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}),
            json!({"spec": {"volumes": [{"$retainKeys": ["configMap", "name"], "name": "v", "configMap": {"name": "c"}}]}}),
        );
        assert_eq!(
            out["spec"]["volumes"],
            json!([{"name": "v", "configMap": {"name": "c"}}])
        );
    }

    #[test]
    fn retain_keys_errors() {
        let err = smp_err(
            json!({"spec": {"strategy": {}}}),
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}),
        );
        assert_eq!(
            err,
            PatchError::NotInRetainKeys {
                path: "at .spec.strategy".into(),
                key: "rollingUpdate".into()
            }
        );
        let err = smp_err(json!({}), json!({"spec": {"$retainKeys": "type"}}));
        assert!(
            matches!(&err, PatchError::BadDirective { expected, .. } if *expected == "a list of strings")
        );
        let err = smp_err(json!({}), json!({"spec": {"$retainKeys": [1]}}));
        assert!(matches!(err, PatchError::BadDirective { .. }));
    }

    #[test]
    fn delete_from_primitive_list() {
        let out = smp(
            json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "x"]}}),
        );
        assert_eq!(out["metadata"], json!({"finalizers": ["a", "c"]}));
        // Nothing to delete from: no list is created.
        let out = smp(
            json!({"metadata": {}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}),
        );
        assert_eq!(out["metadata"], json!({}));
        let err = smp_err(
            json!({}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "b"}}),
        );
        assert!(matches!(err, PatchError::BadDirective { .. }));
    }

    #[test]
    fn unknown_directive_is_an_error() {
        let err = smp_err(json!({}), json!({"spec": {"$bogus": 1}}));
        assert_eq!(
            err,
            PatchError::UnknownDirective {
                path: "at .spec".into(),
                key: "$bogus".into()
            }
        );
    }

    #[test]
    fn directives_in_new_values_never_reach_the_result() {
        let out = smp(
            json!({"kind": "Deployment"}),
            json!({"spec": {
                "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                "template": {"spec": {
                    "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                    "containers": [{"name": "a", "env": [{"name": "X", "value": "1"}, {"$patch": "replace"}]}, {"name": "b"}],
                    "tolerations": [{"$patch": "replace"}, {"key": "k", "extra": null}]
                }},
                "selector": {"$patch": "replace", "matchLabels": {"app": "x"}}
            }}),
        );
        assert_eq!(
            out,
            json!({"kind": "Deployment", "spec": {
                "strategy": {"type": "Recreate"},
                "template": {"spec": {
                    "containers": [{"name": "b"}, {"name": "a", "env": [{"name": "X", "value": "1"}]}],
                    "tolerations": [{"key": "k"}]
                }},
                "selector": {"matchLabels": {"app": "x"}}
            }})
        );
    }

    #[test]
    fn kubectl_apply_style_patch() {
        let original = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}, "labels": {"app": "web"}},
            "spec": {
                "replicas": 3,
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                    {"name": "web", "image": "web:1", "ports": [{"containerPort": 80}]},
                    {"name": "log", "image": "log:1"}
                ]}}
            }
        });
        let patch = json!({
            "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"x\":1}"}},
            "spec": {
                "replicas": 5,
                "template": {"spec": {
                    "$setElementOrder/containers": [{"name": "web"}],
                    "containers": [{"$setElementOrder/ports": [{"containerPort": 8080}], "name": "web", "image": "web:2", "ports": [{"containerPort": 8080}, {"$patch": "delete", "containerPort": 80}]}, {"$patch": "delete", "name": "log"}]
                }}
            }
        });
        let out = smp(original, patch);
        assert_eq!(out["spec"]["replicas"], json!(5));
        assert_eq!(
            containers(&out),
            &json!([{"name": "web", "image": "web:2", "ports": [{"containerPort": 8080}]}])
        );
        assert_eq!(
            out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
            json!("{\"x\":1}")
        );
    }

    #[test]
    fn merge_into_list_element_that_is_not_an_object_appends() {
        // A corrupt original list element is left alone rather than matched.
        let out = smp(
            deployment(json!(["junk", {"name": "a"}])),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}}),
        );
        assert_eq!(
            containers(&out),
            &json!(["junk", {"name": "a", "image": "x"}])
        );
    }

    #[test]
    fn list_merge_table() {
        let k = |kind: &str, path: &[&str]| list_merge(kind, path);
        assert_eq!(k("Pod", &["spec", "containers"]), ListMerge::ByKey("name"));
        assert_eq!(
            k(
                "Deployment",
                &["spec", "template", "spec", "containers", "volumeMounts"]
            ),
            ListMerge::ByKey("mountPath")
        );
        assert_eq!(
            k("Pod", &["spec", "containers", "volumeDevices"]),
            ListMerge::ByKey("devicePath")
        );
        assert_eq!(
            k("Pod", &["spec", "ephemeralContainers", "ports"]),
            ListMerge::ByKey("containerPort")
        );
        assert_eq!(k("Service", &["spec", "ports"]), ListMerge::ByKey("port"));
        assert_eq!(k("Deployment", &["spec", "ports"]), ListMerge::Atomic);
        assert_eq!(k("EndpointSlice", &["ports"]), ListMerge::Atomic);
        assert_eq!(k("Pod", &["spec", "tolerations"]), ListMerge::Atomic);
        assert_eq!(k("Pod", &["spec", "readinessGates"]), ListMerge::Atomic);
        assert_eq!(
            k("Pod", &["spec", "containers", "envFrom"]),
            ListMerge::Atomic
        );
        assert_eq!(
            k("Pod", &["spec", "containers", "resizePolicy"]),
            ListMerge::Atomic
        );
        assert_eq!(
            k("Pod", &["status", "containerStatuses"]),
            ListMerge::Atomic
        );
        assert_eq!(k("Pod", &["status", "hostIPs"]), ListMerge::ByKey("ip"));
        assert_eq!(
            k("StatefulSet", &["spec", "volumeClaimTemplates"]),
            ListMerge::Atomic
        );
        assert_eq!(k("Ingress", &["spec", "rules"]), ListMerge::Atomic);
        assert_eq!(
            k("HorizontalPodAutoscaler", &["status", "conditions"]),
            ListMerge::ByKey("type")
        );
        assert_eq!(k("Pod", &["metadata", "finalizers"]), ListMerge::Set);
        assert_eq!(k("Namespace", &["spec", "finalizers"]), ListMerge::Atomic);
        assert_eq!(k("Pod", &[] as &[&str]), ListMerge::Atomic);
    }
}
