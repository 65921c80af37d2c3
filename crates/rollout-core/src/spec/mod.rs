//! The declarative strategy-file format.
//!
//! A strategy file is YAML (see `strategies/README.md` for every key). It is read in two
//! stages, like a CLI's raw flags and validated config:
//!
//! 1. [`raw`]: serde-saphyr deserializes the text into [`raw::RawSpec`], which fixes the
//!    shape (unknown keys are errors, with a "did you mean") and keeps the source location of
//!    every value;
//! 2. validation turns it into a [`Spec`]: typed values ([`Duration`], [`Percent`],
//!    [`Weight`], [`Condition`]), defaults, per-strategy rules, references between checks.
//!
//! Every error is a [`SpecError`] that points at the offending node:
//! `strategies/x.yaml:12:5: steps[2].setWeight: expected a number from 0 to 100, got 150`.
//!
//! `--strategy NAME` resolves to a built-in (the files under `strategies/`, embedded in the
//! binary) and `--strategy PATH` reads a file: see [`load`].

mod condition;
mod error;
mod locate;
mod model;
mod overrides;
pub mod raw;
mod validate;
mod values;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use condition::{Condition, JsonPath, JsonStep, Op, Quantity, QuantityKind};
pub use error::SpecError;
pub use model::*;
pub use overrides::{OVERRIDE_ORIGIN, Overrides};
pub use values::{Duration, IntOrPercent, Percent, Rate, Weight};

/// The built-in strategies, by name, with the text of their file.
const BUILTINS: [(&str, &str); 6] = [
    (
        "recreate",
        include_str!("../../../../strategies/recreate.yaml"),
    ),
    (
        "rolling",
        include_str!("../../../../strategies/rolling.yaml"),
    ),
    (
        "blue-green",
        include_str!("../../../../strategies/blue-green.yaml"),
    ),
    ("canary", include_str!("../../../../strategies/canary.yaml")),
    ("ab", include_str!("../../../../strategies/ab.yaml")),
    ("shadow", include_str!("../../../../strategies/shadow.yaml")),
];

/// Names of the built-in strategies, in the order they are usually presented.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTINS.iter().map(|(name, _)| *name).collect()
}

/// The YAML text of a built-in strategy (`ramped` is accepted for `rolling`).
pub fn builtin_text(name: &str) -> Option<&'static str> {
    let name = StrategyKind::canonical(name);
    BUILTINS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

/// How a built-in is named in messages and in [`Spec::origin`]: it is built into the program
/// (the same text as `strategies/NAME.yaml` in the project), not read from a file.
fn builtin_origin(name: &str) -> String {
    format!("built-in {}", StrategyKind::canonical(name))
}

/// Parses and validates the text of a strategy file. `origin` names it in errors (a path).
pub fn parse(text: &str, origin: &str) -> Result<Spec, SpecError> {
    let index = locate::SourceIndex::build(text).map_err(|e| {
        SpecError::at(
            origin,
            e.line,
            e.column,
            format!("invalid YAML: {}", e.message),
        )
    })?;
    let raw: raw::RawSpec =
        serde_saphyr::from_str(text).map_err(|e| locate::translate(&e, &index, origin))?;
    validate::Cx {
        origin,
        text,
        index: &index,
    }
    .spec(&raw)
}

/// Whether `--strategy` names a file rather than a strategy.
fn is_path(name_or_path: &str) -> bool {
    name_or_path.contains('/')
        || name_or_path.contains(std::path::MAIN_SEPARATOR)
        || name_or_path.ends_with(".yaml")
        || name_or_path.ends_with(".yml")
}

/// Resolves `--strategy`: a value with a `/` or a `.yaml`/`.yml` ending is a file to read;
/// any other value is a name, looked up first as `NAME.yaml` (or `.yml`) in
/// `strategies_dir` when given, then among the built-ins.
pub fn load(name_or_path: &str, strategies_dir: Option<&Path>) -> Result<Spec, SpecError> {
    if is_path(name_or_path) {
        return read(Path::new(name_or_path));
    }
    if let Some(dir) = strategies_dir {
        for ext in ["yaml", "yml"] {
            let candidate = dir.join(format!("{name_or_path}.{ext}"));
            if candidate.is_file() {
                return read(&candidate);
            }
        }
    }
    if let Some(text) = builtin_text(name_or_path) {
        return parse(text, &builtin_origin(name_or_path));
    }
    let mut known: Vec<String> = builtin_names().into_iter().map(str::to_owned).collect();
    if let Some(dir) = strategies_dir
        && let Ok(entries) = std::fs::read_dir(dir)
    {
        for entry in entries.flatten() {
            let path = entry.path();
            let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
            if let Some(stem) = path.file_stem().and_then(|s| s.to_str())
                && is_yaml
                && !known.iter().any(|k| k == stem)
            {
                known.push(stem.to_owned());
            }
        }
    }
    let known_refs: Vec<&str> = known.iter().map(String::as_str).collect();
    let mut message = error::unknown_word("strategy", name_or_path, &known_refs);
    message.push_str(" (or give the path of a strategy file, like ./my-canary.yaml)");
    Err(SpecError::whole("--strategy", message))
}

fn read(path: &Path) -> Result<Spec, SpecError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        SpecError::whole(
            origin.clone(),
            format!("cannot read the strategy file: {e}"),
        )
    })?;
    parse(&text, &origin)
}
