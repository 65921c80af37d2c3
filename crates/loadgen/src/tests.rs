//! Tests against a small axum server on 127.0.0.1:0, and of the report arithmetic on
//! hand-made outcomes. Every run is bounded by `max_requests` or `duration` and a few seconds.

use crate::record::Recorder;
use crate::report::{Data, GroupMeta};
use crate::*;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    errors: AtomicU64,
    canary_header: AtomicU64,
    canary_cookie: AtomicU64,
}

/// `/`: versions alternate v1, v2; every 10th answer is a 500. `/slow`: 200 ms, then 200.
/// `/groups`: v2 for requests marked canary by header or cookie, v1 otherwise. `/bare`: a 503
/// without version headers, as the ingress answers when a Service has no endpoints.
fn app(counters: Arc<Counters>) -> Router {
    async fn alternate(State(c): State<Arc<Counters>>) -> Response {
        let n = c.hits.fetch_add(1, Ordering::SeqCst);
        let version = if n % 2 == 0 { "v1" } else { "v2" };
        let status = if n % 10 == 9 {
            c.errors.fetch_add(1, Ordering::SeqCst);
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::OK
        };
        let pod = format!("web-{version}-0");
        (status, [("x-version", version), ("x-pod", &pod)], "hello").into_response()
    }
    async fn slow(State(c): State<Arc<Counters>>) -> Response {
        tokio::time::sleep(Duration::from_millis(200)).await;
        c.hits.fetch_add(1, Ordering::SeqCst);
        ([("x-version", "v1"), ("x-pod", "web-0")], "slow").into_response()
    }
    async fn groups(State(c): State<Arc<Counters>>, headers: HeaderMap) -> Response {
        c.hits.fetch_add(1, Ordering::SeqCst);
        let by_header = headers
            .get("x-canary")
            .is_some_and(|v| v.as_bytes() == b"always");
        let by_cookie = headers
            .get_all("cookie")
            .iter()
            .any(|v| v.as_bytes() == b"canary=always");
        c.canary_header
            .fetch_add(u64::from(by_header), Ordering::SeqCst);
        c.canary_cookie
            .fetch_add(u64::from(by_cookie), Ordering::SeqCst);
        let version = if by_header || by_cookie { "v2" } else { "v1" };
        ([("x-version", version)], "ok").into_response()
    }
    async fn bare(State(c): State<Arc<Counters>>) -> Response {
        c.hits.fetch_add(1, Ordering::SeqCst);
        (StatusCode::SERVICE_UNAVAILABLE, "no endpoints").into_response()
    }
    Router::new()
        .route("/", get(alternate))
        .route("/slow", get(slow))
        .route("/groups", get(groups))
        .route("/bare", get(bare))
        .with_state(counters)
}

struct Server {
    addr: SocketAddr,
    counters: Arc<Counters>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    async fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::serve(listener, Arc::default())
    }

    fn serve(listener: TcpListener, counters: Arc<Counters>) -> Server {
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = oneshot::channel::<()>();
        let router = app(counters.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Server {
            addr,
            counters,
            shutdown: Some(tx),
            task,
        }
    }

    /// Stops listening and closes every connection (idle keep-alive ones included).
    async fn stop(mut self) -> (SocketAddr, Arc<Counters>) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.task).await;
        self.task.abort();
        (self.addr, self.counters)
    }

    fn hits(&self) -> u64 {
        self.counters.hits.load(Ordering::SeqCst)
    }
}

fn spec(addr: SocketAddr, path: &str, rate: f64) -> TrafficSpec {
    let mut spec = TrafficSpec::new(addr, "web.example.com");
    spec.path = path.into();
    spec.rate_per_second = rate;
    spec.timeout = Duration::from_secs(1);
    spec
}

/// Bounded wait for a generator that stops by itself.
async fn finish(traffic: Traffic) -> (Report, Vec<Outcome>) {
    tokio::time::timeout(Duration::from_secs(5), traffic.finished())
        .await
        .expect("generator finished in time");
    let (outcomes, _) = traffic.outcomes();
    (traffic.stop().await, outcomes)
}

