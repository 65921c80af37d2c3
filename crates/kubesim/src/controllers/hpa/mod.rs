//! HorizontalPodAutoscaler decisions, as kube-controller-manager's `horizontalpodautoscaling`
//! controller makes them for `autoscaling/v2` (`pkg/controller/podautoscaler/horizontal.go` and
//! `replica_calculator.go`).
//!
//! The embedded cluster has no cAdvisor and no metrics-server: the caller measures each pod's
//! CPU from the load it serves and passes it in as [`PodMetric`]s. Everything else follows
//! Kubernetes:
//!
//! - the usage ratio is the pods' average utilization over the target (`averageUtilization`,
//!   percent of the CPU request) or their average usage over the target (`averageValue`); the
//!   proposal is `ceil(ratio × pods counted)`, and no change is proposed within the tolerance
//!   (±10 %, or `behavior.scaleUp/scaleDown.tolerance` when set);
//! - pods without a sample ("missing") count as using 0 % on a scale-up and 100 % of their request
//!   (or the target, when it is above 100 %) on a scale-down; pods not ready yet count as 0 % on
//!   a scale-up and are left out otherwise; when those assumptions reverse the direction, nothing
//!   changes;
//! - several metrics: the largest proposal wins; a failing metric blocks scaling down;
//! - without `behavior`: a 5 minute scale-down stabilization window over recent recommendations
//!   and the legacy scale-up limit `max(2 × current, 4)`; with `behavior`: both stabilization
//!   windows and the `Pods` / `Percent` rate policies over `periodSeconds` with `selectPolicy`
//!   `Max`, `Min` or `Disabled`, missing fields taking the API defaults;
//! - `minReplicas` / `maxReplicas` clamps, a target at 0 replicas disables autoscaling;
//! - status, conditions (`AbleToScale`, `ScalingActive`, `ScalingLimited`) and events with the
//!   reasons and messages Kubernetes uses.
//!
//! Kubernetes keeps two pieces of memory per HPA between syncs: recent unstabilized
//! recommendations and recent scale events (for the rate policies). Here the caller keeps them:
//! pass them in [`Observed`], store the [`Decision`]'s `history` and `scale_events` back after the
//! scale was written (both lists stay short: entries too old to matter are reused in place, as
//! Kubernetes does). Forget them when the HPA is deleted. The controller syncs every HPA every
//! [`SYNC_PERIOD`].

mod conditions;
mod convert;
mod metrics;
mod normalize;
#[cfg(test)]
mod tests;

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::autoscaling::v2::{HorizontalPodAutoscaler, HorizontalPodAutoscalerStatus};

use conditions::{ABLE_TO_SCALE, Conditions, SCALING_ACTIVE};
use convert::{non_empty, non_zero};
use kube_util::time::to_time;
use metrics::{MetricContext, compute_replicas_for_metrics, default_metrics, tolerances};
use normalize::{Limits, normalize, normalize_with_behaviors, store_scale_event};

/// How often the controller reconciles every HPA (`--horizontal-pod-autoscaler-sync-period`).
pub const SYNC_PERIOD: Duration = Duration::from_secs(15);

/// Usage ratios within this distance of 1.0 propose no change
/// (`--horizontal-pod-autoscaler-tolerance`).
pub const TOLERANCE: f64 = 0.1;

/// Scale-down stabilization window when the HPA does not set one
/// (`--horizontal-pod-autoscaler-downscale-stabilization`).
pub const DOWNSCALE_STABILIZATION_WINDOW: Duration = Duration::from_secs(300);

/// After a pod starts, its CPU samples count only once it is ready
/// (`--horizontal-pod-autoscaler-cpu-initialization-period`); see [`PodMetric::started_recently`].
pub const CPU_INITIALIZATION_PERIOD: Duration = Duration::from_secs(300);

/// The metric an HPA without metrics gets (API defaulting): CPU at 80 % of the request.
pub const DEFAULT_CPU_UTILIZATION: i32 = 80;

