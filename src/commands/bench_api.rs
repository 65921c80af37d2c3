//! `rollout bench api`: how fast the embedded API server answers and how much memory its store
//! takes, measured through the same `kube` client the orchestrator uses.

use crate::cli::BenchApiArgs;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchParams};
use kubesim::{SimCluster, SimOptions};
use serde_json::json;
use std::time::{Duration, Instant};

/// Latency figures of one operation.
pub struct Figures {
    pub count: usize,
    pub total: Duration,
    pub p50: Duration,
    pub p99: Duration,
}

impl Figures {
    pub fn from_samples(mut samples: Vec<Duration>, total: Duration) -> Self {
        samples.sort();
        let pick = |q: f64| {
            samples
                .get(((samples.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or_default()
        };
        Self {
            count: samples.len(),
            total,
            p50: pick(0.50),
            p99: pick(0.99),
        }
    }

    fn line(&self, what: &str) -> String {
        let rate = self.count as f64 / self.total.as_secs_f64().max(1e-9);
        format!(
            "{what:<34} {:>7} ops  {:>9.0} ops/s  p50 {:>8.3} ms  p99 {:>8.3} ms",
            self.count,
            rate,
            ms(self.p50),
            ms(self.p99)
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Resident memory of this process, from /proc (Linux); None elsewhere.
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

pub async fn run(args: &BenchApiArgs) -> anyhow::Result<()> {
    let cluster = SimCluster::start(SimOptions::default()).await?;
    let client = cluster.client().await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    println!(
        "embedded API server at {} ({} objects, {} watchers)",
        cluster.url(),
        args.objects,
        args.watchers
    );

    let mut samples = Vec::with_capacity(args.objects);
    let started = Instant::now();
    for i in 0..args.objects {
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": format!("bench-{i}"), "labels": {"bench": "yes", "index": i.to_string()}},
            "data": {"key": "value", "index": i.to_string()}
        }))?;
        let t = Instant::now();
        api.create(&PostParams::default(), &cm).await?;
        samples.push(t.elapsed());
    }
    println!(
        "{}",
        Figures::from_samples(samples, started.elapsed()).line("create")
    );

    let mut samples = Vec::with_capacity(args.objects);
    let started = Instant::now();
    for i in 0..args.objects {
        let t = Instant::now();
        api.get(&format!("bench-{i}")).await?;
        samples.push(t.elapsed());
    }
    println!(
        "{}",
        Figures::from_samples(samples, started.elapsed()).line("get")
    );

    let everything = ListParams::default();
    let all = list_figures(&api, &everything, args.objects, args.list_rounds).await?;
    println!("{}", all.line(&format!("list of {} objects", args.objects)));
    let labelled = ListParams::default().labels("bench=yes");
    let by_label = list_figures(&api, &labelled, args.objects, args.list_rounds).await?;
    println!(
        "{}",
        by_label.line(&format!("  … by label (all {} match)", args.objects))
    );
    let one = ListParams::default().labels(&format!("index={}", args.objects / 2));
    let by_one = list_figures(&api, &one, 1, args.list_rounds).await?;
    println!("{}", by_one.line("  … by label (1 matches)"));
    let contended = list_while_writing(&api, args.objects, args.list_rounds).await?;
    println!("{}", contended.line("  … while 2 clients patch"));

    let fanout = watch_fanout(&api, args.watchers, 200).await?;
    println!(
        "{}",
        fanout.line(&format!("watch event to all {} watchers", args.watchers))
    );

    if args.memory_deployments > 0 {
        let before = rss_bytes();
        let objects = fill_store(&cluster, args.memory_deployments)?;
        let after = rss_bytes();
        match (before, after) {
            (Some(b), Some(a)) => println!(
                "memory: {} deployments + {} pods ({objects} objects) add {:.1} MiB resident (process total {:.1} MiB)",
                args.memory_deployments,
                args.memory_deployments * 10,
                (a.saturating_sub(b)) as f64 / (1024.0 * 1024.0),
                a as f64 / (1024.0 * 1024.0)
            ),
            _ => println!("memory: cannot read /proc/self/statm on this system"),
        }
    }
    cluster.stop().await;
    Ok(())
}

/// Lists `rounds` times, checking that each answer has `expected` objects.
async fn list_figures(
    api: &Api<ConfigMap>,
    params: &ListParams,
    expected: usize,
    rounds: usize,
) -> anyhow::Result<Figures> {
    let mut samples = Vec::with_capacity(rounds);
    let started = Instant::now();
    for _ in 0..rounds {
        let t = Instant::now();
        let list = api.list(params).await?;
        anyhow::ensure!(
            list.items.len() == expected,
            "list returned {} objects, expected {expected}",
            list.items.len()
        );
        samples.push(t.elapsed());
    }
    Ok(Figures::from_samples(samples, started.elapsed()))
}

/// Lists as [`list_figures`] does while two other clients patch objects of the same kind as
/// fast as they can: what a controller's list costs on a busy cluster.
async fn list_while_writing(
    api: &Api<ConfigMap>,
    expected: usize,
    rounds: usize,
) -> anyhow::Result<Figures> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..2 {
        let api = api.clone();
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                api.patch(
                    &format!("bench-{w}"),
                    &PatchParams::default(),
                    &Patch::Merge(json!({"data": {"n": n.to_string()}})),
                )
                .await?;
            }
            anyhow::Ok(n)
        }));
    }
    let figures = list_figures(api, &ListParams::default(), expected, rounds).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await??;
    }
    figures
}

