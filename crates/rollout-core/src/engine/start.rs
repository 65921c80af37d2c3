//! Starting, resuming, aborting and promoting a rollout: everything checked before the first
//! write (bad input leaves the cluster untouched), then the Lease, the record, the engine.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use serde_json::{Value, json};

use super::record::{self, BadRecord, Phase, Record, Saved};
use super::{Engine, Options, RunEnd};
use crate::app::PlanInput;
use crate::cluster::lease::{self, Holder, LeaseError};
use crate::cluster::target::{self, Target, TargetError};
use crate::cluster::wait::Stuck;
use crate::cluster::{Cluster, ClusterError};
use crate::exit::ExitCode;
use crate::image::ImageError;
use crate::labels::made_by_rollout;
use crate::metrics::Access;
use crate::plan::Plan;
use crate::report::{Finish, Sink};
use crate::spec::{Overrides, Spec, SpecError};

/// Why a rollout did not start (or an operation on one could not be done).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Lease(#[from] LeaseError),
    #[error("the rollout recorded on Deployment {app:?} cannot be read")]
    Record {
        app: String,
        #[source]
        source: BadRecord,
    },
    #[error("cannot read strategy file {path}")]
    StrategyFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("Deployment {app:?} has no container {container:?} (it has: {has})")]
    NoSuchContainer {
        app: String,
        container: String,
        has: String,
    },
    #[error("Deployment {app:?} has no containers")]
    NoContainers { app: String },
    #[error("Deployment {app:?} has {count} containers ({names}); name one with --container")]
    ManyContainers {
        app: String,
        count: usize,
        names: String,
    },
    #[error("Deployment {app:?} already runs {image} (container {container:?})")]
    AlreadyRuns {
        app: String,
        image: String,
        container: String,
    },
    #[error(
        "Deployment {app:?} has not finished its own rollout; wait for `kubectl rollout status deployment/{app}`"
    )]
    NotRolledOut { app: String },
    #[error("{0}")]
    Stuck(String),
    #[error(
        "another rollout of {app:?} is running (step {step}), held by {holder} (lease renewed within the last {since}s); wait for it, or stop it with `rollout abort {app}`"
    )]
    Running {
        app: String,
        step: usize,
        holder: String,
        since: u64,
    },
    #[error(
        "a rollout of {app:?} is already recorded (step {step}); continue it with `rollout resume {app}` or roll it back with `rollout abort {app}`"
    )]
    Recorded { app: String, step: usize },
    #[error("no Deployment named {app:?} in namespace {namespace:?}")]
    NoDeployment { app: String, namespace: String },
    #[error("no rollout of {app:?} is recorded")]
    NotRecorded { app: String },
    #[error(
        "{kind} {name:?} already exists in namespace {namespace:?} ({owner}), and the rollout would make an object of that name; it never changes what it did not make: {hint}"
    )]
    NameTaken {
        kind: &'static str,
        name: String,
        namespace: String,
        owner: String,
        hint: String,
    },
}

impl StartError {
    /// Bad input changed nothing and exits 2; anything else exits 1.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            StartError::Cluster(c) if c.is_forbidden() => ExitCode::BadInput,
            StartError::Cluster(_)
            | StartError::Lease(_)
            | StartError::Record { .. }
            | StartError::Running { .. } => ExitCode::Error,
            _ => ExitCode::BadInput,
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
}

