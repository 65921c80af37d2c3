//! `rollout compare`: every strategy on a fresh embedded cluster, with the same users and the
//! same new image, and one table of what each cost: downtime, failed requests, time, pods.

use std::time::Duration;

use crate::cli::CompareArgs;
use crate::commands::demo;
use crate::commands::exit::{Exit, ExitCode};
use crate::lab;
use rollout_core::report::data::RunFigures;

/// Runs each strategy `runs` times; returns the figures per strategy.
pub async fn measure(
    image: &str,
    strategies: &[String],
    runs: usize,
    speed: f64,
) -> Result<Vec<(String, Vec<RunFigures>)>, Exit> {
    let mut rows = Vec::new();
    for strategy in strategies {
        let mut figures = Vec::new();
        for run in 0..runs {
            eprintln!("{strategy} with {image}, run {} of {runs}...", run + 1);
            let lab = demo::microblog(speed).await?;
            let req = demo::quick(strategy, image);
            let result = lab::run(
                &lab,
                demo::NAMESPACE,
                &req,
                &demo::users(),
                Duration::from_secs(3),
                None,
            )
            .await
            .map_err(Exit::from)?;
            lab.cluster.stop().await;
            figures.push(result.report.figures);
        }
        rows.push((strategy.clone(), figures));
    }
    Ok(rows)
}

pub async fn run(args: &CompareArgs) -> Result<ExitCode, Exit> {
    if args.runs == 0 || !(args.speed.is_finite() && args.speed > 0.0) {
        return Err(Exit::bad(
            "--runs must be at least 1 and --speed a positive number",
        ));
    }
    let rows = measure(&args.image, &args.strategies, args.runs, args.speed).await?;
    if args.json {
        let v: serde_json::Value = rows
            .iter()
            .map(|(name, runs)| (name.clone(), serde_json::to_value(runs).unwrap_or_default()))
            .collect::<serde_json::Map<_, _>>()
            .into();
        crate::outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        crate::outln!(
            "Microblog, 50 requests/s to /explore, new image {} ({} run(s) per strategy, speed {}):\n",
            args.image,
            args.runs,
            args.speed
        );
        crate::out!("{}", lab::table::markdown(&rows));
    }
    Ok(ExitCode::Done)
}
