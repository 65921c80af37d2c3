//! The exec check: a command run where `rollout` runs — a smoke-test script, an integration
//! suite — with the rollout described in its environment. Exit status 0 passes; anything else
//! fails, with the last lines of its output in the summary.
//!
//! The command runs without a shell, in a process group of its own, so that a timeout (or the
//! rollout stopping while it runs) ends everything it started, not just the first process.
//! Only the tail of its output is kept: a chatty command cannot exhaust memory.

use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::JoinHandle;

use super::{Context, Gate, Measurement, Outcome, Rollout};
use crate::spec::ExecCheck;

/// The exec check as a gate: each measurement runs the command once.
pub struct ExecGate {
    name: String,
    check: ExecCheck,
}

impl ExecGate {
    pub fn new(name: String, check: ExecCheck) -> Self {
        ExecGate { name, check }
    }
}

impl Gate for ExecGate {
    fn measure<'a>(&'a mut self, cx: &'a dyn Context) -> BoxFuture<'a, Measurement> {
        Box::pin(async move {
            let rollout = cx.rollout().await;
            run(&self.name, &self.check, &env(&rollout, &self.name)).await
        })
    }
}

/// The variables a command finds the rollout in (added to `rollout`'s own environment).
/// Values that do not apply are empty, never absent, so that scripts can rely on them.
pub fn env(r: &Rollout, check: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ROLLOUT_APP", r.app.clone()),
        ("ROLLOUT_NAMESPACE", r.namespace.clone()),
        ("ROLLOUT_STRATEGY", r.strategy.clone()),
        ("ROLLOUT_OLD_IMAGE", r.old_image.clone()),
        ("ROLLOUT_NEW_IMAGE", r.new_image.clone()),
        (
            "ROLLOUT_STEP",
            r.step.map(|s| s.to_string()).unwrap_or_default(),
        ),
        ("ROLLOUT_WEIGHT", r.weight.to_string()),
        ("ROLLOUT_PHASE", r.phase_name().to_owned()),
        ("ROLLOUT_CHECK", check.to_owned()),
        ("ROLLOUT_NEW_URL", r.new_url.clone().unwrap_or_default()),
        ("ROLLOUT_NEW_HOST", r.new_host.clone().unwrap_or_default()),
        (
            "ROLLOUT_NEW_HEADER",
            r.new_header_line().unwrap_or_default(),
        ),
    ]
}

/// Output bytes kept per stream (the end of it).
const TAIL_BYTES: usize = 8 * 1024;
/// Lines of each stream shown in a summary, and characters of each line.
const TAIL_LINES: usize = 5;
const LINE_CHARS: usize = 200;
/// Once the command has ended, how long its output may take to reach its end: a process that
/// left the group (a daemon) may hold the pipe open for ever.
const DRAIN: Duration = Duration::from_secs(2);

/// One run of `check`'s command with `env` added to the environment.
pub async fn run(name: &str, check: &ExecCheck, env: &[(&str, String)]) -> Measurement {
    let shown = shown(&check.command);
    let Some((program, args)) = check.command.split_first() else {
        return Measurement::error(name, "no command to run");
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let began = Instant::now();
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return Measurement::error(name, format!("cannot run {shown}: {e}")),
    };
    let mut group = Group::of(child.id());
    let mut stdout = child.stdout.take().map(|o| tokio::spawn(tail(o)));
    let mut stderr = child.stderr.take().map(|e| tokio::spawn(tail(e)));
    let waited = tokio::time::timeout(check.timeout.std(), child.wait()).await;
    // Whatever the command started ends with it (or with its timeout).
    group.kill();
    let status = match waited {
        Ok(Ok(status)) => Some(status),
        Ok(Err(e)) => return Measurement::error(name, format!("waiting for {shown}: {e}")),
        Err(_) => {
            let _ = child.wait().await;
            None
        }
    };
    let seconds = began.elapsed().as_secs_f64();
    let out = collect(&mut stdout).await;
    let err = collect(&mut stderr).await;
    let took = format!("{seconds:.1}s");
    let Some(status) = status else {
        let summary = format!(
            "{shown} did not exit within {} (killed with its process group){}",
            check.timeout,
            output(&out, &err)
        );
        return Measurement::new(name, Outcome::Fail, summary).figure("seconds", seconds);
    };
    let (outcome, summary) = match status.code() {
        Some(0) => {
            let last = last_lines(&out, 1);
            let said = last.first().map(|l| format!(": {l}")).unwrap_or_default();
            (
                Outcome::Pass,
                format!("{shown} exited 0 after {took}{said}"),
            )
        }
        Some(code) => (
            Outcome::Fail,
            format!("{shown} exited {code} after {took}{}", output(&out, &err)),
        ),
        None => (
            Outcome::Fail,
            format!(
                "{shown} was killed{} after {took}{}",
                signal(status),
                output(&out, &err)
            ),
        ),
    };
    let mut m = Measurement::new(name, outcome, summary).figure("seconds", seconds);
    if let Some(code) = status.code() {
        m = m.figure("exit_code", f64::from(code));
    }
    m
}

