//! `rollout bench soak`: whether the embedded cluster's memory stays bounded under minutes of
//! continuous work — Deployments created, rolled, scaled and deleted, requests through the
//! ingress, and the Events all of that records — sampled from /proc/self/statm.
//!
//! The figures are printed, never asserted: a slope near zero after the warm-up is what a
//! bounded cluster shows; a steady climb is a leak or an unbounded cache.

use super::bench_api::rss_bytes;
use clap::Args;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kubesim::{SimCluster, SimOptions};
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const NAMESPACE: &str = "soak";
const HOST: &str = "soak.local";

#[derive(Debug, Args)]
pub struct BenchSoakArgs {
    /// How long to churn (`3m`, `90s`, ...).
    #[arg(long, default_value = "3m", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// A 20-second run sampled every second (for CI and a quick look); overrides --duration
    /// and --sample.
    #[arg(long)]
    pub short: bool,
    /// Time between memory samples.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub sample: Duration,
    /// Deployments churned side by side (besides the one serving the ingress traffic).
    #[arg(long, default_value_t = 6)]
    pub deployments: usize,
    /// Concurrent connections sending requests through the ingress.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// How long the cluster keeps Events: shorter than the run, so the run reaches the
    /// steady state where Events expire as fast as they come.
    #[arg(long, default_value = "1m", value_parser = humantime::parse_duration)]
    pub event_ttl: Duration,
}

/// One memory sample.
#[derive(Debug, Clone)]
pub struct Sample {
    pub at: Duration,
    pub rss: u64,
    pub objects: usize,
    pub events: usize,
    pub actions: u64,
    pub requests: u64,
}

/// What a soak run measured.
#[derive(Debug)]
pub struct Report {
    pub samples: Vec<Sample>,
    /// Samples before this index are the warm-up.
    pub warm_up: usize,
    pub actions: u64,
    pub action_errors: u64,
    pub requests: u64,
    pub request_errors: u64,
}

#[derive(Default)]
struct Counters {
    actions: AtomicU64,
    action_errors: AtomicU64,
    requests: AtomicU64,
    request_errors: AtomicU64,
}

pub async fn run(args: &BenchSoakArgs) -> anyhow::Result<()> {
    let (duration, sample) = if args.short {
        (Duration::from_secs(20), Duration::from_secs(1))
    } else {
        (args.duration, args.sample)
    };
    anyhow::ensure!(
        sample > Duration::ZERO && sample < duration,
        "--sample must be shorter than --duration"
    );
    println!(
        "soak: {} of churn over {} Deployments, {} connections through the ingress, Events kept {}; \
         resident memory every {}",
        humantime::format_duration(duration),
        args.deployments,
        args.connections,
        humantime::format_duration(args.event_ttl),
        humantime::format_duration(sample),
    );
    let report = soak(args, duration, sample).await?;
    print_report(&report);
    Ok(())
}

fn options(args: &BenchSoakArgs) -> SimOptions {
    SimOptions {
        // Simulated start-up and probe delays shortened, so rollouts finish within the churn.
        time_scale: 10.0,
        event_ttl: args.event_ttl,
        ..Default::default()
    }
}

