//! The simulated application of one container: an in-process HTTP server bound to the pod's
//! loopback address, behaving as its image's [`Behaviour`] says.
//!
//! What it answers:
//!
//! - the health path (`/healthz` by default): `200 ok`, or `503 not ready` when the behaviour
//!   is `never_ready`;
//! - `/metrics`: Prometheus text (`http_requests_total{code,path}`,
//!   `http_request_duration_seconds` histogram, `process_resident_memory_bytes`,
//!   `app_info{version,pod}`);
//! - the app's paths (every path by default): after the sampled latency, `200` with the body
//!   template filled in, or `500 internal error` with probability `error_ratio`;
//! - anything else: `404 not found`.
//!
//! Every answer carries `X-Pod` and `X-Version`, which the ingress and the traffic generator use
//! to attribute requests to versions. Probes and scrapes answer at once and do not count as the
//! app's traffic (`AppStats::requests`, the duration histogram): they would drag percentiles
//! toward zero and inflate the request rate the HPA model sees.
//!
//! Lifecycle, as a real process would show it: the port is reserved at start but connections
//! are refused until `startup` has passed (the socket is bound but not listening, so even port
//! 0 reports its real port at once); `crash_after` makes the process die — connections are cut
//! without answers and the exit code is 1; [`RunningApp::stop`] is SIGTERM handled well: stop
//! accepting, finish what is in flight within the grace period, exit 0 — or be killed (137)
//! when the grace period runs out.
//!
//! Time: every duration of the behaviour is simulated time on the node's [`SimClock`], so a
//! sped-up cluster runs through startups, latencies and crashes faster. What the app *reports* is on the simulated
//! clock (latencies in `/metrics` are the sampled ones, memory grows per simulated minute), so
//! gates written for real-world numbers judge a sped-up run the same way.

use super::behaviour::{Behaviour, LiveProfiles};
use super::ports;
use crate::clock::{SimClock, SimInstant};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Upper bounds (seconds) of the `http_request_duration_seconds` buckets: the Prometheus
/// client defaults, which latency gates are usually written against.
pub const DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Resident memory of a freshly started app, before any growth.
pub const BASE_MEMORY_BYTES: u64 = 24 * MIB;

const MIB: u64 = 1024 * 1024;

/// Route label of requests no path of the app matched (real routes start with `/`, so it cannot
/// collide with one).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Exit code of an app that crashed by itself (`crash_after`) or could not listen.
pub const EXIT_CRASH: i32 = 1;
/// Exit code of an app killed because it outlived its grace period (128 + SIGKILL).
pub const EXIT_KILLED: i32 = 137;

/// Per-container counters, shared with the kubelet (it reads them for the HPA CPU model) and
/// exported on `/metrics`.
#[derive(Debug)]
pub struct AppStats {
    /// Requests answered on the app's own paths (not probes, scrapes or 404s).
    pub requests: AtomicU64,
    /// Of those, the ones answered 500.
    pub errors: AtomicU64,
    /// App requests being served right now.
    pub in_flight: AtomicU64,
    /// Simulated time spent serving app requests, in microseconds: the sum of their latencies,
    /// a stand-in for CPU time.
    pub busy_micros: AtomicU64,
    started: SimInstant,
    clock: Arc<SimClock>,
    memory_growth_mib_per_min: f64,
    /// Non-cumulative counts per bucket of [`DURATION_BUCKETS`], the last one for `+Inf`.
    buckets: [AtomicU64; DURATION_BUCKETS.len() + 1],
    duration_sum_micros: AtomicU64,
    /// Responses by status code and route.
    responses: Mutex<BTreeMap<(u16, String), u64>>,
}

impl AppStats {
    fn new(clock: Arc<SimClock>, memory_growth_mib_per_min: f64) -> AppStats {
        AppStats {
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            busy_micros: AtomicU64::new(0),
            started: clock.now(),
            clock,
            memory_growth_mib_per_min,
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            duration_sum_micros: AtomicU64::new(0),
            responses: Mutex::new(BTreeMap::new()),
        }
    }

    /// Time since the container started, on the simulated clock.
    pub fn uptime(&self) -> Duration {
        self.clock.since(self.started)
    }

    /// Resident memory now: [`BASE_MEMORY_BYTES`] plus the growth over the simulated uptime,
    /// for `/metrics` and for a kubelet comparing it with the memory limit.
    pub fn resident_memory_bytes(&self) -> u64 {
        let minutes = self.uptime().as_secs_f64() / 60.0;
        let grown = self.memory_growth_mib_per_min * minutes * MIB as f64;
        // `as` saturates, which is the right answer for an absurd growth rate.
        BASE_MEMORY_BYTES.saturating_add(grown as u64)
    }

