//! Server-side `Table` output (`meta.k8s.io/v1`), the format `kubectl get` asks for with
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io,...`.
//!
//! The columns and cells follow the Kubernetes API server's printers: the built-in kinds get
//! the columns of the internal printers (which the server always renders in "wide" mode, so
//! every column is in every row and kubectl hides the `priority: 1` ones unless `-o wide`),
//! and the Gateway API kinds get the columns their CustomResourceDefinitions declare. A type
//! without a printer gets `NAME`, `AGE`, as a CRD without printer columns does.
//!
//! Watch: a real server sends each watch event as a one-row `Table` and includes the
//! `columnDefinitions` only in the first event (later ones carry `null`); build the first with
//! [`table`] and the later ones with [`table`] followed by
//! `t["columnDefinitions"] = Value::Null`, or use [`columns`] / [`row`] directly.

mod cells;
mod cluster;
mod columns;
mod crd;
mod networking;
mod pod;
mod printer;
mod selector;
#[cfg(test)]
mod tests;
mod workload;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

use crate::resources::ResourceType;
use cells::parse_time;
use printer::Printer;

/// What each row's `object` holds (the `includeObject` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// No object: the row has only cells.
    None,
    /// A `meta.k8s.io/v1` `PartialObjectMetadata` carrying the object's metadata (default).
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

/// Errors of this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// The `includeObject` value is none of `None`, `Metadata`, `Object` (a real server answers
    /// 400 Bad Request with this message).
    #[error("unrecognized includeObject value: {0:?}")]
    UnrecognizedIncludeObject(String),
}

impl IncludeObject {
    /// Parses `includeObject`; absent, empty or unrecognized values mean `Metadata`.
    pub fn parse(s: Option<&str>) -> IncludeObject {
        IncludeObject::try_parse(s).unwrap_or_default()
    }

    /// Parses `includeObject` strictly, as the API server does: absent or empty means
    /// `Metadata`, anything but `None`, `Metadata`, `Object` is an error (400 on a real server).
    pub fn try_parse(s: Option<&str>) -> Result<IncludeObject, TableError> {
        match s.unwrap_or("") {
            "" | "Metadata" => Ok(IncludeObject::Metadata),
            "None" => Ok(IncludeObject::None),
            "Object" => Ok(IncludeObject::Object),
            other => Err(TableError::UnrecognizedIncludeObject(other.to_string())),
        }
    }
}

/// The `Table` for `objects` (a list, or one object) of type `rt`.
pub fn table(
    rt: &ResourceType,
    objects: &[&Value],
    resource_version: &str,
    include: IncludeObject,
    now: Timestamp,
) -> Value {
    let printer = Printer::for_type(rt);
    let mut metadata = Map::new();
    if !resource_version.is_empty() {
        metadata.insert("resourceVersion".into(), json!(resource_version));
    }
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| printer.row(obj, include, now))
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": printer.columns(),
        "rows": rows,
    })
}

/// The `columnDefinitions` of the table for `rt`.
pub fn columns(rt: &ResourceType) -> Value {
    Printer::for_type(rt).columns()
}

/// One `TableRow` (`cells`, `conditions` where the server sets them, `object`) for `obj`.
pub fn row(rt: &ResourceType, obj: &Value, include: IncludeObject, now: Timestamp) -> Value {
    Printer::for_type(rt).row(obj, include, now)
}

/// How long ago the RFC 3339 timestamp `created` was, as Kubernetes prints ages
/// (`duration.HumanDuration`); `<unknown>` when it is absent, zero or unparseable.
pub fn human_age(created: &str, now: Timestamp) -> String {
    match parse_time(created) {
        Some(t) => human_duration(now.duration_since(t)),
        None => "<unknown>".to_string(),
    }
}

/// apimachinery's `duration.HumanDuration`: a succinct duration with about two or three
/// significant figures (`45s`, `3m20s`, `10m`, `2h5m`, `20h`, `2d3h`, `30d`, `2y10d`, `9y`).
pub fn human_duration(d: SignedDuration) -> String {
    // SignedDuration::as_secs truncates toward zero, like Go's int(d.Seconds()).
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{}h", hours / 24, h);
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{}d", hours / 24 / 365, dy);
    }
    format!("{}y", hours / 24 / 365)
}