/// Runs the churn and the traffic for `duration`, sampling memory every `sample`.
pub async fn soak(
    args: &BenchSoakArgs,
    duration: Duration,
    sample: Duration,
) -> anyhow::Result<Report> {
    let cluster = SimCluster::start(options(args)).await?;
    let client = cluster.client().await?;
    let ingress = cluster
        .ingress()
        .ok_or_else(|| anyhow::anyhow!("the cluster runs no ingress"))?
        .addr();
    setup(&client).await?;

    let counters = Arc::new(Counters::default());
    let until = Instant::now() + duration;
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(churn(
        client.clone(),
        args.deployments.max(1),
        until,
        counters.clone(),
    )));
    for _ in 0..args.connections {
        tasks.push(tokio::spawn(traffic(ingress, until, counters.clone())));
    }

    let started = Instant::now();
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(sample);
    loop {
        tick.tick().await;
        let s = take_sample(&cluster, started.elapsed(), &counters);
        println!("{}", sample_line(&s));
        samples.push(s);
        if Instant::now() >= until {
            break;
        }
    }
    for t in tasks {
        t.await??;
    }
    cluster.stop().await;
    // The first third is the warm-up: pods, connections and caches settle in it.
    let warm_up = (samples.len() / 3)
        .max(1)
        .min(samples.len().saturating_sub(2));
    Ok(Report {
        samples,
        warm_up,
        actions: counters.actions.load(Ordering::Relaxed),
        action_errors: counters.action_errors.load(Ordering::Relaxed),
        requests: counters.requests.load(Ordering::Relaxed),
        request_errors: counters.request_errors.load(Ordering::Relaxed),
    })
}

fn take_sample(cluster: &SimCluster, at: Duration, counters: &Counters) -> Sample {
    let store = cluster.store();
    let mut objects = 0;
    let mut events = 0;
    for rt in kubesim::resources::RESOURCES {
        let n = store.count(rt);
        objects += n;
        if rt.plural == "events" && rt.group.is_empty() {
            events = n;
        }
    }
    Sample {
        at,
        rss: rss_bytes().unwrap_or(0),
        objects,
        events,
        actions: counters.actions.load(Ordering::Relaxed),
        requests: counters.requests.load(Ordering::Relaxed),
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn sample_line(s: &Sample) -> String {
    format!(
        "  t {:>6.1} s  rss {:>8.1} MiB  objects {:>6}  events {:>6}  changes {:>6}  requests {:>8}",
        s.at.as_secs_f64(),
        mib(s.rss),
        s.objects,
        s.events,
        s.actions,
        s.requests
    )
}

/// Least-squares slope of resident memory over time, in MiB per minute.
pub fn slope_mib_per_minute(samples: &[Sample]) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let n = samples.len() as f64;
    let xs: Vec<f64> = samples.iter().map(|s| s.at.as_secs_f64() / 60.0).collect();
    let ys: Vec<f64> = samples.iter().map(|s| mib(s.rss)).collect();
    let mx = xs.iter().sum::<f64>() / n;
    let my = ys.iter().sum::<f64>() / n;
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

fn print_report(r: &Report) {
    let (warm, steady) = r.samples.split_at(r.warm_up.min(r.samples.len()));
    println!();
    if let (Some(first), Some(end_of_warm_up), Some(last)) =
        (r.samples.first(), warm.last(), r.samples.last())
    {
        println!(
            "warm-up: first {:.0} s, {:.1} MiB → {:.1} MiB",
            end_of_warm_up.at.as_secs_f64(),
            mib(first.rss),
            mib(end_of_warm_up.rss)
        );
        let peak = r.samples.iter().map(|s| s.rss).max().unwrap_or(0);
        println!(
            "after it: {:.1} MiB at the end, {:.1} MiB at the peak; slope {}",
            mib(last.rss),
            mib(peak),
            match slope_mib_per_minute(steady) {
                Some(s) => format!("{s:+.2} MiB/min"),
                None => "n/a (too few samples)".into(),
            }
        );
        println!(
            "objects: {} → {} (Events {} → {})",
            end_of_warm_up.objects, last.objects, end_of_warm_up.events, last.events
        );
    }
    println!(
        "changes: {} ({} refused: conflicts and races with the controllers are expected); \
         requests through the ingress: {} ({} failed)",
        r.actions, r.action_errors, r.requests, r.request_errors
    );
}

fn deployment(name: &str, replicas: i32, version: u64) -> anyhow::Result<Deployment> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": "soak:v1", "ports": [{"name": "http", "containerPort": 8080}],
                                                       "env": [{"name": "SIM_LATENCY", "value": "0ms"}, {"name": "REVISION", "value": version.to_string()}],
                                                       "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1}}]}}}
    }))?)
}

