//! The last measurement of every gate, kept in the record so that anyone reading the cluster
//! (`rollout status`, `rollout dashboard`) sees what the gates said. Every measurement the
//! engine emits goes through [`Noting`]; each is written at most once, as a merge patch of the
//! record, and never after the rollout closed.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;

use super::record::{Gates, Record};
use crate::cluster::{Cluster, ClusterError};
use crate::report::{Event, Sink};

/// The record as last written and the gates noted since: one lock orders every write of the
/// record, so a gate write never puts back an older step, and none lands after the close.
pub(crate) struct GateLog {
    cluster: Cluster,
    deployment: String,
    written: tokio::sync::Mutex<Written>,
    noted: std::sync::Mutex<(Gates, u64)>,
}

struct Written {
    /// `None` before the first save and after the close: nothing to write gates into.
    record: Option<Record>,
    /// The generation of the gates last written.
    generation: u64,
}

impl GateLog {
    pub(crate) fn new(cluster: Cluster, deployment: String, gates: Gates) -> GateLog {
        GateLog {
            cluster,
            deployment,
            written: tokio::sync::Mutex::new(Written {
                record: None,
                generation: 0,
            }),
            noted: std::sync::Mutex::new((gates, 0)),
        }
    }

    fn noted(&self) -> std::sync::MutexGuard<'_, (Gates, u64)> {
        self.noted.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn note(&self, step: Option<usize>, m: &crate::gate::Measurement) {
        let mut noted = self.noted();
        noted.0.note(step, m, jiff::Timestamp::now().to_string());
        noted.1 += 1;
    }

    /// Writes `record` with the gates noted so far.
    pub(crate) async fn save(&self, record: &Record) -> Result<(), ClusterError> {
        let mut written = self.written.lock().await;
        let mut record = record.clone();
        let generation;
        (record.gates, generation) = self.noted().clone();
        self.cluster
            .merge::<Deployment>(&self.deployment, &record.patch())
            .await?;
        *written = Written {
            record: Some(record),
            generation,
        };
        Ok(())
    }

    /// Writes the gates into the record as last saved, unless a write since has carried them.
    async fn write_gates(&self) {
        let mut written = self.written.lock().await;
        let (gates, generation) = self.noted().clone();
        if generation == written.generation {
            return;
        }
        let Some(record) = written.record.as_mut() else {
            return;
        };
        record.gates = gates;
        // The measurement is already reported; a record that misses one shows the next.
        match self
            .cluster
            .merge::<Deployment>(&self.deployment, &record.patch())
            .await
        {
            Ok(_) => written.generation = generation,
            Err(e) => {
                tracing::debug!(error = %crate::error::chain(&e), "could not record a gate's measurement")
            }
        }
    }

    /// No gate is written from now on (the record is being cleared).
    pub(crate) async fn close(&self) {
        self.written.lock().await.record = None;
    }
}

/// The engine's sink: passes every event on, and notes each measurement in the record.
pub(crate) struct Noting {
    pub(crate) inner: Arc<dyn Sink>,
    pub(crate) log: Arc<GateLog>,
}

impl Sink for Noting {
    fn emit(&self, event: &Event) {
        if let Event::Gate { step, measurement } = event {
            self.log.note(*step, measurement);
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let log = self.log.clone();
                rt.spawn(async move { log.write_gates().await });
            }
        }
        self.inner.emit(event);
    }
}
