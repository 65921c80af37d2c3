//! The REST verbs on resources: get, list, create, update, patch, delete, deletecollection,
//! and the status / scale / binding subresources.

use super::path::{self, Route, Target};
use super::query::{Query, Shape, shape};
use super::render::{partial_metadata, render_shape};
use super::status::{self, ApiError};
use super::{
    ApiState, discovery, json_response, openapi, patch, protobuf, proxy, scale, table, watch,
};
use crate::resources::ResourceType;
use crate::store::{self, Part, StoreError, WriteOptions};
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use std::sync::Arc;

pub async fn handle(
    state: &Arc<ApiState>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let result = match path::parse(uri.path()) {
        Route::CoreVersions => Ok(json_response(
            StatusCode::OK,
            &discovery::core_versions(&state.address),
        )),
        Route::Groups => Ok(json_response(StatusCode::OK, &discovery::groups())),
        Route::Group(g) => discovery::group(&g)
            .map(|d| json_response(StatusCode::OK, &d))
            .ok_or_else(ApiError::not_found_path),
        Route::Resources { group, version } => discovery::resource_list(&group, &version)
            .map(|d| json_response(StatusCode::OK, &d))
            .ok_or_else(ApiError::not_found_path),
        Route::Object(target) => object(state, method, uri, headers, &target, body).await,
        Route::Unknown => other(uri.path()),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

fn other(path: &str) -> Result<Response, ApiError> {
    if path == "/openapi/v3" {
        return Ok(json_response(StatusCode::OK, &openapi::v3_index()));
    }
    if let Some(rest) = path.strip_prefix("/openapi/v3/")
        && let Some(doc) = openapi::v3_document(rest)
    {
        // The URL carries the document's hash, so clients may cache it for good.
        let etag = format!("\"{}\"", openapi::v3_hash(rest));
        let headers = [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, "public, immutable".to_string()),
        ];
        return Ok((StatusCode::OK, headers, doc.to_string()).into_response());
    }
    if path == "/openapi/v2" {
        // kubectl validates `kind: List` manifests against the v2 document.
        return Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, openapi::V2_PROTOBUF_CONTENT_TYPE)],
            openapi::v2_protobuf(),
        )
            .into_response());
    }
    Err(ApiError::not_found_path())
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The field manager a write is recorded under: `?fieldManager=`, else the client's name from
/// its User-Agent (as the real server does).
fn field_manager(q: &Query, headers: &HeaderMap) -> String {
    q.field_manager.clone().unwrap_or_else(|| {
        let ua = header_str(headers, header::USER_AGENT);
        let name = ua.split('/').next().unwrap_or_default();
        if name.is_empty() {
            "unknown".into()
        } else {
            name.into()
        }
    })
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    // kubectl's imperative commands (create deployment, create configmap, ...) send protobuf.
    if protobuf::is_protobuf(body) {
        return protobuf::decode(body).map_err(|e| {
            if e.is_unsupported() {
                ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "UnsupportedMediaType",
                    e.to_string(),
                )
            } else {
                ApiError::bad_request(format!("cannot decode the protobuf body: {e}"))
            }
        });
    }
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "the request body is empty; expected a JSON object",
        ));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
    })?;
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "couldn't get version/kind; json parse error: expected a JSON object",
        ));
    }
    Ok(v)
}

