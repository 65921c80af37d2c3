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
        "built-in canary: ok (canary; checks: probes, smoke, errors)"
    );
    let (ok, out, _) = rollout(&["strategies", "--check", "canary", "--show"]);
    assert!(ok);
    let shown: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(shown["strategy"]["name"], "canary");
    assert_eq!(shown["strategy"]["steps"][0]["setWeight"], 10);
}

/// A kubeconfig in `dir` naming a server on a port nothing listens on, and that port.
fn unreachable_kubeconfig(dir: &std::path::Path) -> (std::path::PathBuf, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: \"https://127.0.0.1:{port}\", insecure-skip-tls-verify: true}}\nusers:\n- name: u\n  user: {{token: t}}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u, namespace: default}}\ncurrent-context: c\n"
        ),
    )
    .expect("write kubeconfig");
    (kubeconfig, port)
}

#[test]
fn a_cluster_that_is_not_there_is_named_with_its_address_and_no_colour() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (kubeconfig, port) = unreachable_kubeconfig(dir.path());
    let (code, _, err) = rollout_code(&[
        "--strategy",
        "canary",
        "--image",
        "v2",
        "--kubeconfig",
        kubeconfig.to_str().unwrap_or_default(),
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("cannot reach the API server at 127.0.0.1:{port}; is the cluster running? (`rollout sim up` starts an embedded one)")),
        "{err}"
    );
    assert!(err.contains("Connection refused"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "no colour codes when stderr is not a terminal: {err:?}"
    );
    assert!(!err.contains("\"\""), "no empty names: {err}");
    assert_eq!(err.lines().count(), 1, "one line, said once: {err}");
}

#[test]
fn a_missing_kubeconfig_is_named_once() {
    let (code, _, err) = rollout_code(&[
        "--strategy",
        "canary",
        "--image",
        "v2",
        "--kubeconfig",
        "/nonexistent",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err.trim(), "error: kubeconfig /nonexistent does not exist");
}

/// The embedded cluster's kubeconfig holds a bearer token: only its owner may read it.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubeconfig_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let tc = crate::common::TestCluster::fast(20.0).await;
    let path = tc.kubeconfig();
    let mode = std::fs::metadata(&path)
        .expect("kubeconfig")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{}: mode {:o}", path.display(), mode);
}

/// `sim up` on a taken port says so once and names the option that moves it.
#[test]
fn sim_up_on_a_busy_port_names_the_option_that_moves_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kc").display().to_string();
    for (args, option) in [
        (vec!["--port", port.as_str()], "--port N"),
        (
            vec!["--port", "0", "--ingress-port", port.as_str()],
            "--ingress-port N",
        ),
    ] {
        let mut all = vec!["sim", "up", "--kubeconfig", kubeconfig.as_str()];
        all.extend(args);
        let (code, _, err) = rollout_code(&all);
        assert_eq!(code, Some(1), "{err}");
        assert!(
            err.contains(option) && err.contains("0 picks a free one"),
            "{err}"
        );
        assert_eq!(err.matches("in use").count(), 1, "the cause once: {err}");
    }
}

/// On a terminal the log is coloured, unless `NO_COLOR` (set and not empty, as no-color.org
/// says) asks for none. `script` (util-linux) gives the command its pseudo-terminal.
#[test]
fn no_color_turns_the_colour_off_on_a_terminal() {
    if !crate::common::have_script() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (kubeconfig, _) = unreachable_kubeconfig(dir.path());
    // At debug level the client logs its attempts: lines that get a coloured level.
    let line = format!(
        "'{}' --log debug --strategy canary --image v2 --kubeconfig '{}'",
        env!("CARGO_BIN_EXE_rollout"),
        kubeconfig.display()
    );
    let screen = |no_color: Option<&str>| {
        let mut c = Command::new("script");
        c.args(["-qfec", &line, "/dev/null"])
            .env("TERM", "xterm")
            .env_remove("ROLLOUT_LOG")
            .env_remove("RUST_LOG");
        match no_color {
            Some(v) => c.env("NO_COLOR", v),
            None => c.env_remove("NO_COLOR"),
        };
        let out = c.output().expect("script");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for (no_color, coloured) in [(None, true), (Some(""), true), (Some("1"), false)] {
        let shown = screen(no_color);
        assert!(
            shown.contains("cannot reach the API server at 127.0.0.1:"),
            "NO_COLOR={no_color:?}: {shown}"
        );
        assert_eq!(
            shown.contains('\u{1b}'),
            coloured,
            "NO_COLOR={no_color:?}: {shown:?}"
        );
    }
}

/// What runs leave in the working directory is ignored by git: the embedded cluster's
/// kubeconfig (it holds a bearer token) and the reports `demo` and `experiment` write.
#[test]
fn what_runs_leave_in_the_working_directory_is_ignored_by_git() {
    let left = [
        "rollout-sim.kubeconfig",
        "rollout-report/demo-20261205-023000/report.md",
        "rollout-report/experiment-canary-20261205-023000/report.json",
    ];
    let out = Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "check-ignore",
            "--no-index",
            "--",
        ])
        .args(left)
        .output()
        .expect("git");
    let ignored = String::from_utf8_lossy(&out.stdout);
    for path in left {
        assert!(
            ignored.lines().any(|l| l == path),
            "{path} is not ignored: {ignored}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
