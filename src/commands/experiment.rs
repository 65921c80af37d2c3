//! `rollout experiment FILE`: runs a scripted experiment on a fresh embedded cluster, checks
//! its expectations, writes the report; exit 0 when every expectation holds, 1 otherwise.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;

use crate::cli::ExperimentArgs;
use crate::commands::exit::{Exit, ExitCode};
use crate::lab::experiment::{self, Action, Expectation};
use crate::lab::{self, Lab, Load, Session};
use rollout_core::cluster::Cluster;
use rollout_core::engine::start::{self, Request};
use rollout_core::engine::{RunEnd, Stop, Stopper};
use rollout_core::report::Progress;

fn bad(m: impl Into<String>) -> Exit {
    Exit::bad(m.into())
}

fn failed(m: impl Into<String>) -> Exit {
    Exit::failed(m.into())
}

async fn apply(lab: &Lab, manifests: &[String], base: &Path) -> Result<(), Exit> {
    for m in manifests {
        let applied = if m == "builtin:microblog" {
            lab::apply::apply_texts(&lab.client, &lab::MICROBLOG).await
        } else {
            lab::apply::apply_path(&lab.client, &base.join(m)).await
        };
        applied.map_err(failed)?;
    }
    Ok(())
}

/// What one experiment found.
pub struct Result_ {
    pub report: rollout_core::report::data::RunReport,
    /// Each expectation, the measured value, and whether it held.
    pub checks: Vec<(Expectation, String, bool)>,
}

/// Whether to serve the live web view during a run, and open it in a browser.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ui {
    pub serve: bool,
    pub open: bool,
}

/// Runs the experiment in `file`; progress goes to `progress` when given.
pub async fn execute(file: &Path, progress: bool, ui: Ui) -> Result<Result_, Exit> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| bad(format!("cannot read {}: {e}", file.display())))?;
    let origin = file.display().to_string();
    let e = experiment::parse(&text, &origin).map_err(bad)?;
    let base = file.parent().unwrap_or(Path::new("."));
    let faults_origin = format!("{origin}: cluster.faults");
    let lab = Lab::start_with(
        e.cluster.speed,
        e.cluster.profiles.as_deref().map(|p| (origin.as_str(), p)),
        e.cluster
            .faults
            .as_deref()
            .map(|f| (faults_origin.as_str(), f)),
    )
    .await?;
    apply(&lab, &e.manifests, base).await?;
    lab.wait_ready(&e.namespace, Duration::from_secs(60))
        .await?;
    let _dashboard = if ui.serve {
        let d = crate::commands::dashboard::start(
            crate::commands::dashboard::Setup {
                client: lab.client.clone(),
                scope: crate::commands::dashboard::Scope::Namespace(e.namespace.clone()),
                options: lab.options()?,
            },
            ([127, 0, 0, 1], 0).into(),
        )
        .await
        .map_err(|e| failed(format!("{e:#}")))?;
        crate::commands::dashboard::announce(&d, ui.open);
        Some(d)
    } else {
        None
    };
    let receivers = crate::lab::receivers::Receivers::start(&e.receivers)
        .await
        .map_err(|m| bad(format!("{origin}: {m}")))?;
    // Strategy files pointed at the receivers live here for the run.
    let scratch = ScratchDir::new().map_err(|e| failed(format!("a scratch directory: {e}")))?;
    let autoscalers_before = autoscalers(&lab.client, &e.namespace).await?;
    let load = Load {
        host: e.traffic.host.clone(),
        path: e.traffic.path.clone(),
        rate: e.traffic.rate,
        groups: e.traffic.groups.clone(),
    };
    let session = Session::start(&lab, &e.namespace, &load)?;
    let extra: Option<Arc<dyn rollout_core::report::Sink>> =
        progress.then(|| Arc::new(Progress::for_stderr()) as Arc<dyn rollout_core::report::Sink>);
    let sink = session.sink(extra);
    let cluster = Cluster::new(lab.orchestrator.clone(), e.namespace.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut running: Option<(tokio::task::JoinHandle<RunEnd>, Stopper, String)> = None;
    for (i, action) in e.actions.iter().enumerate() {
        match action {
            Action::Rollout(r) => {
                let strategy = receivers
                    .point_at_receivers(&r.strategy, base, &scratch.0, i)
                    .map_err(|m| bad(format!("{origin}: actions[{i}].rollout: {m}")))?;
                let req = Request {
                    strategy,
                    image: r.image.clone(),
                    app: Some(r.app.clone()),
                    overrides: r.overrides(),
                    ..Default::default()
                };
                let opts = lab.options()?;
                let engine = start::begin(cluster.clone(), &req, opts, sink.clone())
                    .await
                    .map_err(Exit::from)?;
                let stopper = engine.stopper();
                running = Some((tokio::spawn(engine.run()), stopper, r.app.clone()));
            }
            Action::Wait(d) => {
                let d = humantime::parse_duration(d).unwrap_or_default();
                tokio::time::sleep(d).await;
            }
            Action::KillPod(app) => {
                let d = cluster
                    .deployment(app)
                    .await
                    .map_err(|e| failed(e.to_string()))?;
                let selector = rollout_core::cluster::api::selector_query(&d);
                let pods: Api<Pod> = Api::namespaced(lab.client.clone(), &e.namespace);
                let list = pods
                    .list(&kube::api::ListParams::default().labels(&selector))
                    .await
                    .map_err(|e| failed(e.to_string()))?;
                if let Some(name) = list.items.iter().find_map(|p| p.metadata.name.clone()) {
                    pods.delete(&name, &Default::default())
                        .await
                        .map_err(|e| failed(e.to_string()))?;
                    sink.emit(&rollout_core::report::Event::Note {
                        message: format!("killed pod {name}"),
                    });
                }
            }
            Action::Abort(_) => {
                if let Some((_, stopper, _)) = &running {
                    stopper.stop(Stop::Aborted);
                }
            }
            Action::Promote(how) => {
                if let Some((_, _, app)) = &running {
                    start::promote(&cluster, app, how == "full")
                        .await
                        .map_err(Exit::from)?;
                }
            }
            Action::ChangeProfile(text) => {
                let extra =
                    crate::lab::experiment::change_profile(text, &origin, i).map_err(bad)?;
                lab.cluster.change_profiles(extra);
                sink.emit(&rollout_core::report::Event::Note {
                    message: format!("changed the profiles (actions[{i}])"),
                });
            }
            Action::WaitForRollout(_) => {
                if let Some((task, _, _)) = running.take() {
                    let _ = task.await;
                }
            }
        }
    }
    if let Some((task, _, _)) = running.take() {
        let _ = tokio::time::timeout(Duration::from_secs(600), task).await;
    }
    let autoscalers_after = autoscalers(&lab.client, &e.namespace).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut report = session.finish().await;
    report.figures.autoscalers_unchanged =
        (!autoscalers_before.is_empty()).then(|| autoscalers_before == autoscalers_after);
    report.figures.received = receivers.counts();
    if let Some(injected) = lab.cluster.faults_injected() {
        eprintln!("API server faults met by the orchestrator: {injected}");
    }
    lab.cluster.stop().await;
    let checks = e
        .expect
        .iter()
        .filter_map(|x| Expectation::parse(x).ok())
        .map(|x| {
            let (value, holds) = x.check(&report.figures);
            (x, value, holds)
        })
        .collect();
    Ok(Result_ { report, checks })
}

