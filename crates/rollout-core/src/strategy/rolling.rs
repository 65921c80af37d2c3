//! Rolling (ramped): the Deployment's own RollingUpdate, with the file's maxSurge and
//! maxUnavailable, watched like `kubectl rollout status`.

use super::Ctx;
use crate::plan::{Step, Update};
use crate::spec::Rolling;

pub(crate) fn steps(ctx: &Ctx, s: &Rolling) -> Vec<Step> {
    let mut steps = vec![Step::UpdateStable {
        update: Update::Rolling {
            max_surge: Some(s.max_surge),
            max_unavailable: Some(s.max_unavailable),
        },
        replicas: ctx.input.replicas,
    }];
    if !s.verify.is_empty() {
        steps.push(Step::Analysis {
            checks: s.verify.clone(),
        });
    }
    steps
}
