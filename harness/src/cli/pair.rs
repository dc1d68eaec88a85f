//! `isolated-test pair BINARY A B`: does test A's leftover state change test
//! B's verdict? A then B in one sandbox, B alone in a fresh one, both
//! verdicts compared, and A's pollution report.
//!
//! A verdict is libtest's: status 0 counts as a pass only when libtest
//! reported the test passed (`super::wrap::reported`). A pair whose runs
//! could not run a test (a sandbox that failed, a run without an exit
//! status, an `#[isolated_test]` whose own sandbox failed before its body)
//! has no verdict: pair says why and exits 125.
//!
//! An `#[isolated_test]` does not run in pair's sandbox (sandboxes do not
//! nest): started there, it defers, as under `wrap` (`crate::pid2::wrapped`),
//! and pair runs it outside, where it makes its own. Such an A keeps what
//! it changes in its own sandbox, as in any run, so B alone runs first,
//! then A, then B after it, each in a sandbox of its own: only what A's
//! sandbox left on the host (a writable bind) reaches B, as it would. An
//! `#[isolated_test]` B after a plain A cannot run where A's leftovers are
//! (in pair's sandbox): no verdict.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::helper::TellPipe;
use super::run::{RUN_TIMEOUT_HINT, SandboxArgs, Sandboxed, exit_codes, sandbox_failure, sandboxed, stopped_by};
use super::wrap::one::{Streams, outside};
use super::wrap::reported::{Layout, Reports};
use crate::sandbox::pollution::{self, Report};
use crate::sandbox::protocol::Message;

/// What came of one run of a test.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Told {
    Passed,
    /// Its verdict is a failure, for this reason.
    Failed(String),
}

impl Told {
    fn passed(&self) -> bool {
        *self == Told::Passed
    }

    fn word(&self) -> String {
        match self {
            Told::Passed => "passed".into(),
            Told::Failed(why) => format!("FAILED ({why})"),
        }
    }
}

/// Why a pair has no verdict (pair said so already, or says it with this);
/// the exit status to end with.
struct NoVerdict(ExitCode);

/// Says that `which` test `name` has no verdict, and why; exit status 125.
fn no_verdict(which: &str, name: &str, why: &str) -> NoVerdict {
    eprintln!("isolated-test pair: no verdict: {which} `{name}` {why}");
    NoVerdict(ExitCode::from(125))
}

/// Runs the pair, as the command line says.
struct Pair<'a> {
    args: &'a SandboxArgs,
    binary: &'a Path,
    /// B turned out to be an `#[isolated_test]`: it runs outside at once.
    b_isolated: std::cell::Cell<bool>,
}

/// What one sandbox of pair's said of its tests.
struct Ran {
    /// Each test's verdict, by index; none for a test that deferred or did
    /// not run after one that did.
    told: Vec<Option<Told>>,
    /// The test that deferred (an `#[isolated_test]`), if one did.
    deferred: Option<usize>,
    /// The pollution report after the first test.
    report: Report,
}

