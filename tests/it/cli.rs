//! The command line: built-in strategies are listed; a bad strategy file is refused with its
//! file:line:column.

use std::process::Command;

fn rollout(args: &[&str]) -> (bool, String, String) {
    let (code, out, err) = rollout_code(args);
    (code == Some(0), out, err)
}

fn rollout_code(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rollout"))
        .args(args)
        .output()
        .expect("run rollout");
    (
        out.status.code(),
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
    let path = path.to_str().unwrap_or_default();
    let (code, _, err) = rollout_code(&["strategies", "--check", path]);
    assert_eq!(code, Some(2), "bad input exits 2: {err}");
    assert!(
        err.contains("bad.yaml:3:16: steps[0].setWeight: expected a number from 0 to 100, got 150"),
        "{err}"
    );
    // The same file given to a rollout is refused the same way, with the same code, before
    // any cluster is looked for.
    let (code, _, err) = rollout_code(&[
        "--strategy",
        path,
        "--image",
        "v2",
        "--kubeconfig",
        "/nonexistent",
    ]);
    assert_eq!(code, Some(2), "{err}");
}

#[test]
fn a_good_strategy_file_is_ok_in_one_line() {
    let (ok, out, err) = rollout(&["strategies", "--check", "canary"]);
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        "strategies/canary.yaml: ok (canary; checks: probes, smoke, errors)"
    );
    let (ok, out, _) = rollout(&["strategies", "--check", "canary", "--show"]);
    assert!(ok);
    let shown: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(shown["strategy"]["name"], "canary");
    assert_eq!(shown["strategy"]["steps"][0]["setWeight"], 10);
}
