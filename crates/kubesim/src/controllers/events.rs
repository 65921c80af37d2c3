//! Events the controllers record about objects (what `kubectl describe` lists at the bottom).
//! A repeat of the same reason and message on the same object bumps `count` instead of adding
//! an event, as the real event recorder does.

use crate::resources;
use crate::store::{Part, Store, WriteOptions};
use serde_json::{Value, json};

pub fn record(
    store: &Store,
    object: &Value,
    component: &str,
    type_: &str,
    reason: &str,
    message: &str,
) {
    let Some(events) = resources::find("", "v1", "events") else {
        return;
    };
    let s = |p: &str| {
        object
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (ns, name, uid) = (
        s("/metadata/namespace"),
        s("/metadata/name"),
        s("/metadata/uid"),
    );
    let ns = if ns.is_empty() {
        "default".to_string()
    } else {
        ns
    };
    let now = kube_util::time::now_rfc3339();
    let opts = WriteOptions {
        field_manager: component.to_string(),
        ..WriteOptions::system()
    };
    // One event object per (object, reason, message), named like the real recorder's.
    let digest = crate::controllers::hash::fnv32a(format!("{uid}/{reason}/{message}").as_bytes());
    let event_name = format!("{name}.{digest:08x}");
    let bumped = store.modify(events, &ns, &event_name, Part::Main, &opts, |cur| match cur {
        Some(cur) => {
            let mut next = cur.clone();
            next["count"] = json!(cur.get("count").and_then(Value::as_i64).unwrap_or(1) + 1);
            next["lastTimestamp"] = json!(now);
            Ok(next)
        }
        None => Ok(json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": event_name, "namespace": ns},
            "involvedObject": {
                "kind": s("/kind"), "apiVersion": s("/apiVersion"), "namespace": ns, "name": name, "uid": uid,
                "resourceVersion": s("/metadata/resourceVersion"),
            },
            "reason": reason, "message": message, "type": type_,
            "source": {"component": component},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            "reportingComponent": component, "reportingInstance": "",
        })),
    });
    if let Err(e) = bumped {
        tracing::debug!(error = %e, reason, "could not record event");
    }
}
