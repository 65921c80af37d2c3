//! HTTP plumbing of one forwarded request: hop-by-hop headers, head sizes, nginx's error
//! pages, relaying the response (or tunnelling an upgrade) while metering its body.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{CONNECTION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, UPGRADE};
use hyper::{Request, Response, StatusCode, Uri, Version};
use hyper_util::rt::TokioIo;

use super::handler::Record;
use super::{BoxError, ProxyBody};
use crate::ingress::metrics::RequestLabels;
use crate::ingress::routing::Decision;

pub(super) fn request_labels(
    decision: &Decision,
    host_header: &str,
    method: &str,
) -> RequestLabels {
    RequestLabels {
        canary: decision.canary_label.clone(),
        host: host_without_port(host_header).to_ascii_lowercase(),
        ingress: decision.ingress.clone(),
        method: method.to_string(),
        namespace: decision.namespace.clone(),
        path: decision.matched_path.clone(),
        service: decision.service_label.clone(),
        status: 0,
    }
}

pub(super) fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Approximate `$request_length` without the body: request line and headers.
pub(super) fn head_size<B>(req: &Request<B>) -> u64 {
    let line = req.method().as_str().len() + 1 + req.uri().to_string().len() + 11;
    let headers: usize = req
        .headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    (line + headers + 2) as u64
}

fn response_head_size(status: StatusCode, headers: &HeaderMap) -> u64 {
    let line = 13 + status.canonical_reason().map_or(0, str::len) + 2;
    let headers: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    (line + headers + 2) as u64
}

pub(super) fn set_header(map: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        map.insert(HeaderName::from_static(name), v);
    }
}

pub(super) fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

pub(super) fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(UPGRADE)
        && headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

pub(super) fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        if err.to_string().contains("timed out") {
            return true;
        }
        cur = err.source();
    }
    false
}

pub(super) fn build_request(
    method: &hyper::Method,
    addr: SocketAddr,
    path_and_query: &str,
    headers: &HeaderMap,
    body: ProxyBody,
) -> Result<Request<ProxyBody>, hyper::http::Error> {
    let uri: Uri = format!("http://{addr}{path_and_query}").parse()?;
    let mut req = Request::builder()
        .method(method.clone())
        .uri(uri)
        .version(Version::HTTP_11)
        .body(body)?;
    *req.headers_mut() = headers.clone();
    Ok(req)
}

pub(super) fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// nginx's error page for `status`.
pub fn error_page(status: StatusCode) -> Response<ProxyBody> {
    let text = status_text(status);
    let body = format!(
        "<html>\r\n<head><title>{text}</title></head>\r\n<body>\r\n<center><h1>{text}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
    resp
}

/// nginx's status line text (`503 Service Temporarily Unavailable`, `504 Gateway Time-out`).
fn status_text(status: StatusCode) -> String {
    let reason = match status.as_u16() {
        503 => "Service Temporarily Unavailable",
        504 => "Gateway Time-out",
        408 => "Request Time-out",
        413 => "Request Entity Too Large",
        _ => status.canonical_reason().unwrap_or(""),
    };
    format!("{} {reason}", status.as_u16())
}

pub(super) fn local_response(status: StatusCode, record: &Record) -> Response<ProxyBody> {
    let resp = error_page(status);
    let body_len = resp.body().size_hint().exact().unwrap_or(0);
    record.finish(
        status.as_u16(),
        response_head_size(status, resp.headers()) + body_len,
        None,
        None,
    );
    resp
}

pub(super) fn relay(
    mut resp: Response<Incoming>,
    record: Record,
    upstream_start: Instant,
    header_secs: f64,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Response<ProxyBody> {
    let status = resp.status();
    if status == StatusCode::SWITCHING_PROTOCOLS
        && let Some(client_upgrade) = client_upgrade
    {
        let upstream_upgrade = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            let (client, upstream) = futures::join!(client_upgrade, upstream_upgrade);
            match (client, upstream) {
                (Ok(client), Ok(upstream)) => {
                    let mut client = TokioIo::new(client);
                    let mut upstream = TokioIo::new(upstream);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
                (c, u) => {
                    tracing::debug!(
                        client = c.is_ok(),
                        upstream = u.is_ok(),
                        "ingress: upgrade failed"
                    );
                }
            }
        });
        let (parts, _) = resp.into_parts();
        record.finish(
            101,
            response_head_size(status, &parts.headers),
            Some(header_secs),
            Some(header_secs),
        );
        return Response::from_parts(parts, full(Bytes::new()));
    }
    let (mut parts, body) = resp.into_parts();
    let connection_tokens: Vec<HeaderName> = parts
        .headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in connection_tokens {
        parts.headers.remove(name);
    }
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        parts.headers.remove(name);
    }
    let head = response_head_size(status, &parts.headers);
    let metered = MeteredBody {
        inner: body.map_err(Into::into).boxed_unsync(),
        bytes: 0,
        pending: Some(PendingRecord {
            record,
            status: status.as_u16(),
            head,
            upstream_start,
            header_secs,
        }),
    };
    Response::from_parts(parts, metered.boxed_unsync())
}

struct PendingRecord {
    record: Record,
    status: u16,
    head: u64,
    upstream_start: Instant,
    header_secs: f64,
}

/// Passes the upstream body through and records the request when it ends (or is dropped).
struct MeteredBody {
    inner: ProxyBody,
    bytes: u64,
    pending: Option<PendingRecord>,
}

impl MeteredBody {
    fn finish(&mut self) {
        if let Some(p) = self.pending.take() {
            p.record.finish(
                p.status,
                p.head + self.bytes,
                Some(p.header_secs),
                Some(p.upstream_start.elapsed().as_secs_f64()),
            );
        }
    }
}

impl Body for MeteredBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes += data.len() as u64;
                }
            }
            Poll::Ready(Some(Err(_)) | None) => this.finish(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for MeteredBody {
    fn drop(&mut self) {
        self.finish();
    }
}
