//! A rollout as data: the steps a strategy turns into, in order, with everything the engine
//! needs to run them and nothing it has to look up. `rollout plan` prints a [`Plan`]; the
//! engine runs one; tests snapshot them.

use std::fmt;

use serde::Serialize;

pub use crate::app::Names;
use crate::spec::{
    Compare, Duration, IntOrPercent, Load, OnInconclusive, Promote, RequestMatch, StrategyKind,
};
use crate::traffic::RouterRef;

/// How the stable Deployment takes the new template.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Update {
    /// `RollingUpdate` with these bounds (or the Deployment's own when `None`).
    Rolling {
        max_surge: Option<IntOrPercent>,
        max_unavailable: Option<IntOrPercent>,
    },
    /// Scale to zero, wait until no old pod runs, then set the template and scale up.
    Recreate,
}

/// How big the new version is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Size {
    /// This many replicas.
    Replicas(i32),
    /// This share (percent) of the stable version's replicas *now* (an autoscaler sizes the
    /// app), with a copy of the app's autoscaler aimed at the new version, its bounds scaled
    /// to the share.
    ShareOfStable(u8),
}

/// Which version the app's Service sends its traffic to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Slot {
    /// The stable Deployment's current pods (pinned on their pod-template-hash).
    Stable,
    /// The new Deployment's pods.
    New,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "step", rename_all = "camelCase")]
pub enum Step {
    /// Add the stable pods' `pod-template-hash` to the Service selector, so that the new
    /// version's pods (which carry the app's labels too) get no traffic through it.
    PinService,
    /// Point the Service selector at one version (changes only the pod-template-hash value).
    SwitchService {
        to: Slot,
    },
    /// Create the new version's Deployment: the stable template with the new image and the
    /// role label.
    CreateNew {
        replicas: i32,
    },
    ScaleNew {
        size: Size,
    },
    /// Wait until the new version's pods are all ready (probe gate).
    WaitNewReady,
    /// Create the Service that selects only the new version.
    CreateNewService,
    /// Send `weight`% of the requests to the new version.
    SetWeight {
        weight: u8,
    },
    /// Send the requests that match to the new version.
    RouteMatches {
        matches: Vec<RequestMatch>,
    },
    /// Mirror `percent`% of the requests to the new version.
    Mirror {
        percent: f64,
    },
    /// Wait (background checks go on).
    Pause {
        duration: Duration,
    },
    /// Wait for `rollout promote`.
    WaitForPromotion,
    /// Run these checks now; fail the rollout if one fails. A check still inconclusive at
    /// `timeout` ends the step as `on_inconclusive` says.
    Analysis {
        checks: Vec<String>,
        timeout: Duration,
        on_inconclusive: OnInconclusive,
        /// Synthetic load sent while the checks run.
        #[serde(skip_serializing_if = "Option::is_none")]
        load: Option<Load>,
    },
    /// Compare the new version with the stable one for `duration` (on to `max_duration`
    /// while inconclusive), then decide per `promote`.
    Experiment {
        duration: Duration,
        max_duration: Duration,
        compare: Compare,
        promote: Promote,
        on_inconclusive: OnInconclusive,
        /// Synthetic load sent while the versions are compared.
        #[serde(skip_serializing_if = "Option::is_none")]
        load: Option<Load>,
    },
    /// The stable Deployment takes the new template (and its replica count back, unless an
    /// autoscaler sizes it: `None`).
    UpdateStable {
        update: Update,
        replicas: Option<i32>,
    },
    /// All traffic back on the stable Deployment's pods: weights to 0, matches and mirrors
    /// removed, temporary Ingress removed, the Service unpinned.
    RestoreTraffic,
    /// Delete the temporary Deployment and Service; wait until their pods are gone.
    RemoveNew,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::PinService => write!(f, "pin the Service to the stable pods"),
            Step::SwitchService { to: Slot::New } => {
                write!(f, "switch the Service to the new version")
            }
            Step::SwitchService { to: Slot::Stable } => {
                write!(f, "switch the Service to the stable version")
            }
            Step::CreateNew { replicas } => {
                write!(f, "create the new version ({})", replicas_text(*replicas))
            }
            Step::ScaleNew {
                size: Size::Replicas(replicas),
            } => write!(f, "scale the new version to {replicas}"),
            Step::ScaleNew {
                size: Size::ShareOfStable(share),
            } => write!(
                f,
                "scale the new version to {share}% of the stable version's replicas, autoscaled in that share"
            ),
            Step::WaitNewReady => write!(f, "wait until the new pods are ready"),
            Step::CreateNewService => write!(f, "create the Service of the new version"),
            Step::SetWeight { weight } => write!(f, "set weight {weight}%"),
            Step::RouteMatches { matches } => {
                let m: Vec<String> = matches.iter().map(describe_match).collect();
                write!(f, "route {} to the new version", m.join(" or "))
            }
            Step::Mirror { percent } => write!(f, "mirror {percent}% of requests"),
            Step::Pause { duration } => write!(f, "pause {duration}"),
            Step::WaitForPromotion => write!(f, "wait for `rollout promote`"),
            Step::Analysis { checks, .. } => write!(f, "analysis: {}", checks.join(", ")),
            Step::Experiment {
                duration, promote, ..
            } => {
                let p = match promote {
                    Promote::IfNoWorse => "promote if no worse",
                    Promote::Always => "then promote",
                    Promote::Never => "then roll back",
                };
                write!(f, "compare with stable for {duration}, {p}")
            }
            Step::UpdateStable {
                update: Update::Recreate,
                replicas,
            } => write!(
                f,
                "recreate: scale to 0, wait until no old pod runs, new template, {}",
                match replicas {
                    Some(n) => replicas_text(*n),
                    None => "back to the size it had".to_owned(),
                }
            ),
            Step::UpdateStable {
                update:
                    Update::Rolling {
                        max_surge,
                        max_unavailable,
                    },
                replicas,
            } => {
                write!(
                    f,
                    "update the app's Deployment to the new template ({}",
                    match replicas {
                        Some(n) => replicas_text(*n),
                        None => "replicas left to its autoscaler".to_owned(),
                    }
                )?;
                if let (Some(s), Some(u)) = (max_surge, max_unavailable) {
                    write!(f, ", maxSurge {s}, maxUnavailable {u}")?;
                }
                write!(f, ")")
            }
            Step::RestoreTraffic => write!(
                f,
                "all traffic to the app's Deployment, temporary routes removed"
            ),
            Step::RemoveNew => write!(f, "remove the temporary objects"),
        }
    }
}

