//! The app a rollout works on, as it was found when the rollout began: what the planners and
//! the routers read ([`PlanInput`]), and the names of the objects the rollout works on and
//! creates ([`Names`]). Plain data, stored with the rollout's record so that a resumed rollout
//! plans exactly the same steps.

use serde::{Deserialize, Serialize};

/// What a plan is made from, besides the strategy: the app as it was when the rollout began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanInput {
    pub namespace: String,
    pub app: String,
    pub container: String,
    pub from_image: String,
    pub to_image: String,
    pub replicas: i32,
    /// The first Service selecting the app's pods.
    pub service: Option<String>,
    /// The first Ingress in front of that Service, and whether its class is nginx.
    pub ingress: Option<String>,
    pub ingress_is_nginx: bool,
    pub http_route: Option<String>,
    /// How per-version request metrics are read, or why they cannot be.
    #[serde(default)]
    pub metrics: crate::metrics::Access,
    /// The HorizontalPodAutoscaler that sizes the app's Deployment, if one does: then the
    /// app's replica count is the autoscaler's, never written by the rollout.
    #[serde(default)]
    pub autoscaler: Option<Autoscaler>,
}

/// The app's HorizontalPodAutoscaler (autoscaling/v2), as found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Autoscaler {
    pub name: String,
    pub min_replicas: i32,
    pub max_replicas: i32,
}

/// The names of the objects a rollout works on and creates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Names {
    /// What the new version's temporary objects are to the strategy (`canary`, `green`,
    /// `shadow`): the value of their role label and the suffix of their names.
    pub role: String,
    /// The app's Deployment (the stable version).
    pub deployment: String,
    /// The app's Service, when it has one.
    pub service: Option<String>,
    /// The app's Ingress / HTTPRoute, when the router uses one.
    pub ingress: Option<String>,
    pub http_route: Option<String>,
    /// The temporary Deployment of the new version (`<app>-canary`, `<app>-green`).
    pub new_deployment: String,
    /// The temporary Service selecting only the new version (`<service>-canary`,
    /// `<service>-preview`).
    pub new_service: Option<String>,
    /// The temporary canary Ingress (ingress-nginx).
    pub new_ingress: Option<String>,
    /// The new version's autoscaler, a copy of the app's (`<hpa>-<role>`), when the app has
    /// one.
    #[serde(default)]
    pub new_autoscaler: Option<String>,
}