/// A directory of the run's own files, removed when the run ends.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> std::io::Result<ScratchDir> {
        let dir = std::env::temp_dir().join(format!("rollout-experiment-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        Ok(ScratchDir(dir))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The namespace's HorizontalPodAutoscalers as a user would compare them: which objects
/// (name, uid), their labels and annotations, and their spec.
async fn autoscalers(client: &kube::Client, ns: &str) -> Result<Vec<serde_json::Value>, Exit> {
    use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
    let list = Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), ns)
        .list(&Default::default())
        .await
        .map_err(|e| failed(format!("list autoscalers in {ns}: {e}")))?;
    let mut out: Vec<serde_json::Value> = list
        .items
        .into_iter()
        .map(|h| {
            serde_json::json!({
                "name": h.metadata.name, "uid": h.metadata.uid,
                "labels": h.metadata.labels, "annotations": h.metadata.annotations,
                "spec": h.spec,
            })
        })
        .collect();
    out.sort_by_key(|v| v["name"].as_str().unwrap_or_default().to_owned());
    Ok(out)
}

pub async fn run(args: &ExperimentArgs) -> Result<ExitCode, Exit> {
    let result = execute(
        &args.file,
        true,
        Ui {
            serve: args.ui,
            open: args.open,
        },
    )
    .await?;
    let name = args
        .file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("experiment")
        .to_owned();
    let dir = args.report_dir.clone().unwrap_or_else(|| {
        let stamp = jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S").to_string();
        PathBuf::from("rollout-report").join(format!("experiment-{name}-{stamp}"))
    });
    rollout_core::report::run::write(&dir, &result.report)
        .map_err(|e| failed(format!("cannot write the report in {}: {e}", dir.display())))?;
    let mut all = true;
    let mut lines = String::from("\n## Expectations\n\n");
    for (x, value, holds) in &result.checks {
        all &= holds;
        let mark = if *holds { "holds" } else { "FAILS" };
        let line = format!("- {mark}: `{x}` (measured: {value})\n");
        eprint!("{line}");
        lines.push_str(&line);
    }
    let md = dir.join("report.md");
    if let Ok(mut text) = std::fs::read_to_string(&md) {
        text.push_str(&lines);
        let _ = std::fs::write(&md, text);
    }
    eprintln!(
        "{}: {} — report: {}",
        args.file.display(),
        if all {
            "every expectation holds"
        } else {
            "an expectation does not hold"
        },
        md.display()
    );
    Ok(if all { ExitCode::Done } else { ExitCode::Error })
}