async fn object(
    state: &Arc<ApiState>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    t: &Target,
    body: Bytes,
) -> Result<Response, ApiError> {
    let q = Query::parse(uri.query())?;
    let shape = shape(header_str(headers, header::ACCEPT));
    let rt = t.resource;
    // A namespaced object is always addressed through its namespace.
    if rt.namespaced && t.name.is_some() && t.namespace.is_none() {
        return Err(ApiError::not_found_path());
    }
    let ns = t.namespace.clone().unwrap_or_default();
    let opts = WriteOptions {
        field_manager: field_manager(&q, headers),
        dry_run: q.dry_run,
        apply: false,
    };
    let sub = t.subresource.as_deref();
    match (method.as_str(), t.name.as_deref(), sub) {
        ("GET", None, None) if q.watch => watch::serve(state, t, &q, shape),
        ("GET", None, None) => list(state, t, &q, shape),
        ("GET", Some(name), None | Some("status")) => {
            let obj = state.store.get(rt, &ns, name)?;
            if shape == Shape::Object {
                return Ok(json_response(StatusCode::OK, &obj));
            }
            Ok(json_response(
                StatusCode::OK,
                &render_one(rt, &obj, shape, &q),
            ))
        }
        ("GET", Some(name), Some("scale")) if rt.has_scale => {
            let obj = state.store.get(rt, &ns, name)?;
            Ok(json_response(StatusCode::OK, &scale::to_scale(&obj)))
        }
        ("POST", None, None) => {
            let obj = state.store.create(rt, &ns, parse_json(&body)?, &opts)?;
            Ok(json_response(StatusCode::CREATED, &obj))
        }
        ("POST", Some(name), Some("binding")) if rt.plural == "pods" => {
            bind(state, &ns, name, &parse_json(&body)?, &opts)
        }
        ("PUT", Some(name), None | Some("status")) => {
            let part = if sub == Some("status") {
                Part::Status
            } else {
                Part::Main
            };
            let obj = state
                .store
                .update(rt, &ns, name, parse_json(&body)?, part, &opts)?;
            Ok(json_response(StatusCode::OK, &obj))
        }
        ("PUT", Some(name), Some("scale")) if rt.has_scale => {
            let wanted = parse_json(&body)?;
            let obj = scale::write(&state.store, rt, &ns, name, &opts, |_| Ok(wanted.clone()))?;
            Ok(json_response(StatusCode::OK, &obj))
        }
        ("PATCH", Some(name), None | Some("status") | Some("scale")) => {
            patch_object(state, rt, &ns, name, sub, headers, &q, &body, opts)
        }
        ("DELETE", Some(name), None) => {
            let body_json = if body.is_empty() {
                None
            } else {
                Some(parse_json(&body)?)
            };
            let dopts = q.delete_options(body_json.as_ref())?;
            let (obj, gone) = state.store.delete(rt, &ns, name, &dopts)?;
            Ok(json_response(
                if gone {
                    StatusCode::OK
                } else {
                    StatusCode::ACCEPTED
                },
                &obj,
            ))
        }
        ("DELETE", None, None) => {
            let body_json = if body.is_empty() {
                None
            } else {
                Some(parse_json(&body)?)
            };
            let dopts = q.delete_options(body_json.as_ref())?;
            let items = state.store.delete_collection(
                rt,
                t.namespace.as_deref(),
                &q.labels,
                &q.fields,
                &dopts,
            )?;
            let rv = state.store.resource_version();
            Ok(json_response(
                StatusCode::OK,
                &list_body(rt, items.iter().map(|o| (**o).clone()).collect(), rv, None),
            ))
        }
        (_, Some(name), Some("proxy")) if matches!(rt.plural, "services" | "pods") => {
            let backend = if rt.plural == "services" {
                proxy::service_backend(&state.store, &ns, name)?
            } else {
                proxy::pod_backend(&state.store, &ns, name)?
            };
            let rest = t.rest.clone().unwrap_or_default();
            Ok(proxy::forward(
                &state.http,
                &backend,
                method,
                &rest,
                uri.query(),
                headers,
                body,
            )
            .await)
        }
        (m, _, _) => Err(ApiError::method_not_allowed(m)),
    }
}

fn render_one(rt: &ResourceType, obj: &Value, shape: Shape, q: &Query) -> Value {
    render_shape(rt, obj, shape, q.include_object.as_deref())
}

fn list_body(
    rt: &ResourceType,
    items: Vec<Value>,
    rv: u64,
    page: Option<(String, usize)>,
) -> Value {
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let (Some((token, remaining)), Some(m)) = (page, metadata.as_object_mut()) {
        m.insert("continue".into(), json!(token));
        m.insert("remainingItemCount".into(), json!(remaining));
    }
    json!({"kind": rt.list_kind(), "apiVersion": rt.api_version(), "metadata": metadata, "items": items})
}

