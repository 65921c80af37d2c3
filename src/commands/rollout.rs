//! `rollout --strategy S --image X`, `plan`, `status`, `promote`, `abort`, `resume`, `undo`,
//! `history`: the orchestrator's commands. Errors carry their exit code ([`Exit`]).

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use serde_json::json;

use super::exit::{Exit, ExitCode};
use crate::cli::{AppArgs, EndpointArgs, OverrideArgs, RunArgs, TargetArgs};
use rollout_core::cluster::Cluster;
use rollout_core::engine::record;
use rollout_core::engine::start::{self, Request};
use rollout_core::engine::{Options, RunEnd};
use rollout_core::report::live;
use rollout_core::report::{JsonLines, Progress, Sink};
use rollout_core::spec::Overrides;

fn bad(message: impl Into<String>) -> Exit {
    Exit::bad(message)
}

fn failed(e: &(dyn std::error::Error + 'static)) -> Exit {
    Exit::error(ExitCode::Error, e)
}

/// The cluster and the client for checks through its service proxy.
async fn cluster(t: &TargetArgs) -> Result<(Cluster, kube::Client), Exit> {
    let conn = rollout_core::cluster::connect::connect(&t.kube.source())
        .await
        .map_err(|e| Exit::error(ExitCode::BadInput, &e))?;
    Ok((conn.cluster(t.namespace.as_deref()), conn.proxy_client))
}

fn sink(t: &TargetArgs) -> Arc<dyn Sink> {
    if t.output == "json" {
        Arc::new(JsonLines::stdout())
    } else {
        Arc::new(Progress::for_stderr())
    }
}

fn options(e: &EndpointArgs, proxy: kube::Client) -> Result<Options, Exit> {
    let mut o = Options::new().map_err(|e| failed(&e))?;
    o.proxy_client = Some(proxy);
    o.ingress_url = e.ingress_url.clone();
    o.metrics_url = e.metrics_url.clone();
    o.prometheus = e.prometheus.clone();
    o.handle_signals = true;
    Ok(o)
}

/// The strategy-file values the flags replace.
pub fn overrides(a: &OverrideArgs) -> Overrides {
    Overrides {
        traffic: a.traffic,
        analysis_interval: a.analysis_interval,
        progress_deadline: a.progress_deadline,
        no_pause: a.no_pause,
        auto_promote: a.auto_promote,
        max_pause: a.max_pause,
        duration: a.duration,
        notify: a.notify.clone(),
    }
}

fn request(a: &RunArgs) -> Result<Request, Exit> {
    let strategy = a.strategy.clone().ok_or_else(|| {
        bad("--strategy is required (a built-in name or a strategy file; see `rollout strategies`)")
    })?;
    let image = a
        .image
        .clone()
        .ok_or_else(|| bad("--image is required (a tag like v2, or an image reference)"))?;
    let overrides = overrides(&a.overrides);
    // A bad strategy file is said before any cluster is looked for.
    rollout_core::spec::load(&strategy, None)
        .and_then(|s| s.with_overrides(&overrides))
        .map_err(|e| Exit::error(ExitCode::BadInput, &e))?;
    Ok(Request {
        strategy,
        image,
        app: a.app.clone(),
        container: a.container.clone(),
        overrides,
    })
}

fn finish(outcome: RunEnd) -> Result<ExitCode, Exit> {
    Ok(outcome.finish.exit_code())
}

pub async fn run(a: &RunArgs) -> Result<ExitCode, Exit> {
    let req = request(a)?;
    let (c, proxy) = cluster(&a.target).await?;
    finish(start::run(c, &req, options(&a.endpoints, proxy)?, sink(&a.target)).await?)
}

pub async fn plan(a: &RunArgs) -> Result<ExitCode, Exit> {
    let req = request(a)?;
    let (c, proxy) = cluster(&a.target).await?;
    let opts = options(&a.endpoints, proxy)?;
    let (_, plan, _, _) = start::prepare(&c, &req, &opts).await?;
    if a.target.output == "json" {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&plan).unwrap_or_default()
        );
    } else {
        crate::out!("{}", plan.render());
    }
    Ok(ExitCode::Done)
}

/// The app named, or the only Deployment of the namespace.
async fn app_name(c: &Cluster, a: &AppArgs) -> Result<String, Exit> {
    let t = start::target(c, a.app.as_deref()).await?;
    Ok(t.deployment.metadata.name.unwrap_or_default())
}

pub async fn resume(a: &AppArgs) -> Result<ExitCode, Exit> {
    let (c, proxy) = cluster(&a.target).await?;
    let app = app_name(&c, a).await?;
    finish(start::resume(c, &app, options(&a.endpoints, proxy)?, sink(&a.target)).await?)
}

