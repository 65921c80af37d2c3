//! The exit codes of every command, documented in one place: `rollout --help` lists them
//! from here and scripts rely on them staying as they are.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitCode {
    /// Done: the rollout (or the command) finished; also a rollout left paused for
    /// `rollout promote`.
    Done,
    /// An error before anything changed, or outside a rollout (the cluster unreachable).
    Error,
    /// Bad input: a strategy file, a flag, an app or image that cannot be used. Nothing was
    /// changed.
    BadInput,
    /// Rolled back: a gate failed, or `rollout abort`; the app runs the stable version.
    RolledBack,
    /// Rolling back failed: the app may be in between; the record stays in the cluster for
    /// `rollout abort` or `rollout resume`.
    RollbackFailed,
    /// Interrupted (Ctrl-C, SIGTERM, SIGHUP): rolled back, then stopped.
    Interrupted,
}

impl ExitCode {
    /// Every code, in the order of their numbers.
    pub const ALL: [ExitCode; 6] = [
        ExitCode::Done,
        ExitCode::Error,
        ExitCode::BadInput,
        ExitCode::RolledBack,
        ExitCode::RollbackFailed,
        ExitCode::Interrupted,
    ];

    pub fn code(self) -> u8 {
        match self {
            ExitCode::Done => 0,
            ExitCode::Error => 1,
            ExitCode::BadInput => 2,
            ExitCode::RolledBack => 3,
            ExitCode::RollbackFailed => 4,
            ExitCode::Interrupted => 130,
        }
    }

    /// What the code means, one line.
    pub fn meaning(self) -> &'static str {
        match self {
            ExitCode::Done => "done (or paused, waiting for `rollout promote`)",
            ExitCode::Error => "error; nothing was changed",
            ExitCode::BadInput => {
                "bad input (strategy file, flag, app, image); nothing was changed"
            }
            ExitCode::RolledBack => "rolled back: a gate failed or `rollout abort`",
            ExitCode::RollbackFailed => {
                "rolling back failed; the record stays for `rollout abort` / `rollout resume`"
            }
            ExitCode::Interrupted => {
                "interrupted (Ctrl-C, SIGTERM, SIGHUP): rolled back, then stopped"
            }
        }
    }

    /// The table `rollout --help` ends with.
    pub fn table() -> String {
        let mut out = String::from("Exit codes:\n");
        for c in Self::ALL {
            out.push_str(&format!("  {:>3}  {}\n", c.code(), c.meaning()));
        }
        out
    }
}

impl fmt::Display for ExitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(c: ExitCode) -> Self {
        std::process::ExitCode::from(c.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_listed() {
        let mut codes: Vec<u8> = ExitCode::ALL.iter().map(|c| c.code()).collect();
        codes.dedup();
        assert_eq!(codes, vec![0, 1, 2, 3, 4, 130]);
        assert!(ExitCode::table().contains("  3  rolled back"));
    }
}
