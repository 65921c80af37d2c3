//! Gates: the checks that decide whether a rollout step may go on — pod probes, HTTP checks,
//! Prometheus queries — and the statistics they share.

pub mod stats;
