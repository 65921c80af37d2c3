//! Rolling (ramped): the Deployment's own RollingUpdate, with the file's maxSurge and
//! maxUnavailable, watched like `kubectl rollout status`.

use super::Ctx;
use crate::plan::{Step, Update};
use crate::spec::Rolling;

pub(crate) fn steps(ctx: &mut Ctx, s: &Rolling) -> Vec<Step> {
    let mut steps = vec![Step::UpdateStable {
        update: Update::Rolling {
            max_surge: Some(s.max_surge),
            max_unavailable: Some(s.max_unavailable),
        },
        replicas: ctx.stable_replicas(),
    }];
    steps.extend(ctx.analysis("verify", &s.verify));
    steps
}
