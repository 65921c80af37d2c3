//! Live progress of a rollout on stderr.
//!
//! Two modes, chosen when the [`Progress`] is made:
//!
//! - **plain**: one line per event, prefixed with the time since the rollout started, e.g.
//!   `[  2.1s] step 3/7 ▶ set weight 10%`. Safe for logs, pipes and CI.
//! - **redraw** (a terminal): a block listing every step with a state marker (`·` pending,
//!   `▶` running, `✓` done, `✗` failed, `–` skipped), the current weight and the last
//!   measurement of each check, redrawn in place on every event. Notes, failing measurements,
//!   the rollback and the end are printed above the block, so they stay in the scrollback.
//!
//! What is shown is computed by pure functions over a [`ProgressState`] ([`render_lines`],
//! [`plain_line`]); only [`Progress::emit`] touches the terminal.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::event::{Event, Finish, Sink, StepState};
use super::summary::human_seconds;
use crate::gate::{Measurement, Outcome};

/// Width used when the terminal's is unknown: a line longer than the terminal wraps, and a
/// wrapped line would throw off the cursor movement of the redraw, so err on the narrow side.
const DEFAULT_WIDTH: usize = 80;

/// Cells in the weight bar.
const BAR_CELLS: usize = 20;

/// Renders a rollout's events on stderr; see the module docs for the two modes.
pub struct Progress {
    redraw: bool,
    inner: Mutex<Inner>,
}

struct Inner {
    state: ProgressState,
    /// Origin of the elapsed times: construction, reset when the rollout starts.
    start: Instant,
    /// Lines of the redrawn block now on screen (below them sits the cursor).
    drawn: usize,
}

impl Progress {
    /// `color_and_redraw` picks the redraw mode (ANSI cursor movement and colours); `false`
    /// prints plain lines.
    pub fn new(color_and_redraw: bool) -> Self {
        Progress {
            redraw: color_and_redraw,
            inner: Mutex::new(Inner {
                state: ProgressState::default(),
                start: Instant::now(),
                drawn: 0,
            }),
        }
    }

    /// Redraw mode when stderr is a terminal that can take it, plain lines otherwise.
    pub fn for_stderr() -> Self {
        // NO_COLOR (no-color.org) counts when set to anything but the empty string; a dumb
        // terminal understands no cursor movement.
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        Progress::new(std::io::stderr().is_terminal() && !no_color && !dumb)
    }

    /// Whether this renders in redraw mode.
    pub fn redraws(&self) -> bool {
        self.redraw
    }
}

impl Sink for Progress {
    fn emit(&self, event: &Event) {
        // A poisoned lock means a previous emit panicked mid-way; the state is still usable
        // for display, and losing progress output is worse than showing a possibly odd line.
        let mut inner = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if matches!(event, Event::Started { .. }) {
            inner.start = Instant::now();
        }
        inner.state.apply(event);
        let elapsed = inner.start.elapsed();
        let out = if self.redraw {
            let width = terminal_width();
            let (out, drawn) = redraw(&inner.state, event, elapsed, inner.drawn, width);
            inner.drawn = drawn;
            out
        } else {
            plain_line(event, &inner.state, elapsed)
                .map(|l| l + "\n")
                .unwrap_or_default()
        };
        // Nothing useful can be done when stderr is gone; the rollout itself must go on.
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(out.as_bytes());
        let _ = err.flush();
    }
}

/// The terminal's width from `COLUMNS` when the shell exports it, else [`DEFAULT_WIDTH`].
fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|w| *w > 0)
        .unwrap_or(DEFAULT_WIDTH)
}

