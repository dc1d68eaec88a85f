//! `isolated-test run`: any command in a sandbox, with its pollution
//! report; and the sandbox it makes, which `pair` (`super::pair`) makes
//! too.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::helper::RunSpec;
use super::relay;
use super::visible;
use super::wrap::reported::Reports;
use crate::Rootfs;
use crate::parent::session::{self, SessionError};
use crate::parent::supervise::{Outcome, Output};
use crate::parent::verdict::{Verdict, judge};
use crate::sandbox::cgroup::{Effective, Usage};
use crate::sandbox::pollution::{self, Report};
use crate::sandbox::protocol::Message;
use crate::sandbox::request::SetupRequest;

/// Where and how to run, shared by `run` and `pair`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct SandboxArgs {
    /// Hostname inside the sandbox (1 to 64 letters, digits, - or .; the attribute's grammar).
    #[arg(long, default_value = crate::config::DEFAULT_HOSTNAME, value_parser = hostname)]
    hostname: String,
    /// Root filesystem: host, host_ro or busybox (--dir, --tar and --debootstrap are others).
    #[arg(long, default_value = "host", value_parser = ["host", "host_ro", "busybox"], conflicts_with_all = ["dirs", "tar"])]
    rootfs: String,
    /// An image directory (overlay lower layer); repeat for layers, bottom first.
    #[arg(long = "dir", value_name = "PATH", conflicts_with = "tar")]
    dirs: Vec<PathBuf>,
    /// An image archive (.tar, .tar.gz, .tgz).
    #[arg(long, value_name = "PATH", conflicts_with = "debootstrap")]
    tar: Option<PathBuf>,
    /// A Debian root of this suite (bookworm, trixie, sid), made by debootstrap `minbase` the first time
    /// (as root, about a minute) and cached; the mirror is DEBOOTSTRAP_MIRROR, else the host's apt
    /// sources, else deb.debian.org. Other distributions' suites (jammy) with their mirror and keyring.
    #[arg(long, value_name = "SUITE", conflicts_with_all = ["dirs", "rootfs"])]
    debootstrap: Option<String>,
    /// More packages in the --debootstrap root (procps for `ps`, iproute2); each set of packages is
    /// an image of its own, built once.
    #[arg(long, value_name = "PKG,...", value_delimiter = ',', requires = "debootstrap")]
    include: Vec<String>,
    /// Bind a host path read-only: SRC or SRC:DST.
    #[arg(long, value_name = "SRC[:DST]", value_parser = bind)]
    bind: Vec<(String, PathBuf)>,
    /// Bind a host path writable: SRC or SRC:DST.
    #[arg(long = "bind-rw", value_name = "SRC[:DST]", value_parser = bind)]
    bind_rw: Vec<(String, PathBuf)>,
    /// Mount a fresh tmpfs.
    #[arg(long, value_name = "DST", value_parser = inside)]
    tmpfs: Vec<PathBuf>,
    /// Prepared state: write a file before the command (DST=CONTENTS).
    #[arg(long = "seed-file", value_name = "DST=CONTENTS", value_parser = seed_file)]
    seed_files: Vec<(String, String)>,
    /// Prepared state: set a net.* sysctl before the command (NAME=VALUE).
    #[arg(long = "sysctl", value_name = "NAME=VALUE", value_parser = sysctl)]
    sysctls: Vec<(String, String)>,
    /// Do not bind the host files the command names below /tmp, /var/tmp, /run or /dev/shm (fresh
    /// inside); by default each is bound read-only at the same path, and said so on stderr.
    #[arg(long = "no-bind-args")]
    no_bind_args: bool,
    /// Kill the whole sandbox after this long (500ms, 10s, 1m 30s, 2h; the attribute's grammar).
    #[arg(long, default_value = "10m", value_parser = isolated_test_values::parse_timeout)]
    timeout: Duration,
    /// No user namespace (real root only; no security boundary).
    #[arg(long)]
    privileged: bool,
    /// Memory limit, tmpfs contents included (256M, 1G, 512MiB; at least 4M; default: a quarter
    /// of the machine's memory, or ISOLATED_TEST_MEMORY).
    #[arg(long, value_parser = isolated_test_values::parse_memory)]
    memory: Option<u64>,
    /// Process and thread limit (at least 16; default 4096, or ISOLATED_TEST_PIDS).
    #[arg(long, value_parser = isolated_test_values::parse_pids)]
    pids: Option<u64>,
    /// CPU limit in cores (1.5, 0.25; 0.01 to 1024; default none, or ISOLATED_TEST_CPU).
    #[arg(long, value_parser = isolated_test_values::parse_cpu)]
    cpu: Option<u64>,
}

