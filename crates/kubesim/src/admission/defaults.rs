//! Defaulting, as the real API server does it on decode (`pkg/apis/*/v1/defaults.go` and
//! the generated defaulters), plus the few create-time mutations users always see on a real
//! cluster (Pod ServiceAccount, DefaultTolerationSeconds and Priority admission; Namespace
//! finalizer and phase; Secret `stringData` folding) and the CRD schema defaults of the
//! Gateway API types.
//!
//! A field is defaulted when it is absent or `null`; fields Kubernetes holds as non-pointer
//! scalars (strings, probe thresholds) are also defaulted when `""` / `0`, as Go's zero
//! value is indistinguishable from "unset" there. Values of an unexpected JSON type are
//! left untouched (the caller's decoder is responsible for type errors).

use base64::Engine;
use serde_json::{Map, Value, json};

use super::super::resources::ResourceType;

type Obj = Map<String, Value>;

/// Fill in the defaults for `rt` (see the module documentation).
pub fn default_object(rt: &ResourceType, obj: &mut Value) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    match (rt.group, rt.kind) {
        ("", "Pod") => default_pod(root),
        ("", "Service") => default_service(root),
        ("", "Namespace") => default_namespace(root),
        ("", "Secret") => default_secret(root),
        ("", "PersistentVolumeClaim") => default_pvc(root),
        ("", "Endpoints") => default_endpoints(root),
        ("discovery.k8s.io", "EndpointSlice") => default_endpoint_slice(root),
        ("apps", "Deployment") => default_deployment(root),
        ("apps", "ReplicaSet") => default_replica_set(root),
        ("apps", "StatefulSet") => default_stateful_set(root),
        ("autoscaling", "HorizontalPodAutoscaler") => default_hpa(root),
        ("gateway.networking.k8s.io", "HTTPRoute") => default_http_route(root),
        ("gateway.networking.k8s.io", "Gateway") => default_gateway(root),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------
// helpers

fn is_unset(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Null))
}

/// Unset, or Go's zero value for a scalar (`""`, `0`).
fn is_zero(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

fn set_if_unset(m: &mut Obj, k: &str, v: Value) {
    if is_unset(m.get(k)) {
        m.insert(k.to_string(), v);
    }
}

fn set_if_zero(m: &mut Obj, k: &str, v: Value) {
    if is_zero(m.get(k)) {
        m.insert(k.to_string(), v);
    }
}

/// The object at `k`, created when absent or null; `None` when it holds another type.
fn child<'a>(m: &'a mut Obj, k: &str) -> Option<&'a mut Obj> {
    let e = m.entry(k.to_string()).or_insert(Value::Null);
    if e.is_null() {
        *e = Value::Object(Map::new());
    }
    e.as_object_mut()
}

/// The object at `k` only when it already exists.
fn existing<'a>(m: &'a mut Obj, k: &str) -> Option<&'a mut Obj> {
    m.get_mut(k).and_then(Value::as_object_mut)
}

/// Apply `f` to each object element of the array at `k`.
fn each(m: &mut Obj, k: &str, mut f: impl FnMut(&mut Obj)) {
    if let Some(items) = m.get_mut(k).and_then(Value::as_array_mut) {
        for item in items.iter_mut() {
            if let Some(o) = item.as_object_mut() {
                f(o);
            }
        }
    }
}

fn str_of<'a>(m: &'a Obj, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or("")
}

// ---------------------------------------------------------------------------------------
// pods and pod templates

/// What kind of image pull policy Kubernetes picks for an image reference: `Always` for a
/// `latest` tag or no tag (and no digest), `IfNotPresent` otherwise.
pub fn default_pull_policy(image: &str) -> &'static str {
    if image.is_empty() {
        return "IfNotPresent";
    }
    let (name, has_digest) = match image.split_once('@') {
        Some((n, _)) => (n, true),
        None => (image, false),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    let tag = last.split_once(':').map(|(_, t)| t);
    match tag {
        Some("latest") => "Always",
        Some(_) => "IfNotPresent",
        None if has_digest => "IfNotPresent",
        None => "Always",
    }
}

fn default_http_get(h: &mut Obj) {
    set_if_zero(h, "path", json!("/"));
    set_if_zero(h, "scheme", json!("HTTP"));
}

fn default_probe(p: &mut Obj) {
    set_if_zero(p, "timeoutSeconds", json!(1));
    set_if_zero(p, "periodSeconds", json!(10));
    set_if_zero(p, "successThreshold", json!(1));
    set_if_zero(p, "failureThreshold", json!(3));
    if let Some(h) = existing(p, "httpGet") {
        default_http_get(h);
    }
    if let Some(g) = existing(p, "grpc") {
        set_if_unset(g, "service", json!(""));
    }
}

