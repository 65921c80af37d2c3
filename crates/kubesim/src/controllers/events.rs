//! Events the controllers record about objects (what `kubectl describe` lists at the bottom),
//! and their expiry.
//!
//! As client-go's event recorder does, a repeat of an Event — same object, source, type,
//! reason and message — within [`SERIES_WINDOW`] of the last one is counted on the existing
//! Event (`count`, `lastTimestamp`, and `series` with the count and the last time it was seen)
//! instead of adding one; a repeat after a longer quiet spell starts afresh. The store's
//! lookup of the Event by its name is the recorder's cache: the name is derived from what
//! makes two Events the same, so the recorder itself keeps nothing.
//!
//! Events live for the cluster's event TTL after their last write (kube-apiserver's
//! `--event-ttl`, one hour by default); [`Expiry`] removes them when their time is up.

use crate::resources;
use crate::store::{Part, Store, WriteOptions};
use jiff::Timestamp;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long after the last occurrence a repeat still counts on the same Event: client-go's
/// aggregation window.
pub const SERIES_WINDOW: Duration = Duration::from_secs(600);

pub fn record(
    store: &Store,
    object: &Value,
    component: &str,
    type_: &str,
    reason: &str,
    message: &str,
) {
    record_at(
        store,
        object,
        component,
        type_,
        reason,
        message,
        Timestamp::now(),
    );
}

/// [`record`] at a given time.
pub fn record_at(
    store: &Store,
    object: &Value,
    component: &str,
    type_: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
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
    let (kind, ns, name, uid) = (
        s("/kind"),
        s("/metadata/namespace"),
        s("/metadata/name"),
        s("/metadata/uid"),
    );
    let ns = if ns.is_empty() {
        "default".to_string()
    } else {
        ns
    };
    let stamp = kube_util::time::format(now);
    // MicroTime: RFC 3339 with microseconds.
    let micro = format!("{:.6}", now);
    let opts = WriteOptions {
        field_manager: component.to_string(),
        ..WriteOptions::system()
    };
    let identity = format!("{component}/{kind}/{ns}/{name}/{uid}/{type_}/{reason}/{message}");
    let digest = crate::controllers::hash::fnv32a(identity.as_bytes());
    let event_name = format!("{name}.{digest:08x}");
    let fresh = || {
        json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": event_name, "namespace": ns},
            "involvedObject": {
                "kind": kind, "apiVersion": s("/apiVersion"), "namespace": ns, "name": name, "uid": uid,
                "resourceVersion": s("/metadata/resourceVersion"),
            },
            "reason": reason, "message": message, "type": type_,
            "source": {"component": component},
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
            "reportingComponent": component, "reportingInstance": "",
        })
    };
    let written = store.modify(events, &ns, &event_name, Part::Main, &opts, |cur| {
        let Some(cur) = cur else {
            return Ok(fresh());
        };
        let last = cur
            .get("lastTimestamp")
            .and_then(Value::as_str)
            .and_then(kube_util::time::parse);
        let window = SERIES_WINDOW.as_secs() as i64;
        if last.is_none_or(|t| now.duration_since(t).as_secs() > window) {
            // The same Event object, begun again.
            return Ok(fresh());
        }
        let count = cur.get("count").and_then(Value::as_i64).unwrap_or(1) + 1;
        let mut next = cur.clone();
        next["count"] = json!(count);
        next["lastTimestamp"] = json!(stamp);
        next["series"] = json!({"count": count, "lastObservedTime": micro});
        Ok(next)
    });
    if let Err(e) = written {
        tracing::debug!(error = %e, reason, "could not record event");
    }
}

/// Removes Events whose TTL has run out, waking when the next one is due.
pub struct Expiry {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// The longest the expiry sleeps without looking: Events written meanwhile expire no sooner
/// than a TTL after now, so this only bounds how late an empty store notices its first.
const EXPIRY_IDLE: Duration = Duration::from_secs(1);

impl Expiry {
    pub fn start(store: Arc<Store>) -> Self {
        let (stop, mut stopping) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                let now = store.clock().now();
                let wait = store
                    .next_event_expiry()
                    .map_or(EXPIRY_IDLE, |at| at.saturating_duration_since(now))
                    .min(EXPIRY_IDLE);
                tokio::select! {
                    _ = stopping.changed() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
                if let Err(e) = store.expire_events() {
                    tracing::warn!(error = %e, "could not remove expired events");
                }
            }
        });
        Self { stop, task }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests;
