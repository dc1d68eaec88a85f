//! One sandbox of wrap: a test, or a whole binary, run as the child of this
//! binary's helper (PID 2), and what came of it. Also the two calls that
//! are one sandbox each: nextest's one test ([`test`]) and a binary run
//! whole ([`whole`]).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use super::reported::{Layout, Reports};
use super::{Options, exit_code};
use crate::__cli::Interrupts;
use crate::__cli::helper::{self, RunSpec};
use crate::parent::capture::Kept;
use crate::parent::session::{self, SessionError};
use crate::parent::supervise::{Outcome, Output, Stream};
use crate::parent::verdict;
use crate::sandbox::protocol::Message;
use crate::sandbox::request::SetupRequest;

/// How wrap says how to raise the timeout.
const TIMEOUT_HINT: &str = "\nRaise the limit with ISOLATED_TEST_TIMEOUT (e.g. ISOLATED_TEST_TIMEOUT=5m).";

/// How a sandboxed run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    /// The test (or binary) exited with 0, and left nothing it may not.
    Passed,
    /// It failed, or its sandbox did.
    Failed,
    /// It is an `#[isolated_test]`, which runs outside wrap's sandbox and
    /// makes its own: run it again with [`outside`].
    Deferred,
}

/// What came of one sandbox.
#[derive(Debug)]
pub(super) struct Ran {
    pub(super) ending: Ending,
    /// The exit status to pass on: the test's own, or 101 when wrap failed
    /// a test that exited with 0, or its sandbox failed.
    pub(super) code: i32,
    /// What wrap has to say beyond the test's own output (why its sandbox
    /// failed, the signal that killed it, what it polluted, the resources
    /// it used), one or more lines; empty when it passed.
    pub(super) notes: String,
}

impl Ran {
    fn failed(code: i32, notes: String) -> Self {
        Self { ending: Ending::Failed, code, notes }
    }
}

/// One sandbox to run.
pub(super) struct Sandbox<'a> {
    pub(super) options: &'a Options,
    /// The test binary (canonical).
    pub(super) binary: &'a Path,
    /// Its arguments.
    pub(super) args: Vec<String>,
    /// The libtest name of the test, when this is one test: it is told so,
    /// and may defer.
    pub(super) test: Option<&'a str>,
    /// Variables taken out of the test's environment.
    pub(super) env_remove: Vec<OsString>,
    /// The layout of the test's libtest output, where its result is read
    /// (a test whose binary exits with 0 passed only if libtest said so).
    pub(super) layout: Layout,
}

