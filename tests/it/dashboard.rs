//! `rollout dashboard` in headless Chromium: the page is opened during `rollout demo --ui`'s
//! canary and during paused canaries on the embedded cluster, and read through the DevTools
//! protocol (over a pipe: no port, no client library). Promote and abort are clicked on the
//! page and confirmed in the browser's dialog, as a person would.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rollout::commands::dashboard::{self, Dashboard, Scope, Setup};
use rollout_core::report::Finish;
use rollout_core::report::charts;
use rollout_core::report::data::RunReport;
use serde_json::{Value, json};

use crate::common::TestCluster;
use crate::common::rollouts::{Events, Front, deploy_web, options, request, strategy_file};

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

/// How long the browser has to answer one command.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

/// Headless Chromium driven through the DevTools protocol on a pipe: JSON messages ended by
/// a NUL byte, written to its fd 3 and read from its fd 4 (`--remote-debugging-pipe`).
struct Browser {
    child: Child,
    input: ChildStdin,
    output: std::sync::mpsc::Receiver<Value>,
    /// Events received while waiting for an answer, oldest first.
    events: VecDeque<Value>,
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
            events: VecDeque::new(),
            next_id: 0,
            session: None,
            _profile: profile,
        }
    }

    /// Sends one command; returns its id.
    fn send(&mut self, method: &str, params: Value) -> u64 {
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
        id
    }

    /// The next message from the browser, within the deadline.
    fn receive(&mut self, deadline: Instant, waiting_for: &str) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        self.output
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("chromium did not send {waiting_for} in time"))
    }

    /// Waits for the answer to command `id`, keeping the events that come first. A dialog
    /// nobody expected (the page's alert on a refused action) fails the test with its text.
    fn answer(&mut self, id: u64, method: &str) -> Value {
        let deadline = Instant::now() + ANSWER_WITHIN;
        loop {
            let v = self.receive(deadline, method);
            if v["id"] == json!(id) {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
            if v["method"] == "Page.javascriptDialogOpening" {
                panic!("the page opened a dialog: {}", v["params"]["message"]);
            }
            if v.get("method").is_some() {
                self.events.push_back(v);
            }
        }
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params);
        self.answer(id, method)
    }

    fn open(&mut self, url: &str) {
        let target = self.call("Target.createTarget", json!({"url": url}));
        let attached = self.call(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        self.session = attached["sessionId"].as_str().map(str::to_owned);
        // Dialogs (the buttons' confirmations) are reported as events.
        self.call("Page.enable", json!({}));
    }

    /// Evaluates `expression` in the page; its value (JSON-able).
    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        r["result"]["value"].clone()
    }

    /// Clicks the button `action` of the app `web` and answers the confirmation it asks:
    /// yes when `accept`. Returns the question the page asked.
    fn click_and_confirm(&mut self, action: &str, accept: bool) -> String {
        let expression = format!(
            "document.querySelector('section.app[data-app=\"web\"] button[data-action=\"{action}\"]').click()"
        );
        // The click does not return until the confirmation is answered.
        let click = self.send("Runtime.evaluate", json!({"expression": expression}));
        let deadline = Instant::now() + ANSWER_WITHIN;
        let dialog = loop {
            if let Some(i) = self
                .events
                .iter()
                .position(|e| e["method"] == "Page.javascriptDialogOpening")
            {
                break self.events.remove(i).unwrap_or_default();
            }
            let v = self.receive(deadline, "the confirmation dialog");
            if v["id"] == json!(click) {
                panic!("clicking {action} asked no confirmation: {v}");
            }
            if v.get("method").is_some() {
                self.events.push_back(v);
            }
        };
        assert_eq!(dialog["params"]["type"], "confirm", "{dialog}");
        self.call("Page.handleJavaScriptDialog", json!({"accept": accept}));
        self.answer(click, "the click");
        dialog["params"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn screenshot(&mut self, path: &Path) {
        use base64::Engine as _;
        let r = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap_or_default())
            .expect("png");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
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

/// What the test reads of the page about app `APP`: one expression, one JSON value.
fn read_page(app: &str) -> String {
    r#"(() => {
  const app = document.querySelector('section.app[data-app="APP"]');
  if (!app) return null;
  return {
    name: app.querySelector('.app-name')?.textContent,
    phase: app.querySelector('.rollout')?.dataset.phase || null,
    step: Number(app.querySelector('.current-step')?.dataset.step || 0),
    steps: app.querySelectorAll('ol.steps li').length,
    shares: [...app.querySelectorAll('li.share')].map(s => [s.dataset.version, Number(s.dataset.percent), s.dataset.source]),
    gates: [...app.querySelectorAll('tr.gate')].map(g => [g.dataset.gate, g.dataset.outcome]),
    charts: app.querySelectorAll('figure.chart svg').length,
    pods: app.querySelectorAll('tr.pod').length,
    result: app.querySelector('.result')?.dataset.result || null,
    live: document.getElementById('connection')?.dataset.state,
    actions: [...document.querySelectorAll('li.action')].map(a => [a.dataset.action, a.dataset.state]),
  };
})()"#
        .replace("APP", app)
}

