//! Canary: the new version beside the stable one, a growing share of requests sent to it,
//! checked at every step. With an ingress or HTTPRoute the share is exact and the canary is
//! sized to it; with only a Service the share is the ratio of pods (approximate).

use super::Ctx;
use crate::plan::{Size, Step};
use crate::spec::{Canary, CanaryScale, CanaryStep, Pause, SpecError};
use crate::traffic::Capability;

pub(crate) fn steps(ctx: &mut Ctx, s: &Canary) -> Result<Vec<Step>, SpecError> {
    ctx.require_service()?;
    let exact = ctx.router.can(Capability::Weights);
    if !exact {
        ctx.require(
            Capability::ApproximateWeights,
            "to send a share of requests",
        )?;
        ctx.notes.push(format!(
            "router {}: a weight is the share of pods, so with {} replicas it is approximate",
            ctx.router, ctx.input.replicas
        ));
    }
    let mut steps = Vec::new();
    let mut current = 0;
    if exact {
        current = 1;
        steps.push(Step::PinService);
        steps.push(Step::CreateNew { replicas: 1 });
        steps.push(Step::WaitNewReady);
        steps.push(Step::CreateNewService);
        steps.push(Step::SetWeight { weight: 0 });
    } else {
        // The canary's pods join the Service as soon as they are ready: start at zero and
        // let setWeight size both Deployments.
        steps.push(Step::CreateNew { replicas: 0 });
        steps.push(Step::CreateNewService);
    }
    let mut fixed_scale: Option<Size> = None;
    let mut current = Size::Replicas(current);
    let mut last_weight = 0u8;
    for (i, step) in s.steps.iter().enumerate() {
        match step {
            CanaryStep::SetWeight(w) => {
                let weight = w.get();
                if exact {
                    let size = fixed_scale.unwrap_or_else(|| ctx.size_for(weight));
                    if size != current {
                        steps.push(Step::ScaleNew { size });
                        steps.push(Step::WaitNewReady);
                        current = size;
                    }
                }
                steps.push(Step::SetWeight { weight });
                last_weight = weight;
            }
            CanaryStep::Pause(Pause::For(d)) => steps.push(Step::Pause { duration: *d }),
            CanaryStep::Pause(Pause::UntilPromoted) => steps.push(Step::WaitForPromotion),
            CanaryStep::Analysis(a) => {
                steps.extend(ctx.analysis_step(&format!("steps[{i}].analysis"), a))
            }
            CanaryStep::SetCanaryScale(scale) => {
                if !exact {
                    return Err(ctx.spec.error_at(
                        &format!("steps[{i}].setCanaryScale"),
                        format!(
                            "router {} sets the weight by the number of canary pods, so the canary cannot be sized apart from it",
                            ctx.router
                        ),
                    ));
                }
                fixed_scale = match scale {
                    CanaryScale::Replicas(n) => {
                        Some(Size::Replicas(i32::try_from(*n).unwrap_or(i32::MAX)))
                    }
                    CanaryScale::Weight(w) => Some(ctx.size_for(w.get())),
                    CanaryScale::MatchTrafficWeight => None,
                };
                let size = fixed_scale.unwrap_or_else(|| ctx.size_for(last_weight));
                if size != current {
                    steps.push(Step::ScaleNew { size });
                    steps.push(Step::WaitNewReady);
                    current = size;
                }
            }
        }
    }
    if last_weight < 100 {
        let full = ctx.size_for(100);
        if exact && current != full {
            steps.push(Step::ScaleNew { size: full });
            steps.push(Step::WaitNewReady);
        }
        steps.push(Step::SetWeight { weight: 100 });
    }
    steps.extend(ctx.finish_through_new());
    if ctx.weights_by_pods() {
        // Nothing was pinned: the Service selects both versions by the app's labels.
        steps.retain(|s| !matches!(s, Step::RestoreTraffic));
    }
    Ok(steps)
}