    /// How many responses had this status code on this route (a `paths` entry, the health
    /// path, `/metrics` or [`UNMATCHED_ROUTE`]).
    pub fn responses(&self, code: u16, route: &str) -> u64 {
        let map = self.responses.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(code, route.to_string())).copied().unwrap_or(0)
    }

    fn count(&self, code: u16, route: &str) {
        let mut map = self.responses.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((code, route.to_string())).or_insert(0) += 1;
    }

    fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let i = DURATION_BUCKETS
            .iter()
            .position(|le| secs <= *le)
            .unwrap_or(DURATION_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.duration_sum_micros
            .fetch_add(micros, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of these counters.
    fn render(&self, version: &str, pod: &str) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        out.push_str("# HELP http_requests_total Requests answered, by status code and route.\n");
        out.push_str("# TYPE http_requests_total counter\n");
        {
            let map = self.responses.lock().unwrap_or_else(|p| p.into_inner());
            for ((code, route), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "http_requests_total{{code=\"{code}\",path=\"{}\"}} {n}",
                    escape_label(route)
                );
            }
        }
        out.push_str(
            "# HELP http_request_duration_seconds Time to answer requests to the app's paths.\n",
        );
        out.push_str("# TYPE http_request_duration_seconds histogram\n");
        let mut cumulative = 0;
        for (i, le) in DURATION_BUCKETS.iter().enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        cumulative += self.buckets[DURATION_BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "http_request_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
        );
        let sum = self.duration_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "http_request_duration_seconds_sum {sum}");
        let _ = writeln!(out, "http_request_duration_seconds_count {cumulative}");
        out.push_str("# HELP process_resident_memory_bytes Resident memory size in bytes.\n");
        out.push_str("# TYPE process_resident_memory_bytes gauge\n");
        let _ = writeln!(
            out,
            "process_resident_memory_bytes {}",
            self.resident_memory_bytes()
        );
        out.push_str("# HELP app_info The version this pod runs.\n");
        out.push_str("# TYPE app_info gauge\n");
        let _ = writeln!(
            out,
            "app_info{{version=\"{}\",pod=\"{}\"}} 1",
            escape_label(version),
            escape_label(pod)
        );
        out
    }
}

/// Escapes a Prometheus label value.
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// What to run: the pod's identity, where to listen, and how to behave.
#[derive(Debug, Clone)]
pub struct AppSpec {
    pub pod: String,
    pub namespace: String,
    pub version: String,
    pub image: String,
    /// The pod's own loopback address (127.x.y.z).
    pub ip: IpAddr,
    /// A declared containerPort; 0 picks a free one (tests), see [`RunningApp::addr`].
    pub port: u16,
    pub behaviour: Behaviour,
    /// The clock the behaviour's durations are simulated time on.
    pub clock: Arc<SimClock>,
    /// Where to re-read the behaviour when the node's profiles change; `None` keeps
    /// `behaviour` for good.
    pub live: Option<Live>,
    /// Where to send the exit code besides [`RunningApp::exit_watch`].
    pub on_exit: Option<ExitNotice>,
}

/// A channel an app sends `(tag, exit code)` to when it exits: a kubelet hears of all its
/// containers' exits on one channel instead of keeping a task per app to watch for them.
#[derive(Debug, Clone)]
pub struct ExitNotice {
    pub tx: mpsc::UnboundedSender<(u64, i32)>,
    pub tag: u64,
}

/// The node's changeable profiles and what, besides the image, picks a behaviour from them.
#[derive(Debug, Clone)]
pub struct Live {
    pub profiles: Arc<LiveProfiles>,
    /// The container's `SIM_*` environment.
    pub env: Vec<(String, String)>,
}

/// A started container app.
///
/// Dropping it without [`RunningApp::stop`] kills the app at once, so that an app never
/// outlives the pod that owned it.
#[derive(Debug)]
pub struct RunningApp {
    addr: SocketAddr,
    stats: Arc<AppStats>,
    exit: watch::Receiver<Option<i32>>,
    stop: oneshot::Sender<Duration>,
    task: JoinHandle<()>,
    /// Where a privileged declared port is really served, while the app lives.
    _mapping: Option<ports::Mapping>,
    ctx: Arc<Ctx>,
}