impl Pair<'_> {
    /// libtest's command for the test `name`: its exact name, on two test
    /// threads (so that libtest's status line comes after the test's output,
    /// where a line the test prints cannot come after it).
    fn command(&self, name: &str) -> Vec<String> {
        vec![self.binary.display().to_string(), name.into(), "--exact".into(), "--test-threads=2".into()]
    }

    /// The `named` tests (`A` or `B`, and the name) one after the other in
    /// one fresh sandbox.
    fn in_sandbox(&self, named: &[(&str, &str)]) -> Result<Ran, NoVerdict> {
        let tests: Vec<&str> = named.iter().map(|(_, name)| *name).collect();
        let tests = &tests[..];
        let mut reports = Reports::new(tests.iter().copied(), Layout::Pretty);
        let commands = tests.iter().map(|test| self.command(test)).collect();
        let Sandboxed { nonce, outcome, interrupted, .. } =
            sandboxed(self.args, commands, false, tests, Some(&mut reports)).map_err(|message| {
                eprintln!("isolated-test pair: could not start a sandbox: {message}");
                NoVerdict(ExitCode::from(125))
            })?;
        if let Some(signal) = interrupted {
            return Err(NoVerdict(stopped_by("pair", signal)));
        }
        if let Some(message) = sandbox_failure(&nonce, &outcome, RUN_TIMEOUT_HINT) {
            eprintln!("isolated-test pair: no verdict: {message}");
            return Err(NoVerdict(ExitCode::from(125)));
        }
        // The helper runs no test after one that deferred: the first of
        // that name is the one.
        let codes = exit_codes(&outcome);
        let deferred = outcome.log.messages.iter().find_map(|m| match m {
            Message::Deferred { test } => tests.iter().position(|t| t == test),
            _ => None,
        });
        let mut told = Vec::new();
        for (i, (which, name)) in named.iter().enumerate() {
            if deferred.is_some_and(|d| i >= d) {
                told.push(None);
                continue;
            }
            let verdict = match codes.get(i) {
                Some(0) => reports.not_passed(i).map_or(Told::Passed, Told::Failed),
                Some(code) => Told::Failed(format!("exit {code}")),
                None => {
                    return Err(no_verdict(which, name, "did not finish: its sandbox reported no exit status for it"));
                }
            };
            told.push(Some(verdict));
        }
        let report = pollution::from_messages(&outcome.log.messages).unwrap_or_default();
        Ok(Ran { told, deferred, report })
    }

    /// The `#[isolated_test]` `name` run outside pair's sandboxes, where it
    /// makes its own; `report` prints its pollution report (the attribute's
    /// `ISOLATED_TEST_REPORT=1`). Its verdict, unless its body never started.
    fn outside(&self, which: &str, name: &str, report: bool) -> Result<Told, NoVerdict> {
        let fail = |message: String| {
            eprintln!("isolated-test pair: {message}");
            NoVerdict(ExitCode::from(125))
        };
        let runtime = crate::parent::session::runtime().map_err(|e| fail(format!("cannot build a runtime: {e}")))?;
        let mut interrupts = super::Interrupts::catch(&runtime).map_err(fail)?;
        let pipe = TellPipe::new().map_err(|e| fail(format!("cannot create a pipe: {e}")))?;
        let mut env = vec![
            (crate::config::ENV_PAIR_TEST, name.to_owned()),
            (crate::config::ENV_PAIR_FD, std::os::fd::AsRawFd::as_raw_fd(&pipe.write).to_string()),
        ];
        if report {
            env.push((crate::config::ENV_REPORT, "1".to_owned()));
        }
        let interrupted = std::cell::Cell::new(None);
        let args = &self.command(name)[1..];
        let (code, _) = runtime.block_on(outside(self.binary, args, &env, Streams::Inherited, async {
            interrupted.set(Some(interrupts.next().await));
        }));
        if let Some(signal) = interrupted.get() {
            return Err(NoVerdict(stopped_by("pair", signal)));
        }
        if pipe.said() != b"started\n" {
            return Err(no_verdict(
                which,
                name,
                "(an #[isolated_test], run in a sandbox of its own) did not run: that sandbox failed before its \
                 body started (see above)",
            ));
        }
        Ok(if code == 0 { Told::Passed } else { Told::Failed(format!("exit {code}")) })
    }

    /// B in a fresh sandbox of pair's, or, an `#[isolated_test]`, in its own.
    fn b(&self, name: &str) -> Result<Told, NoVerdict> {
        if !self.b_isolated.get() {
            let ran = self.in_sandbox(&[("B", name)])?;
            if let Some(told) = ran.told.into_iter().next().flatten() {
                return Ok(told);
            }
            self.b_isolated.set(true);
        }
        eprintln!("== B is an #[isolated_test]: it runs in a sandbox of its own");
        self.outside("B", name, false)
    }

    /// A and B's verdicts (A, B after A, B alone) and A's report, if A ran
    /// in pair's sandbox.
    fn run(&self, a: &str, b: &str) -> Result<(Told, Told, Told, Option<Report>), NoVerdict> {
        eprintln!("== A then B, in one sandbox");
        let mut together = self.in_sandbox(&[("A", a), ("B", b)])?;
        match together.deferred {
            None => {
                eprintln!("== B alone, in a fresh sandbox");
                let alone = self.b(b)?;
                let mut told = together.told.drain(..).flatten();
                match (told.next(), told.next()) {
                    (Some(a), Some(after)) => Ok((a, after, alone, Some(together.report))),
                    _ => Err(no_verdict("B", b, "did not run after A")),
                }
            }
            Some(0) => {
                // A keeps what it changes in its own sandbox: B alone comes
                // first, so that what that sandbox may leave on the host
                // reaches only B after A.
                eprintln!("== A is an #[isolated_test], which runs in a sandbox of its own: B alone first");
                let alone = self.b(b)?;
                eprintln!("== A, in a sandbox of its own");
                let a = self.outside("A", a, true)?;
                eprintln!("== B after A, in a fresh sandbox");
                let after = self.b(b)?;
                Ok((a, after, alone, None))
            }
            Some(_) => Err(no_verdict(
                "B",
                b,
                "is an #[isolated_test]: it makes a sandbox of its own from the host's files, and sandboxes do not \
                 nest, so it cannot run where A's leftovers are (pair's sandbox)",
            )),
        }
    }
}