impl Sandbox<'_> {
    /// `test NAME`, or the binary's path.
    fn label(&self) -> String {
        match self.test {
            Some(test) => test.to_owned(),
            None => self.binary.display().to_string(),
        }
    }

    /// Runs it in a fresh sandbox, supervised on `runtime`, its output to
    /// `output` (whole lines at a time); killed as soon as `stop` completes.
    pub(super) fn run(
        self,
        runtime: &tokio::runtime::Runtime,
        output: &mut dyn FnMut(Stream, &[u8]),
        stop: impl std::future::Future<Output = ()>,
    ) -> Ran {
        let options = self.options;
        let Some(binary) = self.binary.to_str() else {
            return Ran::failed(101, format!("the test binary's path `{}` is not UTF-8", self.binary.display()));
        };
        let mut argv = vec![binary.to_owned()];
        argv.extend(self.args.iter().cloned());
        // Held until the sandbox is over, then its profiles move out.
        let profiles = crate::config::coverage::Profiles::prepare();
        let mut rootfs = crate::Rootfs::host();
        if let Some(profiles) = &profiles {
            rootfs = rootfs.bind_rw(profiles.staging(), profiles.staging());
        }
        let setup = SetupRequest {
            // A binary below /tmp (a doc test's) stays visible over the fresh /tmp.
            keep: self.binary.parent().map(PathBuf::from).into_iter().collect(),
            ..SetupRequest::new(options.hostname.clone(), rootfs, options.base_dir.clone(), true, options.limits)
        };
        let report = options.report_wanted();
        let spec =
            RunSpec { commands: vec![argv], tty: None, report, wrapped_tests: vec![self.test.map(str::to_owned)] };
        let (nonce, mut invocation) = match helper::invocation("run", Some(&spec), setup) {
            Ok(made) => made,
            Err(message) => return Ran::failed(101, message),
        };
        invocation.env_remove.clone_from(&self.env_remove);
        // A binary run whole (a program under `cargo run` with wrap as the
        // runner, `harness = false`) reads this process's standard input,
        // through a pipe, as under `run`; a test does not.
        if self.test.is_none() {
            match rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC) {
                Ok((read, write)) => {
                    invocation.stdin = Some(read);
                    crate::__cli::run::feed_stdin(write);
                }
                Err(e) => return Ran::failed(101, format!("cannot create the stdin pipe: {e}")),
            }
        }
        invocation.env.extend(profiles.as_ref().map(crate::config::coverage::Profiles::env));
        // What libtest says of the test, read on its way to `output`.
        let mut reports = self.test.map(|test| Reports::new([test], self.layout));
        let mut read = |stream: Stream, bytes: &[u8]| {
            if let (Stream::Stdout, Some(reports)) = (stream, reports.as_mut()) {
                reports.feed(bytes);
            }
            output(stream, bytes);
        };
        let output = Output::To(&mut read);
        let watch =
            session::Watch { timeout: options.timeout, report_grace: report.then_some(Duration::from_secs(2)), output };
        match session::run(runtime, invocation, watch, stop) {
            Ok(outcome) => self.judge(&nonce, &outcome, reports.as_ref()),
            Err(SessionError::Start(err)) => Ran::failed(101, format!("could not start its sandbox: {}", err.render())),
            Err(SessionError::Supervise(e)) => Ran::failed(101, format!("supervising its sandbox failed: {e}")),
        }
    }

    fn judge(&self, nonce: &str, outcome: &Outcome, reports: Option<&Reports>) -> Ran {
        let options = self.options;
        let report = crate::sandbox::pollution::from_messages(&outcome.log.messages);
        let (cause, used) = verdict::resources(outcome);
        if let Some(report) = report.as_ref().filter(|_| options.print_report) {
            use std::io::Write;
            // Straight to stderr, for passing tests too, as the attribute does.
            let _ = writeln!(std::io::stderr(), "isolated test `{}`: {report}{used}", self.label());
        }
        // A failure leads with the limit it hit, if any, and ends with
        // what the sandbox used.
        let explain = |message: &str| match &cause {
            Some(cause) => format!("{cause}\n{message}\n{used}"),
            None if message.is_empty() => used.clone(),
            None => format!("{message}\n{used}"),
        };
        if let Some(message) = crate::__cli::run::sandbox_failure(nonce, outcome, TIMEOUT_HINT) {
            return Ran::failed(101, explain(&message));
        }
        let deferred = outcome
            .log
            .messages
            .iter()
            .any(|m| matches!(m, Message::Deferred { test } if Some(test.as_str()) == self.test));
        if deferred {
            return Ran { ending: Ending::Deferred, code: 0, notes: String::new() };
        }
        // The exit status is PID 2's own (which PID 1 records and nothing in
        // the sandbox can write); the reported one must agree with it.
        let reported = outcome.log.messages.iter().find_map(|m| match m {
            Message::CommandExited { code, signal } => Some((*code, *signal)),
            _ => None,
        });
        let exited = outcome.log.pid2_status.filter(|s| libc::WIFEXITED(*s)).map(|s| libc::WEXITSTATUS(s));
        let (code, signal) = match (reported, exited) {
            (Some((reported, signal)), Some(exited)) if reported == exited => (exited, signal),
            (Some((reported, _)), Some(exited)) => {
                let note = format!("the sandbox reported exit status {reported}, but the test exited with {exited}");
                return Ran::failed(if exited == 0 { 101 } else { exited }, explain(&note));
            }
            _ => return Ran::failed(101, explain("the test's exit status was not reported")),
        };
        if code != 0 {
            let mut note = String::new();
            if let Some(signal) = signal {
                let _ = write!(note, "the test process was killed by {}", verdict::signal_name(signal));
            }
            return Ran::failed(code, explain(&note));
        }
        // Status 0 is a pass only if libtest said the test passed: a test
        // that calls `std::process::exit(0)` ends its binary with it too.
        if let Some(why) = reports.and_then(|reports| reports.not_passed(0)) {
            return Ran::failed(101, explain(&why));
        }
        if let Some(allowed) = options.forbid {
            if let Some(failure) = verdict::polluted(report.as_ref(), allowed, crate::config::ENV_FORBID_POLLUTION) {
                return Ran::failed(101, explain(&failure));
            }
        }
        Ran { ending: Ending::Passed, code: 0, notes: String::new() }
    }
}