/// One pod selected by the scale target's selector, as the metrics pipeline sees it. Pass the
/// pods that are not terminating and not failed (Kubernetes ignores those).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodMetric {
    /// Pod name (used in messages).
    pub name: String,
    /// Sum of the containers' `resources.requests.cpu`, in millicores; `None` when a container
    /// has no CPU request (a `Utilization` target then cannot be computed).
    pub cpu_request_millis: Option<i64>,
    /// CPU in use, in millicores; `None` when there is no sample yet. Rounded up to whole
    /// millicores, as the resource metrics API reports them.
    pub cpu_usage_millis: Option<f64>,
    /// The pod's Ready condition is True.
    pub ready: bool,
    /// The pod started within [`CPU_INITIALIZATION_PERIOD`]. A pod with a sample is set aside
    /// as "unready" when it is not ready and started recently; a pod that stopped being ready
    /// later in its life still counts (Kubernetes only sets those aside when they never were
    /// ready).
    pub started_recently: bool,
}

/// An unstabilized recommendation: what the metrics asked for at some time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recommendation {
    pub at: Timestamp,
    pub replicas: i32,
}

/// A rescale the controller made: `change` is positive for a scale-up, negative for a
/// scale-down. Only recorded for HPAs with `behavior` (the rate policies read them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScaleEvent {
    pub at: Timestamp,
    pub change: i32,
}

/// What the controller looks at for one HPA.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a> {
    /// The HPA as stored (its status carries the previous conditions and last scale time).
    pub hpa: &'a HorizontalPodAutoscaler,
    /// The scale target's `spec.replicas`.
    pub current_replicas: i32,
    /// The pods the target's selector selects.
    pub pods: &'a [PodMetric],
    /// The previous decision's `history` (empty for a new HPA).
    pub history: &'a [Recommendation],
    /// The previous decision's `scale_events` (empty for a new HPA).
    pub scale_events: &'a [ScaleEvent],
}

/// One reconciliation.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// Replicas the target should have after this sync (`scale_to`, or the current count).
    pub desired_replicas: i32,
    /// The status to record (write it when it differs from the stored one).
    pub status: HorizontalPodAutoscalerStatus,
    /// Recommendations to pass in as `history` next time (replaces the old list).
    pub history: Vec<Recommendation>,
    /// Scale events to pass in as `scale_events` next time (replaces the old list). Keep the
    /// old list instead if writing `scale_to` failed.
    pub scale_events: Vec<ScaleEvent>,
    /// Some when the target's `spec.replicas` must be set to this.
    pub scale_to: Option<i32>,
    /// Normal event on a rescale: ("SuccessfulRescale", "New size: 4; reason: ...").
    pub event: Option<(String, String)>,
    /// Warning events (reason, message), e.g. "FailedGetResourceMetric" and
    /// "FailedComputeMetricsReplicas" when no metric could be computed.
    pub warnings: Vec<(String, String)>,
}

