//! Routers: the ways requests are split between the stable and the new version. Each says
//! what it can do ([`Capability`]); a strategy that needs something its router cannot do is
//! rejected when it is planned. The routers build the objects (a canary Ingress, an
//! HTTPRoute's rules, a Service selector) as data; the engine writes them.

pub mod gateway;
pub mod nginx;
pub mod service;

use std::fmt;

use serde::Serialize;

use crate::spec::RequestMatch;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouterKind {
    /// A canary Ingress beside the app's, with ingress-nginx's canary annotations.
    IngressNginx,
    /// The backendRefs, matches and filters of the app's HTTPRoute.
    GatewayApi,
    /// The ratio of new to stable pods behind the app's Service.
    Replicas,
    /// The app's Service selector: all traffic to one version or the other.
    Service,
    /// No traffic split: the strategy replaces the pods of the Deployment itself.
    Deployment,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// Any share of requests, exactly.
    Weights,
    /// A share of requests, as close as the replica counts allow.
    ApproximateWeights,
    /// Requests with a given header (exact value or pattern) to the new version.
    HeaderRouting,
    /// Requests with a given cookie to the new version.
    CookieRouting,
    /// Copies of requests to the new version, answers discarded.
    Mirroring,
    /// Requests and errors counted per version (the ingress's metrics tell the versions
    /// apart by Service).
    PerVersionMetrics,
    /// All traffic to one version or the other at once.
    Switch,
}

impl Capability {
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Weights => "weights",
            Capability::ApproximateWeights => "approximate weights",
            Capability::HeaderRouting => "header routing",
            Capability::CookieRouting => "cookie routing",
            Capability::Mirroring => "request mirroring",
            Capability::PerVersionMetrics => "per-version metrics",
            Capability::Switch => "switch",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RouterKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RouterKind::IngressNginx => "ingress-nginx",
            RouterKind::GatewayApi => "gateway-api",
            RouterKind::Replicas => "replicas",
            RouterKind::Service => "service",
            RouterKind::Deployment => "deployment",
        }
    }

    pub fn capabilities(self) -> &'static [Capability] {
        use Capability::*;
        match self {
            RouterKind::IngressNginx => &[
                Weights,
                HeaderRouting,
                CookieRouting,
                PerVersionMetrics,
                Switch,
            ],
            RouterKind::GatewayApi => &[
                Weights,
                HeaderRouting,
                CookieRouting,
                Mirroring,
                PerVersionMetrics,
                Switch,
            ],
            RouterKind::Replicas => &[ApproximateWeights],
            RouterKind::Service => &[Switch],
            RouterKind::Deployment => &[],
        }
    }

    pub fn can(self, c: Capability) -> bool {
        self.capabilities().contains(&c)
    }

    /// One line for `rollout plan`.
    pub fn describe(self) -> String {
        let what = match self {
            RouterKind::IngressNginx => "a canary Ingress with ingress-nginx canary annotations",
            RouterKind::GatewayApi => "the HTTPRoute's backend weights, matches and mirror filter",
            RouterKind::Replicas => {
                "the ratio of new to stable pods behind the Service (weights are approximate)"
            }
            RouterKind::Service => "the Service selector, switched from one version to the other",
            RouterKind::Deployment => "none: the Deployment's own pods are replaced",
        };
        let caps: Vec<&str> = self.capabilities().iter().map(|c| c.as_str()).collect();
        if caps.is_empty() {
            format!("{} ({what})", self.as_str())
        } else {
            format!("{} ({what}; can: {})", self.as_str(), caps.join(", "))
        }
    }
}

impl fmt::Display for RouterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the router should send to the new version now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Routing {
    /// Share of all requests, 0–100.
    pub weight: u8,
    /// Requests that match any of these go to the new version whatever the weight.
    #[serde(default)]
    pub matches: Vec<RouteMatch>,
    /// Share of requests copied to the new version (answers discarded).
    #[serde(default)]
    pub mirror_percent: Option<f64>,
}

/// A request match in the form routers consume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteMatch {
    pub header: Option<String>,
    pub cookie: Option<String>,
    /// Exact value (`regex` false) or a regular expression.
    pub value: String,
    pub regex: bool,
}

impl RouteMatch {
    pub fn header(name: &str, value: &str) -> Self {
        RouteMatch {
            header: Some(name.into()),
            cookie: None,
            value: value.into(),
            regex: false,
        }
    }

    pub fn from_spec(m: &RequestMatch) -> Self {
        use crate::spec::{MatchOn, MatchValue};
        let (value, regex) = match &m.value {
            MatchValue::Exact(v) => (v.clone(), false),
            MatchValue::Regex(r) => (r.clone(), true),
        };
        match &m.on {
            MatchOn::Header(h) => RouteMatch {
                header: Some(h.clone()),
                cookie: None,
                value,
                regex,
            },
            MatchOn::Cookie(c) => RouteMatch {
                header: None,
                cookie: Some(c.clone()),
                value,
                regex,
            },
        }
    }
}

/// Metadata of an object a rollout creates: its name, the app label and managed-by.
pub fn owned_metadata(name: &str, namespace: &str, app: &str) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "namespace": namespace,
        "labels": {
            crate::plan::APP_LABEL: app,
            "app.kubernetes.io/managed-by": crate::plan::MANAGED_BY,
        },
    })
}
