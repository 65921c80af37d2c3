//! `rollout --strategy S --image X`, `plan`, `status`, `promote`, `abort`, `resume`, `undo`,
//! `history`: the orchestrator's commands. Errors carry their exit code ([`Exit`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use serde_json::json;

use crate::cli::{AppArgs, EndpointArgs, OverrideArgs, RunArgs, TargetArgs};
use rollout_core::cluster::Cluster;
use rollout_core::cluster::record;
use rollout_core::engine::start::{self, Request, StartError};
use rollout_core::engine::{Options, Outcome};
use rollout_core::report::{JsonLines, Progress, Sink};
use rollout_core::spec::Overrides;

/// A command's end with its exit code (0 done, 1 error, 2 bad input, 3 rolled back,
/// 4 rollback failed, 130 interrupted).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    pub code: i32,
    pub message: String,
}

impl From<StartError> for Exit {
    fn from(e: StartError) -> Self {
        Exit {
            code: e.exit_code(),
            message: e.to_string(),
        }
    }
}

fn bad(message: impl Into<String>) -> Exit {
    Exit {
        code: 2,
        message: message.into(),
    }
}

fn failed(message: impl Into<String>) -> Exit {
    Exit {
        code: 1,
        message: message.into(),
    }
}

/// The cluster and the client for checks through its service proxy.
async fn cluster(t: &TargetArgs) -> Result<(Cluster, kube::Client), Exit> {
    let conn = rollout_core::cluster::connect::connect(&t.kube.source())
        .await
        .map_err(bad)?;
    let ns = t.namespace.clone().unwrap_or(conn.default_namespace);
    Ok((Cluster::new(conn.client, ns), conn.proxy_client))
}

fn sink(t: &TargetArgs) -> Arc<dyn Sink> {
    if t.output == "json" {
        Arc::new(JsonLines::stdout())
    } else {
        Arc::new(Progress::for_stderr())
    }
}

fn options(e: &EndpointArgs, proxy: kube::Client) -> Result<Options, Exit> {
    let mut o = Options::new().map_err(failed)?;
    o.proxy_client = Some(proxy);
    o.ingress_url = e.ingress_url.clone();
    o.metrics_url = e.metrics_url.clone();
    o.prometheus = e.prometheus.clone();
    o.handle_signals = true;
    Ok(o)
}

/// The overrides and their texts (stored with the record for a resume).
pub fn overrides(a: &OverrideArgs) -> Result<(Overrides, BTreeMap<String, String>), Exit> {
    let mut texts = BTreeMap::new();
    if a.no_pause {
        texts.insert("no-pause".into(), "true".into());
    }
    for (k, v) in [
        ("max-pause", &a.max_pause),
        ("analysis-interval", &a.analysis_interval),
        ("progress-deadline", &a.progress_deadline),
        ("traffic", &a.traffic),
        ("duration", &a.duration),
    ] {
        if let Some(v) = v {
            texts.insert(k.to_owned(), v.clone());
        }
    }
    let o = start::overrides_from(&texts).map_err(|e| bad(e.replace("stored override ", "--")))?;
    Ok((o, texts))
}

fn request(a: &RunArgs) -> Result<Request, Exit> {
    let strategy = a.strategy.clone().ok_or_else(|| {
        bad("--strategy is required (a built-in name or a strategy file; see `rollout strategies`)")
    })?;
    let image = a
        .image
        .clone()
        .ok_or_else(|| bad("--image is required (a tag like v2, or an image reference)"))?;
    let (overrides, override_texts) = overrides(&a.overrides)?;
    Ok(Request {
        strategy,
        image,
        app: a.app.clone(),
        container: a.container.clone(),
        overrides,
        override_texts,
    })
}

fn finish(outcome: Outcome) -> Result<i32, Exit> {
    Ok(outcome.finish.exit_code())
}

pub async fn run(a: &RunArgs) -> Result<i32, Exit> {
    let req = request(a)?;
    let (c, proxy) = cluster(&a.target).await?;
    finish(start::run(c, &req, options(&a.endpoints, proxy)?, sink(&a.target)).await?)
}

pub async fn plan(a: &RunArgs) -> Result<i32, Exit> {
    let req = request(a)?;
    let (c, proxy) = cluster(&a.target).await?;
    let opts = options(&a.endpoints, proxy)?;
    let (_, plan, _, _) = start::prepare(&c, &req, &opts).await?;
    if a.target.output == "json" {
        println!(
            "{}",
            serde_json::to_string_pretty(&plan).unwrap_or_default()
        );
    } else {
        print!("{}", plan.render());
    }
    Ok(0)
}

/// The app named, or the only Deployment of the namespace.
async fn app_name(c: &Cluster, a: &AppArgs) -> Result<String, Exit> {
    let t = start::target(c, a.app.as_deref()).await?;
    Ok(t.deployment.metadata.name.unwrap_or_default())
}

