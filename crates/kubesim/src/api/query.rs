//! Query parameters of list, watch and write requests, parsed once into typed options.

use super::status::ApiError;
use crate::store::{DeleteOptions, FieldSelector, LabelSelector, Propagation};
use serde_json::Value;

#[derive(Debug, Default)]
pub struct Query {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    pub watch: bool,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    pub allow_bookmarks: bool,
    pub send_initial_events: Option<bool>,
    pub timeout_seconds: Option<u64>,
    pub include_object: Option<String>,
    pub field_manager: Option<String>,
    pub force: bool,
    pub dry_run: bool,
    pub propagation: Option<String>,
    pub orphan_dependents: Option<bool>,
    pub grace_period_seconds: Option<i64>,
}

fn truthy(v: &str) -> bool {
    matches!(v, "true" | "1" | "True")
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut q = Query::default();
        let Some(raw) = raw else { return Ok(q) };
        for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
            let v = v.into_owned();
            match k.as_ref() {
                "labelSelector" => {
                    q.labels = LabelSelector::parse(&v)
                        .map_err(|e| ApiError::bad_request(e.to_string()))?
                }
                "fieldSelector" => {
                    q.fields = FieldSelector::parse(&v)
                        .map_err(|e| ApiError::bad_request(e.to_string()))?
                }
                "limit" => {
                    let n: i64 = v.parse().map_err(|_| {
                        ApiError::bad_request(format!("limit: invalid value {v:?}"))
                    })?;
                    q.limit = (n > 0).then_some(n as usize);
                }
                "continue" => q.continue_token = Some(v).filter(|s| !s.is_empty()),
                "watch" => q.watch = truthy(&v),
                "resourceVersion" => q.resource_version = Some(v),
                "resourceVersionMatch" => {
                    q.resource_version_match = Some(v).filter(|s| !s.is_empty())
                }
                "allowWatchBookmarks" => q.allow_bookmarks = truthy(&v),
                "sendInitialEvents" => q.send_initial_events = Some(truthy(&v)),
                "timeoutSeconds" => q.timeout_seconds = v.parse().ok(),
                "includeObject" => q.include_object = Some(v),
                "fieldManager" => q.field_manager = Some(v),
                "force" => q.force = truthy(&v),
                "dryRun" => q.dry_run = v == "All",
                "propagationPolicy" => q.propagation = Some(v),
                "orphanDependents" => q.orphan_dependents = Some(truthy(&v)),
                "gracePeriodSeconds" => q.grace_period_seconds = v.parse().ok(),
                _ => {}
            }
        }
        Ok(q)
    }

    /// Delete options from the query and, where present, a DeleteOptions body (kubectl sends
    /// the propagation policy in the body).
    pub fn delete_options(&self, body: Option<&Value>) -> Result<DeleteOptions, ApiError> {
        let from_body = |k: &str| body.and_then(|b| b.get(k));
        let policy = from_body("propagationPolicy")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| self.propagation.clone());
        let orphan = from_body("orphanDependents")
            .and_then(Value::as_bool)
            .or(self.orphan_dependents);
        let propagation = match (policy.as_deref(), orphan) {
            (Some("Background"), _) => Some(Propagation::Background),
            (Some("Foreground"), _) => Some(Propagation::Foreground),
            (Some("Orphan"), _) | (None, Some(true)) => Some(Propagation::Orphan),
            (None, _) => None,
            (Some(other), _) => {
                return Err(ApiError::bad_request(format!(
                    "propagationPolicy: Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
                )));
            }
        };
        let dry_run = self.dry_run
            || from_body("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|v| v == "All"));
        Ok(DeleteOptions {
            propagation,
            grace_period_seconds: from_body("gracePeriodSeconds")
                .and_then(Value::as_i64)
                .or(self.grace_period_seconds),
            precondition_uid: from_body("preconditions")
                .and_then(|p| p.get("uid"))
                .and_then(Value::as_str)
                .map(str::to_string),
            precondition_resource_version: from_body("preconditions")
                .and_then(|p| p.get("resourceVersion"))
                .and_then(Value::as_str)
                .map(str::to_string),
            dry_run,
        })
    }
}

/// What the client asked the answer to look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Object,
    Table,
    Metadata,
}

pub fn shape(accept: &str) -> Shape {
    // The client lists what it accepts in order of preference; the first we can produce wins.
    for part in accept.split(',') {
        let p = part.replace(' ', "");
        if p.contains("as=Table") {
            return Shape::Table;
        }
        if p.contains("as=PartialObjectMetadata") {
            return Shape::Metadata;
        }
        if p.starts_with("application/json")
            || p.starts_with("*/*")
            || p.starts_with("application/yaml")
        {
            return Shape::Object;
        }
    }
    Shape::Object
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(
            shape(
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
            ),
            Shape::Table
        );
        assert_eq!(shape("application/json"), Shape::Object);
        assert_eq!(
            shape("application/vnd.kubernetes.protobuf,application/json"),
            Shape::Object
        );
        assert_eq!(
            shape(
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
            ),
            Shape::Metadata
        );
    }

    #[test]
    fn delete_options_from_body() {
        let q = Query::parse(Some("dryRun=All")).expect("query");
        let body = serde_json::json!({"propagationPolicy": "Foreground", "gracePeriodSeconds": 0});
        let o = q.delete_options(Some(&body)).expect("opts");
        assert_eq!(o.propagation, Some(Propagation::Foreground));
        assert_eq!(o.grace_period_seconds, Some(0));
        assert!(o.dry_run);
        assert!(
            q.delete_options(Some(&serde_json::json!({"propagationPolicy": "Sideways"})))
                .is_err()
        );
    }

    #[test]
    fn bad_selector_is_bad_request() {
        let e = Query::parse(Some("labelSelector=app%20in%20x")).expect_err("bad");
        assert_eq!(e.code.as_u16(), 400);
    }
}
