//! The hidden helper mode: the CLI binary as PID 2 of a sandbox.

use std::process::ExitCode;

use super::relay;
use crate::parent::start::Invocation;
use crate::pid2::body::{Channel, answer_report_requests, exit, setup_outcome};
use crate::sandbox::protocol::Message;
use crate::sandbox::request::SetupRequest;

pub(crate) use crate::config::{ENV_HELPER_AHEAD, ENV_HELPER_NONCE, ENV_HELPER_SPEC};

/// What a `run` helper does in its sandbox (built before `main` from the
/// setup request, like a test's).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct RunSpec {
    /// Commands run one after the other; the pollution report is taken
    /// after the first one.
    pub(crate) commands: Vec<Vec<String>>,
    /// The caller's terminal size (rows, columns) when its standard input
    /// and output are a terminal: the first command then gets a pty of its
    /// own, from the sandbox's devpts, as its controlling terminal, and
    /// this process's standard input carries [`relay`] frames (keys and
    /// window sizes).
    #[serde(default)]
    pub(crate) tty: Option<(u16, u16)>,
    /// Take the pollution report (`run` always does; `wrap` when it is
    /// printed or checked, since it costs time).
    #[serde(default = "yes")]
    pub(crate) report: bool,
    /// The test each command runs (by index), for `isolated-test wrap` and
    /// `pair`: one that turns out to be an `#[isolated_test]` defers (see
    /// `crate::pid2::wrapped`), this helper reports `Deferred`, and runs no
    /// command after it (the caller runs it outside, and what came after
    /// it would have run before it).
    #[serde(default)]
    pub(crate) wrapped_tests: Vec<Option<String>>,
}

fn yes() -> bool {
    true
}

/// PID 2 of a new sandbox: this binary in helper `mode` (`run`, `probe`),
/// with `spec` for a `run` helper. Returns the run's nonce with it.
///
/// # Errors
/// This binary cannot be found, or `spec` not serialised.
pub(crate) fn invocation(
    mode: &str,
    spec: Option<&RunSpec>,
    setup: SetupRequest,
) -> Result<(String, Invocation), String> {
    let nonce = format!("{mode}-{}-{:?}", std::process::id(), std::time::SystemTime::now());
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let mut env = vec![(ENV_HELPER_NONCE.into(), nonce.clone().into())];
    if let Some(spec) = spec {
        env.push((ENV_HELPER_SPEC.into(), serde_json::to_string(spec).map_err(|e| e.to_string())?.into()));
    }
    let argv = vec![exe.into_os_string(), "__sandbox-helper".into(), mode.into()];
    Ok((nonce, Invocation { argv, env, env_remove: Vec::new(), setup, stdin: None, forked_test: None }))
}

/// A pipe a test started by this binary writes a word back on (a wrapped
/// test its name when it defers, a test `pair` runs outside that its body
/// started): the write end is inherited by the test (no close-on-exec),
/// the read end stays here and never blocks.
pub(super) struct TellPipe {
    read: std::fs::File,
    pub(super) write: std::os::fd::OwnedFd,
}

impl TellPipe {
    pub(super) fn new() -> std::io::Result<Self> {
        use rustix::fs::OFlags;
        let (read, write) = rustix::pipe::pipe()?;
        rustix::io::fcntl_setfd(&read, rustix::io::FdFlags::CLOEXEC)?;
        rustix::fs::fcntl_setfl(&read, OFlags::NONBLOCK)?;
        Ok(Self { read: read.into(), write })
    }

    /// What the test wrote, once it has exited: it is in the pipe by then;
    /// a process it left behind that still holds the write end does not
    /// make this wait.
    pub(super) fn said(mut self) -> Vec<u8> {
        drop(self.write);
        let mut said = Vec::new();
        let _ = std::io::Read::read_to_end(&mut self.read, &mut said);
        said
    }

    /// Whether `test` deferred: it wrote its name and exited with the
    /// status that says so.
    fn deferred(self, test: &str, status: &std::process::ExitStatus) -> bool {
        status.code() == Some(crate::pid2::wrapped::DEFER_EXIT) && self.said() == format!("{test}\n").as_bytes()
    }
}