fn default_field_refs(holder: &mut Obj) {
    if let Some(f) = existing(holder, "fieldRef") {
        set_if_zero(f, "apiVersion", json!("v1"));
    }
    if let Some(r) = existing(holder, "resourceFieldRef") {
        set_if_unset(r, "divisor", json!("0"));
    }
}

fn default_container(c: &mut Obj, is_pod: bool, host_network: bool) {
    if is_zero(c.get("imagePullPolicy")) {
        let policy = default_pull_policy(str_of(c, "image"));
        c.insert("imagePullPolicy".into(), json!(policy));
    }
    set_if_zero(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_if_zero(c, "terminationMessagePolicy", json!("File"));
    each(c, "ports", |p| {
        set_if_zero(p, "protocol", json!("TCP"));
        if is_pod
            && host_network
            && is_zero(p.get("hostPort"))
            && let Some(cp) = p.get("containerPort").cloned()
        {
            p.insert("hostPort".into(), cp);
        }
    });
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = existing(c, probe) {
            default_probe(p);
        }
    }
    if let Some(lc) = existing(c, "lifecycle") {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = existing(lc, hook).and_then(|h| existing(h, "httpGet")) {
                default_http_get(h);
            }
        }
    }
    each(c, "env", |e| {
        if let Some(vf) = existing(e, "valueFrom") {
            default_field_refs(vf);
        }
    });
    if let Some(res) = child(c, "resources")
        && is_pod
    {
        // SetDefaults_Pod: requests default to limits, per resource.
        let limits = res.get("limits").and_then(Value::as_object).cloned();
        if let Some(limits) = limits.filter(|l| !l.is_empty())
            && let Some(req) = child(res, "requests")
        {
            for (k, v) in limits {
                if !req.contains_key(&k) {
                    req.insert(k, v);
                }
            }
        }
    }
}

const VOLUME_SOURCES: &[&str] = &[
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
];

/// The volume source keys Kubernetes knows.
pub fn volume_sources() -> &'static [&'static str] {
    VOLUME_SOURCES
}

fn default_downward_items(d: &mut Obj) {
    each(d, "items", default_field_refs);
}

fn default_volume(v: &mut Obj) {
    if VOLUME_SOURCES.iter().all(|s| is_unset(v.get(*s))) {
        v.insert("emptyDir".into(), json!({}));
    }
    for k in ["configMap", "secret", "projected", "downwardAPI"] {
        if let Some(src) = existing(v, k) {
            set_if_unset(src, "defaultMode", json!(420));
        }
    }
    if let Some(d) = existing(v, "downwardAPI") {
        default_downward_items(d);
    }
    if let Some(p) = existing(v, "projected") {
        each(p, "sources", |s| {
            if let Some(d) = existing(s, "downwardAPI") {
                default_downward_items(d);
            }
            if let Some(t) = existing(s, "serviceAccountToken") {
                set_if_unset(t, "expirationSeconds", json!(3600));
            }
        });
    }
    if let Some(h) = existing(v, "hostPath") {
        set_if_unset(h, "type", json!(""));
    }
    if let Some(spec) = existing(v, "ephemeral")
        .and_then(|e| existing(e, "volumeClaimTemplate"))
        .and_then(|t| existing(t, "spec"))
    {
        default_pvc_spec(spec);
    }
}

/// Defaults of a PodSpec (`is_pod`: the Pod itself rather than a template, which adds the
/// Pod-only defaults and the create-time admission plugins' mutations).
fn default_pod_spec(spec: &mut Obj, is_pod: bool) {
    set_if_zero(spec, "dnsPolicy", json!("ClusterFirst"));
    set_if_zero(spec, "restartPolicy", json!("Always"));
    set_if_unset(spec, "securityContext", json!({}));
    set_if_unset(spec, "terminationGracePeriodSeconds", json!(30));
    set_if_zero(spec, "schedulerName", json!("default-scheduler"));
    let host_network = spec.get("hostNetwork").and_then(Value::as_bool) == Some(true);
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        each(spec, list, |c| default_container(c, is_pod, host_network));
    }
    each(spec, "volumes", default_volume);

    // serviceAccount is the deprecated alias of serviceAccountName (conversion keeps them equal).
    let mut sa = str_of(spec, "serviceAccountName").to_string();
    if sa.is_empty() {
        sa = str_of(spec, "serviceAccount").to_string();
    }
    if is_pod {
        set_if_unset(spec, "enableServiceLinks", json!(true));
        // ServiceAccount admission.
        if sa.is_empty() {
            sa = "default".to_string();
        }
        // Priority admission (no PriorityClass objects exist here).
        if str_of(spec, "priorityClassName").is_empty() {
            set_if_unset(spec, "priority", json!(0));
        }
        set_if_unset(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
        default_toleration_seconds(spec);
    }
    if !sa.is_empty() {
        spec.insert("serviceAccountName".into(), json!(sa));
        spec.insert("serviceAccount".into(), json!(sa));
    }
}

