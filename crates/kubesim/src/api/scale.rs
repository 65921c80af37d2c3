//! The `/scale` subresource: an `autoscaling/v1` Scale view of a workload's replica count.

use crate::resources::ResourceType;
use crate::store::{LabelSelector, Part, Result, Store, StoreError, WriteOptions};
use serde_json::{Value, json};
use std::sync::Arc;

/// The Scale for a Deployment, ReplicaSet or StatefulSet.
pub fn to_scale(obj: &Value) -> Value {
    let m = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let pick = |k: &str| m.get(k).cloned().unwrap_or(Value::Null);
    let selector = obj
        .pointer("/spec/selector")
        .and_then(|s| LabelSelector::from_object(s).ok())
        .map(|s| s.to_query())
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": pick("name"),
            "namespace": pick("namespace"),
            "uid": pick("uid"),
            "resourceVersion": pick("resourceVersion"),
            "creationTimestamp": pick("creationTimestamp"),
        },
        "spec": {"replicas": obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0)},
        "status": {
            "replicas": obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": selector,
        },
    })
}

/// Changes the replica count through a Scale: `change` turns the current Scale into the wanted
/// one (a PUT body, or the current Scale patched). Returns the resulting Scale.
pub fn write<F>(
    store: &Store,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    opts: &WriteOptions,
    change: F,
) -> Result<Value>
where
    F: FnOnce(&Value) -> Result<Value>,
{
    let obj: Arc<Value> = store.modify(rt, ns, name, Part::Main, opts, |current| {
        let Some(current) = current else {
            return Err(crate::store::not_found(rt, name));
        };
        let scale = to_scale(current);
        let wanted = change(&scale)?;
        let rv = wanted
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !rv.is_empty()
            && Some(rv)
                != current
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
        {
            return Err(crate::store::conflict(rt, name));
        }
        let replicas = wanted
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .ok_or_else(|| {
                StoreError::BadRequest("a Scale needs spec.replicas (an integer)".into())
            })?;
        let mut next = current.clone();
        if let Some(spec) = next.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("replicas".into(), json!(replicas));
        }
        Ok(next)
    })?;
    Ok(to_scale(&obj))
}
