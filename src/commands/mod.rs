//! What each subcommand does. `main` maps the result onto the documented exit codes.

pub mod bench_api;
pub mod bench_pods;
pub mod sim_traffic;
pub mod sim_up;
