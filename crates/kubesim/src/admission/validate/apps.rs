//! apps/v1: Deployment, ReplicaSet and StatefulSet.

use kube_util::names;
use serde_json::Value;

use super::access::{NULL, child, gi, sem_eq};
use super::errors::{Bad, Errs, bs};
use super::go_format::{go_int_or_string, go_label_selector, go_ptr, go_quote, go_string_map};
use super::meta::{validate_annotations, validate_labels};
use super::pod_spec::validate_pod_template;
use super::selector::{
    selector_convertible, selector_is_empty, selector_matches, validate_label_selector,
};
use super::{IMMUTABLE, NEGATIVE};
use crate::json::{at, str_or_empty};

/// Selector checks shared by Deployment, ReplicaSet and StatefulSet. Answers whether the
/// selector converts (so the template can be checked against it).
fn validate_workload_selector(
    e: &mut Errs,
    spec: &Value,
    what: &str,
    invalid_detail: &str,
) -> bool {
    let sel = at(spec, &["selector"]);
    match sel {
        None => e.required("spec.selector", ""),
        Some(s) => {
            validate_label_selector(e, s, "spec.selector");
            if selector_is_empty(s) {
                e.invalid(
                    "spec.selector",
                    Bad::Raw(go_label_selector(s)),
                    &format!("empty selector is invalid for {what}"),
                );
            }
        }
    }
    match sel {
        Some(s) if !selector_convertible(s) => {
            e.invalid(
                "spec.selector",
                Bad::Raw(go_label_selector(s)),
                invalid_detail,
            );
            false
        }
        _ => true,
    }
}

/// The template labels must be selected by the selector (a nil selector selects nothing;
/// an empty one everything).
fn check_template_labels(e: &mut Errs, spec: &Value) {
    let sel = at(spec, &["selector"]);
    let labels = at(spec, &["template", "metadata", "labels"]);
    let must_match = sel.is_none_or(|s| !selector_is_empty(s));
    let matches = sel.is_some_and(|s| selector_matches(s, labels.unwrap_or(&NULL)));
    if must_match && !matches {
        e.invalid(
            "spec.template.metadata.labels",
            Bad::Raw(go_string_map(labels)),
            "`selector` does not match template `labels`",
        );
    }
}

/// What a controller that keeps its pods running demands of their template: restartPolicy
/// `Always` and no activeDeadlineSeconds.
fn check_long_running_template(e: &mut Errs, tspec: &Value, kind: &str) {
    let rp = str_or_empty(tspec, &["restartPolicy"]);
    if rp != "Always" {
        e.not_supported("spec.template.spec.restartPolicy", bs(rp), &["Always"]);
    }
    if at(tspec, &["activeDeadlineSeconds"]).is_some() {
        e.forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            &format!("activeDeadlineSeconds in {kind} is not Supported"),
        );
    }
}

/// `ValidatePodTemplateSpecForReplicaSet`.
fn validate_template_for_replica_set(e: &mut Errs, spec: &Value) {
    check_template_labels(e, spec);
    let tmpl = &spec["template"];
    validate_pod_template(e, tmpl, "spec.template");
    check_long_running_template(e, &tmpl["spec"], "ReplicaSet");
}

/// `getIntOrPercentValue`.
fn int_or_percent_value(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::String(s)) => {
            let digits = s.strip_suffix('%').unwrap_or(s);
            digits.parse().unwrap_or(0)
        }
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

fn validate_positive_int_or_percent(e: &mut Errs, v: Option<&Value>, path: &str) {
    match v {
        Some(Value::String(s)) => {
            for msg in names::is_valid_percent(s) {
                e.invalid(path, Bad::Raw(go_int_or_string(v)), &msg);
            }
        }
        Some(Value::Number(n)) => {
            let n = n.as_i64().unwrap_or(0);
            if n < 0 {
                e.invalid(path, Bad::Int(n), NEGATIVE);
            }
        }
        _ => {}
    }
}