/// What the renderers know about the rollout so far, built from the events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProgressState {
    pub started: bool,
    pub app: String,
    pub namespace: String,
    pub strategy: String,
    pub router: String,
    pub from_image: String,
    pub to_image: String,
    /// Every plan step with its state; indexes are those of [`Event::Step`] (0-based).
    pub steps: Vec<(String, StepState)>,
    /// Share of requests the new version gets, and whether the router only approximates it.
    pub weight: Option<(u8, bool)>,
    /// The last measurement of each check, in the order the checks first reported.
    pub checks: Vec<Measurement>,
    /// What the rollout is doing besides running a step (paused, rolling back, finished).
    pub status: Option<String>,
}

impl ProgressState {
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::Started {
                app,
                namespace,
                strategy,
                router,
                from_image,
                to_image,
                steps,
                first_step,
            } => {
                self.started = true;
                self.app = app.clone();
                self.namespace = namespace.clone();
                self.strategy = strategy.clone();
                self.router = router.clone();
                self.from_image = from_image.clone();
                self.to_image = to_image.clone();
                // A resumed rollout has done the steps before the one it resumes at.
                self.steps = steps
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        let st = if i < *first_step {
                            StepState::Done
                        } else {
                            StepState::Pending
                        };
                        (s.clone(), st)
                    })
                    .collect();
                self.status = None;
            }
            Event::Step {
                index,
                state,
                description,
            } => {
                // A step the plan did not list (should not happen) is still shown.
                while self.steps.len() <= *index {
                    self.steps.push((String::new(), StepState::Pending));
                }
                if let Some(step) = self.steps.get_mut(*index) {
                    if !description.is_empty() {
                        step.0 = description.clone();
                    }
                    step.1 = *state;
                }
                // A pause ends when the next step starts; a rollback status stays.
                if *state == StepState::Running
                    && self
                        .status
                        .as_deref()
                        .is_some_and(|s| s.starts_with("paused"))
                {
                    self.status = None;
                }
            }
            Event::Weight {
                weight,
                approximate,
            } => self.weight = Some((*weight, *approximate)),
            Event::Gate { measurement, .. } => {
                match self
                    .checks
                    .iter_mut()
                    .find(|m| m.check == measurement.check)
                {
                    Some(m) => *m = measurement.clone(),
                    None => self.checks.push(measurement.clone()),
                }
            }
            Event::Paused { .. } => self.status = Some(describe_pause(event)),
            Event::Waiting { what, seconds } => {
                self.status = Some(format!("waiting {:.0}s for {what}", seconds))
            }
            Event::Note { .. } | Event::Load(_) => {}
            Event::RollingBack { reason } => self.status = Some(format!("rolling back: {reason}")),
            Event::Finished { .. } => self.status = Some(describe_finish(event)),
        }
    }

    /// A step as `n/total`, counting from 1 as people do.
    fn step_label(&self, index: usize) -> String {
        format!("{}/{}", index + 1, self.steps.len().max(index + 1))
    }
}

fn step_marker(state: StepState) -> char {
    match state {
        StepState::Pending => '·',
        StepState::Running => '▶',
        StepState::Done => '✓',
        StepState::Failed => '✗',
        StepState::Skipped => '–',
    }
}

fn outcome_marker(outcome: Outcome) -> char {
    match outcome {
        Outcome::Pass => '✓',
        Outcome::Fail => '✗',
        Outcome::Inconclusive => '?',
        Outcome::Error => '!',
    }
}

fn describe_pause(event: &Event) -> String {
    match event {
        Event::Paused {
            until_promoted: true,
            seconds: Some(s),
        } => format!("paused until `rollout promote` (or {})", human_seconds(*s)),
        Event::Paused {
            until_promoted: true,
            seconds: None,
        } => "paused until `rollout promote`".to_owned(),
        Event::Paused {
            seconds: Some(s), ..
        } => format!("paused for {}", human_seconds(*s)),
        _ => "paused".to_owned(),
    }
}

