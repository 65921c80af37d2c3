//! The admission layer of the embedded API server: defaulting (what the real API server's
//! generated defaulters and create-time admission plugins fill in) and validation (the
//! 422 `Invalid` causes, worded exactly as Kubernetes words them).
//!
//! The store calls [`default_object`], then does its own name generation and cluster IP
//! allocation ([`needs_cluster_ip`]; [`set_cluster_ip`] and, on update,
//! [`carry_over_allocated`] are there to help), then [`validate`]; a non-empty answer becomes
//! a 422 Status whose message is [`invalid_message`] and whose `details.causes` are the
//! [`Cause`]s.

pub mod defaults;
pub mod validate;

pub use kube_util::names;

use serde_json::Value;

use super::resources::ResourceType;

/// One reason an object is invalid, as it appears in a 422 Status's `details.causes`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    /// `FieldValueRequired`, `FieldValueInvalid`, `FieldValueNotSupported`,
    /// `FieldValueDuplicate`, `FieldValueForbidden`, `FieldValueTooLong` or
    /// `FieldValueNotFound`.
    pub reason: &'static str,
    /// The field path, e.g. `spec.template.metadata.labels`.
    pub field: String,
    /// The message without the field, e.g.
    /// `Invalid value: "Web": a lowercase RFC 1123 subdomain must consist of ...`.
    pub message: String,
}

impl Cause {
    /// `field: message`, one element of the Status message.
    pub fn error_string(&self) -> String {
        format!("{}: {}", self.field, self.message)
    }
}

/// Which write is being admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
}

/// Fill in what the real API server defaults for this kind (mutates `obj`). Never fails;
/// values of an unexpected JSON type are left alone.
pub fn default_object(rt: &ResourceType, obj: &mut Value) {
    defaults::default_object(rt, obj);
}

/// Validate after defaulting. `old` is the stored object on update. Empty = valid.
pub fn validate(rt: &ResourceType, obj: &Value, old: Option<&Value>, op: Operation) -> Vec<Cause> {
    validate::validate(rt, obj, old, op)
}

/// `Deployment.apps`, `Pod`: the group-qualified kind Kubernetes names in messages.
pub fn qualified_kind(rt: &ResourceType) -> String {
    if rt.group.is_empty() {
        rt.kind.to_string()
    } else {
        format!("{}.{}", rt.kind, rt.group)
    }
}

/// The Status message Kubernetes builds from causes:
/// `Deployment.apps "web" is invalid: [spec.selector: Required value, ...]`
/// (a single cause has no brackets; repeated messages are listed once).
pub fn invalid_message(rt: &ResourceType, name: &str, causes: &[Cause]) -> String {
    let head = format!(
        "{} {} is invalid",
        qualified_kind(rt),
        validate::go_quote(name)
    );
    let mut seen: Vec<String> = Vec::new();
    for c in causes {
        let s = c.error_string();
        if !seen.contains(&s) {
            seen.push(s);
        }
    }
    match seen.len() {
        0 => head,
        1 => format!("{head}: {}", seen[0]),
        _ => format!("{head}: [{}]", seen.join(", ")),
    }
}

/// Whether the store must allocate a cluster IP for this Service: true unless it is of type
/// `ExternalName` or already has a `spec.clusterIP` (`"None"` means headless: none needed).
pub fn needs_cluster_ip(obj: &Value) -> bool {
    let spec = obj.get("spec");
    let ty = spec
        .and_then(|s| s.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP");
    if ty == "ExternalName" {
        return false;
    }
    let ip = spec
        .and_then(|s| s.get("clusterIP"))
        .and_then(Value::as_str)
        .unwrap_or("");
    ip.is_empty()
}

/// Record an allocated cluster IP the way the real API server does: both `spec.clusterIP`
/// and `spec.clusterIPs` (single stack).
pub fn set_cluster_ip(obj: &mut Value, ip: &str) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    let spec = root
        .entry("spec")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Some(spec) = spec.as_object_mut() {
        spec.insert("clusterIP".into(), Value::String(ip.to_string()));
        spec.insert(
            "clusterIPs".into(),
            Value::Array(vec![Value::String(ip.to_string())]),
        );
    }
}

