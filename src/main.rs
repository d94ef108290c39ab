//! `fleet`: the command line. Parses arguments and calls into the API and
//! worker crates; no business logic lives here.

mod commands;
mod start;

use clap::{Parser, Subcommand};

/// mimalloc keeps RSS flat over long runs and beats glibc malloc on many small allocations.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::path::PathBuf;

/// Fleet: the back-office engine of a second-hand marketplace.
///
/// Configuration comes from FLEET_* environment variables and an optional
/// TOML file (see `fleet config`).
#[derive(Debug, Parser)]
#[command(name = "fleet", version, propagate_version = true)]
struct Cli {
    /// TOML configuration file; FLEET_* variables override it.
    #[arg(long, global = true, env = "FLEET_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API and every worker kind in one process on SQLite and local files (no other service needed).
    Dev(commands::dev::Args),
    /// Run the HTTP API.
    Api,
    /// Run workers of one or more kinds: media, export, notify, categorize, payout.
    Worker(commands::worker::Args),
    /// Apply database migrations (safe to run again).
    Migrate,
    /// Show every queue: waiting, scheduled, in flight, dead, oldest waiting age, rates, durations, scaling.
    Queues(commands::queues::Args),
    /// Run worker processes per kind, adding and stopping them as queue depth changes (one-VM autoscaler).
    Supervise(commands::supervise::Args),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(commands::keys::KeysCommand),
    /// Print the effective configuration with secrets masked.
    Config,
    /// Re-seal stored secrets under the current secret key (after a rotation).
    #[command(subcommand)]
    Secrets(commands::secrets::SecretsCommand),
    /// Measure a worker on labelled data (`fleet eval categorize FILE.jsonl`).
    #[command(subcommand)]
    Eval(commands::eval::EvalCommand),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dev(args) => commands::dev::run(cli.config.as_deref(), args).await,
        Command::Api => commands::api::run(cli.config.as_deref()).await,
        Command::Worker(args) => commands::worker::run(cli.config.as_deref(), args).await,
        Command::Migrate => commands::migrate::run(cli.config.as_deref()).await,
        Command::Queues(args) => commands::queues::run(cli.config.as_deref(), args).await,
        Command::Supervise(args) => commands::supervise::run(cli.config.as_deref(), args).await,
        Command::Keys(cmd) => commands::keys::run(cli.config.as_deref(), cmd).await,
        Command::Config => commands::config::run(cli.config.as_deref()),
        Command::Secrets(cmd) => commands::secrets::run(cli.config.as_deref(), cmd).await,
        Command::Eval(cmd) => commands::eval::run(cli.config.as_deref(), cmd).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