pub async fn resume(a: &AppArgs) -> Result<i32, Exit> {
    let (c, proxy) = cluster(&a.target).await?;
    let app = app_name(&c, a).await?;
    finish(start::resume(c, &app, options(&a.endpoints, proxy)?, sink(&a.target)).await?)
}

pub async fn abort(a: &AppArgs) -> Result<i32, Exit> {
    let (c, proxy) = cluster(&a.target).await?;
    let app = app_name(&c, a).await?;
    match start::abort(c, &app, options(&a.endpoints, proxy)?, sink(&a.target)).await? {
        Some(outcome) => finish(outcome),
        None => {
            eprintln!("asked the running rollout of {app:?} to roll back");
            Ok(0)
        }
    }
}

pub async fn promote(a: &AppArgs, full: bool) -> Result<i32, Exit> {
    let (c, _) = cluster(&a.target).await?;
    let app = app_name(&c, a).await?;
    start::promote(&c, &app, full).await?;
    eprintln!("promoted {app:?}{}", if full { " (full)" } else { "" });
    Ok(0)
}

fn status_value(d: &Deployment) -> serde_json::Value {
    let last = rollout_core::cluster::api::annotation(&d.metadata, record::LAST)
        .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok());
    let image = d
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone());
    let running = record::of(d).and_then(Result::ok).map(|r| {
        json!({"strategy": r.strategy_origin,
               "to": r.input.to_image, "from": r.input.from_image, "step": r.step + 1,
               "phase": r.phase, "weight": r.routing.weight, "startedAt": r.started_at, "reason": r.reason})
    });
    json!({"app": d.metadata.name, "image": image, "rollout": running, "last": last})
}

pub async fn status(a: &AppArgs, watch: bool) -> Result<i32, Exit> {
    let (c, _) = cluster(&a.target).await?;
    let app = app_name(&c, a).await?;
    let mut previous = String::new();
    loop {
        let d = c
            .deployment(&app)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let v = status_value(&d);
        let text = if a.target.output == "json" {
            v.to_string()
        } else {
            match &v["rollout"] {
                serde_json::Value::Null => format!(
                    "{app}: {} — no rollout running; last: {}",
                    v["image"].as_str().unwrap_or("?"),
                    v["last"]
                        .get("result")
                        .map(|r| format!(
                            "{} {} ({})",
                            r.as_str().unwrap_or("?"),
                            v["last"]["image"].as_str().unwrap_or("?"),
                            v["last"]["strategy"].as_str().unwrap_or("?")
                        ))
                        .unwrap_or_else(|| "none".into())
                ),
                r => format!(
                    "{app}: {} → {} with {}, step {}, {}, weight {}%",
                    r["from"].as_str().unwrap_or("?"),
                    r["to"].as_str().unwrap_or("?"),
                    r["strategy"].as_str().unwrap_or("?"),
                    r["step"],
                    r["phase"].as_str().unwrap_or("?"),
                    r["weight"]
                ),
            }
        };
        if text != previous {
            println!("{text}");
            previous = text;
        }
        if !watch || v["rollout"].is_null() {
            return Ok(0);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

async fn revisions(c: &Cluster, d: &Deployment) -> Result<Vec<(i64, ReplicaSet)>, Exit> {
    let mut out: Vec<(i64, ReplicaSet)> = c
        .replica_sets_of(d)
        .await
        .map_err(|e| failed(e.to_string()))?
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

pub async fn history(a: &AppArgs) -> Result<i32, Exit> {
    let (c, _) = cluster(&a.target).await?;
    let app = app_name(&c, a).await?;
    let d = c
        .deployment(&app)
        .await
        .map_err(|e| failed(e.to_string()))?;
    println!("REVISION  IMAGE");
    for (rev, rs) in revisions(&c, &d).await? {
        let image = rs
            .spec
            .and_then(|s| s.template?.spec)
            .and_then(|s| s.containers.first().and_then(|c| c.image.clone()))
            .unwrap_or_default();
        println!("{rev:<9} {image}");
    }
    if let Some(last) = rollout_core::cluster::api::annotation(&d.metadata, record::LAST) {
        println!("last rollout: {last}");
    }
    Ok(0)
}

pub async fn undo(a: &AppArgs, to_revision: Option<i64>) -> Result<i32, Exit> {
    let (c, _) = cluster(&a.target).await?;
    let app = app_name(&c, a).await?;
    let d = c
        .deployment(&app)
        .await
        .map_err(|e| failed(e.to_string()))?;
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
        labels.remove(rollout_core::plan::HASH_LABEL);
    }
    c.json_patch(
        &app,
        json!([{"op": "replace", "path": "/spec/template", "value": template}]),
    )
    .await
    .map_err(|e| failed(e.to_string()))?;
    eprintln!("{app}: rolled back to revision {}", wanted.0);
    Ok(0)
}
