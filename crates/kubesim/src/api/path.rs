//! Parses request paths into what they address, following the Kubernetes REST layout:
//! `/api/v1/...` for the core group, `/apis/<group>/<version>/...` for the others,
//! `namespaces/<ns>/` for namespaced resources, then `<plural>[/<name>[/<subresource>]]`.

use crate::resources::{self, ResourceType};

#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/<group>`
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`
    Resources { group: String, version: String },
    /// A resource collection or object.
    Object(Target),
    /// A path under `/api` or `/apis` that names nothing we serve.
    Unknown,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub resource: &'static ResourceType,
    /// Namespace from the URL; `None` for cluster-scoped paths or all-namespace lists.
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// What follows `/proxy/` for the proxy subresource.
    pub rest: Option<String>,
}

pub fn parse(path: &str) -> Route {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segs.as_slice() {
        ["api"] => Route::CoreVersions,
        ["apis"] => Route::Groups,
        ["api", version, rest @ ..] => under_version("", version, rest),
        ["apis", group] => Route::Group((*group).to_string()),
        ["apis", group, version, rest @ ..] => under_version(group, version, rest),
        _ => Route::Unknown,
    }
}

fn under_version(group: &str, version: &str, rest: &[&str]) -> Route {
    if rest.is_empty() {
        return if resources::in_group_version(group, version).is_empty() {
            Route::Unknown
        } else {
            Route::Resources {
                group: group.into(),
                version: version.into(),
            }
        };
    }
    // `namespaces/<ns>/<plural>...` is a namespaced resource, unless what follows the namespace
    // name is one of the namespace object's own subresources.
    if rest[0] == "namespaces" && rest.len() >= 3 && !matches!(rest[2], "status" | "finalize") {
        return object(group, version, Some(rest[1]), &rest[2..]);
    }
    object(group, version, None, rest)
}

fn object(group: &str, version: &str, ns: Option<&str>, rest: &[&str]) -> Route {
    let Some(rt) = resources::find(group, version, rest[0]) else {
        return Route::Unknown;
    };
    if ns.is_some() && !rt.namespaced {
        return Route::Unknown;
    }
    let mut target = Target {
        resource: rt,
        namespace: ns.map(str::to_string),
        name: rest.get(1).map(|s| (*s).to_string()),
        subresource: rest.get(2).map(|s| (*s).to_string()),
        rest: None,
    };
    if target.subresource.as_deref() == Some("proxy") {
        target.rest = Some(rest[3..].join("/"));
    } else if rest.len() > 3 {
        return Route::Unknown;
    }
    Route::Object(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(path: &str) -> Target {
        match parse(path) {
            Route::Object(t) => t,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn discovery_paths() {
        assert_eq!(parse("/api"), Route::CoreVersions);
        assert_eq!(parse("/apis/"), Route::Groups);
        assert_eq!(parse("/apis/apps"), Route::Group("apps".into()));
        assert_eq!(
            parse("/apis/apps/v1"),
            Route::Resources {
                group: "apps".into(),
                version: "v1".into()
            }
        );
        assert_eq!(parse("/apis/apps/v2"), Route::Unknown);
    }

    #[test]
    fn objects() {
        let t = target("/apis/apps/v1/namespaces/default/deployments/web/scale");
        assert_eq!(
            (
                t.resource.plural,
                t.namespace.as_deref(),
                t.name.as_deref(),
                t.subresource.as_deref()
            ),
            ("deployments", Some("default"), Some("web"), Some("scale"))
        );
        let t = target("/api/v1/pods");
        assert_eq!(
            (t.resource.plural, t.namespace, t.name),
            ("pods", None, None)
        );
        let t = target("/api/v1/namespaces/prod");
        assert_eq!(
            (t.resource.plural, t.name.as_deref()),
            ("namespaces", Some("prod"))
        );
        let t = target("/api/v1/namespaces/prod/status");
        assert_eq!(
            (
                t.resource.plural,
                t.name.as_deref(),
                t.subresource.as_deref()
            ),
            ("namespaces", Some("prod"), Some("status"))
        );
        let t = target("/api/v1/namespaces/d/services/web:80/proxy/a/b");
        assert_eq!(
            (t.name.as_deref(), t.rest.as_deref()),
            (Some("web:80"), Some("a/b"))
        );
        assert_eq!(parse("/api/v1/widgets"), Route::Unknown);
        assert_eq!(parse("/api/v1/namespaces/d/nodes"), Route::Unknown);
    }
}
