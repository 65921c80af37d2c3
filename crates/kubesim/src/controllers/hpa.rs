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

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use k8s_openapi::api::autoscaling::v2::{
    HPAScalingRules, HorizontalPodAutoscaler, HorizontalPodAutoscalerBehavior,
    HorizontalPodAutoscalerCondition, HorizontalPodAutoscalerSpec, HorizontalPodAutoscalerStatus,
    MetricSpec, MetricStatus, MetricTarget, MetricValueStatus, ResourceMetricSource,
    ResourceMetricStatus,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

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
    pub at: DateTime<Utc>,
    pub replicas: i32,
}

/// A rescale the controller made: `change` is positive for a scale-up, negative for a
/// scale-down. Only recorded for HPAs with `behavior` (the rate policies read them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScaleEvent {
    pub at: DateTime<Utc>,
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
pub fn decide(observed: &Observed, now: DateTime<Utc>) -> Decision {
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

// =======================================================================================
// metrics

const ABLE_TO_SCALE: &str = "AbleToScale";
const SCALING_ACTIVE: &str = "ScalingActive";
const SCALING_LIMITED: &str = "ScalingLimited";

const NO_RESOURCE_METRICS: &str = "no metrics returned from resource metrics API";
const INVALID_RESOURCE_TARGET: &str = "invalid resource metric source: neither an average utilization target nor an average value (usage) target was set";
const NO_CUSTOM_METRICS: &str = "unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered";
const NO_EXTERNAL_METRICS: &str = "unable to fetch metrics from external metrics API: no external metrics API (external.metrics.k8s.io) registered";

fn default_metrics() -> Vec<MetricSpec> {
    vec![MetricSpec {
        type_: "Resource".to_string(),
        resource: Some(ResourceMetricSource {
            name: "cpu".to_string(),
            target: MetricTarget {
                type_: "Utilization".to_string(),
                average_utilization: Some(DEFAULT_CPU_UTILIZATION),
                ..MetricTarget::default()
            },
        }),
        ..MetricSpec::default()
    }]
}

/// Scale-up and scale-down tolerances around a usage ratio of 1.0.
#[derive(Clone, Copy, Debug)]
struct Tolerances {
    down: f64,
    up: f64,
}

impl Tolerances {
    fn is_within(self, usage_ratio: f64) -> bool {
        (1.0 - self.down) <= usage_ratio && usage_ratio <= (1.0 + self.up)
    }
}

fn tolerances(spec: &HorizontalPodAutoscalerSpec) -> Tolerances {
    let of = |rules: Option<&HPAScalingRules>| {
        rules
            .and_then(|r| r.tolerance.as_ref())
            .and_then(|q| quantity_f64(&q.0))
            .filter(|t| t.is_finite() && *t >= 0.0)
            .unwrap_or(TOLERANCE)
    };
    let behavior = spec.behavior.as_ref();
    Tolerances {
        down: of(behavior.and_then(|b| b.scale_down.as_ref())),
        up: of(behavior.and_then(|b| b.scale_up.as_ref())),
    }
}

struct MetricContext<'a> {
    current: i32,
    pods: &'a [PodMetric],
    tolerances: Tolerances,
    namespace: &'a str,
}

struct MetricProposal {
    replicas: i32,
    metric: String,
    status: MetricStatus,
}

/// A metric that could not be computed: the condition reason, the cause (condition message
/// after "the HPA was unable to compute the replica count: ", and the warning event's message)
/// and the wrapped error reported as "first error".
struct MetricFailure {
    reason: &'static str,
    cause: String,
    error: String,
}

struct MetricsOutcome {
    replicas: i32,
    metric: String,
    statuses: Vec<MetricStatus>,
}

/// computeReplicasForMetrics: the largest proposal over all metrics. Fails (with the statuses
/// and the error for "FailedComputeMetricsReplicas") when every metric failed, or when some
/// failed and the others would scale down.
fn compute_replicas_for_metrics(
    specs: &[MetricSpec],
    context: &MetricContext,
    conditions: &mut Conditions,
    warnings: &mut Vec<(String, String)>,
) -> Result<MetricsOutcome, (Vec<MetricStatus>, String)> {
    let mut replicas = 0;
    let mut metric = String::new();
    let mut statuses = Vec::with_capacity(specs.len());
    let mut invalid = 0usize;
    let mut first_failure: Option<MetricFailure> = None;
    for spec in specs {
        match compute_metric(spec, context) {
            Ok(proposal) => {
                statuses.push(proposal.status);
                if replicas == 0 || proposal.replicas > replicas {
                    replicas = proposal.replicas;
                    metric = proposal.metric;
                }
            }
            Err(failure) => {
                statuses.push(MetricStatus::default());
                warnings.push((failure.reason.to_string(), failure.cause.clone()));
                invalid += 1;
                if first_failure.is_none() {
                    first_failure = Some(failure);
                }
            }
        }
    }
    if let Some(failure) = first_failure
        && (invalid >= specs.len() || replicas < context.current)
    {
        conditions.set(
            SCALING_ACTIVE,
            false,
            failure.reason,
            format!(
                "the HPA was unable to compute the replica count: {}",
                failure.cause
            ),
        );
        let error = format!(
            "invalid metrics ({invalid} invalid out of {}), first error is: {}",
            specs.len(),
            failure.error
        );
        return Err((statuses, error));
    }
    conditions.set(
        SCALING_ACTIVE,
        true,
        "ValidMetricFound",
        format!("the HPA was able to successfully calculate a replica count from {metric}"),
    );
    Ok(MetricsOutcome {
        replicas,
        metric,
        statuses,
    })
}

fn compute_metric(
    spec: &MetricSpec,
    context: &MetricContext,
) -> Result<MetricProposal, MetricFailure> {
    match spec.type_.as_str() {
        "Resource" => {
            let Some(source) = spec.resource.as_ref() else {
                return Err(MetricFailure {
                    reason: "FailedGetResourceMetric",
                    cause: INVALID_RESOURCE_TARGET.to_string(),
                    error: format!(
                        "failed to get resource metric value: {INVALID_RESOURCE_TARGET}"
                    ),
                });
            };
            let name = source.name.as_str();
            let computed = if name == "cpu" {
                cpu_replicas(&source.target, context)
            } else {
                Err(unavailable_resource(name, &source.target))
            };
            match computed {
                Ok((replicas, current, metric)) => Ok(MetricProposal {
                    replicas,
                    metric,
                    status: MetricStatus {
                        type_: "Resource".to_string(),
                        resource: Some(ResourceMetricStatus {
                            name: name.to_string(),
                            current,
                        }),
                        ..MetricStatus::default()
                    },
                }),
                Err(cause) => Err(MetricFailure {
                    reason: "FailedGetResourceMetric",
                    error: format!("failed to get {name} resource metric value: {cause}"),
                    cause,
                }),
            }
        }
        "ContainerResource" => {
            let (container, cause) = match spec.container_resource.as_ref() {
                Some(source) => (
                    source.container.as_str(),
                    unavailable_resource(&source.name, &source.target),
                ),
                None => ("", INVALID_RESOURCE_TARGET.to_string()),
            };
            Err(MetricFailure {
                reason: "FailedGetContainerResourceMetric",
                error: format!("failed to get {container} container metric value: {cause}"),
                cause,
            })
        }
        "Pods" => {
            let name = spec
                .pods
                .as_ref()
                .map(|p| p.metric.name.as_str())
                .unwrap_or_default();
            let cause = format!("unable to get metric {name}: {NO_CUSTOM_METRICS}");
            Err(MetricFailure {
                reason: "FailedGetPodsMetric",
                error: format!("failed to get pods metric value: {cause}"),
                cause,
            })
        }
        "Object" => {
            let (name, kind, object) = spec
                .object
                .as_ref()
                .map(|o| {
                    (
                        o.metric.name.as_str(),
                        o.described_object.kind.as_str(),
                        o.described_object.name.as_str(),
                    )
                })
                .unwrap_or_default();
            // Kubernetes' format string puts the error last: "... on <kind> <ns> <name>/<err>".
            let cause = format!(
                "unable to get metric {name}: {kind} on {} {object}/{NO_CUSTOM_METRICS}",
                context.namespace
            );
            Err(MetricFailure {
                reason: "FailedGetObjectMetric",
                error: format!("failed to get object metric value: {cause}"),
                cause,
            })
        }
        "External" => {
            let (name, selector) = spec
                .external
                .as_ref()
                .map(|e| {
                    let selector = e
                        .metric
                        .selector
                        .as_ref()
                        .and_then(|s| serde_json::to_string(s).ok())
                        .unwrap_or_else(|| "nil".to_string());
                    (e.metric.name.as_str(), selector)
                })
                .unwrap_or_default();
            let cause = format!(
                "unable to get external metric {}/{name}/{selector}: {NO_EXTERNAL_METRICS}",
                context.namespace
            );
            Err(MetricFailure {
                reason: "FailedGetExternalMetric",
                error: format!("failed to get {name} external metric value: {cause}"),
                cause,
            })
        }
        other => {
            let cause = format!("unknown metric source type {other:?}");
            Err(MetricFailure {
                reason: "InvalidMetricSourceType",
                error: cause.clone(),
                cause,
            })
        }
    }
}