/// Reads the page (in a blocking thread: the browser is driven synchronously) until `done`
/// says so, for at most `within`; returns the browser and every reading.
async fn watch_page(
    browser: Browser,
    app: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool + Send + 'static,
) -> (Browser, Vec<Value>) {
    let expression = read_page(app);
    tokio::task::spawn_blocking(move || {
        let mut browser = browser;
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            let v = browser.eval(&expression);
            let finished = done(&v);
            seen.push(v);
            if finished {
                return (browser, seen);
            }
            // The page changes once a second at most; reading it four times a second sees
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

/// Runs `f` on the browser in a blocking thread.
async fn with_browser<T: Send + 'static>(
    browser: Browser,
    f: impl FnOnce(&mut Browser) -> T + Send + 'static,
) -> (Browser, T) {
    tokio::task::spawn_blocking(move || {
        let mut b = browser;
        let t = f(&mut b);
        (b, t)
    })
    .await
    .expect("browser thread")
}

/// Asserts that no two of `boxes` share a pixel.
fn assert_apart(boxes: &[charts::Rect], what: &str) {
    for (i, a) in boxes.iter().enumerate() {
        for b in &boxes[i + 1..] {
            assert!(!a.overlaps(b), "{what}: {a:?} overlaps {b:?}");
        }
    }
}

/// A process this test started, ended when the test ends however it ends.
struct Started(Child);

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for a line of `lines` containing `needle`; returns it.
fn line_with(
    lines: &std::sync::mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    needle: &str,
    within: Duration,
) -> String {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(l) => {
                seen.push(l.clone());
                if l.contains(needle) {
                    return l;
                }
            }
            Err(_) => panic!("no line with {needle:?} in:\n{}", seen.join("\n")),
        }
    }
}