pub async fn abort(a: &AppArgs) -> Result<ExitCode, Exit> {
    let (c, proxy) = cluster(&a.target).await?;
    let app = app_name(&c, a).await?;
    match start::abort(c, &app, options(&a.endpoints, proxy)?, sink(&a.target)).await? {
        start::Aborted::Here(end) => finish(end),
        start::Aborted::ByHolder {
            holder,
            finish,
            reason,
        } => {
            let what = finish.map_or("ended", |f| f.as_str());
            eprintln!(
                "the rollout of {app:?} held by {holder} {what}{}",
                reason.map(|r| format!(": {r}")).unwrap_or_default()
            );
            Ok(finish.map_or(ExitCode::Error, |f| f.exit_code()))
        }
    }
}

pub async fn promote(a: &AppArgs, full: bool) -> Result<ExitCode, Exit> {
    let (c, _) = cluster(&a.target).await?;
    let app = app_name(&c, a).await?;
    start::promote(&c, &app, full).await?;
    eprintln!("promoted {app:?}{}", if full { " (full)" } else { "" });
    Ok(ExitCode::Done)
}

/// Whether stdout takes cursor movement: a terminal, not dumb, and no NO_COLOR.
fn stdout_redraws() -> bool {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
    std::io::stdout().is_terminal() && !no_color && !dumb
}

/// The terminal's width from `COLUMNS`, else 80: a line wider than the terminal would wrap and
/// throw the redraw's cursor movement off.
fn stdout_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|w| *w > 0)
        .unwrap_or(80)
}

/// The view without what changes every second by itself (ages, time since the last renewal),
/// to tell whether anything happened.
fn settled(v: &live::AppView) -> live::AppView {
    let mut v = v.clone();
    for ver in &mut v.versions {
        for p in &mut ver.pods {
            p.age_seconds = 0.0;
        }
    }
    if let Some(h) = &mut v.holder {
        h.since_renewal_seconds = 0.0;
        h.remaining_seconds = 0.0;
    }
    v
}

