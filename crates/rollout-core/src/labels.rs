//! The labels and annotations the orchestrator reads and writes, in one place: how it marks
//! the objects it creates, and the Kubernetes labels it relies on.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Label on every object a rollout creates, with the app's name as value.
pub const APP_LABEL: &str = "rollout.dev/app";
/// Label (in the pod template and selector) of a temporary Deployment: `canary`, `green`,
/// `shadow`.
pub const ROLE_LABEL: &str = "rollout.dev/role";
/// The well-known label naming the tool that manages an object.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// [`MANAGED_BY_LABEL`]'s value on the objects a rollout creates.
pub const MANAGED_BY: &str = "rollout";
/// Label with the id of the rollout that made an object: only that rollout changes or deletes
/// it.
pub const ROLLOUT_LABEL: &str = "rollout.dev/rollout";
/// The label the ReplicaSet controller gives each pod template; the Service is pinned on it.
pub const HASH_LABEL: &str = "pod-template-hash";

/// Metadata of an object a rollout creates: its name, the app label, managed-by, and the
/// rollout's id when it belongs to one rollout (the Lease belongs to the app).
pub fn owned_metadata(name: &str, namespace: &str, app: &str, rollout: Option<&str>) -> ObjectMeta {
    let mut labels = BTreeMap::from([
        (APP_LABEL.to_owned(), app.to_owned()),
        (MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned()),
    ]);
    if let Some(id) = rollout {
        labels.insert(ROLLOUT_LABEL.to_owned(), id.to_owned());
    }
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        labels: Some(labels),
        ..ObjectMeta::default()
    }
}

/// Whether an object was made by the rollout with this id.
pub fn made_by(meta: &ObjectMeta, rollout: &str) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(ROLLOUT_LABEL))
        .is_some_and(|v| v == rollout)
}

/// Who an object seems to belong to, for messages: its managed-by and app labels.
pub fn owner_of(meta: &ObjectMeta) -> String {
    let label = |k: &str| meta.labels.as_ref().and_then(|l| l.get(k)).cloned();
    match (
        label(MANAGED_BY_LABEL),
        label(APP_LABEL),
        label(ROLLOUT_LABEL),
    ) {
        (Some(m), Some(app), Some(id)) if m == MANAGED_BY => {
            format!("left by an earlier rollout of {app:?} (rollout {id})")
        }
        (Some(m), _, _) => format!("managed by {m}"),
        _ => "not made by rollout".to_owned(),
    }
}

/// Whether an object carries the orchestrator's managed-by label.
pub fn made_by_rollout(meta: &ObjectMeta) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(MANAGED_BY_LABEL))
        .is_some_and(|v| v == MANAGED_BY)
}
