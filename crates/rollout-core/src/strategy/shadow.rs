//! Shadow: a copy of a share of the requests goes to the new version, whose answers are
//! thrown away; its errors and latency are compared with the stable version's.

use super::Ctx;
use crate::plan::Step;
use crate::spec::{Shadow, SpecError};
use crate::traffic::Capability;

pub(crate) fn steps(ctx: &mut Ctx, s: &Shadow) -> Result<Vec<Step>, SpecError> {
    ctx.require_service()?;
    ctx.require(Capability::Mirroring, "to copy requests to the new version")?;
    super::ab::experiment_steps(
        ctx,
        Step::Mirror {
            percent: s.mirror.value(),
        },
        super::ab::Experiment {
            duration: s.duration,
            max_duration: crate::spec::max_duration(s.duration, s.max_duration),
            compare: &s.compare,
            promote: s.promote,
            on_inconclusive: s.on_inconclusive,
        },
    )
}
