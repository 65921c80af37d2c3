//! The rollout's record: one JSON annotation on the app's Deployment that holds everything
//! needed to resume or roll back from any machine — the strategy file's text, the plan's
//! input, the step reached, and what the app looked like before (template, replicas, Service
//! selector, HTTPRoute rules).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::app::PlanInput;
use crate::cluster::api::annotation;
use crate::spec::Overrides;
use crate::traffic::Routing;

/// Annotation holding the record.
pub const STATE: &str = "rollout.dev/state";
/// Annotation `rollout promote` sets: `next` (past the current pause) or `full` (skip every
/// remaining pause and analysis).
pub const PROMOTE: &str = "rollout.dev/promote";
/// Annotation `rollout abort` sets while a rollout runs elsewhere.
pub const ABORT: &str = "rollout.dev/abort";
/// Annotation with the last rollout's outcome (for `status` and `history`).
pub const LAST: &str = "rollout.dev/last";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Running,
    WaitingForPromotion,
    RollingBack,
}

/// The app before the rollout touched it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Saved {
    pub template: Value,
    pub replicas: i32,
    /// The Deployment's `spec.strategy`.
    pub strategy: Value,
    pub service_selector: Option<BTreeMap<String, String>>,
    pub route_rules: Option<Vec<Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub id: String,
    pub started_at: String,
    pub strategy_text: String,
    pub strategy_origin: String,
    /// Command-line overrides.
    #[serde(default)]
    pub overrides: Overrides,
    pub input: PlanInput,
    /// The step running (or to run next).
    pub step: usize,
    pub phase: Phase,
    pub routing: Routing,
    pub saved: Saved,
    /// Why it is rolling back.
    #[serde(default)]
    pub reason: Option<String>,
    /// The objects this rollout made, with their uids: the only ones it deletes.
    #[serde(default)]
    pub owned: Vec<Owned>,
    /// The last measurement of every gate, so that `rollout status` and `rollout dashboard`
    /// show them from the cluster alone. Bounded ([`Gates::MAX`] entries, summaries cut).
    #[serde(default, skip_serializing_if = "Gates::is_empty")]
    pub gates: Gates,
}

/// The last measurement of each gate, by check name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Gates(pub BTreeMap<String, GateReading>);

/// One gate's last measurement, as the record keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GateReading {
    pub outcome: crate::gate::Outcome,
    pub summary: String,
    #[serde(default)]
    pub figures: BTreeMap<String, f64>,
    /// The plan step that took it; `None` for a background check.
    #[serde(default)]
    pub step: Option<usize>,
    /// When it was taken (RFC 3339).
    pub at: String,
}

impl Gates {
    /// Gates kept: a strategy names a handful; the bound keeps the annotation small whatever
    /// a strategy file says.
    pub const MAX: usize = 32;
    /// Characters of a summary kept.
    const SUMMARY_CHARS: usize = 400;
    /// Figures kept per gate.
    const FIGURES: usize = 24;

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Keeps `m` as its gate's last measurement; a new gate past [`Gates::MAX`] is left out.
    pub fn note(&mut self, step: Option<usize>, m: &crate::gate::Measurement, at: String) {
        if !self.0.contains_key(&m.check) && self.0.len() >= Self::MAX {
            return;
        }
        let summary = if m.summary.chars().count() > Self::SUMMARY_CHARS {
            let mut s: String = m.summary.chars().take(Self::SUMMARY_CHARS - 1).collect();
            s.push('…');
            s
        } else {
            m.summary.clone()
        };
        let figures = m
            .figures
            .iter()
            .filter(|(_, v)| v.is_finite())
            .take(Self::FIGURES)
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        self.0.insert(
            m.check.clone(),
            GateReading {
                outcome: m.outcome,
                summary,
                figures,
                step,
                at,
            },
        );
    }
}

/// An object a rollout made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Owned {
    /// The resource's plural name (`deployments`).
    pub resource: String,
    pub name: String,
    pub uid: String,
}

impl Record {
    /// Notes an object this rollout made (once).
    pub fn own(&mut self, resource: &str, name: &str, uid: &str) {
        if !self
            .owned
            .iter()
            .any(|o| o.resource == resource && o.name == name && o.uid == uid)
        {
            self.owned
                .retain(|o| !(o.resource == resource && o.name == name));
            self.owned.push(Owned {
                resource: resource.to_owned(),
                name: name.to_owned(),
                uid: uid.to_owned(),
            });
        }
    }

