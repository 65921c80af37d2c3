//! `rollout bench pods`: pods started per second by the embedded cluster — the whole path
//! (Deployment → ReplicaSet → pods → scheduling → app listening → readiness probe → Ready).

use crate::cli::BenchPodsArgs;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, PostParams};
use kubesim::{SimCluster, SimOptions};
use serde_json::json;
use std::time::{Duration, Instant};

pub async fn run(args: &BenchPodsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.pods > 0, "--pods must be at least 1");
    // A high time scale takes the simulated start-up and probe delays out of the figure, so
    // it measures the cluster's own work.
    let cluster = SimCluster::start(SimOptions {
        time_scale: 1000.0,
        ..Default::default()
    })
    .await?;
    let client = cluster.client().await?;
    let deploys: Api<Deployment> = Api::default_namespaced(client);
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "bench"},
        "spec": {"replicas": args.pods, "selector": {"matchLabels": {"app": "bench"}},
                 "template": {"metadata": {"labels": {"app": "bench"}},
                              "spec": {"containers": [{"name": "app", "image": "bench:v1", "ports": [{"containerPort": 8080}],
                                                       "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1}}]}}}
    }))?;
    let started = Instant::now();
    deploys.create(&PostParams::default(), &d).await?;
    let deadline = started + Duration::from_secs(300);
    loop {
        let ready = deploys
            .get("bench")
            .await?
            .status
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0);
        if ready >= args.pods {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {ready} of {} pods ready after 300 s",
            args.pods
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    println!(
        "{} pods Ready and serving in {:.2} s: {:.0} pods/s",
        args.pods,
        took.as_secs_f64(),
        args.pods as f64 / took.as_secs_f64()
    );
    cluster.stop().await;
    Ok(())
}
