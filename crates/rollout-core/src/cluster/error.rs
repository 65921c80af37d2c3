//! Errors from the API, said the way a user can act on: each names the verb, the resource, the
//! object and the namespace; a forbidden request points at the Role the orchestrator needs; a
//! server that cannot be reached is named with the likely cause. The client's own error is
//! kept as the source (see [`crate::error::chain`] for how the whole chain is printed).

use std::fmt;
use std::time::Duration;

/// The API verbs the orchestrator uses, as RBAC names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Patch,
    Delete,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One API call, for messages: `patch deployments "web" in namespace "shop"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub verb: Verb,
    /// The resource's plural name (`deployments`, `httproutes`).
    pub resource: String,
    pub namespace: String,
    /// Empty for calls on a collection (list, watch).
    pub name: String,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() {
            write!(
                f,
                "{} {} in namespace {:?}",
                self.verb, self.resource, self.namespace
            )
        } else {
            write!(
                f,
                "{} {} {:?} in namespace {:?}",
                self.verb, self.resource, self.name, self.namespace
            )
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "forbidden: cannot {} {} in namespace {:?}; the orchestrator needs the Role in manifests/rbac.yaml",
        call.verb, call.resource, call.namespace
    )]
    Forbidden {
        call: Call,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("{} {:?} not found in namespace {:?}", call.resource, call.name, call.namespace)]
    NotFound { call: Call },
    #[error(
        "{call}: cannot reach the API server at {server}; is the cluster running? (`rollout sim up` starts an embedded one)"
    )]
    Unreachable {
        call: Call,
        server: String,
        #[source]
        source: Box<kube::Error>,
    },
    /// The server took longer than the run's `--api-timeout` to answer. Not retried: the
    /// request already waited as long as the user allows for one answer, and retries would
    /// multiply that bound.
    #[error("{call}: the API server did not answer in time")]
    Unanswered {
        call: Call,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("{call}")]
    Api {
        call: Call,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("timed out after {}: {what}", humantime::format_duration(*.after))]
    Timeout { what: String, after: Duration },
    /// A wait's condition said it will never hold (a crash-looping pod, a deadline the
    /// Deployment exceeded).
    #[error("{what}: {reason}")]
    Stuck { what: String, reason: String },
    /// Someone else kept writing the object between our read and our write.
    #[error("{call}: the object kept changing under us")]
    Conflicts { call: Call },
    /// An object the rollout would make exists already and is not this rollout's: it is left
    /// as it is.
    #[error(
        "{} {:?} in namespace {:?} exists and is not this rollout's ({owner}); the rollout never changes it: delete or rename it, or give the rollout other names",
        call.resource, call.name, call.namespace
    )]
    Foreign { call: Call, owner: String },
    /// This process no longer holds the app's Lease: it must not write.
    #[error("{call}: not done, this process no longer holds the Lease ({why})")]
    Fenced { call: Call, why: String },
    /// An object read from the API is not what the orchestrator can work with.
    #[error("{call}: {problem}")]
    Unexpected { call: Call, problem: String },
}

impl ClusterError {
    pub fn is_forbidden(&self) -> bool {
        matches!(self, ClusterError::Forbidden { .. })
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, ClusterError::NotFound { .. })
    }

    pub fn is_timeout(&self) -> bool {
        matches!(self, ClusterError::Timeout { .. })
    }

    /// The HTTP status the server answered, when it answered.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            ClusterError::Api { source, .. } => match source.as_ref() {
                kube::Error::Api(s) => Some(s.code),
                _ => None,
            },
            ClusterError::Forbidden { .. } => Some(403),
            ClusterError::NotFound { .. } => Some(404),
            _ => None,
        }
    }

    /// Errors worth retrying: the server or the connection had a problem.
    pub fn is_transient(&self) -> bool {
        match self {
            ClusterError::Unreachable { .. } => true,
            ClusterError::Api { source, .. } => match source.as_ref() {
                kube::Error::Api(s) => s.code == 429 || s.code >= 500,
                _ => true,
            },
            _ => false,
        }
    }
}

/// Whether a request failed because the API server took too long (to accept the connection,
/// or between two reads of its answer).
fn timed_out(e: &kube::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        cause = c.source();
    }
    false
}

impl Call {
    pub fn new(verb: Verb, resource: &str, namespace: &str, name: &str) -> Self {
        Call {
            verb,
            resource: resource.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// The error of this call from the client's: refusals, absences and unreachable servers
    /// each get their own variant so that callers match on them, never on text.
    pub fn error(self, source: kube::Error, server: &str) -> ClusterError {
        let source = Box::new(source);
        match source.as_ref() {
            kube::Error::Api(status) if status.code == 403 => {
                ClusterError::Forbidden { call: self, source }
            }
            kube::Error::Api(status) if status.code == 404 => ClusterError::NotFound { call: self },
            _ if timed_out(source.as_ref()) => ClusterError::Unanswered { call: self, source },
            kube::Error::Service(_) | kube::Error::HyperError(_) if !server.is_empty() => {
                ClusterError::Unreachable {
                    call: self,
                    server: server.to_owned(),
                    source,
                }
            }
            _ => ClusterError::Api { call: self, source },
        }
    }
}
