//! The listeners: the proxy itself (plain HTTP, and HTTPS terminated here) and the metrics,
//! each until shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::ProxyBody;
use super::handler::{Handler, Scheme};
use super::relay::{error_page, full};
use crate::ingress::endpoints::Resolve;
use crate::ingress::metrics::{CONTENT_TYPE as METRICS_CONTENT_TYPE, Metrics};

/// Serves `handler` on `listener` until `shutdown` turns true (or its sender is dropped);
/// connections then get a second to finish.
pub async fn serve<R: Resolve>(
    handler: Arc<Handler<R>>,
    listener: TcpListener,
    shutdown: watch::Receiver<bool>,
) {
    accept_loop(listener, shutdown, None, move |remote| {
        let handler = handler.clone();
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let handler = handler.clone();
            async move { Ok::<_, Infallible>(handler.handle(req, remote).await) }
        })
    })
    .await;
}

/// Serves `handler` over TLS on `listener` (certificates from `tls`) until `shutdown`.
pub async fn serve_tls<R: Resolve>(
    handler: Arc<Handler<R>>,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shutdown: watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    accept_loop(listener, shutdown, Some(acceptor), move |remote| {
        let handler = handler.clone();
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let handler = handler.clone();
            async move {
                Ok::<_, Infallible>(handler.handle_scheme(req, remote, Scheme::Https).await)
            }
        })
    })
    .await;
}

/// Serves the metrics: `GET /metrics` (everything: ingress-nginx's series and Envoy's),
/// `GET /stats/prometheus` (Envoy's, where Envoy's admin endpoint has them), both in text
/// format 0.0.4, and `GET /healthz`.
pub async fn serve_metrics(
    metrics: Arc<Metrics>,
    listener: TcpListener,
    shutdown: watch::Receiver<bool>,
) {
    accept_loop(listener, shutdown, None, move |_| {
        let metrics = metrics.clone();
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let metrics = metrics.clone();
            async move {
                let text = match req.uri().path() {
                    "/metrics" => Some(metrics.render()),
                    "/stats/prometheus" => Some(metrics.render_envoy()),
                    _ => None,
                };
                let resp = match (text, req.uri().path()) {
                    (Some(text), _) => {
                        let mut r = Response::new(full(text));
                        r.headers_mut()
                            .insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE));
                        r
                    }
                    (None, "/healthz") => Response::new(full("ok")),
                    (None, _) => error_page(StatusCode::NOT_FOUND),
                };
                Ok::<_, Infallible>(resp)
            }
        })
    })
    .await;
}

/// Resolves once `rx` says stop (or its sender is gone).
pub(super) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Longest wait for a client's TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

async fn accept_loop<F, S>(
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    make: F,
) where
    F: Fn(SocketAddr) -> S,
    S: hyper::service::Service<
            Request<Incoming>,
            Response = Response<ProxyBody>,
            Error = Infallible,
        > + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::debug!(error = %e, "ingress: accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = make(remote);
                let conn_shutdown = shutdown.clone();
                let tls = tls.clone();
                conns.spawn(async move {
                    match tls {
                        None => serve_connection(stream, service, conn_shutdown).await,
                        Some(acceptor) => {
                            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                                Ok(Ok(stream)) => serve_connection(stream, service, conn_shutdown).await,
                                Ok(Err(e)) => tracing::debug!(error = %e, %remote, "ingress: TLS handshake failed"),
                                Err(_) => tracing::debug!(%remote, "ingress: TLS handshake timed out"),
                            }
                        }
                    }
                });
            }
            _ = stopped(&mut shutdown) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(2), drain)
        .await
        .is_err()
    {
        conns.abort_all();
    }
}

/// One client connection, HTTP/1.1 with upgrades, until it ends or shutdown (then a second
/// to finish).
async fn serve_connection<IO, S>(io: IO, service: S, mut shutdown: watch::Receiver<bool>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<
            Request<Incoming>,
            Response = Response<ProxyBody>,
            Error = Infallible,
        > + Send
        + 'static,
    S::Future: Send + 'static,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(60))
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                tracing::trace!(error = %e, "ingress: connection ended");
            }
        }
        _ = stopped(&mut shutdown) => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
        }
    }
}