/// Finds the app and what is in front of it.
pub async fn target(cluster: &Cluster, app: Option<&str>) -> Result<Target, StartError> {
    // The temporary objects of a rollout are never the app or in front of it.
    fn theirs<K: kube::Resource>(objects: Vec<K>) -> Vec<K> {
        objects
            .into_iter()
            .filter(|o| !made_by_rollout(o.meta()))
            .collect()
    }
    let deployments = theirs(cluster.list::<Deployment>(None).await?);
    let services = theirs(cluster.list::<Service>(None).await?);
    let ingresses = theirs(cluster.list::<Ingress>(None).await?);
    let routes = cluster.http_routes().await?;
    Ok(target::discover(
        &cluster.namespace,
        app,
        deployments,
        services,
        ingresses,
        routes,
    )?)
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
    let spec = crate::spec::load(&req.strategy, None)?.with_overrides(&req.overrides)?;
    let target = target(cluster, req.app.as_deref()).await?;
    let d = &target.deployment;
    let app = d.metadata.name.clone().unwrap_or_default();
    if let Some(r) = record::of(d) {
        let step = r.map(|r| r.step + 1).unwrap_or(0);
        if let Some(held) = lease::current(cluster, &app).await? {
            return Err(StartError::Running {
                app,
                step,
                holder: held.holder,
                since: held.since_renewal.as_secs(),
            });
        }
        return Err(StartError::Recorded { app, step });
    }
    let containers = d
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers.clone())
        .unwrap_or_default();
    let names = || {
        containers
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let container =
        match &req.container {
            Some(c) => containers.iter().find(|x| &x.name == c).ok_or_else(|| {
                StartError::NoSuchContainer {
                    app: app.clone(),
                    container: c.clone(),
                    has: names(),
                }
            })?,
            None => match containers.as_slice() {
                [one] => one,
                [] => return Err(StartError::NoContainers { app }),
                many => {
                    return Err(StartError::ManyContainers {
                        app,
                        count: many.len(),
                        names: names(),
                    });
                }
            },
        };
    let from_image = container.image.clone().unwrap_or_default();
    let to_image = crate::image::resolve(&from_image, &req.image)?;
    if to_image == from_image {
        return Err(StartError::AlreadyRuns {
            app,
            image: to_image,
            container: container.name.clone(),
        });
    }
    let ingress = target.ingresses.first();
    let mut input = PlanInput {
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
            .and_then(|r| r.metadata.name.clone()),
        metrics: Access::default(),
        autoscaler: None,
    };
    // An autoscaler that sizes the app decides its replica count; the plan works with it.
    // A server that does not serve autoscaling/v2 (Kubernetes before 1.23) answers 404 for
    // the whole collection: there is no v2 autoscaler to work with.
    let hpas = match cluster.list::<HorizontalPodAutoscaler>(None).await {
        Ok(hpas) => hpas,
        Err(e) if e.is_not_found() => {
            tracing::debug!("autoscaling/v2 is not served: no autoscaler is looked at");
            Vec::new()
        }
        Err(e) => return Err(e.into()),
    };
    input.autoscaler = crate::autoscaler::targeting(&hpas, &input.app);
    input.metrics = metrics_access(cluster, opts, &spec, &input).await?;
    let plan = crate::strategy::plan(&spec, &input)?;
    names_are_free(cluster, &plan).await?;
    Ok((spec, plan, target, input))
}

/// The names the rollout would give its objects are not taken: found before anything
/// changes, so that a user's object of that name is never merged into or deleted.
async fn names_are_free(cluster: &Cluster, plan: &Plan) -> Result<(), StartError> {
    let taken = |kind: &'static str,
                 name: &str,
                 meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
                 hint: &str| {
        StartError::NameTaken {
            kind,
            name: name.to_owned(),
            namespace: cluster.namespace.clone(),
            owner: crate::labels::owner_of(meta),
            hint: hint.to_owned(),
        }
    };
    let names = &plan.names;
    if plan.creates_new()
        && let Some(d) = cluster.get_opt::<Deployment>(&names.new_deployment).await?
    {
        return Err(taken(
            "Deployment",
            &names.new_deployment,
            &d.metadata,
            "delete or rename it",
        ));
    }
    if let Some(name) = &names.new_service
        && let Some(s) = cluster.get_opt::<Service>(name).await?
    {
        let hint = match &plan.strategy {
            crate::spec::StrategyKind::BlueGreen => {
                "delete or rename it, or name another with `previewService` in the strategy file"
            }
            _ => "delete or rename it",
        };
        return Err(taken("Service", name, &s.metadata, hint));
    }
    if let Some(name) = &names.new_ingress
        && let Some(i) = cluster.get_opt::<Ingress>(name).await?
    {
        return Err(taken("Ingress", name, &i.metadata, "delete or rename it"));
    }
    if let Some(name) = &names.new_autoscaler
        && let Some(h) = cluster.get_opt::<HorizontalPodAutoscaler>(name).await?
    {
        return Err(taken(
            "HorizontalPodAutoscaler",
            name,
            &h.metadata,
            "delete or rename it",
        ));
    }
    Ok(())
}

