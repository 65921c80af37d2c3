//! `kubectl apply -f` inside the process: YAML manifests (files or directories, applied in
//! file-name order, several documents per file) written with server-side apply.

use std::path::{Path, PathBuf};

use kube::api::{Api, Patch, PatchParams};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::{self, Scope};
use serde_json::Value;

/// The files under `path` (itself when a file), `.yaml`/`.yml`/`.json`, sorted by name.
pub fn files(path: &Path) -> Result<Vec<PathBuf>, String> {
    if path.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// The objects of one manifest text (`origin` names it in errors).
pub fn documents(text: &str, origin: &str) -> Result<Vec<Value>, String> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(text).map_err(|e| format!("{origin}: {e}"))?;
    Ok(docs
        .into_iter()
        .filter(|d| !d.is_null())
        .flat_map(|d| match d.get("kind").and_then(Value::as_str) {
            // A `kind: List` holds its objects in `items`.
            Some("List") => d
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            _ => vec![d],
        })
        .collect())
}

/// Applies one object; returns `kind/name`.
pub async fn apply_object(
    client: &kube::Client,
    object: &Value,
    origin: &str,
) -> Result<String, String> {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{origin}: an object has no apiVersion"))?;
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{origin}: an object has no kind"))?;
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{origin}: {kind} without metadata.name"))?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (resource, caps) = discovery::pinned_kind(client, &gvk).await.map_err(|e| {
        format!("{origin}: {kind} {name}: the cluster does not serve {api_version} {kind}: {e}")
    })?;
    let api: Api<DynamicObject> = match caps.scope {
        Scope::Namespaced => {
            let ns = object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("default");
            Api::namespaced_with(client.clone(), ns, &resource)
        }
        Scope::Cluster => Api::all_with(client.clone(), &resource),
    };
    let pp = PatchParams::apply("rollout").force();
    api.patch(name, &pp, &Patch::Apply(object))
        .await
        .map_err(|e| format!("{origin}: {kind} {name}: {e}"))?;
    Ok(format!("{}/{name}", kind.to_lowercase()))
}

/// Applies every object of every file under `path`; returns what was applied.
pub async fn apply_path(client: &kube::Client, path: &Path) -> Result<Vec<String>, String> {
    let mut done = Vec::new();
    for file in files(path)? {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let origin = file.display().to_string();
        for object in documents(&text, &origin)? {
            done.push(apply_object(client, &object, &origin).await?);
        }
    }
    Ok(done)
}

/// Applies manifests given as (name, text) pairs (the ones built into the binary).
pub async fn apply_texts(
    client: &kube::Client,
    texts: &[(&str, &str)],
) -> Result<Vec<String>, String> {
    let mut done = Vec::new();
    for (origin, text) in texts {
        for object in documents(text, origin)? {
            done.push(apply_object(client, &object, origin).await?);
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_documents_and_lists() {
        let docs = documents(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\nkind: List\napiVersion: v1\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n",
            "x.yaml",
        )
        .expect("docs");
        let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
        assert_eq!(kinds, vec!["Namespace", "ConfigMap"]);
        assert!(documents("a: [", "bad.yaml").is_err_and(|e| e.starts_with("bad.yaml")));
    }
}
