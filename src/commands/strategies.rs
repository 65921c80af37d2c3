//! `rollout strategies`: the built-in strategy files, or one file checked (`--check`), with
//! what it was read as when asked (`--show`).

use super::exit::{Exit, ExitCode};
use crate::cli::StrategiesArgs;
use rollout_core::spec;

pub fn run(args: &StrategiesArgs) -> Result<ExitCode, Exit> {
    if let Some(which) = &args.check {
        let s = spec::load(which, None).map_err(|e| Exit::error(ExitCode::BadInput, &e))?;
        if args.show {
            let json =
                serde_json::to_string_pretty(&s).map_err(|e| Exit::error(ExitCode::Error, &e))?;
            crate::outln!("{json}");
        } else {
            let checks: Vec<&str> = s.analysis.checks.iter().map(|c| c.name.as_str()).collect();
            crate::outln!(
                "{}: ok ({}{})",
                s.origin,
                s.kind(),
                if checks.is_empty() {
                    String::new()
                } else {
                    format!("; checks: {}", checks.join(", "))
                }
            );
        }
        return Ok(ExitCode::Done);
    }
    for name in spec::builtin_names() {
        let s = spec::load(name, None).map_err(|e| Exit::error(ExitCode::Error, &e))?;
        crate::outln!(
            "{name:<12} {}",
            s.description.as_deref().unwrap_or_default()
        );
    }
    crate::outln!(
        "\nCopy one from strategies/ to edit it, then use --strategy PATH; `rollout strategies --check PATH` validates it (`--show` prints what it was read as)."
    );
    Ok(ExitCode::Done)
}