impl RunningApp {
    /// Reserves ip:port and starts the app: it listens once `startup` (scaled) has passed;
    /// until then connections are refused, as with a real app that is still initialising.
    /// Returns as soon as the port is reserved, so address errors surface here and the actual
    /// port is known at once.
    ///
    /// Fails for a `pull_error` behaviour (the kubelet should report ErrImagePull instead of
    /// starting such an app) and when the address cannot be bound.
    pub async fn start(spec: AppSpec) -> io::Result<RunningApp> {
        let b = &spec.behaviour;
        if b.pull_error {
            return Err(io::Error::other(format!(
                "image {:?} cannot be pulled",
                spec.image
            )));
        }
        let declared = SocketAddr::new(spec.ip, spec.port);
        let (socket, mapping) = match listen_socket(declared) {
            Ok(socket) => (socket, None),
            // Not root: serve a privileged port on a free high port of the pod's address;
            // every path into the cluster dials through the table (see `ports`).
            Err(e) if ports::is_privileged_refusal(spec.port, &e) => {
                let socket = listen_socket(SocketAddr::new(spec.ip, 0))?;
                let actual = socket.local_addr()?;
                (socket, Some(ports::map(declared, actual)))
            }
            Err(e) => return Err(e),
        };
        let addr = socket.local_addr()?;

        let clock = spec.clock;
        let stats = Arc::new(AppStats::new(clock.clone(), b.memory_growth_mib_per_min));
        // The app knows the port its manifest declares, wherever it really listens.
        let shown_port = if spec.port == 0 {
            addr.port()
        } else {
            spec.port
        };
        let (ip, port) = (spec.ip.to_string(), shown_port.to_string());
        let body = render_body(
            b.body_template(),
            &[
                ("pod", &spec.pod),
                ("version", &spec.version),
                ("image", &spec.image),
                ("ip", &ip),
                ("port", &port),
                ("namespace", &spec.namespace),
            ],
        );
        let (kill_tx, kill_rx) = watch::channel(false);
        let (exit_tx, exit_rx) = watch::channel(None);
        let (stop_tx, stop_rx) = oneshot::channel();
        let startup = b.startup;
        let crash_at = b.crash_after.map(|d| clock.now() + d);
        let ctx = Arc::new(Ctx {
            x_pod: header_value(&spec.pod),
            x_version: header_value(&spec.version),
            pod: spec.pod,
            version: spec.version,
            body,
            clock,
            stats: stats.clone(),
            kill: kill_rx,
            seen: AtomicU64::new(spec.live.as_ref().map_or(0, |l| l.profiles.generation())),
            behaviour: arc_swap::ArcSwap::from_pointee(spec.behaviour),
            live: spec.live.map(|l| (l, spec.image)),
        });
        let shared = ctx.clone();
        let task = tokio::spawn(supervise(Lifecycle {
            socket,
            ctx,
            startup,
            crash_at,
            stop: stop_rx,
            kill: kill_tx,
            exit: exit_tx,
            on_exit: spec.on_exit,
        }));
        Ok(RunningApp {
            addr,
            stats,
            exit: exit_rx,
            stop: stop_tx,
            task,
            _mapping: mapping,
            ctx: shared,
        })
    }

    /// The address the app is bound to, with the actual port when 0 was asked for.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the app, as its behaviour is now, never becomes ready: its readiness probes
    /// fail whatever path or port they name, as a real app that cannot serve fails them.
    pub fn never_ready(&self) -> bool {
        self.ctx.behaviour().never_ready
    }

    /// The app's counters, shared: they stay readable after the app has exited.
    pub fn stats(&self) -> Arc<AppStats> {
        self.stats.clone()
    }

    /// A receiver of the exit code, `None` while the app runs; unlike [`RunningApp::exited`]
    /// it does not borrow the app, so a kubelet can watch it while keeping the app to stop.
    pub fn exit_watch(&self) -> watch::Receiver<Option<i32>> {
        self.exit.clone()
    }

    /// Resolves when the app has exited, with its exit code: 1 after a crash (or a failure to
    /// listen), 0 after a graceful stop, 137 when killed at the end of the grace period.
    pub async fn exited(&self) -> i32 {
        let mut rx = self.exit.clone();
        let code = match rx.wait_for(Option::is_some).await {
            Ok(code) => *code,
            // The lifecycle task is gone without saying why: it can only have died.
            Err(_) => None,
        };
        code.unwrap_or(EXIT_CRASH)
    }

    /// Graceful stop: stop accepting, let in-flight requests finish for up to `grace`, then
    /// cut what is left and close. Returns once the port is free again.
    pub async fn stop(self, grace: Duration) {
        let RunningApp { stop, task, .. } = self;
        // An error means the app has already exited.
        let _ = stop.send(grace);
        let _ = task.await;
    }
}

/// A socket bound to `addr`, not yet listening.
fn listen_socket(addr: SocketAddr) -> io::Result<TcpSocket> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // A restarted container rebinds its port while connections of the previous one may
    // still be in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    Ok(socket)
}

/// A header value, with characters HTTP does not allow replaced.
fn header_value(s: &str) -> HeaderValue {
    let clean: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    HeaderValue::from_str(&clean).unwrap_or(HeaderValue::from_static("_"))
}

