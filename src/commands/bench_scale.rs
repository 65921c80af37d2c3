//! `rollout bench scale`: a canary of hundreds or thousands of replicas on a fresh embedded
//! cluster, driven by the orchestrator as `rollout demo` drives it (users sending requests
//! through the ingress, weights on the ingress, checks, promotion, cleanup), at several speeds
//! of simulated time. It prints the wall time of each phase, the speed the cluster actually
//! kept, its resident memory, and the API server's latency throughout — a side client GETs the
//! app's Service every 100 ms.
//!
//! Each run has a process of its own (the command starts itself once per replica count and
//! speed): memory a run freed stays with its process, and would otherwise be counted in the
//! next run's figure.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, PostParams};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::watch;

use crate::lab::{Lab, Load};
use rollout_core::cluster::Cluster;
use rollout_core::engine::start::Request;
use rollout_core::plan::Step;
use rollout_core::report::event::{Recorder, StepState};
use rollout_core::report::{Event, Finish};

#[derive(Debug, Args)]
pub struct BenchScaleArgs {
    /// Replica counts of the app: one canary each.
    #[arg(long, value_delimiter = ',', default_value = "100,300,1000")]
    pub replicas: Vec<i32>,
    /// Speeds of simulated time (as `sim up --speed`) to run each replica count at.
    #[arg(long, value_delimiter = ',', default_value = "1,10")]
    pub speeds: Vec<f64>,
    /// Print the one run's figures as a JSON line: how a run in its own process reports to
    /// the command that started it.
    #[arg(long, hide = true)]
    pub json: bool,
}

const NAMESPACE: &str = "default";
const APP: &str = "web";
const HOST: &str = "web.bench.local";

/// The canary: a tenth of the requests, checked, then half, checked, then all; the probe
/// check watches the new pods throughout with the built-in canary's deadline.
const STRATEGY: &str = "strategy: canary
traffic: ingress-nginx
steps:
  - setWeight: 10
  - analysis: smoke
  - setWeight: 50
  - analysis: smoke
  - setWeight: 100
analysis:
  interval: 5s
  background: [probes]
  checks:
    probes:
      probe: { readinessDeadline: 5m, maxRestarts: 0 }
    smoke:
      http: { path: /, version: new, requests: 50 }
      successRate: \">= 99%\"
      p95: \"< 300ms\"
";

/// The figures of one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Figures {
    replicas: i32,
    asked: f64,
    outcome: String,
    reason: Option<String>,
    /// From creating the app to all its pods ready, before the rollout.
    app_ready_s: f64,
    /// Seconds per phase of the rollout, in plan order.
    phases: Vec<(String, f64)>,
    rollout_s: f64,
    /// Simulated seconds per real second over the rollout, and the lowest speed seen.
    speed_mean: f64,
    speed_min: f64,
    rss_cluster_mib: f64,
    rss_peak_mib: f64,
    rss_end_mib: f64,
    api_p50_ms: f64,
    api_p99_ms: f64,
    api_max_ms: f64,
    api_samples: usize,
    api_failed: usize,
}

pub async fn run(args: &BenchScaleArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.replicas.is_empty() && args.replicas.iter().all(|r| *r > 0),
        "--replicas must be positive counts, got {:?}",
        args.replicas
    );
    anyhow::ensure!(
        !args.speeds.is_empty() && args.speeds.iter().all(|s| s.is_finite() && *s > 0.0),
        "--speeds must be positive numbers, got {:?}",
        args.speeds
    );
    if let ([replicas], [speed]) = (args.replicas.as_slice(), args.speeds.as_slice()) {
        let figures = once(*replicas, *speed).await?;
        if args.json {
            println!("{}", serde_json::to_string(&figures)?);
        } else {
            print!("{}", describe(&figures));
        }
        return Ok(());
    }
    println!("{}", machine());
    let mut all = Vec::new();
    for replicas in &args.replicas {
        for speed in &args.speeds {
            let figures = in_own_process(*replicas, *speed).await?;
            print!("{}", describe(&figures));
            all.push(figures);
        }
    }
    print!("{}", targets(&all));
    Ok(())
}

/// Cores and load: the figures mean little without them.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    format!(
        "{cores} cores, load average {load} at the start (work of other processes on the machine makes these figures noisy)"
    )
}