/// `--hostname`: checked as the attribute's `hostname` is.
fn hostname(text: &str) -> Result<String, isolated_test_values::ValueError> {
    isolated_test_values::check_hostname(text).map(|()| text.to_owned())
}

/// A path inside the sandbox (`--tmpfs`, and the destinations of the
/// other flags): absolute, not `/`, without `..`.
fn inside(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    if crate::sandbox::resolve::is_inside_path(&path) {
        Ok(path)
    } else {
        Err(format!("`{text}` cannot be a path inside the sandbox: {}", crate::sandbox::resolve::INSIDE_PATH_RULE))
    }
}

/// `--bind`, `--bind-rw`: `SRC` (at the same path inside) or `SRC:DST`,
/// `DST` absolute.
fn bind(text: &str) -> Result<(String, PathBuf), String> {
    match text.split_once(':') {
        Some((src, dst)) if dst.starts_with('/') => Ok((src.to_owned(), inside(dst)?)),
        Some((_, dst)) => Err(format!("the destination `{dst}` must be an absolute path (SRC:/DST)")),
        None if text.starts_with('/') => Ok((text.to_owned(), inside(text)?)),
        None => Err(format!(
            "`{text}` alone is bound at the same path inside, which must be absolute: give /{text} or SRC:/DST"
        )),
    }
}

/// `--seed-file DST=CONTENTS`, split at the first `=`; `DST` a path inside.
fn seed_file(text: &str) -> Result<(String, String), String> {
    let (dst, contents) = split_at_equals(text, "DST=CONTENTS, e.g. /etc/app.conf=port=80")?;
    inside(&dst)?;
    Ok((dst, contents))
}

/// `--sysctl NAME=VALUE`, split at the first `=`.
fn sysctl(text: &str) -> Result<(String, String), String> {
    split_at_equals(text, "NAME=VALUE, e.g. net.ipv4.ip_forward=1")
}

fn split_at_equals(text: &str, form: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .ok_or_else(|| format!("no `=` in `{text}`: expected {form}"))
}

impl SandboxArgs {
    fn rootfs(&self) -> Rootfs {
        let mut rootfs = if let Some(suite) = &self.debootstrap {
            Rootfs::debootstrap(crate::Debootstrap::new(suite.as_str()).include(self.include.iter().cloned()))
        } else if let Some(tar) = &self.tar {
            Rootfs::tar(tar)
        } else if !self.dirs.is_empty() {
            Rootfs::layers(self.dirs.clone())
        } else {
            match self.rootfs.as_str() {
                "host_ro" => Rootfs::host_ro(),
                "busybox" => Rootfs::busybox(),
                _ => Rootfs::host(),
            }
        };
        for (list, rw) in [(&self.bind, false), (&self.bind_rw, true)] {
            for (src, dst) in list {
                rootfs = if rw { rootfs.bind_rw(src, dst) } else { rootfs.bind(src, dst) };
            }
        }
        for dst in &self.tmpfs {
            rootfs = rootfs.tmpfs(dst);
        }
        for (dst, contents) in &self.seed_files {
            rootfs = rootfs.seed_file(dst, contents.as_bytes());
        }
        for (name, value) in &self.sysctls {
            rootfs = rootfs.sysctl(name, value);
        }
        rootfs
    }
}

/// The caller's terminal while a sandboxed command runs on a pty of its
/// own: in raw mode, so keys (Ctrl-C, Ctrl-Z included) go to the command,
/// not to this process; restored on drop, before anything else is
/// printed. Its window size is followed (SIGWINCH), nothing else of it.
struct Terminal {
    saved: rustix::termios::Termios,
    /// SIGWINCH, caught from before the first size is read, so that no
    /// resize falls between the two; `None` if it could not be caught.
    resized: Option<tokio::signal::unix::Signal>,
}