fn describe_finish(event: &Event) -> String {
    let Event::Finished {
        finish,
        reason,
        elapsed_seconds,
    } = event
    else {
        return String::new();
    };
    let what = match finish {
        Finish::Done => "done",
        Finish::Paused => "paused, waiting for `rollout promote`",
        Finish::RolledBack => "rolled back",
        Finish::RollbackFailed => "ROLLBACK FAILED",
        Finish::Interrupted => "interrupted, rolled back",
        Finish::Lost => "STOPPED, lease lost",
    };
    let mut s = format!("{what} after {}", human_seconds(*elapsed_seconds));
    if let Some(r) = reason {
        s.push_str(": ");
        s.push_str(r);
    }
    s
}

/// `[  2.1s]`: the elapsed-time prefix of plain lines.
fn stamp(elapsed: Duration) -> String {
    format!("[{:>5.1}s]", elapsed.as_secs_f64())
}

/// The plain-mode line for `event` (without the newline), `state` having already taken it in.
pub fn plain_line(event: &Event, state: &ProgressState, elapsed: Duration) -> Option<String> {
    let body = match event {
        Event::Started {
            app,
            namespace,
            strategy,
            router,
            from_image,
            to_image,
            steps,
            first_step,
        } => {
            let mut s = format!(
                "rolling out {app} in {namespace}: {from_image} → {to_image}, {strategy} via {router}, {} step{}",
                steps.len(),
                if steps.len() == 1 { "" } else { "s" }
            );
            if *first_step > 0 {
                s.push_str(&format!(", resuming at step {}", first_step + 1));
            }
            s
        }
        Event::Step {
            index,
            state: st,
            description,
        } => format!(
            "step {} {} {description}",
            state.step_label(*index),
            step_marker(*st)
        ),
        Event::Weight {
            weight,
            approximate,
        } => format!(
            "weight {}{weight}% to {} ({})",
            if *approximate { "≈" } else { "" },
            state.to_image,
            state.router
        ),
        Event::Gate { step, measurement } => {
            let background = if step.is_none() { " (background)" } else { "" };
            format!(
                "gate {}{background}: {} — {}",
                measurement.check, measurement.outcome, measurement.summary
            )
        }
        Event::Paused { .. } => describe_pause(event),
        // Since when, on the run's own clock as the line's stamp: a reader matches it with
        // the step that began the wait.
        Event::Waiting { what, seconds } => format!(
            "waiting since {} ({seconds:.0}s) for {what}",
            stamp(elapsed.saturating_sub(Duration::from_secs_f64(seconds.max(0.0))))
        ),
        Event::Note { message } => message.clone(),
        Event::Load(load) => format!("step {}: {}", load.step + 1, load.line()),
        Event::RollingBack { reason } => format!("rolling back: {reason}"),
        Event::Finished { .. } => describe_finish(event),
    };
    Some(format!("{} {body}", stamp(elapsed)))
}

/// Cuts `line` to `width` characters, marking the cut with `…`.
fn fit(line: String, width: usize) -> String {
    let width = width.max(2);
    if line.chars().count() <= width {
        return line;
    }
    let mut cut: String = line.chars().take(width - 1).collect();
    cut.push('…');
    cut
}

/// The redrawn block, one entry per screen line, each at most `width` characters (a longer one
/// would wrap and the cursor movement would miss it). Empty before the rollout starts.
pub fn render_lines(state: &ProgressState, width: usize) -> Vec<String> {
    if !state.started {
        return Vec::new();
    }
    let mut lines = vec![format!(
        "{} {}/{}: {} → {} ({})",
        state.strategy, state.namespace, state.app, state.from_image, state.to_image, state.router
    )];
    let total = state.steps.len();
    let num_width = total.to_string().len();
    for (i, (desc, st)) in state.steps.iter().enumerate() {
        lines.push(format!(
            "  {} {:>num_width$}/{total} {desc}",
            step_marker(*st),
            i + 1
        ));
    }
    if let Some((w, approximate)) = state.weight {
        let filled = (usize::from(w.min(100)) * BAR_CELLS).div_ceil(100);
        lines.push(format!(
            "  weight {}{}% {}{}",
            if approximate { "≈" } else { "" },
            w,
            "█".repeat(filled),
            "░".repeat(BAR_CELLS - filled)
        ));
    }
    let name_width = state
        .checks
        .iter()
        .map(|m| m.check.chars().count())
        .max()
        .unwrap_or(0);
    for m in &state.checks {
        lines.push(format!(
            "  {} {:<name_width$}  {}",
            outcome_marker(m.outcome),
            m.check,
            m.summary
        ));
    }
    if let Some(s) = &state.status {
        lines.push(format!("  {s}"));
    }
    lines.into_iter().map(|l| fit(l, width)).collect()
}