/// DefaultTolerationSeconds admission: tolerate not-ready/unreachable nodes for 300 s
/// unless the pod already tolerates them.
fn default_toleration_seconds(spec: &mut Obj) {
    let tolerates = |key: &str| {
        spec.get("tolerations")
            .and_then(Value::as_array)
            .is_some_and(|ts| {
                ts.iter().any(|t| {
                    let k = t.get("key").and_then(Value::as_str).unwrap_or("");
                    let e = t.get("effect").and_then(Value::as_str).unwrap_or("");
                    (k == key || k.is_empty()) && (e == "NoExecute" || e.is_empty())
                })
            })
    };
    let add: Vec<&str> = [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ]
    .into_iter()
    .filter(|k| !tolerates(k))
    .collect();
    if add.is_empty() {
        return;
    }
    let e = spec.entry("tolerations").or_insert(Value::Null);
    if e.is_null() {
        *e = Value::Array(Vec::new());
    }
    if let Some(ts) = e.as_array_mut() {
        for key in add {
            ts.push(json!({
                "key": key,
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300
            }));
        }
    }
}

fn default_pod(root: &mut Obj) {
    if let Some(spec) = child(root, "spec") {
        default_pod_spec(spec, true);
    }
}

/// Defaults of `spec.template.spec` inside a workload's spec.
fn default_template(spec: &mut Obj) {
    if let Some(ps) = child(spec, "template").and_then(|t| child(t, "spec")) {
        default_pod_spec(ps, false);
    }
}

// ---------------------------------------------------------------------------------------
// apps/v1

fn default_deployment(root: &mut Obj) {
    let Some(spec) = child(root, "spec") else {
        return;
    };
    set_if_unset(spec, "replicas", json!(1));
    if let Some(strategy) = child(spec, "strategy") {
        set_if_zero(strategy, "type", json!("RollingUpdate"));
        if str_of(strategy, "type") == "RollingUpdate"
            && let Some(ru) = child(strategy, "rollingUpdate")
        {
            set_if_unset(ru, "maxUnavailable", json!("25%"));
            set_if_unset(ru, "maxSurge", json!("25%"));
        }
    }
    set_if_unset(spec, "revisionHistoryLimit", json!(10));
    set_if_unset(spec, "progressDeadlineSeconds", json!(600));
    default_template(spec);
}

fn default_replica_set(root: &mut Obj) {
    let Some(spec) = child(root, "spec") else {
        return;
    };
    set_if_unset(spec, "replicas", json!(1));
    default_template(spec);
}

fn default_stateful_set(root: &mut Obj) {
    let Some(spec) = child(root, "spec") else {
        return;
    };
    set_if_zero(spec, "podManagementPolicy", json!("OrderedReady"));
    if let Some(us) = child(spec, "updateStrategy") {
        if is_zero(us.get("type")) {
            us.insert("type".into(), json!("RollingUpdate"));
            set_if_unset(us, "rollingUpdate", json!({}));
        }
        if str_of(us, "type") == "RollingUpdate"
            && let Some(ru) = existing(us, "rollingUpdate")
        {
            set_if_unset(ru, "partition", json!(0));
        }
    }
    if let Some(p) = child(spec, "persistentVolumeClaimRetentionPolicy") {
        set_if_zero(p, "whenDeleted", json!("Retain"));
        set_if_zero(p, "whenScaled", json!("Retain"));
    }
    set_if_unset(spec, "replicas", json!(1));
    set_if_unset(spec, "revisionHistoryLimit", json!(10));
    default_template(spec);
    each(spec, "volumeClaimTemplates", default_pvc);
}

// ---------------------------------------------------------------------------------------
// core/v1 other than pods

fn default_pvc_spec(spec: &mut Obj) {
    set_if_unset(spec, "volumeMode", json!("Filesystem"));
}

fn default_pvc(root: &mut Obj) {
    if let Some(spec) = child(root, "spec") {
        default_pvc_spec(spec);
    }
    if let Some(status) = child(root, "status") {
        set_if_zero(status, "phase", json!("Pending"));
    }
}