/// Fills `{name}` placeholders; unknown ones are left as written, so a typo shows in the body.
fn render_body(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let known = after.find('}').and_then(|close| {
            let name = &after[..close];
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v, close))
        });
        match known {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The `paths` entry that answers `path`: the longest prefix matching on a segment boundary.
fn route_for<'a>(paths: &'a [String], path: &str) -> Option<&'a str> {
    paths
        .iter()
        .filter(|p| {
            let prefix = p.trim_end_matches('/');
            prefix.is_empty()
                || path == prefix
                || path
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
        .max_by_key(|p| p.trim_end_matches('/').len())
        .map(String::as_str)
}

/// What the request handler needs.
impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("pod", &self.pod)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

struct Ctx {
    pod: String,
    version: String,
    x_pod: HeaderValue,
    x_version: HeaderValue,
    /// The body template, filled in once.
    body: String,
    behaviour: arc_swap::ArcSwap<Behaviour>,
    /// The profiles' generation `behaviour` was read at.
    seen: AtomicU64,
    live: Option<(Live, String)>,
    clock: Arc<SimClock>,
    stats: Arc<AppStats>,
    /// Becomes true when the process dies: in-flight requests are abandoned.
    kill: watch::Receiver<bool>,
}

impl Ctx {
    /// The behaviour now: re-read from the node's profiles when they have changed since.
    fn behaviour(&self) -> Arc<Behaviour> {
        if let Some((live, image)) = &self.live {
            let generation = live.profiles.generation();
            if self.seen.load(Ordering::Acquire) != generation {
                let (behaviour, _) = live.profiles.resolve(image, &live.env);
                self.behaviour.store(Arc::new(behaviour));
                self.seen.store(generation, Ordering::Release);
            }
        }
        self.behaviour.load_full()
    }

    fn respond(
        &self,
        code: StatusCode,
        route: &str,
        content_type: &'static str,
        body: String,
    ) -> Response {
        self.stats.count(code.as_u16(), route);
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = code;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert("x-pod", self.x_pod.clone());
        headers.insert("x-version", self.x_version.clone());
        response
    }
}

const TEXT: &str = "text/plain; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

async fn handle(State(ctx): State<Arc<Ctx>>, request: Request) -> Response {
    let path = request.uri().path();
    let b = ctx.behaviour();
    if path == b.health_path {
        let route = b.health_path.as_str();
        if b.never_ready {
            ctx.respond(
                StatusCode::SERVICE_UNAVAILABLE,
                route,
                TEXT,
                "not ready".into(),
            )
        } else {
            ctx.respond(StatusCode::OK, route, TEXT, "ok".into())
        }
    } else if path == "/metrics" {
        let text = ctx.stats.render(&ctx.version, &ctx.pod);
        ctx.respond(StatusCode::OK, "/metrics", PROMETHEUS_TEXT, text)
    } else if let Some(route) = route_for(&b.paths, path) {
        let errors_here = b.error_paths.is_empty() || route_for(&b.error_paths, path).is_some();
        app_request(&ctx, &b, route, errors_here).await
    } else {
        ctx.respond(
            StatusCode::NOT_FOUND,
            UNMATCHED_ROUTE,
            TEXT,
            "not found\n".into(),
        )
    }
}

/// Keeps `in_flight` right even when hyper drops a request half-way.
struct InFlight<'a>(&'a AppStats);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A request to one of the app's paths: wait the sampled latency, then answer 200 or 500.
async fn app_request(ctx: &Ctx, b: &Behaviour, route: &str, errors_here: bool) -> Response {
    let stats = &ctx.stats;
    stats.in_flight.fetch_add(1, Ordering::Relaxed);
    let _in_flight = InFlight(stats);
    let began = Instant::now();
    let (latency, fail) = {
        use rand::Rng as _;
        let mut rng = rand::rng();
        let latency = b.latency.sample(&mut rng);
        (latency, errors_here && rng.random::<f64>() < b.error_ratio)
    };
    let wait = ctx.clock.scaled(latency);
    // A timer rounds up to the next millisecond: an app that answers at once does not wait.
    if !wait.is_zero() {
        let mut kill = ctx.kill.clone();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            // The process died mid-request: nothing is counted, and whatever is returned here
            // is never written, because the connection fails (see `KillableStream`).
            _ = kill.wait_for(|killed| *killed) => {
                return Response::new(Body::empty());
            }
        }
    }
    // Simulated time: the sampled latency plus the real overhead of serving.
    let took = latency + began.elapsed().saturating_sub(wait);
    stats.requests.fetch_add(1, Ordering::Relaxed);
    let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    stats.busy_micros.fetch_add(micros, Ordering::Relaxed);
    stats.observe(took);
    if fail {
        stats.errors.fetch_add(1, Ordering::Relaxed);
        ctx.respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            route,
            TEXT,
            "internal error\n".into(),
        )
    } else {
        ctx.respond(StatusCode::OK, route, TEXT, ctx.body.clone())
    }
}

