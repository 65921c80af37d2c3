use clap::Parser;
use rollout::cli::Cli;
use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    kube_util::tls::install_crypto_provider();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log));
    // Colour only for a person at a terminal who has not asked for none: NO_COLOR counts
    // when set to anything but the empty string (no-color.org), as for the live progress.
    let no_colour = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let colour = std::io::stderr().is_terminal() && !no_colour;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return rollout::commands::exit::ExitCode::Error.into();
        }
    };
    let result = runtime.block_on(rollout::commands::main(&cli));
    // Background tasks (watches, lease renewal) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(code) => code.into(),
        Err(e) => {
            eprintln!("error: {}", e.message);
            e.code.into()
        }
    }
}
