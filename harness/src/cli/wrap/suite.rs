//! A libtest binary run whole as cargo runs it (a target runner): its
//! tests listed with its own `--list` and the call's filters, each run in a
//! sandbox of its own, `--test-threads` at a time, and reported as libtest
//! reports them (`test NAME ... ok`, `test NAME - should panic ... ok`, the
//! captured output of failures, the summary line, exit status 101 on
//! failure).

use std::collections::{HashSet, VecDeque};
use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use super::framing::Framing;
use super::libtest::{self, Args, Ignored};
use super::one::{Ending, Sandbox, Streams, outside};
use super::reported::Layout;
use super::{Options, exit_code};
use crate::__cli::Interrupts;
use crate::parent::capture::Kept;
use crate::parent::session;
use crate::parent::supervise::{Stream, pass_on_to};

/// One test of the run.
#[derive(Debug, Clone)]
struct Planned {
    name: String,
    /// It runs; otherwise it is reported `ignored` (with its reason, when
    /// it has one: `ignored, REASON`).
    runs: bool,
    ignore_reason: Option<String>,
    /// It runs although `#[ignore]`d (`--ignored`, `--include-ignored`).
    include_ignored: bool,
}

/// What came of one test.
struct Finished {
    name: String,
    /// The mode libtest names in its status line (`should panic`), as the
    /// test's own libtest named it.
    mode: Option<&'static str>,
    result: TestResult,
    /// Its output (captured, the bytes it was), with what wrap has to add.
    output: Vec<u8>,
}

/// A test's result, as libtest's status line says it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TestResult {
    Ok,
    Failed,
    /// Not run, with the reason of its `#[ignore = "REASON"]`, if any.
    Ignored(Option<String>),
    /// It was stopped (wrap was interrupted) before it ended by itself:
    /// libtest, killed by the same signal, would say nothing of it.
    Stopped,
}

/// Runs `binary`'s tests as `args` select them.
pub(super) fn run(options: &Options, binary: &Path, args: &Args) -> ExitCode {
    match suite(options, binary, args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("isolated-test wrap: {message}");
            ExitCode::from(101)
        }
    }
}

/// The tests to run or report, and how many the filters left out.
fn plan(binary: &Path, args: &Args) -> Result<(Vec<Planned>, usize), String> {
    let only_ignored = args.ignored == Ignored::Only;
    let selected = libtest::list(binary, Some(args), only_ignored)?;
    let ignored: HashSet<String> = match args.ignored {
        Ignored::Skip => libtest::list(binary, Some(args), true)?.into_iter().collect(),
        Ignored::Only | Ignored::Include => HashSet::new(),
    };
    let total =
        if args.filtered() || only_ignored { libtest::list(binary, None, false)?.len() } else { selected.len() };
    let not_run: Vec<&str> = selected.iter().filter(|name| ignored.contains(*name)).map(String::as_str).collect();
    // The reasons only add to the `ignored` lines: without them the suite
    // still runs (a binary whose run of its ignored tests fails, a command
    // line of too many names), and says why they are missing.
    let mut reasons = libtest::ignore_reasons(binary, &not_run).unwrap_or_else(|error| {
        eprintln!("isolated-test wrap: ignored tests are shown without their reasons: {error}");
        std::collections::HashMap::new()
    });
    let planned = selected
        .iter()
        .map(|name| Planned {
            runs: !ignored.contains(name),
            ignore_reason: reasons.remove(name),
            include_ignored: args.ignored != Ignored::Skip,
            name: name.clone(),
        })
        .collect::<Vec<_>>();
    let filtered_out = total.saturating_sub(planned.len());
    Ok((planned, filtered_out))
}