async fn in_own_process(replicas: i32, speed: f64) -> anyhow::Result<Figures> {
    let exe = std::env::current_exe()?;
    let out = tokio::process::Command::new(exe)
        .args([
            "bench",
            "scale",
            "--replicas",
            &replicas.to_string(),
            "--speeds",
            &speed.to_string(),
            "--json",
        ])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await?;
    anyhow::ensure!(
        out.status.success(),
        "the run of {replicas} replicas at {speed}× failed ({})",
        out.status
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().ok_or_else(|| {
        anyhow::anyhow!("the run of {replicas} replicas at {speed}× said nothing")
    })?;
    Ok(serde_json::from_str(line)?)
}

fn mib(bytes: Option<u64>) -> f64 {
    bytes.map_or(f64::NAN, |b| b as f64 / (1024.0 * 1024.0))
}

/// One canary of `replicas` at `speed`, on a cluster of its own.
async fn once(replicas: i32, speed: f64) -> anyhow::Result<Figures> {
    let lab = Lab::start(speed, None).await.map_err(anyhow::Error::msg)?;
    let rss_cluster = super::bench_api::rss_bytes();
    let (stop, stopping) = watch::channel(false);
    let api_samples = tokio::spawn(sample_api(lab.cluster.client().await?, stopping.clone()));
    let process = tokio::spawn(sample_process(lab.cluster.clock().clone(), stopping));

    let created = Instant::now();
    deploy(&lab.client, replicas).await?;
    lab.wait_ready(NAMESPACE, Duration::from_secs(1800))
        .await
        .map_err(anyhow::Error::msg)?;
    let app_ready_s = created.elapsed().as_secs_f64();

    let users = Load {
        host: HOST.into(),
        path: "/".into(),
        rate: 20.0,
        groups: Vec::new(),
    }
    .start(&lab)
    .map_err(anyhow::Error::msg)?;
    let dir = std::env::temp_dir().join(format!("rollout-bench-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let strategy = dir.join("canary.yaml");
    std::fs::write(&strategy, STRATEGY)?;
    let req = Request {
        strategy: strategy.display().to_string(),
        image: "v2".into(),
        app: Some(APP.into()),
        ..Default::default()
    };
    let opts = lab.options().map_err(anyhow::Error::msg)?;
    let cluster = Cluster::new(lab.client.clone(), NAMESPACE);
    let (_, plan, _, _) = rollout_core::engine::start::prepare(&cluster, &req, &opts).await?;
    let events = Arc::new(Recorder::default());
    let sim_began = lab.cluster.clock().now();
    let began = Instant::now();
    let outcome = rollout_core::engine::start::run(cluster, &req, opts, events.clone()).await?;
    let rollout = began.elapsed();
    let simulated = lab.cluster.clock().since(sim_began);
    users.stop().await;
    let _ = std::fs::remove_dir_all(&dir);

    let _ = stop.send(true);
    let api = api_samples.await.unwrap_or_default();
    let (rss_peak, speed_min) = process.await.unwrap_or((None, speed));
    let rss_end = super::bench_api::rss_bytes();
    lab.cluster.stop().await;

    let (ok, failed): (Vec<_>, Vec<_>) = api.into_iter().partition(|(_, ok)| *ok);
    let mut ms: Vec<f64> = ok
        .iter()
        .chain(failed.iter())
        .map(|(d, _)| d.as_secs_f64() * 1000.0)
        .collect();
    ms.sort_by(f64::total_cmp);
    let pct = |q: f64| -> f64 {
        if ms.is_empty() {
            return f64::NAN;
        }
        let i = ((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1;
        ms[i]
    };
    Ok(Figures {
        replicas,
        asked: speed,
        outcome: match outcome.finish {
            Finish::Done => "done".into(),
            Finish::RolledBack => "rolled back".into(),
            other => format!("{other:?}").to_lowercase(),
        },
        reason: outcome.reason,
        app_ready_s,
        phases: phases(&plan.steps, &events),
        rollout_s: rollout.as_secs_f64(),
        speed_mean: simulated.as_secs_f64() / rollout.as_secs_f64().max(1e-9),
        speed_min,
        rss_cluster_mib: mib(rss_cluster),
        rss_peak_mib: mib(rss_peak),
        rss_end_mib: mib(rss_end),
        api_p50_ms: pct(0.5),
        api_p99_ms: pct(0.99),
        api_max_ms: ms.last().copied().unwrap_or(f64::NAN),
        api_samples: ms.len(),
        api_failed: failed.len(),
    })
}

/// The app: a Deployment probed every second, its Service and an nginx Ingress.
async fn deploy(client: &kube::Client, replicas: i32) -> anyhow::Result<()> {
    let pp = PostParams::default();
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": APP},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": APP}},
                 "template": {"metadata": {"labels": {"app": APP}},
                              "spec": {"terminationGracePeriodSeconds": 5,
                                       "containers": [{"name": "app", "image": "web:v1", "ports": [{"name": "http", "containerPort": 8080}],
                                                       "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1}}]}}}
    }))?;
    Api::<Deployment>::namespaced(client.clone(), NAMESPACE)
        .create(&pp, &d)
        .await?;
    let s: Service = serde_json::from_value(json!({
        "metadata": {"name": APP},
        "spec": {"selector": {"app": APP}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
    }))?;
    Api::<Service>::namespaced(client.clone(), NAMESPACE)
        .create(&pp, &s)
        .await?;
    let i: Ingress = serde_json::from_value(json!({
        "metadata": {"name": APP},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": HOST, "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": APP, "port": {"number": 80}}}}]}}]}
    }))?;
    Api::<Ingress>::namespaced(client.clone(), NAMESPACE)
        .create(&pp, &i)
        .await?;
    Ok(())
}

/// A cheap GET every 100 ms on a connection of its own: how long the API server keeps a
/// client waiting while the cluster works. A GET still running when the next is due delays
/// it (the wait is in the sample already).
async fn sample_api(
    client: kube::Client,
    mut stop: watch::Receiver<bool>,
) -> Vec<(Duration, bool)> {
    let api: Api<Service> = Api::namespaced(client, NAMESPACE);
    let mut every = tokio::time::interval(Duration::from_millis(100));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut samples = Vec::new();
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.changed() => return samples,
        }
        let t = Instant::now();
        // Before the app exists the answer is a 404, as quick to give as the Service.
        let got = tokio::time::timeout(Duration::from_secs(30), api.get_opt(APP)).await;
        samples.push((t.elapsed(), matches!(got, Ok(Ok(_)))));
    }
}

/// The process's peak resident memory and the clock's lowest speed, four times a second.
async fn sample_process(
    clock: Arc<kubesim::clock::SimClock>,
    mut stop: watch::Receiver<bool>,
) -> (Option<u64>, f64) {
    let mut peak = super::bench_api::rss_bytes();
    let mut slowest = clock.speed();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = stop.changed() => return (peak, slowest),
        }
        peak = peak.max(super::bench_api::rss_bytes());
        slowest = slowest.min(clock.speed());
    }
}

/// What a step of the canary is for, as the figures group them.
fn phase_of(step: &Step) -> &'static str {
    match step {
        Step::PinService
        | Step::CreateNew { .. }
        | Step::ScaleNew { .. }
        | Step::WaitNewReady
        | Step::CreateNewService => "new pods ready",
        Step::SwitchService { .. } | Step::UpdateStable { .. } => "promotion",
        Step::RestoreTraffic | Step::RemoveNew => "cleanup",
        // Weights, and the checks and pauses between them.
        _ => "traffic shifted",
    }
}

