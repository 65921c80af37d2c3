//! Pod: the spec, and the few fields an update may change.

use kube_util::names;
use serde_json::Value;

use super::MAX_INT32;
use super::access::{child, gi, index, sem_eq};
use super::errors::{Bad, Errs, bs};
use super::pod_spec::validate_pod_spec;
use crate::json::{arr_at, str_or_empty};

pub(super) const POD_UPDATE_MSG: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

pub(super) fn validate_pod(e: &mut Errs, obj: &Value, old: Option<&Value>) {
    let spec = &obj["spec"];
    validate_pod_spec(e, spec, "spec");
    if let Some(old) = old {
        validate_pod_update(e, spec, &old["spec"]);
    }
}

fn validate_container_updates(e: &mut Errs, new: &[Value], old: &[Value], path: &str) -> bool {
    if new.len() != old.len() {
        e.forbidden(path, "pod updates may not add or remove containers");
        return true;
    }
    for (i, c) in new.iter().enumerate() {
        let image = str_or_empty(c, &["image"]);
        if image.is_empty() {
            e.required(&child(&index(path, i), "image"), "");
        }
        if image.trim() != image {
            e.invalid(
                &child(&index(path, i), "image"),
                bs(image),
                "must not have leading or trailing whitespace",
            );
        }
    }
    false
}

fn validate_pod_update(e: &mut Errs, spec: &Value, old_spec: &Value) {
    if validate_container_updates(
        e,
        arr_at(spec, &["containers"]),
        arr_at(old_spec, &["containers"]),
        "spec.containers",
    ) {
        return;
    }
    if validate_container_updates(
        e,
        arr_at(spec, &["initContainers"]),
        arr_at(old_spec, &["initContainers"]),
        "spec.initContainers",
    ) {
        return;
    }
    let ads_path = "spec.activeDeadlineSeconds";
    match (
        gi(spec, "activeDeadlineSeconds"),
        gi(old_spec, "activeDeadlineSeconds"),
    ) {
        (Some(n), old) => {
            if !(0..=MAX_INT32).contains(&n) {
                e.invalid(
                    ads_path,
                    Bad::Int(n),
                    &names::inclusive_range_error(0, MAX_INT32),
                );
                return;
            }
            if old.is_some_and(|o| o < n) {
                e.invalid(
                    ads_path,
                    Bad::Int(n),
                    "must be less than or equal to previous value",
                );
                return;
            }
        }
        (None, Some(_)) => e.invalid(
            ads_path,
            bs("null"),
            "must not update from a positive integer to nil value",
        ),
        (None, None) => {}
    }
    // Tolerations: only additions (and tolerationSeconds changes).
    let new_tols = arr_at(spec, &["tolerations"]);
    let strip = |t: &Value| {
        let mut t = t.clone();
        if let Some(m) = t.as_object_mut() {
            m.remove("tolerationSeconds");
        }
        t
    };
    for old_t in arr_at(old_spec, &["tolerations"]) {
        let found = new_tols
            .iter()
            .any(|n| sem_eq(Some(&strip(n)), Some(&strip(old_t))));
        if !found {
            e.forbidden(
                "spec.tolerations",
                "existing toleration can not be modified except its tolerationSeconds",
            );
            break;
        }
    }
    if sem_eq(Some(spec), Some(old_spec)) {
        return;
    }
    // Munge the updatable fields from the old spec, then compare.
    let mut munged = spec.clone();
    if let Some(m) = munged.as_object_mut() {
        for list in ["containers", "initContainers"] {
            let old_list = arr_at(old_spec, &[list]);
            if let Some(items) = m.get_mut(list).and_then(Value::as_array_mut) {
                for (i, c) in items.iter_mut().enumerate() {
                    if let (Some(c), Some(old_c)) = (c.as_object_mut(), old_list.get(i)) {
                        c.insert("image".into(), old_c["image"].clone());
                    }
                }
            }
        }
        for f in ["activeDeadlineSeconds", "tolerations", "schedulingGates"] {
            match old_spec.get(f) {
                Some(v) => {
                    m.insert(f.into(), v.clone());
                }
                None => {
                    m.remove(f);
                }
            }
        }
        let old_tgps = gi(old_spec, "terminationGracePeriodSeconds");
        if old_tgps.is_some_and(|t| t < 0)
            && gi(spec, "terminationGracePeriodSeconds") == Some(1)
            && let Some(v) = old_spec.get("terminationGracePeriodSeconds")
        {
            m.insert("terminationGracePeriodSeconds".into(), v.clone());
        }
    }
    if !sem_eq(Some(&munged), Some(old_spec)) {
        e.forbidden("spec", POD_UPDATE_MSG);
    }
}
