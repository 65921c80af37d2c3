//! The events of one rollout, in the order they happen. The engine emits them to a [`Sink`];
//! renderers turn them into progress lines or JSON.

use serde::Serialize;

use crate::gate::Measurement;

/// How a rollout ended; each maps to an exit code (see [`Finish::exit_code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Finish {
    /// Every step done: the app runs the new version.
    Done,
    /// Stopped at a pause that waits for `rollout promote`; the record stays in the cluster.
    Paused,
    /// A gate failed (or `abort`): the app is back on the stable version.
    RolledBack,
    /// Rolling back failed: the app may be in between; the record stays for `rollout abort`.
    RollbackFailed,
    /// Ctrl-C: rolled back, then stopped.
    Interrupted,
    /// The Lease was lost mid-rollout: stopped at once, nothing rolled back by this process.
    Lost,
}

impl Finish {
    /// The exit code of a run that ended this way.
    pub fn exit_code(self) -> crate::exit::ExitCode {
        use crate::exit::ExitCode;
        match self {
            Finish::Done | Finish::Paused => ExitCode::Done,
            Finish::RolledBack => ExitCode::RolledBack,
            Finish::RollbackFailed => ExitCode::RollbackFailed,
            Finish::Interrupted => ExitCode::Interrupted,
            Finish::Lost => ExitCode::Error,
        }
    }

    /// The finish [`Finish::as_str`] names.
    pub fn from_name(name: &str) -> Option<Finish> {
        [
            Finish::Done,
            Finish::Paused,
            Finish::RolledBack,
            Finish::RollbackFailed,
            Finish::Interrupted,
            Finish::Lost,
        ]
        .into_iter()
        .find(|f| f.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Finish::Done => "done",
            Finish::Paused => "paused",
            Finish::RolledBack => "rolled-back",
            Finish::RollbackFailed => "rollback-failed",
            Finish::Interrupted => "interrupted",
            Finish::Lost => "lost-lease",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepState {
    Pending,
    Running,
    Done,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The rollout begins (or resumes at `first_step`).
    #[serde(rename_all = "camelCase")]
    Started {
        app: String,
        namespace: String,
        strategy: String,
        router: String,
        from_image: String,
        to_image: String,
        /// One line per plan step.
        steps: Vec<String>,
        first_step: usize,
    },
    #[serde(rename_all = "camelCase")]
    Step {
        index: usize,
        state: StepState,
        /// What the step does, as in the plan.
        description: String,
    },
    /// The share of requests the new version now gets.
    #[serde(rename_all = "camelCase")]
    Weight { weight: u8, approximate: bool },
    /// One measurement of one check.
    #[serde(rename_all = "camelCase")]
    Gate {
        /// Plan step that ran it; `None` for a background check.
        step: Option<usize>,
        measurement: Measurement,
    },
    /// Waiting: for a duration, or until `rollout promote`.
    #[serde(rename_all = "camelCase")]
    Paused {
        until_promoted: bool,
        seconds: Option<f64>,
    },
    /// What the synthetic load of a step sent, once it stopped.
    Load(LoadSummary),
    /// Something the user should know that is not a step (a retry, a note from the plan).
    Note { message: String },
    /// A wait that has not ended yet: what it waits for and what it sees now, said when that
    /// changes and at least every few seconds.
    #[serde(rename_all = "camelCase")]
    Waiting { what: String, seconds: f64 },
    #[serde(rename_all = "camelCase")]
    RollingBack { reason: String },
    #[serde(rename_all = "camelCase")]
    Finished {
        finish: Finish,
        reason: Option<String>,
        elapsed_seconds: f64,
    },
}

/// The requests a step's synthetic load sent, apart from users' traffic.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadSummary {
    /// Plan step (from 0).
    pub step: usize,
    /// Requests per second asked for.
    pub rate: f64,
    pub target: crate::spec::LoadTarget,
    /// Requests sent (answered, failed or dropped).
    pub requests: u64,
    /// Of those, failed (an error status, no answer, or dropped).
    pub failed: u64,
    /// Of those, answered by the new version; `None` when the answers do not say which
    /// version gave them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_new: Option<u64>,
    /// The most requests a comparison of this step counted, users' and synthetic together.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compared: Option<u64>,
}

impl LoadSummary {
    /// `synthetic load: 600 requests (300 to new), 600 of the 640 compared`.
    pub fn line(&self) -> String {
        let mut line = format!("synthetic load: {} requests", self.requests);
        match self.to_new {
            Some(n) => line.push_str(&format!(" ({n} to new)")),
            None => line.push_str(" (version not reported by the app)"),
        }
        if self.failed > 0 {
            line.push_str(&format!(", {} failed", self.failed));
        }
        if let Some(compared) = self.compared {
            let synthetic = self.requests.min(compared);
            line.push_str(&format!(
                "; at most {synthetic} of the {compared} requests compared were synthetic"
            ));
        }
        line
    }
}

/// Where the engine sends its events.
pub trait Sink: Send + Sync {
    fn emit(&self, event: &Event);
}

/// Collects events in memory (tests, `demo`'s report).
#[derive(Debug, Default)]
pub struct Recorder(pub std::sync::Mutex<Vec<(std::time::Instant, Event)>>);

impl Sink for Recorder {
    fn emit(&self, event: &Event) {
        if let Ok(mut v) = self.0.lock() {
            v.push((std::time::Instant::now(), event.clone()));
        }
    }
}

impl Recorder {
    pub fn events(&self) -> Vec<Event> {
        self.0
            .lock()
            .map(|v| v.iter().map(|(_, e)| e.clone()).collect())
            .unwrap_or_default()
    }
}

/// Sends every event to each of several sinks.
pub struct Tee(pub Vec<std::sync::Arc<dyn Sink>>);

impl Sink for Tee {
    fn emit(&self, event: &Event) {
        for s in &self.0 {
            s.emit(event);
        }
    }
}
