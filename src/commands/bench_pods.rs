//! `rollout bench pods`: pods started per second by the embedded cluster — the whole path
//! (Deployment → ReplicaSet → pods → scheduling → app listening → readiness probe → Ready) —
//! and what a running pod costs in resident memory: the pod apps alone, then the whole
//! cluster's share per pod (API objects, events and watch history included).

use crate::cli::BenchPodsArgs;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, PostParams};
use kubesim::clock::SimClock;
use kubesim::node::app::{AppSpec, RunningApp};
use kubesim::node::behaviour::Behaviour;
use kubesim::{SimCluster, SimOptions};
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::bench_api::rss_bytes;

/// Asked of the cluster: far more than it can keep with hundreds of pods probed every
/// simulated second, so it runs as fast as it can (and says how fast that was), which takes
/// the simulated start-up and probe delays out of the figure.
const SPEED: f64 = 1000.0;

pub async fn run(args: &BenchPodsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.pods > 0, "--pods must be at least 1");
    let pods = usize::try_from(args.pods)?;

    // The apps first, kept running: what they allocate is not memory the cluster freed.
    let before = rss_bytes();
    let apps = start_apps(pods).await?;
    let with_apps = rss_bytes();

    let cluster = SimCluster::start(SimOptions {
        time_scale: SPEED,
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
    let cluster_alone = rss_bytes();
    let sim_began = cluster.clock().now();
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
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed();
    let mean_speed = cluster.clock().since(sim_began).as_secs_f64() / took.as_secs_f64();
    println!(
        "{} pods Ready and serving in {:.2} s: {:.0} pods/s (simulated time at {:.0}× on average of the {SPEED}× asked, {:.0}× now)",
        args.pods,
        took.as_secs_f64(),
        args.pods as f64 / took.as_secs_f64(),
        mean_speed,
        cluster.achieved_speed(),
    );
    // A few probe rounds, so that what running pods hold (connections, buffers) is counted.
    cluster.clock().sleep(Duration::from_secs(5)).await;
    let running = rss_bytes();
    let per = |from: Option<u64>, to: Option<u64>| -> String {
        match (from, to) {
            (Some(a), Some(b)) => format!(
                "{:.1} KiB",
                b.saturating_sub(a) as f64 / 1024.0 / pods as f64
            ),
            _ => "unknown (no /proc/self/statm)".into(),
        }
    };
    println!(
        "resident memory per pod: {} for its app alone (listener, tasks, counters; {pods} apps probed once each), {} for the whole cluster (the pod's worker and app, its API objects, events and watch history, the controllers' and the ingress' share)",
        per(before, with_apps),
        per(cluster_alone, running),
    );
    if let Some(total) = running {
        println!(
            "process resident memory: {:.0} MiB",
            total as f64 / (1024.0 * 1024.0)
        );
    }
    println!("{}", store_summary(&cluster));
    cluster.stop().await;
    for app in apps {
        app.stop(Duration::ZERO).await;
    }
    Ok(())
}

/// `n` healthy apps on loopback addresses of their own, each probed once (as the kubelet
/// would), so each has served a connection.
async fn start_apps(n: usize) -> anyhow::Result<Vec<RunningApp>> {
    let clock = SimClock::fixed(1.0);
    // A /16 of its own, apart from the cluster's (which picks one at random).
    let second = u8::try_from(std::process::id() % 240 + 10)?;
    let behaviour = Behaviour {
        startup: Duration::ZERO,
        ..Behaviour::default()
    };
    let mut apps = Vec::with_capacity(n);
    for i in 0..n {
        let host = u32::try_from(i)? + 2;
        let ip = Ipv4Addr::new(127, second, (host >> 8) as u8, (host & 0xff) as u8);
        let app = RunningApp::start(AppSpec {
            pod: format!("bench-{i}"),
            namespace: "bench".into(),
            version: "v1".into(),
            image: "bench:v1".into(),
            ip: IpAddr::V4(ip),
            port: 8080,
            behaviour: behaviour.clone(),
            clock: clock.clone(),
            live: None,
            on_exit: None,
        })
        .await?;
        apps.push(app);
    }
    let probe: k8s_openapi::api::core::v1::Probe =
        serde_json::from_value(json!({"httpGet": {"path": "/healthz", "port": 8080}}))?;
    let container: k8s_openapi::api::core::v1::Container =
        serde_json::from_value(json!({"name": "app", "ports": [{"containerPort": 8080}]}))?;
    for app in &apps {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !kubesim::node::probe::run(
            &probe,
            &container,
            app.addr().ip(),
            Duration::from_secs(1),
        )
        .await
        .ok
        {
            anyhow::ensure!(
                Instant::now() < deadline,
                "app {} never answered",
                app.addr()
            );
            tokio::task::yield_now().await;
        }
    }
    Ok(apps)
}

/// What the API server keeps: objects by kind and their size as JSON.
fn store_summary(cluster: &SimCluster) -> String {
    let mut parts = Vec::new();
    let mut bytes = 0usize;
    for (group, plural) in [
        ("", "pods"),
        ("", "events"),
        ("", "endpoints"),
        ("discovery.k8s.io", "endpointslices"),
        ("apps", "replicasets"),
    ] {
        let Some(rt) = kubesim::resources::find(group, "v1", plural) else {
            continue;
        };
        let objects = cluster.store().all(rt, None);
        bytes += objects
            .iter()
            .map(|o| serde_json::to_vec(&**o).map_or(0, |v| v.len()))
            .sum::<usize>();
        parts.push(format!("{} {plural}", objects.len()));
    }
    format!(
        "the API server holds {} ({:.1} MiB as JSON; more in memory, and older versions in the watch history)",
        parts.join(", "),
        bytes as f64 / (1024.0 * 1024.0)
    )
}
