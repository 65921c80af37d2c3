//! `rollout sim up`: run the embedded cluster in the foreground.

use crate::cli::{SimImagesArgs, SimTlsSecretArgs, SimUpArgs};
use kubesim::api::faults::FaultProfile;
use kubesim::node::behaviour::Profiles;
use kubesim::{SimCluster, SimOptions, kubeconfig};
use std::path::Path;
use std::time::Duration;

/// After SIGTERM or SIGINT the cluster gets this long to stop in order; then the process
/// exits anyway. Everything the cluster keeps on disk is written as it changes, so there is
/// nothing an orderly stop would save that an exit loses.
const STOP_WITHIN: Duration = Duration::from_secs(1);

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

/// A fault profile file.
pub fn load_faults(file: &Path) -> anyhow::Result<FaultProfile> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("cannot read fault file {}: {e}", file.display()))?;
    Ok(FaultProfile::from_yaml(&text, &file.display().to_string())?)
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
    let signalled = on_signal()?;
    let faults = args.faults.as_deref().map(load_faults).transpose()?;
    let rules = faults.as_ref().map_or(0, |f| f.rules.len());
    let cluster = SimCluster::start(SimOptions {
        port: args.port,
        data_dir: args.data_dir.clone(),
        time_scale: args.speed,
        profiles: Some(profiles),
        ingress_port: Some(args.ingress_port),
        ingress_tls_port: args.ingress_tls_port,
        event_ttl: args.event_ttl,
        faults,
        ..Default::default()
    })
    .await
    .map_err(|e| {
        // A taken port is the usual reason: say which option moves it.
        let hint = match &e {
            kubesim::SimError::Listen { .. } => {
                "is another `rollout sim up` running? Choose another port with --port N (0 picks a free one)"
            }
            kubesim::SimError::Ingress(_) => {
                "is another `rollout sim up` (or something else) on that port? Choose others with --ingress-port N and --ingress-tls-port N (0 picks a free one)"
            }
            _ => "",
        };
        let what = rollout_core::error::chain(&e);
        if hint.is_empty() {
            anyhow::anyhow!(what)
        } else {
            anyhow::anyhow!("{what}; {hint}")
        }
    })?;
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
    if let Some(file) = &args.faults {
        eprintln!(
            "injecting faults: {rules} rule(s) from {} (the cluster's own components are spared unless a rule says otherwise)",
            file.display()
        );
    }
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
    let users = match (&args.traffic, cluster.ingress()) {
        (Some(host), Some(ing)) => {
            let users =
                crate::commands::sim_users::start(ing.addr(), host.clone(), args.traffic_rate)?;
            eprintln!(
                "users: {} requests/s to http://{}/ with Host: {host} until the cluster stops (a line every 10s)",
                args.traffic_rate,
                ing.addr()
            );
            Some(users)
        }
        _ => None,
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
    eprintln!("  rollout --strategy canary --image v2 --app web");
    eprintln!("for an Ingress with TLS (e.g. manifests/microblog/), make its Secret:");
    eprintln!(
        "  rollout sim tls-secret -n microblog --name microblog-tls --host microblog.example.local | kubectl apply -f -"
    );
    eprintln!();
    eprintln!("Ctrl-C stops it.");
    // Whenever the cluster cannot keep the speed asked (or gets back to it), say so.
    let mut pace = cluster.clock().pace();
    let pace_lines = tokio::spawn(async move {
        while pace.changed().await.is_ok() {
            eprintln!("embedded cluster {}", *pace.borrow_and_update());
        }
    });
    // An error means the signal thread is gone, which is no reason to run on.
    let _ = signalled.await;
    pace_lines.abort();
    if let Some(users) = users {
        users.abort();
    }
    cluster.stop().await;
    Ok(())
}

/// Waits for SIGTERM or SIGINT on a thread of its own with a runtime of its own: a cluster
/// whose runtime is saturated still hears it at once. From then on the process has
/// [`STOP_WITHIN`] to stop in order before it exits anyway; a second signal exits at once.
fn on_signal() -> anyhow::Result<tokio::sync::oneshot::Receiver<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let (heard, signalled) = tokio::sync::oneshot::channel();
    let (ready_tx, ready) = std::sync::mpsc::channel::<std::io::Result<()>>();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                let handlers = signal(SignalKind::terminate())
                    .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)));
                let (mut term, mut int) = match handlers {
                    Ok(h) => h,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                let name = tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                };
                eprintln!("{name}: stopping");
                let _ = heard.send(());
                tokio::select! {
                    _ = tokio::time::sleep(STOP_WITHIN) => {
                        eprintln!("the cluster did not stop within {STOP_WITHIN:?}; exiting");
                    }
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                std::process::exit(0);
            });
        })?;
    // Only once the handlers are installed may the caller say that Ctrl-C stops it.
    ready
        .recv()
        .map_err(|_| anyhow::anyhow!("the signal thread ended before it was ready"))??;
    Ok(signalled)
}
