//! Shared helpers for the end-to-end tests: the embedded cluster's test helpers, and running
//! rollouts on it ([`rollouts`]).

pub mod rollouts;

pub use kubesim::testing::*;

/// A child process, killed (and reaped) when dropped: a test that fails never leaves a
/// `rollout sim up` or a traffic generator running.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