/// How this rollout will read per-version metrics: the flags' source, else the router's
/// controller found in the cluster.
async fn metrics_access(
    cluster: &Cluster,
    opts: &Options,
    spec: &Spec,
    input: &PlanInput,
) -> Result<Access, StartError> {
    if let Some(url) = &opts.metrics_url {
        return Ok(Access::Url { url: url.clone() });
    }
    if let Some(address) = &opts.prometheus {
        return Ok(Access::Prometheus {
            address: address.clone(),
        });
    }
    let router = crate::strategy::choose_router(spec, input)?;
    Ok(match router.observer() {
        Some(observer) => crate::metrics::source::discover(&cluster.client, observer).await,
        None => Access::None {
            why: format!(
                "router {} sends both versions through one Service",
                router.name()
            ),
        },
    })
}

/// Checks `req`, takes the Lease, writes the record and runs the rollout to its end.
pub async fn run(
    cluster: Cluster,
    req: &Request,
    opts: Options,
    sink: Arc<dyn Sink>,
) -> Result<RunEnd, StartError> {
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
    let done = if input.autoscaler.is_some() {
        super::steps::template_rolled_out(d)
    } else {
        super::steps::rolled_out(d)
    };
    match done {
        Ok(true) => {}
        Ok(false) => {
            return Err(StartError::NotRolledOut {
                app: plan.names.deployment.clone(),
            });
        }
        Err(Stuck(why)) => return Err(StartError::Stuck(why)),
    }
    let text = match crate::spec::builtin_text(&req.strategy) {
        Some(t) if !std::path::Path::new(&req.strategy).exists() => t.to_owned(),
        _ => std::fs::read_to_string(&req.strategy).map_err(|source| StartError::StrategyFile {
            path: req.strategy.clone(),
            source,
        })?,
    };
    let holder = Holder::acquire(&cluster, &plan.names.deployment, &lease::identity()).await?;
    let spec_d = d.spec.clone().unwrap_or_default();
    let route_rules = plan.names.http_route.as_ref().and_then(|name| {
        target
            .http_routes
            .iter()
            .find(|r| r.metadata.name.as_ref() == Some(name))
            .map(|r| r.spec.rules.clone())
    });
    let service_selector = target
        .services
        .iter()
        .find(|s| s.metadata.name == plan.names.service)
        .and_then(|s| s.spec.as_ref()?.selector.clone());
    let record = Record {
        id: uuid::Uuid::new_v4().to_string(),
        started_at: jiff::Timestamp::now().to_string(),
        strategy_text: text,
        strategy_origin: spec.origin.clone(),
        overrides: req.overrides.clone(),
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
        owned: Vec::new(),
        gates: Default::default(),
    };
    let engine = Engine::new(cluster, spec, plan, record, sink, opts, Arc::new(holder));
    engine.save().await?;
    Ok(engine)
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
            StartError::NoDeployment {
                app: app.to_owned(),
                namespace: cluster.namespace.clone(),
            }
        } else {
            e.into()
        }
    })?;
    let record = record::of(&d)
        .ok_or_else(|| StartError::NotRecorded {
            app: app.to_owned(),
        })?
        .map_err(|source| StartError::Record {
            app: app.to_owned(),
            source,
        })?;
    let spec = crate::spec::parse(&record.strategy_text, &record.strategy_origin)?
        .with_overrides(&record.overrides)?;
    let plan = crate::strategy::plan(&spec, &record.input)?;
    let identity = lease::identity();
    let deadline = tokio::time::Instant::now() + lease::DURATION * 2;
    let holder = loop {
        match Holder::acquire(&cluster, app, &identity).await {
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
) -> Result<RunEnd, StartError> {
    Ok(recorded(cluster, app, opts, sink).await?.run().await)
}

/// How `rollout abort` ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Aborted {
    /// Rolled back here (no live process held the rollout, or its Lease expired while we
    /// waited: it had died).
    Here(RunEnd),
    /// The process running the rollout was asked, and ended it this way.
    ByHolder {
        holder: String,
        finish: Option<Finish>,
        reason: Option<String>,
    },
}

