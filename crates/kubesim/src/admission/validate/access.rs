//! Field access the checks share: strict integer and map reads, field paths as Kubernetes
//! writes them (`spec.containers[0].image`, `data[key]`), and semantic equality.

use serde_json::Value;

use super::Obj;

pub(super) static NULL: Value = Value::Null;

pub(super) fn gi(v: &Value, k: &str) -> Option<i64> {
    v.get(k).and_then(Value::as_i64)
}

pub(super) fn gmap<'a>(v: &'a Value, k: &str) -> Option<&'a Obj> {
    v.get(k).and_then(Value::as_object)
}

pub(super) fn child(p: &str, c: &str) -> String {
    if p.is_empty() {
        c.to_string()
    } else {
        format!("{p}.{c}")
    }
}

pub(super) fn index(p: &str, i: usize) -> String {
    format!("{p}[{i}]")
}

pub(super) fn key(p: &str, k: &str) -> String {
    format!("{p}[{k}]")
}

/// Go's zero values and empty collections dropped, so that `null`, absent, `""`, `0`,
/// `false`, `{}` and `[]` compare equal, as `apiequality.Semantic.DeepEqual` treats nil and
/// empty alike and as decoding turns absent scalars into zero values.
fn normalized(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Bool(false) => None,
        Value::String(s) if s.is_empty() => None,
        Value::Number(n) if n.as_f64() == Some(0.0) => None,
        Value::Object(m) => {
            let out: Obj = m
                .iter()
                .filter_map(|(k, v)| normalized(v).map(|x| (k.clone(), x)))
                .collect();
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Value::Array(a) => (!a.is_empty()).then(|| {
            Value::Array(
                a.iter()
                    .map(|x| normalized(x).unwrap_or(Value::Null))
                    .collect(),
            )
        }),
        other => Some(other.clone()),
    }
}

pub(super) fn sem_eq(a: Option<&Value>, b: Option<&Value>) -> bool {
    a.and_then(normalized) == b.and_then(normalized)
}