impl Terminal {
    /// Raw mode on, when stdin and stdout are a terminal.
    fn enter(runtime: &tokio::runtime::Runtime) -> Option<Self> {
        let (stdin, stdout) = (rustix::stdio::stdin(), rustix::stdio::stdout());
        if !rustix::termios::isatty(stdin) || !rustix::termios::isatty(stdout) {
            return None;
        }
        let saved = rustix::termios::tcgetattr(stdin).ok()?;
        let resized = {
            let _runtime = runtime.enter();
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok()
        };
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(stdin, rustix::termios::OptionalActions::Now, &raw).ok()?;
        Some(Self { saved, resized })
    }

    /// The window size now (rows, columns).
    fn size() -> (u16, u16) {
        rustix::termios::tcgetwinsize(rustix::stdio::stdin()).map(|w| (w.ws_row, w.ws_col)).unwrap_or((24, 80))
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(rustix::stdio::stdin(), rustix::termios::OptionalActions::Now, &self.saved);
    }
}

/// Feeds this process's standard input to `pipe` on a thread of its own,
/// then closes it (the command sees EOF). The thread ends with the input,
/// or with the process.
pub(super) fn feed_stdin(pipe: std::os::fd::OwnedFd) {
    std::thread::spawn(move || {
        let mut pipe = std::fs::File::from(pipe);
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut pipe);
    });
}

/// Feeds the terminal's keys to `pipe` as [`relay`] frames on a thread of
/// its own, and, on another, the window size each time the returned
/// sender is signalled. The size is read when it is sent, so the last one
/// sent is the latest, however the two threads interleave.
fn feed_terminal(pipe: std::os::fd::OwnedFd) -> std::sync::mpsc::Sender<()> {
    use std::io::Read;
    let pipe = std::sync::Arc::new(std::sync::Mutex::new(std::fs::File::from(pipe)));
    fn lock(pipe: &std::sync::Mutex<std::fs::File>) -> std::sync::MutexGuard<'_, std::fs::File> {
        pipe.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    let keys = std::sync::Arc::clone(&pipe);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stdin.read(&mut buf) {
            if relay::write_input(&mut *lock(&keys), &buf[..n]).is_err() {
                break;
            }
        }
    });
    let (resized, resizes) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        while resizes.recv().is_ok() {
            let (rows, cols) = Terminal::size();
            if relay::write_window(&mut *lock(&pipe), rows, cols).is_err() {
                break;
            }
        }
    });
    resized
}

/// Passes on every SIGWINCH (those since [`Terminal::enter`] included);
/// never ends.
async fn follow_window_size(
    signal: &mut tokio::signal::unix::Signal,
    resized: std::sync::mpsc::Sender<()>,
) -> std::convert::Infallible {
    while signal.recv().await.is_some() {
        let _ = resized.send(());
    }
    std::future::pending().await
}

/// Binds the host files `commands` name that a fresh scratch directory
/// would hide (see [`visible`]), saying so on stderr.
///
/// # Errors
/// A named path cannot be bound safely (a socket, or a directory that may
/// hold one).
fn bind_named_paths(mut rootfs: Rootfs, commands: &[Vec<String>]) -> Result<Rootfs, String> {
    use crate::rootfs::{Base, Entry};
    let cwd = std::env::current_dir().map_err(|e| format!("cannot read the working directory: {e}"))?;
    let host_root = matches!(rootfs.base, Base::Host | Base::HostRo);
    // What the sandbox shows anyway: on the host's files, the working
    // directory and this binary's (kept even below /tmp); binds given.
    let mut shown: Vec<PathBuf> = Vec::new();
    if host_root {
        shown.push(cwd.clone());
        shown.extend(std::env::current_exe().ok().and_then(|e| e.parent().map(PathBuf::from)));
    }
    let mut shown: Vec<PathBuf> = shown
        .into_iter()
        .filter_map(|p| p.canonicalize().ok())
        .filter(|p| crate::sandbox::plan::SCRATCH.iter().any(|d| p.starts_with(d) && p != std::path::Path::new(d)))
        .collect();
    shown.extend(rootfs.entries.iter().filter_map(|e| match e {
        Entry::Bind { dst, .. } => Some(dst.clone()),
        _ => None,
    }));
    let mut refused = Vec::new();
    for command in commands {
        for found in visible::hidden_arguments(command, &cwd, &shown, host_root, visible::host_kind) {
            match found {
                visible::Found::Bind(path) => {
                    eprintln!("{}", visible::bound_note(&path));
                    shown.push(path.clone());
                    rootfs = rootfs.bind(&path, &path);
                }
                visible::Found::Relative { arg, path } => eprintln!("{}", visible::relative_note(&arg, &path)),
                visible::Found::Refuse(path, why) => refused.push(visible::refusal(&path, &why)),
            }
        }
    }
    if refused.is_empty() { Ok(rootfs) } else { Err(refused.join("\n")) }
}

