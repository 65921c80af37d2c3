//! `rollout dashboard` on the embedded cluster: headless Chromium opens the page during a
//! canary and reads its DOM through the DevTools protocol (over a pipe: no port, no extra
//! client library); promote and abort go through the HTTP endpoints the page's buttons call.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rollout::commands::dashboard::{self, Dashboard, Scope, Setup};
use rollout_core::report::Finish;
use serde_json::{Value, json};

use crate::common::TestCluster;
use crate::common::rollouts::{Events, Front, deploy_web, options, request, strategy_file};

const CANARY: &str = r#"
strategy: canary
steps:
  - setWeight: 20
  - pause: 2s
  - analysis: smoke
  - setWeight: 50
  - pause: 2s
analysis:
  interval: 300ms
  background: [probes]
  checks:
    probes:
      probe: { readinessDeadline: 10s }
    smoke:
      http: { path: /, version: new, requests: 10 }
      count: 2
      successRate: ">= 95%"
"#;

const PAUSED: &str = r#"
strategy: canary
steps:
  - setWeight: 30
  - pause: {}
  - setWeight: 60
analysis:
  background: [probes]
  checks:
    probes:
      probe: { readinessDeadline: 10s }
"#;

/// The Chromium binary, or `None` (the test then says it is skipped) — unless
/// `ROLLOUT_REQUIRE_CHROMIUM=1`, as in CI, where a missing browser fails the test.
fn chromium() -> Option<String> {
    let candidates = [
        std::env::var("CHROMIUM").ok(),
        Some("chromium".into()),
        Some("chromium-browser".into()),
    ];
    let found = candidates.into_iter().flatten().find(|c| {
        Command::new(c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if found.is_none() {
        assert!(
            std::env::var("ROLLOUT_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "ROLLOUT_REQUIRE_CHROMIUM=1 but no chromium found (apt-get install chromium)"
        );
        eprintln!("SKIPPED: chromium is not installed (set ROLLOUT_REQUIRE_CHROMIUM=1 to fail)");
    }
    found
}

/// Headless Chromium driven through the DevTools protocol on a pipe: JSON messages ended by
/// a NUL byte, written to its fd 3 and read from its fd 4 (`--remote-debugging-pipe`).
struct Browser {
    child: Child,
    input: ChildStdin,
    output: std::sync::mpsc::Receiver<Value>,
    next_id: u64,
    session: Option<String>,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start(binary: &str) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        // The shell maps our stdin/stdout onto the pipe's descriptors 3 and 4.
        let script = format!(
            "exec \"$0\" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
             --disable-background-networking --disable-component-update --disable-sync \
             --window-size=1280,1600 --user-data-dir='{}' --remote-debugging-pipe about:blank \
             3<&0 4>&1 0</dev/null 1>/dev/null",
            profile.path().display()
        );
        let mut child = Command::new("sh")
            .args(["-c", &script, binary])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium");
        let input = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, output) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut buf = Vec::new();
                match reader.read_until(0, &mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        buf.pop();
                        if let Ok(v) = serde_json::from_slice::<Value>(&buf)
                            && tx.send(v).is_err()
                        {
                            return;
                        }
                    }
                }
            }
        });
        Browser {
            child,
            input,
            output,
            next_id: 0,
            session: None,
            _profile: profile,
        }
    }

    /// Sends one command and waits (up to 30 s) for its answer.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = msg.to_string().into_bytes();
        bytes.push(0);
        self.input.write_all(&bytes).expect("write to chromium");
        self.input.flush().expect("flush");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .output
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("chromium did not answer {method}"));
            if v["id"] == json!(id) {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    fn open(&mut self, url: &str) {
        let target = self.call("Target.createTarget", json!({"url": url}));
        let attached = self.call(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        self.session = attached["sessionId"].as_str().map(str::to_owned);
        // The page's window.confirm would block: the test drives the endpoints itself.
    }

    /// Evaluates `expression` in the page; its value (JSON-able).
    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        r["result"]["value"].clone()
    }

    fn screenshot(&mut self, path: &std::path::Path) {
        use base64::Engine as _;
        let r = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap_or_default())
            .expect("png");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("report dir");
        }
        std::fs::write(path, png).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the test reads of the page: one expression, one JSON value.
const READ_PAGE: &str = r#"(() => {
  const app = document.querySelector('section.app[data-app="web"]');
  if (!app) return null;
  return {
    name: app.querySelector('.app-name')?.textContent,
    step: Number(app.querySelector('.current-step')?.dataset.step || 0),
    steps: app.querySelectorAll('ol.steps li').length,
    shares: [...app.querySelectorAll('li.share')].map(s => [s.dataset.version, Number(s.dataset.percent)]),
    gates: [...app.querySelectorAll('tr.gate')].map(g => [g.dataset.gate, g.dataset.outcome]),
    charts: app.querySelectorAll('figure.chart svg').length,
    pods: app.querySelectorAll('tr.pod').length,
    result: app.querySelector('.result')?.dataset.result || null,
    live: document.getElementById('connection')?.dataset.state,
  };
})()"#;

