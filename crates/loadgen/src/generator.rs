//! The running generator: an open-loop scheduler that fires requests on a fixed timetable and
//! records what each of them got.
//!
//! HTTP/1.1 with hyper's pooled client, plain or (with a CA to trust) over TLS: no proxy taken
//! from the environment, no redirects followed — so a request goes to the loopback target and
//! nowhere else, whatever the environment or the answers say.

use crate::record::{ErrorKind, Outcome, Recorder};
use crate::report::{Data, End, GroupMeta, Report};
use crate::spec::{MAX_DURATION, Prepared, TrafficError, TrafficSpec};
use hyper::body::{Body as _, Incoming};
use hyper::header::{HOST, HeaderMap, HeaderValue, USER_AGENT};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::future::poll_fn;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};

/// After the last request's timeout, how long stopping waits before abandoning stragglers
/// (only a request whose timeout itself did not fire could take longer).
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// Most body bytes read per answer: enough for any page the simulated apps serve; past it the
/// rest is not read (the answer still counts), so a huge body cannot stall the generator.
const MAX_BODY: usize = 1 << 20;

/// Fractional part of the golden ratio: successive multiples of it, modulo 1, spread over the
/// unit interval as evenly as any sequence can (a Weyl sequence).
const GOLDEN_FRACTION: f64 = 0.618_033_988_749_894_9;

type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, String>;

/// A running generator. Dropping it aborts it at once; [`Traffic::stop`] ends it cleanly.
#[derive(Debug)]
pub struct Traffic {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    done: watch::Receiver<bool>,
    task: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    start: Instant,
    started: SystemTime,
    recorder: Mutex<State>,
    permits: Arc<Semaphore>,
    max_in_flight: usize,
    groups: Vec<GroupMeta>,
}

#[derive(Debug)]
struct State {
    recorder: Recorder,
    end: Option<End>,
}

impl Shared {
    /// The lock only guards plain data updates, so a panic while holding it (there is none
    /// to expect) cannot leave it half-written in a way worth refusing to read.
    fn state(&self) -> MutexGuard<'_, State> {
        self.recorder.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ms_since_start(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.start).as_millis()).unwrap_or(u64::MAX)
    }

    fn record(&self, outcome: Outcome) {
        self.state().recorder.record(outcome);
    }
}

/// When the scheduler stops by itself.
#[derive(Debug, Clone, Copy)]
struct Plan {
    rate: f64,
    deadline: Duration,
    end_at_deadline: End,
    max_requests: Option<u64>,
    timeout: Duration,
}