/// What came of one helper sandbox.
pub(super) struct Sandboxed {
    pub(super) nonce: String,
    pub(super) outcome: Outcome,
    /// The commands' standard output may have ended without a newline: it
    /// did (the last byte passed on was not one), or it went to a terminal
    /// byte by byte, unseen.
    open_line: bool,
    /// The signal (SIGINT, SIGTERM, SIGHUP) that stopped it, if one did:
    /// the sandbox was killed and removed, the terminal restored.
    pub(super) interrupted: Option<i32>,
}

/// One helper sandbox run to the end; with `stdin`, the first command reads
/// this process's standard input (through a pipe: the caller's terminal or
/// file itself never enters the sandbox). Each command that is a test of
/// `tests` (by index, `pair`'s) defers if it is an `#[isolated_test]`, and
/// `reports` reads libtest's reports of them on their standard output.
pub(super) fn sandboxed(
    args: &SandboxArgs,
    commands: Vec<Vec<String>>,
    stdin: bool,
    tests: &[&str],
    mut reports: Option<&mut Reports>,
) -> Result<Sandboxed, String> {
    let mut rootfs = args.rootfs();
    if !args.no_bind_args {
        rootfs = bind_named_paths(rootfs, &commands)?;
    }
    // A debootstrap root is built first (once), with the terminal as it is.
    let mut rootfs = rootfs.prepared().map_err(|e| format!("failed to make the root filesystem: {e}"))?;
    // Held until the sandbox is over, then its profiles move out.
    let profiles = crate::config::coverage::Profiles::prepare();
    if let Some(profiles) = &profiles {
        rootfs = rootfs.bind_rw(profiles.staging(), profiles.staging());
    }
    let runtime = session::runtime().map_err(|e| format!("cannot build a tokio runtime: {e}"))?;
    // Caught before the terminal goes raw and the sandbox starts.
    let mut interrupts = crate::__cli::Interrupts::catch(&runtime)?;
    // A terminal gets a pty inside; it is restored when this returns.
    let mut terminal = if stdin { Terminal::enter(&runtime) } else { None };
    let limits =
        crate::sandbox::cgroup::Limits { memory: args.memory, pids: args.pids, cpu_millis: args.cpu }.effective()?;
    // Relative sources are the caller's, as on any command line.
    let base_dir = std::env::current_dir().map_err(|e| format!("cannot read the working directory: {e}"))?;
    let setup = SetupRequest::new(args.hostname.clone(), rootfs, base_dir, !args.privileged, limits);
    let tty = terminal.as_ref().map(|_| Terminal::size());
    let wrapped_tests = tests.iter().map(|test| Some((*test).to_owned())).collect();
    let spec = RunSpec { commands, tty, report: true, wrapped_tests };
    let (nonce, mut invocation) = super::helper::invocation("run", Some(&spec), setup)?;
    invocation.env.extend(profiles.as_ref().map(crate::config::coverage::Profiles::env));
    // The input is fed from threads of its own, from now on: until PID 1
    // holds the pipe it waits in the pipe's buffer, and once the sandbox
    // is gone (or never started) the feeding thread sees EPIPE.
    let resized = if stdin {
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| format!("cannot create the stdin pipe: {e}"))?;
        invocation.stdin = Some(read);
        if terminal.is_some() {
            Some(feed_terminal(write))
        } else {
            feed_stdin(write);
            None
        }
    } else {
        None
    };
    // Standard output byte for byte as it comes (it may be no text),
    // noting whether it ended its last line (what follows must start on a
    // line of its own).
    let mut open_line = terminal.is_some();
    let mut lines = crate::parent::supervise::Lines::default();
    let mut relay = |bytes: &[u8]| {
        if let Some(last) = bytes.last() {
            open_line = *last != b'\n';
        }
        if let Some(reports) = reports.as_deref_mut() {
            lines.push(bytes, &mut |line| reports.feed(line));
        }
        crate::parent::supervise::pass_on(bytes)
    };
    let output = if terminal.is_some() { Output::Terminal } else { Output::Bytes(&mut relay) };
    let watch = session::Watch { timeout: args.timeout, report_grace: None, output };
    // Completes only at SIGINT, SIGTERM or SIGHUP, which stops the
    // sandbox; meanwhile the window size is followed.
    let interrupted = std::cell::Cell::new(None);
    let stop = async {
        let follow = async {
            if let (Some(signal), Some(resized)) = (terminal.as_mut().and_then(|t| t.resized.as_mut()), resized) {
                match follow_window_size(signal, resized).await {}
            }
            std::future::pending::<()>().await;
        };
        tokio::select! {
            () = follow => {}
            signal = interrupts.next() => interrupted.set(Some(signal)),
        }
    };
    let outcome = session::run(&runtime, invocation, watch, stop).map_err(|e| match e {
        SessionError::Start(err) => err.render(),
        SessionError::Supervise(e) => format!("supervising the sandbox failed: {e}"),
    })?;
    if let Some(reports) = reports {
        lines.finish(&mut |line| reports.feed(line));
    }
    Ok(Sandboxed { nonce, outcome, open_line, interrupted: interrupted.get() })
}