/// Everything the lifecycle task owns.
struct Lifecycle {
    socket: TcpSocket,
    ctx: Arc<Ctx>,
    /// Simulated time until the app listens.
    startup: Duration,
    crash_at: Option<SimInstant>,
    stop: oneshot::Receiver<Duration>,
    kill: watch::Sender<bool>,
    exit: watch::Sender<Option<i32>>,
    on_exit: Option<ExitNotice>,
}

/// Runs the app from start to exit and publishes the exit code once the port is free. The
/// server runs inside this one task (connections get their own, as long as they are open),
/// so an idle app costs one task, its socket and its counters.
async fn supervise(lc: Lifecycle) {
    let Lifecycle {
        socket,
        ctx,
        startup,
        crash_at,
        mut stop,
        kill,
        exit,
        on_exit,
    } = lc;
    let clock = ctx.clock.clone();
    let crash = async {
        match crash_at {
            Some(at) => clock.sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(crash);

    let code = 'run: {
        tokio::select! {
            _ = clock.sleep(startup) => {}
            _ = &mut crash => break 'run EXIT_CRASH,
            // Stopped (or dropped) before it listened: nothing to drain.
            _ = &mut stop => break 'run 0,
        }
        // Like a real app, one that cannot listen dies.
        let Ok(listener) = socket.listen(1024) else {
            break 'run EXIT_CRASH;
        };
        let listener = KillableListener {
            inner: listener,
            kill: kill.subscribe(),
        };
        let router = Router::new().fallback(handle).with_state(ctx);
        let (graceful_tx, graceful_rx) = oneshot::channel::<()>();
        let server = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                // A send or a drop of the sender both mean "shut down".
                let _ = graceful_rx.await;
            })
            .into_future();
        tokio::pin!(server);
        let mut graceful = Some(graceful_tx);
        let mut server_done = false;
        let code = tokio::select! {
            _ = &mut crash => {
                kill.send_replace(true);
                EXIT_CRASH
            }
            grace = &mut stop => {
                // A dropped `RunningApp` means no grace at all.
                let grace = grace.unwrap_or(Duration::ZERO);
                if let Some(tx) = graceful.take() {
                    let _ = tx.send(());
                }
                match tokio::time::timeout(grace, &mut server).await {
                    Ok(_) => {
                        server_done = true;
                        0
                    }
                    Err(_) => {
                        kill.send_replace(true);
                        EXIT_KILLED
                    }
                }
            }
            // The server cannot end by itself; if it does, the process is as good as dead.
            _ = &mut server => {
                server_done = true;
                EXIT_CRASH
            }
        };
        drop(graceful);
        // Killed connections fail on their next read or write, so this is quick; what is
        // left after that is dropped with the server.
        if !server_done {
            let _ = tokio::time::timeout(Duration::from_secs(1), &mut server).await;
        }
        code
    };
    // Nothing of a process survives it.
    kill.send_replace(true);
    exit.send_replace(Some(code));
    if let Some(n) = on_exit {
        let _ = n.tx.send((n.tag, code));
    }
}

/// A listener whose connections all fail once the app is killed. axum runs every connection
/// in its own task, beyond the reach of the server future, so killing the app has to reach
/// into the connections themselves.
struct KillableListener {
    inner: TcpListener,
    kill: watch::Receiver<bool>,
}

impl axum::serve::Listener for KillableListener {
    type Io = KillableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (KillableStream, SocketAddr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (KillableStream::new(stream, self.kill.clone()), addr);
                }
                // A client that gave up before being accepted: just take the next one.
                Err(e) if is_connection_error(&e) => {}
                // Out of file descriptors and the like: wait instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A TCP stream that fails every read and write once the app is killed, which ends hyper's
/// connection task and closes the socket.
struct KillableStream {
    inner: TcpStream,
    killed: Pin<Box<dyn Future<Output = ()> + Send>>,
    dead: bool,
}

impl KillableStream {
    fn new(inner: TcpStream, mut kill: watch::Receiver<bool>) -> KillableStream {
        let killed = Box::pin(async move {
            // An error means the lifecycle task is gone, which is a death too.
            let _ = kill.wait_for(|killed| *killed).await;
        });
        KillableStream {
            inner,
            killed,
            dead: false,
        }
    }

