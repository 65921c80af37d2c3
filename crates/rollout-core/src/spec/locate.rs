//! Where things are in the YAML text: an index from positions to paths (`steps[2].pause`)
//! built from the parser's events, used to name the node of a stage-1 (shape) error, to
//! report YAML syntax errors, and to answer [`super::Spec::location_of`] for errors found
//! later (at plan time).

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};

use super::error::{SpecError, unknown_word};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// `analysis.checks.smoke.p95`, `steps[2]`, `headers["X-A.b"]`.
pub(crate) fn format_path(segs: &[Seg]) -> String {
    let mut out = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) => push_key(&mut out, k),
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Appends `.key` (or `key` at the start, or `["key"]` when it is not a plain word).
pub(crate) fn push_key(out: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(key);
    } else {
        out.push('[');
        out.push_str(&serde_json::to_string(key).unwrap_or_else(|_| key.to_owned()));
        out.push(']');
    }
}

/// `path` + `.key`.
pub(crate) fn join(path: &str, key: &str) -> String {
    let mut out = path.to_owned();
    push_key(&mut out, key);
    out
}

/// `path` + `[index]`.
pub(crate) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Role {
    /// A mapping key; `path` is the path of the value it introduces.
    Key {
        parent: String,
        key: String,
    },
    Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    line: usize,
    column: usize,
    path: String,
    role: Role,
    /// How the node is described in "got ..." messages.
    got: String,
}

/// Positions of every key and value of a YAML document, in document order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceIndex {
    entries: Vec<Entry>,
}

enum Frame {
    Seq {
        path: Vec<Seg>,
        next: usize,
        is_key: bool,
    },
    Map {
        path: Vec<Seg>,
        key: Option<Seg>,
        is_key: bool,
    },
}

/// A YAML syntax error: line, column, message.
pub(crate) struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl SourceIndex {
    /// Indexes `text`; fails on a YAML syntax error.
    pub(crate) fn build(text: &str) -> Result<SourceIndex, SyntaxError> {
        let mut parser = Parser::new_from_str(text);
        let mut entries = Vec::new();
        let mut stack: Vec<Frame> = Vec::new();
        while let Some(next) = parser.next_event() {
            let (event, span) = next.map_err(|e| SyntaxError {
                line: e.marker().line(),
                column: e.marker().col() + 1,
                message: e.info().to_string(),
            })?;
            let line = span.start.line();
            let column = span.start.col() + 1;
            let (got, starts) = match &event {
                Event::Scalar(text, style, _, _) => (describe_scalar(text, *style), None),
                Event::Alias(_) | Event::UnresolvedAlias(_) => ("an alias".to_owned(), None),
                Event::SequenceStart(..) => ("a list".to_owned(), Some(false)),
                Event::MappingStart(..) => ("a mapping".to_owned(), Some(true)),
                Event::SequenceEnd | Event::MappingEnd => {
                    if let Some(done) = stack.pop() {
                        let was_key = match done {
                            Frame::Seq { is_key, .. } | Frame::Map { is_key, .. } => is_key,
                        };
                        if !was_key {
                            complete(&mut stack);
                        }
                    }
                    continue;
                }
                _ => continue,
            };
            // Where does this node sit?
            let (path, is_key) = match stack.last_mut() {
                None => (Vec::new(), false),
                Some(Frame::Seq { path, next, .. }) => {
                    let mut p = path.clone();
                    p.push(Seg::Index(*next));
                    (p, false)
                }
                Some(Frame::Map { path, key, .. }) => match key {
                    Some(k) => {
                        let mut p = path.clone();
                        p.push(k.clone());
                        (p, false)
                    }
                    None => {
                        // A key.
                        let name = match &event {
                            Event::Scalar(text, ..) => text.to_string(),
                            _ => "?".to_owned(),
                        };
                        let parent = format_path(path);
                        let mut p = path.clone();
                        p.push(Seg::Key(name.clone()));
                        entries.push(Entry {
                            line,
                            column,
                            path: format_path(&p),
                            role: Role::Key {
                                parent,
                                key: name.clone(),
                            },
                            got: got.clone(),
                        });
                        *key = Some(Seg::Key(name));
                        if let Some(is_map) = starts {
                            stack.push(new_frame(p, is_map, true));
                        }
                        continue;
                    }
                },
            };
            entries.push(Entry {
                line,
                column,
                path: format_path(&path),
                role: Role::Value,
                got,
            });
            match starts {
                Some(is_map) => stack.push(new_frame(path, is_map, is_key)),
                None => complete(&mut stack),
            }
        }
        Ok(SourceIndex { entries })
    }

    /// Line and column of the value at `path` (as formatted in error messages), if present.
    pub fn location_of(&self, path: &str) -> Option<(usize, usize)> {
        self.entries
            .iter()
            .find(|e| e.role == Role::Value && e.path == path)
            .map(|e| (e.line, e.column))
    }

    /// Line and column of the key that introduces `path`, falling back to its value.
    pub fn key_location_of(&self, path: &str) -> Option<(usize, usize)> {
        self.entries
            .iter()
            .find(|e| matches!(e.role, Role::Key { .. }) && e.path == path)
            .map(|e| (e.line, e.column))
            .or_else(|| self.location_of(path))
    }

    /// The entry at (line, column), preferring a key or a value as asked; else the last
    /// entry before that position.
    fn at(&self, line: usize, column: usize, want_key: bool) -> Option<&Entry> {
        let here = |e: &&Entry| e.line == line && e.column == column;
        let is_key = |e: &&Entry| matches!(e.role, Role::Key { .. });
        self.entries
            .iter()
            .filter(here)
            .find(|e| is_key(e) == want_key)
            .or_else(|| self.entries.iter().find(here))
            .or_else(|| {
                self.entries
                    .iter()
                    .rev()
                    .find(|e| (e.line, e.column) <= (line, column))
            })
    }
}