pub(super) fn exit_codes(outcome: &Outcome) -> Vec<i32> {
    outcome
        .log
        .messages
        .iter()
        .filter_map(|m| match m {
            Message::CommandExited { code, .. } => Some(*code),
            _ => None,
        })
        .collect()
}

/// How `run` and `pair` say how to raise the timeout.
pub(super) const RUN_TIMEOUT_HINT: &str = "\nRaise the limit with `--timeout` (e.g. `--timeout 30m`).";

/// Why a helper's sandbox itself failed (setup, timeout, protocol), if it
/// did; a timeout ends with `timeout_hint`.
pub(super) fn sandbox_failure(nonce: &str, outcome: &Outcome, timeout_hint: &str) -> Option<String> {
    if let Some((n, _)) = outcome.log.hello() {
        if n != nonce {
            return Some("the sandbox answered for another run".into());
        }
    }
    // A line too long for a message may have carried the command's end.
    let failed = outcome.timed_out.is_some()
        || outcome.log.overlong.is_some()
        || outcome.log.messages.iter().any(|m| matches!(m, Message::SetupFailed { .. }));
    if failed {
        return match judge("__sandbox-helper run", nonce, outcome) {
            Verdict::Fail(msg) | Verdict::BodyPanicked(msg) => {
                Some(msg.replace(crate::parent::verdict::TIMEOUT_HINT, timeout_hint))
            }
            Verdict::Pass => None,
        };
    }
    None
}

/// Says that `command` was stopped by `signal` (its sandbox killed and
/// removed) and exits as a shell reports it, 128 + the signal.
pub(super) fn stopped_by(command: &str, signal: i32) -> ExitCode {
    let name = crate::parent::verdict::signal_name(signal);
    eprintln!("isolated-test {command}: interrupted by {name}; the sandbox was killed");
    ExitCode::from(u8::try_from(128 + signal).unwrap_or(1))
}