/// On update, keep what the server allocated when the client left it out, as the real
/// Service REST storage does before validating: `spec.clusterIP`/`clusterIPs` and, for
/// NodePort/LoadBalancer services, `nodePort`s matched by port name. Call before
/// [`validate`] with the stored object as `old`. Other kinds are left alone.
pub fn carry_over_allocated(rt: &ResourceType, obj: &mut Value, old: &Value) {
    if rt.group.is_empty() && rt.kind == "Service" {
        defaults::carry_over_service(obj, old);
    }
}

#[cfg(test)]
mod tests {
    use super::super::resources::by_kind;
    use super::*;
    use serde_json::json;

    fn cause(field: &str, message: &str) -> Cause {
        Cause {
            reason: "FieldValueRequired",
            field: field.into(),
            message: message.into(),
        }
    }

    #[test]
    fn message_forms() {
        let rt = by_kind("apps/v1", "Deployment").expect("deployment");
        assert_eq!(
            invalid_message(rt, "web", &[]),
            "Deployment.apps \"web\" is invalid"
        );
        assert_eq!(
            invalid_message(rt, "web", &[cause("spec.selector", "Required value")]),
            "Deployment.apps \"web\" is invalid: spec.selector: Required value"
        );
        let two = [
            cause("spec.selector", "Required value"),
            cause("spec.selector", "Required value"),
            cause("spec.template.spec.containers", "Required value"),
        ];
        assert_eq!(
            invalid_message(rt, "web", &two),
            "Deployment.apps \"web\" is invalid: [spec.selector: Required value, spec.template.spec.containers: Required value]"
        );
        let pod = by_kind("v1", "Pod").expect("pod");
        assert_eq!(invalid_message(pod, "p", &[]), "Pod \"p\" is invalid");
        assert_eq!(qualified_kind(pod), "Pod");
    }

    #[test]
    fn cluster_ip_helpers() {
        assert!(needs_cluster_ip(&json!({"spec": {"type": "ClusterIP"}})));
        assert!(needs_cluster_ip(&json!({"spec": {"clusterIP": ""}})));
        assert!(needs_cluster_ip(&json!({})));
        assert!(!needs_cluster_ip(&json!({"spec": {"clusterIP": "None"}})));
        assert!(!needs_cluster_ip(
            &json!({"spec": {"clusterIP": "10.96.0.5"}})
        ));
        assert!(!needs_cluster_ip(
            &json!({"spec": {"type": "ExternalName"}})
        ));
        let mut svc = json!({"spec": {"ports": []}});
        set_cluster_ip(&mut svc, "10.96.0.7");
        assert_eq!(svc["spec"]["clusterIP"], "10.96.0.7");
        assert_eq!(svc["spec"]["clusterIPs"], json!(["10.96.0.7"]));
    }

    #[test]
    fn carry_over_keeps_allocations() {
        let rt = by_kind("v1", "Service").expect("service");
        let old = json!({"spec": {"type": "NodePort", "clusterIP": "10.96.0.9", "clusterIPs": ["10.96.0.9"],
            "ports": [{"name": "http", "port": 80, "nodePort": 30080}]}});
        let mut new =
            json!({"spec": {"type": "NodePort", "ports": [{"name": "http", "port": 80}]}});
        carry_over_allocated(rt, &mut new, &old);
        assert_eq!(new["spec"]["clusterIP"], "10.96.0.9");
        assert_eq!(new["spec"]["clusterIPs"], json!(["10.96.0.9"]));
        assert_eq!(new["spec"]["ports"][0]["nodePort"], 30080);
    }
}
