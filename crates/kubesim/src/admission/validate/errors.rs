//! The list of causes being built, and how each kind of cause is worded.

use serde_json::Value;

use super::NEGATIVE;
use super::access::gi;
use super::go_format::go_quote;
use crate::admission::Cause;

/// A bad value as `field.Error` renders it.
pub(super) enum Bad {
    /// A string: quoted.
    Str(String),
    /// An integer: bare.
    Int(i64),
    /// Already rendered (`%#v` of a struct, map or slice).
    Raw(String),
}

impl Bad {
    fn render(&self) -> String {
        match self {
            Bad::Str(s) => go_quote(s),
            Bad::Int(n) => n.to_string(),
            Bad::Raw(r) => r.clone(),
        }
    }
}

pub(super) fn bs(s: &str) -> Bad {
    Bad::Str(s.to_string())
}

#[derive(Default)]
pub(super) struct Errs(pub(super) Vec<Cause>);

fn with_detail(mut head: String, detail: &str) -> String {
    if !detail.is_empty() {
        head.push_str(": ");
        head.push_str(detail);
    }
    head
}

impl Errs {
    fn push(&mut self, reason: &'static str, field: &str, message: String) {
        self.0.push(Cause {
            reason,
            field: field.to_string(),
            message,
        });
    }

    pub(super) fn required(&mut self, f: &str, detail: &str) {
        self.push(
            "FieldValueRequired",
            f,
            with_detail("Required value".into(), detail),
        );
    }

    pub(super) fn forbidden(&mut self, f: &str, detail: &str) {
        self.push(
            "FieldValueForbidden",
            f,
            with_detail("Forbidden".into(), detail),
        );
    }

    pub(super) fn too_long(&mut self, f: &str, max: usize) {
        self.push(
            "FieldValueTooLong",
            f,
            format!("Too long: may not be more than {max} bytes"),
        );
    }

    pub(super) fn invalid(&mut self, f: &str, v: Bad, detail: &str) {
        self.push(
            "FieldValueInvalid",
            f,
            with_detail(format!("Invalid value: {}", v.render()), detail),
        );
    }

    pub(super) fn not_supported(&mut self, f: &str, v: Bad, valid: &[&str]) {
        let detail = if valid.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = valid.iter().map(|s| go_quote(s)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        self.push(
            "FieldValueNotSupported",
            f,
            with_detail(format!("Unsupported value: {}", v.render()), &detail),
        );
    }

    pub(super) fn duplicate(&mut self, f: &str, v: Bad) {
        self.push(
            "FieldValueDuplicate",
            f,
            format!("Duplicate value: {}", v.render()),
        );
    }

    pub(super) fn not_found(&mut self, f: &str, v: Bad) {
        self.push(
            "FieldValueNotFound",
            f,
            format!("Not found: {}", v.render()),
        );
    }

    pub(super) fn nonneg(&mut self, obj: &Value, k: &str, path: &str) {
        if let Some(n) = gi(obj, k)
            && n < 0
        {
            self.invalid(path, Bad::Int(n), NEGATIVE);
        }
    }
}
