//! Running probes the way a kubelet does: httpGet (2xx/3xx passes), tcpSocket (connect
//! passes), exec and grpc (taken as passing: there is no process to exec into), each with its
//! timeout, and the consecutive success / failure thresholds that turn results into a state.

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One probe of one container with its running tally.
#[derive(Debug, Clone)]
pub struct ProbeState {
    pub probe: Probe,
    pub successes: i32,
    pub failures: i32,
    /// The thresholded result: None until a threshold is first reached.
    pub passing: Option<bool>,
    /// The failure message of the last Unhealthy event of this run of failures.
    pub said: Option<String>,
}

/// What a probe run said, with a message for the Unhealthy event.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub ok: bool,
    pub message: String,
}

impl ProbeState {
    pub fn new(probe: Probe) -> Self {
        Self {
            probe,
            successes: 0,
            failures: 0,
            passing: None,
            said: None,
        }
    }

    pub fn initial_delay(&self) -> Duration {
        Duration::from_secs(self.probe.initial_delay_seconds.unwrap_or(0).max(0) as u64)
    }

    pub fn period(&self) -> Duration {
        Duration::from_secs(self.probe.period_seconds.unwrap_or(10).max(1) as u64)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.probe.timeout_seconds.unwrap_or(1).max(1) as u64)
    }

    /// Whether a failure with `message` is worth an Unhealthy event: the first of a run of
    /// failures, and each one whose message differs from the last event's (a probe that
    /// was refused while the app started, then answers 503), so the last event says why the
    /// probe fails now. (The kubelet records every failure; repeating the same message
    /// would add nothing but events.)
    pub fn tell_failure(&mut self, message: &str) -> bool {
        if self.said.as_deref() == Some(message) {
            return false;
        }
        self.said = Some(message.to_owned());
        true
    }

    /// Counts one result; returns the new thresholded state when it changed.
    pub fn record(&mut self, ok: bool) -> Option<bool> {
        if ok {
            self.successes += 1;
            self.failures = 0;
            self.said = None;
        } else {
            self.failures += 1;
            self.successes = 0;
        }
        let success_threshold = self.probe.success_threshold.unwrap_or(1).max(1);
        let failure_threshold = self.probe.failure_threshold.unwrap_or(3).max(1);
        let next = if self.successes >= success_threshold {
            Some(true)
        } else if self.failures >= failure_threshold {
            Some(false)
        } else {
            self.passing
        };
        let changed = next != self.passing;
        self.passing = next;
        changed.then_some(next).flatten()
    }
}

/// Resolves a probe port (number or the name of a container port).
fn port(p: &IntOrString, container: &Container) -> Option<u16> {
    match p {
        IntOrString::Int(n) => u16::try_from(*n).ok(),
        IntOrString::String(name) => container
            .ports
            .as_ref()?
            .iter()
            .find(|cp| cp.name.as_deref() == Some(name.as_str()))
            .and_then(|cp| u16::try_from(cp.container_port).ok()),
    }
}

/// Runs a probe once against the pod's address.
pub async fn run(probe: &Probe, container: &Container, ip: IpAddr, timeout: Duration) -> Outcome {
    if let Some(h) = &probe.http_get {
        let Some(p) = port(&h.port, container) else {
            return Outcome {
                ok: false,
                message: format!(
                    "port {:?} is not a port of container {}",
                    h.port, container.name
                ),
            };
        };
        let path = h.path.clone().unwrap_or_else(|| "/".into());
        return match tokio::time::timeout(
            timeout,
            http_status(super::ports::dial(SocketAddr::new(ip, p)), &path),
        )
        .await
        {
            Ok(Ok(code)) if (200..400).contains(&code) => Outcome {
                ok: true,
                message: String::new(),
            },
            Ok(Ok(code)) => Outcome {
                ok: false,
                message: format!("HTTP probe failed with statuscode: {code}"),
            },
            Ok(Err(e)) => Outcome {
                ok: false,
                message: format!("Get \"http://{ip}:{p}{path}\": {e}"),
            },
            Err(_) => Outcome {
                ok: false,
                message: format!(
                    "Get \"http://{ip}:{p}{path}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
                ),
            },
        };
    }
    if let Some(t) = &probe.tcp_socket {
        let Some(p) = port(&t.port, container) else {
            return Outcome {
                ok: false,
                message: format!(
                    "port {:?} is not a port of container {}",
                    t.port, container.name
                ),
            };
        };
        return match tokio::time::timeout(
            timeout,
            tokio::net::TcpStream::connect(super::ports::dial(SocketAddr::new(ip, p))),
        )
        .await
        {
            Ok(Ok(_)) => Outcome {
                ok: true,
                message: String::new(),
            },
            Ok(Err(e)) => Outcome {
                ok: false,
                message: format!("dial tcp {ip}:{p}: {e}"),
            },
            Err(_) => Outcome {
                ok: false,
                message: format!("dial tcp {ip}:{p}: i/o timeout"),
            },
        };
    }
    // exec / grpc: there is no process to run a command in; the container's health is what
    // its HTTP app says, so these pass.
    Outcome {
        ok: true,
        message: String::new(),
    }
}

/// A minimal HTTP/1.1 GET that returns the status code (probes need nothing more, and this
/// keeps probe traffic off any shared client pool).
async fn http_status(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: kube-probe/1.33\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).await?;
    let mut buf = [0u8; 64];
    let mut read = 0;
    while read < 12 {
        let n = stream.read(&mut buf[read..]).await?;
        if n == 0 {
            break;
        }
        read += n;
    }
    let head = String::from_utf8_lossy(&buf[..read]);
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("malformed HTTP response"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        let probe = Probe {
            success_threshold: Some(2),
            failure_threshold: Some(2),
            ..Default::default()
        };
        let mut s = ProbeState::new(probe);
        assert_eq!(s.record(true), None);
        assert_eq!(s.record(true), Some(true));
        assert_eq!(s.record(false), None);
        assert_eq!(s.record(false), Some(false));
        assert_eq!(s.record(true), None);
        assert_eq!(s.passing, Some(false));
    }

    #[tokio::test]
    async fn http_and_tcp_probes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 256];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let bad = String::from_utf8_lossy(&buf[..n]).starts_with("GET /bad");
                let line: &[u8] = if bad {
                    b"HTTP/1.1 503 Service Unavailable\r\n\r\n"
                } else {
                    b"HTTP/1.1 200 OK\r\n\r\n"
                };
                let _ = s.write_all(line).await;
            }
        });
        let container: Container = serde_json::from_value(serde_json::json!({"name": "app", "ports": [{"name": "http", "containerPort": addr.port()}]})).expect("c");
        let http = |path: &str| -> Probe {
            serde_json::from_value(serde_json::json!({"httpGet": {"path": path, "port": "http"}}))
                .expect("probe")
        };
        let t = Duration::from_secs(1);
        assert!(run(&http("/ok"), &container, addr.ip(), t).await.ok);
        let bad = run(&http("/bad"), &container, addr.ip(), t).await;
        assert_eq!(
            bad,
            Outcome {
                ok: false,
                message: "HTTP probe failed with statuscode: 503".into()
            }
        );
        let tcp: Probe =
            serde_json::from_value(serde_json::json!({"tcpSocket": {"port": addr.port()}}))
                .expect("probe");
        assert!(run(&tcp, &container, addr.ip(), t).await.ok);
        let closed: Probe =
            serde_json::from_value(serde_json::json!({"tcpSocket": {"port": 1}})).expect("probe");
        assert!(!run(&closed, &container, addr.ip(), t).await.ok);
    }
}