/// What Kubernetes reports for a resource metric the resource metrics API has no samples for
/// (here: every resource but CPU).
fn unavailable_resource(name: &str, target: &MetricTarget) -> String {
    if target.average_value.is_some() {
        format!(
            "failed to get {name} usage: unable to get metrics for resource {name}: {NO_RESOURCE_METRICS}"
        )
    } else if target.average_utilization.is_none() {
        INVALID_RESOURCE_TARGET.to_string()
    } else {
        format!(
            "failed to get {name} utilization: unable to get metrics for resource {name}: {NO_RESOURCE_METRICS}"
        )
    }
}

/// computeStatusForResourceMetricGeneric for CPU: the proposal, the current value for the
/// status and the metric's name for messages. An `averageValue` target wins over
/// `averageUtilization`, as in Kubernetes.
fn cpu_replicas(
    target: &MetricTarget,
    context: &MetricContext,
) -> Result<(i32, MetricValueStatus, String), String> {
    if let Some(value) = target.average_value.as_ref() {
        let target_usage = parse_cpu_millis(&value.0)
            .filter(|v| *v > 0)
            .ok_or_else(|| INVALID_RESOURCE_TARGET.to_string())?;
        let (replicas, usage) = plain_replicas(context, target_usage)
            .map_err(|e| format!("failed to get cpu usage: {e}"))?;
        let current = MetricValueStatus {
            average_value: Some(milli_quantity(usage)),
            ..MetricValueStatus::default()
        };
        return Ok((replicas, current, "cpu resource".to_string()));
    }
    let target_utilization = target
        .average_utilization
        .filter(|u| *u > 0)
        .ok_or_else(|| INVALID_RESOURCE_TARGET.to_string())?;
    let (replicas, utilization, raw) = utilization_replicas(context, target_utilization)
        .map_err(|e| format!("failed to get cpu utilization: {e}"))?;
    let current = MetricValueStatus {
        average_utilization: Some(utilization),
        average_value: Some(milli_quantity(raw)),
        value: None,
    };
    Ok((
        replicas,
        current,
        "cpu resource utilization (percentage of request)".to_string(),
    ))
}

/// Pods sorted as groupPods does: ready ones with their samples, unready ones (set aside) and
/// ones without a sample. Indices into the pod list.
struct Grouped {
    ready: Vec<(usize, i64)>,
    unready: Vec<usize>,
    missing: Vec<usize>,
}

fn group_pods(pods: &[PodMetric]) -> Result<Grouped, String> {
    if pods.iter().all(|p| p.cpu_usage_millis.is_none()) {
        return Err(format!(
            "unable to get metrics for resource cpu: {NO_RESOURCE_METRICS}"
        ));
    }
    let mut grouped = Grouped {
        ready: Vec::new(),
        unready: Vec::new(),
        missing: Vec::new(),
    };
    for (i, pod) in pods.iter().enumerate() {
        match pod.cpu_usage_millis {
            None => grouped.missing.push(i),
            Some(_) if !pod.ready && pod.started_recently => grouped.unready.push(i),
            Some(usage) => grouped.ready.push((i, usage_millis(usage))),
        }
    }
    if grouped.ready.is_empty() {
        return Err(
            "did not receive metrics for targeted pods (pods might be unready)".to_string(),
        );
    }
    Ok(grouped)
}

/// A sample in whole millicores, rounded up (after dropping floating-point noise below a
/// nanocore), as the metrics API's nanocores become `MilliValue`s.
fn usage_millis(usage: f64) -> i64 {
    if !usage.is_finite() || usage <= 0.0 {
        return 0;
    }
    let nanos = (usage * 1e6).round();
    // Float-to-int casts saturate.
    (nanos / 1e6).ceil() as i64
}

/// GetResourceReplicas: proposal, average utilization (percent) and average usage (millis).
fn utilization_replicas(context: &MetricContext, target: i32) -> Result<(i32, i32, i64), String> {
    let pods = context.pods;
    let current = context.current;
    let grouped = group_pods(pods)?;
    let requests = pods
        .iter()
        .map(|p| {
            p.cpu_request_millis
                .ok_or_else(|| format!("missing request for cpu in Pod {}", p.name))
        })
        .collect::<Result<Vec<i64>, String>>()?;
    let (ratio, utilization, raw) = utilization_ratio(&grouped.ready, &requests, target)?;

    let scale_up_with_unready = !grouped.unready.is_empty() && ratio > 1.0;
    if !scale_up_with_unready && grouped.missing.is_empty() {
        if context.tolerances.is_within(ratio) {
            return Ok((current, utilization, raw));
        }
        return Ok((
            ceil_i32(ratio * grouped.ready.len() as f64),
            utilization,
            raw,
        ));
    }

    let mut metrics = grouped.ready.clone();
    if ratio < 1.0 {
        // Scaling down: missing pods use all of their request (or the target, above 100 %).
        let fallback = i64::from(target.max(100));
        metrics.extend(
            grouped
                .missing
                .iter()
                .map(|&i| (i, requests[i].saturating_mul(fallback) / 100)),
        );
    } else if ratio > 1.0 {
        // Scaling up: missing pods use nothing.
        metrics.extend(grouped.missing.iter().map(|&i| (i, 0)));
    }
    if scale_up_with_unready {
        metrics.extend(grouped.unready.iter().map(|&i| (i, 0)));
    }
    let (new_ratio, _, _) = utilization_ratio(&metrics, &requests, target)?;
    Ok((
        rebalanced_replicas(current, ratio, new_ratio, metrics.len(), context.tolerances),
        utilization,
        raw,
    ))
}

/// GetRawResourceReplicas / calcPlainMetricReplicas: proposal and average usage (millis).
fn plain_replicas(context: &MetricContext, target_usage: i64) -> Result<(i32, i64), String> {
    let current = context.current;
    let grouped = group_pods(context.pods)?;
    let (ratio, usage) = usage_ratio(&grouped.ready, target_usage);

    let scale_up_with_unready = !grouped.unready.is_empty() && ratio > 1.0;
    if !scale_up_with_unready && grouped.missing.is_empty() {
        if context.tolerances.is_within(ratio) {
            return Ok((current, usage));
        }
        return Ok((ceil_i32(ratio * grouped.ready.len() as f64), usage));
    }

    let mut metrics = grouped.ready.clone();
    if ratio < 1.0 {
        // Scaling down: missing pods use exactly the target.
        metrics.extend(grouped.missing.iter().map(|&i| (i, target_usage)));
    } else if ratio > 1.0 {
        metrics.extend(grouped.missing.iter().map(|&i| (i, 0)));
    }
    if scale_up_with_unready {
        metrics.extend(grouped.unready.iter().map(|&i| (i, 0)));
    }
    let (new_ratio, _) = usage_ratio(&metrics, target_usage);
    Ok((
        rebalanced_replicas(current, ratio, new_ratio, metrics.len(), context.tolerances),
        usage,
    ))
}

