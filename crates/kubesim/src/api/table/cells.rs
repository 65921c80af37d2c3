//! Cells every printer shares: name, age, labels, containers.

use jiff::Timestamp;
use kube_util::time;
use serde_json::{Value, json};

use super::human_duration;
use crate::json::{str_at, str_or_empty};

pub(super) fn name_cell(obj: &Value) -> Value {
    json!(str_or_empty(obj, &["metadata", "name"]))
}

/// Parses a `metav1.Time` / `metav1.MicroTime`; `None` for absent, zero or invalid values.
pub(super) fn parse_time(s: &str) -> Option<Timestamp> {
    let t = time::parse(s)?;
    // Go's zero time (0001-01-01T00:00:00Z) prints as <unknown> too.
    if time::whole_seconds(t).as_second() == GO_ZERO_TIME_UNIX {
        return None;
    }
    Some(t)
}

/// Unix seconds of Go's zero `time.Time`.
const GO_ZERO_TIME_UNIX: i64 = -62_135_596_800;

pub(super) fn time_at(v: &Value, path: &[&str]) -> Option<Timestamp> {
    str_at(v, path).and_then(parse_time)
}

/// `translateTimestampSince`.
pub(super) fn age_since(t: Option<Timestamp>, now: Timestamp) -> String {
    match t {
        Some(t) => human_duration(now.duration_since(t)),
        None => "<unknown>".to_string(),
    }
}

pub(super) fn age(obj: &Value, now: Timestamp) -> Value {
    json!(age_since(
        time_at(obj, &["metadata", "creationTimestamp"]),
        now
    ))
}

/// `labels.FormatLabels`: sorted `k=v` pairs, `<none>` when empty.
pub(super) fn format_labels(map: Option<&Value>) -> String {
    let mut pairs: Vec<String> = match map {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect(),
        _ => Vec::new(),
    };
    pairs.sort();
    if pairs.is_empty() {
        "<none>".to_string()
    } else {
        pairs.join(",")
    }
}

/// `layoutContainerCells`: comma-joined container names and images.
pub(super) fn container_cells(containers: &[Value]) -> (String, String) {
    let names: Vec<&str> = containers
        .iter()
        .map(|c| str_or_empty(c, &["name"]))
        .collect();
    let images: Vec<&str> = containers
        .iter()
        .map(|c| str_or_empty(c, &["image"]))
        .collect();
    (names.join(","), images.join(","))
}
