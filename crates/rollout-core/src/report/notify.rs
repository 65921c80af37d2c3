//! Notifications: the events of a rollout posted as JSON to the receivers a strategy file's
//! `notify` and `--notify` name — a chat webhook, an incident tool, a CI job.
//!
//! Each post has a `text` a chat webhook shows as it is (Slack's incoming webhooks read
//! `text`, and so do those compatible with them) and the same facts as fields:
//!
//! ```json
//! {"text": "web in shop: step 3 of 9 done — set weight 25%", "event": "step",
//!  "app": "web", "namespace": "shop", "strategy": "canary", "oldImage": "web:v1",
//!  "newImage": "web:v2", "step": 3, "steps": 9, "reason": null,
//!  "at": "2025-01-01T12:00:00Z"}
//! ```
//!
//! Notifying never blocks or fails the rollout: [`Notifier::emit`] only queues (a bounded
//! queue per receiver; what does not fit is dropped and counted), and one task per receiver
//! posts, with a few attempts. A receiver that cannot be reached is said once, through the
//! rollout's other sinks; then it gets one attempt per event until it answers again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::event::{Event, Finish, Sink, StepState};
use crate::gate::Outcome;
use crate::plan::Plan;
use crate::spec::{Notify, NotifyEvent};

/// Posts waiting per receiver; more are dropped (and counted).
const QUEUE: usize = 64;
/// Attempts at one post, and the wait before the second (four times longer each time).
const ATTEMPTS: u32 = 3;
const BACKOFF: Duration = Duration::from_millis(200);
/// How long one post may take.
const POST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the end of a rollout waits for the posts still queued.
const FLUSH: Duration = Duration::from_secs(3);

/// What every notification says about the rollout.
struct About {
    app: String,
    namespace: String,
    strategy: String,
    old_image: String,
    new_image: String,
    steps: usize,
}

/// One receiver: the events it wants and the queue to its delivery task.
struct Receiver {
    shown: String,
    events: Vec<NotifyEvent>,
    queue: mpsc::Sender<Job>,
    dropped: AtomicU64,
    said_full: AtomicBool,
}

enum Job {
    Post(Value),
    /// Answered once every post queued before it is done.
    Flush(oneshot::Sender<()>),
}

/// A [`Sink`] that posts the rollout's events to its receivers.
pub struct Notifier {
    receivers: Vec<Receiver>,
    about: About,
    /// The rollout's other sinks: where problems with notifying are said.
    others: Arc<dyn Sink>,
    /// The plan step the rollout is at (from 0), for events that do not carry it.
    step: Mutex<Option<usize>>,
}

impl Notifier {
    /// A notifier posting to `notify`'s receivers, saying its problems to `others`; `None`
    /// when there is no receiver (or no runtime to post from).
    pub fn start(
        notify: &[Notify],
        plan: &Plan,
        others: Arc<dyn Sink>,
        http: &reqwest::Client,
    ) -> Option<Arc<Notifier>> {
        if notify.is_empty() {
            return None;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no async runtime: the rollout's notifications are not sent");
            return None;
        };
        let receivers = notify
            .iter()
            .map(|n| {
                let (queue, jobs) = mpsc::channel(QUEUE);
                let shown = shown(&n.url);
                runtime.spawn(deliver(
                    n.url.clone(),
                    shown.clone(),
                    jobs,
                    http.clone(),
                    others.clone(),
                ));
                Receiver {
                    shown,
                    events: n.events.clone(),
                    queue,
                    dropped: AtomicU64::new(0),
                    said_full: AtomicBool::new(false),
                }
            })
            .collect();
        Some(Arc::new(Notifier {
            receivers,
            about: About {
                app: plan.names.deployment.clone(),
                namespace: plan.namespace.clone(),
                strategy: plan.strategy.to_string(),
                old_image: plan.from_image.clone(),
                new_image: plan.to_image.clone(),
                steps: plan.steps.len(),
            },
            others,
            step: Mutex::new(None),
        }))
    }

