//! `metav1.LabelSelector`: the checks, whether it converts to a `labels.Selector`, and
//! whether it selects a label set.

use kube_util::names;
use kube_util::selector::LabelSelector;
use serde_json::Value;

use super::access::{child, gmap, index};
use super::errors::{Errs, bs};
use super::go_format::scalar_text;
use super::meta::validate_labels;
use crate::json::{arr_at, at, len_at, str_or_empty};

pub(super) fn validate_label_selector(e: &mut Errs, sel: &Value, path: &str) {
    validate_labels(e, at(sel, &["matchLabels"]), &child(path, "matchLabels"));
    let exprs_path = child(path, "matchExpressions");
    for (i, r) in arr_at(sel, &["matchExpressions"]).iter().enumerate() {
        let rp = index(&exprs_path, i);
        let op = str_or_empty(r, &["operator"]);
        let values = arr_at(r, &["values"]);
        match op {
            "In" | "NotIn" => {
                if values.is_empty() {
                    e.required(
                        &child(&rp, "values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    );
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    e.forbidden(
                        &child(&rp, "values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    );
                }
            }
            _ => e.invalid(
                &child(&rp, "operator"),
                bs(op),
                "not a valid selector operator",
            ),
        }
        let k = str_or_empty(r, &["key"]);
        for msg in names::is_qualified_name(k) {
            e.invalid(&child(&rp, "key"), bs(k), &msg);
        }
        for (vi, v) in values.iter().enumerate() {
            let s = scalar_text(v);
            for msg in names::is_valid_label_value(&s) {
                e.invalid(&index(&child(&rp, "values"), vi), bs(&s), &msg);
            }
        }
    }
}

/// `len(matchLabels) + len(matchExpressions) == 0` (selects everything).
pub(super) fn selector_is_empty(sel: &Value) -> bool {
    len_at(sel, &["matchLabels"]) + len_at(sel, &["matchExpressions"]) == 0
}

/// Whether `metav1.LabelSelectorAsSelector` accepts the selector.
pub(super) fn selector_convertible(sel: &Value) -> bool {
    if selector_is_empty(sel) {
        return true;
    }
    let labels_ok = gmap(sel, "matchLabels").is_none_or(|m| {
        m.iter().all(|(k, v)| {
            names::is_qualified_name(k).is_empty()
                && v.as_str()
                    .is_some_and(|s| names::is_valid_label_value(s).is_empty())
        })
    });
    let exprs_ok = arr_at(sel, &["matchExpressions"]).iter().all(|r| {
        let n = arr_at(r, &["values"]).len();
        let op_ok = match str_or_empty(r, &["operator"]) {
            "In" | "NotIn" => n > 0,
            "Exists" | "DoesNotExist" => n == 0,
            _ => false,
        };
        op_ok
            && names::is_qualified_name(str_or_empty(r, &["key"])).is_empty()
            && arr_at(r, &["values"]).iter().all(|v| {
                v.as_str()
                    .is_some_and(|s| names::is_valid_label_value(s).is_empty())
            })
    });
    labels_ok && exprs_ok
}

/// Whether a (convertible) selector selects a label set.
pub fn selector_matches(sel: &Value, labels: &Value) -> bool {
    LabelSelector::from_object(sel).is_ok_and(|s| s.matches(labels.as_object()))
}
