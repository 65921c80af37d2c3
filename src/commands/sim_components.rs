//! `rollout sim node` and `rollout sim ingress`: the embedded cluster's node agent and ingress
//! proxy on their own, joined to any API server — how they run beside a real control plane.

use crate::cli::{KubeArgs, SimIngressArgs, SimNodeArgs};
use kubesim::ingress::proxy::{IngressOptions, IngressProxy};
use kubesim::node::addresses::AddressPool;
use kubesim::node::kubelet::{NodeAgent, NodeOptions};
use std::sync::Arc;

/// A client for the cluster the flags (or KUBECONFIG / ~/.kube/config) name.
pub async fn client(args: &KubeArgs) -> anyhow::Result<kube::Client> {
    rollout_core::cluster::connect::connect(&args.source())
        .await
        .map(|c| c.client)
        .map_err(anyhow::Error::msg)
}

async fn until_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}

pub async fn node(args: &SimNodeArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.speed.is_finite() && args.speed > 0.0,
        "--speed must be a positive number, got {}",
        args.speed
    );
    let client = client(&args.kube).await?;
    let mut opts = NodeOptions::new(&args.name);
    opts.host_ip = args.node_ip.clone();
    opts.clock = kubesim::clock::SimClock::adaptive(args.speed);
    opts.profiles = Arc::new(kubesim::node::behaviour::LiveProfiles::new(
        super::sim_up::load_profiles(args.profile.as_deref())?,
    ));
    if let Some(cidr) = &args.pod_cidr {
        opts.pool = Arc::new(AddressPool::from_cidr(cidr)?);
    }
    let agent = NodeAgent::start(client, opts).await?;
    eprintln!(
        "node {} registered; running its pods until Ctrl-C",
        args.name
    );
    until_signal().await?;
    agent.stop().await;
    Ok(())
}

pub async fn ingress(args: &SimIngressArgs) -> anyhow::Result<()> {
    let client = client(&args.kube).await?;
    let proxy = IngressProxy::start(
        client,
        IngressOptions {
            listen: args.listen,
            metrics_listen: args.metrics_listen,
            ingress_class: args.class.clone(),
            ..Default::default()
        },
    )
    .await?;
    eprintln!(
        "ingress (class {}) at http://{}  metrics at http://{}/metrics",
        args.class,
        proxy.addr(),
        proxy.metrics_addr()
    );
    until_signal().await?;
    proxy.stop().await;
    Ok(())
}
