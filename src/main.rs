use clap::Parser;
use rollout::cli::{BenchCommand, Cli, Command, SimCommand};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Sim(SimCommand::Up(args)) => rollout::commands::sim_up::run(args).await,
            Command::Sim(SimCommand::Images(args)) => rollout::commands::sim_up::images(args),
            Command::Sim(SimCommand::Traffic(args)) => {
                rollout::commands::sim_traffic::run(args).await
            }
            Command::Bench(BenchCommand::Api(args)) => {
                rollout::commands::bench_api::run(args).await
            }
            Command::Bench(BenchCommand::Pods(args)) => {
                rollout::commands::bench_pods::run(args).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
