//! Apps sized by a HorizontalPodAutoscaler (autoscaling/v2): which autoscaler sizes the app,
//! how big the new version is made for its share of requests, and the copy of the app's
//! autoscaler that sizes the new version while it serves. Pure: the executor reads and
//! writes the objects.

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;

use crate::app::Autoscaler;

/// The autoscaler whose target is the Deployment `deployment`, if one is.
pub fn targeting(hpas: &[HorizontalPodAutoscaler], deployment: &str) -> Option<Autoscaler> {
    hpas.iter().find_map(|h| {
        let spec = h.spec.as_ref()?;
        let target = &spec.scale_target_ref;
        let is_deployment = target.kind == "Deployment"
            && target.api_version.as_deref().is_none_or(|v| v == "apps/v1");
        (is_deployment && target.name == deployment).then(|| Autoscaler {
            name: h.metadata.name.clone().unwrap_or_default(),
            min_replicas: spec.min_replicas.unwrap_or(1),
            max_replicas: spec.max_replicas,
        })
    })
}

/// `share`% of `n`, rounded up, at least one: a share of capacity never rounds to nothing.
pub fn share_of(n: i32, share: u8) -> i32 {
    let scaled = (i64::from(n.max(0)) * i64::from(share) + 99) / 100;
    i32::try_from(scaled).unwrap_or(i32::MAX).max(1)
}

/// The bounds of the new version's autoscaler: the app's bounds scaled to the share.
pub fn scaled_bounds(app: &Autoscaler, share: u8) -> (i32, i32) {
    let min = share_of(app.min_replicas, share);
    let max = share_of(app.max_replicas, share).max(min);
    (min, max)
}

/// Replicas the new version starts a step with: its share of what the stable version runs
/// now, within its autoscaler's bounds.
pub fn starting_replicas(stable_now: i32, share: u8, bounds: (i32, i32)) -> i32 {
    share_of(stable_now, share).clamp(bounds.0, bounds.1)
}

/// A copy of the app's autoscaler aimed at `deployment`: same metrics and behaviour, the
/// bounds given, the metadata given (the rollout's labels).
pub fn copy_for(
    app: &HorizontalPodAutoscaler,
    metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    deployment: &str,
    (min, max): (i32, i32),
) -> HorizontalPodAutoscaler {
    let mut spec = app.spec.clone().unwrap_or_default();
    spec.scale_target_ref.name = deployment.to_owned();
    spec.min_replicas = Some(min);
    spec.max_replicas = max;
    HorizontalPodAutoscaler {
        metadata,
        spec: Some(spec),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::autoscaling::v2::{
        CrossVersionObjectReference, HorizontalPodAutoscalerSpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn hpa(name: &str, kind: &str, target: &str) -> HorizontalPodAutoscaler {
        HorizontalPodAutoscaler {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            spec: Some(HorizontalPodAutoscalerSpec {
                scale_target_ref: CrossVersionObjectReference {
                    api_version: Some("apps/v1".into()),
                    kind: kind.into(),
                    name: target.into(),
                },
                min_replicas: Some(2),
                max_replicas: 10,
                ..HorizontalPodAutoscalerSpec::default()
            }),
            status: None,
        }
    }

    #[test]
    fn finds_the_autoscaler_of_the_deployment_only() {
        let hpas = [
            hpa("other", "Deployment", "other"),
            hpa("sts", "StatefulSet", "web"),
            hpa("web", "Deployment", "web"),
        ];
        let found = targeting(&hpas, "web");
        assert_eq!(
            found,
            Some(Autoscaler {
                name: "web".into(),
                min_replicas: 2,
                max_replicas: 10
            })
        );
        assert_eq!(targeting(&hpas[..2], "web"), None);
    }

    #[test]
    fn shares_round_up_and_never_vanish() {
        assert_eq!(share_of(10, 10), 1);
        assert_eq!(share_of(3, 10), 1);
        assert_eq!(share_of(3, 50), 2);
        assert_eq!(share_of(0, 50), 1);
        assert_eq!(share_of(4, 100), 4);
        let app = Autoscaler {
            name: "web".into(),
            min_replicas: 2,
            max_replicas: 10,
        };
        assert_eq!(scaled_bounds(&app, 10), (1, 1));
        assert_eq!(scaled_bounds(&app, 50), (1, 5));
        assert_eq!(scaled_bounds(&app, 100), (2, 10));
        assert_eq!(starting_replicas(6, 50, (1, 5)), 3);
        assert_eq!(starting_replicas(6, 100, (2, 4)), 4);
    }

    #[test]
    fn the_copy_keeps_metrics_and_aims_at_the_new_version() {
        let app = hpa("web", "Deployment", "web");
        let copy = copy_for(
            &app,
            ObjectMeta {
                name: Some("web-canary".into()),
                ..ObjectMeta::default()
            },
            "web-canary",
            (1, 5),
        );
        let spec = copy.spec.unwrap_or_default();
        assert_eq!(spec.scale_target_ref.name, "web-canary");
        assert_eq!(spec.scale_target_ref.kind, "Deployment");
        assert_eq!((spec.min_replicas, spec.max_replicas), (Some(1), 5));
        assert_eq!(spec.metrics, app.spec.unwrap_or_default().metrics);
    }
}