    /// Waits (at most a few seconds) until every queued post is done; says how many were
    /// dropped, or that some were left.
    pub async fn flush(&self) {
        let all = self.receivers.iter().map(|r| async move {
            let (done, answered) = oneshot::channel();
            if r.queue.send(Job::Flush(done)).await.is_ok() {
                let _ = answered.await;
            }
        });
        let finished = tokio::time::timeout(FLUSH, futures::future::join_all(all))
            .await
            .is_ok();
        for r in &self.receivers {
            let dropped = r.dropped.load(Ordering::Relaxed);
            if dropped > 0 {
                self.note(format!(
                    "{dropped} notification(s) to {} were dropped: the receiver was too slow for the queue",
                    r.shown
                ));
            }
        }
        if !finished {
            self.note(format!(
                "some notifications were still being sent after {}s; they are given up",
                FLUSH.as_secs()
            ));
        }
    }

    fn note(&self, message: String) {
        tracing::warn!("{message}");
        self.others.emit(&Event::Note { message });
    }

    /// What `event` is to a receiver, and what is posted about it; `None` for the events
    /// nobody is notified of (weights, measurements that did not fail, waits).
    fn message(&self, event: &Event) -> Option<(NotifyEvent, Value)> {
        let mut step = self.step.lock().unwrap_or_else(|e| e.into_inner());
        let a = &self.about;
        let who = format!("{} in {}", a.app, a.namespace);
        let (kind, at, text, reason) = match event {
            Event::Started { first_step, .. } => {
                *step = Some(*first_step);
                let how = if *first_step > 0 {
                    format!("resumed at step {} of {}", first_step + 1, a.steps)
                } else {
                    format!("started ({} steps)", a.steps)
                };
                let text = format!(
                    "Rollout of {who} {how}: {}, {} → {}",
                    a.strategy, a.old_image, a.new_image
                );
                (NotifyEvent::Started, Some(*first_step), text, None)
            }
            Event::Step {
                index,
                state,
                description,
            } => {
                *step = Some(*index);
                if *state != StepState::Done {
                    return None;
                }
                let text = format!(
                    "{who}: step {} of {} done — {description}",
                    index + 1,
                    a.steps
                );
                (NotifyEvent::Step, Some(*index), text, None)
            }
            Event::Gate {
                step: at,
                measurement,
            } if measurement.outcome == Outcome::Fail => {
                let place = match at {
                    Some(i) => format!("at step {}", i + 1),
                    None => "in the background".to_owned(),
                };
                let text = format!(
                    "{who}: check {:?} failed {place}: {}",
                    measurement.check, measurement.summary
                );
                let reason = format!("check {:?}: {}", measurement.check, measurement.summary);
                (NotifyEvent::GateFailed, *at, text, Some(reason))
            }
            Event::RollingBack { reason } if reason == crate::engine::ABORTED => {
                let text = format!(
                    "{who}: `rollout abort` asked to roll back to {}",
                    a.old_image
                );
                (NotifyEvent::Abort, *step, text, Some(reason.clone()))
            }
            Event::RollingBack { reason } => {
                let text = format!("{who}: rolling back to {} — {reason}", a.old_image);
                (NotifyEvent::RollingBack, *step, text, Some(reason.clone()))
            }
            Event::Finished {
                finish,
                reason,
                elapsed_seconds,
            } => {
                let why = reason
                    .as_deref()
                    .map(|r| format!(" — {r}"))
                    .unwrap_or_default();
                let took = humantime::format_duration(Duration::from_secs(
                    elapsed_seconds.max(0.0).round() as u64,
                ));
                let (kind, text) = match finish {
                    Finish::Done => (
                        NotifyEvent::Done,
                        format!(
                            "{who}: {} rolled out with {} in {took}",
                            a.new_image, a.strategy
                        ),
                    ),
                    Finish::RolledBack | Finish::Interrupted => (
                        NotifyEvent::RolledBack,
                        format!("{who}: rolled back to {}{why}", a.old_image),
                    ),
                    Finish::RollbackFailed | Finish::Lost => (
                        NotifyEvent::Failed,
                        format!("{who}: the rollout of {} failed{why}", a.new_image),
                    ),
                    Finish::Paused => return None,
                };
                (kind, *step, text, reason.clone())
            }
            _ => return None,
        };
        let body = json!({
            "text": text,
            "event": kind.as_str(),
            "app": a.app,
            "namespace": a.namespace,
            "strategy": a.strategy,
            "oldImage": a.old_image,
            "newImage": a.new_image,
            "step": at.map(|i| i + 1),
            "steps": a.steps,
            "reason": reason,
            "at": jiff::Timestamp::now().to_string(),
        });
        Some((kind, body))
    }
}

