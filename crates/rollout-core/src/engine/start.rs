//! Starting, resuming, aborting and promoting a rollout: everything checked before the first
//! write (bad input leaves the cluster untouched), then the Lease, the record, the engine.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use serde_json::{Value, json};

use super::{Engine, Options, Outcome};
use crate::cluster::lease::{self, Holder, LeaseError};
use crate::cluster::record::{self, Phase, Record, Saved};
use crate::cluster::target::{self, Target};
use crate::cluster::{Cluster, ClusterError};
use crate::plan::Plan;
use crate::report::Sink;
use crate::spec::{Overrides, Spec};
use crate::strategy::PlanInput;

/// Why a rollout did not start (or an operation on one could not be done).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad input: nothing was changed (exit code 2).
    #[error("{0}")]
    BadInput(String),
    /// Anything else (exit code 1).
    #[error("{0}")]
    Failed(String),
}

impl StartError {
    pub fn exit_code(&self) -> i32 {
        match self {
            StartError::BadInput(_) => 2,
            StartError::Failed(_) => 1,
        }
    }
}

impl From<ClusterError> for StartError {
    fn from(e: ClusterError) -> Self {
        if e.is_forbidden() {
            StartError::BadInput(e.to_string())
        } else {
            StartError::Failed(e.to_string())
        }
    }
}

impl From<LeaseError> for StartError {
    fn from(e: LeaseError) -> Self {
        match e {
            LeaseError::Cluster(c) => c.into(),
            held => StartError::Failed(held.to_string()),
        }
    }
}

/// What to roll out.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Built-in strategy name or path of a strategy file.
    pub strategy: String,
    /// A tag (`v2`) or an image reference.
    pub image: String,
    pub app: Option<String>,
    pub container: Option<String>,
    pub overrides: Overrides,
    /// Texts of the overrides, stored in the record for a resume.
    pub override_texts: BTreeMap<String, String>,
}

fn made_by_rollout(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get("app.kubernetes.io/managed-by"))
        .is_some_and(|v| v == crate::plan::MANAGED_BY)
}

/// Finds the app and what is in front of it.
pub async fn target(cluster: &Cluster, app: Option<&str>) -> Result<Target, StartError> {
    let deployments: Vec<Deployment> = cluster.list("deployments", None).await?;
    // The temporary objects of a rollout are never the app or in front of it.
    let deployments: Vec<Deployment> = deployments
        .into_iter()
        .filter(|d| !made_by_rollout(&d.metadata))
        .collect();
    let services: Vec<Service> = cluster.list("services", None).await?;
    let services = services
        .into_iter()
        .filter(|s| !made_by_rollout(&s.metadata))
        .collect();
    let ingresses: Vec<Ingress> = cluster.list("ingresses", None).await?;
    let ingresses = ingresses
        .into_iter()
        .filter(|i| !made_by_rollout(&i.metadata))
        .collect();
    let routes = cluster.http_routes().await?;
    target::discover(
        &cluster.namespace,
        app,
        deployments,
        services,
        ingresses,
        routes,
    )
    .map_err(|e| StartError::BadInput(e.to_string()))
}

fn is_nginx(i: &Ingress) -> bool {
    let class = i
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref());
    let annotation = i
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("kubernetes.io/ingress.class"))
        .map(String::as_str);
    class.or(annotation).is_none_or(|c| c == "nginx")
}

