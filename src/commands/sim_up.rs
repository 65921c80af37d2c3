//! `rollout sim up`: run the embedded cluster in the foreground.

use crate::cli::SimUpArgs;
use crate::sim::{SimCluster, SimOptions, kubeconfig};

pub async fn run(args: &SimUpArgs) -> anyhow::Result<()> {
    let cluster = SimCluster::start(SimOptions {
        port: args.port,
        data_dir: args.data_dir.clone(),
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
    eprintln!();
    eprintln!("try:");
    eprintln!("  export KUBECONFIG={}", kc.display());
    eprintln!("  kubectl get namespaces");
    eprintln!("  kubectl apply -f manifests/web/");
    eprintln!("  kubectl get all");
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
