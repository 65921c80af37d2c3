//! Command-line overrides applied to a validated [`Spec`].
//!
//! Deliberately few: the ones a CI job or a demo needs without copying the strategy file.
//! Anything else is changed by copying a built-in (`rollout strategies show NAME > my.yaml`)
//! and editing it.

use super::error::SpecError;
use super::model::{CanaryStep, Notify, NotifyEvent, Pause, Spec, Strategy, Traffic};
use super::values::Duration;

/// Origin of override errors.
pub const OVERRIDE_ORIGIN: &str = "command line";

/// Values given on the command line that replace those of the strategy file. Stored with the
/// rollout's record, so that a resumed rollout runs with the same ones.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Overrides {
    /// Replaces `traffic`.
    pub traffic: Option<Traffic>,
    /// Replaces `analysis.interval` and the `interval` of every check.
    pub analysis_interval: Option<Duration>,
    /// Replaces `progressDeadline`.
    pub progress_deadline: Option<Duration>,
    /// Skip every pause: timed ones, and those that wait for `rollout promote` (see
    /// `auto_promote`). Checks still run.
    pub no_pause: bool,
    /// Never wait for a person: drop the pauses that wait for `rollout promote` and promote
    /// blue-green automatically; timed pauses still run.
    pub auto_promote: bool,
    /// Shortens timed pauses to at most this; `0s` drops them.
    pub max_pause: Option<Duration>,
    /// Replaces `duration` (ab and shadow only).
    pub duration: Option<Duration>,
    /// More receivers of notifications (`--notify`), each of every event; kept in the record
    /// so that a resumed rollout notifies them too.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<String>,
}

fn error(key: &str, message: impl std::fmt::Display) -> SpecError {
    SpecError::whole(OVERRIDE_ORIGIN, format!("{key}: {message}"))
}

fn positive(key: &str, d: Duration) -> Result<Duration, SpecError> {
    if d.is_zero() {
        Err(error(
            key,
            "expected a duration above zero, like 30s, got 0s",
        ))
    } else {
        Ok(d)
    }
}

impl Spec {
    /// This spec with the command-line overrides applied. Fails when an override does not
    /// apply to the strategy (a `duration` for a canary) or conflicts with another.
    pub fn with_overrides(mut self, o: &Overrides) -> Result<Spec, SpecError> {
        let kind = self.kind();
        if let Some(traffic) = o.traffic {
            self.traffic = traffic;
        }
        if let Some(interval) = o.analysis_interval {
            let interval = positive("analysis.interval", interval)?;
            self.analysis.interval = interval;
            for check in &mut self.analysis.checks {
                check.interval = interval;
            }
        }
        for url in &o.notify {
            if !super::validate::is_http_url(url) {
                return Err(error(
                    "notify",
                    format!(
                        "expected an absolute URL starting with http:// or https://, got `{url}`"
                    ),
                ));
            }
            // Every event for this URL, even when the file names it for fewer.
            self.notify.retain(|n| &n.url != url);
            self.notify.push(Notify {
                url: url.clone(),
                events: NotifyEvent::all(),
            });
        }
        if let Some(deadline) = o.progress_deadline {
            self.progress_deadline = positive("progressDeadline", deadline)?;
        }
        let auto_promote = o.auto_promote || o.no_pause;
        // Skipping every pause is a maximum pause of nothing.
        let max_pause = if o.no_pause {
            Some(Duration::ZERO)
        } else {
            o.max_pause
        };
        match &mut self.strategy {
            Strategy::Ab(ab) => {
                if let Some(d) = o.duration {
                    ab.duration = positive("duration", d)?;
                }
            }
            Strategy::Shadow(shadow) => {
                if let Some(d) = o.duration {
                    shadow.duration = positive("duration", d)?;
                }
            }
            _ if o.duration.is_some() => {
                return Err(error(
                    "duration",
                    format!("the {kind} strategy has no duration (only ab and shadow have one)"),
                ));
            }
            _ => {}
        }
        if let Strategy::BlueGreen(bg) = &mut self.strategy {
            // The post-promotion window and the scale-down delay are waits too.
            if let Some(max) = max_pause {
                bg.post_promotion_window = bg.post_promotion_window.min(max);
                bg.scale_down_delay = bg.scale_down_delay.min(max);
            }
            if auto_promote {
                bg.auto_promotion = true;
            }
        }
        if let Strategy::Canary(canary) = &mut self.strategy {
            canary.steps.retain(|step| match step {
                CanaryStep::Pause(Pause::UntilPromoted) => !auto_promote,
                CanaryStep::Pause(Pause::For(_)) => max_pause.is_none_or(|max| !max.is_zero()),
                _ => true,
            });
            if let Some(max) = max_pause {
                for step in &mut canary.steps {
                    if let CanaryStep::Pause(Pause::For(d)) = step {
                        *d = (*d).min(max);
                    }
                }
            }
        }
        Ok(self)
    }
}