fn signal(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    status
        .signal()
        .map(|s| format!(" by signal {s}"))
        .unwrap_or_default()
}

/// The command as users wrote it, in backquotes, cut when very long.
fn shown(command: &[String]) -> String {
    let text = command.join(" ");
    format!("`{}`", cut(&text, 80))
}

fn cut(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        text.to_owned()
    } else {
        let kept: String = text.chars().take(chars).collect();
        format!("{kept}…")
    }
}

/// `; stderr: a | b; stdout: c`, with what each stream said last.
fn output(out: &Tail, err: &Tail) -> String {
    let mut text = String::new();
    for (what, tail) in [("stderr", err), ("stdout", out)] {
        let lines = last_lines(tail, TAIL_LINES);
        if !lines.is_empty() {
            text.push_str(&format!("; {what}: {}", lines.join(" | ")));
        }
    }
    text
}

/// The end of a stream: its last bytes, and whether anything before them was dropped.
#[derive(Debug, Default)]
struct Tail {
    bytes: Vec<u8>,
    cut: bool,
}

/// The last `n` non-blank lines of `tail`, each cut to [`LINE_CHARS`].
fn last_lines(tail: &Tail, n: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(&tail.bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    // The first line kept may be the end of a longer one.
    if tail.cut && lines.len() > 1 {
        lines.remove(0);
    }
    let lines: Vec<&str> = lines
        .into_iter()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    let skip = lines.len().saturating_sub(n);
    lines[skip..].iter().map(|l| cut(l, LINE_CHARS)).collect()
}

/// Reads a stream to its end, keeping its last [`TAIL_BYTES`].
async fn tail(mut from: impl AsyncRead + Unpin) -> Tail {
    let mut kept = Tail::default();
    let mut buf = vec![0u8; 4096];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.bytes.extend_from_slice(&buf[..n]);
                if kept.bytes.len() > TAIL_BYTES {
                    let extra = kept.bytes.len() - TAIL_BYTES;
                    kept.bytes.drain(..extra);
                    kept.cut = true;
                }
            }
        }
    }
    kept
}

/// What a reader kept, waiting at most [`DRAIN`] for the stream to end.
async fn collect(reader: &mut Option<JoinHandle<Tail>>) -> Tail {
    let Some(handle) = reader.as_mut() else {
        return Tail::default();
    };
    match tokio::time::timeout(DRAIN, &mut *handle).await {
        Ok(Ok(tail)) => tail,
        _ => {
            handle.abort();
            Tail::default()
        }
    }
}

/// The command's process group: killed once the command is over, and when the measurement
/// is dropped half-way (the rollout stopped), so that nothing it started lives on.
struct Group(Option<rustix::process::Pid>);

impl Group {
    fn of(pid: Option<u32>) -> Group {
        Group(
            pid.and_then(|p| i32::try_from(p).ok())
                .and_then(rustix::process::Pid::from_raw),
        )
    }

