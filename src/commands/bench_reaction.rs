//! `rollout bench reaction`: how fast a failing gate turns into all traffic back on stable.
//! A canary of an image that answers 500 to half its requests runs at weight 50 on the
//! embedded cluster while clients send requests through the ingress; the figure is the time
//! from the failing measurement to the last request the new version answered.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::cli::BenchReactionArgs;
use kubesim::{SimCluster, SimOptions};
use rollout_core::cluster::Cluster;
use rollout_core::engine::Options;
use rollout_core::engine::start::Request;
use rollout_core::gate::Outcome;
use rollout_core::report::Event;
use rollout_core::report::event::Recorder;

const STRATEGY: &str = "strategy: canary
steps:
  - setWeight: 50
  - analysis: smoke
analysis:
  background: []
  checks:
    smoke:
      http: { path: /, version: new, via: service, requests: 20 }
      successRate: \">= 95%\"
";

async fn deploy(client: &kube::Client) -> anyhow::Result<()> {
    let pp = PostParams::default();
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": "web:v1", "ports": [{"name": "http", "containerPort": 8080}],
                                                       "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1}}]}}}
    }))?;
    Api::<Deployment>::default_namespaced(client.clone())
        .create(&pp, &d)
        .await?;
    let s: Service = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
    }))?;
    Api::<Service>::default_namespaced(client.clone())
        .create(&pp, &s)
        .await?;
    let i: Ingress = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": "web.bench", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
    }))?;
    Api::<Ingress>::default_namespaced(client.clone())
        .create(&pp, &i)
        .await?;
    let api = Api::<Deployment>::default_namespaced(client.clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = api.get("web").await?.status.and_then(|s| s.ready_replicas);
        if ready == Some(2) {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "web not ready after 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One run: milliseconds from the failed measurement to the last answer of the new version.
async fn once(dir: &std::path::Path) -> anyhow::Result<f64> {
    let cluster = SimCluster::start(SimOptions {
        time_scale: 20.0,
        ..Default::default()
    })
    .await?;
    let client = cluster.client().await?;
    deploy(&client).await?;
    let ingress = cluster
        .ingress()
        .ok_or_else(|| anyhow::anyhow!("no ingress"))?
        .addr();
    let path = dir.join("reaction.yaml");
    std::fs::write(&path, STRATEGY)?;
    let events = Arc::new(Recorder::default());
    let req = Request {
        strategy: path.display().to_string(),
        image: "v2-errors".into(),
        app: Some("web".into()),
        ..Default::default()
    };
    let mut opts = Options::new().map_err(anyhow::Error::msg)?;
    opts.ingress_url = Some(format!("http://{ingress}"));
    let engine = rollout_core::engine::start::begin(
        Cluster::new(client.clone(), "default"),
        &req,
        opts,
        events.clone(),
    )
    .await?;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let answers = Arc::new(std::sync::Mutex::new(Vec::<(Instant, bool)>::new()));
    let http = reqwest::Client::builder().no_proxy().build()?;
    let mut load = Vec::new();
    for _ in 0..4 {
        let (done, answers, http) = (done.clone(), answers.clone(), http.clone());
        load.push(tokio::spawn(async move {
            let end = Instant::now() + Duration::from_secs(60);
            while !done.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < end {
                let sent = Instant::now();
                if let Ok(r) = http
                    .get(format!("http://{ingress}/"))
                    .header("Host", "web.bench")
                    .send()
                    .await
                {
                    let new = r
                        .headers()
                        .get("x-version")
                        .is_some_and(|v| v.as_bytes().starts_with(b"v2"));
                    if let Ok(mut a) = answers.lock() {
                        a.push((sent, new));
                    }
                }
            }
        }));
    }
    let outcome = engine.run().await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    for l in load {
        let _ = l.await;
    }
    cluster.stop().await;
    anyhow::ensure!(
        outcome.finish == rollout_core::report::Finish::RolledBack,
        "expected a rollback, got {:?}",
        outcome.finish
    );
    let failed_at = events
        .0
        .lock()
        .map_err(|_| anyhow::anyhow!("events"))?
        .iter()
        .find(|(_, e)| matches!(e, Event::Gate { measurement, .. } if measurement.outcome == Outcome::Fail))
        .map(|(t, _)| *t)
        .ok_or_else(|| anyhow::anyhow!("no failed measurement"))?;
    let last_new = answers
        .lock()
        .map_err(|_| anyhow::anyhow!("answers"))?
        .iter()
        .filter(|(_, new)| *new)
        .map(|(t, _)| *t)
        .max()
        .ok_or_else(|| anyhow::anyhow!("the new version never answered"))?;
    Ok(last_new.saturating_duration_since(failed_at).as_secs_f64() * 1000.0)
}

pub async fn run(args: &BenchReactionArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.runs > 0, "--runs must be at least 1");
    let dir = tempfile_dir()?;
    let mut figures = Vec::new();
    for i in 0..args.runs {
        let ms = once(&dir).await?;
        crate::outln!(
            "run {}: {ms:.0} ms from the failed gate to the last answer of the new version",
            i + 1
        );
        figures.push(ms);
    }
    figures.sort_by(f64::total_cmp);
    let median = figures[figures.len() / 2];
    crate::outln!(
        "reaction time over {} runs: median {median:.0} ms, min {:.0} ms, max {:.0} ms (target < 500 ms)",
        figures.len(),
        figures[0],
        figures[figures.len() - 1]
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("rollout-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
