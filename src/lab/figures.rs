//! What a run's users saw, from the raw records: every request's outcome, pod samples and the
//! engine's events, turned into the figures of the comparison table and the per-second
//! timeline of the charts. Pure, so the arithmetic is tested on hand-made records.

use std::collections::BTreeMap;
use std::time::Instant;

use super::PodSample;
use kubesim::traffic::Outcome;
use rollout_core::gate::Outcome as GateOutcome;
use rollout_core::report::Event;
use rollout_core::report::data::{Marker, RunFigures, RunReport, SecondSample};

pub struct Inputs<'a> {
    /// The run's clock: every time is in seconds since it.
    pub t0: Instant,
    /// When the traffic generator started (its outcomes count from there).
    pub traffic_started: Instant,
    pub outcomes: &'a [Outcome],
    pub samples: &'a [PodSample],
    pub events: &'a [(Instant, Event)],
}

/// Length of the windows in which "no request was served by a pod" counts as downtime.
const DOWNTIME_WINDOW_MS: u64 = 100;

/// The timeline's time step for a run of `span` seconds: a short run's steps come within a
/// second of each other, and whole seconds would blur them into one point.
pub fn bin_seconds(span: f64) -> f64 {
    if span <= 20.0 {
        0.25
    } else if span <= 60.0 {
        0.5
    } else {
        1.0
    }
}

