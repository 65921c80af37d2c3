//! Recreate: every old pod stops before any new one starts. Downtime by design; no two
//! versions ever run side by side.

use super::Ctx;
use crate::plan::{Step, Update};
use crate::spec::Recreate;

pub(crate) fn steps(ctx: &Ctx, s: &Recreate) -> Vec<Step> {
    let mut steps = vec![Step::UpdateStable {
        update: Update::Recreate,
        replicas: ctx.input.replicas,
    }];
    if !s.verify.is_empty() {
        steps.push(Step::Analysis {
            checks: s.verify.clone(),
        });
    }
    steps
}
