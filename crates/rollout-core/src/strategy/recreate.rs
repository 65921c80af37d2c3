//! Recreate: every old pod stops before any new one starts. Downtime by design; no two
//! versions ever run side by side.

use super::Ctx;
use crate::plan::{Step, Update};
use crate::spec::Recreate;

pub(crate) fn steps(ctx: &mut Ctx, s: &Recreate) -> Vec<Step> {
    let mut steps = vec![Step::UpdateStable {
        update: Update::Recreate,
        // With an autoscaler: back to the size it had just before (one at 0 replicas stays
        // off, so the rollout restores it).
        replicas: ctx.stable_replicas(),
    }];
    steps.extend(ctx.analysis("verify", &s.verify));
    steps
}
