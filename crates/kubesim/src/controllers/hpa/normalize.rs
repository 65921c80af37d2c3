//! Normalization of a proposal: the scale-down stabilization window, the behaviour's
//! rate-limiting policies (or the defaults without one), and min/max replicas.

use jiff::Timestamp;
use k8s_openapi::api::autoscaling::v2::{HPAScalingRules, HorizontalPodAutoscalerBehavior};

use super::conditions::{ABLE_TO_SCALE, Conditions, SCALING_LIMITED};
use super::convert::{clamp_i32, seconds_before};
use super::{DOWNSCALE_STABILIZATION_WINDOW, Recommendation, ScaleEvent};

pub(super) struct Limits {
    pub(super) current: i32,
    pub(super) min: i32,
    pub(super) max: i32,
    pub(super) now: Timestamp,
}

/// normalizeDesiredReplicas (no `behavior`): scale-down stabilization over the default window,
/// then min/max and the legacy scale-up limit.
pub(super) fn normalize(
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
pub(super) fn normalize_with_behaviors(
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
    now: Timestamp,
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
    fn scale_up_limit(&self, current: i32, events: &[ScaleEvent], now: Timestamp) -> i64 {
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
    fn scale_down_limit(&self, current: i32, events: &[ScaleEvent], now: Timestamp) -> i64 {
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
fn replicas_changed(events: &[ScaleEvent], up: bool, period: i64, now: Timestamp) -> i64 {
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
pub(super) fn store_scale_event(
    events: &mut Vec<ScaleEvent>,
    behavior: Option<&HorizontalPodAutoscalerBehavior>,
    previous: i32,
    new: i32,
    now: Timestamp,
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
