//! Runs the HPA decisions every sync period against the embedded cluster.
//!
//! CPU model: there is no cAdvisor, so a pod's CPU use is derived from the requests its apps
//! serve. Each request keeps its app busy for its (simulated) latency, and that busy time is
//! taken as CPU time: a pod serving 20 requests/s of 10 ms each uses 200 millicores. The
//! usage is the busy time accumulated since the previous sample divided by the wall time
//! between samples, so it follows load changes within one sync period.

use super::hpa::{self, PodMetric, Recommendation, ScaleEvent};
use super::{events, name_ns};
use crate::resources::{self, ResourceType};
use crate::store::{LabelSelector, Part, Store, StoreError, WriteOptions};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Busy time (microseconds) a pod's apps have accumulated so far; None when the pod runs no
/// app (yet).
pub type BusyMicros = Arc<dyn Fn(&str, &str) -> Option<u64> + Send + Sync>;

#[derive(Default)]
struct Memory {
    history: Vec<Recommendation>,
    scale_events: Vec<ScaleEvent>,
}

pub struct Autoscaler {
    store: Arc<Store>,
    busy: BusyMicros,
    time_scale: f64,
    opts: WriteOptions,
    samples: HashMap<(String, String), (u64, Instant)>,
    memory: HashMap<(String, String), Memory>,
}

fn rt(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    resources::find(group, version, plural)
}

impl Autoscaler {
    pub fn new(store: Arc<Store>, busy: BusyMicros, time_scale: f64) -> Self {
        let opts = WriteOptions {
            field_manager: "horizontal-pod-autoscaler".into(),
            ..WriteOptions::system()
        };
        Self {
            store,
            busy,
            time_scale,
            opts,
            samples: HashMap::new(),
            memory: HashMap::new(),
        }
    }

    /// The sync period, divided by the time scale.
    pub fn period(&self) -> Duration {
        let s = if self.time_scale.is_finite() && self.time_scale > 0.0 {
            self.time_scale
        } else {
            1.0
        };
        hpa::SYNC_PERIOD.div_f64(s)
    }

    /// Decides for every HPA once.
    pub fn sync_all(&mut self) {
        let Some(hpas) = rt("autoscaling", "v2", "horizontalpodautoscalers") else {
            return;
        };
        let all = self.store.all(hpas, None);
        let live: Vec<(String, String)> = all.iter().map(|h| name_ns(h)).collect();
        self.memory.retain(|k, _| live.contains(k));
        for raw in all {
            if let Err(e) = self.sync_one(hpas, &raw) {
                tracing::debug!(error = %e, "autoscaler sync failed");
            }
        }
    }

    fn usage_millis(&mut self, ns: &str, pod: &str, now: Instant) -> Option<f64> {
        let busy = (self.busy)(ns, pod)?;
        let key = (ns.to_string(), pod.to_string());
        let previous = self.samples.insert(key, (busy, now));
        let (before, at) = previous?;
        let wall = now.duration_since(at).as_secs_f64();
        if wall <= 0.0 {
            return None;
        }
        // Busy time is on the simulated clock: scale wall time to it as well.
        Some(
            busy.saturating_sub(before) as f64
                / 1000.0
                / (wall * self.time_scale.max(f64::MIN_POSITIVE)),
        )
    }