    /// The uid of the object of this kind and name the rollout made, if it made one.
    pub fn uid_of(&self, resource: &str, name: &str) -> Option<&str> {
        self.owned
            .iter()
            .find(|o| o.resource == resource && o.name == name)
            .map(|o| o.uid.as_str())
    }
}

/// An annotation that does not hold a record this version can read.
#[derive(Debug, thiserror::Error)]
#[error("annotation {STATE} is not a rollout record")]
pub struct BadRecord(#[source] serde_json::Error);

impl Record {
    pub fn parse(text: &str) -> Result<Record, BadRecord> {
        serde_json::from_str(text).map_err(BadRecord)
    }

    /// Merge patch writing this record on the Deployment.
    pub fn patch(&self) -> Value {
        json!({"metadata": {"annotations": {STATE: serde_json::to_string(self).unwrap_or_default()}}})
    }
}

/// Merge patch removing the record and the control annotations, leaving `last`.
pub fn clear_patch(last: &Value) -> Value {
    json!({"metadata": {"annotations": {
        STATE: null, PROMOTE: null, ABORT: null,
        LAST: last.to_string(),
    }}})
}

/// The record on a Deployment, if any.
pub fn of(d: &k8s_openapi::api::apps::v1::Deployment) -> Option<Result<Record, BadRecord>> {
    annotation(&d.metadata, STATE).map(Record::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_annotation() {
        let r = Record {
            id: "x".into(),
            started_at: "now".into(),
            strategy_text: "strategy: canary\n".into(),
            strategy_origin: "strategies/canary.yaml".into(),
            overrides: Overrides {
                max_pause: Some("1s".parse().expect("duration")),
                ..Overrides::default()
            },
            input: PlanInput {
                namespace: "n".into(),
                app: "web".into(),
                container: "app".into(),
                from_image: "a:1".into(),
                to_image: "a:2".into(),
                replicas: 2,
                service: Some("web".into()),
                ingress: None,
                ingress_is_nginx: false,
                http_route: None,
                metrics: crate::metrics::Access::default(),
                autoscaler: None,
            },
            step: 3,
            phase: Phase::Running,
            routing: Routing::default(),
            saved: Saved {
                template: json!({"spec": {}}),
                replicas: 2,
                strategy: json!({}),
                service_selector: None,
                route_rules: None,
            },
            reason: None,
            owned: vec![Owned {
                resource: "deployments".into(),
                name: "web-canary".into(),
                uid: "u1".into(),
            }],
            gates: Gates::default(),
        };
        let mut with_gates = r.clone();
        with_gates.gates.note(
            Some(2),
            &crate::gate::Measurement::new("smoke", crate::gate::Outcome::Pass, "50/50 ok")
                .figure("requests", 50.0),
            "2026-01-01T00:00:00Z".into(),
        );
        let text = with_gates.patch()["metadata"]["annotations"][STATE]
            .as_str()
            .expect("text")
            .to_owned();
        assert_eq!(Record::parse(&text).expect("parse"), with_gates);
        // A record written before gates were kept still reads.
        assert!(!serde_json::to_string(&r).expect("json").contains("gates"));
        let patch = r.patch();
        let text = patch["metadata"]["annotations"][STATE]
            .as_str()
            .expect("text");
        assert_eq!(Record::parse(text).expect("parse"), r);
        assert!(Record::parse("{}").is_err());
    }

    #[test]
    fn gates_are_bounded() {
        let mut g = Gates::default();
        let long = "x".repeat(2000);
        for i in 0..(Gates::MAX + 5) {
            let mut m = crate::gate::Measurement::new(
                format!("check-{i}"),
                crate::gate::Outcome::Fail,
                long.clone(),
            );
            for f in 0..100 {
                m = m.figure(&format!("f{f}"), f64::from(f));
            }
            m.figures.insert("nan".into(), f64::NAN);
            g.note(None, &m, "t".into());
        }
        assert_eq!(g.0.len(), Gates::MAX);
        for r in g.0.values() {
            assert!(r.summary.chars().count() <= 400);
            assert!(r.figures.len() <= 24);
            assert!(r.figures.values().all(|v| v.is_finite()));
        }
        // A gate already kept is updated even when full.
        g.note(
            None,
            &crate::gate::Measurement::new("check-0", crate::gate::Outcome::Pass, "ok"),
            "t2".into(),
        );
        assert_eq!(g.0["check-0"].outcome, crate::gate::Outcome::Pass);
    }
}