fn list(state: &Arc<ApiState>, t: &Target, q: &Query, shape: Shape) -> Result<Response, ApiError> {
    let after = match &q.continue_token {
        Some(token) => Some(decode_continue(token)?),
        None => None,
    };
    let page = state.store.list(
        t.resource,
        t.namespace.as_deref(),
        &q.labels,
        &q.fields,
        q.limit,
        after,
    );
    let next = page.continue_after.map(|(ns, name)| {
        (
            encode_continue(page.resource_version, &ns, &name),
            page.remaining,
        )
    });
    let body = match shape {
        Shape::Table => {
            let refs: Vec<&Value> = page.items.iter().map(|o| &**o).collect();
            let mut tbl = table::table(
                t.resource,
                &refs,
                &page.resource_version.to_string(),
                table::IncludeObject::parse(q.include_object.as_deref()),
                jiff::Timestamp::now(),
            );
            if let (Some((token, _)), Some(m)) = (
                &next,
                tbl.get_mut("metadata").and_then(Value::as_object_mut),
            ) {
                m.insert("continue".into(), json!(token));
            }
            tbl
        }
        Shape::Metadata => {
            let mut l = list_body(
                t.resource,
                page.items.iter().map(|o| partial_metadata(o)).collect(),
                page.resource_version,
                next,
            );
            if let Some(o) = l.as_object_mut() {
                o.insert("kind".into(), json!("PartialObjectMetadataList"));
                o.insert("apiVersion".into(), json!("meta.k8s.io/v1"));
            }
            l
        }
        Shape::Object => {
            return Ok(list_response(
                t.resource,
                &page.items,
                page.resource_version,
                next,
            ));
        }
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// A plain list, serialised straight from the stored objects (no copy of each), which is
/// most of a large list's cost.
fn list_response(
    rt: &ResourceType,
    items: &[Arc<Value>],
    rv: u64,
    page: Option<(String, usize)>,
) -> Response {
    struct Items<'a>(&'a [Arc<Value>]);
    impl serde::Serialize for Items<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.0.iter().map(|o| &**o))
        }
    }
    #[derive(serde::Serialize)]
    struct List<'a> {
        kind: String,
        #[serde(rename = "apiVersion")]
        api_version: String,
        metadata: Value,
        items: Items<'a>,
    }
    let head = list_body(rt, Vec::new(), rv, page);
    let list = List {
        kind: rt.list_kind(),
        api_version: rt.api_version(),
        metadata: head.get("metadata").cloned().unwrap_or_default(),
        items: Items(items),
    };
    match serde_json::to_vec(&list) {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(e) => ApiError::from(StoreError::Internal(e.to_string())).into_response(),
    }
}

