//! Validation: the causes of a 422 `Invalid` answer, worded as Kubernetes 1.33 words them
//! (`pkg/apis/*/validation`, `k8s.io/apimachinery/pkg/api/validation`, and the Gateway API
//! CRD schema). Bad values are rendered as Go's `field.Error` renders them: strings quoted,
//! numbers bare, structs and maps in Go's `%#v` syntax.

mod access;
mod apps;
mod autoscaling;
mod config;
mod errors;
mod gateway;
mod go_format;
mod ingress;
mod meta;
mod pod;
mod pod_spec;
mod quantity;
mod selector;
mod service;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use super::{Cause, Operation};
use crate::resources::ResourceType;

use apps::{validate_deployment, validate_replica_set, validate_stateful_set};
use autoscaling::validate_hpa;
use config::{validate_config_map, validate_namespace, validate_secret};
use errors::Errs;
use gateway::{validate_gateway, validate_http_route};
use ingress::validate_ingress;
use meta::{validate_meta, validate_meta_update};
use pod::validate_pod;
use service::validate_service;

pub use go_format::go_quote;
pub use quantity::parse_quantity;
pub use selector::selector_matches;

type Obj = Map<String, Value>;

const NEGATIVE: &str = "must be greater than or equal to 0";
const IMMUTABLE: &str = "field is immutable";
const MAX_INT32: i64 = 2_147_483_647;
/// Total size of all annotations of one object (256 KiB).
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;
/// Largest ConfigMap / Secret payload (1 MiB).
pub const MAX_SECRET_SIZE: usize = 1024 * 1024;

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
