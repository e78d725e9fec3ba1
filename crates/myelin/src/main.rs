//! The `myelin` binary: `myelin serve` runs a broker; `myelin topic ...`, `myelin group
//! ...`, `myelin produce` and `myelin consume` speak the Kafka protocol to any broker.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("myelin")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => cli::serve::run(args).await,
            Command::Topic(command) => {
                cli::telemetry::init_quiet();
                cli::topic::run(command).await
            }
            Command::Produce(args) => {
                cli::telemetry::init_quiet();
                cli::produce::run(args).await
            }
            Command::Consume(args) => {
                cli::telemetry::init_quiet();
                cli::consume::run(args).await
            }
            Command::Group(command) => {
                cli::telemetry::init_quiet();
                cli::group::run(command).await
            }
        }
    });
    // Produce's stdin reader may still block on a read: do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
