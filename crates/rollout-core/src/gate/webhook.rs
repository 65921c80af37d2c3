//! The webhook check: a JSON POST describing the rollout to another system (a load tester, a
//! test runner, an approval service); a 2xx answer passes.
//!
//! The body follows Flagger's webhook payload — `name`, `namespace`, `phase` and a `metadata`
//! map of strings — so that receivers written for it work unchanged:
//!
//! ```json
//! {"name": "web", "namespace": "shop", "phase": "running",
//!  "metadata": {"check": "load-test", "strategy": "canary", "oldImage": "web:v1",
//!               "newImage": "web:v2", "step": "3", "weight": "20"}}
//! ```
//!
//! With `confirm: true` the check is a promotion gate someone else holds: until it answers 2xx
//! the measurement is inconclusive, and an analysis step goes on asking (up to its timeout).

use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use super::{Context, Gate, Measurement, Outcome, Rollout, format};
use crate::spec::WebhookCheck;

/// Body bytes of an answer kept for the summary; the rest is not read.
const MAX_BODY: usize = 2048;
/// Characters of the body shown in a summary.
const BODY_SHOWN: usize = 200;

/// The webhook check as a gate: each measurement posts once.
pub struct WebhookGate {
    name: String,
    check: WebhookCheck,
}

impl WebhookGate {
    pub fn new(name: String, check: WebhookCheck) -> Self {
        WebhookGate { name, check }
    }
}

impl Gate for WebhookGate {
    fn measure<'a>(&'a mut self, cx: &'a dyn Context) -> BoxFuture<'a, Measurement> {
        Box::pin(async move {
            let rollout = cx.rollout().await;
            call(&self.name, &self.check, &rollout, cx.http(true)).await
        })
    }
}

/// What is posted: Flagger's payload, the rollout in `metadata`.
pub fn payload(r: &Rollout, check: &str) -> Value {
    let mut metadata = Map::new();
    let mut put = |key: &str, value: String| {
        metadata.insert(key.to_owned(), Value::String(value));
    };
    put("check", check.to_owned());
    put("strategy", r.strategy.clone());
    put("oldImage", r.old_image.clone());
    put("newImage", r.new_image.clone());
    put("step", r.step.map(|s| s.to_string()).unwrap_or_default());
    put("weight", r.weight.to_string());
    put("newUrl", r.new_url.clone().unwrap_or_default());
    put("newHost", r.new_host.clone().unwrap_or_default());
    put("newHeader", r.new_header_line().unwrap_or_default());
    json!({
        "name": r.app,
        "namespace": r.namespace,
        "phase": r.phase_name(),
        "metadata": metadata,
    })
}

/// One POST to the check's URL, judged by the answer's status.
pub async fn call(
    name: &str,
    check: &WebhookCheck,
    rollout: &Rollout,
    http: &reqwest::Client,
) -> Measurement {
    let began = Instant::now();
    let sent = http
        .post(&check.url)
        .timeout(check.timeout.std())
        .json(&payload(rollout, name))
        .send()
        .await;
    // Without an answer: a timeout fails (the receiver is there but too slow to say yes), a
    // refused connection could not measure anything. A confirmation not given yet is neither.
    let mut response = match sent {
        Ok(r) => r,
        Err(e) => {
            let why = if e.is_timeout() {
                format!("no answer within {}", check.timeout)
            } else {
                format!("no answer: {}", crate::error::chain(&e))
            };
            let outcome = match (check.confirm, e.is_timeout()) {
                (true, _) => Outcome::Inconclusive,
                (false, true) => Outcome::Fail,
                (false, false) => Outcome::Error,
            };
            let summary = if check.confirm {
                format!("not confirmed yet: {why}")
            } else {
                why
            };
            return Measurement::new(name, outcome, summary);
        }
    };
    let status = response.status();
    let body = read_some(&mut response, check.timeout.std(), began).await;
    let latency = format::millis(began.elapsed().as_secs_f64());
    let answer = match body.trim() {
        "" => format!("answered {status} in {latency}"),
        b => format!("answered {status} in {latency}: {}", excerpt(b)),
    };
    let (outcome, summary) = if status.is_success() {
        (Outcome::Pass, answer)
    } else if check.confirm {
        (
            Outcome::Inconclusive,
            format!("not confirmed yet: {answer}"),
        )
    } else {
        (Outcome::Fail, answer)
    };
    Measurement::new(name, outcome, summary)
        .figure("status", f64::from(status.as_u16()))
        .figure("latency_ms", began.elapsed().as_secs_f64() * 1000.0)
}

/// The start of the body, up to [`MAX_BODY`] bytes, within what is left of `timeout`.
async fn read_some(response: &mut reqwest::Response, timeout: Duration, began: Instant) -> String {
    let mut body = Vec::new();
    let left = timeout.saturating_sub(began.elapsed());
    let _ = tokio::time::timeout(left, async {
        while body.len() < MAX_BODY {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
    })
    .await;
    body.truncate(MAX_BODY);
    String::from_utf8_lossy(&body).into_owned()
}

/// A body on one line, cut to [`BODY_SHOWN`] characters.
fn excerpt(body: &str) -> String {
    let one_line = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= BODY_SHOWN {
        one_line
    } else {
        let kept: String = one_line.chars().take(BODY_SHOWN).collect();
        format!("{kept}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::record::Phase;

    #[test]
    fn the_payload_is_flaggers_shape() {
        let r = Rollout {
            app: "web".into(),
            namespace: "shop".into(),
            strategy: "canary".into(),
            old_image: "web:v1".into(),
            new_image: "web:v2".into(),
            step: None,
            weight: 20,
            phase: Phase::WaitingForPromotion,
            new_url: None,
            new_host: None,
            new_header: Some(("X-Canary".into(), "always".into())),
        };
        assert_eq!(
            payload(&r, "approval"),
            json!({"name": "web", "namespace": "shop", "phase": "waiting-for-promotion",
                   "metadata": {"check": "approval", "strategy": "canary", "oldImage": "web:v1",
                                "newImage": "web:v2", "step": "", "weight": "20", "newUrl": "",
                                "newHost": "", "newHeader": "X-Canary: always"}})
        );
    }

    #[test]
    fn excerpts_are_one_short_line() {
        assert_eq!(excerpt("a\n  b\tc"), "a b c");
        let long = "x".repeat(500);
        assert_eq!(excerpt(&long).chars().count(), BODY_SHOWN + 1);
    }
}
