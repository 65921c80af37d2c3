//! `--output json`: every event as one JSON object on its own line (JSON Lines), for scripts
//! and CI. Each object is the serialized [`Event`] (its kind in `event`) with a `time` field
//! (RFC 3339, UTC, milliseconds) put first.

use std::io::Write;
use std::sync::Mutex;

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::event::{Event, Sink};

/// Writes events as JSON Lines to `W`, flushing after each so a reader sees events as they
/// happen.
pub struct JsonLines<W: Write + Send> {
    out: Mutex<W>,
}

impl JsonLines<std::io::Stdout> {
    pub fn stdout() -> Self {
        JsonLines::new(std::io::stdout())
    }
}

impl<W: Write + Send> JsonLines<W> {
    pub fn new(out: W) -> Self {
        JsonLines {
            out: Mutex::new(out),
        }
    }

    /// The writer back (tests read what was written).
    pub fn into_inner(self) -> W {
        match self.out.into_inner() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// The line for `event` at `time`, without the newline.
pub fn line(event: &Event, time: Timestamp) -> String {
    let mut obj = Map::new();
    obj.insert("time".to_owned(), Value::String(format!("{time:.3}")));
    match serde_json::to_value(event) {
        Ok(Value::Object(fields)) => obj.extend(fields),
        // Events are plain data and always serialize to an object; should that ever break,
        // the consumer still gets a well-formed line saying so instead of a gap.
        Ok(other) => {
            obj.insert("event".to_owned(), Value::String("error".to_owned()));
            obj.insert(
                "message".to_owned(),
                Value::String(format!("event is not a JSON object: {other}")),
            );
        }
        Err(e) => {
            obj.insert("event".to_owned(), Value::String("error".to_owned()));
            obj.insert(
                "message".to_owned(),
                Value::String(format!("could not encode event: {e}")),
            );
        }
    }
    Value::Object(obj).to_string()
}

impl<W: Write + Send> Sink for JsonLines<W> {
    fn emit(&self, event: &Event) {
        let mut text = line(event, Timestamp::now());
        text.push('\n');
        // A panic elsewhere while holding the lock leaves the writer as usable as before.
        let mut out = match self.out.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        // A closed stdout (`rollout ... | head`) must not stop the rollout half-way, so write
        // errors are dropped.
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::{Measurement, Outcome};
    use crate::report::event::{Finish, StepState};
    fn at() -> Timestamp {
        "2025-03-04T05:06:07Z".parse().expect("valid time")
    }

    #[test]
    fn time_first_then_the_tagged_event() {
        let l = line(
            &Event::Step {
                index: 2,
                state: StepState::Running,
                description: "set weight 10%".into(),
            },
            at(),
        );
        assert_eq!(
            l,
            r#"{"time":"2025-03-04T05:06:07.000Z","event":"step","index":2,"state":"running","description":"set weight 10%"}"#
        );
    }

    #[test]
    fn writes_one_flushed_line_per_event() {
        let sink = JsonLines::new(Vec::new());
        sink.emit(&Event::Gate {
            step: None,
            measurement: Measurement::new("smoke", Outcome::Pass, "50/50 ok")
                .figure("requests", 50.0),
        });
        sink.emit(&Event::Finished {
            finish: Finish::RolledBack,
            reason: Some("check \"smoke\" failed".into()),
            elapsed_seconds: 9.5,
        });
        let text = String::from_utf8(sink.into_inner()).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(text.ends_with('\n'));
        let gate: Value = serde_json::from_str(lines[0]).expect("json");
        assert_eq!(gate["event"], "gate");
        assert_eq!(gate["step"], Value::Null);
        assert_eq!(gate["measurement"]["outcome"], "pass");
        assert_eq!(gate["measurement"]["figures"]["requests"], 50.0);
        let time = gate["time"].as_str().expect("time");
        assert!(time.parse::<Timestamp>().is_ok(), "{time}");
        let end: Value = serde_json::from_str(lines[1]).expect("json");
        assert_eq!(end["event"], "finished");
        assert_eq!(end["finish"], "rolled-back");
        assert_eq!(end["elapsedSeconds"], 9.5);
    }
}