async fn start_dashboard(tc: &TestCluster) -> Dashboard {
    dashboard::start(
        Setup {
            client: tc.client.clone(),
            scope: Scope::Namespace("default".into()),
            options: options(tc),
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .expect("dashboard starts")
}

/// Reads the page (in a blocking thread: the browser is driven synchronously) until `done`
/// says so, for at most `within`; returns every reading.
async fn watch_page(
    browser: Browser,
    within: Duration,
    done: impl Fn(&Value) -> bool + Send + 'static,
) -> (Browser, Vec<Value>) {
    tokio::task::spawn_blocking(move || {
        let mut browser = browser;
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            let v = browser.eval(READ_PAGE);
            let finished = done(&v);
            seen.push(v);
            if finished {
                return (browser, seen);
            }
            // The page changes once a second at most; reading it a few times a second sees
            // every change.
            std::thread::park_timeout(Duration::from_millis(250));
        }
        panic!(
            "the page never showed what was waited for; last readings: {:?}",
            seen.iter().rev().take(3).collect::<Vec<_>>()
        );
    })
    .await
    .expect("page reader")
}

#[tokio::test]
async fn the_page_follows_a_canary_to_its_end() {
    let Some(binary) = chromium() else { return };
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, Front::Nginx).await;
    let d = start_dashboard(&tc).await;
    let url = d.url();

    let path = strategy_file(&tc, "canary", CANARY);
    let events = Arc::new(Events::default());
    let cluster = rollout_core::cluster::Cluster::new(tc.client.clone(), "default");
    let engine = rollout_core::engine::start::begin(
        cluster,
        &request(&path, "v2"),
        options(&tc),
        events.clone(),
    )
    .await
    .expect("rollout starts");
    let run = tokio::spawn(engine.run());

    let browser = tokio::task::spawn_blocking(move || {
        let mut b = Browser::start(&binary);
        b.open(&url);
        b
    })
    .await
    .expect("browser");

    // During the run: the name, a share for each version, a gate's verdict, the step moving.
    let (browser, during) = watch_page(browser, Duration::from_secs(60), |v| {
        v["gates"]
            .as_array()
            .is_some_and(|g| g.iter().any(|g| g[0] == "smoke"))
            && v["step"].as_u64().unwrap_or(0) >= 4
    })
    .await;
    let live: Vec<&Value> = during.iter().filter(|v| !v.is_null()).collect();
    let first = live.first().expect("the page showed the rollout");
    assert_eq!(first["name"], "default/web");
    assert_eq!(first["live"], "live");
    let steps: Vec<u64> = live.iter().filter_map(|v| v["step"].as_u64()).collect();
    assert!(
        steps.windows(2).any(|w| w[1] > w[0]),
        "the current step never advanced: {steps:?}"
    );
    let last = live.last().expect("a reading");
    let shares = last["shares"].as_array().expect("shares");
    let versions: Vec<&str> = shares.iter().filter_map(|s| s[0].as_str()).collect();
    assert_eq!(versions, ["web:v1", "web:v2"], "{last}");
    assert!(last["charts"].as_u64().unwrap_or(0) >= 3, "{last}");
    assert!(last["pods"].as_u64().unwrap_or(0) >= 2, "{last}");
    let verdicts: Vec<&str> = last["gates"]
        .as_array()
        .expect("gates")
        .iter()
        .filter_map(|g| g[1].as_str())
        .collect();
    assert!(
        verdicts.iter().all(|v| ["pass", "fail", "inconclusive", "error"].contains(v)),
        "{verdicts:?}"
    );
    assert!(verdicts.contains(&"pass"), "{last}");

    // A picture of the page mid-run, for the report folder (and the README).
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("rollout-report")
        .join("dashboard.png");
    let browser = tokio::task::spawn_blocking(move || {
        let mut b = browser;
        b.screenshot(&shot);
        eprintln!("screenshot: {}", shot.display());
        b
    })
    .await
    .expect("screenshot");

    let end = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the rollout ends")
        .expect("engine");
    assert_eq!(end.finish, Finish::Done, "{:?}", end.reason);
    // After the run: the final state, from the `last` annotation.
    let (browser, after) = watch_page(browser, Duration::from_secs(30), |v| {
        v["result"].as_str() == Some("done")
    })
    .await;
    assert_eq!(after.last().map(|v| &v["name"]), Some(&json!("default/web")));
    drop(browser);
    d.stop();
}

