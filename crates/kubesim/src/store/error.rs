//! Store errors. Each maps onto one `metav1.Status` reason/code in the API layer.

use crate::admission::Cause;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{resource} \"{name}\" not found")]
    NotFound { resource: String, name: String },
    #[error("{resource} \"{name}\" already exists")]
    AlreadyExists { resource: String, name: String },
    #[error(
        "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
    )]
    Conflict { resource: String, name: String },
    /// A conflict with a custom message (precondition failures, apply conflicts).
    #[error("{message}")]
    ConflictMessage {
        resource: String,
        name: String,
        message: String,
    },
    #[error("{message}")]
    Invalid {
        kind: String,
        group: String,
        name: String,
        message: String,
        causes: Vec<Cause>,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("too old resource version: {requested} ({oldest})")]
    Expired { requested: u64, oldest: u64 },
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
