//! The HPA's status conditions, set as the controller sets them.

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscalerCondition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub(super) const ABLE_TO_SCALE: &str = "AbleToScale";
pub(super) const SCALING_ACTIVE: &str = "ScalingActive";
pub(super) const SCALING_LIMITED: &str = "ScalingLimited";

pub(super) struct Conditions {
    pub(super) list: Vec<HorizontalPodAutoscalerCondition>,
    pub(super) now: Time,
}

impl Conditions {
    /// setCondition: updates the condition of that type (added if absent); the transition time
    /// changes only when the status does.
    pub(super) fn set(
        &mut self,
        type_: &str,
        status: bool,
        reason: &str,
        message: impl Into<String>,
    ) {
        let status = if status { "True" } else { "False" };
        let index = match self.list.iter().position(|c| c.type_ == type_) {
            Some(i) => i,
            None => {
                self.list.push(HorizontalPodAutoscalerCondition {
                    type_: type_.to_string(),
                    ..HorizontalPodAutoscalerCondition::default()
                });
                self.list.len() - 1
            }
        };
        if let Some(condition) = self.list.get_mut(index) {
            if condition.status != status {
                condition.last_transition_time = Some(self.now.clone());
            }
            condition.status = status.to_string();
            condition.reason = Some(reason.to_string());
            condition.message = Some(message.into());
        }
    }
}
