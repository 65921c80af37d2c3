//! Custom-resource style columns: the Gateway API kinds get the printer columns their
//! CustomResourceDefinitions declare, evaluated as JSONPath the way client-go does.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::cells::age_since;

/// One step of the simple JSONPath the CRD printer columns use.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// `.field`
    Field(&'static str),
    /// `[*]`
    All,
    /// `[?(@.field=="value")]`
    Filter(&'static str, &'static str),
}

/// A CRD `additionalPrinterColumns` entry.
pub(super) struct CrdColumn {
    name: &'static str,
    ty: &'static str,
    json_path: &'static str,
    path: &'static [Step],
}

impl CrdColumn {
    pub(super) fn definition(&self) -> Value {
        json!({
            "name": self.name,
            "type": self.ty,
            "format": "",
            "description": format!(
                "Custom resource definition column (in JSONPath format): {}",
                self.json_path
            ),
            "priority": 0,
        })
    }
}

const CRD_AGE: CrdColumn = CrdColumn {
    name: "Age",
    ty: "date",
    json_path: ".metadata.creationTimestamp",
    path: &[Step::Field("metadata"), Step::Field("creationTimestamp")],
};

/// The default printer columns of a CRD without `additionalPrinterColumns`.
pub(super) const DEFAULT_CRD_COLUMNS: &[CrdColumn] = &[CRD_AGE];

/// The printer columns of the Gateway API `HTTPRoute` CRD.
pub(super) const HTTPROUTE_COLUMNS: &[CrdColumn] = &[
    CrdColumn {
        name: "Hostnames",
        ty: "string",
        json_path: ".spec.hostnames",
        path: &[Step::Field("spec"), Step::Field("hostnames")],
    },
    CRD_AGE,
];

/// The printer columns of the Gateway API `Gateway` CRD.
pub(super) const GATEWAY_COLUMNS: &[CrdColumn] = &[
    CrdColumn {
        name: "Class",
        ty: "string",
        json_path: ".spec.gatewayClassName",
        path: &[Step::Field("spec"), Step::Field("gatewayClassName")],
    },
    CrdColumn {
        name: "Address",
        ty: "string",
        json_path: ".status.addresses[*].value",
        path: &[
            Step::Field("status"),
            Step::Field("addresses"),
            Step::All,
            Step::Field("value"),
        ],
    },
    CrdColumn {
        name: "Programmed",
        ty: "string",
        json_path: ".status.conditions[?(@.type==\"Programmed\")].status",
        path: &[
            Step::Field("status"),
            Step::Field("conditions"),
            Step::Filter("type", "Programmed"),
            Step::Field("status"),
        ],
    },
    CRD_AGE,
];

/// Evaluates `path` on `obj` the way client-go's JSONPath does with missing keys allowed.
fn eval_path<'a>(obj: &'a Value, path: &[Step]) -> Vec<&'a Value> {
    let mut current = vec![obj];
    for step in path {
        let mut next = Vec::new();
        for v in current {
            match step {
                Step::Field(f) => {
                    if let Some(x) = v.get(f) {
                        next.push(x);
                    }
                }
                Step::All => match v {
                    Value::Array(items) => next.extend(items.iter()),
                    Value::Object(m) => next.extend(m.values()),
                    _ => {}
                },
                Step::Filter(field, want) => {
                    if let Value::Array(items) = v {
                        next.extend(
                            items.iter().filter(|item| {
                                item.get(field).and_then(Value::as_str) == Some(*want)
                            }),
                        );
                    }
                }
            }
        }
        current = next;
    }
    current
}

/// A cell of a CRD printer column: the first JSONPath result, printed like the API server's
/// custom resource table convertor does.
pub(super) fn crd_cell(column: &CrdColumn, obj: &Value, now: Timestamp) -> Value {
    let results = eval_path(obj, column.path);
    let Some(value) = results.first() else {
        return Value::Null;
    };
    if value.is_null() {
        return Value::Null;
    }
    match column.ty {
        // client-go JSONPath's PrintResults: compact JSON for arrays and objects, the plain
        // text otherwise.
        "string" => match value {
            Value::String(s) => json!(s),
            Value::Array(_) | Value::Object(_) => json!(value.to_string()),
            other => json!(other.to_string()),
        },
        "integer" => match value.as_i64() {
            Some(i) => json!(i),
            None => value.as_f64().map_or(Value::Null, |f| json!(f as i64)),
        },
        "number" => value.as_f64().map_or(Value::Null, |f| json!(f)),
        "boolean" => value.as_bool().map_or(Value::Null, |b| json!(b)),
        "date" => match value.as_str() {
            Some(s) => match kube_util::time::parse(s) {
                Some(t) => json!(age_since(Some(t), now)),
                None => json!("<invalid>"),
            },
            None => Value::Null,
        },
        _ => Value::Null,
    }
}