#[tokio::test]
async fn the_page_follows_the_demo_canary_to_its_end() {
    let Some(binary) = chromium() else { return };
    // The report folder of this demo run; kept after the test to look at the screenshot.
    let report: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-demo-report");
    let _ = std::fs::remove_dir_all(&report);
    let mut child = Command::new(env!("CARGO_BIN_EXE_rollout"))
        .args(["demo", "--ui", "--speed", "20", "--report-dir"])
        .arg(&report)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the demo");
    let stderr = child.stderr.take().expect("stderr");
    let demo = Started(child);
    let (tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    let mut said = Vec::new();
    let announced = line_with(&lines, &mut said, "dashboard at ", Duration::from_secs(90));
    let url = announced
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no loopback URL in {announced:?}"))
        .to_owned();

    let browser = tokio::task::spawn_blocking(move || {
        let mut b = Browser::start(&binary);
        b.open(&url);
        b
    })
    .await
    .expect("browser");

    // During the run: the name, a share for each version, the gates' verdicts, the step moving.
    let app = "microblog";
    // Read until the step has moved on from the first one the page showed (on a loaded
    // machine the page may open late in the run).
    let first_step = std::sync::Mutex::new(None::<u64>);
    let (browser, during) = watch_page(browser, app, Duration::from_secs(90), move |v| {
        let gates = v["gates"].as_array().map_or(0, Vec::len);
        let shares = v["shares"].as_array().map_or(0, Vec::len);
        let step = v["step"].as_u64();
        let mut first = first_step.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            *first = step;
        }
        let advanced = step.zip(*first).is_some_and(|(now, was)| now > was);
        gates >= 2 && shares == 2 && step.unwrap_or(0) >= 5 && advanced
    })
    .await;
    let live: Vec<&Value> = during.iter().filter(|v| !v.is_null()).collect();
    let first = live.first().expect("the page showed the rollout");
    assert_eq!(first["name"], "microblog/microblog");
    let last = live.last().expect("a reading");
    assert_eq!(last["live"], "live", "{last}");
    let steps: Vec<u64> = live.iter().filter_map(|v| v["step"].as_u64()).collect();
    assert!(
        steps.windows(2).any(|w| w[1] > w[0]),
        "the current step never advanced: {steps:?}"
    );
    assert!(last["steps"].as_u64().unwrap_or(0) >= 6, "{last}");
    let shares = last["shares"].as_array().expect("shares");
    let versions: Vec<&str> = shares.iter().filter_map(|s| s[0].as_str()).collect();
    assert_eq!(
        versions,
        [
            "ghcr.io/rollout-demo/microblog:v1",
            "ghcr.io/rollout-demo/microblog:v2"
        ],
        "{last}"
    );
    let total: f64 = shares.iter().filter_map(|s| s[1].as_f64()).sum();
    assert!(
        (total - 100.0).abs() < 0.5,
        "shares add up to {total}: {last}"
    );
    // The users' requests are metered: the shares are measured, not only what is routed.
    assert!(
        live.iter().any(|v| v["shares"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s[2] == "measured"))),
        "no measured share: {last}"
    );
    assert!(last["charts"].as_u64().unwrap_or(0) >= 3, "{last}");
    assert!(last["pods"].as_u64().unwrap_or(0) >= 2, "{last}");
    let verdicts: Vec<&str> = last["gates"]
        .as_array()
        .expect("gates")
        .iter()
        .filter_map(|g| g[1].as_str())
        .collect();
    assert!(
        verdicts
            .iter()
            .all(|v| ["pass", "fail", "inconclusive", "error"].contains(v)),
        "{verdicts:?}"
    );
    assert!(verdicts.contains(&"pass"), "{last}");

    // A picture of the page mid-run, in the demo's report folder.
    let shot = report.join("dashboard.png");
    let path = shot.clone();
    let (browser, ()) = with_browser(browser, move |b| b.screenshot(&path)).await;
    eprintln!("screenshot: {}", shot.display());

    // After the run: the final state, from the `last` annotation.
    let (browser, after) = watch_page(browser, app, Duration::from_secs(90), |v| {
        v["result"].as_str() == Some("done")
    })
    .await;
    let end = after.last().expect("a reading");
    assert_eq!(end["name"], "microblog/microblog");
    assert_eq!(end["phase"], Value::Null, "{end}");
    drop(browser);

    // The demo waits for Ctrl-C once done, with the page still up; then it exits 0.
    line_with(
        &lines,
        &mut said,
        "the dashboard stays at",
        Duration::from_secs(60),
    );
    let mut demo = demo;
    let _ = Command::new("kill")
        .args(["-INT", &demo.0.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(s) = demo.0.try_wait().expect("wait") {
            break s.code();
        }
        assert!(Instant::now() < deadline, "the demo did not end on Ctrl-C");
        std::thread::park_timeout(Duration::from_millis(50));
    };
    assert_eq!(code, Some(0), "{}", said.join("\n"));
    assert!(shot.is_file());
    assert!(report.join("report.html").is_file());

    // The report's charts of this very run: no two step markers' boxes overlap.
    let run: RunReport = serde_json::from_str(
        &std::fs::read_to_string(report.join("report.json")).expect("report.json"),
    )
    .expect("a report");
    assert!(run.markers.len() >= 6, "{:?}", run.markers);
    let layout = charts::marker_layout(&run);
    assert_eq!(layout.badges.len(), run.markers.len());
    assert_apart(&layout.badges, "step badges");
    assert_apart(&layout.entries, "legend entries");
}

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