impl Traffic {
    /// Validates `spec` and starts sending at once, from the current Tokio runtime.
    pub fn start(spec: TrafficSpec) -> Result<Traffic, TrafficError> {
        let prepared = Arc::new(spec.prepare()?);
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| TrafficError::NoRuntime)?;

        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        // The TLS layer around it hands it `https` URIs too.
        connector.enforce_http(false);
        // The target is an address; over TLS the server is asked for the spec's host.
        let connector = match &prepared.tls {
            Some((config, name)) => hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(config.clone())
                .https_only()
                .with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name.clone()))
                .enable_http1()
                .wrap_connector(connector),
            None => hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(
                    rustls::ClientConfig::builder_with_provider(Arc::new(
                        rustls::crypto::ring::default_provider(),
                    ))
                    .with_safe_default_protocol_versions()
                    .map_err(|e| TrafficError::InvalidSpec(e.to_string()))?
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
                )
                .https_or_http()
                .enable_http1()
                .wrap_connector(connector),
        };
        let client: HttpClient = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(spec.max_in_flight)
            .build(connector);

        let permits = Arc::new(Semaphore::new(spec.max_in_flight));
        let shared = Arc::new(Shared {
            start: Instant::now(),
            started: SystemTime::now(),
            recorder: Mutex::new(State {
                recorder: Recorder::new(spec.keep_outcomes),
                end: None,
            }),
            permits,
            max_in_flight: spec.max_in_flight,
            groups: spec
                .groups
                .iter()
                .map(|g| GroupMeta {
                    label: g.to_string(),
                    share: g.share,
                })
                .collect(),
        });
        let plan = Plan {
            rate: spec.rate_per_second,
            deadline: spec.duration.unwrap_or(MAX_DURATION),
            end_at_deadline: if spec.duration.is_some() {
                End::Duration
            } else {
                End::HardCap
            },
            max_requests: spec.max_requests,
            timeout: spec.timeout,
        };
        let (stop, stop_rx) = watch::channel(false);
        let (done_tx, done) = watch::channel(false);
        let task = runtime.spawn(run(
            shared.clone(),
            client,
            prepared,
            plan,
            stop_rx,
            done_tx,
        ));
        Ok(Traffic {
            shared,
            stop,
            done,
            task: Some(task),
        })
    }

    /// What was recorded so far; cheap (copies bucket pointers, aggregates them).
    pub fn snapshot(&self) -> Report {
        let in_flight = self
            .shared
            .max_in_flight
            .saturating_sub(self.shared.permits.available_permits()) as u64;
        let data = {
            let state = self.shared.state();
            Data {
                started: self.shared.started,
                buckets: state.recorder.buckets.clone(),
                groups: self.shared.groups.clone(),
                in_flight,
                end: state.end,
            }
        };
        Report::whole(Arc::new(data))
    }

    /// The individual outcomes kept so far (the first `keep_outcomes`, in the order they
    /// completed), and how many more were only aggregated.
    pub fn outcomes(&self) -> (Vec<Outcome>, u64) {
        let state = self.shared.state();
        (state.recorder.outcomes.clone(), state.recorder.discarded)
    }

    /// Whether it stopped sending and every request sent has its outcome.
    pub fn is_finished(&self) -> bool {
        *self.done.borrow()
    }

    /// Waits until it ends by itself (duration, `max_requests` or the hard cap) and every
    /// request sent has its outcome.
    pub async fn finished(&self) {
        let mut done = self.done.clone();
        // An error means the scheduler is gone (aborted): finished too.
        let _ = done.wait_for(|done| *done).await;
    }

    /// Stops sending, waits for the requests in flight (each bounded by the timeout), and
    /// reports.
    pub async fn stop(mut self) -> Report {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            // A join error is the scheduler panicking or being aborted: report what there is.
            let _ = task.await;
        }
        self.snapshot()
    }
}