/// Seconds spent in each phase, from the engine's step events, in plan order.
fn phases(steps: &[Step], events: &Recorder) -> Vec<(String, f64)> {
    let mut began: BTreeMap<usize, Instant> = BTreeMap::new();
    let mut spent: Vec<(String, f64)> = Vec::new();
    let recorded = events.0.lock().map(|v| v.clone()).unwrap_or_default();
    for (t, e) in recorded {
        let Event::Step { index, state, .. } = e else {
            continue;
        };
        match state {
            StepState::Running => {
                began.insert(index, t);
            }
            StepState::Done | StepState::Failed => {
                let (Some(from), Some(step)) = (began.remove(&index), steps.get(index)) else {
                    continue;
                };
                let name = phase_of(step);
                let secs = t.saturating_duration_since(from).as_secs_f64();
                match spent.iter_mut().find(|(n, _)| n == name) {
                    Some((_, s)) => *s += secs,
                    None => spent.push((name.to_owned(), secs)),
                }
            }
            _ => {}
        }
    }
    spent
}

fn describe(f: &Figures) -> String {
    let phases: Vec<String> = f
        .phases
        .iter()
        .map(|(name, s)| format!("{name} {s:.1} s"))
        .collect();
    let reason = f
        .reason
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    format!(
        "{} replicas at {}×: {}{reason} in {:.1} s — {}\n  \
         simulated time ran at {:.2}× on average, {:.2}× at its slowest; the app's pods were ready {:.1} s after its creation\n  \
         resident memory: {:.0} MiB for the cluster alone, {:.0} MiB at peak, {:.0} MiB at the end\n  \
         API GET every 100 ms: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} samples, {} failed)\n",
        f.replicas,
        f.asked,
        f.outcome,
        f.rollout_s,
        phases.join(", "),
        f.speed_mean,
        f.speed_min,
        f.app_ready_s,
        f.rss_cluster_mib,
        f.rss_peak_mib,
        f.rss_end_mib,
        f.api_p50_ms,
        f.api_p99_ms,
        f.api_max_ms,
        f.api_samples,
        f.api_failed,
    )
}

/// The figures against the targets of the issue that asked for this benchmark.
fn targets(all: &[Figures]) -> String {
    let mark = |ok: bool| if ok { "met" } else { "missed" };
    let mut out = String::from("targets:\n");
    for f in all.iter().filter(|f| f.replicas >= 1000 && f.asked <= 1.0) {
        out.push_str(&format!(
            "  {}-replica canary at {}× done in under 3 minutes, under 1 GiB resident: {:.0} s, {:.0} MiB — {}\n",
            f.replicas,
            f.asked,
            f.rollout_s,
            f.rss_peak_mib,
            mark(f.outcome == "done" && f.rollout_s < 180.0 && f.rss_peak_mib < 1024.0)
        ));
    }
    for f in all.iter().filter(|f| f.replicas == 300 && f.asked >= 10.0) {
        out.push_str(&format!(
            "  300-replica canary at {}× completes: {} at {:.2}× on average — {}\n",
            f.asked,
            f.outcome,
            f.speed_mean,
            mark(f.outcome == "done")
        ));
    }
    let worst = all.iter().map(|f| f.api_p99_ms).fold(0.0, f64::max);
    out.push_str(&format!(
        "  API p99 under 1 s in every run: worst {worst:.0} ms — {}\n",
        mark(worst < 1000.0)
    ));
    out
}