    fn kill(&mut self) {
        if let Some(pid) = self.0.take() {
            // Fails with ESRCH when nothing of the group is left, which is the usual case.
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(command: &[&str], timeout: Duration) -> ExecCheck {
        ExecCheck {
            command: command.iter().map(|s| (*s).to_owned()).collect(),
            timeout: timeout.into(),
        }
    }

    fn sh(script: &str) -> ExecCheck {
        check(&["sh", "-c", script], Duration::from_secs(20))
    }

    #[tokio::test]
    async fn exit_status_decides() {
        let m = run("t", &sh("echo all good"), &[]).await;
        assert_eq!(m.outcome, Outcome::Pass, "{}", m.summary);
        assert!(m.summary.ends_with(": all good"), "{}", m.summary);
        assert_eq!(m.figures.get("exit_code"), Some(&0.0));

        let m = run("t", &sh("echo out; echo boom >&2; exit 3"), &[]).await;
        assert_eq!(m.outcome, Outcome::Fail, "{}", m.summary);
        assert!(m.summary.contains("exited 3"), "{}", m.summary);
        assert!(
            m.summary.contains("stderr: boom") && m.summary.contains("stdout: out"),
            "{}",
            m.summary
        );
    }

    #[tokio::test]
    async fn a_command_that_cannot_start_is_an_error_naming_it() {
        let m = run(
            "t",
            &check(&["./no-such-script.sh"], Duration::from_secs(5)),
            &[],
        )
        .await;
        assert_eq!(m.outcome, Outcome::Error, "{}", m.summary);
        assert!(
            m.summary.starts_with("cannot run `./no-such-script.sh`: "),
            "{}",
            m.summary
        );
    }

    #[tokio::test]
    async fn a_timeout_kills_the_whole_group_and_fails() {
        let dir = tempfile::tempdir().expect("dir");
        let pid_file = dir.path().join("pid");
        // A child in the background that would outlive its parent without the group kill.
        let script = format!(
            "sleep 30 & echo $! > {}; echo started; wait",
            pid_file.display()
        );
        let began = Instant::now();
        let m = run(
            "t",
            &check(&["sh", "-c", &script], Duration::from_millis(500)),
            &[],
        )
        .await;
        assert!(began.elapsed() < Duration::from_secs(10));
        assert_eq!(m.outcome, Outcome::Fail, "{}", m.summary);
        assert!(
            m.summary.contains("did not exit within 500ms"),
            "{}",
            m.summary
        );
        assert!(m.summary.contains("stdout: started"), "{}", m.summary);
        let pid = std::fs::read_to_string(&pid_file).expect("pid");
        let proc = std::path::PathBuf::from(format!("/proc/{}", pid.trim()));
        // Killed processes are reaped by init shortly after; wait for it with a deadline.
        let deadline = Instant::now() + Duration::from_secs(10);
        while proc.exists() && !is_zombie(&proc) {
            assert!(Instant::now() < deadline, "the background child lives on");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn is_zombie(proc: &std::path::Path) -> bool {
        std::fs::read_to_string(proc.join("stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z'))
            })
            .unwrap_or(true)
    }

    #[tokio::test]
    async fn output_is_kept_in_bounded_memory() {
        // 4 MB of output, then a last line: only the tail is kept, the last line shown.
        let m = run(
            "t",
            &sh("head -c 4000000 /dev/zero | tr '\\0' 'x'; echo; echo the end; exit 1"),
            &[],
        )
        .await;
        assert_eq!(m.outcome, Outcome::Fail, "{}", m.summary);
        assert!(m.summary.contains("the end"), "{}", m.summary);
        assert!(m.summary.len() < 2000, "{} chars", m.summary.len());
    }

    #[tokio::test]
    async fn the_environment_reaches_the_command() {
        let r = Rollout {
            app: "web".into(),
            namespace: "shop".into(),
            strategy: "canary".into(),
            old_image: "web:v1".into(),
            new_image: "web:v2".into(),
            step: Some(3),
            weight: 20,
            phase: crate::engine::record::Phase::Running,
            new_url: Some("http://10.0.0.1".into()),
            new_host: Some("shop.example".into()),
            new_header: Some(("X-Canary".into(), "always".into())),
        };
        let m = run(
            "t",
            &sh(r#"echo "$ROLLOUT_APP $ROLLOUT_STEP $ROLLOUT_WEIGHT $ROLLOUT_NEW_HEADER""#),
            &env(&r, "smoke"),
        )
        .await;
        assert!(
            m.summary.ends_with(": web 3 20 X-Canary: always"),
            "{}",
            m.summary
        );
    }
}