async fn setup(client: &kube::Client) -> anyhow::Result<()> {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NAMESPACE}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    Api::<Deployment>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &deployment("web", 2, 0)?)
        .await?;
    let s: Service = serde_json::from_value(
        json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}),
    )?;
    Api::<Service>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &s)
        .await?;
    let i: Ingress = serde_json::from_value(
        json!({"metadata": {"name": "web"}, "spec": {"ingressClassName": "nginx", "rules": [{"host": HOST, "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}),
    )?;
    Api::<Ingress>::namespaced(client.clone(), NAMESPACE)
        .create(&PostParams::default(), &i)
        .await?;
    Ok(())
}

/// Creates, rolls, scales and deletes Deployments until `until`, a few changes a second.
async fn churn(
    client: kube::Client,
    slots: usize,
    until: Instant,
    counters: Arc<Counters>,
) -> anyhow::Result<()> {
    let api: Api<Deployment> = Api::namespaced(client, NAMESPACE);
    // A fixed seed: two runs make the same sequence of changes.
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x50a4);
    let mut version = 0u64;
    while Instant::now() < until {
        let slot = rng.random_range(0..slots);
        let roll = rng.random_range(0..10u32);
        let replicas = rng.random_range(1..=5i32);
        let name = format!("churn-{slot}");
        version += 1;
        let result = match api.get_opt(&name).await {
            Ok(None) => api
                .create(&PostParams::default(), &deployment(&name, replicas, version)?)
                .await
                .map(drop),
            Ok(Some(_)) if roll < 4 => api
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
                        {"name": "app", "env": [{"name": "REVISION", "value": version.to_string()}]}]}}}})),
                )
                .await
                .map(drop),
            Ok(Some(_)) if roll < 7 => api
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"replicas": replicas}})),
                )
                .await
                .map(drop),
            Ok(Some(_)) => api.delete(&name, &DeleteParams::default()).await.map(drop),
            Err(e) => Err(e),
        };
        counters.actions.fetch_add(1, Ordering::Relaxed);
        if result.is_err() {
            counters.action_errors.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Requests through the ingress until `until`, one at a time, with a short pause between.
async fn traffic(addr: SocketAddr, until: Instant, counters: Arc<Counters>) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()?;
    while Instant::now() < until {
        let ok = match http
            .get(format!("http://{addr}/"))
            .header("Host", HOST)
            .send()
            .await
        {
            Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
            Err(_) => false,
        };
        counters.requests.fetch_add(1, Ordering::Relaxed);
        if !ok {
            counters.request_errors.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(secs: u64, mib: u64) -> Sample {
        Sample {
            at: Duration::from_secs(secs),
            rss: mib * 1024 * 1024,
            objects: 0,
            events: 0,
            actions: 0,
            requests: 0,
        }
    }

    #[test]
    fn slope_is_mib_per_minute() {
        let rising: Vec<Sample> = (0..5).map(|i| sample(i * 30, 100 + i)).collect();
        let s = slope_mib_per_minute(&rising).expect("slope");
        assert!((s - 2.0).abs() < 1e-9, "{s}");
        let flat: Vec<Sample> = (0..5).map(|i| sample(i * 30, 100)).collect();
        assert_eq!(slope_mib_per_minute(&flat), Some(0.0));
        assert_eq!(slope_mib_per_minute(&rising[..1]), None);
    }

    /// The short mode end to end: churn, traffic and samples (figures printed, not judged).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn short_soak_runs() {
        kube_util::tls::install_crypto_provider();
        let args = BenchSoakArgs {
            duration: Duration::from_secs(6),
            short: true,
            sample: Duration::from_secs(1),
            deployments: 2,
            connections: 1,
            event_ttl: Duration::from_secs(2),
        };
        let report = soak(&args, Duration::from_secs(6), Duration::from_secs(1))
            .await
            .expect("soak");
        assert!(report.samples.len() >= 3);
        assert!(report.actions > 0);
        print_report(&report);
    }
}
