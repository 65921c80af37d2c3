//! Experiment files: a cluster, an app, user traffic, a sequence of actions (rollouts, waits,
//! killed pods, aborts, promotions) and expectations on what the users saw.
//!
//! ```yaml
//! description: A canary catches a regression only real users hit.
//! cluster: { speed: 10 }               # also `profiles:` and `faults:` (YAML text, the formats
//!                                      # of `rollout sim up --profile` and `--faults`)
//! manifests: [builtin:microblog]     # or paths (files, directories) relative to this file
//! namespace: microblog
//! traffic: { host: microblog.example.local, path: /explore, rate: 50 }
//! actions:
//!   - rollout: { strategy: canary, image: v2-regression, app: microblog, maxPause: 3s }
//!   - wait: 2s
//!   - killPod: microblog
//!   - changeProfile: |
//!       "*:v2-regression": { latency: 200ms, errorRatio: 0.2 }
//! expect:
//!   - failed_percent < 5
//!   - outcome == rolled-back
//! ```

use std::fmt;

use serde::Deserialize;

use rollout_core::report::data::RunFigures;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Experiment {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub cluster: ClusterSpec,
    pub manifests: Vec<String>,
    pub namespace: String,
    pub traffic: TrafficSpec,
    /// Webhook receivers started on loopback for the run, by name (see
    /// [`super::receivers`]).
    #[serde(default)]
    pub receivers: std::collections::BTreeMap<String, super::receivers::ReceiverSpec>,
    pub actions: Vec<Action>,
    #[serde(default)]
    pub expect: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterSpec {
    #[serde(default = "default_speed")]
    pub speed: f64,
    /// Image behaviours (the format of `rollout sim up --profile`) on top of the built-in ones.
    #[serde(default)]
    pub profiles: Option<String>,
    /// Faults the API server injects into the orchestrator's requests (the format of
    /// `rollout sim up --faults`); the experiment's own requests are spared.
    #[serde(default)]
    pub faults: Option<String>,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            speed: default_speed(),
            profiles: None,
            faults: None,
        }
    }
}

