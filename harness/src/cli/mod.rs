//! The `isolated-test` command line: `doctor`, `run`, `pair`, `wrap`.
//! Declarations and dispatch only.
//!
//! The binary re-executes itself as PID 2 of a sandbox in a hidden helper
//! mode (`__sandbox-helper`), which runs the same setup code as a test.

mod doctor;
mod helper;
mod pair;
mod relay;
mod run;
mod visible;
mod wrap;

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
    /// Run any command in a sandbox, stream its output, print what it changed, exit with its status.
    Run {
        #[command(flatten)]
        sandbox: run::SandboxArgs,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// The command and its arguments: everything from the first word that is not one of
        /// run's flags (or after `--`, for a command whose name starts with `-`).
        #[arg(trailing_var_arg = true, required = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// Run test A then test B in one sandbox, and B alone in another: do A's leftovers change B's verdict?
    Pair {
        #[command(flatten)]
        sandbox: run::SandboxArgs,
        /// The test binary (e.g. target/debug/deps/mytests-...).
        test_binary: std::path::PathBuf,
        /// The test that may leave state behind.
        test_a: String,
        /// The test that may trip on it.
        test_b: String,
    },
    /// Run a test binary's tests one sandbox each, as a nextest wrapper script or a cargo target runner.
    ///
    /// nextest: `[scripts.wrapper.isolated] command = "isolated-test wrap"`. cargo:
    /// `CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="isolated-test wrap" cargo test`. Options come from
    /// ISOLATED_TEST_* variables (timeout, limits, hostname, report, forbid pollution).
    Wrap {
        /// The test binary, then its arguments (libtest's, as cargo or nextest pass them).
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "BINARY [ARGS]")]
        args: Vec<std::ffi::OsString>,
    },
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
        Command::Run { sandbox, json, command } => run::run(&sandbox, json, command),
        Command::Pair { sandbox, test_binary, test_a, test_b } => pair::pair(&sandbox, test_binary, test_a, test_b),
        Command::Wrap { args } => wrap::run(args),
        Command::SandboxHelper { mode } => helper::run(&mode),
    }
}

/// SIGINT, SIGTERM and SIGHUP, caught for as long as `wrap` or `run`
/// runs: the sandboxes running are killed and removed (cgroup included),
/// a terminal in raw mode is restored, and the command exits with 128 +
/// the signal, instead of dying with its sandboxes' cgroups left to the
/// next sandbox and the terminal left raw.
pub(super) struct Interrupts {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Interrupts {
    /// Catches them on `runtime`'s driver.
    pub(super) fn catch(runtime: &tokio::runtime::Runtime) -> Result<Self, String> {
        use tokio::signal::unix::{SignalKind, signal};
        let _context = runtime.enter();
        let catch = |kind| signal(kind).map_err(|e| format!("cannot catch SIGINT, SIGTERM and SIGHUP: {e}"));
        Ok(Self {
            int: catch(SignalKind::interrupt())?,
            term: catch(SignalKind::terminate())?,
            hup: catch(SignalKind::hangup())?,
        })
    }

    /// The number of the next of them to arrive.
    pub(super) async fn next(&mut self) -> i32 {
        tokio::select! {
            _ = self.int.recv() => libc::SIGINT,
            _ = self.term.recv() => libc::SIGTERM,
            _ = self.hup.recv() => libc::SIGHUP,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command_of(args: &[&str]) -> Result<Vec<String>, String> {
        let line = Cli::try_parse_from(["isolated-test", "run"].iter().chain(args)).map_err(|e| e.to_string())?;
        match line.command {
            Command::Run { command, .. } => Ok(command),
            other => Err(format!("not run: {other:?}")),
        }
    }

    #[test]
    fn runs_command_needs_no_double_dash() {
        assert_eq!(command_of(&["ls", "-la", "--color"]).unwrap(), ["ls", "-la", "--color"]);
        assert_eq!(command_of(&["--hostname", "x", "--", "ls", "-la"]).unwrap(), ["ls", "-la"]);
        assert_eq!(command_of(&["--", "-weird"]).unwrap(), ["-weird"]);
        // A mistyped flag of run's is an error, never the command.
        assert!(command_of(&["--hostnam", "x", "ls"]).unwrap_err().contains("unexpected argument '--hostnam'"));
        assert!(command_of(&[]).is_err());
    }
}
