//! Replica proposals from metrics (`replica_calculator.go`): resource utilization and
//! value targets over the ready pods, with missing and unready pods assumed at the
//! rebalancing extremes; the metric kinds this cluster has no API for fail as Kubernetes
//! reports them.

use k8s_openapi::api::autoscaling::v2::{
    HPAScalingRules, HorizontalPodAutoscalerSpec, MetricSpec, MetricStatus, MetricTarget,
    MetricValueStatus, ResourceMetricSource, ResourceMetricStatus,
};

use super::conditions::{Conditions, SCALING_ACTIVE};
use super::convert::{ceil_i32, clamp_i32, clamp_i64, milli_quantity, quantity_f64};
use super::{DEFAULT_CPU_UTILIZATION, PodMetric, TOLERANCE, parse_cpu_millis};

const NO_RESOURCE_METRICS: &str = "no metrics returned from resource metrics API";
const INVALID_RESOURCE_TARGET: &str = "invalid resource metric source: neither an average utilization target nor an average value (usage) target was set";
const NO_CUSTOM_METRICS: &str = "unable to fetch metrics from custom metrics API: no custom metrics API (custom.metrics.k8s.io) registered";
const NO_EXTERNAL_METRICS: &str = "unable to fetch metrics from external metrics API: no external metrics API (external.metrics.k8s.io) registered";

pub(super) fn default_metrics() -> Vec<MetricSpec> {
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
pub(super) struct Tolerances {
    down: f64,
    up: f64,
}

impl Tolerances {
    fn is_within(self, usage_ratio: f64) -> bool {
        (1.0 - self.down) <= usage_ratio && usage_ratio <= (1.0 + self.up)
    }
}

pub(super) fn tolerances(spec: &HorizontalPodAutoscalerSpec) -> Tolerances {
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

pub(super) struct MetricContext<'a> {
    pub(super) current: i32,
    pub(super) pods: &'a [PodMetric],
    pub(super) tolerances: Tolerances,
    pub(super) namespace: &'a str,
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

pub(super) struct MetricsOutcome {
    pub(super) replicas: i32,
    pub(super) metric: String,
    pub(super) statuses: Vec<MetricStatus>,
}

/// computeReplicasForMetrics: the largest proposal over all metrics. Fails (with the statuses
/// and the error for "FailedComputeMetricsReplicas") when every metric failed, or when some
/// failed and the others would scale down.
pub(super) fn compute_replicas_for_metrics(
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
pub(super) fn usage_millis(usage: f64) -> i64 {
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
