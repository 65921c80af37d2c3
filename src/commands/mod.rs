//! What each subcommand does. `main` maps the result onto the documented exit codes.

pub mod bench_api;
pub mod bench_ingress;
pub mod bench_pods;
pub mod sim_components;
pub mod sim_traffic;
pub mod sim_up;
pub mod strategies;

use crate::cli::{BenchCommand, Command, SimCommand};

/// Runs one subcommand.
pub async fn run(command: &Command) -> anyhow::Result<()> {
    match command {
        Command::Sim(SimCommand::Up(args)) => sim_up::run(args).await,
        Command::Sim(SimCommand::Images(args)) => sim_up::images(args),
        Command::Sim(SimCommand::Traffic(args)) => sim_traffic::run(args).await,
        Command::Sim(SimCommand::Node(args)) => sim_components::node(args).await,
        Command::Sim(SimCommand::Ingress(args)) => sim_components::ingress(args).await,
        Command::Bench(BenchCommand::Api(args)) => bench_api::run(args).await,
        Command::Bench(BenchCommand::Pods(args)) => bench_pods::run(args).await,
        Command::Bench(BenchCommand::Ingress(args)) => bench_ingress::run(args).await,
        Command::Strategies(args) => strategies::run(args),
    }
}
