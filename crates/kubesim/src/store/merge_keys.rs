//! Which lists merge element by element, and by what key: the `patchStrategy` /
//! `patchMergeKey` struct tags of `k8s.io/api` for the kinds the embedded server serves. Strategic
//! merge patch, server-side apply and the managedFields bookkeeping of every write read the
//! same table; any list it does not name is atomic and replaced whole, exactly as Kubernetes
//! treats lists without a merge strategy.

/// How a list-valued field combines with a patch, per its `patchStrategy`/`patchMergeKey`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMerge {
    /// No merge strategy: the patch's list replaces the original.
    Atomic,
    /// A list of objects merged element-wise; elements are identified by this field.
    ByKey(&'static str),
    /// A list of scalars merged as an ordered union (`patchStrategy:"merge"` on `[]string`).
    Set,
}

/// The merge behaviour of the list at `fields` (the chain of field names from the object root,
/// list positions left out: `["spec", "template", "spec", "containers", "ports"]`) in an object
/// of `kind`.
///
/// Most field names mean the same thing wherever they occur in the served types, so the name
/// and its parent decide; `kind` only matters for `ports` (a Service's `spec.ports` merge by
/// `port`), Node addresses and ServiceAccount secrets.
pub fn list_merge<S: AsRef<str>>(kind: &str, fields: &[S]) -> ListMerge {
    let Some((name, ancestors)) = fields.split_last() else {
        return ListMerge::Atomic;
    };
    let parent = ancestors.last().map(AsRef::as_ref);
    let in_container = matches!(
        parent,
        Some("containers" | "initContainers" | "ephemeralContainers")
    );
    let at_root = ancestors.is_empty();
    match name.as_ref() {
        // PodSpec.
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates"
            if parent == Some("spec") =>
        {
            ListMerge::ByKey("name")
        }
        "hostAliases" if parent == Some("spec") => ListMerge::ByKey("ip"),
        "topologySpreadConstraints" if parent == Some("spec") => ListMerge::ByKey("topologyKey"),
        // Container (and EphemeralContainer).
        "env" if in_container => ListMerge::ByKey("name"),
        "volumeMounts" if in_container => ListMerge::ByKey("mountPath"),
        "volumeDevices" if in_container => ListMerge::ByKey("devicePath"),
        "ports" if in_container => ListMerge::ByKey("containerPort"),
        "ports" if kind == "Service" && fields.len() == 2 && parent == Some("spec") => {
            ListMerge::ByKey("port")
        }
        // ObjectMeta, wherever it appears (object root or a pod template).
        "ownerReferences" if parent == Some("metadata") => ListMerge::ByKey("uid"),
        "finalizers" if parent == Some("metadata") => ListMerge::Set,
        // Status lists: conditions of every built-in kind merge by type.
        "conditions" => ListMerge::ByKey("type"),
        "podIPs" | "hostIPs" if parent == Some("status") => ListMerge::ByKey("ip"),
        "resourceClaimStatuses" if parent == Some("status") => ListMerge::ByKey("name"),
        "addresses" if kind == "Node" && parent == Some("status") => ListMerge::ByKey("type"),
        "podCIDRs" if kind == "Node" && parent == Some("spec") => ListMerge::Set,
        "secrets" if kind == "ServiceAccount" && at_root => ListMerge::ByKey("name"),
        _ => ListMerge::Atomic,
    }
}