/// Runs `command` on a new pty of the sandbox's devpts, as the leader of a
/// session whose controlling terminal it is, and relays this process's
/// stdin (the parent's [`relay`] frames: keys go to the pty, window sizes
/// are set on it, and the kernel sends SIGWINCH to its foreground job)
/// and the pty to stdout (back to the parent), until the program exits.
///
/// # Errors
/// The pty could not be made or the program not started.
fn run_on_pty(
    mut command: std::process::Command,
    (rows, cols): (u16, u16),
) -> std::io::Result<std::process::ExitStatus> {
    use rustix::pty::OpenptFlags;
    use std::io::{Read, Write};
    let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
    let master = rustix::pty::openpt(flags)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let slave = rustix::pty::ioctl_tiocgptpeer(&master, flags)?;
    let size = rustix::termios::Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    rustix::termios::tcsetwinsize(&slave, size)?;
    command.stdin(slave.try_clone()?).stdout(slave.try_clone()?).stderr(slave);
    let mut child = crate::sys::process::in_new_session_on_tty(&mut command).spawn()?;
    // The command's copies are the only ones left: once it and its children
    // close the slave, reading the master ends (EIO).
    drop(command);
    let mut to_pty = std::fs::File::from(master.try_clone()?);
    std::thread::spawn(move || {
        let mut frames = std::io::stdin().lock();
        while let Ok(Some(frame)) = relay::read_frame(&mut frames) {
            match frame {
                relay::Frame::Input(bytes) => {
                    if to_pty.write_all(&bytes).is_err() {
                        break;
                    }
                }
                relay::Frame::Window { rows, cols } => {
                    let size = rustix::termios::Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
                    let _ = rustix::termios::tcsetwinsize(&to_pty, size);
                }
            }
        }
    });
    let mut from_pty = std::fs::File::from(master);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = from_pty.read(&mut buf) {
            let mut out = std::io::stdout().lock();
            if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                break;
            }
        }
        let _ = done_tx.send(());
    });
    let status = child.wait()?;
    // What the program wrote last; a background job that keeps the pty
    // open does not hold the sandbox up for more than a moment.
    let _ = done_rx.recv_timeout(std::time::Duration::from_millis(500));
    Ok(status)
}

/// Runs `spec`'s commands in the finished sandbox, reporting each exit and
/// the first command's pollution report. Each command is a child of PID 2
/// (rather than PID 2 `execve`ing it, as DESIGN.md sketches) so that PID 2
/// is still there afterwards to take the report. The commands inherit no
/// descriptor of the harness (the result channel is close-on-exec) and
/// cannot open PID 2's through `/proc` (PID 2 is not dumpable).
fn run_commands(channel: &'static Channel, spec: &RunSpec) -> i32 {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::ExitStatusExt;
    let built = setup_outcome(channel);
    let start = spec.report.then(|| crate::sandbox::pollution::Snapshot::take(&built.layers));
    if let Some(start) = &start {
        // A command past its deadline is asked for the report first (SIGUSR2).
        answer_report_requests(channel, start.clone(), built.layers.clone(), built.lowers.clone());
    }
    channel.send(&Message::Started);
    let mut last = 0;
    for (i, argv) in spec.commands.iter().enumerate() {
        let Some((program, args)) = argv.split_first() else { continue };
        let wrapped = spec.wrapped_tests.get(i).and_then(Option::as_deref);
        let defer = match wrapped.map(|_| TellPipe::new()).transpose() {
            Ok(defer) => defer,
            Err(e) => {
                eprintln!("isolated-test: cannot create the pipe a wrapped test defers through: {e}");
                return 126;
            }
        };
        let mut command = std::process::Command::new(program);
        // The helper's own variables are no business of the command's.
        command.args(args).env_remove(ENV_HELPER_NONCE).env_remove(ENV_HELPER_SPEC).env_remove(ENV_HELPER_AHEAD);
        if let (Some(test), Some(defer)) = (wrapped, &defer) {
            command.env(crate::config::ENV_WRAP_TEST, test);
            command.env(crate::config::ENV_WRAP_FD, defer.write.as_raw_fd().to_string());
        }
        let status = match spec.tty.filter(|_| i == 0) {
            Some(size) => run_on_pty(command, size),
            None => crate::sys::process::in_new_process_group(&mut command).status(),
        };
        let (code, signal) = match &status {
            Ok(status) => match status.code() {
                Some(code) => (code, None),
                None => (128 + status.signal().unwrap_or(0), status.signal()),
            },
            Err(e) => {
                eprintln!("isolated-test: cannot run `{program}`: {e}");
                (if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 }, None)
            }
        };
        if let Some(start) = start.as_ref().filter(|_| i == 0) {
            let end = crate::sandbox::pollution::Snapshot::take(&built.layers);
            let report = start.diff(&end, &built.layers);
            channel.send(&Message::Report { report: Box::new(report), lowers: built.lowers.clone() });
        }
        let deferred = match (wrapped, defer, &status) {
            (Some(test), Some(defer), Ok(status)) => defer.deferred(test, status).then_some(test),
            _ => None,
        };
        if let Some(test) = deferred {
            channel.send(&Message::Deferred { test: test.to_owned() });
        }
        channel.send(&Message::CommandExited { code, signal });
        last = code;
        if deferred.is_some() {
            break;
        }
    }
    // The helper exits with the last command's status: the parent checks
    // the reported one against it, so a forged report changes nothing.
    last
}