/// `isolated-test run`.
pub(crate) fn run(args: &SandboxArgs, json: bool, command: Vec<String>) -> ExitCode {
    crate::config::make_for_a_command();
    let Sandboxed { nonce, outcome, open_line, interrupted } =
        match sandboxed(args, vec![command.clone()], true, &[], None) {
            Ok(o) => o,
            Err(msg) => {
                eprintln!("isolated-test run: could not start the sandbox: {msg}");
                return ExitCode::from(125);
            }
        };
    if let Some(signal) = interrupted {
        return stopped_by("run", signal);
    }
    if let Some(msg) = sandbox_failure(&nonce, &outcome, RUN_TIMEOUT_HINT) {
        // What the sandbox used closes every run, a failed one too. The
        // verdict's words are a test's: here it is a command.
        let msg = msg.replace("while the body ran", "while the command ran");
        eprintln!("isolated-test run: {msg}\n{}", crate::parent::verdict::resources(&outcome).1);
        return ExitCode::from(if outcome.timed_out.is_some() { 124 } else { 125 });
    }
    // The exit status comes from the helper's own exit, which PID 1 records
    // and nothing in the sandbox can write; the reported code must agree.
    let reported = exit_codes(&outcome).first().copied();
    let exited = outcome.log.pid2_status.filter(|s| libc::WIFEXITED(*s)).map(|s| libc::WEXITSTATUS(s));
    let code = match (reported, exited) {
        (Some(r), Some(e)) if r != e => {
            eprintln!("isolated-test run: the sandbox reported exit {r}, but the command exited {e}; using {e}");
            Some(e)
        }
        (_, Some(e)) if reported.is_some() => Some(e),
        _ => None,
    };
    let report = pollution::from_messages(&outcome.log.messages).unwrap_or_default();
    let (limit_hit, used) = crate::parent::verdict::resources(&outcome);
    if json {
        let document = json_document(&command, code, &report, outcome.usage, outcome.limits, limit_hit.as_deref());
        // A line of its own, the last: after the command's own output, even
        // when that ended without a newline (`printf x`). On a terminal the
        // output went by unseen, so a line break always comes first there.
        if open_line {
            println!();
        }
        println!("{document}");
    } else {
        if let Some(hit) = &limit_hit {
            eprintln!("isolated-test run: {hit}");
        }
        eprint!("\n{report}");
        eprintln!("{used}");
    }
    match code {
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => {
            eprintln!("isolated-test run: the command's exit status was not reported");
            ExitCode::from(125)
        }
    }
}