fn replicas_text(n: i32) -> String {
    if n == 1 {
        "1 replica".into()
    } else {
        format!("{n} replicas")
    }
}

pub fn describe_match(m: &RequestMatch) -> String {
    use crate::spec::{MatchOn, MatchValue};
    let what = match &m.on {
        MatchOn::Header(h) => format!("header {h}"),
        MatchOn::Cookie(c) => format!("cookie {c}"),
    };
    match &m.value {
        MatchValue::Exact(v) => format!("{what}={v}"),
        MatchValue::Regex(r) => format!("{what}~/{r}/"),
    }
}

/// A rollout, ready to run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub namespace: String,
    pub strategy: StrategyKind,
    /// Where the strategy was read from.
    pub origin: String,
    pub router: RouterRef,
    pub container: String,
    pub from_image: String,
    pub to_image: String,
    /// Replicas of the stable Deployment when the rollout began.
    pub replicas: i32,
    pub names: Names,
    pub steps: Vec<Step>,
    /// Checks that run from the first step to the end.
    pub background: Vec<String>,
    /// How per-version request metrics are read (for comparisons), or why they cannot be.
    pub metrics: crate::metrics::Access,
    /// What the user should know before running it (approximate weights, skipped checks).
    pub notes: Vec<String>,
}

impl Plan {
    /// Whether the Service is pinned during this rollout (then it must be unpinned at the end).
    pub fn pins_service(&self) -> bool {
        self.steps.iter().any(|s| matches!(s, Step::PinService))
    }

    /// Whether this plan creates a temporary Deployment.
    pub fn creates_new(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s, Step::CreateNew { .. }))
    }

    /// Human-readable text, as `rollout plan` prints it.
    pub fn render(&self) -> String {
        use fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} {}/{}: {} → {} (container {})",
            self.strategy,
            self.namespace,
            self.names.deployment,
            self.from_image,
            self.to_image,
            self.container
        );
        let _ = writeln!(out, "from: {}", self.origin);
        let _ = writeln!(out, "traffic: {}", self.router.summary());
        if let Some(observer) = self.router.observer() {
            let _ = writeln!(
                out,
                "per-version metrics: {}",
                self.metrics.describe(observer.name())
            );
        }
        if !self.background.is_empty() {
            let _ = writeln!(out, "background checks: {}", self.background.join(", "));
        }
        for (i, step) in self.steps.iter().enumerate() {
            let _ = writeln!(out, "{:>3}. {step}", i + 1);
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }
}
