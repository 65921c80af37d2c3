//! The listeners: the proxy itself and `/metrics`, each until shutdown.

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
use super::handler::Handler;
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
    accept_loop(listener, shutdown, move |remote| {
        let handler = handler.clone();
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let handler = handler.clone();
            async move { Ok::<_, Infallible>(handler.handle(req, remote).await) }
        })
    })
    .await;
}

/// Serves `GET /metrics` (text format 0.0.4) and `GET /healthz` from `metrics`.
pub async fn serve_metrics(
    metrics: Arc<Metrics>,
    listener: TcpListener,
    shutdown: watch::Receiver<bool>,
) {
    accept_loop(listener, shutdown, move |_| {
        let metrics = metrics.clone();
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let metrics = metrics.clone();
            async move {
                let resp = match req.uri().path() {
                    "/metrics" => {
                        let mut r = Response::new(full(metrics.render()));
                        r.headers_mut()
                            .insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE));
                        r
                    }
                    "/healthz" => Response::new(full("ok")),
                    _ => error_page(StatusCode::NOT_FOUND),
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

async fn accept_loop<F, S>(listener: TcpListener, mut shutdown: watch::Receiver<bool>, make: F)
where
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
                let mut conn_shutdown = shutdown.clone();
                conns.spawn(async move {
                    let conn = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(60))
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades();
                    tokio::pin!(conn);
                    tokio::select! {
                        res = conn.as_mut() => {
                            if let Err(e) = res {
                                tracing::trace!(error = %e, "ingress: connection ended");
                            }
                        }
                        _ = stopped(&mut conn_shutdown) => {
                            conn.as_mut().graceful_shutdown();
                            let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
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
