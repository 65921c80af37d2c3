//! The garbage collector: what a deletion means for other objects, carried out in the
//! background as kube-controller-manager's garbage collector and namespace controller do.
//!
//! - Background propagation: an object all of whose owners are gone is deleted.
//! - Foreground propagation: an owner marked with the `foregroundDeletion` finalizer has its
//!   dependents deleted (in the foreground too), and goes once none is left.
//! - A terminating namespace has its content deleted, then goes.
//!
//! (Orphan propagation needs no collector: the store removes the ownerReferences before the
//! owner goes.)
//!
//! It is fed by the store's change feed and works from the store's owner index: a change names
//! the few objects it can affect — the dependents of an object that went, the owner of a
//! dependent that went, the namespace it was in — so no step looks at every object. It looks
//! at everything only at start (a store loaded from disk may hold garbage) and after falling
//! behind the feed.

use crate::resources::{self, RESOURCES, ResourceType};
use crate::store::{DeleteOptions, EventType, Propagation, Store, StoreError, WatchEvent};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::{broadcast, watch};

/// What a change asks the collector to look at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Work {
    /// The dependents of an owner that is gone.
    DependentsOf(String),
    /// An object with owners: are they all gone?
    Owned(usize, String, String),
    /// An owner that may be waiting in foreground deletion for a dependent that went.
    Owner(String),
    /// An object in foreground deletion.
    Foreground(usize, String, String),
    /// A namespace that may be terminating.
    Namespace(String),
}