    /// Whether the app is dead; also registers the task to be woken when it dies.
    fn is_dead(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.dead && self.killed.as_mut().poll(cx).is_ready() {
            self.dead = true;
        }
        self.dead
    }
}

fn killed_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "the app was killed")
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.is_dead(cx) {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.is_dead(cx) {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.is_dead(cx) {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_dead(cx) {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_dead(cx) {
            return Poll::Ready(Err(killed_error()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::behaviour::{Latency, LiveProfiles, Profiles};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn spec(behaviour: Behaviour) -> AppSpec {
        AppSpec {
            pod: "web-1".into(),
            namespace: "shop".into(),
            version: "v2".into(),
            image: "web:v2".into(),
            ip: IpAddr::from([127, 0, 0, 1]),
            port: 0,
            behaviour,
            clock: SimClock::fixed(1.0),
            live: None,
            on_exit: None,
        }
    }

    /// A healthy app that starts and answers at once.
    fn instant() -> Behaviour {
        Behaviour {
            startup: Duration::ZERO,
            latency: Latency::Fixed(Duration::ZERO),
            ..Behaviour::default()
        }
    }

    #[derive(Debug)]
    struct Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    }

    impl Reply {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    /// One request on its own connection, answered in full (or an error).
    async fn get(addr: SocketAddr, path: &str) -> io::Result<Reply> {
        let mut s = TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        s.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await?;
        let text = String::from_utf8_lossy(&raw);
        let bad = || io::Error::new(io::ErrorKind::InvalidData, format!("bad reply {text:?}"));
        let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse().ok())
            .ok_or_else(bad)?;
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        Ok(Reply {
            status,
            headers,
            body: body.to_string(),
        })
    }

    async fn wait_listening(addr: SocketAddr) {
        for _ in 0..500 {
            if TcpStream::connect(addr).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{addr} never listened");
    }

    /// Waits until the app is serving a request, so a test can stop it mid-request.
    async fn until_in_flight(app: &RunningApp) {
        let stats = app.stats();
        for _ in 0..500 {
            if stats.in_flight.load(Ordering::Relaxed) > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no request in flight");
    }

    async fn started(b: Behaviour) -> RunningApp {
        let app = RunningApp::start(spec(b)).await.expect("starts");
        wait_listening(app.addr()).await;
        app
    }

    #[tokio::test]
    async fn a_running_app_answers_by_changed_profiles_at_once() {
        let profiles = Arc::new(LiveProfiles::new(
            Profiles::from_yaml("\"web:v2\": { startup: 0s, latency: 0s }\n", "p.yaml")
                .expect("profiles"),
        ));
        let live = Live {
            profiles: profiles.clone(),
            env: Vec::new(),
        };
        let (b, _) = live.profiles.resolve("web:v2", &[]);
        let app = RunningApp::start(AppSpec {
            live: Some(live),
            ..spec(b)
        })
        .await
        .expect("starts");
        wait_listening(app.addr()).await;
        assert_eq!(get(app.addr(), "/").await.expect("reply").status, 200);
        profiles.change(
            Profiles::from_yaml(
                "\"web:v2\": { startup: 0s, latency: 0s, errorRatio: 1.0 }\n",
                "change.yaml",
            )
            .expect("change"),
        );
        assert_eq!(get(app.addr(), "/").await.expect("reply").status, 500);
        assert_eq!(
            get(app.addr(), "/healthz").await.expect("reply").status,
            200
        );
    }

    #[tokio::test]
    async fn answers_with_body_and_version_headers() {
        let app = started(instant()).await;
        assert_ne!(app.addr().port(), 0, "the real port is reported");
        let r = get(app.addr(), "/").await.expect("reply");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "Host: web-1, Version: v2\n");
        assert_eq!(r.header("x-pod"), Some("web-1"));
        assert_eq!(r.header("x-version"), Some("v2"));
        assert!(
            r.header("content-type")
                .is_some_and(|t| t.starts_with("text/plain"))
        );
        // every path is an app path by default
        assert_eq!(
            get(app.addr(), "/any/thing").await.expect("reply").status,
            200
        );
        app.stop(Duration::from_secs(1)).await;
    }

    #[tokio::test]
    async fn body_template_placeholders() {
        let b = Behaviour {
            body: Some("{pod}|{version}|{image}|{ip}|{namespace}|{nope}".into()),
            ..instant()
        };
        let app = started(b).await;
        let r = get(app.addr(), "/").await.expect("reply");
        assert_eq!(r.body, "web-1|v2|web:v2|127.0.0.1|shop|{nope}");
        app.stop(Duration::ZERO).await;
    }

    #[tokio::test]
    async fn health_paths_and_not_found() {
        let b = Behaviour {
            paths: vec!["/api".into(), "/static/".into()],
            ..instant()
        };
        let app = started(b).await;
        let addr = app.addr();
        let health = get(addr, "/healthz").await.expect("reply");
        assert_eq!((health.status, health.body.as_str()), (200, "ok"));
        for (path, status) in [
            ("/api", 200),
            ("/api/users?x=1", 200),
            ("/static/app.js", 200),
            ("/apis", 404),
            ("/", 404),
            ("/metrics", 200),
        ] {
            let r = get(addr, path).await.expect("reply");
            assert_eq!(r.status, status, "{path}");
            assert_eq!(r.header("x-version"), Some("v2"), "{path}");
        }
        app.stop(Duration::ZERO).await;
    }

    #[tokio::test]
    async fn never_ready_fails_health_but_serves() {
        let b = Behaviour {
            never_ready: true,
            ..instant()
        };
        let app = started(b).await;
        assert_eq!(
            get(app.addr(), "/healthz").await.expect("reply").status,
            503
        );
        assert_eq!(get(app.addr(), "/").await.expect("reply").status, 200);
        app.stop(Duration::ZERO).await;
    }

    #[tokio::test]
    async fn error_ratio_over_a_thousand_requests() {
        let b = Behaviour {
            error_ratio: 0.3,
            ..instant()
        };
        let app = started(b).await;
        let mut errors = 0;
        for _ in 0..1000 {
            let r = get(app.addr(), "/").await.expect("reply");
            match r.status {
                500 => {
                    assert_eq!(r.body, "internal error\n");
                    errors += 1;
                }
                200 => {}
                other => panic!("unexpected {other}"),
            }
        }
        // σ ≈ 14.5; ±75 is over five of them.
        assert!((225..=375).contains(&errors), "{errors} errors");
        let stats = app.stats();
        assert_eq!(stats.requests.load(Ordering::Relaxed), 1000);
        assert_eq!(stats.errors.load(Ordering::Relaxed), errors);
        assert_eq!(stats.responses(500, "/"), errors);
        app.stop(Duration::ZERO).await;
    }

    #[tokio::test]
    async fn metrics_count_requests() {
        let app = started(instant()).await;
        let addr = app.addr();
        for _ in 0..3 {
            get(addr, "/").await.expect("reply");
        }
        get(addr, "/healthz").await.expect("reply");
        get(addr, "/nope").await.ok();
        let metrics = get(addr, "/metrics").await.expect("reply");
        assert!(
            metrics
                .header("content-type")
                .is_some_and(|t| t.contains("version=0.0.4"))
        );
        let text = metrics.body;
        for line in [
            "http_requests_total{code=\"200\",path=\"/\"} 4",
            "http_requests_total{code=\"200\",path=\"/healthz\"} 1",
            "app_info{version=\"v2\",pod=\"web-1\"} 1",
            "http_request_duration_seconds_bucket{le=\"0.005\"} 4",
            "http_request_duration_seconds_bucket{le=\"+Inf\"} 4",
            "http_request_duration_seconds_count 4",
            "# TYPE http_request_duration_seconds histogram",
            "# TYPE process_resident_memory_bytes gauge",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        // `/nope` is an app path too (paths default to `/`); a real 404 needs narrower paths.
        assert!(!text.contains("unmatched"), "{text}");
        let memory = text
            .lines()
            .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
            .and_then(|v| v.parse::<u64>().ok());
        assert_eq!(memory, Some(BASE_MEMORY_BYTES));
        assert_eq!(app.stats().requests.load(Ordering::Relaxed), 4);
        app.stop(Duration::ZERO).await;
    }

    #[tokio::test]
    async fn unmatched_paths_are_counted_apart() {
        let b = Behaviour {
            paths: vec!["/api".into()],
            ..instant()
        };
        let app = started(b).await;
        assert_eq!(get(app.addr(), "/nope").await.expect("reply").status, 404);
        let text = get(app.addr(), "/metrics").await.expect("reply").body;
        assert!(
            text.contains("http_requests_total{code=\"404\",path=\"unmatched\"} 1"),
            "{text}"
        );
        assert_eq!(app.stats().requests.load(Ordering::Relaxed), 0);
        app.stop(Duration::ZERO).await;
    }

    #[tokio::test]
    async fn refuses_connections_until_started() {
        // 3s of startup at ten times speed.
        let b = Behaviour {
            startup: Duration::from_secs(3),
            ..instant()
        };
        let began = Instant::now();
        let app = RunningApp::start(AppSpec {
            clock: SimClock::fixed(10.0),
            ..spec(b)
        })
        .await
        .expect("starts");
        let refused = TcpStream::connect(app.addr())
            .await
            .expect_err("not listening yet");
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        wait_listening(app.addr()).await;
        let waited = began.elapsed();
        assert!(waited >= Duration::from_millis(250), "{waited:?}");
        assert!(waited < Duration::from_secs(3), "{waited:?}");
        assert_eq!(get(app.addr(), "/").await.expect("reply").status, 200);
        app.stop(Duration::ZERO).await;
    }

    #[tokio::test]
    async fn crash_exits_with_code_one_and_cuts_connections() {
        let b = Behaviour {
            crash_after: Some(Duration::from_secs(3)),
            ..instant()
        };
        let (notices, mut notice) = mpsc::unbounded_channel();
        let app = RunningApp::start(AppSpec {
            clock: SimClock::fixed(10.0),
            on_exit: Some(ExitNotice {
                tx: notices,
                tag: 7,
            }),
            ..spec(b)
        })
        .await
        .expect("starts");
        wait_listening(app.addr()).await;
        // An idle connection, waiting for its first request.
        let mut idle = TcpStream::connect(app.addr()).await.expect("connects");
        let code = tokio::time::timeout(Duration::from_secs(3), app.exited())
            .await
            .expect("crashes in time");
        assert_eq!(code, EXIT_CRASH);
        assert_eq!(*app.exit_watch().borrow(), Some(EXIT_CRASH));
        assert_eq!(notice.recv().await, Some((7, EXIT_CRASH)));
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(1), idle.read(&mut buf))
            .await
            .expect("the idle connection is closed");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        assert!(TcpStream::connect(app.addr()).await.is_err(), "port closed");
        // stopping an exited app is harmless
        app.stop(Duration::from_secs(1)).await;
    }

    #[tokio::test]
    async fn graceful_stop_finishes_in_flight_requests() {
        let b = Behaviour {
            latency: Latency::Fixed(Duration::from_millis(300)),
            ..instant()
        };
        let app = started(b).await;
        let addr = app.addr();
        let exit = app.exit_watch();
        let request = tokio::spawn(get(addr, "/"));
        until_in_flight(&app).await;
        let began = Instant::now();
        app.stop(Duration::from_secs(10)).await;
        let took = began.elapsed();
        let reply = request.await.expect("joins").expect("answered");
        assert_eq!(reply.status, 200);
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert_eq!(*exit.borrow(), Some(0));
        assert!(TcpStream::connect(addr).await.is_err(), "port closed");
    }

    #[tokio::test]
    async fn stop_cuts_requests_that_outlive_the_grace_period() {
        let b = Behaviour {
            latency: Latency::Fixed(Duration::from_secs(30)),
            ..instant()
        };
        let app = started(b).await;
        let stats = app.stats();
        let exit = app.exit_watch();
        let request = tokio::spawn(get(app.addr(), "/"));
        until_in_flight(&app).await;
        let began = Instant::now();
        app.stop(Duration::from_millis(200)).await;
        let took = began.elapsed();
        assert!(took < Duration::from_secs(5), "{took:?}");
        let reply = tokio::time::timeout(Duration::from_secs(5), request)
            .await
            .expect("the client sees the cut")
            .expect("joins");
        assert!(reply.is_err(), "{reply:?}");
        assert_eq!(*exit.borrow(), Some(EXIT_KILLED));
        assert_eq!(stats.requests.load(Ordering::Relaxed), 0);
        assert_eq!(stats.in_flight.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn stop_during_startup_exits_cleanly() {
        let b = Behaviour {
            startup: Duration::from_secs(60),
            ..instant()
        };
        let app = RunningApp::start(spec(b)).await.expect("starts");
        let exit = app.exit_watch();
        app.stop(Duration::from_secs(1)).await;
        assert_eq!(*exit.borrow(), Some(0));
    }

    #[tokio::test]
    async fn unpullable_image_never_starts() {
        let b = Profiles::builtin().for_image("web:unpullable");
        let e = RunningApp::start(spec(b)).await.expect_err("no image");
        assert!(e.to_string().contains("cannot be pulled"), "{e}");
    }

    #[tokio::test]
    async fn memory_grows_on_the_simulated_clock() {
        let b = Behaviour {
            memory_growth_mib_per_min: 60.0,
            startup: Duration::from_secs(3600),
            ..instant()
        };
        // 600× speed: 100ms of real time is a simulated minute.
        let app = RunningApp::start(AppSpec {
            clock: SimClock::fixed(600.0),
            ..spec(b)
        })
        .await
        .expect("starts");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let grown = app.stats().resident_memory_bytes() - BASE_MEMORY_BYTES;
        assert!(grown >= 100 * MIB, "{} MiB", grown / MIB);
        app.stop(Duration::ZERO).await;
    }

    #[test]
    fn routes_match_on_segment_boundaries() {
        let paths: Vec<String> = vec!["/".into(), "/api".into(), "/api/v2/".into()];
        assert_eq!(route_for(&paths, "/x"), Some("/"));
        assert_eq!(route_for(&paths, "/api"), Some("/api"));
        assert_eq!(route_for(&paths, "/apis"), Some("/"));
        assert_eq!(route_for(&paths, "/api/v2/items"), Some("/api/v2/"));
        assert_eq!(route_for(&["/api".to_string()], "/apis"), None);
    }

    #[test]
    fn body_placeholders() {
        let vars = [("pod", "p"), ("version", "v")];
        assert_eq!(render_body("{pod}:{version}", &vars), "p:v");
        assert_eq!(render_body("{{pod}} {x} {", &vars), "{p} {x} {");
    }
}