/// `rollout status APP [--watch]`: the app's versions with their pods, the routes, the steps,
/// the gates' last measurements and who holds the rollout — redrawn in place on a terminal,
/// a block of plain lines on each change otherwise, one JSON object per change with
/// `--output json`. `--watch` ends when the rollout does, with the rollout's exit code.
pub async fn status(a: &AppArgs, watch: bool) -> Result<ExitCode, Exit> {
    let (c, _) = cluster(&a.target).await?;
    let app = app_name(&c, a).await?;
    let json = a.target.output == "json";
    let redraw = !json && watch && stdout_redraws();
    let mut drawn = 0usize;
    let mut previous: Option<live::AppView> = None;
    let mut seen_running = false;
    loop {
        let v = live::gather(&c, &app).await.map_err(|e| failed(&e))?;
        let changed = previous.as_ref() != Some(&settled(&v));
        if json {
            if changed {
                crate::outln!("{}", serde_json::to_string(&v).unwrap_or_default());
            }
        } else if redraw {
            // Redrawn every time: ages and the holder's last renewal move on by themselves.
            let lines = live::render_lines(&v, stdout_width());
            let mut out = String::new();
            if drawn > 0 {
                out.push_str(&format!("\x1b[{drawn}A"));
            }
            out.push_str("\r\x1b[J");
            for l in &lines {
                out.push_str(l);
                out.push('\n');
            }
            crate::out!("{out}");
            drawn = lines.len();
        } else if changed {
            if previous.is_some() {
                crate::outln!("--- {}", jiff::Timestamp::now().strftime("%H:%M:%S"));
            }
            for l in live::render_lines(&v, usize::MAX) {
                crate::outln!("{l}");
            }
        }
        previous = Some(settled(&v));
        let running = v.rollout.is_some();
        seen_running |= running;
        if !watch {
            return Ok(ExitCode::Done);
        }
        if !running {
            // The rollout closed: its outcome is in the `last` annotation it wrote.
            let code = v
                .last
                .as_ref()
                .filter(|_| seen_running)
                .and_then(|l| rollout_core::report::Finish::from_name(&l.result))
                .map_or(ExitCode::Done, |f| f.exit_code());
            return Ok(code);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

async fn revisions(c: &Cluster, d: &Deployment) -> Result<Vec<(i64, ReplicaSet)>, Exit> {
    let mut out: Vec<(i64, ReplicaSet)> = c
        .replica_sets_of(d)
        .await
        .map_err(|e| failed(&e))?
        .into_iter()
        .filter_map(|rs| {
            let rev = rollout_core::cluster::api::annotation(
                &rs.metadata,
                "deployment.kubernetes.io/revision",
            )?
            .parse()
            .ok()?;
            Some((rev, rs))
        })
        .collect();
    out.sort_by_key(|(r, _)| *r);
    Ok(out)
}

pub async fn history(a: &AppArgs) -> Result<ExitCode, Exit> {
    let (c, _) = cluster(&a.target).await?;
    let app = app_name(&c, a).await?;
    let d = c.deployment(&app).await.map_err(|e| failed(&e))?;
    crate::outln!("REVISION  IMAGE");
    for (rev, rs) in revisions(&c, &d).await? {
        let image = rs
            .spec
            .and_then(|s| s.template?.spec)
            .and_then(|s| s.containers.first().and_then(|c| c.image.clone()))
            .unwrap_or_default();
        crate::outln!("{rev:<9} {image}");
    }
    if let Some(last) = rollout_core::cluster::api::annotation(&d.metadata, record::LAST) {
        crate::outln!("last rollout: {}", describe_last(last));
    }
    Ok(ExitCode::Done)
}

/// The last rollout's outcome in words: `rolled-back: canary to app:v2 (from app:v1), at TIME:
/// reason`.
fn describe_last(text: &str) -> String {
    let Ok(last) = serde_json::from_str::<serde_json::Value>(text) else {
        return text.to_owned();
    };
    let field = |k: &str| last[k].as_str().unwrap_or("?").to_owned();
    let mut out = format!(
        "{}: {} to {} (from {}), at {}",
        field("result"),
        field("strategy"),
        field("image"),
        field("from"),
        field("at")
    );
    if let Some(reason) = last["reason"].as_str() {
        out.push_str(": ");
        out.push_str(reason);
    }
    out
}

pub async fn undo(a: &AppArgs, to_revision: Option<i64>) -> Result<ExitCode, Exit> {
    let (c, _) = cluster(&a.target).await?;
    let app = app_name(&c, a).await?;
    let d = c.deployment(&app).await.map_err(|e| failed(&e))?;
    if record::of(&d).is_some() {
        return Err(bad(format!(
            "a rollout of {app:?} is recorded; roll it back with `rollout abort {app}`"
        )));
    }
    let revs = revisions(&c, &d).await?;
    let current =
        rollout_core::cluster::api::annotation(&d.metadata, "deployment.kubernetes.io/revision")
            .and_then(|r| r.parse::<i64>().ok())
            .unwrap_or(0);
    let wanted = match to_revision {
        Some(r) => revs.iter().find(|(rev, _)| *rev == r),
        None => revs.iter().rev().find(|(rev, _)| *rev < current),
    }
    .ok_or_else(|| {
        bad(format!(
            "Deployment {app:?} has no such revision to go back to"
        ))
    })?;
    let mut template = serde_json::to_value(
        wanted
            .1
            .spec
            .as_ref()
            .and_then(|s| s.template.clone())
            .unwrap_or_default(),
    )
    .unwrap_or_default();
    if let Some(labels) = template
        .pointer_mut("/metadata/labels")
        .and_then(|l| l.as_object_mut())
    {
        labels.remove(rollout_core::labels::HASH_LABEL);
    }
    let patch: json_patch::Patch = serde_json::from_value(
        json!([{"op": "replace", "path": "/spec/template", "value": template}]),
    )
    .map_err(|e| failed(&e))?;
    c.json_patch::<Deployment>(&app, &patch)
        .await
        .map_err(|e| failed(&e))?;
    eprintln!("{app}: rolled back to revision {}", wanted.0);
    Ok(ExitCode::Done)
}

#[cfg(test)]
mod tests {
    use super::describe_last;

    /// `rollout history` ends with the last rollout in words, never the raw annotation.
    #[test]
    fn the_last_rollout_reads_as_words() {
        let annotation = r#"{"result":"interrupted","strategy":"canary","image":"web:v2","from":"web:v1","reason":"Ctrl-C","at":"2026-12-05T02:30:00Z"}"#;
        assert_eq!(
            describe_last(annotation),
            "interrupted: canary to web:v2 (from web:v1), at 2026-12-05T02:30:00Z: Ctrl-C"
        );
        let done = r#"{"result":"done","strategy":"rolling","image":"web:v3","from":"web:v2","reason":null,"at":"2026-12-05T02:31:00Z"}"#;
        let line = describe_last(done);
        assert_eq!(
            line,
            "done: rolling to web:v3 (from web:v2), at 2026-12-05T02:31:00Z"
        );
        assert!(!line.contains('{') && !line.contains('"'), "{line}");
    }
}