/// Starts a canary of `web` to `image` that pauses until promoted; returns its run.
async fn paused_canary(
    tc: &TestCluster,
    image: &str,
) -> tokio::task::JoinHandle<rollout_core::engine::RunEnd> {
    let path = strategy_file(tc, "paused", PAUSED);
    let cluster = rollout_core::cluster::Cluster::new(tc.client.clone(), "default");
    let engine = rollout_core::engine::start::begin(
        cluster,
        &request(&path, image),
        options(tc),
        Arc::new(Events::default()),
    )
    .await
    .expect("rollout starts");
    tokio::spawn(engine.run())
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

#[tokio::test]
async fn promote_and_abort_from_the_page_on_a_paused_canary() {
    let Some(binary) = chromium() else { return };
    let tc = TestCluster::fast(20.0).await;
    deploy_web(&tc, "web:v1", 2, Front::Nginx).await;
    let d = start_dashboard(&tc).await;
    let base = d.url();
    let url = base.clone();
    let browser = tokio::task::spawn_blocking(move || {
        let mut b = Browser::start(&binary);
        b.open(&url);
        b
    })
    .await
    .expect("browser");
    let paused = |v: &Value| v["phase"] == "waiting-for-promotion";

    let run = paused_canary(&tc, "v2").await;
    let (browser, _) = watch_page(browser, "web", Duration::from_secs(60), paused).await;

    // Without the page's token, or from another origin, nothing is done.
    let http = reqwest::Client::new();
    let promote = format!("{base}api/rollouts/default/web/promote");
    assert_eq!(post(&http, &promote, None, None).await, 403);
    assert_eq!(post(&http, &promote, Some("guess"), None).await, 403);

    // Abort, then think better of it: the rollout stays paused and no action is taken.
    let (browser, asked) = with_browser(browser, |b| b.click_and_confirm("abort", false)).await;
    assert!(
        asked.contains("Abort") && asked.contains("default/web"),
        "{asked}"
    );
    // Promote, confirmed: the rollout goes on to its end.
    let (browser, asked) = with_browser(browser, |b| b.click_and_confirm("promote", true)).await;
    assert!(asked.contains("Promote"), "{asked}");
    let end = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the promoted rollout ends")
        .expect("engine");
    assert_eq!(end.finish, Finish::Done, "{:?}", end.reason);
    let (browser, seen) = watch_page(browser, "web", Duration::from_secs(30), |v| {
        v["result"] == "done"
    })
    .await;
    let actions = &seen.last().expect("a reading")["actions"];
    assert_eq!(
        actions,
        &json!([["promote", "done"]]),
        "the declined abort did nothing"
    );

    // A second canary, aborted from the page: the process running it rolls back.
    let run = paused_canary(&tc, "v3").await;
    let (browser, _) = watch_page(browser, "web", Duration::from_secs(60), paused).await;
    let (browser, asked) = with_browser(browser, |b| b.click_and_confirm("abort", true)).await;
    assert!(asked.contains("Abort"), "{asked}");
    let end = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the aborted rollout ends")
        .expect("engine");
    assert_eq!(end.finish, Finish::RolledBack, "{:?}", end.reason);
    let (browser, seen) = watch_page(browser, "web", Duration::from_secs(30), |v| {
        v["result"] == "rolled-back"
    })
    .await;
    let last = seen.last().expect("a reading");
    assert_eq!(last["phase"], Value::Null, "{last}");
    assert!(
        last["actions"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a[0] == "abort")),
        "{last}"
    );
    let deployment = kube::Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(
        tc.client.clone(),
        "default",
    )
    .get("web")
    .await
    .expect("web");
    let image = deployment
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|s| s.containers.first().and_then(|c| c.image.clone()));
    assert_eq!(
        image.as_deref(),
        Some("web:v2"),
        "rolled back to the version the first canary promoted"
    );
    drop(browser);
    d.stop();
}