fn default_service(root: &mut Obj) {
    let Some(spec) = child(root, "spec") else {
        return;
    };
    set_if_zero(spec, "sessionAffinity", json!("None"));
    if str_of(spec, "sessionAffinity") == "None" {
        spec.remove("sessionAffinityConfig");
    }
    set_if_zero(spec, "type", json!("ClusterIP"));
    each(spec, "ports", |p| {
        set_if_zero(p, "protocol", json!("TCP"));
        if is_zero(p.get("targetPort"))
            && let Some(port) = p.get("port").cloned()
        {
            p.insert("targetPort".into(), port);
        }
    });
    let ty = str_of(spec, "type").to_string();
    if (ty == "NodePort" || ty == "LoadBalancer") && is_zero(spec.get("externalTrafficPolicy")) {
        spec.insert("externalTrafficPolicy".into(), json!("Cluster"));
    }
    if matches!(ty.as_str(), "ClusterIP" | "NodePort" | "LoadBalancer") {
        set_if_unset(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        set_if_unset(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    if ty != "ExternalName" {
        set_if_unset(spec, "ipFamilies", json!(["IPv4"]));
        set_if_unset(spec, "ipFamilyPolicy", json!("SingleStack"));
        // Keep clusterIP and clusterIPs in step (the strategy's NormalizeClusterIPs on create).
        let ip = str_of(spec, "clusterIP").to_string();
        let ips_empty = spec
            .get("clusterIPs")
            .and_then(Value::as_array)
            .is_none_or(|a| a.is_empty());
        if !ip.is_empty() && ips_empty {
            spec.insert("clusterIPs".into(), json!([ip]));
        } else if ip.is_empty() && !ips_empty {
            let first = spec
                .get("clusterIPs")
                .and_then(|a| a.get(0))
                .cloned()
                .unwrap_or(Value::Null);
            if first.is_string() {
                spec.insert("clusterIP".into(), first);
            }
        }
    }
    if is_unset(root.get("status")) {
        root.insert("status".into(), json!({"loadBalancer": {}}));
    }
}

fn default_namespace(root: &mut Obj) {
    let name = root
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !name.is_empty()
        && let Some(labels) = child(root, "metadata").and_then(|m| child(m, "labels"))
    {
        labels.insert("kubernetes.io/metadata.name".into(), json!(name));
    }
    // Create-time: the `kubernetes` finalizer (kept out when a client removed the whole
    // list, as the namespace controller's finalize does).
    if let Some(spec) = child(root, "spec") {
        set_if_unset(spec, "finalizers", json!(["kubernetes"]));
    }
    if let Some(status) = child(root, "status") {
        set_if_zero(status, "phase", json!("Active"));
    }
}

/// Standard base64 with padding, as Secret data is stored.
fn base64_encode(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn default_secret(root: &mut Obj) {
    set_if_zero(root, "type", json!("Opaque"));
    // stringData is write-only: the v1 conversion folds it into data (stringData wins).
    let string_data = match root.remove("stringData") {
        Some(Value::Object(m)) => m,
        Some(other) if !other.is_null() => {
            root.insert("stringData".into(), other);
            return;
        }
        _ => return,
    };
    if let Some(data) = child(root, "data") {
        for (k, v) in string_data {
            let s = match v {
                Value::String(s) => s,
                Value::Null => String::new(),
                other => other.to_string(),
            };
            data.insert(k, json!(base64_encode(s.as_bytes())));
        }
    }
}

fn default_endpoints(root: &mut Obj) {
    each(root, "subsets", |s| {
        each(s, "ports", |p| set_if_zero(p, "protocol", json!("TCP")));
    });
}

fn default_endpoint_slice(root: &mut Obj) {
    each(root, "ports", |p| {
        set_if_unset(p, "name", json!(""));
        set_if_unset(p, "protocol", json!("TCP"));
    });
}

// ---------------------------------------------------------------------------------------
// autoscaling/v2

fn default_scaling_rules(rules: &mut Obj, up: bool) {
    set_if_unset(rules, "selectPolicy", json!("Max"));
    if up {
        set_if_unset(rules, "stabilizationWindowSeconds", json!(0));
        set_if_unset(
            rules,
            "policies",
            json!([
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15}
            ]),
        );
    } else {
        set_if_unset(
            rules,
            "policies",
            json!([{"type": "Percent", "value": 100, "periodSeconds": 15}]),
        );
    }
}

fn default_hpa(root: &mut Obj) {
    let Some(spec) = child(root, "spec") else {
        return;
    };
    set_if_unset(spec, "minReplicas", json!(1));
    let no_metrics = match spec.get("metrics") {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    };
    if no_metrics {
        spec.insert(
            "metrics".into(),
            json!([{
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}
            }]),
        );
    }
    // Behavior is only completed when the client gave one.
    if let Some(b) = existing(spec, "behavior") {
        if let Some(up) = child(b, "scaleUp") {
            default_scaling_rules(up, true);
        }
        if let Some(down) = child(b, "scaleDown") {
            default_scaling_rules(down, false);
        }
    }
}

// ---------------------------------------------------------------------------------------
// gateway.networking.k8s.io (CRD schema defaults)

fn default_backend_ref(r: &mut Obj, weighted: bool) {
    set_if_unset(r, "group", json!(""));
    set_if_unset(r, "kind", json!("Service"));
    if weighted {
        set_if_unset(r, "weight", json!(1));
    }
}

fn default_http_route(root: &mut Obj) {
    let Some(spec) = child(root, "spec") else {
        return;
    };
    each(spec, "parentRefs", |p| {
        set_if_unset(p, "group", json!("gateway.networking.k8s.io"));
        set_if_unset(p, "kind", json!("Gateway"));
    });
    set_if_unset(
        spec,
        "rules",
        json!([{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}]),
    );
    each(spec, "rules", |rule| {
        set_if_unset(
            rule,
            "matches",
            json!([{"path": {"type": "PathPrefix", "value": "/"}}]),
        );
        each(rule, "matches", |m| {
            if let Some(path) = child(m, "path") {
                set_if_unset(path, "type", json!("PathPrefix"));
                set_if_unset(path, "value", json!("/"));
            }
            each(m, "headers", |h| set_if_unset(h, "type", json!("Exact")));
            each(m, "queryParams", |q| {
                set_if_unset(q, "type", json!("Exact"))
            });
        });
        each(rule, "backendRefs", |r| {
            default_backend_ref(r, true);
            each(r, "filters", default_filter);
        });
        each(rule, "filters", default_filter);
    });
}

fn default_filter(f: &mut Obj) {
    if let Some(b) = existing(f, "requestMirror").and_then(|m| existing(m, "backendRef")) {
        default_backend_ref(b, false);
    }
}

fn default_gateway(root: &mut Obj) {
    let Some(spec) = existing(root, "spec") else {
        return;
    };
    each(spec, "listeners", |l| {
        if let Some(ar) = child(l, "allowedRoutes")
            && let Some(ns) = child(ar, "namespaces")
        {
            set_if_unset(ns, "from", json!("Same"));
        }
        if let Some(tls) = existing(l, "tls") {
            set_if_unset(tls, "mode", json!("Terminate"));
        }
    });
}

// ---------------------------------------------------------------------------------------
// Service allocations on update

fn needs_node_port(spec: Option<&Value>) -> bool {
    matches!(
        spec.and_then(|s| s.get("type")).and_then(Value::as_str),
        Some("NodePort" | "LoadBalancer")
    )
}

fn needs_cluster_ip(spec: Option<&Value>) -> bool {
    spec.and_then(|s| s.get("type")).and_then(Value::as_str) != Some("ExternalName")
}

/// Keep allocated cluster IPs and node ports a client omitted on update (the Service REST
/// storage's `patchAllocatedValues` and `NormalizeClusterIPs`).
pub(super) fn carry_over_service(obj: &mut Value, old: &Value) {
    let old_spec = old.get("spec");
    let Some(spec) = obj.as_object_mut().and_then(|r| child(r, "spec")) else {
        return;
    };
    let old_ip = old_spec
        .and_then(|s| s.get("clusterIP"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let old_ips = old_spec.and_then(|s| s.get("clusterIPs")).cloned();
    let has_ips = |v: Option<&Value>| v.and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    let new_spec_view = Value::Object(spec.clone());
    if needs_cluster_ip(old_spec) && needs_cluster_ip(Some(&new_spec_view)) {
        // An old client that omitted clusterIPs but kept clusterIP.
        if has_ips(old_ips.as_ref())
            && !has_ips(spec.get("clusterIPs"))
            && str_of(spec, "clusterIP") == old_ip
            && let Some(ips) = old_ips.clone()
        {
            spec.insert("clusterIPs".into(), ips);
        }
        if str_of(spec, "clusterIP").is_empty() && !old_ip.is_empty() {
            spec.insert("clusterIP".into(), json!(old_ip));
        }
        if !has_ips(spec.get("clusterIPs"))
            && let Some(ips) = old_ips.filter(|v| has_ips(Some(v)))
        {
            spec.insert("clusterIPs".into(), ips);
        }
    }
    if needs_node_port(old_spec) && needs_node_port(Some(&new_spec_view)) {
        let old_ports: Vec<(String, i64)> = old_spec
            .and_then(|s| s.get("ports"))
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .map(|p| {
                        (
                            p.get("name")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string(),
                            p.get("nodePort").and_then(Value::as_i64).unwrap_or(0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let used_new: Vec<i64> = spec
            .get("ports")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| p.get("nodePort").and_then(Value::as_i64))
                    .filter(|n| *n != 0)
                    .collect()
            })
            .unwrap_or_default();
        each(spec, "ports", |p| {
            if is_zero(p.get("nodePort")) {
                let name = str_of(p, "name").to_string();
                if let Some((_, np)) = old_ports.iter().find(|(n, _)| *n == name)
                    && *np != 0
                    && !used_new.contains(np)
                {
                    p.insert("nodePort".into(), json!(np));
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::resources::by_kind;
    use super::*;

    fn defaulted(api_version: &str, kind: &str, mut v: Value) -> Value {
        let rt = by_kind(api_version, kind).expect("known kind");
        default_object(rt, &mut v);
        v
    }

    #[test]
    fn pull_policy_from_image() {
        assert_eq!(default_pull_policy("nginx"), "Always");
        assert_eq!(default_pull_policy("nginx:latest"), "Always");
        assert_eq!(default_pull_policy("nginx:1.25"), "IfNotPresent");
        assert_eq!(default_pull_policy("localhost:5000/nginx"), "Always");
        assert_eq!(
            default_pull_policy("localhost:5000/nginx:v2"),
            "IfNotPresent"
        );
        assert_eq!(default_pull_policy("nginx@sha256:abc"), "IfNotPresent");
        assert_eq!(default_pull_policy("nginx:latest@sha256:abc"), "Always");
        assert_eq!(default_pull_policy(""), "IfNotPresent");
    }

    #[test]
    fn deployment_defaults() {
        let d = defaulted(
            "apps/v1",
            "Deployment",
            json!({"metadata": {"name": "web"}, "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]}}}}),
        );
        let s = &d["spec"];
        assert_eq!(s["replicas"], 1);
        assert_eq!(
            s["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(s["revisionHistoryLimit"], 10);
        assert_eq!(s["progressDeadlineSeconds"], 600);
        let ps = &s["template"]["spec"];
        assert_eq!(ps["restartPolicy"], "Always");
        assert_eq!(ps["terminationGracePeriodSeconds"], 30);
        assert_eq!(ps["dnsPolicy"], "ClusterFirst");
        assert_eq!(ps["securityContext"], json!({}));
        assert_eq!(ps["schedulerName"], "default-scheduler");
        assert!(ps.get("enableServiceLinks").is_none());
        assert!(ps.get("tolerations").is_none());
        assert!(ps.get("serviceAccountName").is_none());
        let c = &ps["containers"][0];
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(c["terminationMessagePolicy"], "File");
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        assert_eq!(c["resources"], json!({}));
    }

    #[test]
    fn deployment_keeps_explicit_values() {
        let d = defaulted(
            "apps/v1",
            "Deployment",
            json!({"spec": {"replicas": 0, "strategy": {"type": "Recreate"}, "revisionHistoryLimit": 2,
                "progressDeadlineSeconds": 60,
                "template": {"spec": {"restartPolicy": "Always", "containers": []}}}}),
        );
        assert_eq!(d["spec"]["replicas"], 0);
        assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
        assert_eq!(d["spec"]["revisionHistoryLimit"], 2);
        assert_eq!(d["spec"]["progressDeadlineSeconds"], 60);
        let d = defaulted(
            "apps/v1",
            "Deployment",
            json!({"spec": {"strategy": {"rollingUpdate": {"maxSurge": 1}}}}),
        );
        assert_eq!(
            d["spec"]["strategy"]["rollingUpdate"],
            json!({"maxSurge": 1, "maxUnavailable": "25%"})
        );
    }

    #[test]
    fn replica_set_and_stateful_set_defaults() {
        let rs = defaulted("apps/v1", "ReplicaSet", json!({"spec": {}}));
        assert_eq!(rs["spec"]["replicas"], 1);
        assert_eq!(rs["spec"]["template"]["spec"]["restartPolicy"], "Always");
        let sts = defaulted(
            "apps/v1",
            "StatefulSet",
            json!({"spec": {"volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]}}),
        );
        let s = &sts["spec"];
        assert_eq!(s["replicas"], 1);
        assert_eq!(s["podManagementPolicy"], "OrderedReady");
        assert_eq!(
            s["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        );
        assert_eq!(s["revisionHistoryLimit"], 10);
        assert_eq!(
            s["persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
        );
        assert_eq!(
            s["volumeClaimTemplates"][0]["spec"]["volumeMode"],
            "Filesystem"
        );
        assert_eq!(s["volumeClaimTemplates"][0]["status"]["phase"], "Pending");
        let sts = defaulted(
            "apps/v1",
            "StatefulSet",
            json!({"spec": {"updateStrategy": {"type": "OnDelete"}}}),
        );
        assert_eq!(sts["spec"]["updateStrategy"], json!({"type": "OnDelete"}));
        // Explicit RollingUpdate without rollingUpdate gets no partition (as upstream).
        let sts = defaulted(
            "apps/v1",
            "StatefulSet",
            json!({"spec": {"updateStrategy": {"type": "RollingUpdate"}}}),
        );
        assert_eq!(
            sts["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate"})
        );
    }

    #[test]
    fn pod_defaults_and_admission_mutations() {
        let p = defaulted(
            "v1",
            "Pod",
            json!({"spec": {"containers": [{"name": "app", "image": "app",
                "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "100m"}},
                "livenessProbe": {"httpGet": {"port": 8080}},
                "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 5, "timeoutSeconds": 0},
                "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}],
                "volumes": [{"name": "cfg", "configMap": {"name": "c"}}, {"name": "sec", "secret": {"secretName": "s"}}, {"name": "scratch"}]}}),
        );
        let s = &p["spec"];
        assert_eq!(s["enableServiceLinks"], true);
        assert_eq!(s["serviceAccountName"], "default");
        assert_eq!(s["serviceAccount"], "default");
        assert_eq!(s["priority"], 0);
        assert_eq!(s["preemptionPolicy"], "PreemptLowerPriority");
        assert_eq!(s["tolerations"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            s["tolerations"][0],
            json!({"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})
        );
        let c = &s["containers"][0];
        assert_eq!(c["imagePullPolicy"], "Always");
        assert_eq!(
            c["resources"]["requests"],
            json!({"cpu": "100m", "memory": "64Mi"})
        );
        assert_eq!(
            c["livenessProbe"],
            json!({"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
        );
        assert_eq!(c["readinessProbe"]["periodSeconds"], 5);
        assert_eq!(c["readinessProbe"]["timeoutSeconds"], 1);
        assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(s["volumes"][0]["configMap"]["defaultMode"], 420);
        assert_eq!(s["volumes"][1]["secret"]["defaultMode"], 420);
        assert_eq!(s["volumes"][2]["emptyDir"], json!({}));
    }

    #[test]
    fn pod_keeps_existing_tolerations_and_service_account() {
        let p = defaulted(
            "v1",
            "Pod",
            json!({"spec": {"serviceAccount": "builder", "hostNetwork": true,
                "tolerations": [{"operator": "Exists"}],
                "containers": [{"name": "a", "image": "a:1", "ports": [{"containerPort": 9000}]}]}}),
        );
        assert_eq!(p["spec"]["serviceAccountName"], "builder");
        assert_eq!(p["spec"]["tolerations"], json!([{"operator": "Exists"}]));
        assert_eq!(p["spec"]["containers"][0]["ports"][0]["hostPort"], 9000);
    }

    #[test]
    fn service_defaults() {
        let s = defaulted(
            "v1",
            "Service",
            json!({"spec": {"selector": {"app": "web"}, "ports": [{"port": 80}, {"port": 443, "targetPort": "https", "protocol": "TCP"}]}}),
        );
        let sp = &s["spec"];
        assert_eq!(sp["type"], "ClusterIP");
        assert_eq!(sp["sessionAffinity"], "None");
        assert_eq!(
            sp["ports"][0],
            json!({"port": 80, "protocol": "TCP", "targetPort": 80})
        );
        assert_eq!(sp["ports"][1]["targetPort"], "https");
        assert_eq!(sp["ipFamilies"], json!(["IPv4"]));
        assert_eq!(sp["ipFamilyPolicy"], "SingleStack");
        assert_eq!(sp["internalTrafficPolicy"], "Cluster");
        assert!(sp.get("externalTrafficPolicy").is_none());
        assert_eq!(s["status"], json!({"loadBalancer": {}}));

        let s = defaulted(
            "v1",
            "Service",
            json!({"spec": {"type": "ExternalName", "externalName": "example.com"}}),
        );
        assert!(s["spec"].get("ipFamilies").is_none());
        assert!(s["spec"].get("internalTrafficPolicy").is_none());

        let s = defaulted(
            "v1",
            "Service",
            json!({"spec": {"type": "LoadBalancer", "clusterIP": "None", "ports": [{"port": 80}]}}),
        );
        assert_eq!(s["spec"]["externalTrafficPolicy"], "Cluster");
        assert_eq!(s["spec"]["allocateLoadBalancerNodePorts"], true);
        assert_eq!(s["spec"]["clusterIPs"], json!(["None"]));

        let s = defaulted(
            "v1",
            "Service",
            json!({"spec": {"sessionAffinity": "None", "sessionAffinityConfig": {"clientIP": {}}}}),
        );
        assert!(s["spec"].get("sessionAffinityConfig").is_none());
    }

    #[test]
    fn namespace_secret_pvc_defaults() {
        let ns = defaulted("v1", "Namespace", json!({"metadata": {"name": "team-a"}}));
        assert_eq!(
            ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
            "team-a"
        );
        assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
        assert_eq!(ns["status"]["phase"], "Active");
        let ns = defaulted(
            "v1",
            "Namespace",
            json!({"metadata": {"name": "b"}, "spec": {"finalizers": []}, "status": {"phase": "Terminating"}}),
        );
        assert_eq!(ns["spec"]["finalizers"], json!([]));
        assert_eq!(ns["status"]["phase"], "Terminating");

        let s = defaulted(
            "v1",
            "Secret",
            json!({"data": {"a": "eA=="}, "stringData": {"user": "admin", "a": "hi!"}}),
        );
        assert_eq!(s["type"], "Opaque");
        assert_eq!(s["data"], json!({"a": "aGkh", "user": "YWRtaW4="}));
        assert!(s.get("stringData").is_none());
        let s = defaulted("v1", "Secret", json!({"type": "kubernetes.io/tls"}));
        assert_eq!(s["type"], "kubernetes.io/tls");

        let pvc = defaulted("v1", "PersistentVolumeClaim", json!({"spec": {}}));
        assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
        assert_eq!(pvc["status"]["phase"], "Pending");
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn hpa_defaults() {
        let h = defaulted(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            json!({"spec": {"maxReplicas": 5}}),
        );
        assert_eq!(h["spec"]["minReplicas"], 1);
        assert_eq!(
            h["spec"]["metrics"],
            json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}])
        );
        assert!(h["spec"].get("behavior").is_none());
        let h = defaulted(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            json!({"spec": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}, "metrics": [{"type": "Pods"}]}}),
        );
        let b = &h["spec"]["behavior"];
        assert_eq!(
            b["scaleUp"],
            json!({"selectPolicy": "Max", "stabilizationWindowSeconds": 0, "policies": [
            {"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}]})
        );
        assert_eq!(
            b["scaleDown"],
            json!({"stabilizationWindowSeconds": 60, "selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]})
        );
        assert_eq!(h["spec"]["metrics"], json!([{"type": "Pods"}]));
    }

    #[test]
    fn http_route_defaults() {
        let r = defaulted(
            "gateway.networking.k8s.io/v1",
            "HTTPRoute",
            json!({"spec": {"parentRefs": [{"name": "gw"}], "rules": [
                {"backendRefs": [{"name": "stable", "port": 80}, {"name": "canary", "port": 80, "weight": 10}]},
                {"matches": [{"headers": [{"name": "x-canary", "value": "1"}]}]}
            ]}}),
        );
        let s = &r["spec"];
        assert_eq!(
            s["parentRefs"][0],
            json!({"name": "gw", "group": "gateway.networking.k8s.io", "kind": "Gateway"})
        );
        assert_eq!(
            s["rules"][0]["matches"],
            json!([{"path": {"type": "PathPrefix", "value": "/"}}])
        );
        assert_eq!(
            s["rules"][0]["backendRefs"][0],
            json!({"name": "stable", "port": 80, "group": "", "kind": "Service", "weight": 1})
        );
        assert_eq!(s["rules"][0]["backendRefs"][1]["weight"], 10);
        assert_eq!(s["rules"][1]["matches"][0]["headers"][0]["type"], "Exact");
        assert_eq!(
            s["rules"][1]["matches"][0]["path"],
            json!({"type": "PathPrefix", "value": "/"})
        );
        let r = defaulted(
            "gateway.networking.k8s.io/v1",
            "HTTPRoute",
            json!({"spec": {}}),
        );
        assert_eq!(
            r["spec"]["rules"],
            json!([{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}])
        );
    }

    #[test]
    fn gateway_and_endpoint_defaults() {
        let g = defaulted(
            "gateway.networking.k8s.io/v1",
            "Gateway",
            json!({"spec": {"gatewayClassName": "x", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}}),
        );
        assert_eq!(
            g["spec"]["listeners"][0]["allowedRoutes"],
            json!({"namespaces": {"from": "Same"}})
        );
        let e = defaulted(
            "v1",
            "Endpoints",
            json!({"subsets": [{"ports": [{"port": 80}]}]}),
        );
        assert_eq!(e["subsets"][0]["ports"][0]["protocol"], "TCP");
        let es = defaulted(
            "discovery.k8s.io/v1",
            "EndpointSlice",
            json!({"ports": [{"port": 80}]}),
        );
        assert_eq!(
            es["ports"][0],
            json!({"port": 80, "name": "", "protocol": "TCP"})
        );
    }

    #[test]
    fn other_kinds_untouched_and_non_objects_ignored() {
        let cm = defaulted("v1", "ConfigMap", json!({"data": {"a": "b"}}));
        assert_eq!(cm, json!({"data": {"a": "b"}}));
        let weird = defaulted("apps/v1", "Deployment", json!("not an object"));
        assert_eq!(weird, json!("not an object"));
        let weird = defaulted("apps/v1", "Deployment", json!({"spec": 3}));
        assert_eq!(weird, json!({"spec": 3}));
    }

    #[test]
    fn service_carry_over_clears_nothing_on_type_change() {
        let old = json!({"spec": {"type": "ClusterIP", "clusterIP": "10.96.0.3", "clusterIPs": ["10.96.0.3"]}});
        let mut new = json!({"spec": {"type": "ExternalName", "externalName": "x.example"}});
        carry_over_service(&mut new, &old);
        assert!(new["spec"].get("clusterIP").is_none());
        let mut new = json!({"spec": {"clusterIP": "10.96.0.3"}});
        carry_over_service(&mut new, &old);
        assert_eq!(new["spec"]["clusterIPs"], json!(["10.96.0.3"]));
    }
}