fn within(value: f64, expected: f64, tolerance: f64) -> bool {
    (value - expected).abs() <= tolerance
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_rate_versions_and_failures() {
    let server = Server::start().await;
    let mut s = spec(server.addr, "/", 200.0);
    s.duration = Some(Duration::from_secs(1));
    let (report, outcomes) = finish(Traffic::start(s).expect("start")).await;

    // Open loop: 200 due in the second, spread over it rather than bunched.
    assert_eq!(report.end, Some(End::Duration));
    assert!((170..=230).contains(&report.total), "{}", report.total);
    let first_half = outcomes.iter().filter(|o| o.at_ms < 500).count() as f64;
    assert!(
        within(first_half, 100.0, 15.0),
        "{first_half} in the first half"
    );
    assert!(outcomes.iter().all(|o| o.at_ms < 1100));
    // A scheduler running a few ms late may push the last request into second 1.
    assert!(report.per_second.len() <= 2);
    assert!(report.per_second[0].requests >= 190);
    let per_second: u64 = report.per_second.iter().map(|s| s.requests).sum();
    assert_eq!(per_second, report.sent());

    // The generator's account agrees with the server's.
    assert_eq!(report.dropped, 0);
    assert_eq!(report.in_flight, 0);
    assert_eq!(report.sent(), server.hits());
    assert_eq!(report.failed, server.counters.errors.load(Ordering::SeqCst));
    assert_eq!(report.by_status.get("500"), Some(&report.failed));
    assert!(within(report.failed_ratio(), 0.1, 0.01));
    assert!(within(report.share_of("v1"), 0.5, 0.01));
    assert!(within(report.share_of("v2"), 0.5, 0.01));
    assert_eq!(report.share_of("unknown"), 0.0);
    let v2 = &report.per_version["v2"];
    assert_eq!(v2.pods.get("web-v2-0"), Some(&v2.requests));
    assert!(v2.p50 > Duration::ZERO && v2.p50 <= v2.p99);
    assert_eq!(report.downtime, Duration::ZERO);
    assert!(outcomes.iter().all(|o| o.group.is_none()));

    let json = serde_json::to_value(&report).expect("json");
    assert!(json["started"].as_str().is_some_and(|s| s.ends_with('Z')));
    assert!(json["per_version"]["v1"]["p95_ms"].is_f64());
    assert_eq!(json["end"], "duration");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downtime_while_the_server_is_down() {
    let server = Server::start().await;
    let mut s = spec(server.addr, "/", 200.0);
    s.max_requests = Some(240); // 1.2 s
    let traffic = Traffic::start(s).expect("start");

    tokio::time::sleep(Duration::from_millis(400)).await;
    let (addr, counters) = server.stop().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let listener = TcpListener::bind(addr).await.expect("rebind");
    let server = Server::serve(listener, counters);
    let (report, _) = finish(traffic).await;

    assert_eq!(report.total, 240);
    assert!(report.failed >= 30, "{} failed", report.failed);
    assert!(report.by_status.get("connect").is_some_and(|&n| n >= 30));
    assert_eq!(
        report.share_of("unknown"),
        report.per_version["unknown"].share
    );
    assert!(report.per_version["unknown"].failed >= 30);
    // Down for ~300 ms, seen in 100 ms buckets.
    assert!(
        report.downtime >= Duration::from_millis(200)
            && report.downtime <= Duration::from_millis(600),
        "{:?} {:?}",
        report.downtime,
        report.outages
    );
    assert!(report.longest_outage >= Duration::from_millis(200));
    assert!(report.longest_outage <= report.downtime);
    // The server went down ~400 ms in.
    let first = report.outages[0];
    assert!((300..=800).contains(&first.from_ms), "{first:?}");

    // Before and after the outage: up, answered by the app.
    let before = report.between(0, 300);
    assert!(!before.per_version.contains_key(UNKNOWN_VERSION));
    assert_eq!(before.downtime, Duration::ZERO);
    let outage = report.between(first.from_ms, first.to_ms);
    assert_eq!(outage.ok, 0);
    assert_eq!(outage.downtime, first.duration());
    assert_eq!(
        report.between(first.to_ms, report.to_ms).downtime,
        report.downtime - first.duration()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_shares_over_2000_requests() {
    let server = Server::start().await;
    let mut s = spec(server.addr, "/groups", 1000.0);
    s.max_requests = Some(2000); // 2 s
    s.max_in_flight = 1000;
    s.groups = vec![
        parse_group("10%:header:X-Canary=always").expect("group"),
        parse_group("5%:cookie:canary=always").expect("group"),
    ];
    let (report, outcomes) = finish(Traffic::start(s).expect("start")).await;

    assert_eq!(report.total, 2000);
    assert_eq!(report.failed, 0, "{:?}", report.by_status);
    // A starved test machine may drop some; the shares are of what the server got.
    let sent = report.sent();
    assert!(sent >= 1800, "{:?}", report.by_status);
    assert_eq!(sent, server.hits());
    let header = server.counters.canary_header.load(Ordering::SeqCst);
    let cookie = server.counters.canary_cookie.load(Ordering::SeqCst);
    // Within ±1 point: far tighter than the ±5 % a coin toss per request would need.
    assert!(
        within(header as f64 / sent as f64, 0.10, 0.01),
        "{header}/{sent}"
    );
    assert!(
        within(cookie as f64 / sent as f64, 0.05, 0.01),
        "{cookie}/{sent}"
    );
    assert_eq!(report.per_group.len(), 2);
    let (canary, cookied) = (&report.per_group[0], &report.per_group[1]);
    assert_eq!(canary.label, "10%:header:X-Canary=always");
    assert_eq!(canary.requests, header);
    assert_eq!(cookied.requests, cookie);
    assert_eq!(canary.by_version.get("v2"), Some(&header));
    assert_eq!(cookied.by_version.get("v2"), Some(&cookie));
    assert_eq!(report.ungrouped.by_version.get("v2"), None);
    assert!(within(report.ungrouped.share, 0.85, 1e-9));
    assert!(within(report.ungrouped.observed_share, 0.85, 0.01));
    assert_eq!(
        outcomes.iter().filter(|o| o.group == Some(0)).count() as u64,
        header
    );
    // The share per version is the groups' doing.
    assert!(within(report.share_of("v2"), 0.15, 0.01));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_drops_over_max_in_flight() {
    let server = Server::start().await;
    let mut s = spec(server.addr, "/slow", 100.0);
    s.max_requests = Some(50); // 0.5 s; each answer takes 200 ms, so ~20 would be in flight
    s.max_in_flight = 10;
    let (report, outcomes) = finish(Traffic::start(s).expect("start")).await;

    assert_eq!(report.total, 50, "the rate does not slow down");
    assert!(report.dropped >= 15, "{} dropped", report.dropped);
    assert_eq!(report.ok + report.dropped, 50);
    assert_eq!(report.failed, 0);
    assert_eq!(report.ok, server.hits());
    assert_eq!(report.by_status.get("dropped"), Some(&report.dropped));
    assert!(report.per_version["v1"].p50 >= Duration::from_millis(200));
    assert_eq!(report.failed_ratio(), 0.0);
    // Never more than 10 answers awaited at once.
    let mut events: Vec<(u64, i32)> = outcomes
        .iter()
        .filter(|o| !o.is_dropped())
        .flat_map(|o| {
            let end = o.at_ms + o.latency.as_millis() as u64;
            [(o.at_ms, 1), (end, -1)]
        })
        .collect();
    events.sort_by_key(|&(t, delta)| (t, delta));
    let mut open = 0;
    for (_, delta) in events {
        open += delta;
        assert!(open <= 10);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_fail_and_stop_waits_for_in_flight() {
    let server = Server::start().await;
    let mut s = spec(server.addr, "/slow", 50.0);
    s.timeout = Duration::from_millis(50);
    s.max_requests = Some(10);
    let (report, _) = finish(Traffic::start(s).expect("start")).await;
    assert_eq!(report.failed, 10);
    assert_eq!(report.by_status.get("timeout"), Some(&10));
    let unknown = &report.per_version["unknown"];
    assert!(unknown.p50 >= Duration::from_millis(50) && unknown.p50 < Duration::from_millis(500));
    assert!(report.downtime > Duration::ZERO);

    // Stopping mid-run: requests already sent still get their answers.
    let mut s = spec(server.addr, "/slow", 50.0);
    s.timeout = Duration::from_secs(1);
    let traffic = Traffic::start(s).expect("start");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(traffic.snapshot().in_flight > 0);
    let started = Instant::now();
    let report = traffic.stop().await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(report.end, Some(End::Stopped));
    assert_eq!(report.in_flight, 0);
    assert!((10..=25).contains(&report.total), "{}", report.total);
    assert_eq!(report.ok, report.total);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_without_version_are_unknown() {
    let server = Server::start().await;
    let mut s = spec(server.addr, "/bare", 100.0);
    s.max_requests = Some(20);
    let (report, outcomes) = finish(Traffic::start(s).expect("start")).await;
    assert_eq!(report.failed, 20);
    assert_eq!(report.by_status.get("503"), Some(&20));
    assert_eq!(report.per_version["unknown"].requests, 20);
    assert_eq!(report.share_of("unknown"), 1.0);
    assert_eq!(report.share_of("v1"), 0.0);
    assert!(
        outcomes
            .iter()
            .all(|o| o.status == Some(503) && o.version.is_none())
    );
    server.stop().await;
}

#[tokio::test]
async fn only_loopback_targets() {
    for target in [
        "10.0.0.1:80",
        "192.168.1.10:8080",
        "8.8.8.8:80",
        "0.0.0.0:80",
        "[2001:db8::1]:80",
        "[::]:80",
    ] {
        let addr: SocketAddr = target.parse().expect("addr");
        let error = Traffic::start(spec(addr, "/", 10.0)).expect_err(target);
        assert!(
            matches!(error, TrafficError::NotLoopback(a) if a == addr),
            "{target}"
        );
        assert!(error.to_string().contains("loopback"));
    }
    for target in [
        "127.0.0.1:80",
        "127.4.5.6:80",
        "[::1]:80",
        "[::ffff:127.0.0.1]:80",
    ] {
        let addr: SocketAddr = target.parse().expect("addr");
        spec(addr, "/", 10.0).validate().expect(target);
    }
}

#[test]
fn start_needs_a_runtime_and_a_sane_spec() {
    let addr: SocketAddr = "127.0.0.1:8080".parse().expect("addr");
    assert!(matches!(
        Traffic::start(spec(addr, "/", 10.0)),
        Err(TrafficError::NoRuntime)
    ));
    let invalid = |change: &dyn Fn(&mut TrafficSpec)| {
        let mut s = spec(addr, "/", 10.0);
        change(&mut s);
        matches!(
            s.validate(),
            Err(TrafficError::InvalidSpec(_) | TrafficError::InvalidGroup { .. })
        )
    };
    assert!(invalid(&|s| s.rate_per_second = 0.0));
    assert!(invalid(&|s| s.rate_per_second = f64::NAN));
    assert!(invalid(&|s| s.rate_per_second = 1e9));
    assert!(invalid(&|s| s.max_in_flight = 0));
    assert!(invalid(&|s| s.timeout = Duration::ZERO));
    assert!(invalid(&|s| s.duration = Some(MAX_DURATION * 2)));
    assert!(invalid(&|s| s.max_requests = Some(0)));
    assert!(invalid(&|s| s.path = "no-slash".into()));
    assert!(invalid(&|s| s.host = "two words".into()));
    assert!(invalid(&|s| s.target = "127.0.0.1:0".parse().expect("addr")));
    assert!(invalid(&|s| s.groups = vec![
        UserGroup::with_header(0.6, "X-A", "1"),
        UserGroup::with_header(0.6, "X-B", "1"),
    ]));
    assert!(invalid(
        &|s| s.groups = vec![UserGroup::with_header(0.1, "Host", "x")]
    ));
    assert!(invalid(&|s| s.groups = vec![UserGroup {
        share: 0.1,
        header: None,
        cookie: None
    }]));
    assert!(!invalid(&|s| s.host = String::new()));
    assert!(!invalid(&|s| s.path = "/a/b?c=d".into()));
}

#[test]
fn parses_group_flags() {
    let g = parse_group("10%:header:X-Canary=always").expect("header");
    assert_eq!(g, UserGroup::with_header(0.1, "X-Canary", "always"));
    assert_eq!(g.to_string(), "10%:header:X-Canary=always");
    let g = parse_group("5%:cookie:canary=always").expect("cookie");
    assert_eq!(g, UserGroup::with_cookie(0.05, "canary", "always"));
    assert_eq!(parse_group(&g.to_string()).expect("round trip"), g);
    let g = parse_group("0.125:Header:X-Tag=a=b:c").expect("fraction");
    assert_eq!(g, UserGroup::with_header(0.125, "X-Tag", "a=b:c"));
    assert_eq!(g.to_string(), "12.5%:header:X-Tag=a=b:c");
    assert_eq!(parse_group("100%:header:X-All=1").expect("all").share, 1.0);

    for bad in [
        "",
        "10%",
        "10%:header",
        "10%:header:X-Canary",
        "10%:query:a=b",
        "abc%:header:X=1",
        "0%:header:X=1",
        "150%:header:X=1",
        "10:header:X=1",
        "10%:header:Bad Name=1",
        "10%:header:X=bad\nvalue",
        "10%:cookie:a;b=1",
        "10%:cookie:a=b c",
        "10%:header:=1",
    ] {
        let error = parse_group(bad).expect_err(bad);
        assert!(
            matches!(&error, TrafficError::InvalidGroup { input, .. } if input == bad),
            "{bad}: {error}"
        );
        assert!(error.to_string().contains("SHARE:header:NAME=VALUE"));
    }
}

/// An outcome at `at_ms`: served by `version`, or failed with a connection error.
fn outcome(at_ms: u64, version: Option<&str>, latency_ms: u64) -> Outcome {
    Outcome {
        at_ms,
        status: version.map(|_| 200),
        error: version.is_none().then_some(ErrorKind::Connect),
        latency: Duration::from_millis(latency_ms),
        version: version.map(str::to_owned),
        pod: None,
        group: None,
    }
}

fn report_of(recorder: &Recorder) -> Report {
    Report::whole(Arc::new(Data {
        started: SystemTime::UNIX_EPOCH,
        buckets: recorder.buckets.clone(),
        groups: vec![GroupMeta {
            label: "10%:header:X=1".into(),
            share: 0.1,
        }],
        in_flight: 0,
        end: None,
    }))
}

#[test]
fn downtime_fills_gaps_between_sparse_requests() {
    // 5 requests/s: one every 200 ms, so every other 100 ms bucket is empty.
    let mut recorder = Recorder::new(1000);
    for i in 0..50u64 {
        let at = i * 200;
        let up = !(10..20).contains(&i) && !(30..32).contains(&i); // down 2.0–4.0 s, 6.0–6.4 s
        recorder.record(outcome(
            at,
            up.then_some(if i < 25 { "v1" } else { "v2" }),
            10,
        ));
    }
    let report = report_of(&recorder);
    assert_eq!(report.total, 50);
    assert_eq!(report.failed, 12);
    assert_eq!(
        report.outages,
        vec![
            Outage {
                from_ms: 2000,
                to_ms: 4000
            },
            Outage {
                from_ms: 6000,
                to_ms: 6400
            },
        ]
    );
    assert_eq!(report.downtime, Duration::from_millis(2400));
    assert_eq!(report.longest_outage, Duration::from_secs(2));
    assert_eq!(report.per_second.len(), 10);
    assert_eq!(report.per_second[2].failed, 5);
    assert_eq!(report.per_second[9].by_version.get("v2"), Some(&5));

    // Sub-windows: the share per step, and the outage inside it.
    let early = report.between(0, 5000);
    assert_eq!((early.from_ms, early.to_ms), (0, 5000));
    assert_eq!(early.share_of("v1"), 1.0);
    assert_eq!(early.downtime, Duration::from_secs(2));
    let late = report.between(5000, 10_000);
    assert_eq!(late.share_of("v2"), 1.0);
    assert_eq!(late.total, 25);
    assert_eq!(late.per_second.first().map(|s| s.second), Some(5));
    let mixed = report.between(4000, 6000);
    assert!(within(mixed.share_of("v1"), 0.5, 1e-9));
    assert!(within(mixed.share_of("v2"), 0.5, 1e-9));
    // Within the report's own window only, and widened to whole buckets.
    assert_eq!(early.between(4950, 99_999).to_ms, 5000);
    assert_eq!(report.between(150, 250).from_ms, 100);
    assert_eq!(report.between(150, 250).to_ms, 300);
    assert_eq!(report.between(20_000, 30_000).total, 0);
}

#[test]
fn trailing_outage_and_late_outcomes() {
    let mut recorder = Recorder::new(1000);
    recorder.record(outcome(0, Some("v1"), 5));
    recorder.record(outcome(150, None, 5));
    recorder.record(outcome(350, None, 5));
    let before = report_of(&recorder);
    // An answer to an early request arriving late lands where it was sent.
    recorder.record(outcome(120, Some("v1"), 900));
    let after = report_of(&recorder);
    assert_eq!(
        before.outages,
        vec![Outage {
            from_ms: 100,
            to_ms: 400
        }]
    );
    assert_eq!(
        after.outages,
        vec![Outage {
            from_ms: 300,
            to_ms: 400
        }]
    );
    // The earlier snapshot did not change.
    assert_eq!(before.total, 3);
    assert_eq!(after.total, 4);
    let p99 = after.per_version["v1"].p99.as_secs_f64();
    assert!(within(p99, 0.9, 0.9 * 0.01), "{p99}");
}

#[test]
fn keeps_outcomes_up_to_a_bound_and_names_too() {
    let mut recorder = Recorder::new(10);
    for i in 0..100u64 {
        let version = format!("v{i}");
        recorder.record(outcome(i, Some(&version), 1));
    }
    assert_eq!(recorder.outcomes.len(), 10);
    assert_eq!(recorder.discarded, 90);
    let report = report_of(&recorder);
    assert_eq!(report.total, 100);
    // 64 distinct versions, then "other".
    assert_eq!(report.per_version.len(), 65);
    assert_eq!(report.per_version[OTHER].requests, 36);

    let mut recorder = Recorder::new(10);
    recorder.record(outcome(0, Some(&"x".repeat(1000)), 1));
    assert_eq!(
        recorder.outcomes[0].version.as_deref().map(str::len),
        Some(128)
    );
}

#[test]
fn groups_and_drops_in_reports() {
    let mut recorder = Recorder::new(100);
    let mut grouped = outcome(0, Some("v2"), 1);
    grouped.group = Some(0);
    recorder.record(grouped);
    recorder.record(outcome(10, Some("v1"), 1));
    recorder.record(Outcome::dropped(20, Some(0)));
    let report = report_of(&recorder);
    assert_eq!((report.total, report.ok, report.dropped), (3, 2, 1));
    assert_eq!(report.failed_ratio(), 0.0);
    let group = &report.per_group[0];
    assert_eq!(group.group, Some(0));
    assert_eq!((group.requests, group.dropped), (1, 1));
    assert!(within(group.observed_share, 2.0 / 3.0, 1e-9));
    assert_eq!(report.ungrouped.group, None);
    assert_eq!(report.ungrouped.by_version.get("v1"), Some(&1));
    assert!(within(report.ungrouped.share, 0.9, 1e-9));
    // A bucket of drops only is no evidence of downtime.
    assert_eq!(report.downtime, Duration::ZERO);
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["by_status"]["dropped"], 1);
    assert_eq!(json["per_group"][0]["label"], "10%:header:X=1");
    assert!(json.get("data").is_none());
}