/// Colours the first marker of a rendered line (and the title) for a terminal.
fn paint(line: &str, first: bool) -> String {
    const RESET: &str = "\x1b[0m";
    if first {
        return format!("\x1b[1m{line}{RESET}");
    }
    let trimmed = line.trim_start();
    let indent = line.len() - trimmed.len();
    let mut chars = trimmed.chars();
    let Some(marker) = chars.next() else {
        return line.to_owned();
    };
    let color = match marker {
        '✓' => "\x1b[32m",
        '✗' | '!' => "\x1b[31m",
        '▶' => "\x1b[36m",
        '?' => "\x1b[33m",
        '·' | '–' => "\x1b[2m",
        _ => return line.to_owned(),
    };
    format!(
        "{}{color}{marker}{RESET}{}",
        &line[..indent],
        chars.as_str()
    )
}

/// Whether redraw mode prints `event` above the block, to stay in the scrollback: what the
/// block shows only for a moment or not at all. Passing measurements only update the block, or
/// a steady check would push everything else out of view.
fn scrolls(event: &Event) -> bool {
    match event {
        Event::Note { .. }
        | Event::Load(_)
        | Event::RollingBack { .. }
        | Event::Finished { .. } => true,
        Event::Gate { measurement, .. } => measurement.outcome != Outcome::Pass,
        _ => false,
    }
}

