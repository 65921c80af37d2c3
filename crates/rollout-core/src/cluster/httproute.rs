//! The Gateway API HTTPRoute as a typed resource, so that it goes through the same typed calls
//! as the built-in kinds. Its rules stay JSON: the orchestrator rewrites the backendRefs,
//! matches and filters of rules it did not write, and must carry every field it does not know
//! (implementation-specific filters, timeouts) through unchanged.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpRoute {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: HttpRouteSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parent_refs: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hostnames: Vec<String>,
    /// The rules, as the API server returned them (defaults filled in).
    #[serde(default)]
    pub rules: Vec<Value>,
}

impl kube::Resource for HttpRoute {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        "HTTPRoute".into()
    }

    fn group(_: &()) -> Cow<'_, str> {
        "gateway.networking.k8s.io".into()
    }

    fn version(_: &()) -> Cow<'_, str> {
        "v1".into()
    }

    fn plural(_: &()) -> Cow<'_, str> {
        "httproutes".into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl HttpRoute {
    /// The Service names the route sends traffic to (backendRefs of kind Service).
    pub fn backends(&self) -> Vec<String> {
        self.spec
            .rules
            .iter()
            .flat_map(|rule| {
                rule.get("backendRefs")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            })
            .filter(|b| b.get("kind").and_then(Value::as_str).unwrap_or("Service") == "Service")
            .filter_map(|b| b.get("name").and_then(Value::as_str).map(str::to_owned))
            .collect()
    }
}
