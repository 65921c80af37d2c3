//! Watch streams: newline-delimited JSON events, resumable from a resource version, with
//! bookmarks, timeouts, the watch-list protocol (`sendInitialEvents`) and 410 Expired.

use super::ApiState;
use super::path::Target;
use super::query::{Query, Shape};
use super::render::render_shape;
use super::status::ApiError;
use crate::resources::ResourceType;
use crate::store::{EventType, Since, StoreError, WatchEvent};
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// How long a watch runs when the client gives no timeoutSeconds.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

pub fn serve(
    state: &Arc<ApiState>,
    t: &Target,
    q: &Query,
    shape: Shape,
) -> Result<Response, ApiError> {
    let initial_events = q.send_initial_events == Some(true);
    if initial_events {
        if q.resource_version_match.as_deref() != Some("NotOlderThan") {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid",
                "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        if !q.allow_bookmarks {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid",
                "ListOptions.meta.k8s.io \"\" is invalid: allowWatchBookmarks: Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true",
            ));
        }
    }
    let since = match q.resource_version.as_deref() {
        _ if initial_events => Since::Now,
        None | Some("") | Some("0") => Since::Now,
        Some(v) => Since::After(
            v.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {v:?}")))?,
        ),
    };
    let rt = t.resource;
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let watch = Watch {
        rt,
        namespace: t.namespace.clone(),
        query_labels: q.labels.clone(),
        query_fields: q.fields.clone(),
        shape,
        include: q.include_object.clone(),
        bookmarks: q.allow_bookmarks,
    };
    match state.store.watch(rt, t.namespace.as_deref(), since) {
        Ok((backlog, feed, start_rv)) => {
            let state = state.clone();
            let timeout = q
                .timeout_seconds
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_TIMEOUT);
            tokio::spawn(async move {
                watch
                    .run(state, tx, backlog, feed, start_rv, timeout, initial_events)
                    .await;
            });
        }
        Err(StoreError::Expired { requested, oldest }) => {
            // As the real server: the HTTP answer is 200 and the stream carries one ERROR event
            // with a 410 Status, which tells clients to relist.
            let line = expired_line(requested, oldest);
            tokio::spawn(async move {
                let _ = tx.send(line).await;
            });
        }
        Err(e) => return Err(e.into()),
    }
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let body = Body::from_stream(futures::StreamExt::map(
        stream,
        Ok::<Bytes, std::convert::Infallible>,
    ));
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache, private"),
        ],
        body,
    )
        .into_response())
}

fn expired_line(requested: u64, oldest: u64) -> Bytes {
    let status = ApiError::from(StoreError::Expired { requested, oldest }).to_status();
    line(&json!({"type": "ERROR", "object": status}))
}

fn line(v: &Value) -> Bytes {
    let mut s = v.to_string();
    s.push('\n');
    Bytes::from(s)
}

struct Watch {
    rt: &'static ResourceType,
    namespace: Option<String>,
    query_labels: crate::store::LabelSelector,
    query_fields: crate::store::FieldSelector,
    shape: Shape,
    include: Option<String>,
    bookmarks: bool,
}

impl Watch {
    fn selects(&self, obj: &Value) -> bool {
        self.query_labels.matches_object(obj) && self.query_fields.matches(obj)
    }

    /// What this watcher sees of a change: selector transitions turn MODIFIED into ADDED or
    /// DELETED, as on a real server.
    fn translate(&self, e: &WatchEvent) -> Option<(EventType, Arc<Value>)> {
        if !std::ptr::eq(e.resource, self.rt)
            || self.namespace.as_deref().is_some_and(|n| n != e.namespace)
        {
            return None;
        }
        let now = self.selects(&e.object);
        let before = e.previous.as_deref().is_some_and(|p| self.selects(p));
        match e.event_type {
            EventType::Added if now => Some((EventType::Added, e.object.clone())),
            EventType::Modified if now && before => Some((EventType::Modified, e.object.clone())),
            EventType::Modified if now => Some((EventType::Added, e.object.clone())),
            EventType::Modified if before => Some((EventType::Deleted, e.object.clone())),
            EventType::Deleted if now || before => Some((EventType::Deleted, e.object.clone())),
            _ => None,
        }
    }

    /// The line for an event, reusing the shared encoding when this watcher sees the event
    /// as it happened and wants plain objects.
    fn encode_event(&self, e: &WatchEvent, kind: EventType, obj: &Value) -> Bytes {
        if self.shape == Shape::Object && kind == e.event_type {
            return e.encoded.get_or_init(|| self.encode(kind, obj)).clone();
        }
        self.encode(kind, obj)
    }

    fn encode(&self, kind: EventType, obj: &Value) -> Bytes {
        let object = render_shape(self.rt, obj, self.shape, self.include.as_deref());
        line(&json!({"type": kind.as_str(), "object": object}))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_end && let Some(m) = metadata.as_object_mut() {
            m.insert(
                "annotations".into(),
                json!({"k8s.io/initial-events-end": "true"}),
            );
        }
        line(
            &json!({"type": "BOOKMARK", "object": {"kind": self.rt.kind, "apiVersion": self.rt.api_version(), "metadata": metadata}}),
        )
    }

    #[allow(clippy::too_many_arguments)]
    async fn run(
        self,
        state: Arc<ApiState>,
        tx: mpsc::Sender<Bytes>,
        backlog: Vec<Arc<WatchEvent>>,
        mut feed: broadcast::Receiver<Arc<WatchEvent>>,
        start_rv: u64,
        timeout: Duration,
        initial_events: bool,
    ) {
        let mut last_rv = start_rv;
        for e in &backlog {
            if let Some((kind, obj)) = self.translate(e)
                && tx.send(self.encode_event(e, kind, &obj)).await.is_err()
            {
                return;
            }
        }
        if initial_events && tx.send(self.bookmark(last_rv, true)).await.is_err() {
            return;
        }
        let mut stopping = state.stopping.clone();
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(state.bookmark_interval);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = stopping.changed() => return,
                _ = tx.closed() => return,
                _ = ticker.tick(), if self.bookmarks => {
                    if tx.send(self.bookmark(last_rv, false)).await.is_err() {
                        return;
                    }
                }
                received = feed.recv() => match received {
                    Ok(e) => {
                        // Events already sent from history are skipped.
                        if e.resource_version <= last_rv {
                            continue;
                        }
                        last_rv = e.resource_version;
                        if let Some((kind, obj)) = self.translate(&e)
                            && tx.send(self.encode_event(&e, kind, &obj)).await.is_err()
                        {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // This watcher fell too far behind: it must relist, like after compaction.
                        let _ = tx.send(expired_line(last_rv, last_rv + 1)).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    }
}
