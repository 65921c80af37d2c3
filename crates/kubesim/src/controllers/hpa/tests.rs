use super::convert::milli_quantity;
use super::metrics::usage_millis;
use super::*;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::autoscaling::v2::{
    HorizontalPodAutoscaler, HorizontalPodAutoscalerCondition, HorizontalPodAutoscalerStatus,
    MetricStatus, MetricValueStatus,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube_util::time::to_time;
use serde_json::{Value, json};

fn t0() -> Timestamp {
    "2025-01-01T12:00:00Z"
        .parse::<Timestamp>()
        .expect("valid time")
}

fn at(seconds: i64) -> Timestamp {
    t0() + SignedDuration::from_secs(seconds)
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
    now: Timestamp,
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
        Some("New size: 10; reason: Current number of replicas above Spec.MaxReplicas".to_string())
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
        Some("New size: 3; reason: Current number of replicas below Spec.MinReplicas".to_string())
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
