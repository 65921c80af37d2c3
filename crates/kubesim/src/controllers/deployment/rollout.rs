//! The two strategies' rollouts: RollingUpdate (`rolling.go`) and Recreate (`recreate.go`).

use k8s_openapi::api::apps::v1::ReplicaSet;

use super::annotations::new_rs_new_replicas;
use super::fields::{by_creation, rs_available, rs_replicas, rs_status_replicas, spec_replicas};
use super::max_unavailable;
use super::run::{Run, Split, Stop};

impl Run {
    /// `rolloutRolling`: grow the new ReplicaSet within maxSurge; if nothing grew, shrink old
    /// ones within maxUnavailable; once complete, trim history.
    pub(super) fn rollout_rolling(&mut self, split: Split) -> Result<(), Stop> {
        let new = match split.new {
            Some(n) => n,
            None => self.create_new_rs(&split.old)?,
        };
        let mut all = split.old.clone();
        all.push(new);
        let split = Split {
            new: Some(new),
            old: split.old,
            new_rs_updated: false,
        };
        if self.reconcile_new_rs(&all, new) {
            self.sync_rollout_status(&split);
            return Ok(());
        }
        let active_old = self.active(&split.old);
        if self.reconcile_old_rss(&all, &active_old, new) {
            self.sync_rollout_status(&split);
            return Ok(());
        }
        if self.complete_before_sync() {
            self.cleanup(&split.old);
        }
        self.sync_rollout_status(&split);
        Ok(())
    }

    /// `reconcileNewReplicaSet`.
    fn reconcile_new_rs(&mut self, all: &[usize], new: usize) -> bool {
        let replicas = spec_replicas(&self.d);
        let current = rs_replicas(&self.rss[new]);
        if current == replicas {
            return false;
        }
        if current > replicas {
            return self.scale_and_record(new, replicas);
        }
        let all_rs: Vec<&ReplicaSet> = all.iter().map(|i| &self.rss[*i]).collect();
        let target = new_rs_new_replicas(&self.d, &all_rs, &self.rss[new]);
        self.scale_and_record(new, target)
    }

    /// `reconcileOldReplicaSets`: scale old ReplicaSets down by at most
    /// `allPods - minAvailable - newRSUnavailable`, unhealthy replicas first.
    fn reconcile_old_rss(&mut self, all: &[usize], active_old: &[usize], new: usize) -> bool {
        let old_pods: i32 = active_old.iter().map(|i| rs_replicas(&self.rss[*i])).sum();
        if old_pods == 0 {
            return false;
        }
        let all_pods: i32 = all.iter().map(|i| rs_replicas(&self.rss[*i])).sum();
        let min_available = spec_replicas(&self.d) - max_unavailable(&self.d);
        let new_rs = &self.rss[new];
        let new_unavailable = rs_replicas(new_rs) - rs_available(new_rs);
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        let mut old = active_old.to_vec();
        old.sort_by(|a, b| by_creation(&self.rss[*a], &self.rss[*b]));
        // Kubernetes swallows errors here (reports "nothing scaled") and carries on.
        let Ok(cleaned) = self.cleanup_unhealthy_replicas(&old, max_scaled_down) else {
            return false;
        };
        let mut all_after = old.clone();
        all_after.push(new);
        let Ok(scaled) = self.scale_down_old_for_rolling(&all_after, &old) else {
            return false;
        };
        cleaned + scaled > 0
    }

    /// `cleanupUnhealthyReplicas`: scaling away replicas that are not available cannot lower
    /// availability, so do that first (oldest ReplicaSet first, at most `max_cleanup`).
    fn cleanup_unhealthy_replicas(&mut self, old: &[usize], max_cleanup: i32) -> Result<i32, Stop> {
        let mut total = 0;
        for &i in old {
            if total >= max_cleanup {
                break;
            }
            let rs = &self.rss[i];
            let size = rs_replicas(rs);
            let available = rs_available(rs);
            if size == 0 || size == available {
                continue;
            }
            let count = (max_cleanup - total).min(size - available);
            let new_size = size - count;
            if new_size > size {
                // More available than desired (stale status): Kubernetes refuses to "scale down"
                // upward and abandons this step.
                return Err(Stop);
            }
            self.scale_and_record(i, new_size);
            total += count;
        }
        Ok(total)
    }

    /// `scaleDownOldReplicaSetsForRollingUpdate`: while more than `minAvailable` pods are
    /// available, take the surplus from the oldest ReplicaSets.
    fn scale_down_old_for_rolling(&mut self, all: &[usize], old: &[usize]) -> Result<i32, Stop> {
        let min_available = spec_replicas(&self.d) - max_unavailable(&self.d);
        let available: i32 = all.iter().map(|i| rs_available(&self.rss[*i])).sum();
        if available <= min_available {
            return Ok(0);
        }
        let target = available - min_available;
        let mut total = 0;
        for &i in old {
            if total >= target {
                break;
            }
            let size = rs_replicas(&self.rss[i]);
            if size == 0 {
                continue;
            }
            let count = size.min(target - total);
            let new_size = size - count;
            if new_size > size {
                return Err(Stop);
            }
            self.scale_and_record(i, new_size);
            total += count;
        }
        Ok(total)
    }

    /// `rolloutRecreate`: old ReplicaSets to 0, wait until no old pod runs, then the new
    /// ReplicaSet at full size.
    pub(super) fn rollout_recreate(&mut self, split: Split) -> Result<(), Stop> {
        let active_old = self.active(&split.old);
        let mut scaled_down = false;
        for i in active_old {
            scaled_down |= self.scale_and_record(i, 0);
        }
        if scaled_down {
            self.sync_rollout_status(&split);
            return Ok(());
        }
        let old_status_replicas: i32 = split
            .old
            .iter()
            .map(|i| rs_status_replicas(&self.rss[*i]))
            .sum();
        if old_status_replicas > 0 || self.old_pods_running > 0 {
            self.sync_rollout_status(&split);
            return Ok(());
        }
        let new = match split.new {
            Some(n) => n,
            None => self.create_new_rs(&split.old)?,
        };
        let split = Split {
            new: Some(new),
            old: split.old,
            new_rs_updated: false,
        };
        let replicas = spec_replicas(&self.d);
        self.scale_and_record(new, replicas);
        if self.complete_before_sync() {
            self.cleanup(&split.old);
        }
        self.sync_rollout_status(&split);
        Ok(())
    }
}
