//! The subcommands, one file each.

mod chain;
mod dev;
mod worker;

use clap::{Parser, Subcommand};

/// The fat contract platform.
#[derive(Debug, Parser)]
#[command(name = "fat", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a chain node on its own.
    Chain(chain::ChainCommand),
    /// Run a chain node, the dev gatekeeper and workers in one process.
    Dev(dev::DevCommand),
    /// Run a worker on its own, following a chain node.
    Worker(worker::WorkerCommand),
}

impl Cli {
    /// Run the chosen subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Chain(command) => command.run(),
            Command::Dev(command) => command.run(),
            Command::Worker(command) => command.run(),
        }
    }
}
