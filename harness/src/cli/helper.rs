//! The hidden helper mode: the CLI binary as PID 2 of a sandbox.

use std::process::ExitCode;

use super::relay;
use crate::child::{Channel, exit, setup_outcome};
use crate::sandbox::protocol::Message;

/// Environment variable carrying the per-run nonce to a helper.
pub(crate) const ENV_HELPER_NONCE: &str = "ISOLATED_TEST_HELPER_NONCE";
/// Environment variable carrying a [`RunSpec`] (JSON) to a `run` helper.
pub(crate) const ENV_HELPER_SPEC: &str = "ISOLATED_TEST_HELPER_SPEC";

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
}

/// Runs `program` on a new pty of the sandbox's devpts, as the leader of a
/// session whose controlling terminal it is, and relays this process's
/// stdin (the parent's [`relay`] frames: keys go to the pty, window sizes
/// are set on it, and the kernel sends SIGWINCH to its foreground job)
/// and the pty to stdout (back to the parent), until the program exits.
///
/// # Errors
/// The pty could not be made or the program not started.
fn run_on_pty(program: &str, args: &[String], (rows, cols): (u16, u16)) -> std::io::Result<std::process::ExitStatus> {
    use rustix::pty::OpenptFlags;
    use std::io::{Read, Write};
    let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
    let master = rustix::pty::openpt(flags)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let slave = rustix::pty::ioctl_tiocgptpeer(&master, flags)?;
    let size = rustix::termios::Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    rustix::termios::tcsetwinsize(&slave, size)?;
    let mut command = std::process::Command::new(program);
    command.args(args).stdin(slave.try_clone()?).stdout(slave.try_clone()?).stderr(slave);
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
fn run_commands(channel: &Channel, spec: &RunSpec) -> i32 {
    let built = setup_outcome(channel);
    let start = crate::sandbox::pollution::Snapshot::take(&built.layers);
    channel.send(&Message::Started);
    let mut last = 0;
    for (i, argv) in spec.commands.iter().enumerate() {
        let Some((program, args)) = argv.split_first() else { continue };
        let status = match spec.tty.filter(|_| i == 0) {
            Some(size) => run_on_pty(program, args, size),
            None => crate::sys::process::in_new_session(std::process::Command::new(program).args(args)).status(),
        };
        let code = match status {
            Ok(status) => status
                .code()
                .unwrap_or_else(|| 128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)),
            Err(e) => {
                eprintln!("isolated-test: cannot run `{program}`: {e}");
                if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 }
            }
        };
        if i == 0 {
            let end = crate::sandbox::pollution::Snapshot::take(&built.layers);
            let report = start.diff(&end, &built.layers, &[]);
            channel.send(&Message::Report { report: Box::new(report), lowers: built.lowers.clone() });
        }
        channel.send(&Message::CommandExited { code });
        last = code;
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
    let Ok(nonce) = std::env::var(ENV_HELPER_NONCE) else {
        eprintln!(
            "isolated-test: `__sandbox-helper` is internal; it runs only inside a sandbox started by this binary"
        );
        return ExitCode::from(2);
    };
    if std::process::id() != 2 {
        eprintln!("isolated-test: `__sandbox-helper` must run as PID 2 of a sandbox");
        return ExitCode::from(2);
    }
    let channel = Channel::adopt();
    channel.send(&Message::Hello { nonce, test: format!("__sandbox-helper {mode}") });
    crate::runner::init_tracing();
    match mode {
        "probe" => {
            let Some(entered) = crate::entry::entered() else {
                setup_outcome(&channel);
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
            setup_outcome(&channel);
            exit(0)
        }
        "run" => {
            let spec: RunSpec = match std::env::var(ENV_HELPER_SPEC).map(|s| serde_json::from_str(&s)) {
                Ok(Ok(spec)) => spec,
                _ => {
                    eprintln!("isolated-test: the run helper got no valid {ENV_HELPER_SPEC}");
                    exit(2)
                }
            };
            exit(run_commands(&channel, &spec))
        }
        other => {
            eprintln!("isolated-test: unknown helper mode `{other}`");
            exit(2)
        }
    }
}
