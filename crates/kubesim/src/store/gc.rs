//! Garbage collection through ownerReferences and namespace termination, run in the store after
//! every deletion so that cascades are complete when the delete call returns (except pods,
//! which terminate gracefully through their kubelet).

use super::{EventType, Inner, Propagation, meta};
use crate::resources::{RESOURCES, ResourceType};
use serde_json::Value;
use std::sync::Arc;

impl Inner {
    pub(super) fn collect_garbage(&mut self) {
        if self.in_gc {
            return;
        }
        self.in_gc = true;
        // Each pass can expose more garbage (a deleted ReplicaSet orphans its pods); the number
        // of passes is bounded by the depth of ownership chains.
        for _ in 0..32 {
            if !self.gc_pass() {
                break;
            }
        }
        self.in_gc = false;
    }

    fn gc_pass(&mut self) -> bool {
        let mut changed = false;
        let all = self.every_object();
        for (rt, obj) in all {
            let ns = meta::namespace(&obj).to_string();
            let name = meta::name(&obj).to_string();
            // Re-read: an earlier step in this pass may have changed or removed it.
            let Some(obj) = self.get(rt, &ns, &name) else {
                continue;
            };

            // Terminating namespace: delete its content, then the namespace.
            if rt.plural == "namespaces" && meta::is_deleting(&obj) {
                let content: Vec<(&'static ResourceType, Arc<Value>)> = RESOURCES
                    .iter()
                    .filter(|r| r.namespaced)
                    .flat_map(|r| {
                        self.objects
                            .get(&r.key())
                            .into_iter()
                            .flat_map(|m| m.iter())
                            .filter(|((ons, _), _)| *ons == name)
                            .map(move |(_, o)| (r, o.clone()))
                    })
                    .collect();
                if content.is_empty() {
                    self.commit(rt, EventType::Deleted, (*obj).clone());
                    changed = true;
                } else {
                    for (r, o) in content {
                        if !meta::is_deleting(&o) {
                            let _ = self.delete(r, &o, &Default::default());
                            changed = true;
                        }
                    }
                }
                continue;
            }

            // Foreground deletion finishes when no dependents remain.
            if meta::is_deleting(&obj) && meta::finalizers(&obj).contains(&"foregroundDeletion") {
                let deps = self.dependents_of(meta::uid(&obj));
                if deps.is_empty() {
                    let mut o = (*obj).clone();
                    meta::remove_finalizer(&mut o, "foregroundDeletion");
                    let kind = if meta::finalizers(&o).is_empty() {
                        EventType::Deleted
                    } else {
                        EventType::Modified
                    };
                    self.commit(rt, kind, o);
                    changed = true;
                } else {
                    for (r, d) in deps {
                        if !meta::is_deleting(&d) {
                            let opts = super::DeleteOptions {
                                propagation: Some(Propagation::Foreground),
                                ..Default::default()
                            };
                            let _ = self.delete(r, &d, &opts);
                            changed = true;
                        }
                    }
                }
                continue;
            }

            // Background: a dependent all of whose owners are gone is deleted.
            let owners: Vec<&str> = meta::owner_uids(&obj).collect();
            if !owners.is_empty()
                && !meta::is_deleting(&obj)
                && owners.iter().all(|u| !self.uids.contains_key(*u))
            {
                let _ = self.delete(rt, &obj, &Default::default());
                changed = true;
            }
        }
        changed
    }
}
