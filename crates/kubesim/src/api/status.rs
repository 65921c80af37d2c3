//! `metav1.Status` answers: every error the API returns is one of these, with the code and
//! reason clients (kubectl, kube-rs) switch on.

use crate::store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An error ready to be sent as a Status.
#[derive(Debug)]
pub struct ApiError {
    pub code: StatusCode,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub fn not_found_path() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    pub fn method_not_allowed(verb: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({verb})"),
        )
    }

    pub fn unsupported_media_type(ct: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct:?})"
            ),
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized")
    }

    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code.as_u16(),
        });
        if let (Some(d), Some(o)) = (&self.details, s.as_object_mut()) {
            o.insert("details".into(), d.clone());
        }
        s
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.to_status().to_string();
        (
            self.code,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}

/// `deployments.apps` → (`deployments`, `apps`), as Status details carry them.
fn split_resource(resource: &str) -> (String, String) {
    match resource.split_once('.') {
        Some((kind, group)) => (kind.to_string(), group.to_string()),
        None => (resource.to_string(), String::new()),
    }
}

fn details(resource: &str, name: &str) -> Value {
    let (kind, group) = split_resource(resource);
    let mut d = json!({"name": name, "kind": kind});
    if !group.is_empty()
        && let Some(o) = d.as_object_mut()
    {
        o.insert("group".into(), json!(group));
    }
    d
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        match e {
            StoreError::NotFound { resource, name } => ApiError {
                details: Some(details(&resource, &name)),
                ..ApiError::new(StatusCode::NOT_FOUND, "NotFound", message)
            },
            StoreError::AlreadyExists { resource, name } => ApiError {
                details: Some(details(&resource, &name)),
                ..ApiError::new(StatusCode::CONFLICT, "AlreadyExists", message)
            },
            StoreError::Conflict { resource, name }
            | StoreError::ConflictMessage { resource, name, .. } => ApiError {
                details: Some(details(&resource, &name)),
                ..ApiError::new(StatusCode::CONFLICT, "Conflict", message)
            },
            StoreError::Invalid {
                kind,
                group,
                name,
                causes,
                ..
            } => {
                let causes: Vec<Value> = causes
                    .iter()
                    .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                    .collect();
                let mut d = json!({"name": name, "kind": kind, "causes": causes});
                if !group.is_empty()
                    && let Some(o) = d.as_object_mut()
                {
                    o.insert("group".into(), json!(group));
                }
                ApiError {
                    details: Some(d),
                    ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message)
                }
            }
            StoreError::BadRequest(m) => ApiError::bad_request(m),
            StoreError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "Forbidden", m),
            StoreError::Expired { .. } => ApiError::new(StatusCode::GONE, "Expired", message),
            StoreError::Internal(m) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", m)
            }
        }
    }
}

/// The Status a successful delete of a whole object returns for some kinds.
pub fn success(details: Value) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}