    fn sync_one(&mut self, hpas: &'static ResourceType, raw: &Value) -> Result<(), StoreError> {
        let hpa: HorizontalPodAutoscaler =
            serde_json::from_value(raw.clone()).map_err(|e| StoreError::Internal(e.to_string()))?;
        let (ns, name) = name_ns(raw);
        let Some(target_ref) = hpa.spec.as_ref().map(|s| s.scale_target_ref.clone()) else {
            return Ok(());
        };
        let target_rt = match (
            target_ref.api_version.as_deref().unwrap_or("apps/v1"),
            target_ref.kind.as_str(),
        ) {
            ("apps/v1", "Deployment") => rt("apps", "v1", "deployments"),
            ("apps/v1", "ReplicaSet") => rt("apps", "v1", "replicasets"),
            ("apps/v1", "StatefulSet") => rt("apps", "v1", "statefulsets"),
            _ => None,
        };
        let Some(target_rt) = target_rt else {
            return Ok(());
        };
        let Ok(target) = self.store.get(target_rt, &ns, &target_ref.name) else {
            return Ok(());
        };
        let current = target
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1) as i32;
        let selector = target
            .pointer("/spec/selector")
            .and_then(|s| LabelSelector::from_object(s).ok())
            .unwrap_or_default();
        let pods_rt = rt("", "v1", "pods").ok_or_else(|| StoreError::Internal("no pods".into()))?;
        let now = Instant::now();
        let wall_now = jiff::Timestamp::now();
        let init = hpa::CPU_INITIALIZATION_PERIOD.div_f64(self.time_scale.max(f64::MIN_POSITIVE));
        let mut metrics = Vec::new();
        for p in self.store.all(pods_rt, Some(&ns)) {
            if !selector.matches_object(&p)
                || p.pointer("/metadata/deletionTimestamp")
                    .is_some_and(|v| !v.is_null())
            {
                continue;
            }
            if matches!(
                p.pointer("/status/phase").and_then(Value::as_str),
                Some("Failed" | "Succeeded")
            ) {
                continue;
            }
            let pod_name = p
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let mut request = Some(0i64);
            for c in p
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let r = c
                    .pointer("/resources/requests/cpu")
                    .and_then(Value::as_str)
                    .and_then(hpa::parse_cpu_millis);
                request = match (request, r) {
                    (Some(a), Some(b)) => Some(a + b),
                    _ => None,
                };
            }
            let ready = kube_util::pod::is_ready_json(&p);
            let started_recently = p
                .pointer("/status/startTime")
                .and_then(Value::as_str)
                .and_then(kube_util::time::parse)
                .is_none_or(|t| {
                    Duration::try_from(wall_now.duration_since(t)).unwrap_or_default() < init
                });
            metrics.push(PodMetric {
                cpu_usage_millis: self.usage_millis(&ns, &pod_name, now),
                name: pod_name,
                cpu_request_millis: request,
                ready,
                started_recently,
            });
        }
        let memory = self.memory.entry((ns.clone(), name.clone())).or_default();
        let observed = hpa::Observed {
            hpa: &hpa,
            current_replicas: current,
            pods: &metrics,
            history: &memory.history,
            scale_events: &memory.scale_events,
        };
        let decision = hpa::decide(&observed, wall_now);
        memory.history = decision.history.clone();
        if let Some(n) = decision.scale_to {
            let target_name = target_ref.name.clone();
            let scaled = self.store.modify(
                target_rt,
                &ns,
                &target_name,
                Part::Main,
                &self.opts,
                |cur| {
                    let Some(cur) = cur else {
                        return Err(crate::store::not_found(target_rt, &target_name));
                    };
                    let mut next = cur.clone();
                    next["spec"]["replicas"] = json!(n);
                    Ok(next)
                },
            );
            if scaled.is_ok() {
                memory.scale_events = decision.scale_events.clone();
            }
        }
        if let Some((reason, message)) = &decision.event {
            events::record(
                &self.store,
                raw,
                "horizontal-pod-autoscaler",
                "Normal",
                reason,
                message,
            );
        }
        for (reason, message) in &decision.warnings {
            events::record(
                &self.store,
                raw,
                "horizontal-pod-autoscaler",
                "Warning",
                reason,
                message,
            );
        }
        let status = serde_json::to_value(&decision.status)
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        if raw.get("status") != Some(&status) {
            self.store
                .modify(hpas, &ns, &name, Part::Status, &self.opts, |cur| {
                    let Some(cur) = cur else {
                        return Err(crate::store::not_found(hpas, &name));
                    };
                    let mut next = cur.clone();
                    next["status"] = status.clone();
                    Ok(next)
                })?;
        }
        Ok(())
    }
}
