//! Small accessors and edits on object metadata, kept in one place so the store's rules
//! (what a write may change, what the server owns) read clearly.

use super::{Result, StoreError};
use crate::resources::ResourceType;
use rand::Rng;
use serde_json::{Map, Value, json};

pub fn now() -> String {
    kube_util::time::now_rfc3339()
}

pub fn str_field<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

pub fn name(obj: &Value) -> &str {
    str_field(obj, "name")
}

pub fn namespace(obj: &Value) -> &str {
    str_field(obj, "namespace")
}

pub fn uid(obj: &Value) -> &str {
    str_field(obj, "uid")
}

pub fn resource_version(obj: &Value) -> &str {
    str_field(obj, "resourceVersion")
}

pub fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

pub fn finalizers(obj: &Value) -> Vec<&str> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

pub fn owner_uids(obj: &Value) -> impl Iterator<Item = &str> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("uid").and_then(Value::as_str))
}

fn metadata_mut(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    let root = obj.as_object_mut()?;
    let m = root.entry("metadata").or_insert_with(|| json!({}));
    if !m.is_object() {
        *m = json!({});
    }
    m.as_object_mut()
}

pub fn set_meta(obj: &mut Value, field: &str, value: Value) {
    if let Some(m) = metadata_mut(obj) {
        m.insert(field.to_string(), value);
    }
}

pub fn set_str(obj: &mut Value, field: &str, value: &str) {
    set_meta(obj, field, Value::String(value.to_string()));
}

pub fn set_top(obj: &mut Value, field: &str, value: Value) {
    if let Some(o) = obj.as_object_mut() {
        o.insert(field.to_string(), value);
    }
}

pub fn remove_top(obj: &mut Value, field: &str) {
    if let Some(o) = obj.as_object_mut() {
        o.remove(field);
    }
}

pub fn add_finalizer(obj: &mut Value, f: &str) {
    if let Some(m) = metadata_mut(obj) {
        let list = m.entry("finalizers").or_insert_with(|| json!([]));
        if let Some(a) = list.as_array_mut()
            && !a.iter().any(|x| x == f)
        {
            a.push(json!(f));
        }
    }
}

pub fn remove_finalizer(obj: &mut Value, f: &str) {
    if let Some(m) = metadata_mut(obj) {
        if let Some(a) = m.get_mut("finalizers").and_then(Value::as_array_mut) {
            a.retain(|x| x != f);
        }
        if m.get("finalizers")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
        {
            m.remove("finalizers");
        }
    }
}

pub fn remove_owner(obj: &mut Value, owner_uid: &str) {
    if let Some(m) = metadata_mut(obj) {
        if let Some(a) = m.get_mut("ownerReferences").and_then(Value::as_array_mut) {
            a.retain(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid));
        }
        if m.get("ownerReferences")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
        {
            m.remove("ownerReferences");
        }
    }
}

/// Sets deletionTimestamp (now + grace) and deletionGracePeriodSeconds, as the server does.
pub fn mark_deleting(obj: &mut Value, grace: i64) {
    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(grace);
    set_meta(obj, "deletionTimestamp", json!(kube_util::time::format(at)));
    set_meta(obj, "deletionGracePeriodSeconds", json!(grace));
}

/// A pod bound to a node that is still running is stopped by its kubelet, not removed at once.
pub fn is_graceful_pod(rt: &ResourceType, obj: &Value) -> bool {
    rt.plural == "pods"
        && obj
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty())
        && !matches!(
            obj.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded" | "Failed")
        )
}

/// Five characters from the alphabet Kubernetes uses for generated names (no vowels, so no
/// accidental words).
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Checks (and fills in) apiVersion and kind against the URL's resource.
pub fn check_type(rt: &ResourceType, body: &mut Value) -> Result<()> {
    let Some(obj) = body.as_object_mut() else {
        return Err(StoreError::BadRequest(format!(
            "the body of the request was not a {} object",
            rt.kind
        )));
    };
    let api_version = rt.api_version();
    match obj.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            obj.insert("apiVersion".into(), json!(api_version));
        }
        Some(v) if v == api_version => {}
        Some(v) => {
            return Err(StoreError::BadRequest(format!(
                "the API version in the data ({v}) does not match the expected API version ({api_version})"
            )));
        }
    }
    match obj.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            obj.insert("kind".into(), json!(rt.kind));
        }
        Some(k) if k == rt.kind => {}
        Some(k) => {
            return Err(StoreError::BadRequest(format!(
                "{k} in version \"{}\" cannot be handled as a {}: the kind in the data does not match the URL",
                rt.version, rt.kind
            )));
        }
    }
    Ok(())
}

/// The body's namespace must be absent or the request's; it is then set to the request's.
pub fn check_namespace(rt: &ResourceType, body: &mut Value, ns: &str) -> Result<()> {
    let given = namespace(body).to_string();
    if rt.namespaced {
        if !given.is_empty() && given != ns {
            return Err(StoreError::BadRequest(
                "the namespace of the provided object does not match the namespace sent on the request".into(),
            ));
        }
        set_str(body, "namespace", ns);
    } else if let Some(m) = metadata_mut(body) {
        m.remove("namespace");
    }
    Ok(())
}

/// What the server sets on create and ignores from the client.
pub fn reset_for_create(rt: &ResourceType, body: &mut Value) {
    if let Some(m) = metadata_mut(body) {
        m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        m.insert("creationTimestamp".into(), json!(now()));
        for f in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
            "managedFields",
        ] {
            m.remove(f);
        }
        if rt.tracks_generation() {
            m.insert("generation".into(), json!(1));
        } else {
            m.remove("generation");
        }
    }
    // Status is the controllers' to write; a client's status on create is dropped.
    match rt.plural {
        "pods" => set_top(
            body,
            "status",
            json!({"phase": "Pending", "qosClass": "BestEffort"}),
        ),
        "services" => set_top(body, "status", json!({"loadBalancer": {}})),
        "namespaces" | "nodes" => {}
        _ if rt.has_status => remove_top(body, "status"),
        _ => {}
    }
}

/// On update, the server keeps what it owns: identity, creation time, deletion marks.
pub fn keep_system_fields(old: &Value, new: &mut Value) {
    for f in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match old.pointer(&format!("/metadata/{f}")) {
            Some(v) => set_meta(new, f, v.clone()),
            None => {
                if let Some(m) = metadata_mut(new) {
                    m.remove(f);
                }
            }
        }
    }
    set_str(new, "resourceVersion", resource_version(old));
    // Once deletion started, finalizers may only be removed, never added (as the real server).
}

/// Whether anything but metadata and status differs.
pub fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| -> Map<String, Value> {
        v.as_object()
            .map(|o| {
                o.iter()
                    .filter(|(k, _)| *k != "metadata" && *k != "status")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    strip(old) != strip(new)
}

/// Equal but for managedFields timestamps: a no-op write, which the server does not commit.
pub fn same_content(old: &Value, new: &Value) -> bool {
    let norm = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("managedFields");
            m.remove("resourceVersion");
        }
        v
    };
    norm(old) == norm(new)
}
