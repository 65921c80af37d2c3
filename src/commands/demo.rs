//! `rollout demo`: the whole job on a fresh embedded cluster — the Microblog app from
//! `manifests/microblog`, users sending requests through the ingress, a rollout with live
//! progress, and a summary of what the users saw, with the report written beside.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::cli::DemoArgs;
use crate::commands::exit::{Exit, ExitCode};
use crate::lab::{self, Lab, Load};
use rollout_core::engine::start::Request;
use rollout_core::report::Progress;
use rollout_core::report::data::RunReport;
use rollout_core::spec::{Duration as SpecDuration, Overrides, StrategyKind};

pub const NAMESPACE: &str = "microblog";
pub const APP: &str = "microblog";
pub const HOST: &str = "microblog.example.local";

/// The users: 50 requests a second to /explore; half carry `X-Variant: b` (the A/B group):
/// enough for its comparison to conclude within the demo's short duration.
pub fn users() -> Load {
    Load {
        host: HOST.into(),
        path: "/explore".into(),
        rate: 50.0,
        groups: vec!["50%:header:X-Variant=b".into()],
    }
}

/// Shorter waits than the strategy files', so a demo (or a comparison) takes seconds.
pub fn quick(strategy: &str, image: &str) -> Request {
    let overrides = Overrides {
        max_pause: Some(SpecDuration::from_secs(3)),
        analysis_interval: Some(SpecDuration::from_secs(1)),
        // A/B's group gets half the users and its latency comparison needs about 1,500
        // requests on B to show it no slower than 20 % (the median sits on a histogram bucket's
        // edge): a minute at the demo's rate, within three times this `duration`. Shadow sees
        // every request mirrored and concludes in seconds.
        duration: match StrategyKind::named(strategy) {
            Some(StrategyKind::Ab) => Some(SpecDuration::from_secs(30)),
            Some(StrategyKind::Shadow) => Some(SpecDuration::from_secs(10)),
            _ => None,
        },
        ..Default::default()
    };
    Request {
        strategy: strategy.into(),
        image: image.into(),
        app: Some(APP.into()),
        overrides,
        ..Default::default()
    }
}

/// A fresh cluster with Microblog running.
pub async fn microblog(speed: f64) -> Result<Lab, Exit> {
    let lab = Lab::start(speed, None).await?;
    lab::apply::apply_texts(&lab.client, &lab::MICROBLOG)
        .await
        .map_err(Exit::failed)?;
    lab.wait_ready(NAMESPACE, Duration::from_secs(60)).await?;
    Ok(lab)
}

fn report_dir(given: &Option<PathBuf>, name: &str) -> PathBuf {
    given.clone().unwrap_or_else(|| {
        let stamp = jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S").to_string();
        Path::new("rollout-report").join(format!("{name}-{stamp}"))
    })
}

/// Why a strategy's pod count peaks where it does, when that is more than its name says.
fn pod_cost(strategy: &str) -> &'static str {
    match strategy {
        // Green is the new version at full size beside blue; handing the app back to its own
        // Deployment rolls that to the new template while green still serves, so for a moment
        // there is a third set.
        "blue-green" => {
            " (blue and green at full size, and while the app's own Deployment takes the new template from green, its new pods as well)"
        }
        _ => "",
    }
}

/// The closing lines: what happened, users affected, time taken, where the report is.
pub fn closing(r: &RunReport, dir: &Path) -> String {
    let f = &r.figures;
    let what = match f.outcome.as_str() {
        "done" => format!("{} now runs {}", APP, f.to_image),
        "rolled-back" => format!(
            "rolled back to {}: {}",
            f.from_image,
            f.reason.as_deref().unwrap_or("a gate failed")
        ),
        other => format!("{other}: {}", f.reason.as_deref().unwrap_or("")),
    };
    let mut out = format!(
        "\n{} with {}: {what}\n  users affected: {} of {} requests failed ({:.2}%), {:.1}s without any answer\n  the new version answered {} requests\n  took {:.1}s",
        f.strategy,
        f.to_image,
        f.failed,
        f.requests,
        f.failed_percent(),
        f.downtime_seconds,
        f.served_by_new,
        f.seconds,
    );
    if let Some(d) = f.detect_seconds {
        out.push_str(&format!(
            ", bad version detected {d:.1}s after it first answered"
        ));
    }
    out.push_str(&format!(
        "\n  most pods at once: {}{}",
        f.peak_pods,
        pod_cost(&f.strategy)
    ));
    out.push_str(&format!(
        "\n  report: {} and {} (charts: traffic-share.svg, error-rate.svg, latency.svg, ready-pods.svg)\n",
        dir.join("report.md").display(),
        dir.join("report.html").display()
    ));
    out
}

pub async fn run(args: &DemoArgs) -> Result<ExitCode, Exit> {
    if !(args.speed.is_finite() && args.speed > 0.0) {
        return Err(Exit::bad(format!(
            "--speed must be a positive number, got {}",
            args.speed
        )));
    }
    eprintln!(
        "starting the embedded cluster and Microblog (manifests/microblog), users at 50 requests/s..."
    );
    let lab = microblog(args.speed).await?;
    let dashboard = if args.ui {
        let d = crate::commands::dashboard::start(
            crate::commands::dashboard::Setup {
                client: lab.client.clone(),
                scope: crate::commands::dashboard::Scope::Namespace(NAMESPACE.into()),
                options: lab.options()?,
            },
            ([127, 0, 0, 1], 0).into(),
        )
        .await
        .map_err(|e| Exit::failed(format!("{e:#}")))?;
        crate::commands::dashboard::announce(&d, args.open);
        Some(d)
    } else {
        None
    };
    let req = quick(&args.strategy, &args.image);
    let progress: Arc<dyn rollout_core::report::Sink> = Arc::new(Progress::for_stderr());
    let run = lab::run(
        &lab,
        NAMESPACE,
        &req,
        &users(),
        Duration::from_secs(2),
        Some(progress),
    )
    .await
    .map_err(Exit::from)?;
    let dir = report_dir(&args.report_dir, &format!("demo-{}", args.strategy));
    rollout_core::report::run::write(&dir, &run.report)
        .map_err(|e| Exit::failed(format!("cannot write the report in {}: {e}", dir.display())))?;
    eprint!("{}", closing(&run.report, &dir));
    if let Some(d) = &dashboard {
        // The page shows how the run ended for as long as the person wants to look.
        eprintln!("the dashboard stays at {} until Ctrl-C", d.url());
        let _ = tokio::signal::ctrl_c().await;
    }
    lab.cluster.stop().await;
    Ok(run.outcome.finish.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollout_core::report::data::RunFigures;

    /// The blue-green summary says what its hand-over costs in pods, and why.
    #[test]
    fn the_closing_lines_say_what_blue_green_costs_in_pods() {
        let report = |strategy: &str| RunReport {
            figures: RunFigures {
                strategy: strategy.into(),
                outcome: "done".into(),
                peak_pods: 6,
                ..Default::default()
            },
            ..Default::default()
        };
        let text = closing(&report("blue-green"), Path::new("r"));
        assert!(
            text.contains("most pods at once: 6 (blue and green at full size, and while the app's own Deployment takes the new template from green, its new pods as well)"),
            "{text}"
        );
        let text = closing(&report("canary"), Path::new("r"));
        assert!(text.contains("most pods at once: 6\n"), "{text}");
    }
}
