//! The error type of the strategy-file format, and the "did you mean" helper.

use std::fmt;

/// An error in a strategy file (or in the command-line overrides applied to one).
///
/// `line` and `column` are 1-based and point at the offending YAML node; they are `None`
/// when the error is about the whole file (unreadable, empty) or about a command-line flag.
///
/// Displays as `origin:line:column: message`, for example
/// `strategies/x.yaml:12:5: steps[2].setWeight: expected a number from 0 to 100, got 150`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// Where the text came from: a file path, `strategies/NAME.yaml` for a built-in, or
    /// `command line` for an override.
    pub origin: String,
    /// 1-based line of the offending node.
    pub line: Option<usize>,
    /// 1-based column (in characters) of the offending node.
    pub column: Option<usize>,
    /// What is wrong, starting with the path of the node (`steps[2].setWeight: ...`) when
    /// there is one, and saying what was expected.
    pub message: String,
}

impl SpecError {
    /// An error with a position.
    pub fn at(
        origin: impl Into<String>,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        SpecError {
            origin: origin.into(),
            line: Some(line),
            column: Some(column),
            message: message.into(),
        }
    }

    /// An error about the whole input (no position).
    pub fn whole(origin: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError {
            origin: origin.into(),
            line: None,
            column: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => {
                write!(f, "{}:{line}:{column}: {}", self.origin, self.message)
            }
            (Some(line), None) => write!(f, "{}:{line}: {}", self.origin, self.message),
            _ => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

impl std::error::Error for SpecError {}

/// A value that does not read as what was expected (a duration, a percentage, a condition):
/// the message says what was expected and what was found; the reader of a strategy file
/// adds where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

/// The candidate closest to `word`, if it is close enough to be a plausible typo.
pub(crate) fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = word.to_ascii_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        let distance = edit_distance(&lower, &candidate.to_ascii_lowercase());
        let limit = (candidate.chars().count().max(word.chars().count()) / 3).max(1);
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// `unknown WHAT `word``, followed by a suggestion or the list of what is allowed.
pub(crate) fn unknown_word(what: &str, word: &str, allowed: &[&str]) -> String {
    match did_you_mean(word, allowed.iter().copied()) {
        Some(suggestion) => format!("unknown {what} `{word}`; did you mean `{suggestion}`?"),
        None => format!(
            "unknown {what} `{word}`; expected one of: {}",
            allowed.join(", ")
        ),
    }
}

/// Edit distance over characters where swapping two neighbours counts as one edit
/// (optimal string alignment), so that `stpes` is one edit from `steps`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // rows[i][j]: distance between a[..i] and b[..j].
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let keys = ["setWeight", "pause", "analysis", "setCanaryScale"];
        assert_eq!(did_you_mean("setWieght", keys), Some("setWeight"));
        assert_eq!(did_you_mean("paus", keys), Some("pause"));
        assert_eq!(did_you_mean("SETWEIGHT", keys), Some("setWeight"));
        assert_eq!(did_you_mean("image", keys), None);
        assert_eq!(did_you_mean("stpes", ["steps", "strategy"]), Some("steps"));
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("stpes", "steps"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn display_with_and_without_position() {
        let e = SpecError::at("a.yaml", 3, 7, "steps: expected a list");
        assert_eq!(e.to_string(), "a.yaml:3:7: steps: expected a list");
        let e = SpecError::whole("command line", "duration: nope");
        assert_eq!(e.to_string(), "command line: duration: nope");
    }
}
