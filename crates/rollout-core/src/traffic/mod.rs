//! Routers: the ways requests are split between the stable and the new version.
//!
//! Each router is one module behind the [`Router`] trait: it says what it can do
//! ([`Capability`]), whether it fits the app as found, how a request reaches the new version
//! at any weight (a header), where the per-version request metrics come from (its
//! [`Observer`]), and it applies and restores its routes. A strategy that needs something
//! the chosen router cannot do is rejected when it is planned, never silently skipped.
//!
//! [`ROUTERS`] is the one place that names them all: `traffic: NAME` in a strategy file is
//! looked up there, and `traffic: auto` takes the first that fits.

mod gateway_api;
mod ingress_nginx;
mod none;
mod replicas;
pub mod service;

use std::fmt;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::app::{Names, PlanInput};
use crate::cluster::{Cluster, ClusterError};
use crate::metrics::observer::Observer;

/// Every router, in the order `traffic: auto` tries them.
pub static ROUTERS: &[&dyn Router] = &[
    &gateway_api::GatewayApi,
    &ingress_nginx::IngressNginx,
    &replicas::Replicas,
    &service::ServiceSwitch,
    &none::NoRouting,
];

/// The router named `name` (as in `traffic: NAME`).
pub fn by_name(name: &str) -> Option<RouterRef> {
    ROUTERS
        .iter()
        .copied()
        .find(|r| r.name() == name)
        .map(RouterRef)
}

/// The names strategy files may give (`auto` besides).
pub fn names() -> Vec<&'static str> {
    ROUTERS.iter().map(|r| r.name()).collect()
}

/// What a strategy asks of its router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: the Deployment's own pods are replaced (recreate, rolling).
    Nothing,
    /// All traffic to one version or the other, switched at once (blue/green).
    Switch,
    /// A share of the requests, or chosen requests, to the new version.
    Split,
}

/// The router `traffic: auto` picks for `need` on this app.
pub fn auto(need: Need, input: &PlanInput) -> RouterRef {
    RouterRef(
        ROUTERS
            .iter()
            .copied()
            .find(|r| r.picks(need, input))
            .unwrap_or(&none::NoRouting),
    )
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
    /// Requests and errors counted per version (the router's metrics tell the versions
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

/// What a router needs to apply or restore its routes.
pub struct RouteContext<'a> {
    pub cluster: &'a Cluster,
    /// The rollout's id: the objects it makes carry it, and only those it changes.
    pub rollout: &'a str,
    /// Objects made while routing (resource, name, uid), for the rollout's record.
    pub made: &'a std::sync::Mutex<Vec<(String, String, String)>>,
    pub input: &'a PlanInput,
    pub names: &'a Names,
    /// The HTTPRoute's rules before the rollout, when it has one.
    pub saved_rules: Option<&'a [Value]>,
    /// The header that sends a request to the new version at any weight.
    pub canary_header: &'a str,
    /// Waits until a Deployment's pods are all ready, failing fast when they are stuck.
    pub ready: &'a (dyn Fn(String) -> BoxFuture<'a, Result<(), ClusterError>> + Send + Sync),
}

#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("{kind} {name:?} is gone")]
    Gone { kind: &'static str, name: String },
}

