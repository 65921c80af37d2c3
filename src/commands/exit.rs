//! How a command ends: its exit code ([`ExitCode`], the one table of them) and, when it did
//! not finish, what to tell the user.

use std::error::Error;

use rollout_core::engine::start::StartError;
pub use rollout_core::exit::ExitCode;

/// A command that did not finish, with its exit code and its message.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    pub code: ExitCode,
    pub message: String,
}

impl Exit {
    /// Bad input: nothing was changed (exit 2).
    pub fn bad(message: impl Into<String>) -> Exit {
        Exit {
            code: ExitCode::BadInput,
            message: message.into(),
        }
    }

    /// Anything else that stopped the command (exit 1).
    pub fn failed(message: impl Into<String>) -> Exit {
        Exit {
            code: ExitCode::Error,
            message: message.into(),
        }
    }

    /// An error and its causes, on one line.
    pub fn error(code: ExitCode, e: &(dyn Error + 'static)) -> Exit {
        Exit {
            code,
            message: rollout_core::error::chain(e),
        }
    }
}

impl From<StartError> for Exit {
    fn from(e: StartError) -> Self {
        Exit::error(e.exit_code(), &e)
    }
}