/// Handle to the running collector.
pub struct GarbageCollector {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl GarbageCollector {
    pub fn start(store: Arc<Store>) -> Self {
        let (stop, stopping) = watch::channel(false);
        let feed = store.subscribe();
        let task = tokio::spawn(run(store, feed, stopping));
        Self { stop, task }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn run(
    store: Arc<Store>,
    mut feed: broadcast::Receiver<Arc<WatchEvent>>,
    mut stopping: watch::Receiver<bool>,
) {
    let mut queue = BTreeSet::new();
    everything(&store, &mut queue);
    loop {
        while let Some(work) = queue.pop_first() {
            collect(&store, work);
            // Long cascades (a Deployment of hundreds of pods) share the thread with others.
            tokio::task::yield_now().await;
            // Take what the last step caused before the next one, so repeats merge.
            drain(&store, &mut feed, &mut queue);
        }
        tokio::select! {
            _ = stopping.changed() => return,
            received = feed.recv() => match received {
                Ok(e) => {
                    plan(&e, &mut queue);
                    drain(&store, &mut feed, &mut queue);
                }
                Err(broadcast::error::RecvError::Lagged(_)) => everything(&store, &mut queue),
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

fn drain(
    store: &Store,
    feed: &mut broadcast::Receiver<Arc<WatchEvent>>,
    queue: &mut BTreeSet<Work>,
) {
    loop {
        match feed.try_recv() {
            Ok(e) => plan(&e, queue),
            Err(broadcast::error::TryRecvError::Lagged(_)) => everything(store, queue),
            Err(_) => return,
        }
    }
}

fn str_at<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn owner_uids(obj: &Value) -> impl Iterator<Item = &str> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("uid").and_then(Value::as_str))
}

fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

fn in_foreground_deletion(obj: &Value) -> bool {
    is_deleting(obj)
        && obj
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| f.iter().any(|x| x == "foregroundDeletion"))
}

/// The work one change makes.
fn plan(e: &WatchEvent, queue: &mut BTreeSet<Work>) {
    let obj = &e.object;
    let ns = str_at(obj, "/metadata/namespace");
    let name = str_at(obj, "/metadata/name");
    let key = index_of(e.resource);
    match e.event_type {
        EventType::Deleted => {
            let uid = str_at(obj, "/metadata/uid");
            if !uid.is_empty() {
                queue.insert(Work::DependentsOf(uid.to_string()));
            }
            for owner in owner_uids(obj) {
                queue.insert(Work::Owner(owner.to_string()));
            }
            if !ns.is_empty() {
                queue.insert(Work::Namespace(ns.to_string()));
            }
        }
        EventType::Added | EventType::Modified => {
            if owner_uids(obj).next().is_some() && !is_deleting(obj) {
                queue.insert(Work::Owned(key, ns.to_string(), name.to_string()));
            }
            if in_foreground_deletion(obj) {
                queue.insert(Work::Foreground(key, ns.to_string(), name.to_string()));
            }
            if e.resource.plural == "namespaces" && is_deleting(obj) {
                queue.insert(Work::Namespace(name.to_string()));
            }
        }
    }
}

/// Looks at every object once (at start, and after falling behind the feed).
fn everything(store: &Store, queue: &mut BTreeSet<Work>) {
    for rt in RESOURCES {
        for obj in store.all(rt, None) {
            let ns = str_at(&obj, "/metadata/namespace").to_string();
            let name = str_at(&obj, "/metadata/name").to_string();
            if owner_uids(&obj).next().is_some() && !is_deleting(&obj) {
                queue.insert(Work::Owned(index_of(rt), ns.clone(), name.clone()));
            }
            if in_foreground_deletion(&obj) {
                queue.insert(Work::Foreground(index_of(rt), ns, name.clone()));
            }
            if rt.plural == "namespaces" && is_deleting(&obj) {
                queue.insert(Work::Namespace(name));
            }
        }
    }
}

/// Work names a resource by its place in the table (what it is ordered and merged by).
fn index_of(rt: &ResourceType) -> usize {
    RESOURCES
        .iter()
        .position(|r| std::ptr::eq(r, rt) || r == rt)
        .unwrap_or(usize::MAX)
}

fn resource(index: &usize) -> Option<&'static ResourceType> {
    RESOURCES.get(*index)
}

fn collect(store: &Store, work: Work) {
    let result = match &work {
        Work::DependentsOf(uid) => {
            if store.uid_exists(uid) {
                Ok(())
            } else {
                store
                    .dependents(uid)
                    .into_iter()
                    .try_for_each(|(rt, dep)| delete_if_orphaned(store, rt, &dep))
            }
        }
        Work::Owned(key, ns, name) => match (
            resource(key),
            resource(key).map(|rt| store.get(rt, ns, name)),
        ) {
            (Some(rt), Some(Ok(obj))) => delete_if_orphaned(store, rt, &obj),
            _ => Ok(()),
        },
        Work::Owner(uid) => store.by_uid(uid).map_or(Ok(()), |(rt, owner)| {
            if in_foreground_deletion(&owner) {
                foreground(store, rt, &owner)
            } else {
                Ok(())
            }
        }),
        Work::Foreground(key, ns, name) => {
            match resource(key).map(|rt| (rt, store.get(rt, ns, name))) {
                Some((rt, Ok(obj))) if in_foreground_deletion(&obj) => foreground(store, rt, &obj),
                _ => Ok(()),
            }
        }
        Work::Namespace(name) => namespace(store, name),
    };
    if let Err(e) = result {
        // Whatever failed is looked at again when the objects involved change next.
        tracing::debug!(?work, error = %e, "garbage collection step failed");
    }
}

fn delete_options(obj: &Value, propagation: Option<Propagation>) -> DeleteOptions {
    DeleteOptions {
        propagation,
        // Never a newer object that took the name.
        precondition_uid: Some(str_at(obj, "/metadata/uid").to_string()),
        ..Default::default()
    }
}

/// Deletes `obj` if it has owners and none of them exists any more.
fn delete_if_orphaned(
    store: &Store,
    rt: &'static ResourceType,
    obj: &Value,
) -> Result<(), StoreError> {
    let mut owners = owner_uids(obj).peekable();
    if owners.peek().is_none() || is_deleting(obj) || owners.any(|u| store.uid_exists(u)) {
        return Ok(());
    }
    ignore_gone(store.delete(
        rt,
        str_at(obj, "/metadata/namespace"),
        str_at(obj, "/metadata/name"),
        &delete_options(obj, None),
    ))
}

/// An owner in foreground deletion: its dependents go first (in the foreground too), then it.
fn foreground(store: &Store, rt: &'static ResourceType, owner: &Value) -> Result<(), StoreError> {
    let dependents = store.dependents(str_at(owner, "/metadata/uid"));
    if dependents.is_empty() {
        store.finish_foreground_deletion(
            rt,
            str_at(owner, "/metadata/namespace"),
            str_at(owner, "/metadata/name"),
        )?;
        return Ok(());
    }
    for (drt, dep) in dependents {
        if !is_deleting(&dep) {
            ignore_gone(store.delete(
                drt,
                str_at(&dep, "/metadata/namespace"),
                str_at(&dep, "/metadata/name"),
                &delete_options(&dep, Some(Propagation::Foreground)),
            ))?;
        }
    }
    Ok(())
}

/// A terminating namespace: its content goes, then it.
fn namespace(store: &Store, name: &str) -> Result<(), StoreError> {
    let Some(namespaces) = resources::find("", "v1", "namespaces") else {
        return Ok(());
    };
    match store.get(namespaces, "", name) {
        Ok(ns) if is_deleting(&ns) => {}
        _ => return Ok(()),
    }
    let content = store.namespace_content(name);
    if content.is_empty() {
        store.finish_namespace_termination(name)?;
        return Ok(());
    }
    for (rt, obj) in content {
        if !is_deleting(&obj) {
            ignore_gone(store.delete(
                rt,
                name,
                str_at(&obj, "/metadata/name"),
                &delete_options(&obj, None),
            ))?;
        }
    }
    Ok(())
}

/// Someone else got there first: nothing left to do.
fn ignore_gone<T>(r: Result<T, StoreError>) -> Result<(), StoreError> {
    match r {
        Ok(_)
        | Err(StoreError::NotFound { .. })
        | Err(StoreError::Conflict { .. })
        | Err(StoreError::ConflictMessage { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests;
