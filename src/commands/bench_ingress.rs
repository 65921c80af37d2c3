//! `rollout bench ingress`: throughput and latency of the embedded ingress proxy, compared in
//! the same run with nginx proxying to the same pod servers.
//!
//! The load is closed-loop (each connection sends its next request when the previous answer
//! arrived) over keep-alive connections, from this process; the pods are in this process too.
//! Both proxies are measured under those same conditions, one after the other.

use super::bench_api::Figures;
use crate::cli::BenchIngressArgs;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, PostParams};
use kubesim::{SimCluster, SimOptions};
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const HOST: &str = "bench.local";

async fn setup(client: &kube::Client) -> anyhow::Result<()> {
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "bench"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "bench"}},
                 "template": {"metadata": {"labels": {"app": "bench"}},
                              "spec": {"containers": [{"name": "app", "image": "bench:v1", "ports": [{"name": "http", "containerPort": 8080}],
                                                       "env": [{"name": "SIM_LATENCY", "value": "0ms"}]}]}}}
    }))?;
    Api::<Deployment>::default_namespaced(client.clone())
        .create(&PostParams::default(), &d)
        .await?;
    let s: Service = serde_json::from_value(
        json!({"metadata": {"name": "bench"}, "spec": {"selector": {"app": "bench"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}),
    )?;
    Api::<Service>::default_namespaced(client.clone())
        .create(&PostParams::default(), &s)
        .await?;
    let i: Ingress = serde_json::from_value(
        json!({"metadata": {"name": "bench"}, "spec": {"ingressClassName": "nginx", "rules": [{"host": HOST, "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "bench", "port": {"number": 80}}}}]}}]}}),
    )?;
    Api::<Ingress>::default_namespaced(client.clone())
        .create(&PostParams::default(), &i)
        .await?;
    Ok(())
}

/// Closed-loop load for `seconds` over `connections` connections.
pub async fn load(
    addr: SocketAddr,
    seconds: u64,
    connections: usize,
) -> anyhow::Result<(Figures, u64)> {
    kube_util::tls::install_crypto_provider();
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(5))
        .build()?;
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let http = http.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < until {
                let t = Instant::now();
                match http
                    .get(format!("http://{addr}/"))
                    .header("Host", HOST)
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        samples.push(t.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (samples, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (s, e) = t.await?;
        all.extend(s);
        errors += e;
    }
    Ok((Figures::from_samples(all, started.elapsed()), errors))
}

async fn wait_ok(addr: SocketAddr) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http
            .get(format!("http://{addr}/"))
            .header("Host", HOST)
            .send()
            .await
            && r.status().is_success()
        {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no answer through {addr} within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts nginx proxying to `upstreams`; returns its address and the child to stop.
fn start_nginx(
    bin: &str,
    dir: &std::path::Path,
    upstreams: &[String],
) -> anyhow::Result<(SocketAddr, std::process::Child)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let servers: String = upstreams
        .iter()
        .map(|u| format!("    server {u};\n"))
        .collect();
    let d = dir.display();
    let conf = format!(
        "worker_processes auto;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
           upstream app {{\n{servers}    keepalive 64;\n  }}\n\
           server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://app;\n      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_set_header Host $host;\n    }}\n  }}\n}}\n"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf)?;
    let child = std::process::Command::new(bin)
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    Ok((SocketAddr::from(([127, 0, 0, 1], port)), child))
}

pub async fn run(args: &BenchIngressArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.connections > 0 && args.seconds > 0,
        "--connections and --seconds must be at least 1"
    );
    // A high time scale takes the apps' simulated latency out: the figure is the proxy's.
    let cluster = SimCluster::start(SimOptions {
        time_scale: 1000.0,
        ..Default::default()
    })
    .await?;
    let client = cluster.client().await?;
    setup(&client).await?;
    let ingress = cluster
        .ingress()
        .ok_or_else(|| anyhow::anyhow!("the cluster runs no ingress"))?
        .addr();
    wait_ok(ingress).await?;
    let (ours, our_errors) = load(ingress, args.seconds, args.connections).await?;
    crate::outln!("{}", line("embedded ingress", &ours, our_errors));

    let eps = Api::<Endpoints>::default_namespaced(client.clone())
        .get("bench")
        .await?;
    let upstreams: Vec<String> = eps
        .subsets
        .unwrap_or_default()
        .iter()
        .flat_map(|s| {
            let port = s
                .ports
                .as_ref()
                .and_then(|p| p.first())
                .map(|p| p.port)
                .unwrap_or(8080);
            s.addresses
                .iter()
                .flatten()
                .map(move |a| format!("{}:{port}", a.ip))
                .collect::<Vec<_>>()
        })
        .collect();
    let dir = tempfile_dir()?;
    match start_nginx(&args.nginx, &dir, &upstreams) {
        Ok((addr, mut child)) => {
            let result = async {
                wait_ok(addr).await?;
                load(addr, args.seconds, args.connections).await
            }
            .await;
            let _ = child.kill();
            let _ = child.wait();
            let (nginx, nginx_errors) = result?;
            crate::outln!("{}", line("nginx (same pods)", &nginx, nginx_errors));
            let ratio = ours.count as f64
                / ours.total.as_secs_f64()
                / (nginx.count as f64 / nginx.total.as_secs_f64()).max(1e-9);
            crate::outln!(
                "embedded ingress throughput = {:.0}% of nginx's",
                ratio * 100.0
            );
        }
        Err(e) => crate::outln!(
            "nginx: not measured ({}: {e}); install it (Debian package nginx) to compare",
            args.nginx
        ),
    }
    let _ = std::fs::remove_dir_all(&dir);
    cluster.stop().await;
    Ok(())
}

fn line(what: &str, f: &Figures, errors: u64) -> String {
    let rate = f.count as f64 / f.total.as_secs_f64().max(1e-9);
    format!(
        "{what:<20} {rate:>8.0} req/s  p50 {:>7.3} ms  p99 {:>7.3} ms  errors {errors}",
        f.p50.as_secs_f64() * 1000.0,
        f.p99.as_secs_f64() * 1000.0
    )
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("rollout-bench-nginx-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
