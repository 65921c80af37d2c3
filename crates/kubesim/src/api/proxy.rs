//! The `proxy` subresources of Services and Pods, as the real API server offers them: how a
//! client with only API access (an orchestrator's HTTP checks, `kubectl get --raw`) reaches an
//! app without an Ingress or a port-forward.
//!
//! `services/[scheme:]NAME[:PORT]/proxy/PATH` picks a ready address from the Service's
//! Endpoints (PORT is a Service port name or number; the unnamed port when absent, as on a
//! real API server);
//! `pods/NAME[:PORT]/proxy/PATH` goes to the pod's IP (the first container port when absent).

use super::status::ApiError;
use crate::resources;
use crate::store::Store;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Splits `[scheme:]name[:port]`.
fn parse_target(raw: &str) -> (String, Option<String>) {
    let parts: Vec<&str> = raw.split(':').collect();
    match parts.as_slice() {
        [name] => ((*name).to_string(), None),
        [scheme, name, port] if matches!(*scheme, "http" | "https") => (
            (*name).to_string(),
            Some((*port).to_string()).filter(|p| !p.is_empty()),
        ),
        [scheme, name] if matches!(*scheme, "http" | "https") => ((*name).to_string(), None),
        [name, port] => ((*name).to_string(), Some((*port).to_string())),
        _ => (raw.to_string(), None),
    }
}

fn unavailable(message: String) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        message,
    )
}

/// Round-robin position across proxied requests (shared; fairness per Service is not needed).
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Where a service proxy request goes: `ip:port` of a ready endpoint.
pub fn service_backend(store: &Store, ns: &str, target: &str) -> Result<String, ApiError> {
    let (name, port) = parse_target(target);
    let services = resources::find("", "v1", "services").ok_or_else(ApiError::not_found_path)?;
    let endpoints = resources::find("", "v1", "endpoints").ok_or_else(ApiError::not_found_path)?;
    let svc = store.get(services, ns, &name)?;
    // As the real API server: a port number names the Service port with that number; no
    // port means the Service's unnamed port; a name is looked up in the endpoints as given.
    let port_name = match port {
        None => String::new(),
        Some(p) => match p.parse::<i64>() {
            Ok(number) => svc
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|sp| sp.get("port").and_then(Value::as_i64) == Some(number))
                .map(|sp| {
                    sp.get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                })
                .ok_or_else(|| {
                    unavailable(format!(
                        "no service port {number} found for service \"{name}\""
                    ))
                })?,
            Err(_) => p,
        },
    };
    let ep = store
        .get(endpoints, ns, &name)
        .map_err(|_| unavailable(format!("no endpoints available for service \"{name}\"")))?;
    let mut candidates = Vec::new();
    for subset in ep
        .get("subsets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(p) = subset
            .get("ports")
            .and_then(Value::as_array)
            .and_then(|ps| {
                ps.iter().find(|p| {
                    p.get("name").and_then(Value::as_str).unwrap_or_default() == port_name
                })
            })
            .and_then(|p| p.get("port").and_then(Value::as_i64))
        else {
            continue;
        };
        for a in subset
            .get("addresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(ip) = a.get("ip").and_then(Value::as_str) {
                candidates.push(pod_address(ip, &p.to_string()));
            }
        }
    }
    if candidates.is_empty() {
        return Err(unavailable(format!(
            "no endpoints available for service \"{name}\""
        )));
    }
    Ok(candidates[NEXT.fetch_add(1, Ordering::Relaxed) % candidates.len()].clone())
}

/// Where a pod proxy request goes.
pub fn pod_backend(store: &Store, ns: &str, target: &str) -> Result<String, ApiError> {
    let (name, port) = parse_target(target);
    let pods = resources::find("", "v1", "pods").ok_or_else(ApiError::not_found_path)?;
    let pod = store.get(pods, ns, &name)?;
    let ip = pod
        .pointer("/status/podIP")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| unavailable(format!("pod \"{name}\" has no IP address yet")))?;
    let container_ports: Vec<&Value> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|c| {
            c.get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .collect();
    let number = match &port {
        Some(p) => match p.parse::<u16>() {
            Ok(n) => n as i64,
            Err(_) => container_ports
                .iter()
                .find(|cp| cp.get("name").and_then(Value::as_str) == Some(p.as_str()))
                .and_then(|cp| cp.get("containerPort").and_then(Value::as_i64))
                .ok_or_else(|| unavailable(format!("pod \"{name}\" has no port named {p:?}")))?,
        },
        None => container_ports
            .first()
            .and_then(|cp| cp.get("containerPort").and_then(Value::as_i64))
            .unwrap_or(80),
    };
    Ok(pod_address(ip, &number.to_string()))
}

/// `ip:port` of a pod as the node agent serves it (see [`crate::node::ports`]).
fn pod_address(ip: &str, port: &str) -> String {
    match format!("{ip}:{port}").parse::<std::net::SocketAddr>() {
        Ok(declared) => crate::node::ports::dial(declared).to_string(),
        Err(_) => format!("{ip}:{port}"),
    }
}

/// Forwards the request to `backend` and streams the answer back.
pub async fn forward(
    http: &reqwest::Client,
    backend: &str,
    method: &Method,
    rest: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let mut url = format!("http://{backend}/{rest}");
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        url.push('?');
        url.push_str(q);
    }
    let mut req = http.request(method.clone(), &url).body(body);
    for (k, v) in headers {
        // The API server's own credentials and hop-by-hop headers stay here.
        if k == header::AUTHORIZATION
            || k == header::HOST
            || k == header::CONNECTION
            || k == header::CONTENT_LENGTH
            || k == header::TRANSFER_ENCODING
        {
            continue;
        }
        req = req.header(k, v);
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            let mut out = Response::builder().status(status.as_u16());
            for (k, v) in resp.headers() {
                if k != header::CONNECTION
                    && k != header::TRANSFER_ENCODING
                    && k != header::CONTENT_LENGTH
                {
                    out = out.header(k, v);
                }
            }
            out.body(Body::from_stream(resp.bytes_stream()))
                .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
        }
        Err(e) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            format!("error trying to reach service: {e}"),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(parse_target("web"), ("web".into(), None));
        assert_eq!(parse_target("web:80"), ("web".into(), Some("80".into())));
        assert_eq!(
            parse_target("http:web:http"),
            ("web".into(), Some("http".into()))
        );
        assert_eq!(parse_target("https:web:"), ("web".into(), None));
    }
}
