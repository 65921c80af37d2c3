//! `rollout sim up`: run the embedded cluster in the foreground.

use crate::cli::{SimImagesArgs, SimTlsSecretArgs, SimUpArgs};
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

/// `rollout sim tls-secret`: the Secret as YAML on stdout.
pub fn tls_secret(args: &SimTlsSecretArgs) -> anyhow::Result<()> {
    let secret = kubesim::tls::tls_secret(&args.namespace, &args.name, &args.host)
        .map_err(|e| anyhow::anyhow!("cannot make a certificate for {}: {e}", args.host))?;
    let yaml = serde_saphyr::to_string(&secret)?;
    crate::outln!("{yaml}");
    Ok(())
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
        ingress_tls_port: args.ingress_tls_port,
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
            "ingress (class nginx, and HTTPRoutes) at http://{}",
            ing.addr()
        );
        if let Some(tls) = ing.tls_addr() {
            eprintln!(
                "  HTTPS at https://{tls} (the certificates of the Ingresses' spec.tls; plain HTTP to their hosts is redirected there)"
            );
        }
        eprintln!(
            "  metrics at http://{}/metrics (ingress-nginx's; Envoy's at /stats/prometheus), shown as pods {}",
            ing.metrics_addr(),
            ing.controller_pods()
                .iter()
                .map(|(ns, name)| format!("{ns}/{name}"))
                .collect::<Vec<_>>()
                .join(", ")
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
    eprintln!("  rollout --strategy canary --image v2 --app web");
    eprintln!("for an Ingress with TLS (e.g. manifests/microblog/), make its Secret:");
    eprintln!(
        "  rollout sim tls-secret -n microblog --name microblog-tls --host microblog.example.local | kubectl apply -f -"
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
