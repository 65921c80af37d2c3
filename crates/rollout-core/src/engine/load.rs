//! Synthetic load during an analysis: the strategy's `load`, sent through the route users take
//! (the app's Ingress, its host, TLS with its CA), with the header that reaches the version it
//! targets. What it sent is reported apart from users' traffic; the comparison counts it with
//! theirs, since it reads the ingress's per-version metrics.

use std::net::SocketAddr;
use std::time::Duration;

use loadgen::{Traffic, TrafficSpec, UserGroup};

use super::checks::Front;
use super::{Engine, StepError};
use crate::report::{Event, LoadSummary};
use crate::spec::{Load, LoadTarget};

/// How long a synthetic request may take: longer than any page an app should serve, short
/// enough that stopping the load at the end of a step does not hold the rollout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Synthetic load running for one step: one generator per path, each at its share of the rate.
pub(crate) struct Running {
    load: Load,
    generators: Vec<Traffic>,
    /// Whether every answered request was sent with what routes to the new version.
    all_to_new: bool,
}

impl Engine {
    /// Starts `load` (if any). A load that cannot be sent fails the step: checks told to judge
    /// on it would otherwise wait for requests that never come.
    pub(crate) async fn start_load(
        &self,
        step: usize,
        load: Option<&Load>,
    ) -> Result<Option<Running>, StepError> {
        let Some(load) = load else {
            return Ok(None);
        };
        if self.skip_to_end {
            return Ok(None);
        }
        let fail = |why: String| StepError::Check(format!("synthetic load: {why}"));
        let measurer = self.measurer();
        let front = measurer
            .ingress_front()
            .await
            .map_err(|e| fail(crate::error::chain(&e)))?
            .ok_or_else(|| {
                fail("the app has no Ingress with an address to send it through (give --ingress-url)".into())
            })?;
        let (target, host, tls_ca, base) = front_target(front).await.map_err(fail)?;
        let routing = &self.record.routing;
        let canary_header = &self.spec.canary_header;
        let headers = match load.target {
            LoadTarget::Both => Vec::new(),
            LoadTarget::New => {
                let h = self.plan.router.new_version_headers(routing, canary_header);
                if h.is_empty() {
                    return Err(fail(format!(
                        "target: new needs a router that sends a request to the new version by header, and {} does not",
                        self.plan.router.name()
                    )));
                }
                h
            }
            LoadTarget::Stable => self
                .plan
                .router
                .stable_version_headers(routing, canary_header),
        };
        let per_path = load.rate.per_second() / load.paths.len().max(1) as f64;
        let mut generators = Vec::new();
        for path in &load.paths {
            let mut spec = TrafficSpec::new(target, host.clone().unwrap_or_default());
            spec.path = path.clone();
            spec.rate_per_second = per_path;
            spec.timeout = REQUEST_TIMEOUT;
            spec.duration = load.duration.map(|d| d.std());
            spec.tls_ca = tls_ca.clone();
            // The strategy asks for load on its own app, wherever its ingress is.
            spec.allow_remote = true;
            spec.groups = headers
                .iter()
                .map(|(name, value)| UserGroup::with_header(1.0, name, value))
                .take(1)
                .collect();
            generators.push(Traffic::start(spec).map_err(|e| fail(e.to_string()))?);
        }
        let header = headers
            .first()
            .map(|(n, v)| format!(" with {n}: {v}"))
            .unwrap_or_default();
        let how_long = load
            .duration
            .map(|d| format!(" for {d}"))
            .unwrap_or_else(|| " while the step runs".into());
        self.note(format!(
            "step {}: synthetic load {} to {} ({}) through {base}{header}{how_long}",
            step + 1,
            load.rate,
            target_name(load.target),
            load.paths.join(", "),
        ));
        Ok(Some(Running {
            load: load.clone(),
            generators,
            all_to_new: load.target == LoadTarget::New,
        }))
    }

    /// Stops the load and reports what it sent.
    pub(crate) async fn stop_load(&self, step: usize, running: Option<Running>) {
        let Some(running) = running else {
            return;
        };
        // The version label an app answers in its `X-Version` header: its image's tag,
        // `latest` without one.
        let new_label = crate::image::ImageRef::parse(&self.plan.to_image)
            .ok()
            .and_then(|image| image.tag)
            .unwrap_or_else(|| "latest".to_owned());
        let mut summary = LoadSummary {
            step,
            rate: running.load.rate.per_second(),
            target: running.load.target,
            requests: 0,
            failed: 0,
            to_new: None,
            compared: self.compared_in(step),
        };
        let mut to_new = 0;
        let mut versions_known = running.all_to_new;
        for generator in running.generators {
            let report = generator.stop().await;
            summary.requests += report.sent();
            summary.failed += report.failed;
            if running.all_to_new {
                to_new += report.sent().saturating_sub(report.failed);
            } else {
                versions_known |= report
                    .per_version
                    .keys()
                    .any(|v| v != loadgen::UNKNOWN_VERSION);
                to_new += report.per_version.get(&new_label).map_or(0, |v| v.requests);
            }
        }
        summary.to_new = versions_known.then_some(to_new);
        self.emit(Event::Load(summary));
    }
}

/// The generator's target, Host, CA and the base URL said in the log, from where users reach
/// the app.
async fn front_target(
    front: Front,
) -> Result<(SocketAddr, Option<String>, Option<String>, String), String> {
    match front {
        Front::Plain { base, host } => {
            let url = reqwest::Url::parse(&base).map_err(|e| format!("{base}: {e}"))?;
            if url.scheme() != "http" {
                return Err(format!(
                    "{base}: over HTTPS the load needs the ingress's CA, which only the Ingress's own TLS gives"
                ));
            }
            let at = url
                .host_str()
                .ok_or_else(|| format!("{base} has no host"))?
                .trim_matches(|c| c == '[' || c == ']')
                .to_owned();
            let port = url.port_or_known_default().unwrap_or(80);
            let address = resolve(&at, port).await?;
            Ok((address, host, None, base))
        }
        Front::Tls {
            base,
            host,
            address,
            ca,
        } => {
            let ca = ca.ok_or_else(|| {
                format!(
                    "{base}: the Ingress's TLS Secret has no ca.crt to trust its certificate by"
                )
            })?;
            let ca =
                String::from_utf8(ca).map_err(|_| "the ingress's ca.crt is not PEM".to_owned())?;
            Ok((address, Some(host), Some(ca), base))
        }
    }
}

async fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("{host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))
}

pub(crate) fn target_name(target: LoadTarget) -> &'static str {
    LoadTarget::NAMES
        .iter()
        .find(|(_, t)| *t == target)
        .map_or("?", |(n, _)| n)
}
