use super::super::super::resources::by_kind;
use super::super::{default_object, invalid_message};
use super::access::sem_eq;
use super::apps::STS_UPDATE_MSG;
use super::errors::{Bad, Errs, bs};
use super::go_format::{go_int_or_string, go_label_selector, go_quote, go_string_map};
use super::pod::POD_UPDATE_MSG;
use super::quantity::parse_quantity;
use super::selector::selector_matches;
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
        d["spec"]["selector"] =
            json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]});
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
        vec!["spec.revisionHistoryLimit: Invalid value: -2: must be greater than or equal to 0"]
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
        d["spec"]["strategy"] = json!({"rollingUpdate": {"maxSurge": "0%", "maxUnavailable": "0%"}})
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
        d["spec"]["strategy"] = json!({"rollingUpdate": {"maxUnavailable": "ten", "maxSurge": -1}})
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
    let d =
        deployment_with(|d| d["spec"]["template"]["spec"]["containers"] = json!([{"image": "x"}]));
    assert_eq!(
        check("Deployment", d),
        vec!["spec.template.spec.containers[0].name: Required value"]
    );
    let d = deployment_with(|d| d["spec"]["template"]["spec"]["restartPolicy"] = json!("Never"));
    assert_eq!(
        check("Deployment", d),
        vec![
            "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""
        ]
    );
    let d = deployment_with(|d| d["spec"]["template"]["spec"]["activeDeadlineSeconds"] = json!(30));
    assert_eq!(
        check("Deployment", d),
        vec![
            "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicaSet is not Supported"
        ]
    );
    let d =
        deployment_with(|d| d["spec"]["template"]["metadata"]["labels"]["bad key"] = json!("v"));
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
        &format!("{c}.requests: Invalid value: \"2\": must be equal to example.com/gpu limit of 1"),
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
        &format!("{c}.requests[disk]: Invalid value: \"-1\": must be greater than or equal to 0"),
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
        d["spec"]["selector"] = json!({"matchExpressions": [{"key": "app", "operator": "Exists"}]})
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
    s["spec"]["updateStrategy"] = json!({"type": "OnDelete", "rollingUpdate": {"partition": 1}});
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