/// The page's token, as the buttons read it.
async fn token(http: &reqwest::Client, url: &str) -> String {
    let page = http
        .get(url)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text");
    let at = page
        .find("name=\"rollout-token\" content=\"")
        .expect("token meta");
    page[at..]
        .split('"')
        .nth(3)
        .expect("token value")
        .to_owned()
}

async fn post(http: &reqwest::Client, url: &str, token: Option<&str>, origin: Option<&str>) -> u16 {
    let mut req = http.post(url);
    if let Some(t) = token {
        req = req.header("X-Rollout-Token", t);
    }
    if let Some(o) = origin {
        req = req.header("Origin", o);
    }
    req.send().await.expect("post").status().as_u16()
}

/// Waits until the dashboard's snapshot of `web` satisfies `ok`.
async fn snapshot_until(
    http: &reqwest::Client,
    d: &Dashboard,
    what: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let url = format!("{}api/state", d.url());
    crate::common::eventually(what, Duration::from_secs(60), || async {
        let v: Value = http.get(&url).send().await.ok()?.json().await.ok()?;
        let app = v["apps"]
            .as_array()?
            .iter()
            .find(|a| a["app"] == "web")?
            .clone();
        ok(&app).then_some(app)
    })
    .await
}

#[tokio::test]
async fn promote_and_abort_through_the_page_endpoints() {
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, Front::Nginx).await;
    let d = start_dashboard(&tc).await;
    let http = reqwest::Client::new();
    let base = d.url();
    let token = token(&http, &base).await;
    let path = strategy_file(&tc, "paused", PAUSED);
    let start = |image: &'static str| {
        let tc_client = tc.client.clone();
        let opts = options(&tc);
        let path = path.clone();
        async move {
            let cluster = rollout_core::cluster::Cluster::new(tc_client, "default");
            let engine = rollout_core::engine::start::begin(
                cluster,
                &request(&path, image),
                opts,
                Arc::new(Events::default()),
            )
            .await
            .expect("rollout starts");
            tokio::spawn(engine.run())
        }
    };
    let promote = format!("{base}api/rollouts/default/web/promote");
    let abort = format!("{base}api/rollouts/default/web/abort");

    // Nothing to promote yet: refused, and the refusal says so.
    assert_eq!(post(&http, &promote, Some(&token), None).await, 409);

    let run = start("v2").await;
    let paused = |a: &Value| a["rollout"]["phase"] == "waiting-for-promotion";
    snapshot_until(&http, &d, "the canary to pause", paused).await;
    // No token, a wrong one, or another origin: refused, and nothing changes.
    assert_eq!(post(&http, &promote, None, None).await, 403);
    assert_eq!(post(&http, &promote, Some("guess"), None).await, 403);
    assert_eq!(
        post(&http, &promote, Some(&token), Some("http://evil.example")).await,
        403
    );
    assert_eq!(post(&http, &promote, Some(&token), None).await, 200);
    let end = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("promoted rollout ends")
        .expect("engine");
    assert_eq!(end.finish, Finish::Done, "{:?}", end.reason);
    snapshot_until(&http, &d, "the page to show done", |a| {
        a["last"]["result"] == "done"
    })
    .await;

    // A second canary, aborted from the page: the running process rolls back.
    let run = start("v1").await;
    snapshot_until(&http, &d, "the second canary to pause", paused).await;
    let origin = base.trim_end_matches('/').to_owned();
    assert_eq!(post(&http, &abort, Some(&token), Some(&origin)).await, 202);
    let end = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("aborted rollout ends")
        .expect("engine");
    assert_eq!(end.finish, Finish::RolledBack, "{:?}", end.reason);
    let app = snapshot_until(&http, &d, "the page to show the rollback", |a| {
        a["last"]["result"] == "rolled-back" && a["rollout"].is_null()
    })
    .await;
    assert_eq!(app["image"], "web:v2");
    let state: Value = http
        .get(format!("{base}api/state"))
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    let actions: Vec<(&str, &str)> = state["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(|a| Some((a["action"].as_str()?, a["state"].as_str()?)))
        .collect();
    assert!(actions.contains(&("promote", "done")), "{actions:?}");
    assert!(actions.iter().any(|(a, _)| *a == "abort"), "{actions:?}");

    // The event stream sends snapshots.
    let mut sse = http
        .get(format!("{base}api/events"))
        .send()
        .await
        .expect("events");
    assert_eq!(
        sse.headers()["content-type"].to_str().unwrap_or_default(),
        "text/event-stream"
    );
    let chunk = tokio::time::timeout(Duration::from_secs(10), sse.chunk())
        .await
        .expect("a snapshot within 10s")
        .expect("chunk")
        .expect("some bytes");
    assert!(
        String::from_utf8_lossy(&chunk).starts_with("event: snapshot\ndata: {"),
        "{chunk:?}"
    );
    d.stop();
}
