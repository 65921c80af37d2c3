//! `rollout dashboard`: a web page showing the rollouts of a namespace (or of every namespace
//! it may read) live, from the cluster alone — the record on each app's Deployment, the Lease,
//! the pods of each version, the routes and the gates' last measurements — with charts of what
//! each version served, and buttons that promote, abort or resume exactly as the commands do.
//!
//! The server polls the cluster once a second and pushes one JSON snapshot of everything to
//! every open page over server-sent events. The page (`src/web/`) is built into the binary and
//! loads nothing from elsewhere. What the charts draw comes from the metrics source each
//! rollout's record names, sampled by the server while it runs: a page opened later shows the
//! history since the server started, and nothing lives in the browser that the server (and
//! behind it the cluster) does not have.
//!
//! Safe by default: it listens on 127.0.0.1; actions are POST only, carry a token that only
//! the served page knows, and are refused from another origin; they act with the dashboard's
//! own kube credentials, so they need the same RBAC as the commands.

use std::collections::{BTreeMap, VecDeque};

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::watch;

use rollout_core::cluster::Cluster;
use rollout_core::engine::Options;
use rollout_core::engine::record;
use rollout_core::engine::start;
use rollout_core::report::charts;
use rollout_core::report::data::{Marker, SecondSample, VersionSecond};
use rollout_core::report::live::{self, AppView, TrafficMeter};
use rollout_core::report::{Event, Sink};

const INDEX_HTML: &str = include_str!("../web/index.html");
const APP_JS: &str = include_str!("../web/app.js");
const STYLE_CSS: &str = include_str!("../web/style.css");

/// How often the cluster is read.
const TICK: Duration = Duration::from_secs(1);
/// Samples kept per rollout for the charts: ten minutes at one a second.
const HISTORY: usize = 600;
/// Actions kept for the page.
const ACTIONS: usize = 20;

/// Which namespaces the dashboard shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Namespace(String),
    All,
}

/// How the dashboard reaches the cluster and the apps (the engine's options for abort and
/// resume, which may run here).
#[derive(Clone)]
pub struct Setup {
    pub client: kube::Client,
    pub scope: Scope,
    pub options: Options,
}

/// A running dashboard.
pub struct Dashboard {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    poller: tokio::task::JoinHandle<()>,
}

impl Dashboard {
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn stop(&self) {
        self.task.abort();
        self.poller.abort();
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One rollout's samples, kept while the server runs.
struct History {
    id: String,
    started: Instant,
    meter: Option<TrafficMeter>,
    timeline: Vec<SecondSample>,
    markers: Vec<Marker>,
    step: Option<usize>,
    /// The last measured share of each version's requests.
    share: BTreeMap<String, f64>,
}

/// What one action did, for the page.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct ActionLog {
    at: String,
    namespace: String,
    app: String,
    action: String,
    /// `running`, `done`, `failed`.
    state: String,
    message: String,
}

struct Shared {
    setup: Setup,
    token: String,
    snapshot: watch::Sender<Arc<String>>,
    actions: Mutex<VecDeque<ActionLog>>,
}

impl Shared {
    fn log(&self, entry: ActionLog) -> usize {
        let mut a = self.actions.lock().unwrap_or_else(|p| p.into_inner());
        a.push_back(entry);
        while a.len() > ACTIONS {
            a.pop_front();
        }
        a.len() - 1
    }

    /// Updates the last action of `app` named `action`.
    fn finish(&self, namespace: &str, app: &str, action: &str, state: &str, message: String) {
        let mut a = self.actions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = a
            .iter_mut()
            .rev()
            .find(|e| e.namespace == namespace && e.app == app && e.action == action)
        {
            e.state = state.into();
            e.message = message;
        }
    }

    fn actions(&self) -> Vec<ActionLog> {
        self.actions
            .lock()
            .map(|a| a.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// Starts the dashboard on `listen` (port 0 picks a free one).
pub async fn start(setup: Setup, listen: SocketAddr) -> anyhow::Result<Dashboard> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    let (snapshot, _) = watch::channel(Arc::new(String::from("{}")));
    let shared = Arc::new(Shared {
        setup,
        token: uuid::Uuid::new_v4().simple().to_string(),
        snapshot,
        actions: Mutex::new(VecDeque::new()),
    });
    let poller = tokio::spawn(poll(shared.clone()));
    let app = Router::new()
        .route("/", get(index))
        .route(
            "/app.js",
            get(|| async { asset("text/javascript", APP_JS) }),
        )
        .route("/style.css", get(|| async { asset("text/css", STYLE_CSS) }))
        .route("/api/state", get(state))
        .route("/api/events", get(events))
        .route("/api/rollouts/{namespace}/{app}/{action}", post(action))
        .with_state(shared);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "the dashboard stopped serving");
        }
    });
    Ok(Dashboard { addr, task, poller })
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn index(State(s): State<Arc<Shared>>) -> Response {
    let scope = match &s.setup.scope {
        Scope::Namespace(n) => format!("namespace {n}"),
        Scope::All => "every namespace".into(),
    };
    let page = INDEX_HTML
        .replace("{{TOKEN}}", &s.token)
        .replace("{{SCOPE}}", &charts::escape_attr(&scope));
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            // The page runs only its own script and talks only to this server.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
            ),
        ],
        page,
    )
        .into_response()
}

