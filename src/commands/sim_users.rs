//! `rollout sim up --traffic HOST`: users sending requests through the embedded ingress for
//! as long as the cluster runs, with a line every ten seconds of what they got.

use kubesim::traffic::{Report, Traffic, TrafficSpec};
use std::net::SocketAddr;
use std::time::Duration;

/// How often the users' figures are printed: often enough to see a rollout move, rarely
/// enough not to bury the cluster's own lines.
const SAY_EVERY: Duration = Duration::from_secs(10);

/// Starts the users; they run until the returned task is aborted. A generator runs for at
/// most [`kubesim::traffic::MAX_DURATION`], so a finished one is replaced by a fresh one.
pub fn start(
    target: SocketAddr,
    host: String,
    rate: f64,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    anyhow::ensure!(
        rate.is_finite() && rate > 0.0,
        "--traffic-rate must be a positive number, got {rate}"
    );
    let spec = move || {
        let mut spec = TrafficSpec::new(target, host.clone());
        spec.rate_per_second = rate;
        spec
    };
    // The first start is checked here, so a bad address is an error of `sim up` itself.
    let first = Traffic::start(spec())?;
    Ok(tokio::spawn(async move {
        let mut traffic = first;
        let mut said = 0usize;
        let mut tick = tokio::time::interval(SAY_EVERY);
        tick.tick().await;
        loop {
            tick.tick().await;
            let snap = traffic.snapshot();
            if let Some(line) = last_seconds(&snap, &mut said) {
                eprintln!("users: {line}");
            }
            if traffic.is_finished() {
                traffic.stop().await;
                match Traffic::start(spec()) {
                    Ok(t) => traffic = t,
                    Err(e) => {
                        eprintln!("users: cannot start again: {e}");
                        return;
                    }
                }
                said = 0;
            }
        }
    }))
}

/// The whole seconds not yet said, as one line: requests, failures, and requests per version.
fn last_seconds(snap: &Report, said: &mut usize) -> Option<String> {
    // The current second is still filling.
    let complete = snap.per_second.len().saturating_sub(1);
    if complete <= *said {
        return None;
    }
    let seconds = &snap.per_second[*said..complete];
    *said = complete;
    let requests: u64 = seconds.iter().map(|s| s.requests).sum();
    let failed: u64 = seconds.iter().map(|s| s.failed).sum();
    let mut versions = std::collections::BTreeMap::<&str, u64>::new();
    for s in seconds {
        for (v, n) in &s.by_version {
            *versions.entry(v.as_str()).or_default() += n;
        }
    }
    let versions: Vec<String> = versions.iter().map(|(v, n)| format!("{v}={n}")).collect();
    Some(format!(
        "{requests} requests in {}s, {failed} failed; by version: {}",
        seconds.len(),
        if versions.is_empty() {
            "none answered".to_owned()
        } else {
            versions.join(" ")
        }
    ))
}
