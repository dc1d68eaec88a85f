//! The `isolated-test` command line. Declarations and dispatch only.
//!
//! The binary re-executes itself as PID 2 of a sandbox in a hidden helper
//! mode (`__sandbox-helper`), which runs the same setup code as a test.

mod doctor;
mod helper;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Run tests, and any command, in fresh Linux namespaces.
#[derive(Debug, Parser)]
#[command(name = "isolated-test", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Probe this host by creating a sandbox, and print what works and how to fix what does not.
    Doctor,
    /// Internal: PID 2 of a sandbox started by this binary.
    #[command(name = "__sandbox-helper", hide = true)]
    SandboxHelper {
        /// What to do inside the sandbox.
        mode: String,
    },
}

/// Entry point of the `isolated-test` binary.
pub fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Doctor => doctor::run(),
        Command::SandboxHelper { mode } => helper::run(&mode),
    }
}