/// Where the output of a test run by [`outside`] goes.
pub(in crate::__cli) enum Streams<'a> {
    /// This process's own standard output and error, as it comes
    /// (nextest's call: the output passes through).
    Inherited,
    /// Standard output and error together, in order, returned when the
    /// test has ended (captured, as libtest captures a test's output: its
    /// head and tail, see [`Kept`]).
    Captured,
    /// Standard output to the caller as it comes, whole lines at a time
    /// (so that libtest's framing can be told from it); standard error to
    /// this process's own.
    Lines(&'a mut dyn FnMut(&[u8])),
}

/// Runs `binary ARGS` outside any sandbox, with `env` added to its
/// environment: a test that deferred, which makes its own. Its output goes
/// where `streams` says; what comes back is
/// the exit status as a code (128 + a signal that killed it) and the
/// captured output ([`Streams::Captured`]), or else only why the test
/// could not be run or waited for. When `stop` completes first, the test
/// is sent SIGTERM (its sandbox dies with it) and waited for.
pub(in crate::__cli) async fn outside(
    binary: &Path,
    args: &[String],
    env: &[(&str, String)],
    streams: Streams<'_>,
    stop: impl std::future::Future<Output = ()>,
) -> (i32, Vec<u8>) {
    use std::os::unix::process::ExitStatusExt;
    use tokio::io::AsyncReadExt;
    let (piped, mut lines) = match streams {
        Streams::Inherited => (false, None),
        Streams::Captured => (true, None),
        Streams::Lines(sink) => (true, Some(sink)),
    };
    let started = (|| {
        let mut command = tokio::process::Command::new(binary);
        command.args(args).envs(env.iter().map(|(k, v)| (k, v))).stdin(std::process::Stdio::null());
        if piped {
            // Do not pass on a one-thread libtest: its status line would
            // come before the test's output, where the framing is not found.
            command.env_remove(crate::config::ENV_RUST_TEST_THREADS);
        }
        let pipe = if piped {
            let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
            if lines.is_some() {
                command.stdout(write);
            } else {
                command.stdout(write.try_clone()?).stderr(write);
            }
            Some(tokio::net::unix::pipe::Receiver::from_owned_fd(read)?)
        } else {
            None
        };
        // The command (and its copies of the write end) goes with this
        // closure, so that the pipe ends with the test.
        Ok::<_, std::io::Error>((command.spawn()?, pipe))
    })();
    let (mut child, pipe) = match started {
        Ok(started) => started,
        Err(e) => return (101, format!("isolated-test wrap: cannot run `{}`: {e}\n", binary.display()).into_bytes()),
    };
    let read_all = async {
        let Some(mut pipe) = pipe else { return Vec::new() };
        let Some(sink) = lines.as_mut() else {
            let (mut bytes, mut kept, mut buf) = (Vec::new(), Kept::default(), vec![0u8; 16 * 1024]);
            while let Ok(n @ 1..) = pipe.read(&mut buf).await {
                kept.push(&buf[..n], &mut |read| bytes.extend_from_slice(read));
            }
            kept.finish(&mut |read| bytes.extend_from_slice(read));
            return bytes;
        };
        // Whole lines as they come (never a character cut in two), the
        // last one also without its newline.
        let (mut lines, mut buf) = (crate::parent::supervise::Lines::default(), vec![0u8; 16 * 1024]);
        while let Ok(n @ 1..) = pipe.read(&mut buf).await {
            lines.push(&buf[..n], sink);
        }
        lines.finish(sink);
        Vec::new()
    };
    let pid = child.id().and_then(|pid| rustix::process::Pid::from_raw(i32::try_from(pid).ok()?));
    let waited = tokio::select! {
        (status, output) = async { tokio::join!(child.wait(), read_all) } => Some((status, output)),
        () = stop => None,
    };
    let (status, output) = match waited {
        Some(done) => done,
        None => {
            if let Some(pid) = pid {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            (child.wait().await, Vec::new())
        }
    };
    match status {
        Ok(status) => (status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)), output),
        Err(e) => {
            let mut output = output;
            output.extend_from_slice(
                format!("isolated-test wrap: waiting for `{}` failed: {e}\n", binary.display()).as_bytes(),
            );
            (101, output)
        }
    }
}

