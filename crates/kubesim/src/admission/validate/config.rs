//! ConfigMap and Secret (keys, sizes, immutability) and Namespace.

use kube_util::names;
use serde_json::Value;

use super::access::{gmap, key, sem_eq};
use super::errors::{Errs, bs};
use super::go_format::scalar_text;
use super::meta::STANDARD_FINALIZERS;
use super::{IMMUTABLE, MAX_SECRET_SIZE};
use crate::json::{arr_at, str_or_empty};

fn validate_data_keys(e: &mut Errs, obj: &Value, field: &str, other: &str) -> usize {
    let mut total = 0;
    if let Some(m) = gmap(obj, field) {
        for (k, v) in m {
            let kp = key(field, k);
            for msg in names::is_config_map_key(k) {
                e.invalid(&kp, bs(k), &msg);
            }
            if gmap(obj, other).is_some_and(|o| o.contains_key(k)) {
                e.invalid(&kp, bs(k), &format!("duplicate of key present in {other}"));
            }
            total += v.as_str().map_or(0, str::len);
        }
    }
    total
}

fn immutable_payload(e: &mut Errs, obj: &Value, old: &Value, fields: &[&str]) {
    if old.get("immutable").and_then(Value::as_bool) != Some(true) {
        return;
    }
    if obj.get("immutable").and_then(Value::as_bool) != Some(true) {
        e.forbidden("immutable", "field is immutable when `immutable` is set");
    }
    for f in fields {
        if !sem_eq(obj.get(*f), old.get(*f)) {
            e.forbidden(f, "field is immutable when `immutable` is set");
        }
    }
}

pub(super) fn validate_config_map(e: &mut Errs, obj: &Value, old: Option<&Value>) {
    let mut total = validate_data_keys(e, obj, "data", "binaryData");
    // binaryData values are base64 in JSON; count the decoded bytes.
    total += validate_data_keys(e, obj, "binaryData", "data") / 4 * 3;
    if total > MAX_SECRET_SIZE {
        e.too_long("[]", MAX_SECRET_SIZE);
    }
    if let Some(old) = old {
        immutable_payload(e, obj, old, &["data", "binaryData"]);
    }
}

fn decoded_len(b64: &str) -> usize {
    let pad = b64.bytes().rev().take_while(|b| *b == b'=').count();
    (b64.len() / 4 * 3).saturating_sub(pad)
}

pub(super) fn validate_secret(e: &mut Errs, obj: &Value, old: Option<&Value>) {
    let mut total = 0;
    if let Some(m) = gmap(obj, "data") {
        for (k, v) in m {
            for msg in names::is_config_map_key(k) {
                e.invalid(&key("data", k), bs(k), &msg);
            }
            total += v.as_str().map_or(0, decoded_len);
        }
    }
    if total > MAX_SECRET_SIZE {
        e.too_long("data", MAX_SECRET_SIZE);
    }
    let data = gmap(obj, "data");
    let has = |k: &str| data.is_some_and(|d| d.contains_key(k));
    match str_or_empty(obj, &["type"]) {
        "kubernetes.io/service-account-token" => {
            let annotations = &obj["metadata"]["annotations"];
            if str_or_empty(annotations, &["kubernetes.io/service-account.name"]).is_empty() {
                e.required(
                    "metadata.annotations[kubernetes.io/service-account.name]",
                    "",
                );
            }
        }
        "kubernetes.io/dockercfg" if !has(".dockercfg") => {
            e.required("data[.dockercfg]", "");
        }
        "kubernetes.io/dockerconfigjson" if !has(".dockerconfigjson") => {
            e.required("data[.dockerconfigjson]", "");
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            e.required("data[username]", "");
            e.required("data[password]", "");
        }
        "kubernetes.io/ssh-auth" if !has("ssh-privatekey") => {
            e.required("data[ssh-privatekey]", "");
        }
        "kubernetes.io/tls" => {
            if !has("tls.crt") {
                e.required("data[tls.crt]", "");
            }
            if !has("tls.key") {
                e.required("data[tls.key]", "");
            }
        }
        _ => {}
    }
    if let Some(old) = old {
        let (ty, old_ty) = (str_or_empty(obj, &["type"]), str_or_empty(old, &["type"]));
        if ty != old_ty {
            e.invalid("type", bs(ty), IMMUTABLE);
        }
        immutable_payload(e, obj, old, &["data"]);
    }
}

pub(super) fn validate_namespace(e: &mut Errs, obj: &Value) {
    for f in arr_at(&obj["spec"], &["finalizers"]) {
        let f = scalar_text(f);
        for msg in names::is_qualified_name(&f) {
            e.invalid("spec.finalizers", bs(&f), &msg);
        }
        if !f.contains('/') && !STANDARD_FINALIZERS.contains(&f.as_str()) {
            e.invalid(
                "spec.finalizers",
                bs(&f),
                "name is neither a standard finalizer name nor is it fully qualified",
            );
        }
    }
}