fn validate_not_more_than_100_percent(e: &mut Errs, v: Option<&Value>, path: &str) {
    if let Some(Value::String(s)) = v
        && names::is_valid_percent(s).is_empty()
        && int_or_percent_value(v) > 100
    {
        e.invalid(
            path,
            Bad::Raw(go_int_or_string(v)),
            "must not be greater than 100%",
        );
    }
}

fn validate_deployment_strategy(e: &mut Errs, spec: &Value) {
    let st = &spec["strategy"];
    let ru = at(st, &["rollingUpdate"]);
    match str_or_empty(st, &["type"]) {
        "Recreate" => {
            if ru.is_some() {
                e.forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                );
            }
        }
        "RollingUpdate" => match ru {
            None => e.required(
                "spec.strategy.rollingUpdate",
                "this should be defaulted and never be nil",
            ),
            Some(ru) => {
                let p = "spec.strategy.rollingUpdate";
                let mu = at(ru, &["maxUnavailable"]);
                let ms = at(ru, &["maxSurge"]);
                validate_positive_int_or_percent(e, mu, &child(p, "maxUnavailable"));
                validate_positive_int_or_percent(e, ms, &child(p, "maxSurge"));
                if int_or_percent_value(mu) == 0 && int_or_percent_value(ms) == 0 {
                    e.invalid(
                        &child(p, "maxUnavailable"),
                        Bad::Raw(go_int_or_string(mu)),
                        "may not be 0 when `maxSurge` is 0",
                    );
                }
                validate_not_more_than_100_percent(e, mu, &child(p, "maxUnavailable"));
            }
        },
        other => e.not_supported(
            "spec.strategy",
            Bad::Raw(format!(
                "apps.DeploymentStrategy{{Type:{}, RollingUpdate:{}}}",
                go_quote(other),
                go_ptr("apps.RollingUpdateDeployment", ru)
            )),
            &["Recreate", "RollingUpdate"],
        ),
    }
}

fn selector_immutable(e: &mut Errs, obj: &Value, old: &Value) {
    let sel = at(&obj["spec"], &["selector"]);
    let old_sel = at(&old["spec"], &["selector"]);
    if !sem_eq(sel, old_sel) {
        let v = sel.map_or_else(|| bs("null"), |s| Bad::Raw(go_label_selector(s)));
        e.invalid("spec.selector", v, IMMUTABLE);
    }
}

pub(super) fn validate_deployment(e: &mut Errs, obj: &Value, old: Option<&Value>) {
    let spec = &obj["spec"];
    e.nonneg(spec, "replicas", "spec.replicas");
    if validate_workload_selector(e, spec, "deployment", "invalid label selector") {
        validate_template_for_replica_set(e, spec);
    }
    validate_deployment_strategy(e, spec);
    e.nonneg(spec, "minReadySeconds", "spec.minReadySeconds");
    e.nonneg(spec, "revisionHistoryLimit", "spec.revisionHistoryLimit");
    if let Some(pds) = gi(spec, "progressDeadlineSeconds") {
        if pds < 0 {
            e.invalid("spec.progressDeadlineSeconds", Bad::Int(pds), NEGATIVE);
        }
        if pds <= gi(spec, "minReadySeconds").unwrap_or(0) {
            e.invalid(
                "spec.progressDeadlineSeconds",
                Bad::Int(pds),
                "must be greater than minReadySeconds",
            );
        }
    }
    if let Some(old) = old {
        selector_immutable(e, obj, old);
    }
}

pub(super) fn validate_replica_set(e: &mut Errs, obj: &Value, old: Option<&Value>) {
    let spec = &obj["spec"];
    e.nonneg(spec, "replicas", "spec.replicas");
    e.nonneg(spec, "minReadySeconds", "spec.minReadySeconds");
    if validate_workload_selector(e, spec, "deployment", "invalid label selector") {
        validate_template_for_replica_set(e, spec);
    }
    if let Some(old) = old {
        selector_immutable(e, obj, old);
    }
}

pub(super) const STS_UPDATE_MSG: &str = "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden";