/// The proposal once missing and unready pods got assumed values: none when within tolerance or
/// when the assumptions reverse the direction.
fn rebalanced_replicas(
    current: i32,
    ratio: f64,
    new_ratio: f64,
    counted: usize,
    tolerances: Tolerances,
) -> i32 {
    if tolerances.is_within(new_ratio)
        || (ratio < 1.0 && new_ratio > 1.0)
        || (ratio > 1.0 && new_ratio < 1.0)
    {
        return current;
    }
    let proposed = ceil_i32(new_ratio * counted as f64);
    if (new_ratio < 1.0 && proposed > current) || (new_ratio > 1.0 && proposed < current) {
        return current;
    }
    proposed
}

/// GetResourceUtilizationRatio: (usage ratio, utilization percent, average usage in millis).
/// The utilization is truncated to a whole percent before the ratio is taken, as in Kubernetes.
fn utilization_ratio(
    metrics: &[(usize, i64)],
    requests: &[i64],
    target: i32,
) -> Result<(f64, i32, i64), String> {
    let mut usage_total: i128 = 0;
    let mut request_total: i128 = 0;
    for &(i, usage) in metrics {
        usage_total += i128::from(usage);
        request_total += i128::from(requests.get(i).copied().unwrap_or(0));
    }
    if request_total == 0 || metrics.is_empty() {
        return Err("no metrics returned matched known pods".to_string());
    }
    let utilization = clamp_i32(usage_total * 100 / request_total);
    let average = clamp_i64(usage_total / metrics.len() as i128);
    Ok((
        f64::from(utilization) / f64::from(target),
        utilization,
        average,
    ))
}

/// GetMetricUsageRatio: (usage ratio, average usage truncated to whole millis).
fn usage_ratio(metrics: &[(usize, i64)], target_usage: i64) -> (f64, i64) {
    let total: i128 = metrics.iter().map(|&(_, v)| i128::from(v)).sum();
    let average = clamp_i64(total / (metrics.len().max(1) as i128));
    (average as f64 / target_usage as f64, average)
}

// =======================================================================================
// normalization: stabilization, rate limits, min/max

struct Limits {
    current: i32,
    min: i32,
    max: i32,
    now: DateTime<Utc>,
}

/// normalizeDesiredReplicas (no `behavior`): scale-down stabilization over the default window,
/// then min/max and the legacy scale-up limit.
fn normalize(
    limits: &Limits,
    proposed: i32,
    history: &mut Vec<Recommendation>,
    conditions: &mut Conditions,
) -> i32 {
    let window = i64::try_from(DOWNSCALE_STABILIZATION_WINDOW.as_secs()).unwrap_or(i64::MAX);
    let cutoff = seconds_before(limits.now, window);
    let mut stabilized = proposed;
    let mut old_sample = None;
    for (i, rec) in history.iter().enumerate() {
        if rec.at < cutoff {
            old_sample = Some(i);
        } else if rec.replicas > stabilized {
            stabilized = rec.replicas;
        }
    }
    record(history, old_sample, limits.now, proposed);
    if stabilized != proposed {
        conditions.set(
            ABLE_TO_SCALE,
            true,
            "ScaleDownStabilized",
            "recent recommendations were higher than current one, applying the highest recent recommendation",
        );
    } else {
        conditions.set(
            ABLE_TO_SCALE,
            true,
            "ReadyForNewScale",
            "recommended size matches current size",
        );
    }

    // Do not scale up too much at once (bogus usage reports): at most doubling, at least 4.
    let scale_up_limit = (2 * i64::from(limits.current)).max(4);
    let (max_allowed, limit_reason, limit_message) = if i64::from(limits.max) > scale_up_limit {
        (
            clamp_i32(i128::from(scale_up_limit)),
            "ScaleUpLimit",
            "the desired replica count is increasing faster than the maximum scale rate",
        )
    } else {
        (
            limits.max,
            "TooManyReplicas",
            "the desired replica count is more than the maximum replica count",
        )
    };
    let (desired, reason, message) = if stabilized < limits.min {
        (
            limits.min,
            "TooFewReplicas",
            "the desired replica count is less than the minimum replica count",
        )
    } else if stabilized > max_allowed {
        (max_allowed, limit_reason, limit_message)
    } else {
        (
            stabilized,
            "DesiredWithinRange",
            "the desired count is within the acceptable range",
        )
    };
    conditions.set(SCALING_LIMITED, desired != stabilized, reason, message);
    desired
}

/// normalizeDesiredReplicasWithBehaviors: both stabilization windows, then the rate policies
/// and min/max.
fn normalize_with_behaviors(
    limits: &Limits,
    proposed: i32,
    behavior: &HorizontalPodAutoscalerBehavior,
    history: &mut Vec<Recommendation>,
    events: &[ScaleEvent],
    conditions: &mut Conditions,
) -> i32 {
    let up = Rules::effective(behavior.scale_up.as_ref(), true);
    let down = Rules::effective(behavior.scale_down.as_ref(), false);
    let now = limits.now;
    let current = limits.current;

    // stabilizeRecommendationWithBehaviors
    let up_cutoff = seconds_before(now, up.window_seconds);
    let down_cutoff = seconds_before(now, down.window_seconds);
    let mut up_recommendation = proposed;
    let mut down_recommendation = proposed;
    let mut old_sample = None;
    for (i, rec) in history.iter().enumerate() {
        if rec.at > up_cutoff {
            up_recommendation = up_recommendation.min(rec.replicas);
        }
        if rec.at > down_cutoff {
            down_recommendation = down_recommendation.max(rec.replicas);
        }
        if rec.at < up_cutoff && rec.at < down_cutoff {
            old_sample = Some(i);
        }
    }
    let stabilized = current.max(up_recommendation).min(down_recommendation);
    record(history, old_sample, now, proposed);
    if stabilized != proposed {
        if proposed >= current {
            conditions.set(
                ABLE_TO_SCALE,
                true,
                "ScaleUpStabilized",
                "recent recommendations were lower than current one, applying the lowest recent recommendation",
            );
        } else {
            conditions.set(
                ABLE_TO_SCALE,
                true,
                "ScaleDownStabilized",
                "recent recommendations were higher than current one, applying the highest recent recommendation",
            );
        }
    } else {
        conditions.set(
            ABLE_TO_SCALE,
            true,
            "ReadyForNewScale",
            "recommended size matches current size",
        );
    }

    // convertDesiredReplicasWithBehaviorRate
    let mut result = (
        stabilized,
        "DesiredWithinRange",
        "the desired count is within the acceptable range",
    );
    if stabilized > current {
        let scale_up_limit = up
            .scale_up_limit(current, events, now)
            .max(i64::from(current));
        let (max_allowed, reason, message) = if i64::from(limits.max) > scale_up_limit {
            (
                clamp_i32(i128::from(scale_up_limit)),
                "ScaleUpLimit",
                "the desired replica count is increasing faster than the maximum scale rate",
            )
        } else {
            (
                limits.max,
                "TooManyReplicas",
                "the desired replica count is more than the maximum replica count",
            )
        };
        if stabilized > max_allowed {
            result = (max_allowed, reason, message);
        }
    } else if stabilized < current {
        let scale_down_limit = down
            .scale_down_limit(current, events, now)
            .min(i64::from(current));
        let (min_allowed, reason, message) = if i64::from(limits.min) < scale_down_limit {
            (
                clamp_i32(i128::from(scale_down_limit)),
                "ScaleDownLimit",
                "the desired replica count is decreasing faster than the maximum scale rate",
            )
        } else {
            (
                limits.min,
                "TooFewReplicas",
                "the desired replica count is less than the minimum replica count",
            )
        };
        if stabilized < min_allowed {
            result = (min_allowed, reason, message);
        }
    }
    let (desired, reason, message) = result;
    conditions.set(SCALING_LIMITED, desired != stabilized, reason, message);
    desired
}