/// Starts `watchers` watches, then writes `events` changes one at a time and measures, for each
/// change, the time from just before the write until the last watcher has it.
pub async fn watch_fanout(
    api: &Api<ConfigMap>,
    watchers: usize,
    events: usize,
) -> anyhow::Result<Figures> {
    let name = "bench-fanout";
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": name}, "data": {"n": "0"}}))?,
    )
    .await?;
    let current = api.get(name).await?;
    let rv = current
        .metadata
        .resource_version
        .clone()
        .unwrap_or_default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    let mut tasks = Vec::new();
    for _ in 0..watchers {
        let stream = api
            .watch(
                &WatchParams::default().fields(&format!("metadata.name={name}")),
                &rv,
            )
            .await?;
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            let mut stream = stream.boxed();
            while let Ok(Some(ev)) = stream.try_next().await {
                if let kube::api::WatchEvent::Modified(cm) = ev {
                    let n = cm
                        .data
                        .and_then(|d| d.get("n").and_then(|v| v.parse::<usize>().ok()))
                        .unwrap_or(0);
                    if tx.send((n, Instant::now())).is_err() {
                        break;
                    }
                }
            }
        }));
    }
    drop(tx);
    let mut samples = Vec::with_capacity(events);
    let started = Instant::now();
    for n in 1..=events {
        let t = Instant::now();
        api.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"n": n.to_string()}})),
        )
        .await?;
        let mut seen = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while seen < watchers {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((got, at))) if got == n => {
                    seen += 1;
                    if seen == watchers {
                        samples.push(at.duration_since(t));
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    anyhow::bail!("only {seen} of {watchers} watchers saw change {n} within 10 s")
                }
            }
        }
    }
    let total = started.elapsed();
    for t in tasks {
        t.abort();
    }
    Ok(Figures::from_samples(samples, total))
}

/// Puts `deployments` Deployments with 10 Pods each into the store, shaped like what a real
/// cluster holds (status, conditions, owner references), and returns how many objects it made.
fn fill_store(cluster: &SimCluster, deployments: usize) -> anyhow::Result<usize> {
    use kubesim::resources::find;
    use kubesim::store::WriteOptions;
    let store = cluster.store();
    let opts = WriteOptions::system();
    let deploy_rt = find("apps", "v1", "deployments")
        .ok_or_else(|| anyhow::anyhow!("no deployments resource"))?;
    let pod_rt = find("", "v1", "pods").ok_or_else(|| anyhow::anyhow!("no pods resource"))?;
    let mut count = 0;
    for d in 0..deployments {
        let name = format!("mem-{d}");
        let labels = json!({"app": name, "version": "v1"});
        let deploy = store.create(deploy_rt, "default", json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": 10, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "example/app:v1",
                        "ports": [{"containerPort": 8080}],
                        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}}}]}}}
        }), &opts)?;
        count += 1;
        let uid = deploy.pointer("/metadata/uid").cloned().unwrap_or_default();
        for p in 0..10 {
            store.create(pod_rt, "default", json!({
                "metadata": {"name": format!("{name}-7d9f8c6b5-{p:05}"), "labels": labels,
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{name}-7d9f8c6b5"), "uid": uid, "controller": true, "blockOwnerDeletion": true}]},
                "spec": {"nodeName": "", "containers": [{"name": "app", "image": "example/app:v1", "ports": [{"containerPort": 8080}],
                         "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}}}]}
            }), &opts)?;
            count += 1;
        }
    }
    Ok(count)
}
