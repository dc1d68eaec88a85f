//! `isolated-test wrap BINARY ARGS...`: an unmodified libtest suite, every
//! test in a sandbox of its own, as a nextest wrapper script or a cargo
//! target runner. The sandboxes are the attribute's (the same setup,
//! boundary, limits and timeouts), started through the same
//! `sandbox::session` path as `run`'s: PID 2 is this binary in helper mode,
//! which runs the test binary as its child.
//!
//! What a call is decides what wrap does (see [`Call::of`]):
//!
//! - `BINARY --exact NAME --nocapture ...`, nextest's command for one test:
//!   that test in one sandbox; its output and exit status pass through.
//! - `BINARY --list ...` (or `--help`) of a libtest binary: the binary
//!   itself, unsandboxed (listing runs no test).
//! - any other call of a libtest binary, cargo's as a target runner: the
//!   tests are listed with the binary's own `--list` and the call's
//!   filters, then run one sandbox each, `--test-threads` at a time, with
//!   libtest's output ([`suite`]).
//! - a doc test or a binary without libtest (`harness = false`, a program
//!   under `cargo run`): run whole, in one sandbox, with a note.
//!
//! Options come from the environment, so that one wrapper line serves a
//! whole suite: `ISOLATED_TEST_TIMEOUT`, `ISOLATED_TEST_MEMORY`/`PIDS`/`CPU`,
//! `ISOLATED_TEST_HOSTNAME`, `ISOLATED_TEST_REPORT=1` and
//! `ISOLATED_TEST_FORBID_POLLUTION`, as for `#[isolated_test]`.
//!
//! An `#[isolated_test]` among the tests does not run in wrap's sandbox:
//! it says so when it starts and wrap runs it again outside, where it makes
//! its own (see `crate::pid2::wrapped`).

mod framing;
pub(super) mod libtest;
pub(super) mod one;
pub(super) mod reported;
mod suite;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// What every sandbox of a wrap call gets, from the environment.
pub(super) struct Options {
    /// `ISOLATED_TEST_TIMEOUT`, or 60 s.
    timeout: Duration,
    /// `ISOLATED_TEST_HOSTNAME`, or `isolated-test`.
    hostname: String,
    /// `ISOLATED_TEST_MEMORY`, `_PIDS`, `_CPU`, or the defaults.
    limits: crate::sandbox::cgroup::Effective,
    /// `ISOLATED_TEST_FORBID_POLLUTION`: the paths a test may change.
    forbid: Option<&'static [&'static str]>,
    /// `ISOLATED_TEST_REPORT=1`: print every test's pollution report.
    print_report: bool,
    /// Where relative paths are taken from: the working directory (cargo
    /// and nextest run a test binary in its package's directory).
    base_dir: PathBuf,
}

impl Options {
    fn from_env() -> Result<Self, String> {
        // Read where they are used, checked here as the others are.
        crate::config::defaults::ahead()?;
        crate::config::report::check_requested()?;
        Ok(Self {
            timeout: crate::config::defaults::timeout()?,
            hostname: crate::config::defaults::hostname()?,
            limits: crate::sandbox::cgroup::Limits::default().effective()?,
            forbid: crate::config::defaults::forbid_pollution()?,
            print_report: crate::config::report::requested(),
            base_dir: std::env::current_dir().map_err(|e| format!("cannot read the working directory: {e}"))?,
        })
    }

    /// Whether the sandbox takes a pollution report (to print or check).
    fn report_wanted(&self) -> bool {
        self.print_report || self.forbid.is_some()
    }
}

/// What a call of wrap asks for.
#[derive(Debug, PartialEq, Eq)]
enum Call<'a> {
    /// nextest's command for one test.
    OneTest(&'a str),
    /// `--list` or `--help`: the binary itself, if it is a libtest binary.
    Passthrough,
    /// Anything else: decided by the kind of binary.
    Suite,
}