pub(super) fn validate_stateful_set(e: &mut Errs, obj: &Value, old: Option<&Value>) {
    let spec = &obj["spec"];
    let pmp = str_or_empty(spec, &["podManagementPolicy"]);
    match pmp {
        "" => e.required("spec.podManagementPolicy", ""),
        "OrderedReady" | "Parallel" => {}
        _ => e.invalid(
            "spec.podManagementPolicy",
            bs(pmp),
            "must be 'OrderedReady' or 'Parallel'",
        ),
    }
    let us = &spec["updateStrategy"];
    let ru = at(us, &["rollingUpdate"]);
    let go_ru = |ru: &Value| {
        format!(
            "apps.RollingUpdateStatefulSetStrategy{{Partition:{}, MaxUnavailable:{}}}",
            gi(ru, "partition").unwrap_or(0),
            go_ptr("intstr.IntOrString", at(ru, &["maxUnavailable"]))
        )
    };
    match str_or_empty(us, &["type"]) {
        "" => e.required("spec.updateStrategy", ""),
        "OnDelete" => {
            if let Some(ru) = ru {
                e.invalid(
                    "spec.updateStrategy.rollingUpdate",
                    Bad::Raw(go_ru(ru)),
                    "only allowed for updateStrategy 'RollingUpdate'",
                );
            }
        }
        "RollingUpdate" => {
            if let Some(ru) = ru {
                let p = "spec.updateStrategy.rollingUpdate";
                e.nonneg(ru, "partition", &child(p, "partition"));
                let mu = at(ru, &["maxUnavailable"]);
                if mu.is_some() {
                    let mp = child(p, "maxUnavailable");
                    validate_positive_int_or_percent(e, mu, &mp);
                    if int_or_percent_value(mu) == 0 {
                        e.invalid(&mp, Bad::Raw(go_int_or_string(mu)), "cannot be 0");
                    }
                    validate_not_more_than_100_percent(e, mu, &mp);
                }
            }
        }
        other => e.invalid(
            "spec.updateStrategy",
            Bad::Raw(format!(
                "apps.StatefulSetUpdateStrategy{{Type:{}, RollingUpdate:{}}}",
                go_quote(other),
                go_ptr("apps.RollingUpdateStatefulSetStrategy", ru)
            )),
            "must be 'RollingUpdate' or 'OnDelete'",
        ),
    }
    e.nonneg(spec, "revisionHistoryLimit", "spec.revisionHistoryLimit");
    if let Some(p) = at(spec, &["persistentVolumeClaimRetentionPolicy"]) {
        for f in ["whenDeleted", "whenScaled"] {
            let v = str_or_empty(p, &[f]);
            if v != "Retain" && v != "Delete" {
                e.not_supported(
                    &format!("spec.persistentVolumeClaimRetentionPolicy.{f}"),
                    bs(v),
                    &["Retain", "Delete"],
                );
            }
        }
    }
    e.nonneg(spec, "replicas", "spec.replicas");
    e.nonneg(spec, "minReadySeconds", "spec.minReadySeconds");
    if let Some(o) = at(spec, &["ordinals"]) {
        e.nonneg(o, "start", "spec.ordinals.start");
    }
    if validate_workload_selector(e, spec, "statefulset", "") {
        // ValidatePodTemplateSpecForStatefulSet: labels and annotations only (upstream does
        // not validate the pod spec of a StatefulSet template).
        check_template_labels(e, spec);
        let meta = &spec["template"]["metadata"];
        validate_labels(e, at(meta, &["labels"]), "spec.template.labels");
        validate_annotations(e, at(meta, &["annotations"]), "spec.template.annotations");
    }
    check_long_running_template(e, &spec["template"]["spec"], "StatefulSet");
    if let Some(old) = old {
        let old_spec = &old["spec"];
        let strip = |s: &Value| {
            let mut s = s.clone();
            if let Some(m) = s.as_object_mut() {
                for f in [
                    "replicas",
                    "ordinals",
                    "template",
                    "updateStrategy",
                    "revisionHistoryLimit",
                    "persistentVolumeClaimRetentionPolicy",
                    "minReadySeconds",
                ] {
                    m.remove(f);
                }
            }
            s
        };
        if !sem_eq(Some(&strip(spec)), Some(&strip(old_spec))) {
            e.forbidden("spec", STS_UPDATE_MSG);
        }
    }
}