pub fn report(i: Inputs) -> RunReport {
    let at = |t: Instant| t.saturating_duration_since(i.t0).as_secs_f64();
    let offset = i
        .traffic_started
        .saturating_duration_since(i.t0)
        .as_secs_f64();
    let mut figures = RunFigures::default();
    let mut markers = Vec::new();
    let mut failed_gate: Option<f64> = None;
    let mut rolling_back: Option<f64> = None;
    let mut started: Option<f64> = None;
    let mut finished: Option<f64> = None;
    for (t, e) in i.events {
        match e {
            Event::Started {
                strategy,
                from_image,
                to_image,
                ..
            } => {
                figures.strategy = strategy.clone();
                figures.from_image = from_image.clone();
                figures.to_image = to_image.clone();
                started = Some(at(*t));
            }
            Event::Step {
                state: rollout_core::report::StepState::Running,
                description,
                ..
            } => markers.push(Marker {
                t: at(*t),
                label: description.clone(),
            }),
            Event::Gate { measurement, .. } if measurement.outcome == GateOutcome::Fail => {
                failed_gate.get_or_insert(at(*t));
            }
            Event::RollingBack { .. } => {
                rolling_back.get_or_insert(at(*t));
                markers.push(Marker {
                    t: at(*t),
                    label: "rolling back".into(),
                });
            }
            Event::Finished { finish, reason, .. } => {
                figures.outcome = finish.as_str().to_owned();
                figures.reason = reason.clone();
                finished = Some(at(*t));
            }
            _ => {}
        }
    }
    if let (Some(s), Some(f)) = (started, finished) {
        figures.seconds = f - s;
    }
    let new_version = kubesim::node::behaviour::version_of(&figures.to_image);
    let span = i
        .outcomes
        .iter()
        .map(|o| offset + o.at_ms as f64 / 1000.0)
        .chain(i.samples.iter().map(|s| s.t))
        .fold(0.0f64, f64::max);
    let bin = bin_seconds(span);
    let bin_of = |t: f64| (t.max(0.0) / bin).floor() as u64;
    let mut latencies: BTreeMap<(u64, String), Vec<f64>> = BTreeMap::new();
    let mut timeline: BTreeMap<u64, SecondSample> = BTreeMap::new();
    let mut windows: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    let mut first_new: Option<f64> = None;
    for o in i.outcomes.iter().filter(|o| !o.is_dropped()) {
        let t = offset + o.at_ms as f64 / 1000.0;
        figures.requests += 1;
        let failed = o.is_failed();
        if failed {
            figures.failed += 1;
        }
        // Down means no pod answered: no answer at all, or the ingress's own 502/503/504.
        // An app's 500 is an answer (a bad one, counted in `failed`).
        let unserved = o.status.is_none_or(|c| matches!(c, 502..=504));
        let w = windows.entry(o.at_ms / DOWNTIME_WINDOW_MS).or_default();
        w.0 += 1;
        if unserved {
            w.1 += 1;
        }
        let second = bin_of(t);
        let sample = timeline.entry(second).or_insert_with(|| SecondSample {
            t: second as f64 * bin,
            ..Default::default()
        });
        match (&o.version, o.status) {
            (Some(v), Some(_)) => {
                latencies
                    .entry((second, v.clone()))
                    .or_default()
                    .push(o.latency.as_secs_f64() * 1000.0);
                let cell = sample.by_version.entry(v.clone()).or_default();
                cell.requests += 1;
                if failed {
                    cell.failed += 1;
                }
                if *v == new_version {
                    figures.served_by_new += 1;
                    first_new.get_or_insert(t);
                }
            }
            _ => sample.unanswered += 1,
        }
    }
    figures.downtime_seconds = windows.values().filter(|(n, f)| *n > 0 && n == f).count() as f64
        * DOWNTIME_WINDOW_MS as f64
        / 1000.0;
    figures.peak_pods = i.samples.iter().map(|s| s.pods).max().unwrap_or(0);
    for s in i.samples {
        for (v, n) in &s.ready {
            let peak = figures.peak_ready.entry(v.clone()).or_default();
            *peak = (*peak).max(*n);
        }
    }
    for ((second, v), mut ms) in latencies {
        ms.sort_by(f64::total_cmp);
        if let Some(cell) = timeline
            .get_mut(&second)
            .and_then(|s| s.by_version.get_mut(&v))
        {
            cell.latency_ms = rollout_core::gate::stats::percentile(&ms, 0.95);
        }
    }
    let mut sampled = std::collections::BTreeSet::new();
    for s in i.samples {
        let second = bin_of(s.t);
        let sample = timeline.entry(second).or_insert_with(|| SecondSample {
            t: second as f64 * bin,
            ..Default::default()
        });
        // The last sample of each second stands for it.
        for cell in sample.by_version.values_mut() {
            cell.ready_pods = 0;
        }
        for (v, n) in &s.ready {
            sample.by_version.entry(v.clone()).or_default().ready_pods = *n;
        }
        sampled.insert(second);
    }
    // A bin no pod sample fell in has the pods of the last sample before it: pods do not
    // vanish between two samples.
    let mut last: Option<BTreeMap<String, u32>> = None;
    for (bin, sample) in timeline.iter_mut() {
        if sampled.contains(bin) {
            last = Some(
                sample
                    .by_version
                    .iter()
                    .map(|(v, c)| (v.clone(), c.ready_pods))
                    .collect(),
            );
        } else if let Some(ready) = &last {
            for (v, n) in ready {
                sample.by_version.entry(v.clone()).or_default().ready_pods = *n;
            }
        }
    }
    let detected = failed_gate.or(rolling_back);
    figures.detect_seconds = match (first_new, detected) {
        (Some(n), Some(d)) => Some((d - n).max(0.0)),
        (None, Some(d)) => started.map(|s| (d - s).max(0.0)),
        _ => None,
    };
    figures.rollback_seconds = match (rolling_back, finished) {
        (Some(r), Some(f)) => Some(f - r),
        _ => None,
    };
    let events = i
        .events
        .iter()
        .filter_map(|(t, e)| {
            let mut v = serde_json::to_value(e).ok()?;
            v["t"] = serde_json::json!((at(*t) * 1000.0).round() / 1000.0);
            Some(v)
        })
        .collect();
    RunReport {
        title: format!(
            "{} {} → {}",
            figures.strategy, figures.from_image, figures.to_image
        ),
        figures,
        timeline: timeline.into_values().collect(),
        markers,
        events,
        started: started.unwrap_or(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollout_core::report::Finish;
    use std::time::Duration;

    fn outcome(at_ms: u64, version: &str, status: u16) -> Outcome {
        Outcome {
            at_ms,
            status: Some(status),
            error: None,
            latency: Duration::from_millis(2),
            version: Some(version.into()),
            pod: None,
            group: None,
        }
    }

    #[test]
    fn figures_from_records() {
        let t0 = Instant::now();
        let s = |secs: f64| t0 + Duration::from_secs_f64(secs);
        let mut outcomes = Vec::new();
        for ms in (0..3000).step_by(50) {
            outcomes.push(outcome(ms, "v1", 200));
        }
        // v2 answers from 1.0 s, half of them 500.
        for (k, ms) in (1000..2000).step_by(50).enumerate() {
            outcomes.push(outcome(ms, "v2", if k % 2 == 0 { 500 } else { 200 }));
        }
        let events = vec![
            (
                s(0.1),
                Event::Started {
                    app: "web".into(),
                    namespace: "d".into(),
                    strategy: "canary".into(),
                    router: "ingress-nginx".into(),
                    from_image: "web:v1".into(),
                    to_image: "web:v2".into(),
                    steps: vec![],
                    first_step: 0,
                },
            ),
            (
                s(1.5),
                Event::Gate {
                    step: Some(3),
                    measurement: rollout_core::gate::Measurement::new(
                        "smoke",
                        GateOutcome::Fail,
                        "x",
                    ),
                },
            ),
            (s(1.6), Event::RollingBack { reason: "x".into() }),
            (
                s(2.1),
                Event::Finished {
                    finish: Finish::RolledBack,
                    reason: Some("x".into()),
                    elapsed_seconds: 2.0,
                },
            ),
        ];
        let samples = vec![
            PodSample {
                t: 0.2,
                ready: BTreeMap::from([("v1".into(), 2)]),
                pods: 2,
            },
            PodSample {
                t: 1.2,
                ready: BTreeMap::from([("v1".into(), 2), ("v2".into(), 1)]),
                pods: 3,
            },
        ];
        let r = report(Inputs {
            t0,
            traffic_started: t0,
            outcomes: &outcomes,
            samples: &samples,
            events: &events,
        });
        let f = &r.figures;
        assert_eq!((f.requests, f.failed, f.served_by_new), (80, 10, 20));
        assert_eq!(f.outcome, "rolled-back");
        assert_eq!(f.peak_pods, 3);
        assert_eq!(f.downtime_seconds, 0.0);
        assert!((f.seconds - 2.0).abs() < 1e-9);
        assert!((f.detect_seconds.unwrap_or(0.0) - 0.5).abs() < 1e-9);
        assert!((f.rollback_seconds.unwrap_or(0.0) - 0.5).abs() < 1e-9);
        // A 3-second run is drawn in quarter seconds.
        assert_eq!(bin_seconds(3.0), 0.25);
        assert_eq!(r.timeline.len(), 12);
        let second = |t0: f64| {
            r.timeline
                .iter()
                .filter(|s| s.t >= t0 && s.t < t0 + 1.0)
                .collect::<Vec<_>>()
        };
        let v2 = |f: &dyn Fn(&rollout_core::report::data::VersionSecond) -> u64| {
            second(1.0)
                .iter()
                .filter_map(|s| s.by_version.get("v2"))
                .map(f)
                .sum::<u64>()
        };
        assert_eq!(v2(&|x| x.requests), 20);
        assert_eq!(v2(&|x| x.failed), 10);
        // The pod sample at 1.2s stands for its quarter second.
        assert_eq!(r.timeline[4].by_version["v2"].ready_pods, 1);
        assert_eq!(r.timeline[4].by_version["v2"].latency_ms, Some(2.0));
        assert!((r.timeline[1].t - 0.25).abs() < 1e-9);
        assert_eq!(
            r.markers.last().map(|m| m.label.as_str()),
            Some("rolling back")
        );
    }
}
