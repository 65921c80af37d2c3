//! Webhook receivers an experiment declares: small HTTP servers on loopback that answer every
//! request with a fixed status and count what they get, so a strategy's webhook checks and
//! notifications are really asked during the run — and a receiver answering 500 really fails
//! the gate.
//!
//! A strategy file names its webhooks by URL; the experiment says which URL each receiver
//! stands for (`replaces`), and the rollout runs a copy of the strategy file with those URLs
//! pointed at the receivers. A URL the strategy does not contain is an error, so a receiver
//! can never sit idle while the experiment claims to gate on it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;
use serde::Deserialize;

/// One receiver as written in the experiment file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReceiverSpec {
    /// The URL in the strategy file this receiver takes the place of.
    pub replaces: String,
    /// The status it answers every request with.
    #[serde(default = "default_answer")]
    pub answer: u16,
}

fn default_answer() -> u16 {
    200
}

/// A running receiver.
pub struct Receiver {
    url: String,
    replaces: String,
    count: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The receivers of one experiment, by name.
#[derive(Default)]
pub struct Receivers(BTreeMap<String, Receiver>);

impl Receivers {
    /// Starts each receiver on a free loopback port.
    pub async fn start(specs: &BTreeMap<String, ReceiverSpec>) -> Result<Receivers, String> {
        let mut out = BTreeMap::new();
        for (name, spec) in specs {
            let status = StatusCode::from_u16(spec.answer)
                .map_err(|_| format!("receivers.{name}.answer: {} is not a status", spec.answer))?;
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
                .await
                .map_err(|e| format!("receivers.{name}: cannot listen on loopback: {e}"))?;
            let addr = listener
                .local_addr()
                .map_err(|e| format!("receivers.{name}: {e}"))?;
            let count = Arc::new(AtomicU64::new(0));
            let counted = count.clone();
            let app = axum::Router::new().fallback(move || {
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    status
                }
            });
            let task = tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            // The path of the URL it replaces, so the request looks as it would have.
            let path = spec
                .replaces
                .split("://")
                .nth(1)
                .and_then(|rest| rest.find('/').map(|i| &rest[i..]))
                .unwrap_or("/");
            out.insert(
                name.clone(),
                Receiver {
                    url: format!("http://{addr}{path}"),
                    replaces: spec.replaces.clone(),
                    count,
                    task,
                },
            );
        }
        Ok(Receivers(out))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `strategy` (a built-in's name or a file) with every receiver's URL in place of the one
    /// it replaces, written into `dir`; `strategy` itself when there are no receivers.
    pub fn point_at_receivers(
        &self,
        strategy: &str,
        base: &Path,
        dir: &Path,
        index: usize,
    ) -> Result<String, String> {
        let file = base.join(strategy);
        if self.is_empty() {
            // A file beside the experiment file, else as given (a built-in, or a path from
            // where `rollout` runs).
            return Ok(if file.is_file() {
                file.display().to_string()
            } else {
                strategy.to_owned()
            });
        }
        let mut text = std::fs::read_to_string(&file).map_err(|e| {
            format!(
                "{}: the strategy must be a file (relative to the experiment) when receivers stand in for its URLs: {e}",
                file.display()
            )
        })?;
        for (name, r) in &self.0 {
            if !text.contains(&r.replaces) {
                return Err(format!(
                    "receivers.{name}.replaces: {} does not name {:?}",
                    file.display(),
                    r.replaces
                ));
            }
            text = text.replace(&r.replaces, &r.url);
        }
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("strategy");
        let out: PathBuf = dir.join(format!("{stem}-{index}.yaml"));
        std::fs::write(&out, text).map_err(|e| format!("{}: {e}", out.display()))?;
        Ok(out.display().to_string())
    }

    /// Requests each receiver got so far.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.0
            .iter()
            .map(|(name, r)| (name.clone(), r.count.load(Ordering::SeqCst)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_strategy_is_pointed_at_its_receivers_and_each_counts_what_it_got() {
        let dir = tempfile::tempdir().expect("tempdir");
        let strategy = dir.path().join("s.yaml");
        std::fs::write(&strategy, "url: http://hook.example:8080/check\n").expect("write");
        let specs: BTreeMap<String, ReceiverSpec> = [(
            "hook".to_owned(),
            ReceiverSpec {
                replaces: "http://hook.example:8080/check".into(),
                answer: 500,
            },
        )]
        .into();
        let receivers = Receivers::start(&specs).await.expect("start");
        let copy = receivers
            .point_at_receivers("s.yaml", dir.path(), dir.path(), 0)
            .expect("pointed");
        let text = std::fs::read_to_string(&copy).expect("copy");
        let url = text.trim().strip_prefix("url: ").expect("url").to_owned();
        assert!(
            url.starts_with("http://127.0.0.1:") && url.ends_with("/check"),
            "{url}"
        );
        kube_util::tls::install_crypto_provider();
        let http = rollout_core::engine::Options::new().expect("client").http;
        let answer = http.post(&url).send().await.expect("post");
        assert_eq!(answer.status().as_u16(), 500);
        assert_eq!(receivers.counts()["hook"], 1);

        std::fs::write(&strategy, "url: http://elsewhere/\n").expect("write");
        let missing = receivers.point_at_receivers("s.yaml", dir.path(), dir.path(), 1);
        assert!(missing.is_err_and(|e| e.contains("receivers.hook.replaces")));
    }
}