/// The plan for `req` on the app found in `cluster`, and what the record must keep.
pub async fn prepare(
    cluster: &Cluster,
    req: &Request,
    opts: &Options,
) -> Result<(Spec, Plan, Target, PlanInput), StartError> {
    let spec = crate::spec::load(&req.strategy, None)
        .and_then(|s| s.with_overrides(&req.overrides))
        .map_err(|e| StartError::BadInput(e.to_string()))?;
    let target = target(cluster, req.app.as_deref()).await?;
    let d = &target.deployment;
    let app = d.metadata.name.clone().unwrap_or_default();
    if let Some(r) = record::of(d) {
        let step = r.map(|r| r.step + 1).unwrap_or(0);
        if let Some((holder, left)) =
            lease::current(cluster.client.clone(), &cluster.namespace, &app).await?
        {
            return Err(StartError::Failed(format!(
                "another rollout of {app:?} is running (step {step}), held by {holder} (lease renewed within the last {}s); wait for it, or stop it with `rollout abort {app}`",
                lease::DURATION.saturating_sub(left).as_secs()
            )));
        }
        return Err(StartError::BadInput(format!(
            "a rollout of {app:?} is already recorded (step {step}); continue it with `rollout resume {app}` or roll it back with `rollout abort {app}`"
        )));
    }
    let containers = d
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers.clone())
        .unwrap_or_default();
    let container = match &req.container {
        Some(c) => containers.iter().find(|x| &x.name == c).ok_or_else(|| {
            StartError::BadInput(format!(
                "Deployment {app:?} has no container {c:?} (it has: {})",
                containers
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?,
        None => match containers.as_slice() {
            [one] => one,
            [] => {
                return Err(StartError::BadInput(format!(
                    "Deployment {app:?} has no containers"
                )));
            }
            many => {
                return Err(StartError::BadInput(format!(
                    "Deployment {app:?} has {} containers ({}); name one with --container",
                    many.len(),
                    many.iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        },
    };
    let from_image = container.image.clone().unwrap_or_default();
    let to_image = crate::image::resolve(&from_image, &req.image)
        .map_err(|e| StartError::BadInput(e.to_string()))?;
    if to_image == from_image {
        return Err(StartError::BadInput(format!(
            "Deployment {app:?} already runs {to_image} (container {:?})",
            container.name
        )));
    }
    let ingress = target.ingresses.first();
    let input = PlanInput {
        namespace: cluster.namespace.clone(),
        app,
        container: container.name.clone(),
        from_image,
        to_image,
        replicas: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        service: target
            .services
            .first()
            .and_then(|s| s.metadata.name.clone()),
        ingress: ingress.and_then(|i| i.metadata.name.clone()),
        ingress_is_nginx: ingress.is_some_and(is_nginx),
        http_route: target
            .http_routes
            .first()
            .and_then(|r| r.pointer("/metadata/name")?.as_str().map(str::to_owned)),
        metrics: opts.metrics_url.is_some() || opts.prometheus.is_some(),
    };
    let plan =
        crate::strategy::plan(&spec, &input).map_err(|e| StartError::BadInput(e.to_string()))?;
    Ok((spec, plan, target, input))
}

/// Checks `req`, takes the Lease, writes the record and runs the rollout to its end.
pub async fn run(
    cluster: Cluster,
    req: &Request,
    opts: Options,
    sink: Arc<dyn Sink>,
) -> Result<Outcome, StartError> {
    Ok(begin(cluster, req, opts, sink).await?.run().await)
}

/// Like [`run`], but returns the engine before it runs (to stop it from outside).
pub async fn begin(
    cluster: Cluster,
    req: &Request,
    opts: Options,
    sink: Arc<dyn Sink>,
) -> Result<Engine, StartError> {
    let (spec, plan, target, input) = prepare(&cluster, req, &opts).await?;
    let d = &target.deployment;
    match super::steps::rolled_out(d) {
        Ok(true) => {}
        Ok(false) => {
            return Err(StartError::BadInput(format!(
                "Deployment {:?} has not finished its own rollout; wait for `kubectl rollout status deployment/{0}`",
                plan.names.deployment
            )));
        }
        Err(e) => return Err(StartError::BadInput(e)),
    }
    let holder = Holder::acquire(
        cluster.client.clone(),
        &cluster.namespace,
        &plan.names.deployment,
        &lease::identity(),
    )
    .await?;
    let spec_d = d.spec.clone().unwrap_or_default();
    let route_rules = plan.names.http_route.as_ref().and_then(|name| {
        target
            .http_routes
            .iter()
            .find(|r| r.pointer("/metadata/name").and_then(Value::as_str) == Some(name))
            .and_then(|r| r.pointer("/spec/rules").cloned())
    });
    let service_selector = target
        .services
        .iter()
        .find(|s| s.metadata.name == plan.names.service)
        .and_then(|s| s.spec.as_ref()?.selector.clone());
    let text = match crate::spec::builtin_text(&req.strategy) {
        Some(t) if !std::path::Path::new(&req.strategy).exists() => t.to_owned(),
        _ => std::fs::read_to_string(&req.strategy).map_err(|e| {
            StartError::BadInput(format!("cannot read strategy file {}: {e}", req.strategy))
        })?,
    };
    let record = Record {
        id: uuid::Uuid::new_v4().to_string(),
        started_at: jiff::Timestamp::now().to_string(),
        strategy_text: text,
        strategy_origin: spec.origin.clone(),
        overrides: req.override_texts.clone(),
        input,
        step: 0,
        phase: Phase::Running,
        routing: Default::default(),
        saved: Saved {
            template: serde_json::to_value(&spec_d.template).unwrap_or(Value::Null),
            replicas: spec_d.replicas.unwrap_or(1),
            strategy: serde_json::to_value(&spec_d.strategy).unwrap_or(Value::Null),
            service_selector,
            route_rules,
        },
        reason: None,
    };
    let engine = Engine::new(cluster, spec, plan, record, sink, opts, Arc::new(holder));
    engine.save().await?;
    Ok(engine)
}

/// The overrides stored in a record, back as [`Overrides`].
pub fn overrides_from(texts: &BTreeMap<String, String>) -> Result<Overrides, String> {
    let mut o = Overrides::default();
    for (k, v) in texts {
        let bad = |e: String| format!("stored override {k}={v}: {e}");
        match k.as_str() {
            "traffic" => o.traffic = Some(v.parse().map_err(bad)?),
            "analysis-interval" => o.analysis_interval = Some(v.parse().map_err(bad)?),
            "progress-deadline" => o.progress_deadline = Some(v.parse().map_err(bad)?),
            "no-pause" => o.no_pause = v == "true",
            "max-pause" => o.max_pause = Some(v.parse().map_err(bad)?),
            "duration" => o.duration = Some(v.parse().map_err(bad)?),
            "auto-promotion" => o.auto_promotion = Some(v == "true"),
            other => return Err(format!("unknown stored override {other}")),
        }
    }
    Ok(o)
}

/// The rollout recorded on `app`, ready to go on (resume) or to roll back (abort). Waits
/// for the Lease of a process that stopped renewing it to expire.
pub async fn recorded(
    cluster: Cluster,
    app: &str,
    opts: Options,
    sink: Arc<dyn Sink>,
) -> Result<Engine, StartError> {
    let d = cluster.deployment(app).await.map_err(|e| {
        if e.is_not_found() {
            StartError::BadInput(format!(
                "no Deployment named {app:?} in namespace {:?}",
                cluster.namespace
            ))
        } else {
            e.into()
        }
    })?;
    let record = record::of(&d)
        .ok_or_else(|| StartError::BadInput(format!("no rollout of {app:?} is recorded")))?
        .map_err(StartError::Failed)?;
    let overrides = overrides_from(&record.overrides).map_err(StartError::Failed)?;
    let spec = crate::spec::parse(&record.strategy_text, &record.strategy_origin)
        .and_then(|s| s.with_overrides(&overrides))
        .map_err(|e| StartError::Failed(e.to_string()))?;
    let plan = crate::strategy::plan(&spec, &record.input)
        .map_err(|e| StartError::Failed(e.to_string()))?;
    let identity = lease::identity();
    let deadline = tokio::time::Instant::now() + lease::DURATION * 2;
    let holder = loop {
        match Holder::acquire(cluster.client.clone(), &cluster.namespace, app, &identity).await {
            Ok(h) => break h,
            Err(LeaseError::Held {
                remaining, holder, ..
            }) if tokio::time::Instant::now() + remaining < deadline => {
                sink.emit(&crate::report::Event::Note {
                    message: format!(
                        "waiting {}s for the lease held by {holder} to expire",
                        remaining.as_secs() + 1
                    ),
                });
                tokio::time::sleep(remaining + std::time::Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    Ok(Engine::new(
        cluster,
        spec,
        plan,
        record,
        sink,
        opts,
        Arc::new(holder),
    ))
}

/// `rollout resume`: go on from the recorded step.
pub async fn resume(
    cluster: Cluster,
    app: &str,
    opts: Options,
    sink: Arc<dyn Sink>,
) -> Result<Outcome, StartError> {
    Ok(recorded(cluster, app, opts, sink).await?.run().await)
}

/// `rollout abort`: roll back. When a live process runs the rollout, it is asked to (through
/// an annotation it watches) and this returns `None`; otherwise the rollback runs here.
pub async fn abort(
    cluster: Cluster,
    app: &str,
    opts: Options,
    sink: Arc<dyn Sink>,
) -> Result<Option<Outcome>, StartError> {
    if lease::current(cluster.client.clone(), &cluster.namespace, app)
        .await?
        .is_some()
    {
        cluster
            .merge(
                "deployments",
                app,
                &json!({"metadata": {"annotations": {record::ABORT: "true"}}}),
            )
            .await?;
        return Ok(None);
    }
    let mut engine = recorded(cluster, app, opts, sink).await?;
    engine.record.phase = Phase::RollingBack;
    engine.record.reason = Some("aborted with `rollout abort`".into());
    Ok(Some(engine.run().await))
}

/// `rollout promote`: ends the current pause (`full`: skips every pause and analysis left).
pub async fn promote(cluster: &Cluster, app: &str, full: bool) -> Result<(), StartError> {
    let d = cluster.deployment(app).await?;
    if record::of(&d).is_none() {
        return Err(StartError::BadInput(format!(
            "no rollout of {app:?} is recorded"
        )));
    }
    let how = if full { "full" } else { "next" };
    cluster
        .merge(
            "deployments",
            app,
            &json!({"metadata": {"annotations": {record::PROMOTE: how}}}),
        )
        .await?;
    Ok(())
}
