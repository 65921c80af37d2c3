//! `metadata`: name and generateName, labels, annotations, owner references, finalizers, and
//! what an update may not change.

use kube_util::names::{self, NameRule};
use serde_json::Value;

use super::access::child;
use super::errors::{Bad, Errs, bs};
use super::go_format::{go_ptr, go_quote, go_string_slice};
use super::{IMMUTABLE, TOTAL_ANNOTATION_SIZE_LIMIT};
use crate::json::{arr_at, at, str_or_empty};
use crate::resources::ResourceType;

fn name_rule(rt: &ResourceType) -> NameRule {
    match (rt.group, rt.kind) {
        ("", "Namespace") | ("apps", "StatefulSet") => NameRule::Label,
        ("", "Service") => NameRule::Dns1035,
        _ => NameRule::Subdomain,
    }
}

pub(super) fn validate_meta(e: &mut Errs, rt: &ResourceType, obj: &Value) {
    let meta = &obj["metadata"];
    let rule = name_rule(rt);
    let gen_name = str_or_empty(meta, &["generateName"]);
    if !gen_name.is_empty() {
        for msg in names::check_name(rule, gen_name, true) {
            e.invalid("metadata.generateName", bs(gen_name), &msg);
        }
    }
    let name = str_or_empty(meta, &["name"]);
    if name.is_empty() {
        e.required("metadata.name", "name or generateName is required");
    } else {
        for msg in names::check_name(rule, name, false) {
            e.invalid("metadata.name", bs(name), &msg);
        }
    }
    let ns = str_or_empty(meta, &["namespace"]);
    if rt.namespaced {
        if ns.is_empty() {
            e.required("metadata.namespace", "");
        } else {
            for msg in names::is_dns1123_label(ns) {
                e.invalid("metadata.namespace", bs(ns), &msg);
            }
        }
    } else if !ns.is_empty() {
        e.forbidden("metadata.namespace", "not allowed on this type");
    }
    e.nonneg(meta, "generation", "metadata.generation");
    validate_labels(e, at(meta, &["labels"]), "metadata.labels");
    validate_annotations(e, at(meta, &["annotations"]), "metadata.annotations");
    validate_owner_references(e, meta);
    validate_finalizers(e, meta, rt.builtin);
}

pub(super) fn validate_meta_update(e: &mut Errs, obj: &Value, old: &Value) {
    let meta = &obj["metadata"];
    let old_meta = &old["metadata"];
    for f in ["name", "namespace"] {
        if str_or_empty(meta, &[f]) != str_or_empty(old_meta, &[f]) {
            e.invalid(
                &child("metadata", f),
                bs(str_or_empty(meta, &[f])),
                IMMUTABLE,
            );
        }
    }
    let (uid, old_uid) = (
        str_or_empty(meta, &["uid"]),
        str_or_empty(old_meta, &["uid"]),
    );
    if !uid.is_empty() && !old_uid.is_empty() && uid != old_uid {
        e.invalid("metadata.uid", bs(uid), IMMUTABLE);
    }
    validate_labels(e, at(meta, &["labels"]), "metadata.labels");
    validate_annotations(e, at(meta, &["annotations"]), "metadata.annotations");
    validate_owner_references(e, meta);
}

/// Labels (`ValidateLabels`): keys are qualified names, values label values.
pub(super) fn validate_labels(e: &mut Errs, labels: Option<&Value>, path: &str) {
    let Some(Value::Object(m)) = labels else {
        return;
    };
    for (k, v) in m {
        for msg in names::is_qualified_name(k) {
            e.invalid(path, bs(k), &msg);
        }
        match v {
            Value::String(s) => {
                for msg in names::is_valid_label_value(s) {
                    e.invalid(path, bs(s), &msg);
                }
            }
            Value::Null => {}
            other => e.invalid(path, Bad::Raw(other.to_string()), "must be a string"),
        }
    }
}