impl Sink for Notifier {
    fn emit(&self, event: &Event) {
        let Some((kind, body)) = self.message(event) else {
            return;
        };
        for r in self.receivers.iter().filter(|r| r.events.contains(&kind)) {
            match r.queue.try_send(Job::Post(body.clone())) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    r.dropped.fetch_add(1, Ordering::Relaxed);
                    if !r.said_full.swap(true, Ordering::Relaxed) {
                        self.note(format!(
                            "notifications to {} are queued faster than it takes them; the ones that do not fit are dropped",
                            r.shown
                        ));
                    }
                }
                // The delivery task is gone: the runtime is shutting down.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }
}

/// A receiver's URL as shown in messages: scheme, host and port only, since chat webhooks
/// carry their secret in the path.
fn shown(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{}{port}", u.scheme(), u.host_str().unwrap_or("?"))
        }
        Err(_) => "a notification receiver".to_owned(),
    }
}

/// Posts one receiver's queue in order, until the notifier is dropped.
async fn deliver(
    url: String,
    shown: String,
    mut jobs: mpsc::Receiver<Job>,
    http: reqwest::Client,
    others: Arc<dyn Sink>,
) {
    // The last post failed all its attempts: until one gets through, each gets one attempt,
    // so that a receiver that is down does not hold the queue up.
    let mut down = false;
    let mut said = false;
    while let Some(job) = jobs.recv().await {
        let body = match job {
            Job::Flush(done) => {
                let _ = done.send(());
                continue;
            }
            Job::Post(body) => body,
        };
        let attempts = if down { 1 } else { ATTEMPTS };
        match post(&http, &url, &body, attempts).await {
            Ok(()) => down = false,
            Err(why) => {
                down = true;
                if !said {
                    said = true;
                    let message =
                        format!("could not notify {shown}: {why} (said once; the rollout goes on)");
                    tracing::warn!("{message}");
                    others.emit(&Event::Note { message });
                }
            }
        }
    }
}

/// Why a notification was not delivered: the receiver's answer, or why there was none
/// (never the URL, which may hold a secret).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct NotDelivered(String);

/// One post, tried up to `attempts` times; a refusal (a 4xx other than 429) is not retried.
async fn post(
    http: &reqwest::Client,
    url: &str,
    body: &Value,
    attempts: u32,
) -> Result<(), NotDelivered> {
    let mut wait = BACKOFF;
    let mut why = String::new();
    for attempt in 1..=attempts {
        match http.post(url).timeout(POST_TIMEOUT).json(body).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => {
                let status = r.status();
                why = format!("it answered {status}");
                if status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS {
                    break;
                }
            }
            // Without the URL, which may hold a secret.
            Err(e) => why = crate::error::chain(&e.without_url()),
        }
        if attempt < attempts {
            tokio::time::sleep(wait).await;
            wait *= 4;
        }
    }
    Err(NotDelivered(why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_urls_keep_no_path() {
        assert_eq!(
            shown("https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com"
        );
        assert_eq!(shown("http://127.0.0.1:9000/x"), "http://127.0.0.1:9000");
    }
}