/// The bytes that bring the screen up to date after `event`: move up over the `drawn` block,
/// clear to the end of the screen, print the scrolling line (if any), then the block again.
/// Returns them with the height of the block now on screen. After the end the block is left in
/// place, followed by the final line, and nothing is redrawn any more.
fn redraw(
    state: &ProgressState,
    event: &Event,
    elapsed: Duration,
    drawn: usize,
    width: usize,
) -> (String, usize) {
    let mut out = String::new();
    if drawn > 0 {
        out.push_str(&format!("\x1b[{drawn}A"));
    }
    out.push_str("\r\x1b[J");
    let finished = matches!(event, Event::Finished { .. });
    let above = if scrolls(event) && !finished {
        plain_line(event, state, elapsed)
    } else {
        None
    };
    if let Some(l) = above {
        out.push_str(&l);
        out.push('\n');
    }
    // The final line below says how it ended: the block must not say it a second time.
    let lines = if finished {
        let mut last = state.clone();
        last.status = None;
        render_lines(&last, width)
    } else {
        render_lines(state, width)
    };
    for (i, l) in lines.iter().enumerate() {
        out.push_str(&paint(l, i == 0));
        out.push('\n');
    }
    if finished {
        if let Some(l) = plain_line(event, state, elapsed) {
            out.push_str(&l);
            out.push('\n');
        }
        return (out, 0);
    }
    (out, lines.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started() -> Event {
        Event::Started {
            app: "hello".into(),
            namespace: "demo".into(),
            strategy: "canary".into(),
            router: "ingress-nginx".into(),
            from_image: "nginx:1.27".into(),
            to_image: "nginx:1.27.1".into(),
            steps: vec![
                "deploy the canary (1 pod)".into(),
                "set weight 10%".into(),
                "pause 30s".into(),
                "set weight 50%".into(),
                "promote".into(),
            ],
            first_step: 0,
        }
    }

    fn step(index: usize, state: StepState, description: &str) -> Event {
        Event::Step {
            index,
            state,
            description: description.into(),
        }
    }

    fn gate(check: &str, outcome: Outcome, summary: &str) -> Event {
        Event::Gate {
            step: Some(1),
            measurement: Measurement::new(check, outcome, summary),
        }
    }

    fn state_of(events: &[Event]) -> ProgressState {
        let mut s = ProgressState::default();
        for e in events {
            s.apply(e);
        }
        s
    }

    #[test]
    fn nothing_before_the_start() {
        assert!(render_lines(&ProgressState::default(), 80).is_empty());
    }

    #[test]
    fn block_shows_steps_weight_and_last_measurements() {
        let s = state_of(&[
            started(),
            step(0, StepState::Running, "deploy the canary (1 pod)"),
            step(0, StepState::Done, "deploy the canary (1 pod)"),
            step(1, StepState::Running, "set weight 10%"),
            Event::Weight {
                weight: 10,
                approximate: false,
            },
            gate("smoke", Outcome::Fail, "40/50 ok, success 80% (>= 99%)"),
            gate("latency", Outcome::Pass, "p95 12ms (< 300ms)"),
            gate("smoke", Outcome::Pass, "50/50 ok, success 100% (>= 99%)"),
            step(1, StepState::Done, "set weight 10%"),
            step(2, StepState::Skipped, "pause 30s"),
            step(3, StepState::Running, "set weight 50%"),
            Event::Paused {
                until_promoted: false,
                seconds: Some(30.0),
            },
        ]);
        assert_eq!(
            render_lines(&s, 80),
            [
                "canary demo/hello: nginx:1.27 → nginx:1.27.1 (ingress-nginx)",
                "  ✓ 1/5 deploy the canary (1 pod)",
                "  ✓ 2/5 set weight 10%",
                "  – 3/5 pause 30s",
                "  ▶ 4/5 set weight 50%",
                "  · 5/5 promote",
                "  weight 10% ██░░░░░░░░░░░░░░░░░░",
                "  ✓ smoke    50/50 ok, success 100% (>= 99%)",
                "  ✓ latency  p95 12ms (< 300ms)",
                "  paused for 30s",
            ]
        );
    }

    #[test]
    fn pause_clears_when_the_next_step_runs_and_rollback_shows() {
        let mut s = state_of(&[
            started(),
            Event::Paused {
                until_promoted: true,
                seconds: None,
            },
        ]);
        assert_eq!(s.status.as_deref(), Some("paused until `rollout promote`"));
        s.apply(&step(3, StepState::Running, "set weight 50%"));
        assert_eq!(s.status, None);
        s.apply(&step(3, StepState::Failed, "set weight 50%"));
        s.apply(&Event::RollingBack {
            reason: "check \"errors\" failed".into(),
        });
        let lines = render_lines(&s, 80);
        assert_eq!(lines[4], "  ✗ 4/5 set weight 50%");
        assert_eq!(
            lines.last().map(String::as_str),
            Some("  rolling back: check \"errors\" failed")
        );
    }

    #[test]
    fn resumed_rollout_has_earlier_steps_done() {
        let Event::Started {
            app,
            namespace,
            strategy,
            router,
            from_image,
            to_image,
            steps,
            ..
        } = started()
        else {
            unreachable!()
        };
        let s = state_of(&[Event::Started {
            app,
            namespace,
            strategy,
            router,
            from_image,
            to_image,
            steps,
            first_step: 2,
        }]);
        let states: Vec<StepState> = s.steps.iter().map(|(_, st)| *st).collect();
        assert_eq!(
            states,
            [
                StepState::Done,
                StepState::Done,
                StepState::Pending,
                StepState::Pending,
                StepState::Pending
            ]
        );
    }

    #[test]
    fn lines_are_cut_to_the_width() {
        let s = state_of(&[started()]);
        let lines = render_lines(&s, 20);
        assert!(lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
        assert_eq!(lines[0], "canary demo/hello: …");
        assert_eq!(lines[2], "  · 2/5 set weight …");
    }

    #[test]
    fn plain_lines() {
        let mut s = ProgressState::default();
        let at = Duration::from_millis(2100);
        let mut line = |e: Event| {
            s.apply(&e);
            plain_line(&e, &s, at).unwrap_or_default()
        };
        assert_eq!(
            line(started()),
            "[  2.1s] rolling out hello in demo: nginx:1.27 → nginx:1.27.1, canary via ingress-nginx, 5 steps"
        );
        assert_eq!(
            line(step(1, StepState::Running, "set weight 10%")),
            "[  2.1s] step 2/5 ▶ set weight 10%"
        );
        assert_eq!(
            line(Event::Weight {
                weight: 10,
                approximate: true
            }),
            "[  2.1s] weight ≈10% to nginx:1.27.1 (ingress-nginx)"
        );
        assert_eq!(
            line(gate(
                "smoke",
                Outcome::Pass,
                "50/50 ok, success 100% (>= 99%), p95 12ms (< 300ms)"
            )),
            "[  2.1s] gate smoke: pass — 50/50 ok, success 100% (>= 99%), p95 12ms (< 300ms)"
        );
        assert_eq!(
            line(Event::Gate {
                step: None,
                measurement: Measurement::error("errors", "connection refused"),
            }),
            "[  2.1s] gate errors (background): error — connection refused"
        );
        assert_eq!(
            line(Event::RollingBack {
                reason: "check \"errors\" failed".into()
            }),
            "[  2.1s] rolling back: check \"errors\" failed"
        );
        assert_eq!(
            line(Event::Finished {
                finish: Finish::RolledBack,
                reason: Some("check \"errors\" failed".into()),
                elapsed_seconds: 9.3,
            }),
            "[  2.1s] rolled back after 9.3s: check \"errors\" failed"
        );
    }

    #[test]
    fn redraw_moves_up_over_the_block_and_keeps_scrolling_lines_above() {
        let s = state_of(&[started()]);
        let (first, drawn) = redraw(&s, &started(), Duration::ZERO, 0, 80);
        assert_eq!(drawn, 6);
        assert!(first.starts_with("\r\x1b[J\x1b[1mcanary"), "{first:?}");

        let note = Event::Note {
            message: "retrying: conflict".into(),
        };
        let (out, drawn) = redraw(&s, &note, Duration::from_secs(1), 6, 80);
        assert_eq!(drawn, 6);
        assert!(
            out.starts_with("\x1b[6A\r\x1b[J[  1.0s] retrying: conflict\n\x1b[1mcanary"),
            "{out:?}"
        );
        assert!(out.contains("  \x1b[2m·\x1b[0m 1/5 deploy"), "{out:?}");

        // A passing measurement only updates the block.
        let pass = gate("smoke", Outcome::Pass, "ok");
        let (out, _) = redraw(
            &state_of(&[started(), pass.clone()]),
            &pass,
            Duration::ZERO,
            6,
            80,
        );
        assert!(!out.contains("gate smoke"), "{out:?}");

        let end = Event::Finished {
            finish: Finish::Done,
            reason: None,
            elapsed_seconds: 75.0,
        };
        let (out, drawn) = redraw(
            &state_of(&[started(), end.clone()]),
            &end,
            Duration::ZERO,
            6,
            80,
        );
        assert_eq!(drawn, 0, "the final block stays");
        assert!(out.ends_with("[  0.0s] done after 1m 15s\n"), "{out:?}");
        assert_eq!(out.matches("done after").count(), 1, "said once: {out:?}");
    }

    #[test]
    fn progress_is_send_and_sync() {
        fn sink<T: Sink>() {}
        sink::<Progress>();
    }
}