fn new_frame(path: Vec<Seg>, is_map: bool, is_key: bool) -> Frame {
    if is_map {
        Frame::Map {
            path,
            key: None,
            is_key,
        }
    } else {
        Frame::Seq {
            path,
            next: 0,
            is_key,
        }
    }
}

/// A value of the innermost collection is done: a mapping now expects a key, a list its next
/// item.
fn complete(stack: &mut [Frame]) {
    match stack.last_mut() {
        Some(Frame::Map { key, .. }) => *key = None,
        Some(Frame::Seq { next, .. }) => *next += 1,
        None => {}
    }
}

fn describe_scalar(text: &str, style: ScalarStyle) -> String {
    let bare = matches!(style, ScalarStyle::Plain)
        && (text.parse::<f64>().is_ok() || matches!(text, "true" | "false"));
    if bare {
        text.to_owned()
    } else if text.is_empty() && matches!(style, ScalarStyle::Plain) {
        "nothing".to_owned()
    } else {
        format!("`{text}`")
    }
}

/// "a mapping start" and friends, as users would say it.
fn expected_text(expected: &str) -> String {
    match expected {
        "mapping start" | "mapping" => "a mapping (key: value lines)".to_owned(),
        "sequence start" | "sequence" => "a list".to_owned(),
        "string scalar" | "scalar" => "a single value".to_owned(),
        other => other.to_owned(),
    }
}

fn prefixed(path: &str, message: String) -> String {
    if path.is_empty() {
        message
    } else {
        format!("{path}: {message}")
    }
}

