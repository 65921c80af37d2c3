//! Label selectors as `metav1.FormatLabelSelector` prints them.

use kube_util::names;
use serde_json::Value;

use crate::json::{arr_at, str_or_empty};

/// Why a label selector cannot be turned into a `labels.Selector`.
#[derive(Debug)]
pub(super) struct InvalidSelector;

/// Whether `labels.NewRequirement` accepts the key and values.
fn valid_requirement(key: &str, values: &[&str]) -> bool {
    names::is_qualified_name(key).is_empty()
        && values
            .iter()
            .all(|v| names::is_valid_label_value(v).is_empty())
}

/// One `labels.Requirement`, already rendered.
struct Requirement {
    key: String,
    text: String,
}

/// `metav1.LabelSelectorAsSelector(sel).String()`: `Ok("")` for a nil or empty selector.
pub(super) fn selector_string(sel: Option<&Value>) -> Result<String, InvalidSelector> {
    let Some(sel) = sel else {
        return Ok(String::new());
    };
    let mut reqs: Vec<Requirement> = Vec::new();
    if let Some(Value::Object(labels)) = sel.get("matchLabels") {
        for (k, v) in labels {
            let v = v.as_str().unwrap_or("");
            if !valid_requirement(k, &[v]) {
                return Err(InvalidSelector);
            }
            reqs.push(Requirement {
                key: k.clone(),
                text: format!("{k}={v}"),
            });
        }
    }
    for expr in arr_at(sel, &["matchExpressions"]) {
        let key = str_or_empty(expr, &["key"]);
        let mut values: Vec<&str> = arr_at(expr, &["values"])
            .iter()
            .map(|v| v.as_str().unwrap_or(""))
            .collect();
        if !valid_requirement(key, &values) {
            return Err(InvalidSelector);
        }
        let text = match str_or_empty(expr, &["operator"]) {
            op @ ("In" | "NotIn") => {
                if values.is_empty() {
                    return Err(InvalidSelector);
                }
                values.sort_unstable();
                let word = if op == "In" { "in" } else { "notin" };
                format!("{key} {word} ({})", values.join(","))
            }
            "Exists" if values.is_empty() => key.to_string(),
            "DoesNotExist" if values.is_empty() => format!("!{key}"),
            _ => return Err(InvalidSelector),
        };
        reqs.push(Requirement {
            key: key.to_string(),
            text,
        });
    }
    reqs.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(reqs
        .iter()
        .map(|r| r.text.as_str())
        .collect::<Vec<_>>()
        .join(","))
}

/// `metav1.FormatLabelSelector`: `<none>` when empty, `<error>` when invalid.
pub(super) fn format_label_selector(sel: Option<&Value>) -> String {
    match selector_string(sel) {
        Ok(s) if s.is_empty() => "<none>".to_string(),
        Ok(s) => s,
        Err(InvalidSelector) => "<error>".to_string(),
    }
}
