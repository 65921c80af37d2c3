//! `rollout sim traffic`: steady user traffic through an ingress, with a line per second
//! (requests, failures, share per version) and a final report.

use crate::cli::SimTrafficArgs;
use kubesim::traffic::{Traffic, TrafficSpec, parse_group};
use std::time::Duration;

pub async fn run(args: &SimTrafficArgs) -> anyhow::Result<()> {
    let mut spec = TrafficSpec::new(args.target, args.host.clone());
    spec.path = args.path.clone();
    spec.rate_per_second = args.rate;
    spec.duration = Some(args.duration);
    if let Some(path) = &args.tls_ca {
        spec.tls_ca = Some(
            std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read the CA {}: {e}", path.display()))?,
        );
    }
    spec.groups = args
        .groups
        .iter()
        .map(|g| parse_group(g))
        .collect::<Result<_, _>>()?;
    let traffic = Traffic::start(spec)?;
    let mut printed = 0usize;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::signal::ctrl_c() => break,
        }
        let snap = traffic.snapshot();
        // Only whole seconds are printed: the current one is still filling.
        let complete = snap.per_second.len().saturating_sub(1);
        for s in snap
            .per_second
            .iter()
            .skip(printed)
            .take(complete.saturating_sub(printed))
        {
            let versions: Vec<String> = s
                .by_version
                .iter()
                .map(|(v, n)| format!("{v}={n}"))
                .collect();
            eprintln!(
                "t={:>4}s requests={:<5} failed={:<5} {}",
                s.second,
                s.requests,
                s.failed,
                versions.join(" ")
            );
        }
        printed = printed.max(complete);
        if traffic.is_finished() {
            break;
        }
    }
    let report = traffic.stop().await;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        eprintln!(
            "{} requests, {} failed ({:.2}%), downtime {:.1}s",
            report.total,
            report.failed,
            report.failed_ratio() * 100.0,
            report.downtime.as_secs_f64()
        );
        for (version, v) in &report.per_version {
            eprintln!(
                "  {version}: {} requests ({:.1}%), {} failed",
                v.requests,
                v.share * 100.0,
                v.failed
            );
        }
    }
    Ok(())
}