fn suite(options: &Options, binary: &Path, args: &Args) -> Result<ExitCode, String> {
    let (planned, filtered_out) = plan(binary, args)?;
    let runtime = session::runtime().map_err(|e| format!("cannot build a tokio runtime: {e}"))?;
    let mut interrupts = Interrupts::catch(&runtime)?;
    let started = Instant::now();
    let mut out = std::io::stdout().lock();
    let noun = if planned.len() == 1 { "test" } else { "tests" };
    let _ = writeln!(out, "\nrunning {} {noun}", planned.len());
    let mut printer = Printer { terse: args.terse, column: 0, total: planned.len(), done: 0 };
    let ignored = planned.iter().filter(|p| !p.runs).count();
    drop(out);

    // In libtest's order: an ignored test is reported when its turn comes.
    let queue = Mutex::new(planned.iter().collect::<VecDeque<_>>());
    let workers = args.threads().min(planned.len());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(None::<i32>);
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<Finished>();
    let mut passed = Vec::new();
    let mut failed = Vec::new();
    let mut stopped = Vec::new();
    let mut interrupted = None;
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (queue, done_tx, stop_rx) = (&queue, done_tx.clone(), stop_rx.clone());
            scope.spawn(move || worker(options, binary, args, queue, &done_tx, &stop_rx));
        }
        drop(done_tx);
        runtime.block_on(async {
            loop {
                tokio::select! {
                    finished = done_rx.recv() => match finished {
                        Some(finished) => {
                            let mut out = std::io::stdout().lock();
                            printer.result(&mut out, &finished.name, finished.mode, &finished.result);
                            match finished.result {
                                TestResult::Ok => passed.push(finished),
                                TestResult::Failed => failed.push(finished),
                                TestResult::Stopped => stopped.push(finished.name),
                                TestResult::Ignored(_) => {}
                            }
                        }
                        None => break,
                    },
                    signal = interrupts.next(), if interrupted.is_none() => {
                        interrupted = Some(signal);
                        let _ = stop_tx.send(Some(signal));
                    }
                }
            }
        });
    });
    let mut out = std::io::stdout().lock();
    if let Some(signal) = interrupted {
        // libtest, killed by the signal, would end here without a summary;
        // the tests that were stopped get no status line of their own.
        printer.end_line(&mut out);
        let _ = out.flush();
        stopped.sort_unstable();
        let stopped = match stopped.as_slice() {
            [] => String::new(),
            names => format!(" (stopped: {})", names.join(", ")),
        };
        eprintln!(
            "isolated-test wrap: interrupted by {}; the running sandboxes were killed{stopped}",
            crate::parent::verdict::signal_name(signal)
        );
        return Ok(exit_code(128 + signal));
    }
    if args.show_output {
        write_section(&mut out, "successes", &mut passed);
    }
    if !failed.is_empty() {
        write_section(&mut out, "failures", &mut failed);
    }
    let verdict = if failed.is_empty() { "ok" } else { "FAILED" };
    let _ = writeln!(
        out,
        "\ntest result: {verdict}. {} passed; {} failed; {ignored} ignored; 0 measured; {filtered_out} filtered out; \
         finished in {:.2}s\n",
        passed.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(101) })
}

/// Takes tests off the queue and runs each in its sandbox, on a runtime of
/// its own, until the queue is empty or wrap is interrupted.
fn worker(
    options: &Options,
    binary: &Path,
    args: &Args,
    queue: &Mutex<VecDeque<&Planned>>,
    done: &tokio::sync::mpsc::UnboundedSender<Finished>,
    stop: &tokio::sync::watch::Receiver<Option<i32>>,
) {
    let runtime = session::runtime();
    loop {
        if stop.borrow().is_some() {
            return;
        }
        let Some(test) = queue.lock().ok().and_then(|mut q| q.pop_front()) else { return };
        let finished = match &runtime {
            // libtest names no mode for a test it does not run.
            _ if !test.runs => Finished {
                name: test.name.clone(),
                mode: None,
                result: TestResult::Ignored(test.ignore_reason.clone()),
                output: Vec::new(),
            },
            Ok(runtime) => run_test(options, binary, args, test, runtime, stop.clone()),
            Err(e) => Finished {
                name: test.name.clone(),
                mode: None,
                result: TestResult::Failed,
                output: format!("isolated-test wrap: cannot build a tokio runtime: {e}\n").into_bytes(),
            },
        };
        if done.send(finished).is_err() {
            return;
        }
    }
}

