//! The embedded API server: the Kubernetes REST API over HTTPS, served by axum from the store.

pub mod discovery;
pub mod faults;
mod handlers;
pub mod openapi;
pub mod patch;
pub mod path;
pub mod protobuf;
pub mod proxy;
pub mod query;
mod render;
mod scale;
pub mod status;
pub mod table;
mod watch;

use crate::store::Store;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::watch as signal;

/// What every request handler shares.
pub struct ApiState {
    pub store: Arc<Store>,
    pub token: String,
    /// `host:port` the server listens on (discovery advertises it).
    pub address: String,
    /// Flips to true when the server stops, so long-running watches end.
    pub stopping: signal::Receiver<bool>,
    /// How often an idle watch that asked for bookmarks gets one.
    pub bookmark_interval: std::time::Duration,
    /// The client the `proxy` subresources forward with.
    pub http: reqwest::Client,
    /// Faults to inject in front of every handler ([`faults`]), when any.
    pub faults: Option<Arc<faults::Faults>>,
}

pub fn router(state: Arc<ApiState>) -> Router {
    let injected = state.faults.clone();
    let router = Router::new().fallback(dispatch).with_state(state);
    match injected {
        Some(f) => router.layer(axum::middleware::from_fn_with_state(f, faults::layer)),
        None => router,
    }
}

fn json_response(code: StatusCode, body: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn authorized(state: &ApiState, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t.trim() == state.token)
}

async fn dispatch(
    State(state): State<Arc<ApiState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    // Health and version are open, as on a real server (RBAC grants them to everyone).
    match path.as_str() {
        "/healthz" | "/livez" | "/readyz" => return (StatusCode::OK, "ok").into_response(),
        "/version" | "/version/" => return json_response(StatusCode::OK, &discovery::version()),
        _ => {}
    }
    if !authorized(&state, &headers) {
        return status::ApiError::unauthorized().into_response();
    }
    let started = std::time::Instant::now();
    let response = handlers::handle(&state, &method, &uri, &headers, body).await;
    tracing::debug!(%method, %uri, status = response.status().as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "request");
    response
}
