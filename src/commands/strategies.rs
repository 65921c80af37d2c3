//! `rollout strategies`: the built-in strategy files, or one file checked and shown in full.

use crate::cli::StrategiesArgs;
use rollout_core::spec;

pub fn run(args: &StrategiesArgs) -> anyhow::Result<()> {
    if let Some(which) = &args.check {
        let s = spec::load(which, None)?;
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    for name in spec::builtin_names() {
        let s = spec::load(name, None)?;
        println!(
            "{name:<12} {}",
            s.description.as_deref().unwrap_or_default()
        );
    }
    println!(
        "\nCopy one from strategies/ to edit it, then use --strategy PATH; `rollout strategies --check PATH` validates it."
    );
    Ok(())
}