/// Decides the replica count of `observed.hpa`'s target at `now`.
pub fn decide(observed: &Observed, now: Timestamp) -> Decision {
    let hpa = observed.hpa;
    let current = observed.current_replicas;
    let old_status = hpa.status.clone().unwrap_or_default();
    let mut history = observed.history.to_vec();
    let mut scale_events = observed.scale_events.to_vec();
    let mut warnings = Vec::new();

    let Some(spec) = hpa.spec.as_ref() else {
        // Nothing to act on (the API server requires a spec).
        return Decision {
            desired_replicas: current,
            status: HorizontalPodAutoscalerStatus {
                current_replicas: non_zero(current),
                desired_replicas: current,
                ..old_status
            },
            history,
            scale_events,
            scale_to: None,
            event: None,
            warnings,
        };
    };

    let mut conditions = Conditions {
        list: old_status.conditions.clone().unwrap_or_default(),
        now: to_time(now),
    };
    conditions.set(
        ABLE_TO_SCALE,
        true,
        "SucceededGetScale",
        "the HPA controller was able to get the target's current scale",
    );
    if history.is_empty() {
        // recordInitialRecommendation: a new HPA first recommends what the target has.
        history.push(Recommendation {
            at: now,
            replicas: current,
        });
    }

    let min_replicas = spec.min_replicas.unwrap_or(1);
    let max_replicas = spec.max_replicas;
    let mut metric_statuses = Vec::new();
    let mut rescale_reason = String::new();
    let desired;
    let rescale;
    if current == 0 && min_replicas != 0 {
        desired = 0;
        rescale = false;
        conditions.set(
            SCALING_ACTIVE,
            false,
            "ScalingDisabled",
            "scaling is disabled since the replica count of the target is zero",
        );
    } else if current > max_replicas {
        rescale_reason = "Current number of replicas above Spec.MaxReplicas".to_string();
        desired = max_replicas;
        rescale = true;
    } else if current < min_replicas {
        rescale_reason = "Current number of replicas below Spec.MinReplicas".to_string();
        desired = min_replicas;
        rescale = true;
    } else {
        let specs = match &spec.metrics {
            Some(metrics) if !metrics.is_empty() => metrics.clone(),
            _ => default_metrics(),
        };
        let context = MetricContext {
            current,
            pods: observed.pods,
            tolerances: tolerances(spec),
            namespace: hpa.metadata.namespace.as_deref().unwrap_or("default"),
        };
        match compute_replicas_for_metrics(&specs, &context, &mut conditions, &mut warnings) {
            Err((statuses, error)) => {
                warnings.push(("FailedComputeMetricsReplicas".to_string(), error));
                let status = HorizontalPodAutoscalerStatus {
                    current_replicas: non_zero(current),
                    desired_replicas: old_status.desired_replicas,
                    current_metrics: non_empty(statuses),
                    last_scale_time: old_status.last_scale_time.clone(),
                    conditions: non_empty(conditions.list),
                    observed_generation: None,
                };
                return Decision {
                    desired_replicas: current,
                    status,
                    history,
                    scale_events,
                    scale_to: None,
                    event: None,
                    warnings,
                };
            }
            Ok(outcome) => {
                metric_statuses = outcome.statuses;
                let proposed = outcome.replicas.max(0);
                let rescale_metric = if outcome.replicas > 0 {
                    outcome.metric.as_str()
                } else {
                    ""
                };
                if proposed > current {
                    rescale_reason = format!("{rescale_metric} above target");
                }
                if proposed < current {
                    rescale_reason = "All metrics below target".to_string();
                }
                let limits = Limits {
                    current,
                    min: min_replicas,
                    max: max_replicas,
                    now,
                };
                desired = match &spec.behavior {
                    None => normalize(&limits, proposed, &mut history, &mut conditions),
                    Some(behavior) => normalize_with_behaviors(
                        &limits,
                        proposed,
                        behavior,
                        &mut history,
                        &scale_events,
                        &mut conditions,
                    ),
                };
                rescale = desired != current;
            }
        }
    }

    let (desired, scale_to, event, last_scale_time) = if rescale {
        conditions.set(
            ABLE_TO_SCALE,
            true,
            "SucceededRescale",
            format!("the HPA controller was able to update the target scale to {desired}"),
        );
        store_scale_event(
            &mut scale_events,
            spec.behavior.as_ref(),
            current,
            desired,
            now,
        );
        let event = (
            "SuccessfulRescale".to_string(),
            format!("New size: {desired}; reason: {rescale_reason}"),
        );
        (desired, Some(desired), Some(event), Some(to_time(now)))
    } else {
        (current, None, None, old_status.last_scale_time.clone())
    };

    Decision {
        desired_replicas: desired,
        status: HorizontalPodAutoscalerStatus {
            current_replicas: non_zero(current),
            desired_replicas: desired,
            current_metrics: non_empty(metric_statuses),
            last_scale_time,
            conditions: non_empty(conditions.list),
            observed_generation: None,
        },
        history,
        scale_events,
        scale_to,
        event,
        warnings,
    }
}

/// A CPU quantity in millicores, rounded up as Kubernetes' `MilliValue` does: "100m" → 100,
/// "0.5" → 500, "1" → 1000, "2.5e-1" → 250. `None` when malformed or out of range.
pub fn parse_cpu_millis(quantity: &str) -> Option<i64> {
    // The API server's own quantity parser (nano-units, rounded up).
    let nanos = crate::admission::validate::parse_quantity(quantity)?;
    i64::try_from(nanos.div_euclid(1_000_000) + i128::from(nanos.rem_euclid(1_000_000) != 0)).ok()
}