/// A way to split requests between the stable and the new version. One module each; adding
/// one is its module and its line in [`ROUTERS`].
pub trait Router: Send + Sync + 'static {
    /// The name strategy files and plans use (`traffic: ingress-nginx`).
    fn name(&self) -> &'static str;

    /// What it does, for `rollout plan`.
    fn describe(&self) -> &'static str;

    fn capabilities(&self) -> &'static [Capability];

    fn can(&self, c: Capability) -> bool {
        self.capabilities().contains(&c)
    }

    /// What the app lacks for it to route (`an Ingress`) when a strategy file names it.
    fn missing(&self, input: &PlanInput) -> Option<&'static str>;

    /// Whether `traffic: auto` picks it for `need` on this app (routers are tried in the
    /// order of [`ROUTERS`]).
    fn picks(&self, need: Need, input: &PlanInput) -> bool;

    /// The object it creates in front of the new version, if any (a canary Ingress).
    fn temporary_front(&self, _input: &PlanInput) -> Option<String> {
        None
    }

    /// Why it cannot express `routing`, if it cannot (asked when planning).
    fn unsupported(&self, _routing: &Routing) -> Option<String> {
        None
    }

    /// Headers that send a request to the new version whatever the weight (for checks of
    /// the new version through the router); empty when it has no such route.
    fn new_version_headers(
        &self,
        _routing: &Routing,
        _canary_header: &str,
    ) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Headers that keep a request on the stable version whatever the weight; empty when the
    /// router has no such thing (plain requests then follow the weight).
    fn stable_version_headers(
        &self,
        _routing: &Routing,
        _canary_header: &str,
    ) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Where its per-version request metrics come from.
    fn observer(&self) -> Option<&'static dyn Observer> {
        None
    }

    /// Makes the routes send what `routing` says.
    fn apply<'a>(
        &'a self,
        cx: &'a RouteContext<'a>,
        routing: &'a Routing,
    ) -> BoxFuture<'a, Result<(), TrafficError>>;

    /// All traffic back on the stable version, the temporary routes removed.
    fn restore<'a>(&'a self, cx: &'a RouteContext<'a>) -> BoxFuture<'a, Result<(), TrafficError>>;

    /// One line for `rollout plan`: name, what it does, what it can do.
    fn summary(&self) -> String {
        let caps: Vec<&str> = self.capabilities().iter().map(|c| c.as_str()).collect();
        if caps.is_empty() {
            format!("{} ({})", self.name(), self.describe())
        } else {
            format!(
                "{} ({}; can: {})",
                self.name(),
                self.describe(),
                caps.join(", ")
            )
        }
    }
}

/// A router chosen for a plan: compared, printed and serialised by its name.
#[derive(Clone, Copy)]
pub struct RouterRef(pub &'static dyn Router);

impl std::ops::Deref for RouterRef {
    type Target = dyn Router;

    fn deref(&self) -> &Self::Target {
        self.0
    }
}

impl PartialEq for RouterRef {
    fn eq(&self, other: &Self) -> bool {
        self.0.name() == other.0.name()
    }
}

impl fmt::Debug for RouterRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

impl fmt::Display for RouterRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

impl Serialize for RouterRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.name())
    }
}

/// What the router should send to the new version now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(ingress: bool, nginx: bool, route: bool) -> PlanInput {
        PlanInput {
            namespace: "ns".into(),
            app: "web".into(),
            container: "app".into(),
            from_image: "a:1".into(),
            to_image: "a:2".into(),
            replicas: 3,
            service: Some("web".into()),
            ingress: ingress.then(|| "web".into()),
            ingress_is_nginx: nginx,
            http_route: route.then(|| "web".into()),
            metrics: crate::metrics::Access::default(),
            autoscaler: None,
        }
    }

    #[test]
    fn every_router_has_its_own_name_and_a_description() {
        let mut seen = std::collections::BTreeSet::new();
        for r in ROUTERS {
            assert!(seen.insert(r.name()), "two routers named {}", r.name());
            assert!(!r.describe().is_empty());
            assert_eq!(by_name(r.name()).map(|r| r.name()), Some(r.name()));
        }
        assert!(by_name("auto").is_none(), "auto is not a router");
    }

    #[test]
    fn auto_prefers_the_route_then_nginx_then_replicas() {
        assert_eq!(
            auto(Need::Split, &input(true, true, true)).name(),
            "gateway-api"
        );
        assert_eq!(
            auto(Need::Split, &input(true, true, false)).name(),
            "ingress-nginx"
        );
        assert_eq!(
            auto(Need::Split, &input(true, false, false)).name(),
            "replicas"
        );
        assert_eq!(
            auto(Need::Switch, &input(true, true, true)).name(),
            "service"
        );
        assert_eq!(
            auto(Need::Nothing, &input(true, true, true)).name(),
            "deployment"
        );
    }

    #[test]
    fn a_named_router_says_what_the_app_lacks() {
        let plain = input(false, false, false);
        assert_eq!(
            by_name("ingress-nginx").and_then(|r| r.missing(&plain)),
            Some("an Ingress")
        );
        assert_eq!(
            by_name("gateway-api").and_then(|r| r.missing(&plain)),
            Some("an HTTPRoute")
        );
        assert_eq!(by_name("replicas").and_then(|r| r.missing(&plain)), None);
    }
}