impl<'a> Call<'a> {
    fn of(args: &'a [String]) -> Self {
        match args {
            // nextest runs `BINARY --exact NAME --nocapture [--ignored] [--bench] [extra...]`
            // (nextest-runner's `TestInstance::compute_cli`).
            [exact, name, nocapture, ..] if exact == "--exact" && nocapture == "--nocapture" => Call::OneTest(name),
            _ if args.iter().any(|a| matches!(a.as_str(), "--list" | "--help" | "-h")) => Call::Passthrough,
            _ => Call::Suite,
        }
    }
}

/// Entry point of `isolated-test wrap`.
pub(crate) fn run(args: Vec<OsString>) -> ExitCode {
    crate::config::init_tracing();
    match wrap(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("isolated-test wrap: {message}");
            ExitCode::from(101)
        }
    }
}

fn wrap(args: Vec<OsString>) -> Result<ExitCode, String> {
    let mut args = args.into_iter();
    let binary = args.next().ok_or("usage: isolated-test wrap BINARY [ARGS...]")?;
    let binary = Path::new(&binary)
        .canonicalize()
        .map_err(|e| format!("cannot use the test binary `{}`: {e}", Path::new(&binary).display()))?;
    let args: Vec<String> = args
        .map(|a| a.into_string().map_err(|a| format!("the argument {a:?} is not UTF-8 (libtest takes UTF-8 only)")))
        .collect::<Result<_, _>>()?;
    let call = Call::of(&args);
    // nextest asks for one test of a binary it has listed itself: no need
    // to read the binary first.
    if let Call::OneTest(name) = call {
        return Ok(one::test(&Options::from_env()?, &binary, &args, name));
    }
    let kind =
        libtest::classify(&binary).map_err(|e| format!("cannot read the test binary `{}`: {e}", binary.display()))?;
    match (kind, call) {
        (libtest::Kind::Libtest, Call::Passthrough) => Err(exec(&binary, &args)),
        (libtest::Kind::Libtest, _) => {
            let mut parsed = libtest::Args::parse(&args)?;
            parsed.nocapture |= crate::parent::capture::nocapture_by_variable();
            let options = Options::from_env()?;
            if parsed.bench {
                eprintln!(
                    "isolated-test wrap: `{}` runs benchmarks (--bench): it runs whole, in one sandbox",
                    binary.display()
                );
                return Ok(one::whole(&options, &binary, &args));
            }
            Ok(suite::run(&options, &binary, &parsed))
        }
        (kind, _) => {
            let what = match kind {
                libtest::Kind::Doctest => "is a doc test",
                _ => "has no libtest harness (harness = false, or not a test)",
            };
            eprintln!(
                "isolated-test wrap: `{}` {what}: it runs whole, in one sandbox, not one sandbox per test",
                binary.display()
            );
            Ok(one::whole(&Options::from_env()?, &binary, &args))
        }
    }
}

/// Replaces this process with `binary ARGS` (a listing: no test runs);
/// returns only why that failed.
fn exec(binary: &Path, args: &[String]) -> String {
    use std::os::unix::process::CommandExt;
    let error = std::process::Command::new(binary).args(args).exec();
    format!("cannot run `{}`: {error}", binary.display())
}

/// The exit status `code` (a test's, passed through; 128 + a signal when
/// it was killed, as a shell reports it).
fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(101))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn calls() {
        let nextest = strings(&["--exact", "m::t", "--nocapture", "--ignored"]);
        assert_eq!(Call::of(&nextest), Call::OneTest("m::t"));
        assert_eq!(Call::of(&strings(&["--list", "--format", "terse"])), Call::Passthrough);
        assert_eq!(Call::of(&strings(&["-h"])), Call::Passthrough);
        for suite in [&[][..], &["--quiet"], &["m::t", "--exact"], &["--exact", "m::t"], &["--nocapture"]] {
            assert_eq!(Call::of(&strings(suite)), Call::Suite, "{suite:?}");
        }
    }
}