/// Annotations: keys are qualified names (case-insensitive), 256 KiB in total.
pub(super) fn validate_annotations(e: &mut Errs, annotations: Option<&Value>, path: &str) {
    let Some(Value::Object(m)) = annotations else {
        return;
    };
    let mut total = 0usize;
    for (k, v) in m {
        for msg in names::is_qualified_name(&k.to_lowercase()) {
            e.invalid(path, bs(k), &msg);
        }
        total += k.len() + v.as_str().map_or_else(|| v.to_string().len(), str::len);
        if !(v.is_string() || v.is_null()) {
            e.invalid(path, Bad::Raw(v.to_string()), "must be a string");
        }
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        e.too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT);
    }
}

fn go_owner_ref(r: &Value) -> String {
    format!(
        "v1.OwnerReference{{APIVersion:{}, Kind:{}, Name:{}, UID:{}, Controller:{}, BlockOwnerDeletion:{}}}",
        go_quote(str_or_empty(r, &["apiVersion"])),
        go_quote(str_or_empty(r, &["kind"])),
        go_quote(str_or_empty(r, &["name"])),
        go_quote(str_or_empty(r, &["uid"])),
        go_ptr("bool", at(r, &["controller"])),
        go_ptr("bool", at(r, &["blockOwnerDeletion"]))
    )
}

fn validate_owner_references(e: &mut Errs, meta: &Value) {
    let path = "metadata.ownerReferences";
    let refs = arr_at(meta, &["ownerReferences"]);
    let mut first_controller = String::new();
    for r in refs {
        let api_version = str_or_empty(r, &["apiVersion"]);
        // schema.ParseGroupVersion: "v1" → version v1; "g/v" → group g, version v; else none.
        let version = match api_version.split('/').collect::<Vec<_>>().as_slice() {
            [v] => *v,
            [_, v] => *v,
            _ => "",
        };
        let kind = str_or_empty(r, &["kind"]);
        if version.is_empty() {
            e.invalid(
                &child(path, "apiVersion"),
                bs(api_version),
                "version must not be empty",
            );
        }
        if kind.is_empty() {
            e.invalid(&child(path, "kind"), bs(kind), "kind must not be empty");
        }
        if str_or_empty(r, &["name"]).is_empty() {
            e.invalid(&child(path, "name"), bs(""), "name must not be empty");
        }
        if str_or_empty(r, &["uid"]).is_empty() {
            e.invalid(&child(path, "uid"), bs(""), "uid must not be empty");
        }
        if api_version == "v1" && kind == "Event" {
            e.invalid(
                path,
                Bad::Raw(go_owner_ref(r)),
                "/v1, Kind=Event is disallowed from being an owner",
            );
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            let this = format!("{}/{}", kind, str_or_empty(r, &["name"]));
            if first_controller.is_empty() {
                first_controller = this;
            } else {
                let all: Vec<String> = refs.iter().map(go_owner_ref).collect();
                e.invalid(
                    path,
                    Bad::Raw(format!("[]v1.OwnerReference{{{}}}", all.join(", "))),
                    &format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first_controller} and {this}"
                    ),
                );
            }
        }
    }
}

pub(super) const STANDARD_FINALIZERS: &[&str] = &["kubernetes", "orphan", "foregroundDeletion"];

fn validate_finalizers(e: &mut Errs, meta: &Value, builtin: bool) {
    let path = "metadata.finalizers";
    let fins: Vec<&str> = arr_at(meta, &["finalizers"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for f in &fins {
        for msg in names::is_qualified_name(f) {
            e.invalid(path, bs(f), &msg);
        }
    }
    if fins.contains(&"orphan") && fins.contains(&"foregroundDeletion") {
        e.invalid(
            path,
            Bad::Raw(go_string_slice(at(meta, &["finalizers"]))),
            "finalizer orphan and foregroundDeletion cannot be both set",
        );
    }
    if builtin {
        for f in &fins {
            if !f.contains('/') && !STANDARD_FINALIZERS.contains(f) {
                e.invalid(
                    path,
                    bs(f),
                    "name is neither a standard finalizer name nor is it fully qualified",
                );
            }
        }
    }
}
