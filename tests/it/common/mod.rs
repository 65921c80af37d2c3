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

/// Whether util-linux's `script` is there to give a command a pseudo-terminal; when it is
/// not, the caller's test says it skipped.
pub fn have_script() -> bool {
    let found = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("SKIPPED: `script` (util-linux) is not installed");
    }
    found
}
