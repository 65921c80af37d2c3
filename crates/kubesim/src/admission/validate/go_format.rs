//! Bad values printed as Go's `field.Error` prints them: `%q` strings, `%#v` structs, maps
//! and pointers.

use std::fmt::Write as _;

use serde_json::Value;

use crate::json::{at, str_or_empty};

/// Go's `strconv.Quote` (`%q`).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                if (c as u32) < 0x10000 {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                } else {
                    let _ = write!(out, "\\U{:08x}", c as u32);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A scalar as Go would print it inside `%#v` of a string field.
pub(super) fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `map[string]string{"a":"b", "c":"d"}` (keys sorted), `map[string]string(nil)` when unset.
pub(super) fn go_string_map(v: Option<&Value>) -> String {
    match v {
        Some(Value::Object(m)) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let body: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}:{}", go_quote(k), go_quote(&scalar_text(v))))
                .collect();
            format!("map[string]string{{{}}}", body.join(", "))
        }
        _ => "map[string]string(nil)".to_string(),
    }
}

/// `[]string{"a", "b"}`, `[]string(nil)` when unset.
pub(super) fn go_string_slice(v: Option<&Value>) -> String {
    match v {
        Some(Value::Array(a)) => {
            let body: Vec<String> = a.iter().map(|x| go_quote(&scalar_text(x))).collect();
            format!("[]string{{{}}}", body.join(", "))
        }
        _ => "[]string(nil)".to_string(),
    }
}

pub(super) fn go_strs(items: &[String]) -> String {
    if items.is_empty() {
        return "[]string(nil)".to_string();
    }
    let body: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[]string{{{}}}", body.join(", "))
}

/// A `metav1.LabelSelector` as `%#v` prints it.
pub(super) fn go_label_selector(sel: &Value) -> String {
    let exprs = match sel.get("matchExpressions") {
        Some(Value::Array(a)) => {
            let body: Vec<String> = a
                .iter()
                .map(|r| {
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                        go_quote(str_or_empty(r, &["key"])),
                        go_quote(str_or_empty(r, &["operator"])),
                        go_string_slice(at(r, &["values"]))
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", body.join(", "))
        }
        _ => "[]v1.LabelSelectorRequirement(nil)".to_string(),
    };
    format!(
        "v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{}}}",
        go_string_map(at(sel, &["matchLabels"])),
        exprs
    )
}

/// An `intstr.IntOrString` as `%#v` prints it.
pub(super) fn go_int_or_string(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => {
            format!(
                "intstr.IntOrString{{Type:1, IntVal:0, StrVal:{}}}",
                go_quote(s)
            )
        }
        Some(Value::Number(n)) => format!(
            "intstr.IntOrString{{Type:0, IntVal:{}, StrVal:\"\"}}",
            n.as_i64().unwrap_or(0)
        ),
        _ => "intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}".to_string(),
    }
}

/// How Go prints a non-nil pointer field inside `%#v` (the address is not reproducible).
pub(super) fn go_ptr(ty: &str, v: Option<&Value>) -> String {
    match v {
        Some(_) => format!("(*{ty})(0xc000000000)"),
        None => format!("(*{ty})(nil)"),
    }
}
