//! Errors from the API, said the way a user can act on: a forbidden request names the verb,
//! the resource and the namespace, and points at the Role the orchestrator needs.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "forbidden: cannot {verb} {resource} in namespace {namespace:?} ({message}); the orchestrator needs the Role in manifests/rbac.yaml"
    )]
    Forbidden {
        verb: String,
        resource: String,
        namespace: String,
        message: String,
    },
    #[error("{verb} {resource} {name:?} in namespace {namespace:?}: {message}")]
    Api {
        verb: String,
        resource: String,
        name: String,
        namespace: String,
        code: u16,
        message: String,
    },
    #[error("timed out after {}: {what}", humantime::format_duration(*.after))]
    Timeout { what: String, after: Duration },
    #[error("{0}")]
    Other(String),
}

impl ClusterError {
    pub fn is_forbidden(&self) -> bool {
        matches!(self, ClusterError::Forbidden { .. })
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, ClusterError::Api { code: 404, .. })
    }

    /// Errors worth retrying: the server or the connection had a problem.
    pub fn is_transient(&self) -> bool {
        matches!(self, ClusterError::Api { code, .. } if *code == 0 || *code == 429 || *code >= 500)
    }
}

/// Context of one API call, for messages.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub verb: &'a str,
    pub resource: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
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

impl Call<'_> {
    pub fn error(&self, e: kube::Error) -> ClusterError {
        match e {
            kube::Error::Api(status) => {
                let code = status.code;
                let message = status.message.clone();
                if code == 403 {
                    ClusterError::Forbidden {
                        verb: self.verb.into(),
                        resource: self.resource.into(),
                        namespace: self.namespace.into(),
                        message,
                    }
                } else {
                    ClusterError::Api {
                        verb: self.verb.into(),
                        resource: self.resource.into(),
                        name: self.name.into(),
                        namespace: self.namespace.into(),
                        code,
                        message,
                    }
                }
            }
            // Not retried: the request already waited as long as the user allows for one
            // answer, and retries would multiply that bound.
            other if timed_out(&other) => ClusterError::Other(format!(
                "{} {} {:?} in namespace {:?}: the API server did not answer in time ({other})",
                self.verb, self.resource, self.name, self.namespace
            )),
            other => ClusterError::Api {
                verb: self.verb.into(),
                resource: self.resource.into(),
                name: self.name.into(),
                namespace: self.namespace.into(),
                code: 0,
                message: other.to_string(),
            },
        }
    }
}
