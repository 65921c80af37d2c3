//! Blue/green: green runs at full size beside blue, is checked through the preview Service,
//! and the app's Service is switched to it at once by changing the one selector term that
//! tells the two apart. Blue keeps running through the post-promotion window, so switching
//! back is instant.
//!
//! To end where the app began (its own Deployment serving, nothing temporary left), blue's
//! Deployment then takes the new template while the Service still selects green, the
//! Service is switched to it, and green is removed.

use super::Ctx;
use crate::labels::HASH_LABEL;
use crate::plan::{Size, Step};
use crate::spec::{BlueGreen, SpecError};

pub(crate) fn steps(ctx: &mut Ctx, s: &BlueGreen) -> Result<Vec<Step>, SpecError> {
    ctx.require_service()?;
    if s.selector_label != HASH_LABEL {
        return Err(ctx.spec.error_at(
            "selectorLabel",
            format!(
                "only {HASH_LABEL} is supported: it differs between blue and green without changing the app's pod labels"
            ),
        ));
    }
    // Green starts at blue's size; when an autoscaler sizes blue, green starts at blue's
    // replica count at that moment and gets an autoscaler of its own while it serves.
    let mut steps = vec![Step::PinService];
    match ctx.size_for(100) {
        Size::Replicas(replicas) => steps.push(Step::CreateNew { replicas }),
        size => {
            steps.push(Step::CreateNew { replicas: 0 });
            steps.push(Step::ScaleNew { size });
        }
    }
    steps.push(Step::WaitNewReady);
    steps.push(Step::CreateNewService);
    steps.extend(ctx.analysis("prePromotion", &s.pre_promotion));
    if !s.auto_promotion {
        steps.push(Step::WaitForPromotion);
    }
    steps.push(Step::SwitchService {
        to: crate::plan::Slot::New,
    });
    steps.extend(ctx.analysis("postPromotion", &s.post_promotion));
    if !s.post_promotion_window.is_zero() {
        steps.push(Step::Pause {
            duration: s.post_promotion_window,
        });
    }
    if !s.scale_down_delay.is_zero() {
        steps.push(Step::Pause {
            duration: s.scale_down_delay,
        });
    }
    steps.push(Step::UpdateStable {
        update: crate::plan::Update::Rolling {
            max_surge: None,
            max_unavailable: None,
        },
        replicas: ctx.stable_replicas(),
    });
    steps.push(Step::RestoreTraffic);
    steps.push(Step::RemoveNew);
    Ok(steps)
}