/// Turns a serde-saphyr error (shape of the document) into a [`SpecError`] that names the
/// node by its path.
pub(crate) fn translate(
    error: &serde_saphyr::Error,
    index: &SourceIndex,
    origin: &str,
) -> SpecError {
    use serde_saphyr::Error as E;

    let error = error.without_snippet();
    let position = error.location().filter(|l| l.line() > 0).and_then(|l| {
        Some((
            usize::try_from(l.line()).ok()?,
            usize::try_from(l.column()).ok()?,
        ))
    });
    let Some((line, column)) = position else {
        return SpecError::whole(origin, strip_location(&error.to_string()));
    };
    let key_entry = index.at(line, column, true);
    let value_entry = index.at(line, column, false);
    let value_path = value_entry.map(|e| e.path.as_str()).unwrap_or("");
    let got = value_entry
        .map(|e| e.got.as_str())
        .unwrap_or("something else");
    let message = match error {
        E::SerdeUnknownField {
            field, expected, ..
        } => {
            let parent = match key_entry.map(|e| &e.role) {
                Some(Role::Key { parent, .. }) => parent.as_str(),
                _ => "",
            };
            let what = if parent.is_empty() {
                "top-level key"
            } else {
                "key"
            };
            prefixed(parent, unknown_word(what, field, expected))
        }
        E::SerdeUnknownVariant {
            variant, expected, ..
        } => prefixed(value_path, unknown_word("value", variant, expected)),
        E::DuplicateMappingKey { key, .. } => {
            let (parent, key) = match key_entry.map(|e| &e.role) {
                Some(Role::Key { parent, key }) => (parent.as_str(), key.clone()),
                _ => ("", key.clone().unwrap_or_default()),
            };
            prefixed(
                parent,
                format!("duplicate key `{key}`; each key may appear once"),
            )
        }
        E::Unexpected { expected, .. } => prefixed(
            value_path,
            format!("expected {}, got {got}", expected_text(expected)),
        ),
        E::MultipleDocuments { .. } => {
            "expected one YAML document, found a second one (remove the `---` line)".to_owned()
        }
        E::SerdeInvalidType { expected, .. } => prefixed(
            value_path,
            format!("expected {}, got {got}", expected_text(expected)),
        ),
        other => prefixed(value_path, strip_location(&other.to_string())),
    };
    SpecError::at(origin, line, column, message)
}

/// serde-saphyr appends " at line L, column C"; we print the position in front instead.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) if message[i..].contains(", column ") => message[..i].to_owned(),
        _ => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_of(text: &str) -> SourceIndex {
        SourceIndex::build(text)
            .unwrap_or_else(|e| panic!("{}:{}: {}", e.line, e.column, e.message))
    }

    #[test]
    fn paths_and_positions() {
        let text = "strategy: canary\nsteps:\n  - setWeight: 10\n  - pause: {duration: 30s}\nanalysis:\n  checks:\n    smoke: { http: { path: / } }\n";
        let idx = index_of(text);
        assert_eq!(idx.location_of("strategy"), Some((1, 11)));
        assert_eq!(idx.key_location_of("strategy"), Some((1, 1)));
        assert_eq!(idx.location_of("steps"), Some((3, 3)));
        assert_eq!(idx.location_of("steps[0]"), Some((3, 5)));
        assert_eq!(idx.location_of("steps[0].setWeight"), Some((3, 16)));
        assert_eq!(idx.location_of("steps[1].pause.duration"), Some((4, 23)));
        assert_eq!(
            idx.location_of("analysis.checks.smoke.http.path"),
            Some((7, 28))
        );
        assert_eq!(idx.location_of("nope"), None);
    }

    #[test]
    fn odd_keys_are_quoted_in_paths() {
        let idx = index_of("json:\n  \"$.status\": ok\n");
        assert_eq!(idx.location_of("json[\"$.status\"]"), Some((2, 15)));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let Err(e) = SourceIndex::build("a: [1, 2\nb: 3\n") else {
            panic!("expected a syntax error");
        };
        assert!(e.line >= 1 && e.column >= 1, "{}:{}", e.line, e.column);
        assert!(!e.message.is_empty());
    }

    #[test]
    fn strips_trailing_location() {
        assert_eq!(strip_location("bad thing at line 3, column 4"), "bad thing");
        assert_eq!(strip_location("at line of fire"), "at line of fire");
    }
}