/// Records an unstabilized recommendation, reusing the slot of one too old to matter.
fn record(
    history: &mut Vec<Recommendation>,
    old_sample: Option<usize>,
    now: DateTime<Utc>,
    replicas: i32,
) {
    let rec = Recommendation { at: now, replicas };
    match old_sample.and_then(|i| history.get_mut(i)) {
        Some(slot) => *slot = rec,
        None => history.push(rec),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Select {
    Max,
    Min,
    Disabled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PolicyKind {
    Pods,
    Percent,
}

/// HPAScalingRules with the API defaults filled in (`GenerateHPAScaleUpRules` /
/// `GenerateHPAScaleDownRules`; the scale-down window defaults to the controller's 5 minutes).
struct Rules {
    window_seconds: i64,
    select: Select,
    /// (kind, value, periodSeconds)
    policies: Vec<(PolicyKind, i64, i64)>,
}

impl Rules {
    fn effective(rules: Option<&HPAScalingRules>, up: bool) -> Rules {
        let default_window = if up {
            0
        } else {
            i64::try_from(DOWNSCALE_STABILIZATION_WINDOW.as_secs()).unwrap_or(i64::MAX)
        };
        let default_policies = if up {
            vec![(PolicyKind::Pods, 4, 15), (PolicyKind::Percent, 100, 15)]
        } else {
            vec![(PolicyKind::Percent, 100, 15)]
        };
        let window_seconds = rules
            .and_then(|r| r.stabilization_window_seconds)
            .map_or(default_window, i64::from);
        let select = match rules.and_then(|r| r.select_policy.as_deref()) {
            Some("Min") => Select::Min,
            Some("Disabled") => Select::Disabled,
            _ => Select::Max,
        };
        let policies = match rules.and_then(|r| r.policies.as_ref()) {
            Some(policies) => policies
                .iter()
                .filter_map(|p| {
                    let kind = match p.type_.as_str() {
                        "Pods" => PolicyKind::Pods,
                        "Percent" => PolicyKind::Percent,
                        _ => return None,
                    };
                    Some((kind, i64::from(p.value), i64::from(p.period_seconds)))
                })
                .collect(),
            None => default_policies,
        };
        Rules {
            window_seconds,
            select,
            policies,
        }
    }

    fn longest_period(&self) -> i64 {
        self.policies.iter().map(|p| p.2).max().unwrap_or(0)
    }

    /// calculateScaleUpLimitWithScalingRules: the most replicas the policies allow now.
    fn scale_up_limit(&self, current: i32, events: &[ScaleEvent], now: DateTime<Utc>) -> i64 {
        let current = i64::from(current);
        let (mut result, pick): (i64, fn(i64, i64) -> i64) = match self.select {
            Select::Disabled => return current,
            Select::Min => (i64::MAX, i64::min),
            Select::Max => (i64::MIN, i64::max),
        };
        for &(kind, value, period) in &self.policies {
            let added = replicas_changed(events, true, period, now);
            let deleted = replicas_changed(events, false, period, now);
            let period_start = current - added + deleted;
            let proposed = match kind {
                PolicyKind::Pods => period_start.saturating_add(value),
                PolicyKind::Percent => {
                    (period_start as f64 * (1.0 + value as f64 / 100.0)).ceil() as i64
                }
            };
            result = pick(result, proposed);
        }
        result
    }

    /// calculateScaleDownLimitWithBehaviors: the fewest replicas the policies allow now.
    fn scale_down_limit(&self, current: i32, events: &[ScaleEvent], now: DateTime<Utc>) -> i64 {
        let current = i64::from(current);
        let (mut result, pick): (i64, fn(i64, i64) -> i64) = match self.select {
            Select::Disabled => return current,
            Select::Min => (i64::MIN, i64::max),
            Select::Max => (i64::MAX, i64::min),
        };
        for &(kind, value, period) in &self.policies {
            let added = replicas_changed(events, true, period, now);
            let deleted = replicas_changed(events, false, period, now);
            let period_start = current - added + deleted;
            let proposed = match kind {
                PolicyKind::Pods => period_start.saturating_sub(value),
                // Truncated toward zero, as Go's int32(float64) conversion.
                PolicyKind::Percent => (period_start as f64 * (1.0 - value as f64 / 100.0)) as i64,
            };
            result = pick(result, proposed);
        }
        result
    }
}

/// getReplicasChangePerPeriod: replicas added (`up`) or removed within the last `period`
/// seconds.
fn replicas_changed(events: &[ScaleEvent], up: bool, period: i64, now: DateTime<Utc>) -> i64 {
    let cutoff = seconds_before(now, period);
    events
        .iter()
        .filter(|e| if up { e.change > 0 } else { e.change < 0 })
        .filter(|e| e.at > cutoff)
        .map(|e| i64::from(e.change.unsigned_abs()))
        .sum()
}

/// storeScaleEvent: only HPAs with `behavior` keep scale events; an event older than the
/// direction's longest policy period is replaced instead of growing the list.
fn store_scale_event(
    events: &mut Vec<ScaleEvent>,
    behavior: Option<&HorizontalPodAutoscalerBehavior>,
    previous: i32,
    new: i32,
    now: DateTime<Utc>,
) {
    let Some(behavior) = behavior else {
        return;
    };
    let up = new > previous;
    let rules = if up {
        Rules::effective(behavior.scale_up.as_ref(), true)
    } else {
        Rules::effective(behavior.scale_down.as_ref(), false)
    };
    let cutoff = seconds_before(now, rules.longest_period());
    let event = ScaleEvent {
        at: now,
        change: new.saturating_sub(previous),
    };
    let outdated = events
        .iter()
        .rposition(|e| e.change != 0 && (e.change > 0) == up && e.at < cutoff);
    match outdated.and_then(|i| events.get_mut(i)) {
        Some(slot) => *slot = event,
        None => events.push(event),
    }
}

// =======================================================================================
// conditions, quantities, time

struct Conditions {
    list: Vec<HorizontalPodAutoscalerCondition>,
    now: Time,
}

impl Conditions {
    /// setCondition: updates the condition of that type (added if absent); the transition time
    /// changes only when the status does.
    fn set(&mut self, type_: &str, status: bool, reason: &str, message: impl Into<String>) {
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

/// A quantity as a float (Kubernetes' `AsApproximateFloat64`).
fn quantity_f64(s: &str) -> Option<f64> {
    crate::admission::validate::parse_quantity(s).map(|nanos| nanos as f64 / 1e9)
}

/// `resource.NewMilliQuantity(millis, DecimalSI)` in canonical form: "250m", "1", "1500m", "2k".
fn milli_quantity(millis: i64) -> Quantity {
    if millis == 0 {
        return Quantity("0".to_string());
    }
    let mut value = millis;
    let mut exponent = -3;
    while exponent < 18 && value % 1000 == 0 {
        value /= 1000;
        exponent += 3;
    }
    let suffix = match exponent {
        -3 => "m",
        0 => "",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        _ => "E",
    };
    Quantity(format!("{value}{suffix}"))
}

fn ceil_i32(x: f64) -> i32 {
    // Float-to-int casts saturate (and map NaN to 0).
    x.ceil() as i32
}

fn clamp_i32(x: i128) -> i32 {
    i32::try_from(x.clamp(i128::from(i32::MIN), i128::from(i32::MAX))).unwrap_or_default()
}

fn clamp_i64(x: i128) -> i64 {
    i64::try_from(x.clamp(i128::from(i64::MIN), i128::from(i64::MAX))).unwrap_or_default()
}

fn non_zero(x: i32) -> Option<i32> {
    (x != 0).then_some(x)
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

fn seconds_before(now: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
    TimeDelta::try_seconds(seconds)
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Status times have whole-second precision, as Kubernetes serializes them.
fn to_time(t: DateTime<Utc>) -> Time {
    Time(Timestamp::from_second(t.timestamp()).unwrap_or(Timestamp::UNIX_EPOCH))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::{Value, json};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0)
            .single()
            .expect("valid time")
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        t0() + TimeDelta::seconds(seconds)
    }

    fn hpa(spec: Value) -> HorizontalPodAutoscaler {
        serde_json::from_value(json!({
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": spec,
        }))
        .expect("valid HPA")
    }

    fn spec(min: i32, max: i32, metrics: Value) -> Value {
        json!({
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": min,
            "maxReplicas": max,
            "metrics": metrics,
        })
    }

    fn cpu_utilization(target: i32) -> Value {
        json!([{"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": target}}}])
    }

    fn cpu_hpa(min: i32, max: i32, target: i32) -> HorizontalPodAutoscaler {
        hpa(spec(min, max, cpu_utilization(target)))
    }

    fn with_behavior(min: i32, max: i32, target: i32, behavior: Value) -> HorizontalPodAutoscaler {
        let mut s = spec(min, max, cpu_utilization(target));
        s["behavior"] = behavior;
        hpa(s)
    }

    fn pod(i: usize, usage: Option<f64>) -> PodMetric {
        PodMetric {
            name: format!("web-{i}"),
            cpu_request_millis: Some(100),
            cpu_usage_millis: usage,
            ready: true,
            started_recently: false,
        }
    }

    /// Ready pods requesting 100m each, using these millicores.
    fn pods(usages: &[f64]) -> Vec<PodMetric> {
        usages
            .iter()
            .enumerate()
            .map(|(i, u)| pod(i, Some(*u)))
            .collect()
    }

    /// A recommendation too old to stabilize anything, so a test starts from a settled HPA.
    fn settled(replicas: i32) -> Vec<Recommendation> {
        vec![Recommendation {
            at: at(-3600),
            replicas,
        }]
    }

    fn run(
        hpa: &HorizontalPodAutoscaler,
        current: i32,
        pods: &[PodMetric],
        history: &[Recommendation],
        events: &[ScaleEvent],
        now: DateTime<Utc>,
    ) -> Decision {
        decide(
            &Observed {
                hpa,
                current_replicas: current,
                pods,
                history,
                scale_events: events,
            },
            now,
        )
    }

    fn settled_run(hpa: &HorizontalPodAutoscaler, current: i32, pods: &[PodMetric]) -> Decision {
        run(hpa, current, pods, &settled(current), &[], t0())
    }

    /// (status, reason, message) of a condition.
    fn condition(d: &Decision, type_: &str) -> (String, String, String) {
        let c = d
            .status
            .conditions
            .as_ref()
            .and_then(|cs| cs.iter().find(|c| c.type_ == type_))
            .unwrap_or_else(|| panic!("no {type_} condition"));
        (
            c.status.clone(),
            c.reason.clone().unwrap_or_default(),
            c.message.clone().unwrap_or_default(),
        )
    }

    fn event_message(d: &Decision) -> Option<String> {
        d.event.as_ref().map(|e| e.1.clone())
    }

    fn reason(d: &Decision, type_: &str) -> String {
        condition(d, type_).1
    }

    fn cpu_status(d: &Decision) -> MetricValueStatus {
        d.status
            .current_metrics
            .as_ref()
            .and_then(|m| m.first())
            .and_then(|m| m.resource.as_ref())
            .map(|r| r.current.clone())
            .expect("cpu metric status")
    }

    #[test]
    fn parses_cpu_quantities_rounding_up() {
        let cases: &[(&str, Option<i64>)] = &[
            ("100m", Some(100)),
            ("0.5", Some(500)),
            (".5", Some(500)),
            ("1", Some(1000)),
            ("+2", Some(2000)),
            ("2.5e-1", Some(250)),
            ("1E3", Some(1_000_000)),
            ("1.5m", Some(2)),
            ("0.0001", Some(1)),
            ("100000n", Some(1)),
            ("1k", Some(1_000_000)),
            ("1Ki", Some(1_024_000)),
            ("0", Some(0)),
            ("0e99999", Some(0)),
            ("-100m", Some(-100)),
            ("", None),
            ("m", None),
            ("abc", None),
            ("1.2.3", None),
            ("1x", None),
            ("1 ", None),
            ("1e", None),
            ("1e100", None),
            ("99999999999999999999", None),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_cpu_millis(input), *expected, "{input:?}");
        }
    }

    #[test]
    fn formats_milli_quantities_canonically() {
        let cases = [
            (0, "0"),
            (250, "250m"),
            (1000, "1"),
            (1500, "1500m"),
            (2_000_000, "2k"),
        ];
        for (millis, text) in cases {
            assert_eq!(milli_quantity(millis).0, text);
        }
    }

    #[test]
    fn scales_up_to_the_ceiling_of_ratio_times_pods() {
        let h = cpu_hpa(1, 10, 50);
        // 90 % of request against a 50 % target: ratio 1.8, ceil(1.8 × 2) = 4.
        let d = settled_run(&h, 2, &pods(&[90.0, 90.0]));
        assert_eq!(d.scale_to, Some(4));
        assert_eq!(d.desired_replicas, 4);
        assert_eq!(
            d.event,
            Some((
                "SuccessfulRescale".to_string(),
                "New size: 4; reason: cpu resource utilization (percentage of request) above target"
                    .to_string()
            ))
        );
        assert_eq!(d.status.current_replicas, Some(2));
        assert_eq!(d.status.desired_replicas, 4);
        assert_eq!(d.status.last_scale_time, Some(to_time(t0())));
        let current = cpu_status(&d);
        assert_eq!(current.average_utilization, Some(90));
        assert_eq!(current.average_value, Some(Quantity("90m".to_string())));
        let metrics = d.status.current_metrics.as_ref().expect("metrics");
        assert_eq!(metrics[0].type_, "Resource");
        assert_eq!(
            metrics[0].resource.as_ref().map(|r| r.name.as_str()),
            Some("cpu")
        );

        let types: Vec<&str> = d
            .status
            .conditions
            .as_ref()
            .expect("conditions")
            .iter()
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(types, ["AbleToScale", "ScalingActive", "ScalingLimited"]);
        assert_eq!(
            condition(&d, "AbleToScale"),
            (
                "True".to_string(),
                "SucceededRescale".to_string(),
                "the HPA controller was able to update the target scale to 4".to_string()
            )
        );
        assert_eq!(
            condition(&d, "ScalingActive"),
            (
                "True".to_string(),
                "ValidMetricFound".to_string(),
                "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)".to_string()
            )
        );
        assert_eq!(
            condition(&d, "ScalingLimited"),
            (
                "False".to_string(),
                "DesiredWithinRange".to_string(),
                "the desired count is within the acceptable range".to_string()
            )
        );
        // The old recommendation's slot is reused; no behavior, so no scale events.
        assert_eq!(
            d.history,
            [Recommendation {
                at: t0(),
                replicas: 4
            }]
        );
        assert!(d.scale_events.is_empty());
        assert!(d.warnings.is_empty());
    }

    #[test]
    fn partial_pods_round_up() {
        // ratio 1.2 over 3 pods: ceil(3.6) = 4.
        let d = settled_run(&cpu_hpa(1, 10, 50), 3, &pods(&[60.0, 60.0, 60.0]));
        assert_eq!(d.scale_to, Some(4));
    }

    #[test]
    fn no_change_within_tolerance() {
        let h = cpu_hpa(1, 10, 50);
        for usage in [54.0, 55.0, 45.0] {
            let d = settled_run(&h, 2, &pods(&[usage, usage]));
            assert_eq!(d.scale_to, None, "usage {usage}");
            assert_eq!(d.desired_replicas, 2);
            assert_eq!(d.status.desired_replicas, 2);
            assert_eq!(d.event, None);
            assert_eq!(d.status.last_scale_time, None);
            assert_eq!(reason(&d, "AbleToScale"), "ReadyForNewScale");
            assert_eq!(reason(&d, "ScalingLimited"), "DesiredWithinRange");
        }
        // Just outside: 56 % → ratio 1.12 → ceil(2.24) = 3.
        let d = settled_run(&h, 2, &pods(&[56.0, 56.0]));
        assert_eq!(d.scale_to, Some(3));
        // 44 % → ratio 0.88 → ceil(1.76) = 2: no change either.
        let d = settled_run(&h, 2, &pods(&[44.0, 44.0]));
        assert_eq!(d.scale_to, None);
    }

    #[test]
    fn tolerance_can_be_set_per_direction() {
        let wide = with_behavior(1, 10, 50, json!({"scaleUp": {"tolerance": "0.5"}}));
        let d = settled_run(&wide, 2, &pods(&[70.0, 70.0]));
        assert_eq!(d.scale_to, None);
        let narrow = with_behavior(1, 10, 50, json!({"scaleUp": {"tolerance": "50m"}}));
        let d = settled_run(&narrow, 2, &pods(&[54.0, 54.0]));
        assert_eq!(d.scale_to, Some(3));
    }

    #[test]
    fn clamps_to_max_replicas() {
        let d = settled_run(&cpu_hpa(1, 3, 50), 2, &pods(&[500.0, 500.0]));
        assert_eq!(d.scale_to, Some(3));
        assert_eq!(
            condition(&d, "ScalingLimited"),
            (
                "True".to_string(),
                "TooManyReplicas".to_string(),
                "the desired replica count is more than the maximum replica count".to_string()
            )
        );
    }

    #[test]
    fn without_behavior_scale_up_is_at_most_double_or_four() {
        let d = settled_run(&cpu_hpa(1, 100, 50), 2, &pods(&[500.0, 500.0]));
        assert_eq!(d.scale_to, Some(4));
        assert_eq!(
            condition(&d, "ScalingLimited"),
            (
                "True".to_string(),
                "ScaleUpLimit".to_string(),
                "the desired replica count is increasing faster than the maximum scale rate"
                    .to_string()
            )
        );
        let d = settled_run(&cpu_hpa(1, 100, 50), 5, &pods(&[500.0; 5]));
        assert_eq!(d.scale_to, Some(10));
    }

    #[test]
    fn clamps_to_min_replicas() {
        let d = settled_run(&cpu_hpa(2, 10, 50), 4, &pods(&[0.0; 4]));
        assert_eq!(d.scale_to, Some(2));
        assert_eq!(
            event_message(&d),
            Some("New size: 2; reason: All metrics below target".to_string())
        );
        assert_eq!(
            condition(&d, "ScalingLimited"),
            (
                "True".to_string(),
                "TooFewReplicas".to_string(),
                "the desired replica count is less than the minimum replica count".to_string()
            )
        );
    }

    #[test]
    fn replicas_outside_min_max_are_corrected_without_metrics() {
        let h = cpu_hpa(3, 10, 50);
        let d = settled_run(&h, 12, &pods(&[0.0; 12]));
        assert_eq!(d.scale_to, Some(10));
        assert_eq!(
            event_message(&d),
            Some(
                "New size: 10; reason: Current number of replicas above Spec.MaxReplicas"
                    .to_string()
            )
        );
        assert_eq!(d.status.current_metrics, None);
        assert_eq!(reason(&d, "AbleToScale"), "SucceededRescale");
        assert!(
            d.status
                .conditions
                .as_ref()
                .is_some_and(|c| c.iter().all(|c| c.type_ == "AbleToScale"))
        );

        let d = settled_run(&h, 1, &pods(&[]));
        assert_eq!(d.scale_to, Some(3));
        assert_eq!(
            event_message(&d),
            Some(
                "New size: 3; reason: Current number of replicas below Spec.MinReplicas"
                    .to_string()
            )
        );
    }

    #[test]
    fn zero_replicas_disable_autoscaling() {
        let d = settled_run(&cpu_hpa(1, 10, 50), 0, &pods(&[]));
        assert_eq!(d.scale_to, None);
        assert_eq!(d.desired_replicas, 0);
        assert_eq!(d.status.current_replicas, None);
        assert_eq!(d.status.desired_replicas, 0);
        assert_eq!(
            condition(&d, "ScalingActive"),
            (
                "False".to_string(),
                "ScalingDisabled".to_string(),
                "scaling is disabled since the replica count of the target is zero".to_string()
            )
        );
        assert_eq!(reason(&d, "AbleToScale"), "SucceededGetScale");
    }

    #[test]
    fn scale_down_waits_for_the_stabilization_window() {
        let h = cpu_hpa(1, 10, 50);
        let low = pods(&[10.0; 4]);
        // ratio 0.2 → ceil(0.8) = 1, but 4 was recommended a minute ago.
        let history = [Recommendation {
            at: at(-60),
            replicas: 4,
        }];
        let d = run(&h, 4, &low, &history, &[], t0());
        assert_eq!(d.scale_to, None);
        assert_eq!(
            condition(&d, "AbleToScale"),
            (
                "True".to_string(),
                "ScaleDownStabilized".to_string(),
                "recent recommendations were higher than current one, applying the highest recent recommendation".to_string()
            )
        );
        assert_eq!(reason(&d, "ScalingLimited"), "DesiredWithinRange");
        assert_eq!(
            d.history,
            [
                history[0],
                Recommendation {
                    at: t0(),
                    replicas: 1
                }
            ]
        );
        // Four minutes later the 4 is still within the window.
        let d = run(&h, 4, &low, &d.history, &[], at(240));
        assert_eq!(d.scale_to, None);
        // Once it is older than 5 minutes, scale down.
        let d = run(&h, 4, &low, &d.history, &[], at(241));
        assert_eq!(d.scale_to, Some(1));
        assert_eq!(reason(&d, "AbleToScale"), "SucceededRescale");
    }

    #[test]
    fn a_new_hpa_first_recommends_the_current_size() {
        let h = cpu_hpa(1, 10, 50);
        let d = run(&h, 4, &pods(&[10.0; 4]), &[], &[], t0());
        assert_eq!(d.scale_to, None);
        assert_eq!(reason(&d, "AbleToScale"), "ScaleDownStabilized");
        assert_eq!(
            d.history,
            [
                Recommendation {
                    at: t0(),
                    replicas: 4
                },
                Recommendation {
                    at: t0(),
                    replicas: 1
                }
            ]
        );
        // Scaling up is not held back.
        let d = run(&h, 2, &pods(&[90.0, 90.0]), &[], &[], t0());
        assert_eq!(d.scale_to, Some(4));
    }

    #[test]
    fn history_stays_bounded() {
        let h = cpu_hpa(1, 10, 50);
        let mut history = Vec::new();
        for i in 0..200 {
            let d = run(&h, 2, &pods(&[50.0, 50.0]), &history, &[], at(i * 15));
            history = d.history;
        }
        assert!(history.len() <= 22, "{}", history.len());
    }

    #[test]
    fn scale_up_stabilization_window_applies_the_lowest_recent_recommendation() {
        let h = with_behavior(
            1,
            10,
            50,
            json!({"scaleUp": {"stabilizationWindowSeconds": 60}}),
        );
        let high = pods(&[90.0, 90.0]);
        let history = [Recommendation {
            at: at(-30),
            replicas: 2,
        }];
        let d = run(&h, 2, &high, &history, &[], t0());
        assert_eq!(d.scale_to, None);
        assert_eq!(
            condition(&d, "AbleToScale"),
            (
                "True".to_string(),
                "ScaleUpStabilized".to_string(),
                "recent recommendations were lower than current one, applying the lowest recent recommendation".to_string()
            )
        );
        // After the window only the high recommendations remain.
        let d = run(&h, 2, &high, &d.history, &[], at(31));
        assert_eq!(d.scale_to, Some(4));
        // Scale events are kept for HPAs with behavior.
        assert_eq!(
            d.scale_events,
            [ScaleEvent {
                at: at(31),
                change: 2
            }]
        );
    }

    #[test]
    fn behavior_scale_down_window_can_be_zero() {
        let h = with_behavior(
            1,
            10,
            50,
            json!({"scaleDown": {"stabilizationWindowSeconds": 0}}),
        );
        let history = [Recommendation {
            at: at(-10),
            replicas: 4,
        }];
        let d = run(&h, 4, &pods(&[10.0; 4]), &history, &[], t0());
        assert_eq!(d.scale_to, Some(1));
        assert_eq!(
            d.scale_events,
            [ScaleEvent {
                at: t0(),
                change: -3
            }]
        );
        // The default scale-down window is 5 minutes, as without behavior.
        let h = with_behavior(1, 10, 50, json!({"scaleUp": {}}));
        let d = run(&h, 4, &pods(&[10.0; 4]), &history, &[], t0());
        assert_eq!(d.scale_to, None);
        assert_eq!(reason(&d, "AbleToScale"), "ScaleDownStabilized");
    }

    #[test]
    fn pods_policy_limits_scale_up_per_period() {
        let h = with_behavior(
            1,
            10,
            50,
            json!({"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}),
        );
        let d = settled_run(&h, 2, &pods(&[500.0, 500.0]));
        assert_eq!(d.scale_to, Some(3));
        assert_eq!(
            condition(&d, "ScalingLimited"),
            (
                "True".to_string(),
                "ScaleUpLimit".to_string(),
                "the desired replica count is increasing faster than the maximum scale rate"
                    .to_string()
            )
        );
        let events = d.scale_events.clone();
        assert_eq!(
            events,
            [ScaleEvent {
                at: t0(),
                change: 1
            }]
        );
        // Within the period the one pod is used up.
        let d = run(&h, 3, &pods(&[500.0; 3]), &d.history, &events, at(30));
        assert_eq!(d.scale_to, None);
        assert_eq!(reason(&d, "ScalingLimited"), "ScaleUpLimit");
        // After it, one more; the outdated event's slot is reused.
        let d = run(&h, 3, &pods(&[500.0; 3]), &d.history, &events, at(61));
        assert_eq!(d.scale_to, Some(4));
        assert_eq!(
            d.scale_events,
            [ScaleEvent {
                at: at(61),
                change: 1
            }]
        );
    }

    #[test]
    fn select_policy_max_min_and_disabled() {
        let behavior = |select: &str| {
            json!({"scaleUp": {"selectPolicy": select, "policies": [
                {"type": "Pods", "value": 4, "periodSeconds": 60},
                {"type": "Percent", "value": 100, "periodSeconds": 60},
            ]}})
        };
        let busy = pods(&[500.0; 10]);
        let d = settled_run(&with_behavior(1, 100, 50, behavior("Max")), 10, &busy);
        assert_eq!(d.scale_to, Some(20));
        let d = settled_run(&with_behavior(1, 100, 50, behavior("Min")), 10, &busy);
        assert_eq!(d.scale_to, Some(14));
        let d = settled_run(&with_behavior(1, 100, 50, behavior("Disabled")), 10, &busy);
        assert_eq!(d.scale_to, None);
        assert_eq!(
            condition(&d, "ScalingLimited"),
            (
                "True".to_string(),
                "ScaleUpLimit".to_string(),
                "the desired replica count is increasing faster than the maximum scale rate"
                    .to_string()
            )
        );
        // The default scale-up rules: max(4 pods, 100 %) per 15 s.
        let d = settled_run(&with_behavior(1, 100, 50, json!({})), 2, &pods(&[500.0; 2]));
        assert_eq!(d.scale_to, Some(6));
    }

    #[test]
    fn percent_policy_limits_scale_down_per_period() {
        let h = with_behavior(
            1,
            10,
            50,
            json!({"scaleDown": {"stabilizationWindowSeconds": 0,
                "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}]}}),
        );
        let d = settled_run(&h, 10, &pods(&[0.0; 10]));
        assert_eq!(d.scale_to, Some(5));
        assert_eq!(
            condition(&d, "ScalingLimited"),
            (
                "True".to_string(),
                "ScaleDownLimit".to_string(),
                "the desired replica count is decreasing faster than the maximum scale rate"
                    .to_string()
            )
        );
        let events = d.scale_events.clone();
        let d = run(&h, 5, &pods(&[0.0; 5]), &d.history, &events, at(30));
        assert_eq!(d.scale_to, None);
        let d = run(&h, 5, &pods(&[0.0; 5]), &d.history, &events, at(61));
        assert_eq!(d.scale_to, Some(2));

        // selectPolicy Min picks the policy allowing the smallest change.
        let h = with_behavior(
            1,
            10,
            50,
            json!({"scaleDown": {"stabilizationWindowSeconds": 0, "selectPolicy": "Min",
                "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60},
                             {"type": "Pods", "value": 1, "periodSeconds": 60}]}}),
        );
        let d = settled_run(&h, 10, &pods(&[0.0; 10]));
        assert_eq!(d.scale_to, Some(9));
    }

    #[test]
    fn missing_pods_count_as_idle_when_scaling_up() {
        let mut p = pods(&[150.0, 150.0]);
        p.push(pod(2, None));
        p.push(pod(3, None));
        // Ready pods: 150 % (ratio 3). With the missing two at 0: 75 % → 1.5 → ceil(6).
        let d = settled_run(&cpu_hpa(1, 10, 50), 4, &p);
        assert_eq!(d.scale_to, Some(6));
        assert_eq!(cpu_status(&d).average_utilization, Some(150));

        // When assuming 0 % brings the ratio within tolerance, nothing changes.
        let mut p = pods(&[100.0, 100.0]);
        p.push(pod(2, None));
        p.push(pod(3, None));
        let d = settled_run(&cpu_hpa(1, 10, 50), 4, &p);
        assert_eq!(d.scale_to, None);
    }

    #[test]
    fn missing_pods_count_as_fully_used_when_scaling_down() {
        let mut p = pods(&[10.0, 10.0]);
        p.push(pod(2, None));
        p.push(pod(3, None));
        // Ready pods alone would give ceil(0.125 × 2) = 1; with the missing ones at 100 %:
        // 220 / 400 = 55 % → 0.6875 → ceil(2.75) = 3.
        let d = settled_run(&cpu_hpa(1, 10, 80), 4, &p);
        assert_eq!(d.scale_to, Some(3));

        // A target above 100 % makes missing pods count at the target.
        let mut p = pods(&[10.0, 10.0]);
        p.push(pod(2, None));
        p.push(pod(3, None));
        // 20 + 2 × 150 = 320 / 400 = 80 % of a 150 % target → 0.53 → ceil(2.13) = 3.
        let d = settled_run(&cpu_hpa(1, 10, 150), 4, &p);
        assert_eq!(d.scale_to, Some(3));
    }

    #[test]
    fn average_value_targets_use_plain_usage() {
        let h = hpa(spec(
            1,
            10,
            json!([{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "AverageValue", "averageValue": "100m"}}}]),
        ));
        let mut p = pods(&[300.0, 100.0]);
        for pod in &mut p {
            pod.cpu_request_millis = None;
        }
        // Average 200m against 100m: ratio 2 → 4.
        let d = settled_run(&h, 2, &p);
        assert_eq!(d.scale_to, Some(4));
        assert_eq!(
            cpu_status(&d),
            MetricValueStatus {
                average_value: Some(Quantity("200m".to_string())),
                ..MetricValueStatus::default()
            }
        );
        assert_eq!(
            event_message(&d),
            Some("New size: 4; reason: cpu resource above target".to_string())
        );

        // Missing pods count at the target on a scale-down: (3 × 20 + 100) / 4 = 40 → 0.4 →
        // ceil(1.6) = 2 (the ready pods alone would give ceil(0.2 × 3) = 1).
        let mut p = pods(&[20.0, 20.0, 20.0]);
        p.push(pod(3, None));
        let d = settled_run(&h, 4, &p);
        assert_eq!(d.scale_to, Some(2));
    }

    #[test]
    fn unready_pods_count_as_idle_when_scaling_up() {
        let starting = |usage: f64| PodMetric {
            name: "web-new".to_string(),
            cpu_request_millis: Some(100),
            cpu_usage_millis: Some(usage),
            ready: false,
            started_recently: true,
        };
        let h = cpu_hpa(1, 10, 50);
        // Ready pods at 60 % (ratio 1.2) would ask for 3; with the starting pod at 0 % the
        // average is 40 %: the direction reverses, so nothing changes.
        let mut p = pods(&[60.0, 60.0]);
        p.push(starting(500.0));
        let d = settled_run(&h, 3, &p);
        assert_eq!(d.scale_to, None);
        assert_eq!(cpu_status(&d).average_utilization, Some(60));

        // Scaling down, unready pods are left out: 10 % → ceil(0.2 × 2) = 1.
        let mut p = pods(&[10.0, 10.0]);
        p.push(starting(500.0));
        let d = settled_run(&h, 3, &p);
        assert_eq!(d.scale_to, Some(1));

        // A pod that stopped being ready later in its life still counts.
        let mut p = pods(&[60.0, 60.0]);
        p.push(PodMetric {
            ready: false,
            ..pod(2, Some(60.0))
        });
        let d = settled_run(&h, 3, &p);
        assert_eq!(d.scale_to, Some(4));

        // Only unready pods have samples.
        let d = settled_run(&h, 1, &[starting(50.0)]);
        assert_eq!(d.scale_to, None);
        assert_eq!(
            condition(&d, "ScalingActive").2,
            "the HPA was unable to compute the replica count: failed to get cpu utilization: did not receive metrics for targeted pods (pods might be unready)"
        );
    }

    #[test]
    fn no_samples_keep_replicas_and_report_failed_get_resource_metric() {
        let mut h = cpu_hpa(1, 10, 50);
        h.status = Some(HorizontalPodAutoscalerStatus {
            desired_replicas: 3,
            ..HorizontalPodAutoscalerStatus::default()
        });
        let p = vec![pod(0, None), pod(1, None)];
        let d = run(&h, 2, &p, &[], &[], t0());
        let cause = "failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API";
        assert_eq!(d.scale_to, None);
        assert_eq!(d.desired_replicas, 2);
        assert_eq!(d.status.current_replicas, Some(2));
        assert_eq!(d.status.desired_replicas, 3);
        assert_eq!(
            d.status.current_metrics,
            Some(vec![MetricStatus::default()])
        );
        assert_eq!(
            condition(&d, "ScalingActive"),
            (
                "False".to_string(),
                "FailedGetResourceMetric".to_string(),
                format!("the HPA was unable to compute the replica count: {cause}")
            )
        );
        assert_eq!(reason(&d, "AbleToScale"), "SucceededGetScale");
        assert_eq!(
            d.warnings,
            [
                ("FailedGetResourceMetric".to_string(), cause.to_string()),
                (
                    "FailedComputeMetricsReplicas".to_string(),
                    format!(
                        "invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric value: {cause}"
                    )
                ),
            ]
        );
        assert_eq!(
            d.history,
            [Recommendation {
                at: t0(),
                replicas: 2
            }]
        );
        // No pods at all: the same.
        let d = run(&h, 2, &[], &[], &[], t0());
        assert_eq!(d.scale_to, None);
        assert_eq!(reason(&d, "ScalingActive"), "FailedGetResourceMetric");
    }

    #[test]
    fn utilization_needs_cpu_requests() {
        let mut p = pods(&[50.0, 50.0]);
        p[1].cpu_request_millis = None;
        let d = settled_run(&cpu_hpa(1, 10, 50), 2, &p);
        assert_eq!(d.scale_to, None);
        assert_eq!(
            condition(&d, "ScalingActive").2,
            "the HPA was unable to compute the replica count: failed to get cpu utilization: missing request for cpu in Pod web-1"
        );
    }

    #[test]
    fn hpa_without_metrics_targets_80_percent_cpu() {
        let mut s = spec(1, 10, json!(null));
        if let Some(o) = s.as_object_mut() {
            o.remove("metrics");
        }
        // 100 % against 80 %: ratio 1.25 → ceil(2.5) = 3.
        let d = settled_run(&hpa(s), 2, &pods(&[100.0, 100.0]));
        assert_eq!(d.scale_to, Some(3));
    }

    #[test]
    fn unavailable_metrics_do_not_block_scale_up_but_block_scale_down() {
        let mut metrics = cpu_utilization(50);
        if let Some(list) = metrics.as_array_mut() {
            list.push(json!({"type": "Pods", "pods": {"metric": {"name": "rps"},
                "target": {"type": "AverageValue", "averageValue": "10"}}}));
        }
        let h = hpa(spec(1, 10, metrics));
        let cause = "unable to get metric rps: unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered";

        let d = settled_run(&h, 2, &pods(&[90.0, 90.0]));
        assert_eq!(d.scale_to, Some(4));
        assert_eq!(reason(&d, "ScalingActive"), "ValidMetricFound");
        assert_eq!(
            d.warnings,
            [("FailedGetPodsMetric".to_string(), cause.to_string())]
        );
        assert_eq!(d.status.current_metrics.as_ref().map(Vec::len), Some(2));

        let d = settled_run(&h, 4, &pods(&[10.0; 4]));
        assert_eq!(d.scale_to, None);
        assert_eq!(
            condition(&d, "ScalingActive"),
            (
                "False".to_string(),
                "FailedGetPodsMetric".to_string(),
                format!("the HPA was unable to compute the replica count: {cause}")
            )
        );
        assert_eq!(
            d.warnings.last(),
            Some(&(
                "FailedComputeMetricsReplicas".to_string(),
                format!(
                    "invalid metrics (1 invalid out of 2), first error is: failed to get pods metric value: {cause}"
                )
            ))
        );

        // Other resources have no samples in this cluster.
        let h = hpa(spec(
            1,
            10,
            json!([{"type": "Resource", "resource": {"name": "memory",
                "target": {"type": "Utilization", "averageUtilization": 50}}}]),
        ));
        let d = settled_run(&h, 2, &pods(&[90.0, 90.0]));
        assert_eq!(d.scale_to, None);
        assert_eq!(
            condition(&d, "ScalingActive").2,
            "the HPA was unable to compute the replica count: failed to get memory utilization: unable to get metrics for resource memory: no metrics returned from resource metrics API"
        );
    }

    #[test]
    fn conditions_keep_their_transition_time_while_the_status_holds() {
        let earlier = to_time(at(-600));
        let mut h = cpu_hpa(1, 10, 50);
        h.status = Some(HorizontalPodAutoscalerStatus {
            current_replicas: Some(2),
            desired_replicas: 2,
            last_scale_time: Some(earlier.clone()),
            conditions: Some(vec![
                HorizontalPodAutoscalerCondition {
                    type_: "AbleToScale".to_string(),
                    status: "True".to_string(),
                    reason: Some("ReadyForNewScale".to_string()),
                    message: Some("recommended size matches current size".to_string()),
                    last_transition_time: Some(earlier.clone()),
                },
                HorizontalPodAutoscalerCondition {
                    type_: "ScalingActive".to_string(),
                    status: "False".to_string(),
                    reason: Some("FailedGetResourceMetric".to_string()),
                    message: Some("...".to_string()),
                    last_transition_time: Some(earlier.clone()),
                },
            ]),
            ..HorizontalPodAutoscalerStatus::default()
        });
        let d = settled_run(&h, 2, &pods(&[50.0, 50.0]));
        let conditions = d.status.conditions.as_ref().expect("conditions");
        assert_eq!(conditions[0].last_transition_time, Some(earlier.clone()));
        assert_eq!(conditions[1].status, "True");
        assert_eq!(conditions[1].last_transition_time, Some(to_time(t0())));
        assert_eq!(conditions[2].type_, "ScalingLimited");
        assert_eq!(d.status.last_scale_time, Some(earlier));
    }

    #[test]
    fn usage_is_rounded_up_to_whole_millicores() {
        assert_eq!(usage_millis(0.0), 0);
        assert_eq!(usage_millis(-3.0), 0);
        assert_eq!(usage_millis(f64::NAN), 0);
        assert_eq!(usage_millis(0.2), 1);
        assert_eq!(usage_millis(100.000_000_000_01), 100);
        assert_eq!(usage_millis(100.4), 101);
    }
}