fn encode_continue(rv: u64, ns: &str, name: &str) -> String {
    let raw = json!({"v": "rollout.sim/v1", "rv": rv, "start": [ns, name]}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(token: &str) -> Result<(String, String), ApiError> {
    let bad = || ApiError::bad_request(format!("continue key is not valid: {token:?}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let start = v.get("start").and_then(Value::as_array).ok_or_else(bad)?;
    let part = |i: usize| {
        start
            .get(i)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(bad)
    };
    Ok((part(0)?, part(1)?))
}

#[allow(clippy::too_many_arguments)]
fn patch_object(
    state: &Arc<ApiState>,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    sub: Option<&str>,
    headers: &HeaderMap,
    q: &Query,
    body: &[u8],
    mut opts: WriteOptions,
) -> Result<Response, ApiError> {
    let ct = header_str(headers, header::CONTENT_TYPE);
    let kind = patch::PatchType::from_content_type(ct)
        .ok_or_else(|| ApiError::unsupported_media_type(ct))?;
    let patch_body = patch::parse_body(kind, body)?;
    if sub == Some("scale") {
        if !rt.has_scale {
            return Err(ApiError::not_found_path());
        }
        let obj = scale::write(&state.store, rt, ns, name, &opts, |current| {
            patch::apply_patch(kind, rt, current, &patch_body).map_err(api_to_store)
        })?;
        return Ok(json_response(StatusCode::OK, &obj));
    }
    let part = if sub == Some("status") {
        Part::Status
    } else {
        Part::Main
    };
    if kind == patch::PatchType::Apply {
        if q.field_manager.is_none() {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid",
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            ));
        }
        let given = patch_body
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or(name);
        if given != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({given}) does not match the name on the URL ({name})"
            )));
        }
        let existed = state.store.get(rt, ns, name).is_ok();
        opts.apply = true;
        let manager = opts.field_manager.clone();
        let now = kube_util::time::now_rfc3339();
        let obj = state.store.modify(rt, ns, name, part, &opts, |current| {
            let mut applied = patch_body.clone();
            if let Some(m) = applied.get_mut("metadata").and_then(Value::as_object_mut) {
                // The live object's identity and version come from the server, not the config.
                m.remove("resourceVersion");
            }
            patch::apply::apply(current, &applied, &manager, q.force, &now)
                .map_err(|e| apply_error(rt, name, e))
        })?;
        let code = if existed {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        };
        return Ok(json_response(code, &obj));
    }
    let obj = state
        .store
        .modify(rt, ns, name, part, &opts, |current| match current {
            Some(c) => patch::apply_patch(kind, rt, c, &patch_body).map_err(api_to_store),
            None => Err(store::not_found(rt, name)),
        })?;
    Ok(json_response(StatusCode::OK, &obj))
}

fn apply_error(rt: &ResourceType, name: &str, e: patch::apply::ApplyError) -> StoreError {
    match e {
        patch::apply::ApplyError::Conflict { conflicts } => {
            let lines: Vec<String> = conflicts
                .iter()
                .map(|c| format!("conflict with \"{}\": {}", c.manager, c.field))
                .collect();
            StoreError::ConflictMessage {
                resource: store::resource_name(rt),
                name: name.into(),
                message: format!(
                    "Apply failed with {} conflict{}: {}",
                    conflicts.len(),
                    if conflicts.len() == 1 { "" } else { "s" },
                    lines.join("\n")
                ),
            }
        }
        other => StoreError::BadRequest(other.to_string()),
    }
}

/// Patch functions speak ApiError; inside a store transaction the error travels as a
/// StoreError with the same code.
fn api_to_store(e: ApiError) -> StoreError {
    match e.code.as_u16() {
        415 | 400 => StoreError::BadRequest(e.message),
        _ => StoreError::Invalid {
            kind: String::new(),
            group: String::new(),
            name: String::new(),
            message: e.message,
            causes: vec![],
        },
    }
}

/// `pods/<name>/binding`: what a scheduler sends to put a pod on a node.
fn bind(
    state: &Arc<ApiState>,
    ns: &str,
    name: &str,
    binding: &Value,
    opts: &WriteOptions,
) -> Result<Response, ApiError> {
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("a Binding needs target.name (the node)"))?
        .to_string();
    let pods = crate::resources::find("", "v1", "pods").ok_or_else(ApiError::not_found_path)?;
    state.store.modify(pods, ns, name, Part::System, opts, |current| {
        let Some(current) = current else { return Err(store::not_found(pods, name)) };
        if let Some(existing) = current.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty()) {
            return Err(StoreError::ConflictMessage {
                resource: "pods".into(),
                name: name.into(),
                message: format!("Operation cannot be fulfilled on pods/binding \"{name}\": pod {name} is already assigned to node \"{existing}\""),
            });
        }
        let mut pod = current.clone();
        if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("nodeName".into(), json!(node));
        }
        let now = kube_util::time::now_rfc3339();
        if let Some(status) = pod.get_mut("status").and_then(Value::as_object_mut) {
            let conds = status.entry("conditions").or_insert_with(|| json!([]));
            if let Some(a) = conds.as_array_mut() {
                a.retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
                a.push(json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now}));
            }
        }
        Ok(pod)
    })?;
    Ok(json_response(
        StatusCode::CREATED,
        &status::success(json!({"name": name, "kind": "pods"})),
    ))
}
