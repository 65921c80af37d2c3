//! The command line: built-in strategies are listed; a bad strategy file is refused with its
//! file:line:column.

use std::process::Command;

fn rollout(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rollout"))
        .args(args)
        .output()
        .expect("run rollout");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn strategies_lists_every_builtin() {
    let (ok, out, _) = rollout(&["strategies"]);
    assert!(ok);
    for name in [
        "recreate",
        "rolling",
        "blue-green",
        "canary",
        "ab",
        "shadow",
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(name) && l.len() > name.len() + 10),
            "{name} with a description:\n{out}"
        );
    }
}

#[test]
fn a_bad_strategy_file_names_file_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "strategy: canary\nsteps:\n  - setWeight: 150\n").expect("write");
    let (ok, _, err) = rollout(&["strategies", "--check", path.to_str().unwrap_or_default()]);
    assert!(!ok);
    assert!(
        err.contains("bad.yaml:3:16: steps[0].setWeight: expected a number from 0 to 100, got 150"),
        "{err}"
    );
}