impl Drop for Traffic {
    /// A generator nobody can stop any more must not keep sending.
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The scheduler: request `i` is due at `i / rate` seconds after the start, whatever happened
/// to the earlier ones. When it falls behind (a starved runtime), it sends the overdue ones at
/// once rather than skipping them, so the count of due requests stays true to the rate.
async fn run(
    shared: Arc<Shared>,
    client: HttpClient,
    prepared: Arc<Prepared>,
    plan: Plan,
    mut stop: watch::Receiver<bool>,
    done: watch::Sender<bool>,
) {
    let offset = rand::random::<f64>();
    let mut in_flight = JoinSet::new();
    let mut i: u64 = 0;
    let end = loop {
        if plan.max_requests.is_some_and(|max| i >= max) {
            break End::MaxRequests;
        }
        // A rate so low that the next request lies beyond any duration ends the run.
        let due = Duration::try_from_secs_f64(i as f64 / plan.rate).unwrap_or(Duration::MAX);
        if due >= plan.deadline {
            break plan.end_at_deadline;
        }
        tokio::select! {
            biased;
            _ = stop.wait_for(|stop| *stop) => break End::Stopped,
            () = tokio::time::sleep_until((shared.start + due).into()) => {}
        }
        while in_flight.try_join_next().is_some() {}
        let group = group_of(&prepared.cumulative, offset, i);
        match shared.permits.clone().try_acquire_owned() {
            Ok(permit) => {
                in_flight.spawn(send(
                    shared.clone(),
                    client.clone(),
                    prepared.clone(),
                    group,
                    permit,
                ));
            }
            Err(_) => {
                let at_ms = shared.ms_since_start(Instant::now());
                shared.record(Outcome::dropped(at_ms, group));
            }
        }
        i += 1;
    };
    shared.state().end = Some(end);
    let drain = async { while in_flight.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(plan.timeout + DRAIN_GRACE, drain).await;
    in_flight.abort_all();
    done.send_replace(true);
}

/// Which group sends request `i`: the position of `i` in a Weyl sequence picks a group by the
/// cumulative shares. Unlike a coin toss per request, this gives each group its share within a
/// fraction of a percent over a few hundred requests, while still interleaving the groups — an
/// experiment's ground truth should not carry sampling noise of its own.
fn group_of(cumulative: &[f64], offset: f64, i: u64) -> Option<usize> {
    if cumulative.is_empty() {
        return None;
    }
    let position = (offset + i as f64 * GOLDEN_FRACTION).fract();
    cumulative.iter().position(|&c| position < c)
}

/// Sends one request and records its outcome. The permit is held until the outcome is
/// recorded, so `in_flight` and the counts never both miss a request.
async fn send(
    shared: Arc<Shared>,
    client: HttpClient,
    prepared: Arc<Prepared>,
    group: Option<usize>,
    _permit: OwnedSemaphorePermit,
) {
    let sent = Instant::now();
    let request = build_request(&prepared, group);
    let result = tokio::time::timeout(prepared.timeout, exchange(&client, request)).await;
    let mut outcome = Outcome {
        at_ms: shared.ms_since_start(sent),
        status: None,
        error: None,
        latency: sent.elapsed(),
        version: None,
        pod: None,
        group,
    };
    match result {
        Err(_) => outcome.error = Some(ErrorKind::Timeout),
        Ok(Err(error)) => outcome.error = Some(error),
        Ok(Ok(answer)) => {
            outcome.status = Some(answer.status);
            outcome.version = answer.version;
            outcome.pod = answer.pod;
            outcome.error = (!answer.body_complete).then_some(ErrorKind::Body);
        }
    }
    shared.record(outcome);
}

fn build_request(prepared: &Prepared, group: Option<usize>) -> Request<String> {
    let mut request = Request::new(String::new());
    *request.uri_mut() = prepared.uri.clone();
    let headers = request.headers_mut();
    if let Some(host) = &prepared.host {
        headers.insert(HOST, host.clone());
    }
    headers.insert(USER_AGENT, HeaderValue::from_static("rollout-traffic"));
    if let Some(extra) = group.and_then(|g| prepared.groups.get(g)) {
        for (name, value) in extra {
            headers.append(name.clone(), value.clone());
        }
    }
    request
}

struct Answer {
    status: u16,
    version: Option<String>,
    pod: Option<String>,
    body_complete: bool,
}

async fn exchange(client: &HttpClient, request: Request<String>) -> Result<Answer, ErrorKind> {
    let response: Response<Incoming> = client.request(request).await.map_err(|e| {
        if e.is_connect() {
            ErrorKind::Connect
        } else {
            ErrorKind::Transport
        }
    })?;
    let status = response.status().as_u16();
    let version = header_text(response.headers(), "x-version");
    let pod = header_text(response.headers(), "x-pod");
    let body_complete = drain(response.into_body()).await;
    Ok(Answer {
        status,
        version,
        pod,
        body_complete,
    })
}

/// Reads the body, so latency covers the whole answer and the connection can be reused.
/// `false` when it broke off.
async fn drain(body: Incoming) -> bool {
    let mut body = pin!(body);
    let mut read = 0usize;
    while let Some(frame) = poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        match frame {
            Ok(frame) => {
                read += frame.data_ref().map_or(0, |data| data.len());
                if read > MAX_BODY {
                    return true;
                }
            }
            Err(_) => return false,
        }
    }
    true
}

/// A header as text; not-quite-ASCII values are kept (lossily) rather than lost, since an
/// oddly named version is still a version. Length is bounded by the recorder.
fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    let value = headers.get(name)?;
    let text = String::from_utf8_lossy(value.as_bytes()).trim().to_owned();
    (!text.is_empty()).then_some(text)
}
