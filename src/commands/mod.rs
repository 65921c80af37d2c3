//! What each subcommand does. `main` maps the result onto the documented exit codes.

pub mod bench_api;
pub mod bench_ingress;
pub mod bench_judge;
pub mod bench_pods;
pub mod bench_reaction;
pub mod bench_scale;
pub mod bench_soak;
pub mod compare;
pub mod dashboard;
pub mod demo;
pub mod exit;
pub mod experiment;
pub mod rollout;
pub mod sim_components;
pub mod sim_traffic;
pub mod sim_up;
pub mod sim_users;
pub mod strategies;

use crate::cli::{BenchCommand, Command, SimCommand};
use exit::{Exit, ExitCode};

/// Runs the command line; the result is the exit code, or an error with its exit code.
pub async fn main(cli: &crate::cli::Cli) -> Result<ExitCode, Exit> {
    match &cli.command {
        None => rollout::run(&cli.run).await,
        Some(Command::Demo(a)) => demo::run(a).await,
        Some(Command::Compare(a)) => compare::run(a).await,
        Some(Command::Experiment(a)) => experiment::run(a).await,
        Some(Command::Plan(a)) => rollout::plan(a).await,
        Some(Command::Status { app, watch }) => rollout::status(app, *watch).await,
        Some(Command::Promote { app, full }) => rollout::promote(app, *full).await,
        Some(Command::Abort { app }) => rollout::abort(app).await,
        Some(Command::Resume { app }) => rollout::resume(app).await,
        Some(Command::Undo { app, to_revision }) => rollout::undo(app, *to_revision).await,
        Some(Command::History { app }) => rollout::history(app).await,
        Some(Command::Strategies(args)) => strategies::run(args),
        Some(other) => run(other)
            .await
            .map(|()| ExitCode::Done)
            .map_err(|e| Exit::failed(format!("{e:#}"))),
    }
}

/// Runs one of the other subcommands.
pub async fn run(command: &Command) -> anyhow::Result<()> {
    match command {
        Command::Sim(SimCommand::Up(args)) => sim_up::run(args).await,
        Command::Dashboard(args) => dashboard::run(args).await,
        Command::Sim(SimCommand::Images(args)) => sim_up::images(args),
        Command::Sim(SimCommand::Traffic(args)) => sim_traffic::run(args).await,
        Command::Sim(SimCommand::Node(args)) => sim_components::node(args).await,
        Command::Sim(SimCommand::Ingress(args)) => sim_components::ingress(args).await,
        Command::Sim(SimCommand::TlsSecret(args)) => sim_up::tls_secret(args),
        Command::Bench(BenchCommand::Api(args)) => bench_api::run(args).await,
        Command::Bench(BenchCommand::Pods(args)) => bench_pods::run(args).await,
        Command::Bench(BenchCommand::Ingress(args)) => bench_ingress::run(args).await,
        Command::Bench(BenchCommand::Reaction(args)) => bench_reaction::run(args).await,
        Command::Bench(BenchCommand::Scale(args)) => bench_scale::run(args).await,
        Command::Bench(BenchCommand::Judge(args)) => bench_judge::run(args),
        Command::Bench(BenchCommand::Soak(args)) => bench_soak::run(args).await,
        _ => anyhow::bail!("not handled here"),
    }
}