/// nextest's call for one test: `BINARY --exact NAME --nocapture ...`.
/// The output passes through as it comes, and the exit status is the
/// test's (101 when wrap fails it).
pub(super) fn test(options: &Options, binary: &Path, args: &[String], name: &str) -> ExitCode {
    single(options, binary, args, Some(name))
}

/// A binary run whole, in one sandbox (a doc test, `harness = false`).
pub(super) fn whole(options: &Options, binary: &Path, args: &[String]) -> ExitCode {
    single(options, binary, args, None)
}

fn single(options: &Options, binary: &Path, args: &[String], test: Option<&str>) -> ExitCode {
    let runtime = match session::runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("isolated-test wrap: cannot build a tokio runtime: {e}");
            return ExitCode::from(101);
        }
    };
    let mut interrupts = match Interrupts::catch(&runtime) {
        Ok(interrupts) => interrupts,
        Err(message) => {
            eprintln!("isolated-test wrap: {message}");
            return ExitCode::from(101);
        }
    };
    // The test's result is read from its libtest's output, in the layout
    // nextest (or the caller) asked for.
    let layout = match test.map(|_| super::reported::layout_of(args)).transpose() {
        Ok(layout) => layout.unwrap_or(Layout::Pretty),
        Err(message) => {
            eprintln!("isolated-test wrap: {message}");
            return ExitCode::from(101);
        }
    };
    let interrupted = std::cell::Cell::new(None);
    let sandbox = Sandbox { options, binary, args: args.to_vec(), test, env_remove: Vec::new(), layout };
    let label = sandbox.label();
    // Passed on as the bytes they are, line by line.
    let mut pass_through = |stream: Stream, bytes: &[u8]| {
        let _ = crate::parent::supervise::pass_on_to(stream, bytes);
    };
    let ran = sandbox.run(&runtime, &mut pass_through, async {
        interrupted.set(Some(interrupts.next().await));
    });
    // An #[isolated_test] runs again outside, where it makes its own sandbox.
    let code = (ran.ending == Ending::Deferred && interrupted.get().is_none()).then(|| {
        runtime.block_on(outside(binary, args, &[], Streams::Inherited, async {
            interrupted.set(Some(interrupts.next().await));
        }))
    });
    if let Some(signal) = interrupted.get() {
        eprintln!("isolated-test wrap: interrupted by {}; the test was stopped", verdict::signal_name(signal));
        return exit_code(128 + signal);
    }
    match ran.ending {
        Ending::Deferred => exit_code(code.map_or(101, |(code, _)| code)),
        Ending::Passed => ExitCode::SUCCESS,
        Ending::Failed => {
            if !ran.notes.is_empty() {
                eprintln!("isolated-test wrap: `{label}` failed: {}", ran.notes);
            }
            exit_code(ran.code)
        }
    }
}