async fn state(State(s): State<Arc<Shared>>) -> Response {
    let body = s.snapshot.borrow().as_str().to_owned();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn events(
    State(s): State<Arc<Shared>>,
) -> Sse<impl futures::Stream<Item = Result<SseEvent, std::convert::Infallible>>> {
    let rx = s.snapshot.subscribe();
    let stream = tokio_stream::wrappers::WatchStream::new(rx)
        .map(|snap| Ok(SseEvent::default().event("snapshot").data(snap.as_str())));
    Sse::new(stream).keep_alive(KeepAlive::default())
}

#[derive(Debug, Deserialize)]
struct ActionQuery {
    #[serde(default)]
    full: bool,
}

/// Whether a POST comes from the page this server served: the token it carries, and an
/// origin (when the browser says one) that is this server's.
fn allowed(s: &Shared, headers: &HeaderMap) -> Result<(), (StatusCode, String)> {
    let token = headers
        .get("x-rollout-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if token != s.token {
        return Err((
            StatusCode::FORBIDDEN,
            "missing or wrong X-Rollout-Token (reload the page)".into(),
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if origin != format!("http://{host}") {
            return Err((
                StatusCode::FORBIDDEN,
                format!("requests from {origin} are not accepted"),
            ));
        }
    }
    Ok(())
}

/// A sink that keeps the last note of an action for the page.
struct ActionSink {
    shared: Arc<Shared>,
    namespace: String,
    app: String,
    action: String,
}

impl Sink for ActionSink {
    fn emit(&self, event: &Event) {
        let message = match event {
            Event::Note { message } => message.clone(),
            Event::RollingBack { reason } => format!("rolling back: {reason}"),
            Event::Waiting { what, .. } => format!("waiting for {what}"),
            _ => return,
        };
        self.shared
            .finish(&self.namespace, &self.app, &self.action, "running", message);
    }
}

async fn action(
    State(s): State<Arc<Shared>>,
    Path((namespace, app, action)): Path<(String, String, String)>,
    Query(q): Query<ActionQuery>,
    headers: HeaderMap,
) -> Response {
    if let Err((code, message)) = allowed(&s, &headers) {
        return (code, axum::Json(json!({"error": message}))).into_response();
    }
    if let Scope::Namespace(n) = &s.setup.scope
        && *n != namespace
    {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": format!("this dashboard shows namespace {n} only")})),
        )
            .into_response();
    }
    let cluster = Cluster::new(s.setup.client.clone(), namespace.clone());
    let entry = ActionLog {
        at: jiff::Timestamp::now().to_string(),
        namespace: namespace.clone(),
        app: app.clone(),
        action: action.clone(),
        state: "running".into(),
        message: String::new(),
    };
    match action.as_str() {
        "promote" => match start::promote(&cluster, &app, q.full).await {
            Ok(()) => {
                let message = format!("promoted {app}{}", if q.full { " (full)" } else { "" });
                s.log(ActionLog {
                    state: "done".into(),
                    message: message.clone(),
                    ..entry
                });
                (StatusCode::OK, axum::Json(json!({"ok": message}))).into_response()
            }
            Err(e) => refuse(&s, entry, &e),
        },
        "abort" | "resume" => {
            // Both refuse at once what they would refuse on the command line.
            match cluster.deployment(&app).await {
                Ok(d) if record::of(&d).is_some() => {}
                Ok(_) => {
                    return refuse(
                        &s,
                        entry,
                        &start::StartError::NotRecorded { app: app.clone() },
                    );
                }
                Err(e) => return refuse(&s, entry, &start::StartError::from(e)),
            }
            s.log(entry);
            let sink: Arc<dyn Sink> = Arc::new(ActionSink {
                shared: s.clone(),
                namespace: namespace.clone(),
                app: app.clone(),
                action: action.clone(),
            });
            let opts = s.setup.options.clone();
            let shared = s.clone();
            let (ns, name, what) = (namespace.clone(), app.clone(), action.clone());
            // They run as long as the rollout does (abort waits for its holder to roll back;
            // resume runs the rest of it here): the answer says they started.
            tokio::spawn(async move {
                let result = if what == "abort" {
                    start::abort(cluster, &name, opts, sink)
                        .await
                        .map(|a| match a {
                            start::Aborted::Here(end) => end.finish.as_str().to_owned(),
                            start::Aborted::ByHolder { holder, finish, .. } => {
                                format!("{} by {holder}", finish.map_or("ended", |f| f.as_str()))
                            }
                        })
                } else {
                    start::resume(cluster, &name, opts, sink)
                        .await
                        .map(|end| end.finish.as_str().to_owned())
                };
                match result {
                    Ok(how) => shared.finish(&ns, &name, &what, "done", how),
                    Err(e) => {
                        shared.finish(&ns, &name, &what, "failed", rollout_core::error::chain(&e))
                    }
                }
            });
            (
                StatusCode::ACCEPTED,
                axum::Json(json!({"ok": format!("{action} of {app} started")})),
            )
                .into_response()
        }
        other => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": format!("no action {other:?}: promote, abort, resume")})),
        )
            .into_response(),
    }
}

fn refuse(s: &Shared, entry: ActionLog, e: &start::StartError) -> Response {
    let message = rollout_core::error::chain(e);
    let code = match e {
        start::StartError::NotRecorded { .. } => StatusCode::CONFLICT,
        start::StartError::Cluster(c) if c.is_forbidden() => StatusCode::FORBIDDEN,
        start::StartError::Cluster(c) if c.is_not_found() => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    s.log(ActionLog {
        state: "failed".into(),
        message: message.clone(),
        ..entry
    });
    (code, axum::Json(json!({"error": message}))).into_response()
}

/// The namespaces and apps to show now.
async fn apps_in_scope(
    client: &kube::Client,
    scope: &Scope,
) -> Result<Vec<(String, String)>, String> {
    let list = match scope {
        Scope::Namespace(n) => kube::Api::<Deployment>::namespaced(client.clone(), n)
            .list(&Default::default())
            .await
            .map_err(|e| format!("cannot list the Deployments of namespace {n}: {e}"))?,
        Scope::All => kube::Api::<Deployment>::all(client.clone())
            .list(&Default::default())
            .await
            .map_err(|e| format!("cannot list Deployments in every namespace: {e}"))?,
    };
    let mut apps: Vec<(String, String)> = list
        .items
        .iter()
        .filter(|d| !rollout_core::labels::made_by_rollout(&d.metadata))
        .filter(|d| {
            let a = |k| rollout_core::cluster::api::annotation(&d.metadata, k).is_some();
            a(record::STATE) || a(record::LAST)
        })
        .filter_map(|d| Some((d.metadata.namespace.clone()?, d.metadata.name.clone()?)))
        .collect();
    apps.sort();
    Ok(apps)
}

/// The share of each version's requests: measured when the metrics say, else what the record
/// routes.
fn shares(view: &AppView, h: Option<&History>) -> Vec<Value> {
    let Some(r) = &view.rollout else {
        return Vec::new();
    };
    if let Some(h) = h
        && !h.share.is_empty()
    {
        return h
            .share
            .iter()
            .map(|(v, p)| json!({"version": v, "percent": p, "source": "measured"}))
            .collect();
    }
    vec![
        json!({"version": r.from_image, "percent": 100.0 - f64::from(r.weight), "source": "routed"}),
        json!({"version": r.to_image, "percent": f64::from(r.weight), "source": "routed"}),
    ]
}

/// One tick: reads every app in scope and what each version served, and publishes it all.
async fn tick(
    shared: &Shared,
    histories: &mut BTreeMap<(String, String), History>,
    http: &reqwest::Client,
) -> Value {
    let client = &shared.setup.client;
    let apps = match apps_in_scope(client, &shared.setup.scope).await {
        Ok(a) => a,
        Err(e) => return json!({"error": e, "apps": [], "actions": shared.actions()}),
    };
    let mut out = Vec::new();
    for (ns, app) in apps {
        let cluster = Cluster::new(client.clone(), ns.clone());
        let view = match live::gather(&cluster, &app).await {
            Ok(v) => v,
            Err(e) => {
                out.push(
                    json!({"namespace": ns, "app": app, "problem": rollout_core::error::chain(&e)}),
                );
                continue;
            }
        };
        let key = (ns.clone(), app.clone());
        if let Some(r) = &view.rollout {
            if histories.get(&key).is_none_or(|h| h.id != r.id) {
                let meter = cluster
                    .get::<Deployment>(&app)
                    .await
                    .ok()
                    .and_then(|d| record::of(&d)?.ok())
                    .and_then(|rec| TrafficMeter::of(&rec, client));
                histories.insert(
                    key.clone(),
                    History {
                        id: r.id.clone(),
                        started: Instant::now(),
                        meter,
                        timeline: Vec::new(),
                        markers: Vec::new(),
                        step: None,
                        share: BTreeMap::new(),
                    },
                );
            }
            if let Some(h) = histories.get_mut(&key) {
                sample(h, &view, http).await;
            }
        }
        let h = histories.get(&key);
        let lines = h.map(|h| charts::lines(&h.timeline)).unwrap_or_default();
        let mut v = serde_json::to_value(&view).unwrap_or_default();
        v["share"] = json!(shares(&view, h));
        v["charts"] = serde_json::to_value(&lines).unwrap_or_default();
        v["markers"] = json!(h.map(|h| h.markers.clone()).unwrap_or_default());
        v["historySeconds"] = json!(h.map(|h| h.started.elapsed().as_secs_f64()));
        out.push(v);
    }
    json!({
        "at": jiff::Timestamp::now().to_string(),
        "scope": match &shared.setup.scope { Scope::Namespace(n) => n.clone(), Scope::All => String::new() },
        "apps": out,
        "actions": shared.actions(),
    })
}

/// Adds one sample to a running rollout's history: what each version served since the last
/// tick, its ready pods, and a marker when the step changed.
async fn sample(h: &mut History, view: &AppView, http: &reqwest::Client) {
    let Some(r) = &view.rollout else { return };
    let t = h.started.elapsed().as_secs_f64();
    if h.step != Some(r.step) {
        h.step = Some(r.step);
        if let Some(label) = r.steps.get(r.step) {
            h.markers.push(Marker {
                t,
                label: label.clone(),
            });
        }
    }
    let mut by_version: BTreeMap<String, VersionSecond> = BTreeMap::new();
    for v in &view.versions {
        by_version.entry(v.version.clone()).or_default().ready_pods += v.ready;
    }
    let served = match h.meter.as_mut() {
        Some(m) => m.read(http).await,
        None => None,
    };
    if let Some(served) = served {
        let total: u64 = served.iter().map(|s| s.requests).sum();
        for s in &served {
            let cell = by_version.entry(s.version.clone()).or_default();
            cell.requests = s.requests;
            cell.failed = s.errors;
            cell.latency_ms = s.p95_ms;
        }
        if total > 0 {
            h.share = served
                .iter()
                .map(|s| (s.version.clone(), s.requests as f64 * 100.0 / total as f64))
                .collect();
        }
    }
    h.timeline.push(SecondSample {
        t,
        by_version,
        unanswered: 0,
    });
    if h.timeline.len() > HISTORY {
        let extra = h.timeline.len() - HISTORY;
        h.timeline.drain(..extra);
    }
}

async fn poll(shared: Arc<Shared>) {
    let mut histories: BTreeMap<(String, String), History> = BTreeMap::new();
    let http = shared.setup.options.http.clone();
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let snap = tick(&shared, &mut histories, &http).await;
        let text = snap.to_string();
        shared.snapshot.send_if_modified(|old| {
            if **old == text {
                false
            } else {
                *old = Arc::new(text);
                true
            }
        });
    }
}

/// Prints where the dashboard is, and opens it in a browser when asked.
pub fn announce(d: &Dashboard, open: bool) {
    let url = d.url();
    eprintln!("dashboard at {url}");
    if open {
        // xdg-open on Linux, open on macOS; a missing one is only said.
        let opener = if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        };
        if let Err(e) = std::process::Command::new(opener)
            .arg(&url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
        {
            eprintln!("cannot open a browser with {opener}: {e}; open {url} yourself");
        }
    }
}

/// `rollout dashboard`
pub async fn run(args: &crate::cli::DashboardArgs) -> anyhow::Result<()> {
    let conn = rollout_core::cluster::connect::connect(&args.target.kube.source()).await?;
    let cluster = conn.cluster(args.target.namespace.as_deref());
    let scope = if args.all_namespaces {
        Scope::All
    } else {
        Scope::Namespace(cluster.namespace.clone())
    };
    let mut options = Options::new()?;
    options.proxy_client = Some(conn.proxy_client.clone());
    options.ingress_url = args.endpoints.ingress_url.clone();
    options.metrics_url = args.endpoints.metrics_url.clone();
    options.prometheus = args.endpoints.prometheus.clone();
    let d = start(
        Setup {
            client: cluster.client.clone(),
            scope,
            options,
        },
        args.listen,
    )
    .await?;
    if !d.addr.ip().is_loopback() {
        eprintln!(
            "warning: listening on {}: anyone who can reach it can watch, and whoever loads the page can promote and abort with this dashboard's credentials",
            d.addr
        );
    }
    announce(&d, args.open);
    eprintln!("Ctrl-C stops it.");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    d.stop();
    Ok(())
}