/// Why `binary` would not run the test `name` as `pair` runs it
/// (`BINARY --exact NAME`), if it would not: a test that does not run
/// neither passes nor fails, and a pair with one has no verdict.
///
/// # Errors
/// The binary's listing could not be had.
fn not_run(binary: &Path, name: &str) -> Result<Option<String>, String> {
    use super::wrap::libtest::{Listed, look_up};
    Ok(match look_up(binary, name)? {
        Listed::Runs => None,
        Listed::Ignored => Some(format!(
            "it is #[ignore]d, so libtest skips it (`{} --exact {name}` reports it `ignored`)",
            binary.display()
        )),
        Listed::Missing => Some(format!(
            "`{}` has no test of that exact name (its `--list` names each test in full: `module::test`)",
            binary.display()
        )),
    })
}

/// `isolated-test pair`.
pub(crate) fn pair(args: &SandboxArgs, binary: PathBuf, test_a: String, test_b: String) -> ExitCode {
    crate::config::make_for_a_command();
    let binary = match binary.canonicalize() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("isolated-test pair: cannot use the test binary `{}`: {e}", binary.display());
            return ExitCode::from(125);
        }
    };
    // Its tests are listed on the host (`--list`), which only a libtest
    // binary does without running anything: any other program (`harness =
    // false`, a doc test, a program named by mistake) would run there,
    // outside any sandbox, whatever its arguments.
    match super::wrap::libtest::classify(&binary) {
        Ok(super::wrap::libtest::Kind::Libtest) => {}
        Ok(_) => {
            eprintln!(
                "isolated-test pair: `{}` is not a libtest test binary (harness = false, a doc test or another \
                 program), so its tests cannot be named; it was not run. `isolated-test run -- {}` runs it whole \
                 in a sandbox",
                binary.display(),
                binary.display()
            );
            return ExitCode::from(125);
        }
        Err(e) => {
            eprintln!("isolated-test pair: cannot read the test binary `{}`: {e}", binary.display());
            return ExitCode::from(125);
        }
    }
    // A named test that would not run is told before any sandbox is made:
    // it would neither pass nor fail, and the pair would mean nothing. As
    // for a test binary that cannot be used, the exit status is 125.
    let mut runs = true;
    for (which, name) in [("A", &test_a), ("B", &test_b)] {
        match not_run(&binary, name) {
            Ok(None) => {}
            Ok(Some(why)) => {
                println!("{which} `{name}`: not run: {why}");
                runs = false;
            }
            Err(e) => {
                eprintln!("isolated-test pair: {e}");
                return ExitCode::from(125);
            }
        }
    }
    if !runs {
        eprintln!("isolated-test pair: a test that is not run neither passes nor fails: name two tests that run");
        return ExitCode::from(125);
    }
    let (a, b_after, b_alone, report) =
        match (Pair { args, binary: &binary, b_isolated: false.into() }).run(&test_a, &test_b) {
            Ok(told) => told,
            Err(NoVerdict(code)) => return code,
        };
    println!("A `{test_a}`: {}", a.word());
    println!("B `{test_b}` after A: {}", b_after.word());
    println!("B `{test_b}` alone:   {}", b_alone.word());
    let changed = b_after.passed() != b_alone.passed();
    if changed {
        println!(
            "verdict: A's leftovers change B's verdict (B {} alone, {} after A)",
            if b_alone.passed() { "passes" } else { "fails" },
            if b_after.passed() { "passes" } else { "fails" }
        );
    } else {
        println!("verdict: A's leftovers do not change B's verdict");
    }
    match report {
        Some(report) => println!("A's {report}"),
        None => println!(
            "A's pollution report: above (`isolated test `{test_a}`: pollution report:`); it changed its own \
             sandbox, dropped with it"
        ),
    }
    if changed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}