/// One test in its sandbox (or, if it defers, outside).
fn run_test(
    options: &Options,
    binary: &Path,
    args: &Args,
    test: &Planned,
    runtime: &tokio::runtime::Runtime,
    stop: tokio::sync::watch::Receiver<Option<i32>>,
) -> Finished {
    // Two test threads, whatever the sandbox's CPU limit: with one (which
    // libtest picks when it sees one CPU, as under `cpu = "1"`), its
    // status line would come before the test's output, where the framing
    // does not look for it.
    let mut test_args =
        vec!["--exact".to_owned(), test.name.clone(), "--nocapture".to_owned(), "--test-threads=2".to_owned()];
    if test.include_ignored {
        test_args.push("--include-ignored".to_owned());
    }
    // As libtest keeps a test's output for its failure: only its head and
    // tail (libtest holds it whole, and wrap would hold it for as long).
    let (mut captured, mut kept) = (Vec::new(), Kept::default());
    let mut framing = Framing::new(&test.name);
    // The captured output ends with the newline libtest put after a
    // failure's note, which wrap's section puts there too.
    let mut libtests_newline = false;
    let mut sink = |stream: Stream, bytes: &[u8]| {
        let filtered;
        let bytes = match stream {
            Stream::Stdout => {
                filtered = framing.filter(bytes);
                &filtered[..]
            }
            Stream::Stderr => bytes,
        };
        if !bytes.is_empty() {
            libtests_newline = stream == Stream::Stdout && framing.ends_with_libtests_newline();
        }
        match (args.nocapture, stream) {
            (true, stream) => {
                let _ = pass_on_to(stream, bytes);
            }
            (false, _) => kept.push(bytes, &mut |bytes| captured.extend_from_slice(bytes)),
        }
    };
    let until_interrupted = |mut stop: tokio::sync::watch::Receiver<Option<i32>>| async move {
        if stop.wait_for(Option::is_some).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let sandbox = Sandbox {
        options,
        binary,
        args: test_args.clone(),
        test: Some(&test.name),
        // `--test-threads` above wins anyway; the variable is the user's
        // choice for wrap's own run, not for the one inside.
        env_remove: vec![crate::config::ENV_RUST_TEST_THREADS.into()],
        // wrap's own arguments above: libtest's default layout.
        layout: Layout::Pretty,
    };
    let ran = sandbox.run(runtime, &mut sink, until_interrupted(stop.clone()));
    kept.finish(&mut |bytes| captured.extend_from_slice(bytes));
    if libtests_newline {
        captured.pop();
    }
    // A test that failed once wrap was interrupted was stopped (its
    // sandbox killed), whatever its output says; one that passed, passed.
    let stopped = || stop.borrow().is_some();
    let (passed, mut output, notes, mode) = match ran.ending {
        Ending::Passed => (true, captured, ran.notes, framing.mode()),
        Ending::Failed if stopped() => {
            return Finished { name: test.name.clone(), mode: None, result: TestResult::Stopped, output: Vec::new() };
        }
        Ending::Failed => (false, captured, ran.notes, framing.mode()),
        // An #[isolated_test]: what it printed in wrap's sandbox was only
        // libtest's banner; its real run makes a sandbox of its own, and
        // its libtest frames its output as in wrap's sandbox.
        Ending::Deferred => {
            let mut framing = Framing::new(&test.name);
            let (code, text) = if args.nocapture {
                let mut print = |bytes: &[u8]| {
                    let _ = pass_on_to(Stream::Stdout, &framing.filter(bytes));
                };
                runtime.block_on(outside(
                    binary,
                    &test_args,
                    &[],
                    Streams::Lines(&mut print),
                    until_interrupted(stop.clone()),
                ))
            } else {
                let rerun = outside(binary, &test_args, &[], Streams::Captured, until_interrupted(stop.clone()));
                let (code, text) = runtime.block_on(rerun);
                let mut text = framing.filter(&text);
                if framing.ends_with_libtests_newline() {
                    text.pop();
                }
                (code, text)
            };
            if code != 0 && stopped() {
                return Finished {
                    name: test.name.clone(),
                    mode: None,
                    result: TestResult::Stopped,
                    output: Vec::new(),
                };
            }
            (code == 0, text, String::new(), framing.mode())
        }
    };
    if !notes.is_empty() {
        if args.nocapture {
            eprintln!("isolated-test wrap: `{}` failed: {notes}", test.name);
        } else {
            if !output.is_empty() && !output.ends_with(b"\n") {
                output.push(b'\n');
            }
            let _ = writeln!(output, "isolated-test wrap: {notes}");
        }
    }
    let result = if passed { TestResult::Ok } else { TestResult::Failed };
    Finished { name: test.name.clone(), mode, result, output }
}

/// libtest's status lines: `test NAME ... ok` (`test NAME - MODE ... ok`
/// when the test's libtest named a mode; `ignored, REASON`), or with
/// `--quiet` libtest's terse ones: a mark per test that passed (`.`) or was
/// ignored (`i`), 87 to a line ended by the count (` 87/200`), and a line
/// of its own for each failure (`NAME --- FAILED`), after the count of the
/// marks before it.
struct Printer {
    terse: bool,
    /// Marks on the current line.
    column: usize,
    total: usize,
    done: usize,
}

/// libtest's terse marks on a line (`QUIET_MODE_MAX_COLUMN`, 88: the count
/// comes after the 87th).
const TERSE_MARKS: usize = 87;

impl Printer {
    fn result(&mut self, out: &mut impl std::io::Write, name: &str, mode: Option<&str>, result: &TestResult) {
        let word = match result {
            TestResult::Ok => "ok",
            TestResult::Failed => "FAILED",
            TestResult::Ignored(None) => "ignored",
            TestResult::Ignored(Some(reason)) => &format!("ignored, {reason}"),
            TestResult::Stopped => return,
        };
        if !self.terse {
            let _ = match mode {
                Some(mode) => writeln!(out, "test {name} - {mode} ... {word}"),
                None => writeln!(out, "test {name} ... {word}"),
            };
            return;
        }
        if *result == TestResult::Failed {
            self.end_line(out);
            self.done += 1;
            let _ = writeln!(out, "{name} --- FAILED");
            let _ = out.flush();
            return;
        }
        let _ = write!(out, "{}", if *result == TestResult::Ok { "." } else { "i" });
        self.done += 1;
        self.column += 1;
        if self.column == TERSE_MARKS {
            self.end_line(out);
        }
        let _ = out.flush();
    }

    /// Ends a line of terse marks with the count so far, as libtest does
    /// before a failure's line (a summary needs none: it starts with a
    /// newline).
    fn end_line(&mut self, out: &mut impl std::io::Write) {
        if self.terse && self.column > 0 {
            let _ = writeln!(out, " {}/{}", self.done, self.total.max(self.done));
            self.column = 0;
        }
    }
}

/// libtest's `failures:` (or `successes:`) section: each captured output
/// under its name, then the names.
fn write_section(out: &mut impl std::io::Write, title: &str, tests: &mut [Finished]) {
    tests.sort_by(|a, b| a.name.cmp(&b.name));
    let _ = writeln!(out, "\n{title}:");
    let mut outputs = Vec::new();
    for test in tests.iter().filter(|t| !t.output.is_empty()) {
        let _ = writeln!(outputs, "---- {} stdout ----", test.name);
        outputs.extend_from_slice(&test.output);
        outputs.push(b'\n');
    }
    if !outputs.is_empty() {
        let _ = out.write_all(b"\n").and_then(|()| out.write_all(&outputs));
    }
    let _ = writeln!(out, "\n{title}:");
    for test in tests.iter() {
        let _ = writeln!(out, "    {}", test.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_name_the_mode_libtest_named() {
        let mut out = Vec::new();
        let mut printer = Printer { terse: false, column: 0, total: 5, done: 0 };
        printer.result(&mut out, "m::sp", Some("should panic"), &TestResult::Ok);
        printer.result(&mut out, "m::sp2", Some("should panic"), &TestResult::Failed);
        printer.result(&mut out, "m::t", None, &TestResult::Ignored(None));
        printer.result(&mut out, "m::gpu", None, &TestResult::Ignored(Some("needs a GPU".to_owned())));
        printer.result(&mut out, "m::long", None, &TestResult::Stopped);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "test m::sp - should panic ... ok\ntest m::sp2 - should panic ... FAILED\ntest m::t ... ignored\n\
             test m::gpu ... ignored, needs a GPU\n"
        );
    }

    #[test]
    fn terse_lines_are_libtests() {
        // As this toolchain's libtest prints them for 180 tests, the 100th
        // and 150th failing (the summary's newline ends the last line).
        let mut out = Vec::new();
        let mut printer = Printer { terse: true, column: 0, total: 180, done: 0 };
        for i in 0..180 {
            let result = match i {
                100 | 150 => TestResult::Failed,
                _ if i % 7 == 0 => TestResult::Ignored(Some("why".to_owned())),
                _ => TestResult::Ok,
            };
            printer.result(&mut out, &format!("t{i:03}"), None, &result);
        }
        let line =
            |from: usize, to: usize| -> String { (from..to).map(|i| if i % 7 == 0 { 'i' } else { '.' }).collect() };
        let expected = format!(
            "{} 87/180\n{} 100/180\nt100 --- FAILED\n{} 150/180\nt150 --- FAILED\n{}",
            line(0, 87),
            line(87, 100),
            line(101, 150),
            line(151, 180)
        );
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        // A failure first: no count before it.
        let mut out = Vec::new();
        let mut printer = Printer { terse: true, column: 0, total: 2, done: 0 };
        printer.result(&mut out, "m::sp2", Some("should panic"), &TestResult::Failed);
        printer.result(&mut out, "m::sp", Some("should panic"), &TestResult::Ok);
        printer.result(&mut out, "m::long", None, &TestResult::Stopped);
        assert_eq!(String::from_utf8(out).unwrap(), "m::sp2 --- FAILED\n.");
    }
}
