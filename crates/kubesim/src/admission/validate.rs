//! Validation: the causes of a 422 `Invalid` answer, worded as Kubernetes 1.33 words them
//! (`pkg/apis/*/validation`, `k8s.io/apimachinery/pkg/api/validation`, and the Gateway API
//! CRD schema). Bad values are rendered as Go's `field.Error` renders them: strings quoted,
//! numbers bare, structs and maps in Go's `%#v` syntax.

use std::fmt::Write as _;
use std::net::IpAddr;

use serde_json::{Map, Value};

use super::super::resources::ResourceType;
use super::defaults::volume_sources;
use super::{Cause, Operation};
use crate::json::{arr_at, at, len_at, str_or_empty};
use kube_util::names::{self, NameRule};
use kube_util::selector::LabelSelector;

type Obj = Map<String, Value>;

const NEGATIVE: &str = "must be greater than or equal to 0";
const IMMUTABLE: &str = "field is immutable";
const MAX_INT32: i64 = 2_147_483_647;
/// Total size of all annotations of one object (256 KiB).
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;
/// Largest ConfigMap / Secret payload (1 MiB).
pub const MAX_SECRET_SIZE: usize = 1024 * 1024;

// =======================================================================================
// Go formatting

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
fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `map[string]string{"a":"b", "c":"d"}` (keys sorted), `map[string]string(nil)` when unset.
fn go_string_map(v: Option<&Value>) -> String {
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
fn go_string_slice(v: Option<&Value>) -> String {
    match v {
        Some(Value::Array(a)) => {
            let body: Vec<String> = a.iter().map(|x| go_quote(&scalar_text(x))).collect();
            format!("[]string{{{}}}", body.join(", "))
        }
        _ => "[]string(nil)".to_string(),
    }
}

fn go_strs(items: &[String]) -> String {
    if items.is_empty() {
        return "[]string(nil)".to_string();
    }
    let body: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[]string{{{}}}", body.join(", "))
}

/// A `metav1.LabelSelector` as `%#v` prints it.
fn go_label_selector(sel: &Value) -> String {
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
fn go_int_or_string(v: Option<&Value>) -> String {
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
fn go_ptr(ty: &str, v: Option<&Value>) -> String {
    match v {
        Some(_) => format!("(*{ty})(0xc000000000)"),
        None => format!("(*{ty})(nil)"),
    }
}

// =======================================================================================
// errors

/// A bad value as `field.Error` renders it.
enum Bad {
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

fn bs(s: &str) -> Bad {
    Bad::Str(s.to_string())
}

#[derive(Default)]
struct Errs(Vec<Cause>);

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

    fn required(&mut self, f: &str, detail: &str) {
        self.push(
            "FieldValueRequired",
            f,
            with_detail("Required value".into(), detail),
        );
    }

    fn forbidden(&mut self, f: &str, detail: &str) {
        self.push(
            "FieldValueForbidden",
            f,
            with_detail("Forbidden".into(), detail),
        );
    }

    fn too_long(&mut self, f: &str, max: usize) {
        self.push(
            "FieldValueTooLong",
            f,
            format!("Too long: may not be more than {max} bytes"),
        );
    }

    fn invalid(&mut self, f: &str, v: Bad, detail: &str) {
        self.push(
            "FieldValueInvalid",
            f,
            with_detail(format!("Invalid value: {}", v.render()), detail),
        );
    }

    fn not_supported(&mut self, f: &str, v: Bad, valid: &[&str]) {
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

    fn duplicate(&mut self, f: &str, v: Bad) {
        self.push(
            "FieldValueDuplicate",
            f,
            format!("Duplicate value: {}", v.render()),
        );
    }

    fn not_found(&mut self, f: &str, v: Bad) {
        self.push(
            "FieldValueNotFound",
            f,
            format!("Not found: {}", v.render()),
        );
    }

    fn nonneg(&mut self, obj: &Value, k: &str, path: &str) {
        if let Some(n) = gi(obj, k)
            && n < 0
        {
            self.invalid(path, Bad::Int(n), NEGATIVE);
        }
    }
}

// =======================================================================================
// JSON access and paths

static NULL: Value = Value::Null;

fn gi(v: &Value, k: &str) -> Option<i64> {
    v.get(k).and_then(Value::as_i64)
}

fn gmap<'a>(v: &'a Value, k: &str) -> Option<&'a Obj> {
    v.get(k).and_then(Value::as_object)
}

fn child(p: &str, c: &str) -> String {
    if p.is_empty() {
        c.to_string()
    } else {
        format!("{p}.{c}")
    }
}

fn index(p: &str, i: usize) -> String {
    format!("{p}[{i}]")
}

fn key(p: &str, k: &str) -> String {
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

fn sem_eq(a: Option<&Value>, b: Option<&Value>) -> bool {
    a.and_then(normalized) == b.and_then(normalized)
}

// =======================================================================================
// entry point

/// See [`super::validate`].
pub fn validate(rt: &ResourceType, obj: &Value, old: Option<&Value>, op: Operation) -> Vec<Cause> {
    let mut e = Errs::default();
    let old = if op == Operation::Update { old } else { None };
    match old {
        Some(o) => validate_meta_update(&mut e, obj, o),
        None => validate_meta(&mut e, rt, obj),
    }
    match (rt.group, rt.kind) {
        ("", "Pod") => validate_pod(&mut e, obj, old),
        ("", "Service") => validate_service(&mut e, obj, old),
        ("", "ConfigMap") => validate_config_map(&mut e, obj, old),
        ("", "Secret") => validate_secret(&mut e, obj, old),
        ("", "Namespace") => validate_namespace(&mut e, obj),
        ("apps", "Deployment") => validate_deployment(&mut e, obj, old),
        ("apps", "ReplicaSet") => validate_replica_set(&mut e, obj, old),
        ("apps", "StatefulSet") => validate_stateful_set(&mut e, obj, old),
        ("networking.k8s.io", "Ingress") => validate_ingress(&mut e, obj),
        ("autoscaling", "HorizontalPodAutoscaler") => validate_hpa(&mut e, obj),
        ("gateway.networking.k8s.io", "HTTPRoute") => validate_http_route(&mut e, obj),
        ("gateway.networking.k8s.io", "Gateway") => validate_gateway(&mut e, obj),
        _ => {}
    }
    e.0
}

// =======================================================================================
// metadata

fn name_rule(rt: &ResourceType) -> NameRule {
    match (rt.group, rt.kind) {
        ("", "Namespace") | ("apps", "StatefulSet") => NameRule::Label,
        ("", "Service") => NameRule::Dns1035,
        _ => NameRule::Subdomain,
    }
}

fn validate_meta(e: &mut Errs, rt: &ResourceType, obj: &Value) {
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

fn validate_meta_update(e: &mut Errs, obj: &Value, old: &Value) {
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
fn validate_labels(e: &mut Errs, labels: Option<&Value>, path: &str) {
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
fn validate_annotations(e: &mut Errs, annotations: Option<&Value>, path: &str) {
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

const STANDARD_FINALIZERS: &[&str] = &["kubernetes", "orphan", "foregroundDeletion"];

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

// =======================================================================================
// label selectors

fn validate_label_selector(e: &mut Errs, sel: &Value, path: &str) {
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
fn selector_is_empty(sel: &Value) -> bool {
    len_at(sel, &["matchLabels"]) + len_at(sel, &["matchExpressions"]) == 0
}

/// Whether `metav1.LabelSelectorAsSelector` accepts the selector.
fn selector_convertible(sel: &Value) -> bool {
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

// =======================================================================================
// quantities

/// The quantity format Kubernetes accepts.
const QUANTITY_FORMAT: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// A resource quantity in nano-units (rounded up, saturating), or `None` when malformed.
pub fn parse_quantity(s: &str) -> Option<i128> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'+') => (false, s.get(1..)?),
        Some(b'-') => (true, s.get(1..)?),
        _ => (false, s),
    };
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (num, suffix) = rest.split_at(end);
    if num.is_empty() || num == "." || num.matches('.').count() > 1 {
        return None;
    }
    let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
    let (exp10, exp2): (i64, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        s if s.starts_with('e') || s.starts_with('E') => {
            let digits = s.get(1..)?;
            let body = digits.strip_prefix(['+', '-']).unwrap_or(digits);
            if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (digits.parse::<i64>().ok()?, 0)
        }
        _ => return None,
    };
    let mut digits: String = format!("{int_part}{frac_part}")
        .trim_start_matches('0')
        .to_string();
    let mut scale = exp10
        .saturating_sub(frac_part.len() as i64)
        .saturating_add(9);
    if digits.len() > 30 {
        // Beyond 30 significant digits, approximate (nothing real needs that precision).
        scale = scale.saturating_add((digits.len() - 31) as i64);
        digits.truncate(30);
        digits.push('1');
    }
    let mut m: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    m = m.saturating_mul(1i128 << exp2);
    if scale >= 0 {
        for _ in 0..scale.min(60) {
            m = m.saturating_mul(10);
        }
    } else if m != 0 {
        let div_exp = scale.saturating_neg().min(39);
        let mut d: i128 = 1;
        for _ in 0..div_exp {
            d = d.saturating_mul(10);
        }
        m = if div_exp >= 39 {
            1
        } else {
            m / d + i128::from(m % d != 0)
        };
    }
    Some(if neg { -m } else { m })
}

fn quantity_text(v: &Value) -> String {
    scalar_text(v)
}

// =======================================================================================
// pod specs

#[derive(Clone, Copy, PartialEq, Eq)]
enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

fn validate_port_num_or_name(e: &mut Errs, v: Option<&Value>, path: &str) {
    match v {
        Some(Value::String(s)) => {
            for msg in names::is_valid_port_name(s) {
                e.invalid(path, bs(s), &msg);
            }
        }
        other => {
            let n = other.and_then(Value::as_i64).unwrap_or(0);
            for msg in names::is_valid_port_num(n) {
                e.invalid(path, Bad::Int(n), &msg);
            }
        }
    }
}

fn validate_http_get(e: &mut Errs, h: &Value, path: &str) {
    if str_or_empty(h, &["path"]).is_empty() {
        e.required(&child(path, "path"), "");
    }
    validate_port_num_or_name(e, at(h, &["port"]), &child(path, "port"));
    let scheme = str_or_empty(h, &["scheme"]);
    if scheme != "HTTP" && scheme != "HTTPS" {
        e.not_supported(&child(path, "scheme"), bs(scheme), &["HTTP", "HTTPS"]);
    }
    for header in arr_at(h, &["httpHeaders"]) {
        let name = str_or_empty(header, &["name"]);
        for msg in names::is_http_header_name(name) {
            e.invalid(&child(path, "httpHeaders"), bs(name), &msg);
        }
    }
}

/// Exactly one handler (`exec`, `httpGet`, `tcpSocket`, `grpc` for probes; `sleep` instead
/// of `grpc` for lifecycle hooks).
fn validate_handler(e: &mut Errs, h: &Value, path: &str, lifecycle: bool) {
    let kinds: &[&str] = if lifecycle {
        &["exec", "httpGet", "tcpSocket", "sleep"]
    } else {
        &["exec", "httpGet", "tcpSocket", "grpc"]
    };
    let mut n = 0;
    for k in kinds {
        let Some(v) = at(h, &[k]) else {
            continue;
        };
        let kp = child(path, k);
        if n > 0 {
            e.forbidden(&kp, "may not specify more than 1 handler type");
            continue;
        }
        n += 1;
        match *k {
            "exec" if arr_at(v, &["command"]).is_empty() => {
                e.required(&child(&kp, "command"), "");
            }
            "httpGet" => validate_http_get(e, v, &kp),
            "tcpSocket" => validate_port_num_or_name(e, at(v, &["port"]), &child(&kp, "port")),
            "grpc" => {
                let port = gi(v, "port").unwrap_or(0);
                for msg in names::is_valid_port_num(port) {
                    e.invalid(&child(&kp, "port"), Bad::Int(port), &msg);
                }
            }
            _ => {}
        }
    }
    if n == 0 {
        e.required(path, "must specify a handler type");
    }
}

fn validate_probe(e: &mut Errs, probe: &Value, path: &str, kind: ProbeKind) {
    validate_handler(e, probe, path, false);
    for f in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        e.nonneg(probe, f, &child(path, f));
    }
    let tgps = gi(probe, "terminationGracePeriodSeconds");
    if let Some(t) = tgps
        && t <= 0
    {
        e.invalid(
            &child(path, "terminationGracePeriodSeconds"),
            Bad::Int(t),
            "must be greater than 0",
        );
    }
    match kind {
        ProbeKind::Liveness | ProbeKind::Startup => {
            let st = gi(probe, "successThreshold").unwrap_or(0);
            if st != 1 {
                e.invalid(&child(path, "successThreshold"), Bad::Int(st), "must be 1");
            }
        }
        ProbeKind::Readiness => {
            if let Some(t) = tgps {
                e.invalid(
                    &child(path, "terminationGracePeriodSeconds"),
                    Bad::Int(t),
                    "must not be set for readinessProbes",
                );
            }
        }
    }
}

fn validate_container_ports(e: &mut Errs, c: &Value, path: &str) {
    let mut seen: Vec<&str> = Vec::new();
    for (i, port) in arr_at(c, &["ports"]).iter().enumerate() {
        let ip = index(path, i);
        let name = str_or_empty(port, &["name"]);
        if !name.is_empty() {
            let msgs = names::is_valid_port_name(name);
            if !msgs.is_empty() {
                for msg in msgs {
                    e.invalid(&child(&ip, "name"), bs(name), &msg);
                }
            } else if seen.contains(&name) {
                e.duplicate(&child(&ip, "name"), bs(name));
            } else {
                seen.push(name);
            }
        }
        let cp = gi(port, "containerPort").unwrap_or(0);
        if cp == 0 {
            e.required(&child(&ip, "containerPort"), "");
        } else {
            for msg in names::is_valid_port_num(cp) {
                e.invalid(&child(&ip, "containerPort"), Bad::Int(cp), &msg);
            }
        }
        let hp = gi(port, "hostPort").unwrap_or(0);
        if hp != 0 {
            for msg in names::is_valid_port_num(hp) {
                e.invalid(&child(&ip, "hostPort"), Bad::Int(hp), &msg);
            }
        }
        validate_protocol(
            e,
            str_or_empty(port, &["protocol"]),
            &child(&ip, "protocol"),
        );
    }
}

fn validate_protocol(e: &mut Errs, proto: &str, path: &str) {
    if proto.is_empty() {
        e.required(path, "");
    } else if !["SCTP", "TCP", "UDP"].contains(&proto) {
        e.not_supported(path, bs(proto), &["SCTP", "TCP", "UDP"]);
    }
}

const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

const CONVERTIBLE_FIELD_PATHS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.serviceAccountName",
    "spec.schedulerName",
    "status.phase",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// `metadata.labels['app']` → (`metadata.labels`, `app`).
fn split_subscript(p: &str) -> Option<(&str, &str)> {
    let (base, rest) = p.split_once("['")?;
    let sub = rest.strip_suffix("']")?;
    Some((base, sub))
}

fn validate_field_ref(e: &mut Errs, fr: &Value, path: &str) {
    if str_or_empty(fr, &["apiVersion"]).is_empty() {
        e.required(&child(path, "apiVersion"), "");
        return;
    }
    let fp = str_or_empty(fr, &["fieldPath"]);
    if fp.is_empty() {
        e.required(&child(path, "fieldPath"), "");
        return;
    }
    if let Some((base, sub)) = split_subscript(fp) {
        match base {
            "metadata.annotations" => {
                for msg in names::is_qualified_name(&sub.to_lowercase()) {
                    e.invalid(path, bs(sub), &msg);
                }
            }
            "metadata.labels" => {
                for msg in names::is_qualified_name(sub) {
                    e.invalid(path, bs(sub), &msg);
                }
            }
            _ => e.invalid(path, bs(base), "does not support subscript"),
        }
        return;
    }
    if !CONVERTIBLE_FIELD_PATHS.contains(&fp) {
        e.invalid(
            &child(path, "fieldPath"),
            bs(fp),
            &format!("error converting fieldPath: field label not supported: {fp}"),
        );
        return;
    }
    if !ENV_FIELD_PATHS.contains(&fp) {
        e.not_supported(&child(path, "fieldPath"), bs(fp), ENV_FIELD_PATHS);
    }
}

fn validate_key_selector(e: &mut Errs, sel: &Value, path: &str) {
    let name = str_or_empty(sel, &["name"]);
    for msg in names::is_dns1123_subdomain(name) {
        e.invalid(&child(path, "name"), bs(name), &msg);
    }
    let k = str_or_empty(sel, &["key"]);
    if k.is_empty() {
        e.required(&child(path, "key"), "");
    } else {
        for msg in names::is_config_map_key(k) {
            e.invalid(&child(path, "key"), bs(k), &msg);
        }
    }
}

fn validate_env(e: &mut Errs, c: &Value, path: &str) {
    for (i, ev) in arr_at(c, &["env"]).iter().enumerate() {
        let ip = index(path, i);
        let name = str_or_empty(ev, &["name"]);
        if name.is_empty() {
            e.required(&child(&ip, "name"), "");
        } else {
            for msg in names::is_relaxed_env_var_name(name) {
                e.invalid(&child(&ip, "name"), bs(name), &msg);
            }
        }
        let Some(vf) = at(ev, &["valueFrom"]) else {
            continue;
        };
        let vp = child(&ip, "valueFrom");
        let mut n = 0;
        if let Some(fr) = at(vf, &["fieldRef"]) {
            n += 1;
            validate_field_ref(e, fr, &child(&vp, "fieldRef"));
        }
        if let Some(rf) = at(vf, &["resourceFieldRef"]) {
            n += 1;
            if str_or_empty(rf, &["resource"]).is_empty() {
                e.required(&child(&child(&vp, "resourceFieldRef"), "resource"), "");
            }
        }
        if let Some(s) = at(vf, &["configMapKeyRef"]) {
            n += 1;
            validate_key_selector(e, s, &child(&vp, "configMapKeyRef"));
        }
        if let Some(s) = at(vf, &["secretKeyRef"]) {
            n += 1;
            validate_key_selector(e, s, &child(&vp, "secretKeyRef"));
        }
        if n == 0 {
            e.invalid(
                &vp,
                bs(""),
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            );
        } else if !str_or_empty(ev, &["value"]).is_empty() {
            e.invalid(
                &vp,
                bs(""),
                "may not be specified when `value` is not empty",
            );
        } else if n > 1 {
            e.invalid(
                &vp,
                bs(""),
                "may not have more than one field specified at a time",
            );
        }
    }
}

fn validate_volume_mounts(e: &mut Errs, c: &Value, path: &str, volumes: &[String]) {
    let mut mount_points: Vec<&str> = Vec::new();
    for (i, m) in arr_at(c, &["volumeMounts"]).iter().enumerate() {
        let ip = index(path, i);
        let name = str_or_empty(m, &["name"]);
        if name.is_empty() {
            e.required(&child(&ip, "name"), "");
        }
        if !volumes.iter().any(|v| v == name) {
            e.not_found(&child(&ip, "name"), bs(name));
        }
        let mp = str_or_empty(m, &["mountPath"]);
        if mp.is_empty() {
            e.required(&child(&ip, "mountPath"), "");
        }
        if mount_points.contains(&mp) {
            e.invalid(&child(&ip, "mountPath"), bs(mp), "must be unique");
        }
        mount_points.push(mp);
    }
}

fn validate_pull_policy(e: &mut Errs, policy: &str, path: &str) {
    match policy {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => e.required(path, ""),
        _ => e.not_supported(path, bs(policy), &["Always", "IfNotPresent", "Never"]),
    }
}

const STANDARD_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "storage",
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
];

fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

fn validate_resource_quantity(e: &mut Errs, name: &str, q: &Value, path: &str) -> Option<i128> {
    for msg in names::is_qualified_name(name) {
        e.invalid(path, bs(name), &msg);
    }
    if !name.contains('/') && names::is_qualified_name(name).is_empty() {
        let standard = STANDARD_RESOURCES.contains(&name) || name.starts_with("hugepages-");
        if !standard {
            e.invalid(
                path,
                bs(name),
                "must be a standard resource type or fully qualified",
            );
        }
        let container = matches!(name, "cpu" | "memory" | "ephemeral-storage")
            || name.starts_with("hugepages-");
        if !container {
            e.invalid(path, bs(name), "must be a standard resource for containers");
        }
    }
    let text = quantity_text(q);
    match parse_quantity(&text) {
        None => {
            e.invalid(path, bs(&text), QUANTITY_FORMAT);
            None
        }
        Some(v) => {
            if v < 0 {
                e.invalid(path, bs(&text), NEGATIVE);
            }
            Some(v)
        }
    }
}

fn validate_resources(e: &mut Errs, res: &Value, path: &str) {
    let lim_path = child(path, "limits");
    let req_path = child(path, "requests");
    let mut limits: Vec<(&str, Option<i128>, String)> = Vec::new();
    if let Some(m) = gmap(res, "limits") {
        for (name, q) in m {
            let v = validate_resource_quantity(e, name, q, &key(&lim_path, name));
            limits.push((name, v, quantity_text(q)));
        }
    }
    if let Some(m) = gmap(res, "requests") {
        for (name, q) in m {
            let v = validate_resource_quantity(e, name, q, &key(&req_path, name));
            let Some(v) = v else {
                continue;
            };
            let Some((_, Some(l), ltext)) = limits.iter().find(|(n, _, _)| n == name) else {
                continue;
            };
            let overcommit = is_native_resource(name) && !name.starts_with("hugepages-");
            let text = quantity_text(q);
            if v != *l && !overcommit {
                e.invalid(
                    &req_path,
                    bs(&text),
                    &format!("must be equal to {name} limit of {ltext}"),
                );
            } else if v > *l {
                e.invalid(
                    &req_path,
                    bs(&text),
                    &format!("must be less than or equal to {name} limit of {ltext}"),
                );
            }
        }
    }
}

/// What every container type shares (`validateContainerCommon`).
fn validate_container_common(e: &mut Errs, c: &Value, path: &str, volumes: &[String]) {
    let name = str_or_empty(c, &["name"]);
    let np = child(path, "name");
    if name.is_empty() {
        e.required(&np, "");
    } else {
        for msg in names::is_dns1123_label(name) {
            e.invalid(&np, bs(name), &msg);
        }
    }
    if str_or_empty(c, &["image"]).is_empty() {
        e.required(&child(path, "image"), "");
    }
    let tmp = str_or_empty(c, &["terminationMessagePolicy"]);
    match tmp {
        "File" | "FallbackToLogsOnError" => {}
        "" => e.required(&child(path, "terminationMessagePolicy"), ""),
        _ => e.not_supported(
            &child(path, "terminationMessagePolicy"),
            bs(tmp),
            &["File", "FallbackToLogsOnError"],
        ),
    }
    validate_container_ports(e, c, &child(path, "ports"));
    validate_env(e, c, &child(path, "env"));
    validate_volume_mounts(e, c, &child(path, "volumeMounts"), volumes);
    validate_pull_policy(
        e,
        str_or_empty(c, &["imagePullPolicy"]),
        &child(path, "imagePullPolicy"),
    );
    validate_resources(e, &c["resources"], &child(path, "resources"));
}

fn validate_lifecycle(e: &mut Errs, c: &Value, path: &str) {
    let Some(lc) = at(c, &["lifecycle"]) else {
        return;
    };
    for hook in ["postStart", "preStop"] {
        if let Some(h) = at(lc, &[hook]) {
            validate_handler(e, h, &child(&child(path, "lifecycle"), hook), true);
        }
    }
}

fn validate_probes(e: &mut Errs, c: &Value, path: &str) {
    for (k, kind) in [
        ("livenessProbe", ProbeKind::Liveness),
        ("readinessProbe", ProbeKind::Readiness),
        ("startupProbe", ProbeKind::Startup),
    ] {
        if let Some(p) = at(c, &[k]) {
            validate_probe(e, p, &child(path, k), kind);
        }
    }
}

fn validate_containers(e: &mut Errs, spec: &Value, path: &str, volumes: &[String]) {
    let containers = arr_at(spec, &["containers"]);
    if containers.is_empty() {
        e.required(path, "");
        return;
    }
    let mut seen: Vec<&str> = Vec::new();
    for (i, c) in containers.iter().enumerate() {
        let ip = index(path, i);
        validate_container_common(e, c, &ip, volumes);
        let name = str_or_empty(c, &["name"]);
        if seen.contains(&name) {
            e.duplicate(&child(&ip, "name"), bs(name));
        } else {
            seen.push(name);
        }
        validate_lifecycle(e, c, &ip);
        validate_probes(e, c, &ip);
        if at(c, &["restartPolicy"]).is_some() {
            e.forbidden(
                &child(&ip, "restartPolicy"),
                "may not be set for non-init containers",
            );
        }
    }
}

fn validate_init_containers(e: &mut Errs, spec: &Value, path: &str, volumes: &[String]) {
    let mut seen: Vec<&str> = arr_at(spec, &["containers"])
        .iter()
        .map(|c| str_or_empty(c, &["name"]))
        .collect();
    for (i, c) in arr_at(spec, &["initContainers"]).iter().enumerate() {
        let ip = index(path, i);
        validate_container_common(e, c, &ip, volumes);
        let mut sidecar = false;
        if at(c, &["restartPolicy"]).is_some() {
            let rp = str_or_empty(c, &["restartPolicy"]);
            if rp == "Always" {
                sidecar = true;
            } else {
                e.not_supported(&child(&ip, "restartPolicy"), bs(rp), &["Always"]);
            }
        }
        let name = str_or_empty(c, &["name"]);
        if seen.contains(&name) {
            e.duplicate(&child(&ip, "name"), bs(name));
        } else if !name.is_empty() {
            seen.push(name);
        }
        if sidecar {
            validate_lifecycle(e, c, &ip);
            validate_probes(e, c, &ip);
        } else {
            for f in [
                "lifecycle",
                "livenessProbe",
                "readinessProbe",
                "startupProbe",
            ] {
                if at(c, &[f]).is_some() {
                    e.forbidden(
                        &child(&ip, f),
                        "may not be set for init containers without restartPolicy=Always",
                    );
                }
            }
        }
    }
}

/// Validates the volumes and answers the names of the valid ones (for volume mounts).
fn validate_volumes(e: &mut Errs, spec: &Value, path: &str) -> Vec<String> {
    let mut valid: Vec<String> = Vec::new();
    let mut all: Vec<&str> = Vec::new();
    for (i, v) in arr_at(spec, &["volumes"]).iter().enumerate() {
        let ip = index(path, i);
        let mut el = Errs::default();
        validate_volume_source(&mut el, v, &ip);
        let name = str_or_empty(v, &["name"]);
        let np = child(&ip, "name");
        if name.is_empty() {
            el.required(&np, "");
        } else {
            for msg in names::is_dns1123_label(name) {
                el.invalid(&np, bs(name), &msg);
            }
        }
        if all.contains(&name) {
            el.duplicate(&np, bs(name));
        }
        if el.0.is_empty() {
            all.push(name);
            valid.push(name.to_string());
        } else {
            e.0.extend(el.0);
        }
    }
    valid
}

fn validate_file_mode(e: &mut Errs, src: &Value, k: &str, path: &str) {
    if let Some(m) = gi(src, k)
        && !(0..=0o777).contains(&m)
    {
        e.invalid(
            &child(path, k),
            Bad::Int(m),
            "must be a number between 0 and 0777 (octal), both inclusive",
        );
    }
}

fn validate_volume_source(e: &mut Errs, v: &Value, path: &str) {
    let present: Vec<&str> = volume_sources()
        .iter()
        .copied()
        .filter(|k| at(v, &[k]).is_some())
        .collect();
    let Some(first) = present.first() else {
        e.required(path, "must specify a volume type");
        return;
    };
    for extra in present.iter().skip(1) {
        e.forbidden(
            &child(path, extra),
            "may not specify more than 1 volume type",
        );
    }
    let src = &v[first];
    let sp = child(path, first);
    match *first {
        "configMap" => {
            if str_or_empty(src, &["name"]).is_empty() {
                e.required(&child(&sp, "name"), "");
            }
            validate_file_mode(e, src, "defaultMode", &sp);
        }
        "secret" => {
            if str_or_empty(src, &["secretName"]).is_empty() {
                e.required(&child(&sp, "secretName"), "");
            }
            validate_file_mode(e, src, "defaultMode", &sp);
        }
        "persistentVolumeClaim" if str_or_empty(src, &["claimName"]).is_empty() => {
            e.required(&child(&sp, "claimName"), "");
        }
        "hostPath" if str_or_empty(src, &["path"]).is_empty() => {
            e.required(&child(&sp, "path"), "");
        }
        "projected" | "downwardAPI" => validate_file_mode(e, src, "defaultMode", &sp),
        _ => {}
    }
}

fn go_toleration(t: &Value) -> String {
    format!(
        "core.Toleration{{Key:{}, Operator:{}, Value:{}, Effect:{}, TolerationSeconds:{}}}",
        go_quote(str_or_empty(t, &["key"])),
        go_quote(str_or_empty(t, &["operator"])),
        go_quote(str_or_empty(t, &["value"])),
        go_quote(str_or_empty(t, &["effect"])),
        go_ptr("int64", at(t, &["tolerationSeconds"]))
    )
}

fn validate_tolerations(e: &mut Errs, spec: &Value, path: &str) {
    for (i, t) in arr_at(spec, &["tolerations"]).iter().enumerate() {
        let ip = index(path, i);
        let k = str_or_empty(t, &["key"]);
        if !k.is_empty() {
            for msg in names::is_qualified_name(k) {
                e.invalid(&child(&ip, "key"), bs(k), &msg);
            }
        }
        let op = str_or_empty(t, &["operator"]);
        if k.is_empty() && op != "Exists" {
            e.invalid(
                &child(&ip, "operator"),
                bs(op),
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            );
        }
        let effect = str_or_empty(t, &["effect"]);
        if at(t, &["tolerationSeconds"]).is_some() && effect != "NoExecute" {
            e.invalid(
                &child(&ip, "effect"),
                bs(effect),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            );
        }
        match op {
            "Equal" | "" => {
                let value = str_or_empty(t, &["value"]);
                let errs = names::is_valid_label_value(value);
                if !errs.is_empty() {
                    e.invalid(&child(&ip, "operator"), bs(value), &errs.join(";"));
                }
            }
            "Exists" => {
                if !str_or_empty(t, &["value"]).is_empty() {
                    e.invalid(
                        &child(&ip, "operator"),
                        Bad::Raw(go_toleration(t)),
                        "value must be empty when `operator` is 'Exists'",
                    );
                }
            }
            _ => e.not_supported(&child(&ip, "operator"), bs(op), &["Equal", "Exists"]),
        }
        if !effect.is_empty() && !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect)
        {
            e.not_supported(
                &child(&ip, "effect"),
                bs(effect),
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            );
        }
    }
}

/// `ValidatePodSpec` (the parts the embedded cluster can meaningfully check).
fn validate_pod_spec(e: &mut Errs, spec: &Value, path: &str) {
    let volumes = validate_volumes(e, spec, &child(path, "volumes"));
    validate_containers(e, spec, &child(path, "containers"), &volumes);
    validate_init_containers(e, spec, &child(path, "initContainers"), &volumes);
    let rp = str_or_empty(spec, &["restartPolicy"]);
    match rp {
        "Always" | "OnFailure" | "Never" => {}
        "" => e.required(&child(path, "restartPolicy"), ""),
        _ => e.not_supported(
            &child(path, "restartPolicy"),
            bs(rp),
            &["Always", "OnFailure", "Never"],
        ),
    }
    let dp = str_or_empty(spec, &["dnsPolicy"]);
    match dp {
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        "" => e.required(&child(path, "dnsPolicy"), ""),
        _ => e.not_supported(
            &child(path, "dnsPolicy"),
            bs(dp),
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        ),
    }
    validate_labels(e, at(spec, &["nodeSelector"]), &child(path, "nodeSelector"));
    if dp == "None" && at(spec, &["dnsConfig"]).is_none() {
        e.required(
            &child(path, "dnsConfig"),
            "must provide `dnsConfig` when `dnsPolicy` is None",
        );
    }
    for (f, label) in [
        ("serviceAccountName", false),
        ("nodeName", false),
        ("hostname", true),
        ("subdomain", true),
    ] {
        let v = str_or_empty(spec, &[f]);
        if v.is_empty() {
            continue;
        }
        let msgs = if label {
            names::is_dns1123_label(v)
        } else {
            names::is_dns1123_subdomain(v)
        };
        for msg in msgs {
            e.invalid(&child(path, f), bs(v), &msg);
        }
    }
    if let Some(ads) = gi(spec, "activeDeadlineSeconds")
        && !(1..=MAX_INT32).contains(&ads)
    {
        e.invalid(
            &child(path, "activeDeadlineSeconds"),
            Bad::Int(ads),
            &names::inclusive_range_error(1, MAX_INT32),
        );
    }
    validate_tolerations(e, spec, &child(path, "tolerations"));
}

/// `ValidatePodTemplateSpec`: the template's labels/annotations (at `<path>.labels`, as
/// upstream) and its pod spec.
fn validate_pod_template(e: &mut Errs, tmpl: &Value, path: &str) {
    let meta = &tmpl["metadata"];
    validate_labels(e, at(meta, &["labels"]), &child(path, "labels"));
    validate_annotations(e, at(meta, &["annotations"]), &child(path, "annotations"));
    let spec = &tmpl["spec"];
    validate_pod_spec(e, spec, &child(path, "spec"));
    if !arr_at(spec, &["ephemeralContainers"]).is_empty() {
        e.forbidden(
            &child(&child(path, "spec"), "ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        );
    }
}

// =======================================================================================
// Pod

const POD_UPDATE_MSG: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

fn validate_pod(e: &mut Errs, obj: &Value, old: Option<&Value>) {
    let spec = &obj["spec"];
    validate_pod_spec(e, spec, "spec");
    if let Some(old) = old {
        validate_pod_update(e, spec, &old["spec"]);
    }
}

fn validate_container_updates(e: &mut Errs, new: &[Value], old: &[Value], path: &str) -> bool {
    if new.len() != old.len() {
        e.forbidden(path, "pod updates may not add or remove containers");
        return true;
    }
    for (i, c) in new.iter().enumerate() {
        let image = str_or_empty(c, &["image"]);
        if image.is_empty() {
            e.required(&child(&index(path, i), "image"), "");
        }
        if image.trim() != image {
            e.invalid(
                &child(&index(path, i), "image"),
                bs(image),
                "must not have leading or trailing whitespace",
            );
        }
    }
    false
}

fn validate_pod_update(e: &mut Errs, spec: &Value, old_spec: &Value) {
    if validate_container_updates(
        e,
        arr_at(spec, &["containers"]),
        arr_at(old_spec, &["containers"]),
        "spec.containers",
    ) {
        return;
    }
    if validate_container_updates(
        e,
        arr_at(spec, &["initContainers"]),
        arr_at(old_spec, &["initContainers"]),
        "spec.initContainers",
    ) {
        return;
    }
    let ads_path = "spec.activeDeadlineSeconds";
    match (
        gi(spec, "activeDeadlineSeconds"),
        gi(old_spec, "activeDeadlineSeconds"),
    ) {
        (Some(n), old) => {
            if !(0..=MAX_INT32).contains(&n) {
                e.invalid(
                    ads_path,
                    Bad::Int(n),
                    &names::inclusive_range_error(0, MAX_INT32),
                );
                return;
            }
            if old.is_some_and(|o| o < n) {
                e.invalid(
                    ads_path,
                    Bad::Int(n),
                    "must be less than or equal to previous value",
                );
                return;
            }
        }
        (None, Some(_)) => e.invalid(
            ads_path,
            bs("null"),
            "must not update from a positive integer to nil value",
        ),
        (None, None) => {}
    }
    // Tolerations: only additions (and tolerationSeconds changes).
    let new_tols = arr_at(spec, &["tolerations"]);
    let strip = |t: &Value| {
        let mut t = t.clone();
        if let Some(m) = t.as_object_mut() {
            m.remove("tolerationSeconds");
        }
        t
    };
    for old_t in arr_at(old_spec, &["tolerations"]) {
        let found = new_tols
            .iter()
            .any(|n| sem_eq(Some(&strip(n)), Some(&strip(old_t))));
        if !found {
            e.forbidden(
                "spec.tolerations",
                "existing toleration can not be modified except its tolerationSeconds",
            );
            break;
        }
    }
    if sem_eq(Some(spec), Some(old_spec)) {
        return;
    }
    // Munge the updatable fields from the old spec, then compare.
    let mut munged = spec.clone();
    if let Some(m) = munged.as_object_mut() {
        for list in ["containers", "initContainers"] {
            let old_list = arr_at(old_spec, &[list]);
            if let Some(items) = m.get_mut(list).and_then(Value::as_array_mut) {
                for (i, c) in items.iter_mut().enumerate() {
                    if let (Some(c), Some(old_c)) = (c.as_object_mut(), old_list.get(i)) {
                        c.insert("image".into(), old_c["image"].clone());
                    }
                }
            }
        }
        for f in ["activeDeadlineSeconds", "tolerations", "schedulingGates"] {
            match old_spec.get(f) {
                Some(v) => {
                    m.insert(f.into(), v.clone());
                }
                None => {
                    m.remove(f);
                }
            }
        }
        let old_tgps = gi(old_spec, "terminationGracePeriodSeconds");
        if old_tgps.is_some_and(|t| t < 0)
            && gi(spec, "terminationGracePeriodSeconds") == Some(1)
            && let Some(v) = old_spec.get("terminationGracePeriodSeconds")
        {
            m.insert("terminationGracePeriodSeconds".into(), v.clone());
        }
    }
    if !sem_eq(Some(&munged), Some(old_spec)) {
        e.forbidden("spec", POD_UPDATE_MSG);
    }
}

// =======================================================================================
// apps/v1

/// Selector checks shared by Deployment, ReplicaSet and StatefulSet. Answers whether the
/// selector converts (so the template can be checked against it).
fn validate_workload_selector(
    e: &mut Errs,
    spec: &Value,
    what: &str,
    invalid_detail: &str,
) -> bool {
    let sel = at(spec, &["selector"]);
    match sel {
        None => e.required("spec.selector", ""),
        Some(s) => {
            validate_label_selector(e, s, "spec.selector");
            if selector_is_empty(s) {
                e.invalid(
                    "spec.selector",
                    Bad::Raw(go_label_selector(s)),
                    &format!("empty selector is invalid for {what}"),
                );
            }
        }
    }
    match sel {
        Some(s) if !selector_convertible(s) => {
            e.invalid(
                "spec.selector",
                Bad::Raw(go_label_selector(s)),
                invalid_detail,
            );
            false
        }
        _ => true,
    }
}

/// The template labels must be selected by the selector (a nil selector selects nothing;
/// an empty one everything).
fn check_template_labels(e: &mut Errs, spec: &Value) {
    let sel = at(spec, &["selector"]);
    let labels = at(spec, &["template", "metadata", "labels"]);
    let must_match = sel.is_none_or(|s| !selector_is_empty(s));
    let matches = sel.is_some_and(|s| selector_matches(s, labels.unwrap_or(&NULL)));
    if must_match && !matches {
        e.invalid(
            "spec.template.metadata.labels",
            Bad::Raw(go_string_map(labels)),
            "`selector` does not match template `labels`",
        );
    }
}

/// `ValidatePodTemplateSpecForReplicaSet`.
fn validate_template_for_replica_set(e: &mut Errs, spec: &Value) {
    check_template_labels(e, spec);
    let tmpl = &spec["template"];
    validate_pod_template(e, tmpl, "spec.template");
    let tspec = &tmpl["spec"];
    let rp = str_or_empty(tspec, &["restartPolicy"]);
    if rp != "Always" {
        e.not_supported("spec.template.spec.restartPolicy", bs(rp), &["Always"]);
    }
    if at(tspec, &["activeDeadlineSeconds"]).is_some() {
        e.forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            "activeDeadlineSeconds in ReplicaSet is not Supported",
        );
    }
}

/// `getIntOrPercentValue`.
fn int_or_percent_value(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::String(s)) => {
            let digits = s.strip_suffix('%').unwrap_or(s);
            digits.parse().unwrap_or(0)
        }
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

fn validate_positive_int_or_percent(e: &mut Errs, v: Option<&Value>, path: &str) {
    match v {
        Some(Value::String(s)) => {
            for msg in names::is_valid_percent(s) {
                e.invalid(path, Bad::Raw(go_int_or_string(v)), &msg);
            }
        }
        Some(Value::Number(n)) => {
            let n = n.as_i64().unwrap_or(0);
            if n < 0 {
                e.invalid(path, Bad::Int(n), NEGATIVE);
            }
        }
        _ => {}
    }
}

fn validate_not_more_than_100_percent(e: &mut Errs, v: Option<&Value>, path: &str) {
    if let Some(Value::String(s)) = v
        && names::is_valid_percent(s).is_empty()
        && int_or_percent_value(v) > 100
    {
        e.invalid(
            path,
            Bad::Raw(go_int_or_string(v)),
            "must not be greater than 100%",
        );
    }
}

fn validate_deployment_strategy(e: &mut Errs, spec: &Value) {
    let st = &spec["strategy"];
    let ru = at(st, &["rollingUpdate"]);
    match str_or_empty(st, &["type"]) {
        "Recreate" => {
            if ru.is_some() {
                e.forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                );
            }
        }
        "RollingUpdate" => match ru {
            None => e.required(
                "spec.strategy.rollingUpdate",
                "this should be defaulted and never be nil",
            ),
            Some(ru) => {
                let p = "spec.strategy.rollingUpdate";
                let mu = at(ru, &["maxUnavailable"]);
                let ms = at(ru, &["maxSurge"]);
                validate_positive_int_or_percent(e, mu, &child(p, "maxUnavailable"));
                validate_positive_int_or_percent(e, ms, &child(p, "maxSurge"));
                if int_or_percent_value(mu) == 0 && int_or_percent_value(ms) == 0 {
                    e.invalid(
                        &child(p, "maxUnavailable"),
                        Bad::Raw(go_int_or_string(mu)),
                        "may not be 0 when `maxSurge` is 0",
                    );
                }
                validate_not_more_than_100_percent(e, mu, &child(p, "maxUnavailable"));
            }
        },
        other => e.not_supported(
            "spec.strategy",
            Bad::Raw(format!(
                "apps.DeploymentStrategy{{Type:{}, RollingUpdate:{}}}",
                go_quote(other),
                go_ptr("apps.RollingUpdateDeployment", ru)
            )),
            &["Recreate", "RollingUpdate"],
        ),
    }
}

fn selector_immutable(e: &mut Errs, obj: &Value, old: &Value) {
    let sel = at(&obj["spec"], &["selector"]);
    let old_sel = at(&old["spec"], &["selector"]);
    if !sem_eq(sel, old_sel) {
        let v = sel.map_or_else(|| bs("null"), |s| Bad::Raw(go_label_selector(s)));
        e.invalid("spec.selector", v, IMMUTABLE);
    }
}

fn validate_deployment(e: &mut Errs, obj: &Value, old: Option<&Value>) {
    let spec = &obj["spec"];
    e.nonneg(spec, "replicas", "spec.replicas");
    if validate_workload_selector(e, spec, "deployment", "invalid label selector") {
        validate_template_for_replica_set(e, spec);
    }
    validate_deployment_strategy(e, spec);
    e.nonneg(spec, "minReadySeconds", "spec.minReadySeconds");
    e.nonneg(spec, "revisionHistoryLimit", "spec.revisionHistoryLimit");
    if let Some(pds) = gi(spec, "progressDeadlineSeconds") {
        if pds < 0 {
            e.invalid("spec.progressDeadlineSeconds", Bad::Int(pds), NEGATIVE);
        }
        if pds <= gi(spec, "minReadySeconds").unwrap_or(0) {
            e.invalid(
                "spec.progressDeadlineSeconds",
                Bad::Int(pds),
                "must be greater than minReadySeconds",
            );
        }
    }
    if let Some(old) = old {
        selector_immutable(e, obj, old);
    }
}

fn validate_replica_set(e: &mut Errs, obj: &Value, old: Option<&Value>) {
    let spec = &obj["spec"];
    e.nonneg(spec, "replicas", "spec.replicas");
    e.nonneg(spec, "minReadySeconds", "spec.minReadySeconds");
    if validate_workload_selector(e, spec, "deployment", "invalid label selector") {
        validate_template_for_replica_set(e, spec);
    }
    if let Some(old) = old {
        selector_immutable(e, obj, old);
    }
}

const STS_UPDATE_MSG: &str = "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden";

fn validate_stateful_set(e: &mut Errs, obj: &Value, old: Option<&Value>) {
    let spec = &obj["spec"];
    let pmp = str_or_empty(spec, &["podManagementPolicy"]);
    match pmp {
        "" => e.required("spec.podManagementPolicy", ""),
        "OrderedReady" | "Parallel" => {}
        _ => e.invalid(
            "spec.podManagementPolicy",
            bs(pmp),
            "must be 'OrderedReady' or 'Parallel'",
        ),
    }
    let us = &spec["updateStrategy"];
    let ru = at(us, &["rollingUpdate"]);
    let go_ru = |ru: &Value| {
        format!(
            "apps.RollingUpdateStatefulSetStrategy{{Partition:{}, MaxUnavailable:{}}}",
            gi(ru, "partition").unwrap_or(0),
            go_ptr("intstr.IntOrString", at(ru, &["maxUnavailable"]))
        )
    };
    match str_or_empty(us, &["type"]) {
        "" => e.required("spec.updateStrategy", ""),
        "OnDelete" => {
            if let Some(ru) = ru {
                e.invalid(
                    "spec.updateStrategy.rollingUpdate",
                    Bad::Raw(go_ru(ru)),
                    "only allowed for updateStrategy 'RollingUpdate'",
                );
            }
        }
        "RollingUpdate" => {
            if let Some(ru) = ru {
                let p = "spec.updateStrategy.rollingUpdate";
                e.nonneg(ru, "partition", &child(p, "partition"));
                let mu = at(ru, &["maxUnavailable"]);
                if mu.is_some() {
                    let mp = child(p, "maxUnavailable");
                    validate_positive_int_or_percent(e, mu, &mp);
                    if int_or_percent_value(mu) == 0 {
                        e.invalid(&mp, Bad::Raw(go_int_or_string(mu)), "cannot be 0");
                    }
                    validate_not_more_than_100_percent(e, mu, &mp);
                }
            }
        }
        other => e.invalid(
            "spec.updateStrategy",
            Bad::Raw(format!(
                "apps.StatefulSetUpdateStrategy{{Type:{}, RollingUpdate:{}}}",
                go_quote(other),
                go_ptr("apps.RollingUpdateStatefulSetStrategy", ru)
            )),
            "must be 'RollingUpdate' or 'OnDelete'",
        ),
    }
    e.nonneg(spec, "revisionHistoryLimit", "spec.revisionHistoryLimit");
    if let Some(p) = at(spec, &["persistentVolumeClaimRetentionPolicy"]) {
        for f in ["whenDeleted", "whenScaled"] {
            let v = str_or_empty(p, &[f]);
            if v != "Retain" && v != "Delete" {
                e.not_supported(
                    &format!("spec.persistentVolumeClaimRetentionPolicy.{f}"),
                    bs(v),
                    &["Retain", "Delete"],
                );
            }
        }
    }
    e.nonneg(spec, "replicas", "spec.replicas");
    e.nonneg(spec, "minReadySeconds", "spec.minReadySeconds");
    if let Some(o) = at(spec, &["ordinals"]) {
        e.nonneg(o, "start", "spec.ordinals.start");
    }
    if validate_workload_selector(e, spec, "statefulset", "") {
        // ValidatePodTemplateSpecForStatefulSet: labels and annotations only (upstream does
        // not validate the pod spec of a StatefulSet template).
        check_template_labels(e, spec);
        let meta = &spec["template"]["metadata"];
        validate_labels(e, at(meta, &["labels"]), "spec.template.labels");
        validate_annotations(e, at(meta, &["annotations"]), "spec.template.annotations");
    }
    let tspec = &spec["template"]["spec"];
    let rp = str_or_empty(tspec, &["restartPolicy"]);
    if rp != "Always" {
        e.not_supported("spec.template.spec.restartPolicy", bs(rp), &["Always"]);
    }
    if at(tspec, &["activeDeadlineSeconds"]).is_some() {
        e.forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            "activeDeadlineSeconds in StatefulSet is not Supported",
        );
    }
    if let Some(old) = old {
        let old_spec = &old["spec"];
        let strip = |s: &Value| {
            let mut s = s.clone();
            if let Some(m) = s.as_object_mut() {
                for f in [
                    "replicas",
                    "ordinals",
                    "template",
                    "updateStrategy",
                    "revisionHistoryLimit",
                    "persistentVolumeClaimRetentionPolicy",
                    "minReadySeconds",
                ] {
                    m.remove(f);
                }
            }
            s
        };
        if !sem_eq(Some(&strip(spec)), Some(&strip(old_spec))) {
            e.forbidden("spec", STS_UPDATE_MSG);
        }
    }
}

// =======================================================================================
// Service

fn cluster_ips(spec: &Value) -> Vec<String> {
    let ips: Vec<String> = arr_at(spec, &["clusterIPs"])
        .iter()
        .map(scalar_text)
        .collect();
    if !ips.is_empty() {
        return ips;
    }
    let ip = str_or_empty(spec, &["clusterIP"]);
    if ip.is_empty() {
        Vec::new()
    } else {
        vec![ip.to_string()]
    }
}

fn is_headless(spec: &Value) -> bool {
    str_or_empty(spec, &["type"]) == "ClusterIP" && cluster_ips(spec) == ["None"]
}

fn go_service_port(proto: &str, port: i64) -> String {
    format!(
        "core.ServicePort{{Name:\"\", Protocol:{}, AppProtocol:(*string)(nil), Port:{}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}",
        go_quote(proto),
        port
    )
}

fn validate_service(e: &mut Errs, obj: &Value, old: Option<&Value>) {
    let spec = &obj["spec"];
    let ty = str_or_empty(spec, &["type"]);
    if let Some(old) = old {
        validate_cluster_ip_update(e, spec, &old["spec"]);
    }
    let ports = arr_at(spec, &["ports"]);
    if ports.is_empty() && !is_headless(spec) && ty != "ExternalName" {
        e.required("spec.ports", "");
    }
    if ty == "ExternalName" {
        if !arr_at(spec, &["clusterIPs"]).is_empty() {
            e.forbidden(
                "spec.clusterIPs",
                "may not be set for ExternalName services",
            );
        }
        if !arr_at(spec, &["ipFamilies"]).is_empty() {
            e.forbidden(
                "spec.ipFamilies",
                "may not be set for ExternalName services",
            );
        }
        if at(spec, &["ipFamilyPolicy"]).is_some() {
            e.forbidden(
                "spec.ipFamilyPolicy",
                "may not be set for ExternalName services",
            );
        }
        let cname = str_or_empty(spec, &["externalName"]);
        let cname = cname.strip_suffix('.').unwrap_or(cname);
        if cname.is_empty() {
            e.required("spec.externalName", "");
        } else {
            for msg in names::is_dns1123_subdomain(cname) {
                e.invalid("spec.externalName", bs(cname), &msg);
            }
        }
    }
    let mut port_names: Vec<&str> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let pp = index("spec.ports", i);
        let name = str_or_empty(p, &["name"]);
        if ports.len() > 1 && name.is_empty() {
            e.required(&child(&pp, "name"), "");
        } else if !name.is_empty() {
            for msg in names::is_dns1123_label(name) {
                e.invalid(&child(&pp, "name"), bs(name), &msg);
            }
            if port_names.contains(&name) {
                e.duplicate(&child(&pp, "name"), bs(name));
            } else {
                port_names.push(name);
            }
        }
        let port = gi(p, "port").unwrap_or(0);
        for msg in names::is_valid_port_num(port) {
            e.invalid(&child(&pp, "port"), Bad::Int(port), &msg);
        }
        validate_protocol(e, str_or_empty(p, &["protocol"]), &child(&pp, "protocol"));
        validate_port_num_or_name(e, at(p, &["targetPort"]), &child(&pp, "targetPort"));
    }
    validate_labels(e, at(spec, &["selector"]), "spec.selector");
    let sa = str_or_empty(spec, &["sessionAffinity"]);
    if sa.is_empty() {
        e.required("spec.sessionAffinity", "");
    } else if sa != "ClientIP" && sa != "None" {
        e.not_supported("spec.sessionAffinity", bs(sa), &["ClientIP", "None"]);
    }
    if ty != "ExternalName" {
        let ips = cluster_ips(spec);
        let declared = arr_at(spec, &["clusterIPs"]);
        if !declared.is_empty() && scalar_text(&declared[0]) != str_or_empty(spec, &["clusterIP"]) {
            e.invalid(
                "spec.clusterIPs",
                Bad::Raw(go_strs(&ips)),
                "first value must match `clusterIP`",
            );
        }
        for (i, ip) in ips.iter().enumerate() {
            let ipp = index("spec.clusterIPs", i);
            if i == 0 && ip == "None" {
                if ips.len() > 1 {
                    e.invalid(&ipp, bs(ip), "'None' must be the first and only value");
                } else if ty != "ClusterIP" {
                    e.invalid(
                        &ipp,
                        bs(ip),
                        &format!("may not be set to 'None' for {ty} services"),
                    );
                }
                continue;
            }
            if ip.parse::<IpAddr>().is_err() {
                e.invalid(
                    &ipp,
                    bs(ip),
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                );
            }
        }
    }
    if ty.is_empty() {
        e.required("spec.type", "");
    } else if !["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"].contains(&ty) {
        e.not_supported(
            "spec.type",
            bs(ty),
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        );
    }
    if ty == "ClusterIP" {
        for (i, p) in ports.iter().enumerate() {
            if gi(p, "nodePort").unwrap_or(0) != 0 {
                e.forbidden(
                    &child(&index("spec.ports", i), "nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                );
            }
        }
    }
    let mut seen: Vec<(&str, i64)> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let k = (str_or_empty(p, &["protocol"]), gi(p, "port").unwrap_or(0));
        if seen.contains(&k) {
            e.duplicate(&index("spec.ports", i), Bad::Raw(go_service_port(k.0, k.1)));
        }
        seen.push(k);
    }
    for (f, allowed) in [
        ("externalTrafficPolicy", ["Cluster", "Local"]),
        ("internalTrafficPolicy", ["Cluster", "Local"]),
    ] {
        if let Some(v) = at(spec, &[f]) {
            let v = scalar_text(v);
            if !allowed.contains(&v.as_str()) {
                e.not_supported(&child("spec", f), bs(&v), &allowed);
            }
        }
    }
}

/// `validateUpgradeDowngradeClusterIPs`: allocated cluster IPs never change.
fn validate_cluster_ip_update(e: &mut Errs, spec: &Value, old_spec: &Value) {
    if str_or_empty(spec, &["type"]) == "ExternalName"
        || str_or_empty(old_spec, &["type"]) == "ExternalName"
    {
        return;
    }
    if is_headless(spec) && is_headless(old_spec) {
        return;
    }
    let new_ips = cluster_ips(spec);
    let old_ips = cluster_ips(old_spec);
    let rendered = Bad::Raw(go_strs(&new_ips));
    if new_ips.len() == old_ips.len() {
        for (i, ip) in old_ips.iter().enumerate() {
            if *ip != new_ips[i] {
                e.invalid(
                    &index("spec.clusterIPs", i),
                    Bad::Raw(go_strs(&new_ips)),
                    "may not change once set",
                );
            }
        }
    } else if old_ips.len() > new_ips.len() {
        if new_ips.is_empty() {
            e.invalid(
                &index("spec.clusterIPs", 0),
                rendered,
                "primary clusterIP can not be unset",
            );
        }
    } else if !old_ips.is_empty() && old_ips[0] != new_ips[0] {
        e.invalid(
            &index("spec.clusterIPs", 0),
            rendered,
            "may not change once set",
        );
    }
}

// =======================================================================================
// ConfigMap, Secret, Namespace

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

fn validate_config_map(e: &mut Errs, obj: &Value, old: Option<&Value>) {
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

fn validate_secret(e: &mut Errs, obj: &Value, old: Option<&Value>) {
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

fn validate_namespace(e: &mut Errs, obj: &Value) {
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

// =======================================================================================
// Ingress

fn validate_ingress_backend(e: &mut Errs, b: &Value, path: &str) {
    let resource = at(b, &["resource"]);
    let service = at(b, &["service"]);
    match (resource, service) {
        (Some(_), Some(_)) => {
            e.invalid(
                path,
                bs(""),
                "cannot set both resource and service backends",
            );
        }
        (Some(r), None) => {
            let rp = child(path, "resource");
            let g = str_or_empty(r, &["apiGroup"]);
            if at(r, &["apiGroup"]).is_some() {
                for msg in names::is_dns1123_subdomain(g) {
                    e.invalid(&child(&rp, "apiGroup"), bs(g), &msg);
                }
            }
            for (f, what) in [("kind", "kind is required"), ("name", "name is required")] {
                let v = str_or_empty(r, &[f]);
                if v.is_empty() {
                    e.required(&child(&rp, f), what);
                } else {
                    for msg in names::is_valid_path_segment_name(v) {
                        e.invalid(&child(&rp, f), bs(v), &msg);
                    }
                }
            }
        }
        (None, Some(s)) => {
            let sp = child(path, "service");
            let name = str_or_empty(s, &["name"]);
            if name.is_empty() {
                e.required(&child(&sp, "name"), "");
            } else {
                for msg in names::is_dns1035_label(name) {
                    e.invalid(&child(&sp, "name"), bs(name), &msg);
                }
            }
            let port = &s["port"];
            let pname = str_or_empty(port, &["name"]);
            let pnum = gi(port, "number").unwrap_or(0);
            let pp = child(&sp, "port");
            if !pname.is_empty() && pnum != 0 {
                e.invalid(path, bs(""), "cannot set both port name & port number");
            } else if !pname.is_empty() {
                for msg in names::is_valid_port_name(pname) {
                    e.invalid(&child(&pp, "name"), bs(pname), &msg);
                }
            } else if pnum != 0 {
                for msg in names::is_valid_port_num(pnum) {
                    e.invalid(&child(&pp, "number"), Bad::Int(pnum), &msg);
                }
            } else {
                e.required(path, "port name or number is required");
            }
        }
        (None, None) => e.invalid(path, bs(""), "resource or service backend is required"),
    }
}

fn validate_ingress_path(e: &mut Errs, p: &Value, path: &str) {
    let Some(pt) = at(p, &["pathType"]) else {
        e.required(&child(path, "pathType"), "pathType must be specified");
        return;
    };
    let pt = scalar_text(pt);
    let value = str_or_empty(p, &["path"]);
    let pp = child(path, "path");
    match pt.as_str() {
        "Exact" | "Prefix" => {
            if !value.starts_with('/') {
                e.invalid(&pp, bs(value), "must be an absolute path");
            }
            if !value.is_empty() {
                for seq in ["//", "/./", "/../", "%2f", "%2F"] {
                    if value.contains(seq) {
                        e.invalid(&pp, bs(value), &format!("must not contain '{seq}'"));
                    }
                }
                for suffix in ["/..", "/."] {
                    if value.ends_with(suffix) {
                        e.invalid(&pp, bs(value), &format!("cannot end with '{suffix}'"));
                    }
                }
            }
        }
        "ImplementationSpecific" => {
            if !value.is_empty() && !value.starts_with('/') {
                e.invalid(&pp, bs(value), "must be an absolute path");
            }
        }
        _ => e.not_supported(
            &child(path, "pathType"),
            bs(&pt),
            &["Exact", "ImplementationSpecific", "Prefix"],
        ),
    }
    validate_ingress_backend(e, &p["backend"], &child(path, "backend"));
}

fn validate_host(e: &mut Errs, host: &str, path: &str) -> bool {
    if host.contains('*') {
        for msg in names::is_wildcard_dns1123_subdomain(host) {
            e.invalid(path, bs(host), &msg);
        }
        true
    } else {
        for msg in names::is_dns1123_subdomain(host) {
            e.invalid(path, bs(host), &msg);
        }
        false
    }
}

fn validate_ingress(e: &mut Errs, obj: &Value) {
    let spec = &obj["spec"];
    let rules = arr_at(spec, &["rules"]);
    let default_backend = at(spec, &["defaultBackend"]);
    if rules.is_empty() && default_backend.is_none() {
        let rendered = if at(spec, &["rules"]).is_some() {
            "[]networking.IngressRule{}"
        } else {
            "[]networking.IngressRule(nil)"
        };
        e.invalid(
            "spec",
            Bad::Raw(rendered.to_string()),
            "either `defaultBackend` or `rules` must be specified",
        );
    }
    if let Some(b) = default_backend {
        validate_ingress_backend(e, b, "spec.defaultBackend");
    }
    for (i, rule) in rules.iter().enumerate() {
        let rp = index("spec.rules", i);
        let host = str_or_empty(rule, &["host"]);
        if !host.is_empty() {
            if host.parse::<IpAddr>().is_ok() {
                e.invalid(
                    &child(&rp, "host"),
                    bs(host),
                    "must be a DNS name, not an IP address",
                );
            }
            validate_host(e, host, &child(&rp, "host"));
        }
        if let Some(http) = at(rule, &["http"]) {
            let hp = child(&rp, "http");
            let paths = arr_at(http, &["paths"]);
            if paths.is_empty() {
                e.required(&child(&hp, "paths"), "");
            }
            for (j, p) in paths.iter().enumerate() {
                validate_ingress_path(e, p, &index(&child(&hp, "paths"), j));
            }
        }
    }
    for (i, tls) in arr_at(spec, &["tls"]).iter().enumerate() {
        let tp = index("spec.tls", i);
        for (j, h) in arr_at(tls, &["hosts"]).iter().enumerate() {
            validate_host(e, &scalar_text(h), &index(&child(&tp, "hosts"), j));
        }
        let secret = str_or_empty(tls, &["secretName"]);
        if !secret.is_empty() {
            for msg in names::is_dns1123_subdomain(secret) {
                e.invalid(&child(&tp, "secretName"), bs(secret), &msg);
            }
        }
    }
    if let Some(class) = at(spec, &["ingressClassName"]) {
        let class = scalar_text(class);
        for msg in names::is_dns1123_subdomain(&class) {
            e.invalid("spec.ingressClassName", bs(&class), &msg);
        }
    }
}

// =======================================================================================
// HorizontalPodAutoscaler (autoscaling/v2)

fn validate_metric_target(e: &mut Errs, t: &Value, path: &str) {
    let ty = str_or_empty(t, &["type"]);
    if ty.is_empty() {
        e.required(&child(path, "type"), "must specify a metric target type");
    }
    if !["Utilization", "Value", "AverageValue"].contains(&ty) {
        e.invalid(
            &child(path, "type"),
            bs(ty),
            "must be either Utilization, Value, or AverageValue",
        );
    }
    for f in ["value", "averageValue"] {
        if let Some(q) = at(t, &[f]) {
            let text = scalar_text(q);
            if parse_quantity(&text).is_none_or(|v| v <= 0) {
                e.invalid(&child(path, f), bs(&text), "must be positive");
            }
        }
    }
    if let Some(u) = gi(t, "averageUtilization")
        && u < 1
    {
        e.invalid(
            &child(path, "averageUtilization"),
            Bad::Int(u),
            "must be greater than 0",
        );
    }
}

const METRIC_TYPES: &[&str] = &[
    "Object",
    "Pods",
    "Resource",
    "External",
    "ContainerResource",
];

fn validate_metric(e: &mut Errs, m: &Value, path: &str) {
    let ty = str_or_empty(m, &["type"]);
    if ty.is_empty() {
        e.required(&child(path, "type"), "must specify a metric source type");
    }
    if !METRIC_TYPES.contains(&ty) {
        e.not_supported(&child(path, "type"), bs(ty), METRIC_TYPES);
    }
    let sources = [
        ("object", "Object"),
        ("pods", "Pods"),
        ("resource", "Resource"),
        ("external", "External"),
        ("containerResource", "ContainerResource"),
    ];
    let present: Vec<(&str, &str)> = sources
        .iter()
        .copied()
        .filter(|(f, _)| at(m, &[f]).is_some())
        .collect();
    if let Some((f, _)) = present.first() {
        let src = &m[f];
        let sp = child(path, f);
        if matches!(*f, "resource" | "containerResource") {
            if str_or_empty(src, &["name"]).is_empty() {
                e.required(&child(&sp, "name"), "must specify a resource name");
            }
            if *f == "containerResource" && str_or_empty(src, &["container"]).is_empty() {
                e.required(&child(&sp, "container"), "must specify a container");
            }
            let target = &src["target"];
            validate_metric_target(e, target, &child(&sp, "target"));
            let (u, v) = (
                at(target, &["averageUtilization"]),
                at(target, &["averageValue"]),
            );
            if u.is_none() && v.is_none() {
                e.required(
                    &child(&child(&sp, "target"), "averageUtilization"),
                    "must set either a target raw value or a target utilization",
                );
            }
            if u.is_some() && v.is_some() {
                e.forbidden(
                    &child(&child(&sp, "target"), "averageValue"),
                    "may not set both a target raw value and a target utilization",
                );
            }
        } else {
            validate_metric_target(e, &src["target"], &child(&sp, "target"));
        }
    }
    let expected = sources.iter().find(|(_, t)| *t == ty).map(|(f, _)| *f);
    if let Some(f) = expected
        && at(m, &[f]).is_none()
    {
        e.required(
            &child(path, f),
            "must populate information for the given metric source",
        );
    }
    if present.len() > 1 {
        for (f, _) in present.iter().filter(|(f, _)| Some(*f) != expected) {
            e.forbidden(
                &child(path, f),
                "must populate the given metric source only",
            );
        }
    }
}

fn validate_scaling_rules(e: &mut Errs, rules: &Value, path: &str) {
    if let Some(w) = gi(rules, "stabilizationWindowSeconds") {
        let wp = child(path, "stabilizationWindowSeconds");
        if w < 0 {
            e.invalid(&wp, Bad::Int(w), "must be greater than or equal to zero");
        }
        if w > 3600 {
            e.invalid(&wp, Bad::Int(w), "must be less than or equal to 3600");
        }
    }
    if let Some(sp) = at(rules, &["selectPolicy"]) {
        let sp = scalar_text(sp);
        if !["Max", "Min", "Disabled"].contains(&sp.as_str()) {
            e.not_supported(
                &child(path, "selectPolicy"),
                bs(&sp),
                &["Max", "Min", "Disabled"],
            );
        }
    }
    let policies = arr_at(rules, &["policies"]);
    let pp = child(path, "policies");
    if policies.is_empty() {
        e.required(&pp, "must specify at least one Policy");
    }
    for (i, p) in policies.iter().enumerate() {
        let ip = index(&pp, i);
        let ty = str_or_empty(p, &["type"]);
        if ty != "Pods" && ty != "Percent" {
            e.not_supported(&child(&ip, "type"), bs(ty), &["Pods", "Percent"]);
        }
        let v = gi(p, "value").unwrap_or(0);
        if v <= 0 {
            e.invalid(
                &child(&ip, "value"),
                Bad::Int(v),
                "must be greater than zero",
            );
        }
        let period = gi(p, "periodSeconds").unwrap_or(0);
        if period <= 0 {
            e.invalid(
                &child(&ip, "periodSeconds"),
                Bad::Int(period),
                "must be greater than zero",
            );
        }
        if period > 1800 {
            e.invalid(
                &child(&ip, "periodSeconds"),
                Bad::Int(period),
                "must be less than or equal to 1800",
            );
        }
    }
}

fn validate_hpa(e: &mut Errs, obj: &Value) {
    let spec = &obj["spec"];
    let min = gi(spec, "minReplicas");
    if let Some(m) = min
        && m < 1
    {
        e.invalid(
            "spec.minReplicas",
            Bad::Int(m),
            "must be greater than or equal to 1",
        );
    }
    let max = gi(spec, "maxReplicas").unwrap_or(0);
    if max < 1 {
        e.invalid("spec.maxReplicas", Bad::Int(max), "must be greater than 0");
    }
    if min.is_some_and(|m| max < m) {
        e.invalid(
            "spec.maxReplicas",
            Bad::Int(max),
            "must be greater than or equal to `minReplicas`",
        );
    }
    let target = &spec["scaleTargetRef"];
    for f in ["kind", "name"] {
        let v = str_or_empty(target, &[f]);
        let p = child("spec.scaleTargetRef", f);
        if v.is_empty() {
            e.required(&p, "");
        } else {
            for msg in names::is_valid_path_segment_name(v) {
                e.invalid(&p, bs(v), &msg);
            }
        }
    }
    for (i, m) in arr_at(spec, &["metrics"]).iter().enumerate() {
        validate_metric(e, m, &index("spec.metrics", i));
    }
    if let Some(b) = at(spec, &["behavior"]) {
        for f in ["scaleUp", "scaleDown"] {
            if let Some(r) = at(b, &[f]) {
                validate_scaling_rules(e, r, &child("spec.behavior", f));
            }
        }
    }
}

// =======================================================================================
// Gateway API (CRD schema and CEL rules, worded as the apiextensions server words them)

fn crd_range(e: &mut Errs, obj: &Value, k: &str, path: &str, min: i64, max: i64) {
    if let Some(n) = gi(obj, k) {
        if n < min {
            e.invalid(
                path,
                Bad::Int(n),
                &format!("{path} in body should be greater than or equal to {min}"),
            );
        }
        if n > max {
            e.invalid(
                path,
                Bad::Int(n),
                &format!("{path} in body should be less than or equal to {max}"),
            );
        }
    }
}

fn crd_enum(e: &mut Errs, obj: &Value, k: &str, path: &str, allowed: &[&str]) {
    if let Some(v) = at(obj, &[k]) {
        let v = scalar_text(v);
        if !allowed.contains(&v.as_str()) {
            e.not_supported(path, bs(&v), allowed);
        }
    }
}

fn crd_required_string(e: &mut Errs, obj: &Value, k: &str, path: &str) {
    if str_or_empty(obj, &[k]).is_empty() {
        e.required(path, "");
    }
}

fn validate_backend_ref(e: &mut Errs, b: &Value, path: &str) {
    crd_required_string(e, b, "name", &child(path, "name"));
    crd_range(e, b, "weight", &child(path, "weight"), 0, 1_000_000);
    crd_range(e, b, "port", &child(path, "port"), 1, 65535);
    if str_or_empty(b, &["group"]).is_empty()
        && str_or_empty(b, &["kind"]) == "Service"
        && at(b, &["port"]).is_none()
    {
        e.invalid(path, bs("object"), "Must have port for Service reference");
    }
}

fn validate_http_route(e: &mut Errs, obj: &Value) {
    let spec = &obj["spec"];
    for (i, p) in arr_at(spec, &["parentRefs"]).iter().enumerate() {
        crd_required_string(e, p, "name", &child(&index("spec.parentRefs", i), "name"));
    }
    for (i, h) in arr_at(spec, &["hostnames"]).iter().enumerate() {
        let h = scalar_text(h);
        let plain = h.strip_prefix("*.").unwrap_or(&h);
        if !names::is_dns1123_subdomain(plain).is_empty() {
            let p = index("spec.hostnames", i);
            e.invalid(
                &p,
                bs(&h),
                &format!(
                    "{p} in body should match '^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'"
                ),
            );
        }
    }
    for (ri, rule) in arr_at(spec, &["rules"]).iter().enumerate() {
        let rp = index("spec.rules", ri);
        for (mi, m) in arr_at(rule, &["matches"]).iter().enumerate() {
            let mp = index(&child(&rp, "matches"), mi);
            if let Some(path) = at(m, &["path"]) {
                let pp = child(&mp, "path");
                crd_enum(
                    e,
                    path,
                    "type",
                    &child(&pp, "type"),
                    &["Exact", "PathPrefix", "RegularExpression"],
                );
                let ty = str_or_empty(path, &["type"]);
                if (ty == "Exact" || ty == "PathPrefix")
                    && !str_or_empty(path, &["value"]).starts_with('/')
                {
                    e.invalid(
                        &pp,
                        bs("object"),
                        "value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']",
                    );
                }
            }
            for (kind, list) in [("headers", "headers"), ("queryParams", "queryParams")] {
                for (hi, h) in arr_at(m, &[list]).iter().enumerate() {
                    let hp = index(&child(&mp, kind), hi);
                    crd_enum(
                        e,
                        h,
                        "type",
                        &child(&hp, "type"),
                        &["Exact", "RegularExpression"],
                    );
                    crd_required_string(e, h, "name", &child(&hp, "name"));
                    if at(h, &["value"]).is_none() {
                        e.required(&child(&hp, "value"), "");
                    }
                }
            }
            crd_enum(
                e,
                m,
                "method",
                &child(&mp, "method"),
                &[
                    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
                ],
            );
        }
        for (bi, b) in arr_at(rule, &["backendRefs"]).iter().enumerate() {
            validate_backend_ref(e, b, &index(&child(&rp, "backendRefs"), bi));
        }
    }
}

fn validate_gateway(e: &mut Errs, obj: &Value) {
    let spec = &obj["spec"];
    crd_required_string(e, spec, "gatewayClassName", "spec.gatewayClassName");
    if at(spec, &["listeners"]).is_none() {
        e.required("spec.listeners", "");
    }
    for (i, l) in arr_at(spec, &["listeners"]).iter().enumerate() {
        let lp = index("spec.listeners", i);
        crd_required_string(e, l, "name", &child(&lp, "name"));
        crd_required_string(e, l, "protocol", &child(&lp, "protocol"));
        if at(l, &["port"]).is_none() {
            e.required(&child(&lp, "port"), "");
        }
        crd_range(e, l, "port", &child(&lp, "port"), 1, 65535);
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::resources::by_kind;
    use super::super::{default_object, invalid_message};
    use super::*;
    use serde_json::json;

    fn rt(kind: &str) -> &'static ResourceType {
        let av = match kind {
            "Deployment" | "ReplicaSet" | "StatefulSet" => "apps/v1",
            "Ingress" => "networking.k8s.io/v1",
            "HorizontalPodAutoscaler" => "autoscaling/v2",
            "HTTPRoute" | "Gateway" => "gateway.networking.k8s.io/v1",
            "Lease" => "coordination.k8s.io/v1",
            _ => "v1",
        };
        by_kind(av, kind).expect("known kind")
    }

    fn with_meta(kind: &str, mut obj: Value) -> Value {
        let rt = rt(kind);
        if let Some(m) = obj.as_object_mut() {
            let meta = m.entry("metadata").or_insert(json!({}));
            if let Some(meta) = meta.as_object_mut() {
                meta.entry("name").or_insert(json!("web"));
                if rt.namespaced {
                    meta.entry("namespace").or_insert(json!("default"));
                }
            }
        }
        default_object(rt, &mut obj);
        obj
    }

    fn check(kind: &str, obj: Value) -> Vec<String> {
        let obj = with_meta(kind, obj);
        validate(rt(kind), &obj, None, Operation::Create)
            .iter()
            .map(Cause::error_string)
            .collect()
    }

    fn check_update(kind: &str, old: Value, new: Value) -> Vec<String> {
        let old = with_meta(kind, old);
        let new = with_meta(kind, new);
        validate(rt(kind), &new, Some(&old), Operation::Update)
            .iter()
            .map(Cause::error_string)
            .collect()
    }

    #[track_caller]
    fn assert_has(errs: &[String], expected: &str) {
        assert!(
            errs.iter().any(|e| e == expected),
            "expected {expected:?} in {errs:#?}"
        );
    }

    #[track_caller]
    fn assert_has_prefix(errs: &[String], expected: &str) {
        assert!(
            errs.iter().any(|e| e.starts_with(expected)),
            "expected a cause starting with {expected:?} in {errs:#?}"
        );
    }

    fn container() -> Value {
        json!({"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}]})
    }

    fn deployment() -> Value {
        json!({"spec": {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container()]}}}})
    }

    fn deployment_with(f: impl FnOnce(&mut Value)) -> Value {
        let mut d = deployment();
        f(&mut d);
        d
    }

    // ---- formatting

    #[test]
    fn go_quote_escapes_like_strconv() {
        assert_eq!(go_quote("web"), "\"web\"");
        assert_eq!(go_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(go_quote("x\ny\t\u{1}"), "\"x\\ny\\t\\x01\"");
        assert_eq!(go_quote("héllo"), "\"héllo\"");
    }

    #[test]
    fn go_value_rendering() {
        assert_eq!(
            go_string_map(Some(&json!({"tier": "x", "app": "web"}))),
            "map[string]string{\"app\":\"web\", \"tier\":\"x\"}"
        );
        assert_eq!(go_string_map(None), "map[string]string(nil)");
        assert_eq!(go_string_map(Some(&json!({}))), "map[string]string{}");
        assert_eq!(
            go_label_selector(&json!({"matchLabels": {"app": "web"}})),
            "v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"
        );
        assert_eq!(
            go_label_selector(
                &json!({"matchExpressions": [{"key": "a", "operator": "In", "values": ["x"]}]})
            ),
            "v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:\"a\", Operator:\"In\", Values:[]string{\"x\"}}}}"
        );
        assert_eq!(
            go_int_or_string(Some(&json!(0))),
            "intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}"
        );
        assert_eq!(
            go_int_or_string(Some(&json!("150%"))),
            "intstr.IntOrString{Type:1, IntVal:0, StrVal:\"150%\"}"
        );
    }

    #[test]
    fn cause_reasons_and_bodies() {
        let mut e = Errs::default();
        e.required("a", "");
        e.invalid("b", bs("x"), "bad");
        e.not_supported("c", bs("y"), &["A", "B"]);
        e.duplicate("d", Bad::Int(3));
        e.forbidden("e", "no");
        e.too_long("f", 10);
        e.not_found("g", bs("v"));
        let got: Vec<(&str, String)> = e.0.iter().map(|c| (c.reason, c.error_string())).collect();
        assert_eq!(
            got,
            vec![
                ("FieldValueRequired", "a: Required value".to_string()),
                (
                    "FieldValueInvalid",
                    "b: Invalid value: \"x\": bad".to_string()
                ),
                (
                    "FieldValueNotSupported",
                    "c: Unsupported value: \"y\": supported values: \"A\", \"B\"".to_string()
                ),
                ("FieldValueDuplicate", "d: Duplicate value: 3".to_string()),
                ("FieldValueForbidden", "e: Forbidden: no".to_string()),
                (
                    "FieldValueTooLong",
                    "f: Too long: may not be more than 10 bytes".to_string()
                ),
                ("FieldValueNotFound", "g: Not found: \"v\"".to_string()),
            ]
        );
    }

    #[test]
    fn semantic_equality_treats_empty_as_unset() {
        assert!(sem_eq(Some(&json!({"a": [], "b": ""})), None));
        assert!(sem_eq(
            Some(&json!({"a": {"x": 1}})),
            Some(&json!({"a": {"x": 1}, "c": {}}))
        ));
        assert!(!sem_eq(Some(&json!({"a": 1})), Some(&json!({"a": 2}))));
    }

    // ---- metadata

    #[test]
    fn name_is_required_and_checked() {
        let obj = json!({"metadata": {"namespace": "default"}, "data": {}});
        let errs: Vec<String> = validate(rt("ConfigMap"), &obj, None, Operation::Create)
            .iter()
            .map(Cause::error_string)
            .collect();
        assert_eq!(
            errs,
            vec!["metadata.name: Required value: name or generateName is required"]
        );
        let errs = check("ConfigMap", json!({"metadata": {"name": "Web"}}));
        assert_eq!(
            errs,
            vec![
                "metadata.name: Invalid value: \"Web\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ]
        );
        let errs = check(
            "ConfigMap",
            json!({"metadata": {"name": "web-abcde", "generateName": "web-"}}),
        );
        assert!(errs.is_empty(), "{errs:?}");
        let errs = check(
            "ConfigMap",
            json!({"metadata": {"name": "web-abcde", "generateName": "Web-"}}),
        );
        assert_has_prefix(
            &errs,
            "metadata.generateName: Invalid value: \"Web-\": a lowercase RFC 1123 subdomain",
        );
    }

    #[test]
    fn name_rules_by_kind() {
        let errs = check("Namespace", json!({"metadata": {"name": "team.a"}}));
        assert_eq!(
            errs,
            vec!["metadata.name: Invalid value: \"team.a\": must not contain dots"]
        );
        let errs = check(
            "Service",
            json!({"metadata": {"name": "1web"}, "spec": {"clusterIP": "None"}}),
        );
        assert_has_prefix(
            &errs,
            "metadata.name: Invalid value: \"1web\": a DNS-1035 label must consist",
        );
        let errs = check("StatefulSet", json!({"metadata": {"name": "db.main"}}));
        assert_has(
            &errs,
            "metadata.name: Invalid value: \"db.main\": must not contain dots",
        );
        assert!(check("ConfigMap", json!({"metadata": {"name": "a.b"}})).is_empty());
    }

    #[test]
    fn namespace_of_object() {
        let obj = json!({"metadata": {"name": "x"}});
        let errs: Vec<String> = validate(rt("ConfigMap"), &obj, None, Operation::Create)
            .iter()
            .map(Cause::error_string)
            .collect();
        assert_eq!(errs, vec!["metadata.namespace: Required value"]);
        let errs = check("ConfigMap", json!({"metadata": {"namespace": "Bad_NS"}}));
        assert_has_prefix(
            &errs,
            "metadata.namespace: Invalid value: \"Bad_NS\": a lowercase RFC 1123 label",
        );
        let errs = check(
            "Namespace",
            json!({"metadata": {"name": "a", "namespace": "b"}}),
        );
        assert_eq!(
            errs,
            vec!["metadata.namespace: Forbidden: not allowed on this type"]
        );
    }

    #[test]
    fn labels_and_annotations() {
        let errs = check(
            "ConfigMap",
            json!({"metadata": {"labels": {"bad key": "ok", "k": "bad value"}}}),
        );
        assert_has_prefix(
            &errs,
            "metadata.labels: Invalid value: \"bad key\": name part must consist of alphanumeric characters",
        );
        assert_has_prefix(
            &errs,
            "metadata.labels: Invalid value: \"bad value\": a valid label must be an empty string",
        );
        let errs = check(
            "ConfigMap",
            json!({"metadata": {"annotations": {"Example.COM/Note": "ok", "a/b/c": "x"}}}),
        );
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_has_prefix(
            &errs,
            "metadata.annotations: Invalid value: \"a/b/c\": a qualified name must consist",
        );
        let big = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT);
        let errs = check(
            "ConfigMap",
            json!({"metadata": {"annotations": {"k": big}}}),
        );
        assert_eq!(
            errs,
            vec!["metadata.annotations: Too long: may not be more than 262144 bytes"]
        );
        let errs = check("ConfigMap", json!({"metadata": {"labels": {"n": 1}}}));
        assert_eq!(
            errs,
            vec!["metadata.labels: Invalid value: 1: must be a string"]
        );
    }

    #[test]
    fn owner_references_and_finalizers() {
        let errs = check(
            "ConfigMap",
            json!({"metadata": {"ownerReferences": [{"apiVersion": "", "kind": "", "name": "", "uid": ""}]}}),
        );
        assert_eq!(
            errs,
            vec![
                "metadata.ownerReferences.apiVersion: Invalid value: \"\": version must not be empty",
                "metadata.ownerReferences.kind: Invalid value: \"\": kind must not be empty",
                "metadata.ownerReferences.name: Invalid value: \"\": name must not be empty",
                "metadata.ownerReferences.uid: Invalid value: \"\": uid must not be empty",
            ]
        );
        let r = |n: &str| json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": n, "uid": "u", "controller": true});
        let errs = check(
            "Pod",
            json!({"metadata": {"ownerReferences": [r("a"), r("b")]}, "spec": {"containers": [container()]}}),
        );
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].ends_with("Only one reference can have Controller set to true. Found \"true\" in references for ReplicaSet/a and ReplicaSet/b"));
        let errs = check(
            "ConfigMap",
            json!({"metadata": {"finalizers": ["custom", "example.com/x"]}}),
        );
        assert_eq!(
            errs,
            vec![
                "metadata.finalizers: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified"
            ]
        );
        let errs = check("HTTPRoute", json!({"metadata": {"finalizers": ["custom"]}}));
        assert!(errs.is_empty(), "{errs:?}");
        let errs = check(
            "ConfigMap",
            json!({"metadata": {"finalizers": ["orphan", "foregroundDeletion"]}}),
        );
        assert_eq!(
            errs,
            vec![
                "metadata.finalizers: Invalid value: []string{\"orphan\", \"foregroundDeletion\"}: finalizer orphan and foregroundDeletion cannot be both set"
            ]
        );
    }

    #[test]
    fn metadata_update_immutables() {
        let errs = check_update(
            "ConfigMap",
            json!({"metadata": {"name": "a", "uid": "1"}}),
            json!({"metadata": {"name": "b", "uid": "2"}}),
        );
        assert_eq!(
            errs,
            vec![
                "metadata.name: Invalid value: \"b\": field is immutable",
                "metadata.uid: Invalid value: \"2\": field is immutable",
            ]
        );
        let errs = check_update("ConfigMap", json!({"metadata": {"uid": "1"}}), json!({}));
        assert!(errs.is_empty(), "{errs:?}");
    }

    // ---- label selectors

    #[test]
    fn selector_matching_semantics() {
        let labels = json!({"app": "web", "track": "canary"});
        assert!(selector_matches(
            &json!({"matchLabels": {"app": "web"}}),
            &labels
        ));
        assert!(!selector_matches(
            &json!({"matchLabels": {"app": "api"}}),
            &labels
        ));
        let expr = |op: &str, values: Value| json!({"matchExpressions": [{"key": "track", "operator": op, "values": values}]});
        assert!(selector_matches(
            &expr("In", json!(["canary", "stable"])),
            &labels
        ));
        assert!(!selector_matches(&expr("In", json!(["stable"])), &labels));
        assert!(selector_matches(&expr("NotIn", json!(["stable"])), &labels));
        assert!(!selector_matches(
            &expr("NotIn", json!(["canary"])),
            &labels
        ));
        assert!(selector_matches(&expr("Exists", json!([])), &labels));
        assert!(!selector_matches(&expr("DoesNotExist", json!([])), &labels));
        let absent =
            json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["x"]}]});
        assert!(selector_matches(&absent, &labels));
        let absent = json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]});
        assert!(selector_matches(&absent, &labels));
    }

    // ---- Deployment

    #[test]
    fn valid_deployment_passes() {
        assert!(check("Deployment", deployment()).is_empty());
        let d = deployment_with(|d| {
            d["spec"]["selector"] = json!({"matchExpressions": [
                {"key": "app", "operator": "In", "values": ["web", "web2"]},
                {"key": "track", "operator": "DoesNotExist"}]});
        });
        assert!(check("Deployment", d).is_empty());
    }

    #[test]
    fn deployment_without_selector() {
        let d = deployment_with(|d| {
            if let Some(s) = d["spec"].as_object_mut() {
                s.remove("selector");
            }
        });
        let obj = with_meta("Deployment", d);
        let causes = validate(rt("Deployment"), &obj, None, Operation::Create);
        let errs: Vec<String> = causes.iter().map(Cause::error_string).collect();
        assert_eq!(
            errs,
            vec![
                "spec.selector: Required value",
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`",
            ]
        );
        assert_eq!(causes[0].reason, "FieldValueRequired");
        assert_eq!(causes[1].reason, "FieldValueInvalid");
        assert_eq!(
            invalid_message(rt("Deployment"), "web", &causes),
            "Deployment.apps \"web\" is invalid: [spec.selector: Required value, spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`]"
        );
    }

    #[test]
    fn deployment_selector_must_select_template() {
        let d = deployment_with(|d| {
            d["spec"]["template"]["metadata"]["labels"] = json!({"app": "api", "tier": "x"})
        });
        assert_eq!(
            check("Deployment", d),
            vec![
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"api\", \"tier\":\"x\"}: `selector` does not match template `labels`"
            ]
        );
        let d = deployment_with(|d| {
            d["spec"]["selector"] = json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]});
        });
        assert_eq!(check("Deployment", d).len(), 1);
        let d = deployment_with(|d| {
            d["spec"]["selector"] = json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "track", "operator": "Exists"}]});
        });
        assert_has_prefix(
            &check("Deployment", d),
            "spec.template.metadata.labels: Invalid value",
        );
        let d = deployment_with(|d| {
            if let Some(t) = d["spec"]["template"].as_object_mut() {
                t.remove("metadata");
            }
        });
        assert_has(
            &check("Deployment", d),
            "spec.template.metadata.labels: Invalid value: map[string]string(nil): `selector` does not match template `labels`",
        );
    }

    #[test]
    fn deployment_selector_syntax() {
        let d = deployment_with(|d| d["spec"]["selector"] = json!({}));
        assert_eq!(
            check("Deployment", d),
            vec![
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"
            ]
        );
        let d = deployment_with(|d| {
            d["spec"]["selector"] = json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "x", "operator": "Near", "values": ["y"]}]});
        });
        let errs = check("Deployment", d);
        assert_eq!(
            errs[0],
            "spec.selector.matchExpressions[0].operator: Invalid value: \"Near\": not a valid selector operator"
        );
        assert_eq!(
            errs[1],
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web\"}, MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:\"x\", Operator:\"Near\", Values:[]string{\"y\"}}}}: invalid label selector"
        );
        let d = deployment_with(|d| {
            d["spec"]["selector"] = json!({"matchExpressions": [{"key": "app", "operator": "In"}, {"key": "b", "operator": "Exists", "values": ["z"]}]});
        });
        let errs = check("Deployment", d);
        assert_has(
            &errs,
            "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
        );
        assert_has(
            &errs,
            "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        );
        let d = deployment_with(|d| d["spec"]["selector"]["matchLabels"]["app"] = json!("web!"));
        assert_has_prefix(
            &check("Deployment", d),
            "spec.selector.matchLabels: Invalid value: \"web!\": a valid label",
        );
    }

    #[test]
    fn deployment_counts() {
        let d = deployment_with(|d| {
            d["spec"]["replicas"] = json!(-1);
            d["spec"]["minReadySeconds"] = json!(700);
        });
        assert_eq!(
            check("Deployment", d),
            vec![
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                "spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds",
            ]
        );
        let d = deployment_with(|d| d["spec"]["revisionHistoryLimit"] = json!(-2));
        assert_eq!(
            check("Deployment", d),
            vec![
                "spec.revisionHistoryLimit: Invalid value: -2: must be greater than or equal to 0"
            ]
        );
    }

    #[test]
    fn deployment_strategy_rules() {
        let d = deployment_with(|d| {
            d["spec"]["strategy"] = json!({"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}})
        });
        assert_eq!(
            check("Deployment", d),
            vec![
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: may not be 0 when `maxSurge` is 0"
            ]
        );
        let d = deployment_with(|d| {
            d["spec"]["strategy"] =
                json!({"rollingUpdate": {"maxSurge": "0%", "maxUnavailable": "0%"}})
        });
        assert_eq!(check("Deployment", d).len(), 1);
        let d = deployment_with(|d| {
            d["spec"]["strategy"] =
                json!({"rollingUpdate": {"maxUnavailable": "150%", "maxSurge": "200%"}})
        });
        assert_eq!(
            check("Deployment", d),
            vec![
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"150%\"}: must not be greater than 100%"
            ]
        );
        let d = deployment_with(|d| {
            d["spec"]["strategy"] =
                json!({"rollingUpdate": {"maxUnavailable": "ten", "maxSurge": -1}})
        });
        let errs = check("Deployment", d);
        assert_has(
            &errs,
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"ten\"}: a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
        );
        assert_has(
            &errs,
            "spec.strategy.rollingUpdate.maxSurge: Invalid value: -1: must be greater than or equal to 0",
        );
        let d = deployment_with(|d| {
            d["spec"]["strategy"] = json!({"type": "Recreate", "rollingUpdate": {"maxSurge": 1}})
        });
        assert_eq!(
            check("Deployment", d),
            vec![
                "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"
            ]
        );
        let d = deployment_with(|d| d["spec"]["strategy"] = json!({"type": "Canary"}));
        assert_eq!(
            check("Deployment", d),
            vec![
                "spec.strategy: Unsupported value: apps.DeploymentStrategy{Type:\"Canary\", RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}: supported values: \"Recreate\", \"RollingUpdate\""
            ]
        );
        let d = deployment_with(|d| d["spec"]["strategy"] = json!({"type": "Recreate"}));
        assert!(check("Deployment", d).is_empty());
    }

    #[test]
    fn deployment_selector_is_immutable() {
        let new = deployment_with(|d| {
            d["spec"]["selector"] = json!({"matchLabels": {"app": "web", "v": "2"}});
            d["spec"]["template"]["metadata"]["labels"] = json!({"app": "web", "v": "2"});
        });
        assert_eq!(
            check_update("Deployment", deployment(), new),
            vec![
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web\", \"v\":\"2\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
            ]
        );
        let scaled = deployment_with(|d| d["spec"]["replicas"] = json!(5));
        assert!(check_update("Deployment", deployment(), scaled).is_empty());
    }

    #[test]
    fn template_containers() {
        let d = deployment_with(|d| d["spec"]["template"]["spec"]["containers"] = json!([]));
        assert_eq!(
            check("Deployment", d),
            vec!["spec.template.spec.containers: Required value"]
        );
        let d = deployment_with(|d| {
            d["spec"]["template"]["spec"]["containers"] =
                json!([{"name": "Web"}, {"name": "Web", "image": "x"}])
        });
        let errs = check("Deployment", d);
        assert_has_prefix(
            &errs,
            "spec.template.spec.containers[0].name: Invalid value: \"Web\": a lowercase RFC 1123 label must consist",
        );
        assert_has(
            &errs,
            "spec.template.spec.containers[0].image: Required value",
        );
        assert_has(
            &errs,
            "spec.template.spec.containers[1].name: Duplicate value: \"Web\"",
        );
        let d = deployment_with(|d| {
            d["spec"]["template"]["spec"]["containers"] = json!([{"image": "x"}])
        });
        assert_eq!(
            check("Deployment", d),
            vec!["spec.template.spec.containers[0].name: Required value"]
        );
        let d =
            deployment_with(|d| d["spec"]["template"]["spec"]["restartPolicy"] = json!("Never"));
        assert_eq!(
            check("Deployment", d),
            vec![
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""
            ]
        );
        let d =
            deployment_with(|d| d["spec"]["template"]["spec"]["activeDeadlineSeconds"] = json!(30));
        assert_eq!(
            check("Deployment", d),
            vec![
                "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicaSet is not Supported"
            ]
        );
        let d = deployment_with(|d| {
            d["spec"]["template"]["metadata"]["labels"]["bad key"] = json!("v")
        });
        assert_has_prefix(
            &check("Deployment", d),
            "spec.template.labels: Invalid value: \"bad key\"",
        );
    }

    #[test]
    fn container_ports() {
        let d = deployment_with(|d| {
            d["spec"]["template"]["spec"]["containers"][0]["ports"] = json!([
                {"containerPort": 0}, {"containerPort": 70000, "name": "http"}, {"containerPort": 81, "name": "http"},
                {"containerPort": 82, "name": "HTTP", "protocol": "ICMP", "hostPort": -1}]);
        });
        let errs = check("Deployment", d);
        let p = "spec.template.spec.containers[0].ports";
        assert_has(&errs, &format!("{p}[0].containerPort: Required value"));
        assert_has(
            &errs,
            &format!(
                "{p}[1].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"
            ),
        );
        assert_has(&errs, &format!("{p}[2].name: Duplicate value: \"http\""));
        assert_has(
            &errs,
            &format!(
                "{p}[3].name: Invalid value: \"HTTP\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"
            ),
        );
        assert_has(
            &errs,
            &format!("{p}[3].hostPort: Invalid value: -1: must be between 1 and 65535, inclusive"),
        );
        assert_has(
            &errs,
            &format!(
                "{p}[3].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\""
            ),
        );
    }

    #[test]
    fn probes() {
        let c = "spec.template.spec.containers[0]";
        let d = deployment_with(|d| {
            d["spec"]["template"]["spec"]["containers"][0]["livenessProbe"] =
                json!({"initialDelaySeconds": 5})
        });
        assert_eq!(
            check("Deployment", d),
            vec![format!(
                "{c}.livenessProbe: Required value: must specify a handler type"
            )]
        );
        let d = deployment_with(|d| {
            d["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = json!({"httpGet": {"port": "http"}, "tcpSocket": {"port": 80}, "terminationGracePeriodSeconds": 5});
        });
        let errs = check("Deployment", d);
        assert_has(
            &errs,
            &format!(
                "{c}.readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type"
            ),
        );
        assert_has(
            &errs,
            &format!(
                "{c}.readinessProbe.terminationGracePeriodSeconds: Invalid value: 5: must not be set for readinessProbes"
            ),
        );
        let d = deployment_with(|d| {
            d["spec"]["template"]["spec"]["containers"][0]["livenessProbe"] = json!({"httpGet": {"port": 0, "scheme": "FTP"}, "successThreshold": 2, "timeoutSeconds": -1});
        });
        let errs = check("Deployment", d);
        assert_has(
            &errs,
            &format!(
                "{c}.livenessProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive"
            ),
        );
        assert_has(
            &errs,
            &format!(
                "{c}.livenessProbe.httpGet.scheme: Unsupported value: \"FTP\": supported values: \"HTTP\", \"HTTPS\""
            ),
        );
        assert_has(
            &errs,
            &format!(
                "{c}.livenessProbe.timeoutSeconds: Invalid value: -1: must be greater than or equal to 0"
            ),
        );
        assert_has(
            &errs,
            &format!("{c}.livenessProbe.successThreshold: Invalid value: 2: must be 1"),
        );
        let d = deployment_with(|d| {
            d["spec"]["template"]["spec"]["containers"][0]["startupProbe"] = json!({"exec": {}})
        });
        assert_eq!(
            check("Deployment", d),
            vec![format!("{c}.startupProbe.exec.command: Required value")]
        );
        let d = deployment_with(|d| {
            d["spec"]["template"]["spec"]["containers"][0]["livenessProbe"] =
                json!({"grpc": {"port": 9090}})
        });
        assert!(check("Deployment", d).is_empty());
    }

    #[test]
    fn env_volumes_and_mounts() {
        let c = "spec.template.spec.containers[0]";
        let d = deployment_with(|d| {
            let ps = &mut d["spec"]["template"]["spec"];
            ps["containers"][0]["env"] = json!([
                {"name": "A=B", "value": "x"}, {"name": ""}, {"name": "C", "valueFrom": {}},
                {"name": "D", "value": "v", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "E", "valueFrom": {"fieldRef": {"fieldPath": "spec.restartPolicy"}}},
                {"name": "F", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "G", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "a b"}}}]);
            ps["containers"][0]["volumeMounts"] =
                json!([{"name": "data", "mountPath": "/d"}, {"name": "cfg", "mountPath": "/d"}]);
            ps["volumes"] = json!([{"name": "cfg", "configMap": {}}, {"name": "Cfg2", "emptyDir": {}, "secret": {"secretName": "s"}}]);
        });
        let errs = check("Deployment", d);
        assert_has(
            &errs,
            &format!(
                "{c}.env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='"
            ),
        );
        assert_has(&errs, &format!("{c}.env[1].name: Required value"));
        assert_has(
            &errs,
            &format!(
                "{c}.env[2].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"
            ),
        );
        assert_has(
            &errs,
            &format!(
                "{c}.env[3].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty"
            ),
        );
        assert_has_prefix(
            &errs,
            &format!(
                "{c}.env[4].valueFrom.fieldRef.fieldPath: Unsupported value: \"spec.restartPolicy\": supported values: \"metadata.name\""
            ),
        );
        assert!(!errs.iter().any(|e| e.contains("env[5]")), "{errs:?}");
        assert_has_prefix(
            &errs,
            &format!(
                "{c}.env[6].valueFrom.configMapKeyRef.key: Invalid value: \"a b\": a valid config key"
            ),
        );
        assert_has(
            &errs,
            "spec.template.spec.volumes[0].configMap.name: Required value",
        );
        assert_has(
            &errs,
            "spec.template.spec.volumes[1].secret: Forbidden: may not specify more than 1 volume type",
        );
        assert_has_prefix(
            &errs,
            "spec.template.spec.volumes[1].name: Invalid value: \"Cfg2\"",
        );
        assert_has(
            &errs,
            &format!("{c}.volumeMounts[0].name: Not found: \"data\""),
        );
        assert_has(
            &errs,
            &format!("{c}.volumeMounts[1].name: Not found: \"cfg\""),
        );
        assert_has(
            &errs,
            &format!("{c}.volumeMounts[1].mountPath: Invalid value: \"/d\": must be unique"),
        );
    }

    #[test]
    fn resources_and_quantities() {
        assert_eq!(parse_quantity("1"), Some(1_000_000_000));
        assert_eq!(parse_quantity("500m"), Some(500_000_000));
        assert_eq!(parse_quantity("0.5"), parse_quantity("500m"));
        assert_eq!(parse_quantity("1Gi"), parse_quantity("1073741824"));
        assert_eq!(parse_quantity("1e3"), parse_quantity("1k"));
        assert_eq!(parse_quantity("-2"), Some(-2_000_000_000));
        assert_eq!(parse_quantity("1n"), Some(1));
        assert_eq!(parse_quantity("0.1n"), Some(1));
        assert!(parse_quantity("abc").is_none());
        assert!(parse_quantity("1Xi").is_none());
        assert!(parse_quantity("").is_none());
        assert!(parse_quantity("1e").is_none());
        assert_eq!(parse_quantity("1e-9223372036854775808"), Some(1));
        assert!(parse_quantity("9e9223372036854775807").is_some_and(|v| v > 0));
        assert!(parse_quantity("99999999999999999999999999999999999999Ei").is_some_and(|v| v > 0));
        let c = "spec.template.spec.containers[0].resources";
        let d = deployment_with(|d| {
            d["spec"]["template"]["spec"]["containers"][0]["resources"] = json!({
                "limits": {"cpu": "500m", "memory": "1Gi", "example.com/gpu": 1},
                "requests": {"cpu": "1", "memory": "512Mi", "example.com/gpu": 2, "gpu": "1", "disk": "-1"}});
        });
        let errs = check("Deployment", d);
        assert_has(
            &errs,
            &format!(
                "{c}.requests: Invalid value: \"1\": must be less than or equal to cpu limit of 500m"
            ),
        );
        assert_has(
            &errs,
            &format!(
                "{c}.requests: Invalid value: \"2\": must be equal to example.com/gpu limit of 1"
            ),
        );
        assert_has(
            &errs,
            &format!(
                "{c}.requests[gpu]: Invalid value: \"gpu\": must be a standard resource type or fully qualified"
            ),
        );
        assert_has(
            &errs,
            &format!(
                "{c}.requests[gpu]: Invalid value: \"gpu\": must be a standard resource for containers"
            ),
        );
        assert_has(
            &errs,
            &format!(
                "{c}.requests[disk]: Invalid value: \"-1\": must be greater than or equal to 0"
            ),
        );
        assert!(!errs.iter().any(|e| e.contains("memory")), "{errs:?}");
        let d = deployment_with(|d| {
            d["spec"]["template"]["spec"]["containers"][0]["resources"] =
                json!({"limits": {"cpu": "lots"}})
        });
        assert_has_prefix(
            &check("Deployment", d),
            &format!("{c}.limits[cpu]: Invalid value: \"lots\": quantities must match"),
        );
    }

    #[test]
    fn init_containers() {
        let d = deployment_with(|d| {
            d["spec"]["template"]["spec"]["initContainers"] = json!([
                {"name": "web", "image": "busybox"},
                {"name": "init", "image": "busybox", "livenessProbe": {"exec": {"command": ["true"]}}},
                {"name": "side", "image": "envoy", "restartPolicy": "Always", "readinessProbe": {"tcpSocket": {"port": 9901}}},
                {"name": "bad", "image": "x", "restartPolicy": "Never"}]);
        });
        let errs = check("Deployment", d);
        let p = "spec.template.spec.initContainers";
        assert_eq!(
            errs,
            vec![
                format!("{p}[0].name: Duplicate value: \"web\""),
                format!(
                    "{p}[1].livenessProbe: Forbidden: may not be set for init containers without restartPolicy=Always"
                ),
                format!(
                    "{p}[3].restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""
                ),
            ]
        );
    }

    // ---- ReplicaSet / StatefulSet

    #[test]
    fn replica_set_rules() {
        assert!(check("ReplicaSet", deployment()).is_empty());
        let rs = deployment_with(|d| d["spec"]["selector"] = json!({"matchLabels": {}}));
        assert_eq!(
            check("ReplicaSet", rs),
            vec![
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"
            ]
        );
        let new = deployment_with(|d| {
            d["spec"]["selector"] =
                json!({"matchExpressions": [{"key": "app", "operator": "Exists"}]})
        });
        assert_has_prefix(
            &check_update("ReplicaSet", deployment(), new),
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement{",
        );
    }

    fn stateful_set() -> Value {
        json!({"spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "postgres:16",
                "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql"}]}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]}})
    }

    #[test]
    fn stateful_set_rules() {
        assert!(check("StatefulSet", stateful_set()).is_empty());
        let mut s = stateful_set();
        s["spec"]["podManagementPolicy"] = json!("Random");
        s["spec"]["updateStrategy"] =
            json!({"type": "OnDelete", "rollingUpdate": {"partition": 1}});
        s["spec"]["template"]["metadata"]["labels"] = json!({"app": "other"});
        s["spec"]["template"]["spec"]["restartPolicy"] = json!("OnFailure");
        let errs = check("StatefulSet", s);
        assert_eq!(
            errs,
            vec![
                "spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'",
                "spec.updateStrategy.rollingUpdate: Invalid value: apps.RollingUpdateStatefulSetStrategy{Partition:1, MaxUnavailable:(*intstr.IntOrString)(nil)}: only allowed for updateStrategy 'RollingUpdate'",
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`",
                "spec.template.spec.restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\"",
            ]
        );
        let mut s = stateful_set();
        s["spec"]["selector"] = json!({});
        assert_eq!(
            check("StatefulSet", s),
            vec![
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for statefulset"
            ]
        );
        let mut s = stateful_set();
        s["spec"]["updateStrategy"] = json!({"rollingUpdate": {"partition": -1}});
        assert_eq!(
            check("StatefulSet", s),
            vec![
                "spec.updateStrategy.rollingUpdate.partition: Invalid value: -1: must be greater than or equal to 0"
            ]
        );
    }

    #[test]
    fn stateful_set_update_limits() {
        let mut new = stateful_set();
        new["spec"]["replicas"] = json!(3);
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("postgres:17");
        assert!(check_update("StatefulSet", stateful_set(), new).is_empty());
        let mut new = stateful_set();
        new["spec"]["volumeClaimTemplates"][0]["spec"]["resources"] =
            json!({"requests": {"storage": "2Gi"}});
        assert_eq!(
            check_update("StatefulSet", stateful_set(), new),
            vec![format!("spec: Forbidden: {STS_UPDATE_MSG}")]
        );
    }

    // ---- Pod

    fn pod() -> Value {
        json!({"spec": {"containers": [container()]}})
    }

    #[test]
    fn pod_rules() {
        assert!(check("Pod", pod()).is_empty());
        let errs = check("Pod", json!({"spec": {}}));
        assert_eq!(errs, vec!["spec.containers: Required value"]);
        let errs = check(
            "Pod",
            json!({"spec": {"containers": [container(), container()], "restartPolicy": "Sometimes", "dnsPolicy": "None"}}),
        );
        assert_eq!(
            errs,
            vec![
                "spec.containers[1].name: Duplicate value: \"web\"",
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
                "spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None",
            ]
        );
        let errs = check(
            "Pod",
            json!({"spec": {"containers": [container()], "activeDeadlineSeconds": 0, "nodeSelector": {"disk": "ssd!"},
            "tolerations": [{"operator": "Equal"}, {"key": "k", "operator": "Exists", "value": "v"}, {"key": "k", "effect": "Sometimes", "tolerationSeconds": 5}]}}),
        );
        assert_has(
            &errs,
            "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive",
        );
        assert_has_prefix(&errs, "spec.nodeSelector: Invalid value: \"ssd!\"");
        assert_has(
            &errs,
            "spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
        );
        assert_has(
            &errs,
            "spec.tolerations[1].operator: Invalid value: core.Toleration{Key:\"k\", Operator:\"Exists\", Value:\"v\", Effect:\"\", TolerationSeconds:(*int64)(nil)}: value must be empty when `operator` is 'Exists'",
        );
        assert_has(
            &errs,
            "spec.tolerations[2].effect: Invalid value: \"Sometimes\": effect must be 'NoExecute' when `tolerationSeconds` is set",
        );
        assert_has(
            &errs,
            "spec.tolerations[2].effect: Unsupported value: \"Sometimes\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
        );
    }

    #[test]
    fn pod_updates() {
        let mut new = pod();
        new["spec"]["containers"][0]["image"] = json!("nginx:1.27");
        new["spec"]["activeDeadlineSeconds"] = json!(60);
        new["metadata"] = json!({"labels": {"moved": "yes"}});
        assert!(check_update("Pod", pod(), new).is_empty());

        let mut new = pod();
        new["spec"]["containers"][0]["ports"][0]["containerPort"] = json!(8080);
        assert_eq!(
            check_update("Pod", pod(), new),
            vec![format!("spec: Forbidden: {POD_UPDATE_MSG}")]
        );

        let mut new = pod();
        new["spec"]["containers"] = json!([container(), {"name": "b", "image": "b"}]);
        let errs = check_update("Pod", pod(), new);
        assert_eq!(
            errs,
            vec!["spec.containers: Forbidden: pod updates may not add or remove containers"]
        );

        let mut old = pod();
        old["spec"]["activeDeadlineSeconds"] = json!(30);
        let mut new = pod();
        new["spec"]["activeDeadlineSeconds"] = json!(60);
        assert_eq!(
            check_update("Pod", old.clone(), new),
            vec![
                "spec.activeDeadlineSeconds: Invalid value: 60: must be less than or equal to previous value"
            ]
        );
        assert_eq!(
            check_update("Pod", old, pod()),
            vec![
                "spec.activeDeadlineSeconds: Invalid value: \"null\": must not update from a positive integer to nil value"
            ]
        );

        let mut old = pod();
        old["spec"]["tolerations"] =
            json!([{"key": "a", "operator": "Exists", "effect": "NoSchedule"}]);
        let mut new = old.clone();
        new["spec"]["tolerations"] = json!([{"key": "a", "operator": "Exists", "effect": "NoSchedule"}, {"key": "b", "operator": "Exists"}]);
        assert!(check_update("Pod", old.clone(), new).is_empty());
        assert_eq!(
            check_update("Pod", old, pod()),
            vec![
                "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"
            ]
        );
    }

    // ---- Service

    fn service() -> Value {
        json!({"spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    }

    #[test]
    fn service_rules() {
        assert!(check("Service", service()).is_empty());
        assert!(
            check(
                "Service",
                json!({"spec": {"clusterIP": "None", "selector": {"app": "db"}}})
            )
            .is_empty()
        );
        assert!(
            check(
                "Service",
                json!({"spec": {"type": "ExternalName", "externalName": "db.example.com."}})
            )
            .is_empty()
        );
        assert_eq!(
            check("Service", json!({"spec": {"selector": {"app": "web"}}})),
            vec!["spec.ports: Required value"]
        );
        let errs = check(
            "Service",
            json!({"spec": {"selector": {"app": "web!"}, "clusterIP": "10.0.0.300", "ports": [
            {"port": 80}, {"name": "http", "port": 0, "targetPort": "Http", "nodePort": 30001}, {"name": "http", "port": 80, "protocol": "TCP"}]}}),
        );
        assert_has(&errs, "spec.ports[0].name: Required value");
        assert_has(
            &errs,
            "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        );
        assert_has(
            &errs,
            "spec.ports[1].targetPort: Invalid value: \"Http\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
        );
        assert_has(&errs, "spec.ports[2].name: Duplicate value: \"http\"");
        assert_has_prefix(
            &errs,
            "spec.selector: Invalid value: \"web!\": a valid label",
        );
        assert_has(
            &errs,
            "spec.clusterIPs[0]: Invalid value: \"10.0.0.300\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
        );
        assert_has(
            &errs,
            "spec.ports[1].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
        );
        assert_has(
            &errs,
            "spec.ports[2]: Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}",
        );
        let errs = check(
            "Service",
            json!({"spec": {"type": "Magic", "sessionAffinity": "Sticky", "ports": [{"port": 1}]}}),
        );
        assert_has(
            &errs,
            "spec.type: Unsupported value: \"Magic\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
        );
        assert_has(
            &errs,
            "spec.sessionAffinity: Unsupported value: \"Sticky\": supported values: \"ClientIP\", \"None\"",
        );
        let errs = check("Service", json!({"spec": {"type": "ExternalName"}}));
        assert_eq!(errs, vec!["spec.externalName: Required value"]);
    }

    #[test]
    fn service_cluster_ip_is_immutable() {
        let mut old = service();
        old["spec"]["clusterIP"] = json!("10.96.0.10");
        let mut new = service();
        new["spec"]["clusterIP"] = json!("10.96.0.11");
        assert_eq!(
            check_update("Service", old.clone(), new),
            vec![
                "spec.clusterIPs[0]: Invalid value: []string{\"10.96.0.11\"}: may not change once set"
            ]
        );
        let mut same = service();
        same["spec"]["clusterIP"] = json!("10.96.0.10");
        same["spec"]["ports"][0]["port"] = json!(81);
        assert!(check_update("Service", old.clone(), same).is_empty());
        // A client that omits the allocated IP: the store carries it over first.
        let old = with_meta("Service", old);
        let mut new = with_meta("Service", service());
        super::super::carry_over_allocated(rt("Service"), &mut new, &old);
        assert!(validate(rt("Service"), &new, Some(&old), Operation::Update).is_empty());
        let bare = with_meta("Service", service());
        let errs: Vec<String> = validate(rt("Service"), &bare, Some(&old), Operation::Update)
            .iter()
            .map(Cause::error_string)
            .collect();
        assert_eq!(
            errs,
            vec![
                "spec.clusterIPs[0]: Invalid value: []string(nil): primary clusterIP can not be unset"
            ]
        );
    }

    // ---- Ingress

    fn ingress() -> Value {
        json!({"spec": {"ingressClassName": "nginx", "rules": [{"host": "app.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}})
    }

    #[test]
    fn ingress_rules() {
        assert!(check("Ingress", ingress()).is_empty());
        let p = "spec.rules[0].http.paths[0]";
        let mut i = ingress();
        i["spec"]["rules"][0]["http"]["paths"][0] =
            json!({"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}});
        assert_eq!(
            check("Ingress", i),
            vec![format!(
                "{p}.pathType: Required value: pathType must be specified"
            )]
        );
        let mut i = ingress();
        i["spec"]["rules"][0]["http"]["paths"][0]["pathType"] = json!("Regex");
        assert_eq!(
            check("Ingress", i),
            vec![format!(
                "{p}.pathType: Unsupported value: \"Regex\": supported values: \"Exact\", \"ImplementationSpecific\", \"Prefix\""
            )]
        );
        let mut i = ingress();
        i["spec"]["rules"][0]["http"]["paths"][0]["path"] = json!("api");
        i["spec"]["rules"][0]["http"]["paths"][0]["pathType"] = json!("Exact");
        assert_eq!(
            check("Ingress", i),
            vec![format!(
                "{p}.path: Invalid value: \"api\": must be an absolute path"
            )]
        );
        let mut i = ingress();
        i["spec"]["rules"][0]["http"]["paths"][0]["path"] = json!("/a//b/..");
        assert_eq!(
            check("Ingress", i),
            vec![
                format!("{p}.path: Invalid value: \"/a//b/..\": must not contain '//'"),
                format!("{p}.path: Invalid value: \"/a//b/..\": cannot end with '/..'")
            ]
        );
        let mut i = ingress();
        i["spec"]["rules"][0]["http"]["paths"][0]["pathType"] = json!("ImplementationSpecific");
        i["spec"]["rules"][0]["http"]["paths"][0]["path"] = json!("");
        assert!(check("Ingress", i).is_empty());
        let mut i = ingress();
        i["spec"]["rules"][0]["http"]["paths"][0]["backend"] = json!({"service": {"name": "web", "port": {}}, "resource": {"kind": "Bucket", "name": "b"}});
        assert_eq!(
            check("Ingress", i),
            vec![format!(
                "{p}.backend: Invalid value: \"\": cannot set both resource and service backends"
            )]
        );
        let mut i = ingress();
        i["spec"]["rules"][0]["http"]["paths"][0]["backend"] =
            json!({"service": {"name": "web", "port": {}}});
        assert_eq!(
            check("Ingress", i),
            vec![format!(
                "{p}.backend: Required value: port name or number is required"
            )]
        );
        let mut i = ingress();
        i["spec"]["rules"][0]["http"]["paths"][0]["backend"] =
            json!({"service": {"name": "web", "port": {"name": "http", "number": 80}}});
        assert_eq!(
            check("Ingress", i),
            vec![format!(
                "{p}.backend: Invalid value: \"\": cannot set both port name & port number"
            )]
        );
        let mut i = ingress();
        i["spec"]["rules"][0]["http"]["paths"][0]["backend"] = json!({});
        assert_eq!(
            check("Ingress", i),
            vec![format!(
                "{p}.backend: Invalid value: \"\": resource or service backend is required"
            )]
        );
        let mut i = ingress();
        i["spec"]["rules"][0]["host"] = json!("10.0.0.1");
        assert_eq!(
            check("Ingress", i),
            vec![
                "spec.rules[0].host: Invalid value: \"10.0.0.1\": must be a DNS name, not an IP address"
            ]
        );
        assert_eq!(
            check("Ingress", json!({"spec": {}})),
            vec![
                "spec: Invalid value: []networking.IngressRule(nil): either `defaultBackend` or `rules` must be specified"
            ]
        );
        let i = json!({"spec": {"tls": [{"hosts": ["*.example.com", "bad_host"]}], "defaultBackend": {"service": {"name": "web", "port": {"name": "http"}}}}});
        let errs = check("Ingress", i);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_has_prefix(&errs, "spec.tls[0].hosts[1]: Invalid value: \"bad_host\"");
    }

    // ---- ConfigMap / Secret / Namespace

    #[test]
    fn config_map_and_secret_keys() {
        assert!(
            check(
                "ConfigMap",
                json!({"data": {"app.properties": "x", "KEY_1": "y"}})
            )
            .is_empty()
        );
        let errs = check(
            "ConfigMap",
            json!({"data": {"bad key": "x", "dup": "1"}, "binaryData": {"dup": "AA=="}}),
        );
        assert_eq!(
            errs,
            vec![
                "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                "data[dup]: Invalid value: \"dup\": duplicate of key present in binaryData",
                "binaryData[dup]: Invalid value: \"dup\": duplicate of key present in data",
            ]
        );
        let big = "x".repeat(MAX_SECRET_SIZE + 1);
        assert_eq!(
            check("ConfigMap", json!({"data": {"a": big}})),
            vec!["[]: Too long: may not be more than 1048576 bytes"]
        );
        let errs = check("Secret", json!({"data": {"..x": "eA=="}}));
        assert_eq!(
            errs,
            vec!["data[..x]: Invalid value: \"..x\": must not start with '..'"]
        );
        let errs = check(
            "Secret",
            json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}}),
        );
        assert_eq!(errs, vec!["data[tls.key]: Required value"]);
        let errs = check("Secret", json!({"type": "kubernetes.io/basic-auth"}));
        assert_eq!(
            errs,
            vec![
                "data[username]: Required value",
                "data[password]: Required value"
            ]
        );
        let errs = check(
            "Secret",
            json!({"type": "kubernetes.io/service-account-token"}),
        );
        assert_eq!(
            errs,
            vec!["metadata.annotations[kubernetes.io/service-account.name]: Required value"]
        );
        // stringData is folded into data before validation.
        let errs = check("Secret", json!({"stringData": {"bad key": "v"}}));
        assert_has_prefix(&errs, "data[bad key]: Invalid value: \"bad key\"");
    }

    #[test]
    fn immutable_payloads() {
        let errs = check_update(
            "Secret",
            json!({"type": "Opaque"}),
            json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}),
        );
        assert_eq!(
            errs,
            vec!["type: Invalid value: \"kubernetes.io/tls\": field is immutable"]
        );
        let old = json!({"immutable": true, "data": {"a": "b"}});
        let errs = check_update(
            "ConfigMap",
            old.clone(),
            json!({"immutable": true, "data": {"a": "c"}}),
        );
        assert_eq!(
            errs,
            vec!["data: Forbidden: field is immutable when `immutable` is set"]
        );
        let errs = check_update("ConfigMap", old.clone(), json!({"data": {"a": "b"}}));
        assert_eq!(
            errs,
            vec!["immutable: Forbidden: field is immutable when `immutable` is set"]
        );
        assert!(
            check_update(
                "ConfigMap",
                old,
                json!({"immutable": true, "data": {"a": "b"}, "metadata": {"labels": {"x": "y"}}})
            )
            .is_empty()
        );
    }

    #[test]
    fn namespace_rules() {
        assert!(check("Namespace", json!({"metadata": {"name": "team-a"}})).is_empty());
        let errs = check(
            "Namespace",
            json!({"metadata": {"name": "team-a"}, "spec": {"finalizers": ["kubernetes", "cleanup"]}}),
        );
        assert_eq!(
            errs,
            vec![
                "spec.finalizers: Invalid value: \"cleanup\": name is neither a standard finalizer name nor is it fully qualified"
            ]
        );
    }

    // ---- HPA

    #[test]
    fn hpa_rules() {
        let ok = json!({"spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 5}});
        assert!(check("HorizontalPodAutoscaler", ok).is_empty());
        let errs = check(
            "HorizontalPodAutoscaler",
            json!({"spec": {"minReplicas": 0, "maxReplicas": 0}}),
        );
        assert_eq!(
            errs,
            vec![
                "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
                "spec.maxReplicas: Invalid value: 0: must be greater than 0",
                "spec.scaleTargetRef.kind: Required value",
                "spec.scaleTargetRef.name: Required value",
            ]
        );
        let errs = check(
            "HorizontalPodAutoscaler",
            json!({"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "a/b"}, "minReplicas": 4, "maxReplicas": 2}}),
        );
        assert_eq!(
            errs,
            vec![
                "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`",
                "spec.scaleTargetRef.name: Invalid value: \"a/b\": may not contain '/'",
            ]
        );
        let errs = check(
            "HorizontalPodAutoscaler",
            json!({"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 0}}}, {"type": "Magic"}],
            "behavior": {"scaleUp": {"policies": [{"type": "Pods", "value": 0, "periodSeconds": 3600}]}}}}),
        );
        assert_has(
            &errs,
            "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0",
        );
        assert_has(
            &errs,
            "spec.metrics[1].type: Unsupported value: \"Magic\": supported values: \"Object\", \"Pods\", \"Resource\", \"External\", \"ContainerResource\"",
        );
        assert_has(
            &errs,
            "spec.behavior.scaleUp.policies[0].value: Invalid value: 0: must be greater than zero",
        );
        assert_has(
            &errs,
            "spec.behavior.scaleUp.policies[0].periodSeconds: Invalid value: 3600: must be less than or equal to 1800",
        );
    }

    // ---- Gateway API

    fn route() -> Value {
        json!({"spec": {"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [{"name": "stable", "port": 80, "weight": 90}, {"name": "canary", "port": 80, "weight": 10}]}]}})
    }

    #[test]
    fn http_route_rules() {
        assert!(check("HTTPRoute", route()).is_empty());
        let mut r = route();
        r["spec"]["rules"][0]["backendRefs"][0]["weight"] = json!(1_000_001);
        r["spec"]["rules"][0]["backendRefs"][1]["weight"] = json!(-1);
        let b = "spec.rules[0].backendRefs";
        assert_eq!(
            check("HTTPRoute", r),
            vec![
                format!(
                    "{b}[0].weight: Invalid value: 1000001: {b}[0].weight in body should be less than or equal to 1000000"
                ),
                format!(
                    "{b}[1].weight: Invalid value: -1: {b}[1].weight in body should be greater than or equal to 0"
                ),
            ]
        );
        let mut r = route();
        r["spec"]["rules"][0]["matches"] = json!([{"path": {"type": "PathPrefix", "value": "api"}, "headers": [{"name": "x-canary", "value": "1", "type": "Prefix"}], "method": "FETCH"}]);
        r["spec"]["rules"][0]["backendRefs"] = json!([{"name": "svc"}]);
        let m = "spec.rules[0].matches[0]";
        assert_eq!(
            check("HTTPRoute", r),
            vec![
                format!(
                    "{m}.path: Invalid value: \"object\": value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']"
                ),
                format!(
                    "{m}.headers[0].type: Unsupported value: \"Prefix\": supported values: \"Exact\", \"RegularExpression\""
                ),
                format!(
                    "{m}.method: Unsupported value: \"FETCH\": supported values: \"GET\", \"HEAD\", \"POST\", \"PUT\", \"DELETE\", \"CONNECT\", \"OPTIONS\", \"TRACE\", \"PATCH\""
                ),
                format!("{b}[0]: Invalid value: \"object\": Must have port for Service reference"),
            ]
        );
        let errs = check(
            "HTTPRoute",
            json!({"spec": {"parentRefs": [{}], "hostnames": ["Bad_Host"]}}),
        );
        assert_has(&errs, "spec.parentRefs[0].name: Required value");
        assert_has_prefix(
            &errs,
            "spec.hostnames[0]: Invalid value: \"Bad_Host\": spec.hostnames[0] in body should match",
        );
    }

    #[test]
    fn gateway_rules() {
        let ok = json!({"spec": {"gatewayClassName": "sim", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}});
        assert!(check("Gateway", ok).is_empty());
        assert_eq!(
            check("Gateway", json!({"spec": {}})),
            vec![
                "spec.gatewayClassName: Required value",
                "spec.listeners: Required value"
            ]
        );
    }

    #[test]
    fn other_kinds_get_metadata_checks_only() {
        assert!(
            check(
                "Lease",
                json!({"spec": {"holderIdentity": "anything goes", "leaseDurationSeconds": -5}})
            )
            .is_empty()
        );
        assert_eq!(
            check("Lease", json!({"metadata": {"name": "Bad"}})).len(),
            1
        );
        assert!(
            check(
                "Endpoints",
                json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]})
            )
            .is_empty()
        );
    }
}
