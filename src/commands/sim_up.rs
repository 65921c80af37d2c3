//! `rollout sim up`: run the embedded cluster in the foreground.

use crate::cli::{SimImagesArgs, SimUpArgs};
use kubesim::node::behaviour::Profiles;
use kubesim::{SimCluster, SimOptions, kubeconfig};
use std::path::Path;

/// The built-in profiles, with a user's file on top.
pub fn load_profiles(file: Option<&Path>) -> anyhow::Result<Profiles> {
    let builtin = Profiles::builtin();
    let Some(path) = file else { return Ok(builtin) };
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read profile file {}: {e}", path.display()))?;
    let user = Profiles::from_yaml(&text, &path.display().to_string())?;
    Ok(builtin.merged_with(user))
}

/// `rollout sim images`
pub fn images(args: &SimImagesArgs) -> anyhow::Result<()> {
    let profiles = load_profiles(args.profile.as_deref())?;
    let rows = profiles.describe();
    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, what) in rows {
        println!("{name:<width$}  {what}");
    }
    Ok(())
}

pub async fn run(args: &SimUpArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.speed.is_finite() && args.speed > 0.0,
        "--speed must be a positive number, got {}",
        args.speed
    );
    anyhow::ensure!(
        !args.event_ttl.is_zero(),
        "--event-ttl must be longer than zero"
    );
    let profiles = load_profiles(args.profile.as_deref())?;
    let cluster = SimCluster::start(SimOptions {
        port: args.port,
        data_dir: args.data_dir.clone(),
        time_scale: args.speed,
        profiles: Some(profiles),
        ingress_port: Some(args.ingress_port),
        event_ttl: args.event_ttl,
        ..Default::default()
    })
    .await?;
    cluster.write_kubeconfig(&args.kubeconfig).map_err(|e| {
        anyhow::anyhow!(
            "cannot write the kubeconfig to {}: {e}",
            args.kubeconfig.display()
        )
    })?;
    let kc = std::fs::canonicalize(&args.kubeconfig).unwrap_or_else(|_| args.kubeconfig.clone());
    eprintln!("embedded cluster serving at {}", cluster.url());
    if let Some(ing) = cluster.ingress() {
        eprintln!(
            "ingress (class nginx) at http://{}  metrics at http://{}/metrics",
            ing.addr(),
            ing.metrics_addr()
        );
    }
    eprintln!(
        "kubeconfig written to {} (context {})",
        kc.display(),
        kubeconfig::CONTEXT
    );
    if let Some(dir) = &args.data_dir {
        eprintln!("objects are kept in {}", dir.display());
    } else {
        eprintln!("objects are kept in memory only (use --data-dir DIR to keep them)");
    }
    let _dashboard = if args.ui {
        let client = cluster.client().await?;
        let mut options = rollout_core::engine::Options::new()?;
        if let Some(i) = cluster.ingress() {
            options.ingress_url = Some(format!("http://{}", i.addr()));
            options.metrics_url = Some(format!("http://{}/metrics", i.metrics_addr()));
        }
        let d = crate::commands::dashboard::start(
            crate::commands::dashboard::Setup {
                client,
                scope: crate::commands::dashboard::Scope::All,
                options,
            },
            ([127, 0, 0, 1], 0).into(),
        )
        .await?;
        crate::commands::dashboard::announce(&d, args.open);
        Some(d)
    } else {
        None
    };
    eprintln!();
    eprintln!("try:");
    eprintln!("  export KUBECONFIG={}", kc.display());
    eprintln!("  kubectl get namespaces");
    eprintln!("  kubectl apply -f manifests/web/");
    eprintln!("  kubectl get all");
    eprintln!(
        "  curl -H 'Host: web.example.local' http://{}/",
        cluster
            .ingress()
            .map(|i| i.addr().to_string())
            .unwrap_or_default()
    );
    eprintln!();
    eprintln!("Ctrl-C stops it.");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    eprintln!("stopping");
    cluster.stop().await;
    Ok(())
}