/// Whether the mounts of the setup are locked: a read-write remount and an
/// unmount of `/proc/sys` (read-only, made by the setup) are both refused.
fn mounts_locked() -> bool {
    use rustix::mount::{MountFlags, UnmountFlags};
    let remount = rustix::mount::mount_remount("/proc/sys", MountFlags::BIND, "");
    let unmount = rustix::mount::unmount("/proc/sys", UnmountFlags::empty());
    remount.is_err() && unmount.is_err()
}

pub(crate) fn run(mode: &str) -> ExitCode {
    let ahead = std::env::var_os(ENV_HELPER_AHEAD).is_some() && mode == "run";
    if !ahead && std::env::var_os(ENV_HELPER_NONCE).is_none() {
        eprintln!(
            "isolated-test: `__sandbox-helper` is internal; it runs only inside a sandbox started by this binary"
        );
        return ExitCode::from(2);
    }
    if std::process::id() != 2 {
        eprintln!("isolated-test: `__sandbox-helper` must run as PID 2 of a sandbox");
        return ExitCode::from(2);
    }
    // Made ahead of its command (`parent::ahead`): the sandbox is built;
    // the nonce and the specification come once a command wants it.
    let (nonce, spec) = if ahead {
        match crate::pid2::forked::read_go() {
            Ok(Some((nonce, spec))) => (nonce, Some(spec)),
            // Dropped unused.
            Ok(None) => return ExitCode::SUCCESS,
            Err(why) => {
                eprintln!("isolated-test: a helper made ahead of its command: {why}");
                return ExitCode::from(2);
            }
        }
    } else {
        (std::env::var(ENV_HELPER_NONCE).unwrap_or_default(), std::env::var(ENV_HELPER_SPEC).ok())
    };
    // Shared with the thread that answers a report request at the deadline.
    let channel: &'static Channel = Box::leak(Box::new(Channel::adopt()));
    channel.send(&Message::Hello { nonce, test: format!("__sandbox-helper {mode}") });
    crate::config::init_tracing();
    match mode {
        "probe" => {
            let Some(entered) = crate::pid2::entry::entered() else {
                setup_outcome(channel);
                exit(1)
            };
            let mut steps = entered.steps.clone();
            if entered.built.is_ok() && steps.iter().any(|s| s == "lock_mounts") && mounts_locked() {
                steps.push("mounts_locked".into());
            }
            // Tried inside, as a test would: root of the sandbox's own user
            // namespace, owner of the namespaces it makes.
            let network = if entered.built.is_ok() {
                crate::net::probe().into_iter().map(|(what, error)| (what.to_owned(), error)).collect()
            } else {
                Vec::new()
            };
            channel.send(&Message::Probe { steps, readonly_dirs: entered.readonly_dirs.clone(), network });
            setup_outcome(channel);
            exit(0)
        }
        "run" => {
            let spec: RunSpec = match spec.map(|s| serde_json::from_str(&s)) {
                Some(Ok(spec)) => spec,
                _ => {
                    eprintln!("isolated-test: the run helper got no valid {ENV_HELPER_SPEC}");
                    exit(2)
                }
            };
            exit(run_commands(channel, &spec))
        }
        other => {
            eprintln!("isolated-test: unknown helper mode `{other}`");
            exit(2)
        }
    }
}