/// `rollout abort`: roll back, from any machine. A live process running the rollout is asked
/// to (through an annotation it watches), and this waits until it has; when the holder does
/// not answer (killed, wherever it ran), its Lease is waited out — the countdown said — and the
/// rollback runs here.
pub async fn abort(
    cluster: Cluster,
    app: &str,
    opts: Options,
    sink: Arc<dyn Sink>,
) -> Result<Aborted, StartError> {
    let d = cluster.deployment(app).await.map_err(|e| {
        if e.is_not_found() {
            StartError::NoDeployment {
                app: app.to_owned(),
                namespace: cluster.namespace.clone(),
            }
        } else {
            e.into()
        }
    })?;
    if record::of(&d).is_none() {
        return Err(StartError::NotRecorded {
            app: app.to_owned(),
        });
    }
    let note = |message: String| sink.emit(&crate::report::Event::Note { message });
    let mut asked = false;
    while let Some(held) = lease::current(&cluster, app).await? {
        if !asked {
            cluster
                .merge::<Deployment>(
                    app,
                    &json!({"metadata": {"annotations": {record::ABORT: "true"}}}),
                )
                .await?;
            asked = true;
        }
        note(format!(
            "asked the rollout held by {} to roll back; waiting for it (its lease expires in {}s unless renewed: then the rollback runs here)",
            held.holder,
            held.remaining.as_secs() + 1
        ));
        let ended = cluster
            .wait_deployment_alone(
                app,
                held.remaining + std::time::Duration::from_secs(1),
                &format!("the rollout held by {} to roll back", held.holder),
                |d| -> Result<Option<Option<String>>, Stuck> {
                    Ok(record::of(d).is_none().then(|| {
                        crate::cluster::api::annotation(&d.metadata, record::LAST)
                            .map(str::to_owned)
                    }))
                },
            )
            .await;
        match ended {
            Ok(last) => {
                let last: serde_json::Value = last
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .unwrap_or_default();
                let finish = last["result"].as_str().and_then(Finish::from_name);
                return Ok(Aborted::ByHolder {
                    holder: held.holder,
                    finish,
                    reason: last["reason"].as_str().map(str::to_owned),
                });
            }
            Err(e) if e.is_timeout() => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut engine = recorded(cluster, app, opts, sink.clone()).await?;
    engine.record.phase = Phase::RollingBack;
    engine.record.reason = Some("aborted with `rollout abort`".into());
    Ok(Aborted::Here(engine.run().await))
}

/// `rollout promote`: ends the current pause (`full`: skips every pause and analysis left).
pub async fn promote(cluster: &Cluster, app: &str, full: bool) -> Result<(), StartError> {
    let d = cluster.deployment(app).await?;
    if record::of(&d).is_none() {
        return Err(StartError::NotRecorded {
            app: app.to_owned(),
        });
    }
    let how = if full { "full" } else { "next" };
    cluster
        .merge::<Deployment>(
            app,
            &json!({"metadata": {"annotations": {record::PROMOTE: how}}}),
        )
        .await?;
    Ok(())
}
