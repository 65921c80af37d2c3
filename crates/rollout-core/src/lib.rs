//! The deployment strategy orchestrator.
//!
//! A rollout flows through these modules in order:
//!
//! 1. [`spec`] reads a strategy file (or a built-in one) in two stages — raw YAML with
//!    positions, then a validated [`spec::Spec`] — and applies command-line overrides.
//! 2. [`cluster`] finds the target (the app's Deployment, its Service, the Ingress or
//!    HTTPRoute in front) through the typed Kubernetes API.
//! 3. [`strategy`] turns the spec and the target into a [`plan::Plan`]: pure data, printed
//!    by `rollout plan` and snapshot-tested. The traffic [`traffic`] routers say what they can
//!    do, so a plan a router cannot carry out is refused before anything changes.
//! 4. [`engine`] takes the Lease, writes the record on the Deployment, runs the steps with
//!    their [`gate`]s, and rolls back (traffic first, then objects) when one fails.
//! 5. [`report`] renders what happened: live progress, JSON Lines, a summary and the files a
//!    run leaves behind.
//!
//! Nothing here knows about the embedded cluster: it talks to any API server through `kube`.

pub mod app;
pub mod autoscaler;
pub mod cluster;
pub mod engine;
pub mod error;
pub mod exit;
pub mod gate;
pub mod image;
pub mod labels;
pub mod metrics;
pub mod plan;
pub mod report;
pub mod spec;
pub mod strategy;
pub mod traffic;
