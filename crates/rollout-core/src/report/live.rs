//! A rollout as anyone can see it from the cluster alone, wherever it was started: the record
//! on the app's Deployment, the Lease of the process running it, the pods of each version, the
//! routes in front of them and the gates' last measurements. `rollout status` prints it,
//! `rollout dashboard` serves it; both read it with [`gather`], a person reads it with
//! [`render_lines`].
//!
//! [`TrafficMeter`] adds what the cluster's objects do not hold: the requests each version
//! served, read from the same metrics source the rollout's comparisons read.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use serde::Serialize;
use serde_json::Value;

use crate::cluster::api::annotation;
use crate::cluster::httproute::HttpRoute;
use crate::cluster::lease;
use crate::cluster::{Cluster, ClusterError};
use crate::engine::record::{self, Record};
use crate::gate::Outcome;
use crate::metrics::{Counters, Source};
use crate::plan::Plan;
use crate::report::Finish;

/// A holder that has not renewed its Lease for this long is shown as not renewing: it renews
/// every [`lease::RENEW_EVERY`], and stops acting itself at [`lease::RENEW_DEADLINE`].
pub const STALE_AFTER: Duration = Duration::from_secs(2 * lease::RENEW_EVERY.as_secs());

/// One app and its rollout, as the cluster shows them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppView {
    pub namespace: String,
    pub app: String,
    /// The image of the app's Deployment now.
    pub image: Option<String>,
    /// The rollout recorded on it, if one runs (or stopped without closing).
    pub rollout: Option<Running>,
    /// A record that cannot be read, and why.
    pub problem: Option<String>,
    /// The last rollout's outcome, from the `rollout.dev/last` annotation.
    pub last: Option<Last>,
    /// Who holds the rollout's Lease, when anyone does.
    pub holder: Option<HolderView>,
    /// Pods by version, the stable version first.
    pub versions: Vec<VersionView>,
    /// What sends the users' requests where.
    pub routes: Vec<RouteView>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Running {
    pub id: String,
    pub strategy: String,
    pub router: String,
    pub from_image: String,
    pub to_image: String,
    pub started_at: String,
    /// The step running (0-based).
    pub step: usize,
    /// Every step of the plan, as `rollout plan` words it.
    pub steps: Vec<String>,
    /// `running`, `waiting-for-promotion`, `rolling-back`.
    pub phase: String,
    /// Share of requests the record routes to the new version, percent.
    pub weight: u8,
    /// Request matches sent to the new version whatever the weight.
    pub matches: Vec<String>,
    pub mirror_percent: Option<f64>,
    pub reason: Option<String>,
    pub gates: Vec<GateView>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GateView {
    pub name: String,
    pub outcome: Outcome,
    pub summary: String,
    pub figures: BTreeMap<String, f64>,
    pub step: Option<usize>,
    pub at: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Last {
    /// `done`, `rolled-back`, ...
    pub result: String,
    pub image: Option<String>,
    pub from: Option<String>,
    pub strategy: Option<String>,
    pub reason: Option<String>,
    pub at: Option<String>,
    /// The exit code of the run that ended this way.
    pub exit_code: Option<u8>,
}

impl Last {
    pub fn parse(text: &str) -> Option<Last> {
        let v: Value = serde_json::from_str(text).ok()?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let result = s("result")?;
        Some(Last {
            exit_code: Finish::from_name(&result).map(|f| f.exit_code().code()),
            result,
            image: s("image"),
            from: s("from"),
            strategy: s("strategy"),
            reason: s("reason"),
            at: s("at"),
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HolderView {
    pub identity: String,
    pub since_renewal_seconds: f64,
    pub remaining_seconds: f64,
    /// Not renewed for longer than [`STALE_AFTER`]: the process may be gone.
    pub stale: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionView {
    /// The image its pods run.
    pub version: String,
    /// `stable` or `new` during a rollout.
    pub role: Option<String>,
    pub deployment: String,
    pub ready: u32,
    pub pods: Vec<PodView>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodView {
    pub name: String,
    pub ready: bool,
    pub restarts: i32,
    pub age_seconds: f64,
    /// `Running`, `Pending`, or a container's waiting reason (`CrashLoopBackOff`).
    pub state: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteView {
    /// `Ingress`, `HTTPRoute`, `Service`.
    pub kind: String,
    pub name: String,
    /// What it does now: `canary weight 20%`, `web 80, web-canary 20`.
    pub text: String,
    /// Weight by backend Service, when the object says it.
    pub weights: BTreeMap<String, u32>,
}

/// The plan of a recorded rollout, as the engine that runs it planned it.
pub fn plan_of(r: &Record) -> Option<Plan> {
    let spec = crate::spec::parse(&r.strategy_text, &r.strategy_origin)
        .ok()?
        .with_overrides(&r.overrides)
        .ok()?;
    crate::strategy::plan(&spec, &r.input).ok()
}

/// The apps of the namespace worth showing: Deployments with a rollout recorded or a last
/// outcome, not a rollout's own temporary ones.
pub async fn apps(cluster: &Cluster) -> Result<Vec<String>, ClusterError> {
    Ok(cluster
        .list::<Deployment>(None)
        .await?
        .into_iter()
        .filter(|d| !crate::labels::made_by_rollout(&d.metadata))
        .filter(|d| {
            annotation(&d.metadata, record::STATE).is_some()
                || annotation(&d.metadata, record::LAST).is_some()
        })
        .filter_map(|d| d.metadata.name)
        .collect())
}

fn image_of(p: &Pod, container: Option<&str>) -> String {
    p.spec
        .as_ref()
        .and_then(|s| {
            s.containers
                .iter()
                .find(|c| container.is_none_or(|n| c.name == n))
                .or(s.containers.first())
        })
        .and_then(|c| c.image.clone())
        .unwrap_or_else(|| "?".into())
}

fn pod_view(p: &Pod, now: jiff::Timestamp) -> PodView {
    let status = p.status.as_ref();
    let ready = p.metadata.deletion_timestamp.is_none()
        && status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let containers = status.and_then(|s| s.container_statuses.as_ref());
    let restarts = containers
        .map(|cs| cs.iter().map(|c| c.restart_count).sum())
        .unwrap_or(0);
    let waiting = containers.and_then(|cs| {
        cs.iter()
            .find_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone())
    });
    let state = if p.metadata.deletion_timestamp.is_some() {
        "Terminating".to_owned()
    } else {
        waiting
            .or_else(|| status.and_then(|s| s.phase.clone()))
            .unwrap_or_else(|| "Pending".into())
    };
    let age_seconds = p
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| now.duration_since(t.0).as_secs_f64().max(0.0))
        .unwrap_or(0.0);
    PodView {
        name: p.metadata.name.clone().unwrap_or_default(),
        ready,
        restarts,
        age_seconds,
        state,
    }
}

/// Adds the pods of `d` to `versions`, grouped by the image of `container`.
fn add_pods(
    versions: &mut Vec<VersionView>,
    deployment: &str,
    pods: &[Pod],
    container: Option<&str>,
    now: jiff::Timestamp,
) {
    let mut sorted: Vec<&Pod> = pods.iter().collect();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    for p in sorted {
        let version = image_of(p, container);
        let view = pod_view(p, now);
        let slot = match versions
            .iter_mut()
            .position(|v| v.version == version && v.deployment == deployment)
        {
            Some(i) => &mut versions[i],
            None => {
                versions.push(VersionView {
                    version,
                    deployment: deployment.to_owned(),
                    ..Default::default()
                });
                let last = versions.len() - 1;
                &mut versions[last]
            }
        };
        slot.ready += u32::from(view.ready);
        slot.pods.push(view);
    }
}

fn int(v: Option<&Value>) -> u32 {
    v.and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(1)
}

/// What the objects in front of the app say about where requests go.
async fn routes(c: &Cluster, plan: &Plan) -> Vec<RouteView> {
    let mut out = Vec::new();
    let names = &plan.names;
    if let Some(name) = &names.http_route
        && let Ok(Some(r)) = c.get_opt::<HttpRoute>(name).await
    {
        let mut weights = BTreeMap::new();
        for rule in &r.spec.rules {
            for b in rule
                .get("backendRefs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(n) = b.get("name").and_then(Value::as_str) {
                    *weights.entry(n.to_owned()).or_insert(0) += int(b.get("weight"));
                }
            }
        }
        let text = weights
            .iter()
            .map(|(n, w)| format!("{n} {w}"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push(RouteView {
            kind: "HTTPRoute".into(),
            name: name.clone(),
            text: format!("backends (weight): {text}"),
            weights,
        });
    }
    if let Some(name) = &names.new_ingress
        && let Ok(Some(i)) = c.get_opt::<Ingress>(name).await
    {
        const P: &str = "nginx.ingress.kubernetes.io/";
        let a = |k: &str| annotation(&i.metadata, &format!("{P}{k}")).map(str::to_owned);
        let weight: u32 = a("canary-weight").and_then(|w| w.parse().ok()).unwrap_or(0);
        let mut text = format!("canary weight {weight}%");
        if let Some(h) = a("canary-by-header") {
            let v = a("canary-by-header-value")
                .or_else(|| a("canary-by-header-pattern"))
                .unwrap_or_else(|| "always".into());
            text.push_str(&format!(", header {h}: {v}"));
        }
        if let Some(k) = a("canary-by-cookie") {
            text.push_str(&format!(", cookie {k}"));
        }
        let mut weights = BTreeMap::new();
        if let Some(s) = &names.service {
            weights.insert(s.clone(), 100u32.saturating_sub(weight));
        }
        if let Some(s) = &names.new_service {
            weights.insert(s.clone(), weight);
        }
        out.push(RouteView {
            kind: "Ingress".into(),
            name: name.clone(),
            text,
            weights,
        });
    }
    if let Some(name) = &names.service
        && let Ok(Some(s)) = c.get_opt::<Service>(name).await
    {
        let hash = s
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .and_then(|sel| sel.get(crate::labels::HASH_LABEL).cloned());
        out.push(RouteView {
            kind: "Service".into(),
            name: name.clone(),
            text: match hash {
                Some(h) => format!("pinned to pod-template-hash {h}"),
                None => "selects every pod of the app".into(),
            },
            weights: BTreeMap::new(),
        });
    }
    out
}

/// Everything about `app` the cluster shows now.
pub async fn gather(c: &Cluster, app: &str) -> Result<AppView, ClusterError> {
    let d = c.deployment(app).await?;
    let now = jiff::Timestamp::now();
    let mut view = AppView {
        namespace: c.namespace.clone(),
        app: app.to_owned(),
        image: d
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|s| s.containers.first())
            .and_then(|c| c.image.clone()),
        last: annotation(&d.metadata, record::LAST).and_then(Last::parse),
        ..Default::default()
    };
    let record = match record::of(&d) {
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => {
            view.problem = Some(crate::error::chain(&e));
            None
        }
        None => None,
    };
    let container = record.as_ref().map(|r| r.input.container.clone());
    add_pods(
        &mut view.versions,
        app,
        &c.pods_of(&d).await?,
        container.as_deref(),
        now,
    );
    if let Some(held) = lease::current(c, app).await? {
        view.holder = Some(HolderView {
            identity: held.holder,
            since_renewal_seconds: held.since_renewal.as_secs_f64(),
            remaining_seconds: held.remaining.as_secs_f64(),
            stale: held.since_renewal > STALE_AFTER,
        });
    }
    let Some(r) = record else {
        return Ok(view);
    };
    let plan = plan_of(&r);
    if let Some(plan) = &plan {
        let new = &plan.names.new_deployment;
        if new != app
            && let Ok(Some(nd)) = c.get_opt::<Deployment>(new).await
        {
            add_pods(
                &mut view.versions,
                new,
                &c.pods_of(&nd).await?,
                container.as_deref(),
                now,
            );
        }
        view.routes = routes(c, plan).await;
    }
    for v in &mut view.versions {
        v.role = if v.version == r.input.to_image {
            Some("new".into())
        } else if v.version == r.input.from_image {
            Some("stable".into())
        } else {
            None
        };
    }
    // The stable version first, then the new one, then anything else.
    view.versions.sort_by_key(|v| match v.role.as_deref() {
        Some("stable") => 0,
        Some("new") => 1,
        _ => 2,
    });
    let phase = serde_json::to_value(r.phase)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    view.rollout = Some(Running {
        id: r.id.clone(),
        strategy: plan
            .as_ref()
            .map(|p| p.strategy.to_string())
            .unwrap_or_else(|| r.strategy_origin.clone()),
        router: plan
            .as_ref()
            .map(|p| p.router.to_string())
            .unwrap_or_default(),
        from_image: r.input.from_image.clone(),
        to_image: r.input.to_image.clone(),
        started_at: r.started_at.clone(),
        step: r.step,
        steps: plan
            .as_ref()
            .map(|p| p.steps.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
        phase,
        weight: r.routing.weight,
        matches: r
            .routing
            .matches
            .iter()
            .map(|m| match (&m.header, &m.cookie) {
                (Some(h), _) => format!("header {h}: {}", m.value),
                (None, Some(k)) => format!("cookie {k}={}", m.value),
                (None, None) => m.value.clone(),
            })
            .collect(),
        mirror_percent: r.routing.mirror_percent,
        reason: r.reason.clone(),
        gates: r
            .gates
            .0
            .iter()
            .map(|(name, g)| GateView {
                name: name.clone(),
                outcome: g.outcome,
                summary: g.summary.clone(),
                figures: g.figures.clone(),
                step: g.step,
                at: g.at.clone(),
            })
            .collect(),
    });
    Ok(view)
}

/// What one version served between two reads of the metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Served {
    pub version: String,
    pub requests: u64,
    pub errors: u64,
    /// 95th percentile of the request duration, from the histogram's buckets.
    pub p95_ms: Option<f64>,
}

/// Reads how many requests each version served, from the metrics source the rollout's
/// comparisons read (its record's `input.metrics`), between one call and the next.
pub struct TrafficMeter {
    source: Box<dyn Source>,
    observer: &'static dyn crate::metrics::observer::Observer,
    namespace: String,
    /// (version, Service) of the stable and the new version.
    services: Vec<(String, String)>,
    before: Option<Vec<Counters>>,
}

impl TrafficMeter {
    /// A meter for the rollout `r`, when its metrics can be read.
    pub fn of(r: &Record, client: &kube::Client) -> Option<TrafficMeter> {
        let plan = plan_of(r)?;
        let source = crate::metrics::source::open(&plan.metrics, client)?;
        let observer = plan.router.observer()?;
        let services = vec![
            (plan.from_image.clone(), plan.names.service.clone()?),
            (plan.to_image.clone(), plan.names.new_service.clone()?),
        ];
        Some(TrafficMeter {
            source,
            observer,
            namespace: plan.namespace.clone(),
            services,
            before: None,
        })
    }

    /// What each version served since the last call (`None` on the first call, and when the
    /// metrics cannot be read).
    pub async fn read(&mut self, http: &reqwest::Client) -> Option<Vec<Served>> {
        let names: Vec<&str> = self.services.iter().map(|(_, s)| s.as_str()).collect();
        let now = self
            .source
            .counters(http, self.observer, &self.namespace, &names, 60)
            .await
            .ok()?;
        if !self.source.totals() {
            // A range source (Prometheus) gives increases, not totals: no difference to take.
            return None;
        }
        let before = self.before.replace(now.clone())?;
        Some(
            self.services
                .iter()
                .zip(now.iter().zip(before.iter()))
                .map(|((version, _), (n, b))| {
                    let d = n.since(Some(b));
                    Served {
                        version: version.clone(),
                        requests: d.requests,
                        errors: d.errors,
                        p95_ms: quantile_ms(&d.buckets, 0.95),
                    }
                })
                .collect(),
        )
    }
}

/// The `q` quantile of a cumulative histogram, in milliseconds, interpolated within its
/// bucket as Prometheus's `histogram_quantile` does; `None` without observations.
pub fn quantile_ms(buckets: &[(f64, u64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut lower = (0.0, 0u64);
    for &(le, count) in buckets {
        if count as f64 >= rank {
            if le.is_infinite() {
                // Beyond the last finite bound: that bound is all that is known.
                return Some(lower.0 * 1000.0);
            }
            let in_bucket = (count - lower.1) as f64;
            let frac = if in_bucket > 0.0 {
                (rank - lower.1 as f64) / in_bucket
            } else {
                1.0
            };
            return Some((lower.0 + (le - lower.0) * frac) * 1000.0);
        }
        lower = (le, count);
    }
    None
}

/// `1m 5s`, `42s`, `3h 2m`: an age as `kubectl get` shows it, to the largest two units.
pub fn age(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{}s", s / 60, s % 60),
        3600..86400 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
    }
}

fn outcome_marker(o: Outcome) -> char {
    match o {
        Outcome::Pass => '✓',
        Outcome::Fail => '✗',
        Outcome::Inconclusive => '?',
        Outcome::Error => '!',
    }
}

/// The view as lines for a terminal or a log, each at most `width` characters.
pub fn render_lines(v: &AppView, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let title = format!(
        "{}/{}: {}",
        v.namespace,
        v.app,
        v.image.as_deref().unwrap_or("?")
    );
    lines.push(title);
    if let Some(p) = &v.problem {
        lines.push(format!("  record unreadable: {p}"));
    }
    match &v.rollout {
        Some(r) => {
            lines.push(format!(
                "  rollout {} → {} with {} via {}, {} since {}",
                r.from_image, r.to_image, r.strategy, r.router, r.phase, r.started_at
            ));
            match &v.holder {
                Some(h) if h.stale => lines.push(format!(
                    "  held by {}, NOT RENEWED for {:.0}s (expires in {:.0}s; then `rollout resume` or `rollout abort` takes over)",
                    h.identity, h.since_renewal_seconds, h.remaining_seconds
                )),
                Some(h) => lines.push(format!(
                    "  held by {} (renewed {:.0}s ago)",
                    h.identity, h.since_renewal_seconds
                )),
                None => lines.push(
                    "  held by no live process: `rollout resume` goes on, `rollout abort` rolls back"
                        .into(),
                ),
            }
            if let Some(reason) = &r.reason {
                lines.push(format!("  reason: {reason}"));
            }
            lines.push("  steps:".into());
            let total = r.steps.len();
            let w = total.to_string().len();
            for (i, s) in r.steps.iter().enumerate() {
                let mark = match i.cmp(&r.step) {
                    std::cmp::Ordering::Less => '✓',
                    std::cmp::Ordering::Equal => '▶',
                    std::cmp::Ordering::Greater => '·',
                };
                lines.push(format!("    {mark} {:>w$}/{total} {s}", i + 1));
            }
            let mut routing = format!("  weight {}% to {}", r.weight, r.to_image);
            if !r.matches.is_empty() {
                routing.push_str(&format!("; always for {}", r.matches.join(" or ")));
            }
            if let Some(m) = r.mirror_percent {
                routing.push_str(&format!("; mirroring {m}%"));
            }
            lines.push(routing);
        }
        None => {
            let last = match &v.last {
                Some(l) => format!(
                    "{} {} ({}){}",
                    l.result,
                    l.image.as_deref().unwrap_or("?"),
                    l.strategy.as_deref().unwrap_or("?"),
                    l.reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
                None => "none".into(),
            };
            lines.push(format!("  no rollout running; last: {last}"));
        }
    }
    if !v.routes.is_empty() {
        lines.push("  routes:".into());
        for r in &v.routes {
            lines.push(format!("    {} {}: {}", r.kind, r.name, r.text));
        }
    }
    lines.push("  versions:".into());
    for ver in &v.versions {
        let role = ver
            .role
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        lines.push(format!(
            "    {}{role}: {}/{} ready — Deployment {}",
            ver.version,
            ver.ready,
            ver.pods.len(),
            ver.deployment
        ));
        for p in &ver.pods {
            lines.push(format!(
                "      {} {} {} restarts {} age {}",
                if p.ready { '✓' } else { '·' },
                p.name,
                p.state,
                p.restarts,
                age(p.age_seconds)
            ));
        }
    }
    if let Some(r) = &v.rollout
        && !r.gates.is_empty()
    {
        lines.push("  gates (last measurement):".into());
        let nw = r
            .gates
            .iter()
            .map(|g| g.name.chars().count())
            .max()
            .unwrap_or(0);
        for g in &r.gates {
            lines.push(format!(
                "    {} {:<nw$}  {} — {}",
                outcome_marker(g.outcome),
                g.name,
                g.outcome,
                g.summary
            ));
        }
    }
    lines
        .into_iter()
        .map(|l| {
            if l.chars().count() <= width.max(2) {
                l
            } else {
                let mut s: String = l.chars().take(width.max(2) - 1).collect();
                s.push('…');
                s
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> AppView {
        AppView {
            namespace: "demo".into(),
            app: "web".into(),
            image: Some("web:v1".into()),
            rollout: Some(Running {
                id: "x".into(),
                strategy: "canary".into(),
                router: "ingress-nginx".into(),
                from_image: "web:v1".into(),
                to_image: "web:v2".into(),
                started_at: "2026-01-01T00:00:00Z".into(),
                step: 1,
                steps: vec![
                    "deploy the canary".into(),
                    "set weight 20%".into(),
                    "pause".into(),
                ],
                phase: "running".into(),
                weight: 20,
                gates: vec![GateView {
                    name: "smoke".into(),
                    outcome: Outcome::Pass,
                    summary: "20/20 ok".into(),
                    figures: BTreeMap::new(),
                    step: Some(1),
                    at: "t".into(),
                }],
                ..Default::default()
            }),
            holder: Some(HolderView {
                identity: "me@here (pid 1)".into(),
                since_renewal_seconds: 30.0,
                remaining_seconds: 0.0,
                stale: true,
            }),
            versions: vec![VersionView {
                version: "web:v1".into(),
                role: Some("stable".into()),
                deployment: "web".into(),
                ready: 1,
                pods: vec![PodView {
                    name: "web-1".into(),
                    ready: true,
                    restarts: 2,
                    age_seconds: 75.0,
                    state: "Running".into(),
                }],
            }],
            ..Default::default()
        }
    }

    #[test]
    fn lines_show_steps_pods_gates_and_a_stale_holder() {
        let lines = render_lines(&view(), 200);
        let text = lines.join("\n");
        for want in [
            "    ✓ 1/3 deploy the canary",
            "    ▶ 2/3 set weight 20%",
            "    · 3/3 pause",
            "NOT RENEWED for 30s",
            "web:v1 (stable): 1/1 ready",
            "      ✓ web-1 Running restarts 2 age 1m15s",
            "    ✓ smoke  pass — 20/20 ok",
            "  weight 20% to web:v2",
        ] {
            assert!(text.contains(want), "no {want:?} in\n{text}");
        }
        assert!(
            render_lines(&view(), 20)
                .iter()
                .all(|l| l.chars().count() <= 20)
        );
    }

    #[test]
    fn quantiles_from_buckets() {
        let b = [(0.01, 50), (0.1, 90), (1.0, 100), (f64::INFINITY, 100)];
        let p95 = quantile_ms(&b, 0.95).unwrap_or_default();
        assert!((p95 - 550.0).abs() < 1e-6, "{p95}");
        assert_eq!(quantile_ms(&[(0.1, 0)], 0.95), None);
        assert_eq!(quantile_ms(&[], 0.95), None);
    }

    #[test]
    fn last_outcome_and_its_exit_code() {
        let l = Last::parse(r#"{"result":"rolled-back","image":"web:v2","reason":"x"}"#)
            .unwrap_or_default();
        assert_eq!(l.result, "rolled-back");
        assert_eq!(l.exit_code, Some(Finish::RolledBack.exit_code().code()));
        assert!(Last::parse("not json").is_none());
    }
}
