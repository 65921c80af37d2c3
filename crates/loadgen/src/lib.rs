//! Synthetic user traffic: the ground truth of a rollout experiment.
//!
//! Gates judge a rollout from the app's own metrics; this generator is the independent account
//! of what users got — how many requests failed, how long the service was down, and which
//! version answered whom — taken from outside, through the ingress, the way users reach it.
//! It reads the `X-Version` and `X-Pod` headers every simulated app sets.
//!
//! ```no_run
//! # async fn demo(ingress: std::net::SocketAddr) -> Result<(), loadgen::TrafficError> {
//! use loadgen::{Traffic, TrafficSpec, parse_group};
//! let mut spec = TrafficSpec::new(ingress, "web.example.com");
//! spec.rate_per_second = 100.0;
//! spec.groups.push(parse_group("10%:header:X-Canary=always")?);
//! let traffic = Traffic::start(spec)?;
//! // … roll out …
//! let report = traffic.stop().await;
//! println!("{} failed, {:?} down, v2 served {:.0}%", report.failed, report.downtime,
//!     report.share_of("v2") * 100.0);
//! # Ok(()) }
//! ```
//!
//! Only loopback targets are accepted unless [`TrafficSpec::allow_remote`] says otherwise: this
//! is load, and load goes to this machine unless its owner asked for it elsewhere.

mod generator;
mod histogram;
mod record;
mod report;
mod spec;
#[cfg(test)]
mod tests;

pub use generator::Traffic;
pub use record::{BUCKET_MS, ErrorKind, OTHER, Outcome, UNKNOWN_VERSION};
pub use report::{End, GroupStats, Outage, Report, Second, VersionStats};
pub use spec::{
    DEFAULT_KEEP_OUTCOMES, MAX_DURATION, MAX_IN_FLIGHT, MAX_RATE_PER_SECOND, TrafficError,
    TrafficSpec, UserGroup, parse_group,
};