fn default_speed() -> f64 {
    10.0
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TrafficSpec {
    pub host: String,
    #[serde(default = "default_path")]
    pub path: String,
    #[serde(default = "default_rate")]
    pub rate: f64,
    /// `10%:header:X-Variant=b`, `5%:cookie:canary=always`.
    #[serde(default)]
    pub groups: Vec<String>,
}

fn default_path() -> String {
    "/".into()
}

fn default_rate() -> f64 {
    50.0
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum Action {
    /// Start a rollout (it runs while the next actions happen).
    Rollout(RolloutAction),
    /// Wait this long (`2s`, `500ms`).
    Wait(String),
    /// Delete one pod of this Deployment.
    KillPod(String),
    /// Roll back the running rollout.
    Abort(bool),
    /// End the current pause of the running rollout (`full`: skip all that is left).
    Promote(String),
    /// Wait until the running rollout has ended.
    WaitForRollout(bool),
    /// Change what images do from now on, in the format of `cluster.profiles`, on top of the
    /// profiles so far: running pods answer by the new latency, error ratio, paths and
    /// readiness at once (a dependency that degrades under load, say).
    ChangeProfile(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RolloutAction {
    pub strategy: String,
    pub image: String,
    pub app: String,
    #[serde(default)]
    pub max_pause: Option<rollout_core::spec::Duration>,
    #[serde(default)]
    pub analysis_interval: Option<rollout_core::spec::Duration>,
    #[serde(default)]
    pub duration: Option<rollout_core::spec::Duration>,
    #[serde(default)]
    pub no_pause: bool,
    #[serde(default)]
    pub auto_promote: bool,
}

impl RolloutAction {
    /// The strategy-file values the action replaces.
    pub fn overrides(&self) -> rollout_core::spec::Overrides {
        rollout_core::spec::Overrides {
            max_pause: self.max_pause,
            analysis_interval: self.analysis_interval,
            duration: self.duration,
            no_pause: self.no_pause,
            auto_promote: self.auto_promote,
            ..Default::default()
        }
    }
}

pub fn parse(text: &str, origin: &str) -> Result<Experiment, String> {
    let e: Experiment = serde_saphyr::from_str(text).map_err(|e| format!("{origin}: {e}"))?;
    if !(e.cluster.speed.is_finite() && e.cluster.speed > 0.0) {
        return Err(format!(
            "{origin}: cluster.speed: expected a positive number"
        ));
    }
    if let Some(text) = &e.cluster.faults {
        kubesim::api::faults::FaultProfile::from_yaml(text, &format!("{origin}: cluster.faults"))
            .map_err(|e| e.to_string())?;
    }
    for (name, r) in &e.receivers {
        if !(100..=599).contains(&r.answer) {
            return Err(format!(
                "{origin}: receivers.{name}.answer: expected an HTTP status (100-599), got {}",
                r.answer
            ));
        }
        if !(r.replaces.starts_with("http://") || r.replaces.starts_with("https://")) {
            return Err(format!(
                "{origin}: receivers.{name}.replaces: expected the http(s) URL the strategy file names, got {:?}",
                r.replaces
            ));
        }
    }
    for (i, x) in e.expect.iter().enumerate() {
        let x = Expectation::parse(x).map_err(|m| format!("{origin}: expect[{i}]: {m}"))?;
        if let Some(name) = x.name.strip_prefix(RECEIVED)
            && !e.receivers.contains_key(name)
        {
            return Err(format!(
                "{origin}: expect[{i}]: no receiver named {name:?} under `receivers`"
            ));
        }
    }
    for (i, a) in e.actions.iter().enumerate() {
        match a {
            Action::Wait(d) => {
                humantime::parse_duration(d).map_err(|_| {
                    format!("{origin}: actions[{i}].wait: expected a duration like 2s, got {d:?}")
                })?;
            }
            Action::ChangeProfile(text) => {
                change_profile(text, origin, i)?;
            }
            _ => {}
        }
    }
    Ok(e)
}

/// The profiles of a `changeProfile` action; errors name the action.
pub fn change_profile(
    text: &str,
    origin: &str,
    index: usize,
) -> Result<kubesim::node::behaviour::Profiles, String> {
    kubesim::node::behaviour::Profiles::from_yaml(
        text,
        &format!("{origin}: actions[{index}].changeProfile"),
    )
    .map_err(|e| e.to_string())
}

/// `NAME OP VALUE`, e.g. `failed_percent < 1`, `outcome == rolled-back`.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    pub name: String,
    pub op: String,
    pub value: String,
}

/// What an expectation can be about.
pub const NAMES: [&str; 12] = [
    "requests",
    "failed_requests",
    "failed_percent",
    "downtime_seconds",
    "served_by_new",
    "seconds",
    "peak_pods",
    "detect_seconds",
    "rollback_seconds",
    "outcome",
    "rolled_back",
    "autoscalers_unchanged",
];

/// `received:NAME`: requests the receiver of that name got.
const RECEIVED: &str = "received:";

/// `peak_ready:VERSION`: the most ready pods of that version at once.
const PEAK_READY: &str = "peak_ready:";

const OPS: [&str; 6] = ["<=", ">=", "==", "!=", "<", ">"];

impl Expectation {
    pub fn parse(text: &str) -> Result<Expectation, String> {
        let text = text.trim();
        let (pos, op) = OPS
            .iter()
            .filter_map(|op| text.find(op).map(|p| (p, *op)))
            .min_by_key(|(p, op)| (*p, std::cmp::Reverse(op.len())))
            .ok_or_else(|| {
                format!(
                    "expected `NAME OP VALUE` with OP one of {}, got {text:?}",
                    OPS.join(" ")
                )
            })?;
        let name = text[..pos].trim().trim_end_matches(':').to_owned();
        let value = text[pos + op.len()..].trim().to_owned();
        let per_version = name.strip_prefix(PEAK_READY).is_some_and(|v| !v.is_empty());
        let per_receiver = name.strip_prefix(RECEIVED).is_some_and(|v| !v.is_empty());
        if !NAMES.contains(&name.as_str()) && !per_version && !per_receiver {
            return Err(format!(
                "unknown figure {name:?} (known: {}, {PEAK_READY}VERSION, {RECEIVED}RECEIVER)",
                NAMES.join(", ")
            ));
        }
        Ok(Expectation {
            name,
            op: op.to_owned(),
            value,
        })
    }

    /// The measured value, as text, and whether the expectation holds.
    pub fn check(&self, f: &RunFigures) -> (String, bool) {
        let number = |x: f64| -> (String, bool) {
            let want = self.value.trim_end_matches('%').trim();
            // The measured value in the unit the expectation is written in.
            let unit = if self.value.ends_with('%') {
                "%"
            } else if self.name.ends_with("seconds") || self.name == "seconds" {
                "s"
            } else {
                ""
            };
            let shown = format!("{}{unit}", (x * 100.0).round() / 100.0);
            match want.parse::<f64>() {
                Ok(w) => (
                    shown,
                    match self.op.as_str() {
                        "<" => x < w,
                        "<=" => x <= w,
                        ">" => x > w,
                        ">=" => x >= w,
                        "==" => (x - w).abs() < 1e-9,
                        _ => (x - w).abs() >= 1e-9,
                    },
                ),
                Err(_) => (shown, false),
            }
        };
        let text = |x: &str| -> (String, bool) {
            let holds = match self.op.as_str() {
                "==" => x == self.value,
                "!=" => x != self.value,
                _ => false,
            };
            (x.to_owned(), holds)
        };
        match self.name.as_str() {
            "requests" => number(f.requests as f64),
            // `failed_requests < 1%` is about the share, `failed_requests < 10` the count.
            "failed_requests" if self.value.ends_with('%') => number(f.failed_percent()),
            "failed_requests" => number(f.failed as f64),
            "failed_percent" => number(f.failed_percent()),
            "downtime_seconds" => number(f.downtime_seconds),
            "served_by_new" => number(f.served_by_new as f64),
            "seconds" => number(f.seconds),
            "peak_pods" => number(f64::from(f.peak_pods)),
            "detect_seconds" => match f.detect_seconds {
                Some(d) => number(d),
                None => ("none".into(), false),
            },
            "rollback_seconds" => match f.rollback_seconds {
                Some(d) => number(d),
                None => ("none".into(), false),
            },
            "outcome" => text(&f.outcome),
            "autoscalers_unchanged" => match f.autoscalers_unchanged {
                Some(same) => text(if same { "true" } else { "false" }),
                None => ("no autoscaler".into(), false),
            },
            name if name.starts_with(RECEIVED) => {
                let receiver = &name[RECEIVED.len()..];
                match f.received.get(receiver) {
                    Some(n) => number(*n as f64),
                    None => ("no such receiver".into(), false),
                }
            }
            name if name.starts_with(PEAK_READY) => {
                let version = &name[PEAK_READY.len()..];
                number(f64::from(
                    f.peak_ready.get(version).copied().unwrap_or_default(),
                ))
            }
            _ => text(
                if f.outcome == "rolled-back" || f.outcome == "interrupted" {
                    "true"
                } else {
                    "false"
                },
            ),
        }
    }
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.name, self.op, self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations_parse_and_check() {
        let f = RunFigures {
            outcome: "rolled-back".into(),
            requests: 1000,
            failed: 5,
            ..Default::default()
        };
        for (text, holds) in [
            ("failed_requests < 1%", true),
            ("failed_requests < 5", false),
            ("failed_requests <= 5", true),
            ("rolled_back: == true", true),
            ("rolled_back == false", false),
            ("outcome == rolled-back", true),
            ("outcome != done", true),
            ("detect_seconds < 3", false),
        ] {
            let e = Expectation::parse(text).expect(text);
            assert_eq!(e.check(&f).1, holds, "{text}");
        }
        assert!(Expectation::parse("nope < 1").is_err_and(|e| e.contains("unknown figure")));
        assert!(Expectation::parse("peak_ready: >= 1").is_err());
        let share = Expectation::parse("failed_requests < 1%").expect("parse");
        assert_eq!(
            share.check(&f).0,
            "0.5%",
            "the measured share keeps its unit"
        );
        let took = Expectation::parse("seconds < 60").expect("parse");
        assert_eq!(took.check(&f).0, "0s");
        let scaled = RunFigures {
            peak_ready: [("v1".to_owned(), 4), ("v2".to_owned(), 2)].into(),
            autoscalers_unchanged: Some(true),
            ..Default::default()
        };
        for (text, holds) in [
            ("peak_ready:v1 >= 4", true),
            ("peak_ready:v2 > 2", false),
            ("peak_ready:v3 > 0", false),
            ("autoscalers_unchanged == true", true),
        ] {
            let e = Expectation::parse(text).expect(text);
            assert_eq!(e.check(&scaled).1, holds, "{text}");
        }
        let e = Expectation::parse("autoscalers_unchanged == true").expect("parse");
        assert!(!e.check(&f).1, "no autoscaler is not a pass");
        assert!(Expectation::parse("failed").is_err());
    }

    #[test]
    fn files_are_checked() {
        let e = parse(
            "manifests: [builtin:microblog]\nnamespace: microblog\ntraffic: {host: h}\nactions:\n  - wait: 1s\n  - killPod: web\nexpect: [outcome == done]\n",
            "x.yaml",
        )
        .expect("valid");
        assert_eq!(e.actions.len(), 2);
        assert!(parse("namespace: x\n", "x.yaml").is_err_and(|e| e.starts_with("x.yaml")));
        assert!(
            parse(
                "manifests: []\nnamespace: n\ntraffic: {host: h}\nactions: [{wait: soon}]\n",
                "x.yaml"
            )
            .is_err_and(|e| e.contains("actions[0].wait"))
        );
        let bad_profile = parse(
            "manifests: []\nnamespace: n\ntraffic: {host: h}\nactions:\n  - wait: 1s\n  - changeProfile: |\n      web:v2: { errorRatio: lots }\n",
            "x.yaml",
        );
        assert!(
            bad_profile.is_err_and(|e| e.starts_with("x.yaml: actions[1].changeProfile:1:")),
            "a bad profile names the action and its line"
        );
    }

    #[test]
    fn cluster_faults_are_a_fault_profile() {
        let e = parse(
            "cluster:\n  faults: |\n    seed: 3\n    rules:\n      - {fault: 500, share: 5%}\nmanifests: []\nnamespace: n\ntraffic: {host: h}\nactions: [{wait: 1s}]\n",
            "x.yaml",
        )
        .expect("valid");
        assert!(e.cluster.faults.is_some_and(|f| f.contains("seed: 3")));
        let bad = parse(
            "cluster:\n  faults: |\n    rules:\n      - {fault: 404, share: 5%}\nmanifests: []\nnamespace: n\ntraffic: {host: h}\nactions: [{wait: 1s}]\n",
            "x.yaml",
        );
        assert!(
            bad.is_err_and(|e| e.starts_with("x.yaml: cluster.faults:2:")),
            "a bad rule names the key and its line"
        );
    }

    #[test]
    fn receivers_are_checked() {
        let head = "manifests: []\nnamespace: n\ntraffic: {host: h}\nactions: [{wait: 1s}]\n";
        let e = parse(
            &format!("{head}receivers:\n  hook: {{replaces: \"http://hook.example/x\"}}\nexpect: [\"received:hook >= 1\"]\n"),
            "x.yaml",
        )
        .expect("valid");
        assert_eq!(e.receivers["hook"].answer, 200);
        let bad_status = parse(
            &format!("{head}receivers:\n  hook: {{replaces: \"http://h/x\", answer: 999}}\n"),
            "x.yaml",
        );
        assert!(bad_status.is_err_and(|e| e.contains("receivers.hook.answer")));
        let bad_url = parse(
            &format!("{head}receivers:\n  hook: {{replaces: hook.example}}\n"),
            "x.yaml",
        );
        assert!(bad_url.is_err_and(|e| e.contains("receivers.hook.replaces")));
        let unknown = parse(
            &format!("{head}expect: [\"received:nobody > 0\"]\n"),
            "x.yaml",
        );
        assert!(unknown.is_err_and(|e| e.contains("no receiver named \"nobody\"")));
        let f = RunFigures {
            received: [("hook".to_owned(), 3)].into(),
            ..Default::default()
        };
        let x = Expectation::parse("received:hook >= 3").expect("parse");
        assert_eq!(x.check(&f), ("3".to_owned(), true));
        let x = Expectation::parse("received:other == 0").expect("parse");
        assert!(!x.check(&f).1, "a receiver that did not run is not a zero");
    }
}