/// `run --json`'s document, one line on stdout after the command's own
/// output; its fields are documented in `docs/report-schema.md`, and
/// `schema` is their version ([`pollution::REPORT_SCHEMA`]).
fn json_document(
    command: &[String],
    exit_code: Option<i32>,
    report: &Report,
    usage: Option<Usage>,
    limits: Option<Effective>,
    limit_hit: Option<&str>,
) -> serde_json::Value {
    serde_json::json!({
        "schema": pollution::REPORT_SCHEMA,
        "command": command,
        "exit_code": exit_code,
        "report": report,
        "usage": usage,
        "limits": limits,
        "limit_hit": limit_hit,
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// `SandboxArgs` alone on a command line.
    #[derive(Debug, Parser)]
    struct Line {
        #[command(flatten)]
        sandbox: SandboxArgs,
    }

    fn sandbox(args: &[&str]) -> Result<SandboxArgs, String> {
        let line = Line::try_parse_from(std::iter::once("run").chain(args.iter().copied()));
        line.map(|line| line.sandbox).map_err(|e| e.to_string())
    }

    fn timeout(args: &[&str]) -> Result<Duration, String> {
        sandbox(args).map(|sandbox| sandbox.timeout)
    }

    #[test]
    fn timeout_takes_the_attributes_grammar() {
        assert_eq!(timeout(&[]), Ok(Duration::from_secs(600)));
        for (text, millis) in [("1m 30s", 90_000), ("1500ms", 1_500), ("2h", 7_200_000), ("1.5s", 1_500)] {
            assert_eq!(timeout(&["--timeout", text]), Ok(Duration::from_millis(millis)), "{text:?}");
        }
        for (text, problem) in [
            ("", "value was empty"),
            ("10", "time unit needed"),
            ("-1s", "expected number at 0"),
            ("10 parsecs", "unknown time unit \"parsecs\""),
        ] {
            let error = timeout(&[&format!("--timeout={text}")]).unwrap_err();
            assert!(error.contains(&format!("`{text}` is not a duration: {problem}")), "{error}");
            assert!(error.contains("expected one like `30s`, `1m 30s` or `500ms`"), "{error}");
        }
        let error = timeout(&["--timeout", "0s"]).unwrap_err();
        assert!(error.contains("must be greater than zero"), "{error}");
    }

    #[test]
    fn limits_and_hostname_take_the_attributes_grammar() {
        let args = sandbox(&["--memory", "512MiB", "--pids", "128", "--cpu", "0.25", "--hostname", "my-box"]).unwrap();
        assert_eq!((args.memory, args.pids, args.cpu), (Some(512 << 20), Some(128), Some(250)));
        assert_eq!(args.hostname, "my-box");
        assert_eq!(sandbox(&[]).unwrap().hostname, crate::config::DEFAULT_HOSTNAME);
        // Each refused as the attribute refuses it, with the same message.
        for (flag, text, message) in [
            ("--memory", " 256M", "` 256M` is not a memory size: it contains whitespace"),
            ("--memory", "1iB", "`1iB` is not a memory size: unknown unit `iB`"),
            ("--memory", "1M", "`1M` is below the 4 MiB a sandbox needs to start"),
            ("--pids", "8", "`8` leaves no room for the sandbox's own processes"),
            ("--cpu", ".5", "`.5` is not a number of cores: no digit before the `.` (write `0.5`)"),
            ("--hostname", "my_box", "`my_box` is not a hostname: `_` is not allowed"),
        ] {
            let error = sandbox(&[&format!("{flag}={text}")]).unwrap_err();
            assert!(error.contains(message), "{flag}={text}: {error}");
        }
    }

    #[test]
    fn binds_seed_files_and_sysctls_are_checked_as_the_line_is_read() {
        let args = sandbox(&[
            "--bind=/etc",
            "--bind=data:/srv/data",
            "--bind-rw=/var/cache:/cache",
            "--seed-file=/etc/app.conf=port=80",
            "--sysctl=net.ipv4.ip_forward=1",
        ])
        .unwrap();
        assert_eq!(args.bind, [("/etc".into(), "/etc".into()), ("data".into(), "/srv/data".into())]);
        assert_eq!(args.bind_rw, [("/var/cache".into(), "/cache".into())]);
        assert_eq!(args.seed_files, [("/etc/app.conf".into(), "port=80".into())]);
        assert_eq!(args.sysctls, [("net.ipv4.ip_forward".into(), "1".into())]);
        // Two roots at once: refused, not one of them dropped in silence.
        for other in [["--dir", "/srv/image"], ["--tar", "/srv/image.tar"], ["--debootstrap", "bookworm"]] {
            let error = sandbox(&["--rootfs", "busybox", other[0], other[1]]).unwrap_err();
            assert!(error.contains("cannot be used with"), "{other:?}: {error}");
        }
        // Usage errors, reported by clap (exit status 2) before any sandbox.
        for (flag, text, message) in [
            ("--bind", "/etc:etc", "the destination `etc` must be an absolute path (SRC:/DST)"),
            ("--bind-rw", "data", "`data` alone is bound at the same path inside, which must be absolute"),
            ("--seed-file", "noequals", "no `=` in `noequals`: expected DST=CONTENTS"),
            ("--sysctl", "net.ipv4.ip_forward", "no `=` in `net.ipv4.ip_forward`: expected NAME=VALUE"),
            ("--tmpfs", "scratch", "`scratch` cannot be a path inside the sandbox: it must be absolute, not `/`"),
            ("--tmpfs", "/", "`/` cannot be a path inside the sandbox"),
            ("--tmpfs", "/a/../b", "`/a/../b` cannot be a path inside the sandbox"),
            ("--seed-file", "app.conf=x", "`app.conf` cannot be a path inside the sandbox"),
            ("--seed-file", "/=x", "`/` cannot be a path inside the sandbox"),
            ("--bind", "/etc:/srv/../x", "`/srv/../x` cannot be a path inside the sandbox"),
        ] {
            let error = sandbox(&[&format!("{flag}={text}")]).unwrap_err();
            assert!(error.contains(message), "{flag}={text}: {error}");
        }
    }

    #[test]
    fn the_json_document_carries_the_schema_version_beside_the_report() {
        let command = ["true".to_owned()];
        let report = Report { files_tracked: true, ..Report::default() };
        let document = json_document(&command, Some(0), &report, None, None, None);
        assert_eq!(document["schema"], 1);
        assert_eq!(document["schema"], pollution::REPORT_SCHEMA);
        let keys: Vec<&str> = document.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["command", "exit_code", "limit_hit", "limits", "report", "schema", "usage"]);
        assert_eq!(document["report"], serde_json::to_value(&report).unwrap());
        assert_eq!(document["exit_code"], 0);
        assert!(document["usage"].is_null() && document["limits"].is_null() && document["limit_hit"].is_null());
    }
}
