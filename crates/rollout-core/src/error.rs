//! Printing an error with its causes on one line, the way a user reads it.
//!
//! The project's errors keep what caused them as their `source` instead of copying its text
//! into their own message; the program prints the chain once, at the end. The client's
//! errors are read for what matters to a user: the API server's `Status` message, or the
//! innermost cause of a failed connection (`Connection refused`), not the layers between.

use std::error::Error;

/// `error: cause: deeper cause`, each level once.
pub fn chain(e: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut next = e.source();
    while let Some(cause) = next {
        let kube = cause
            .downcast_ref::<kube::Error>()
            .or_else(|| cause.downcast_ref::<Box<kube::Error>>().map(|b| b.as_ref()));
        if let Some(kube) = kube {
            parts.push(kube_cause(kube));
            break;
        }
        parts.push(cause.to_string());
        next = cause.source();
    }
    // Some errors repeat their source in their own message: a level whose text is already
    // there adds nothing.
    let mut text = String::new();
    for p in parts {
        if p.is_empty() || text.contains(&p) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&p);
    }
    text
}

/// What a client error says to a user: the server's message, or the innermost cause.
fn kube_cause(e: &kube::Error) -> String {
    if let kube::Error::Api(status) = e {
        return if status.message.is_empty() {
            status.reason.clone()
        } else {
            status.message.clone()
        };
    }
    let mut innermost: &(dyn Error + 'static) = e;
    while let Some(deeper) = innermost.source() {
        innermost = deeper;
    }
    innermost.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("patch deployments \"web\"")]
    struct Outer(#[source] kube::Error);

    #[test]
    fn the_server_message_not_the_client_debug_text() {
        let status = kube::core::Status::failure("deployments.apps \"web\" is invalid", "Invalid");
        let e = Outer(kube::Error::Api(Box::new(status)));
        assert_eq!(
            chain(&e),
            "patch deployments \"web\": deployments.apps \"web\" is invalid"
        );
    }

    #[test]
    fn a_cluster_error_names_the_call_and_the_server_message() {
        let status = kube::core::Status::failure("the object has been modified", "Conflict");
        let e = crate::cluster::error::Call::new(
            crate::cluster::error::Verb::Patch,
            "deployments",
            "shop",
            "web",
        )
        .error(kube::Error::Api(Box::new(status)), "");
        assert_eq!(
            chain(&e),
            "patch deployments \"web\" in namespace \"shop\": the object has been modified"
        );
    }

    #[test]
    fn the_innermost_cause_of_other_client_errors() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let e = Outer(kube::Error::ReadEvents(io));
        assert_eq!(chain(&e), "patch deployments \"web\": Connection refused");
    }
}
