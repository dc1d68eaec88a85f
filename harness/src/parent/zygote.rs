//! The test process's side of the zygote (see `zygote`): started at the
//! first `#[isolated_test]`, shared by libtest's threads, one request at a
//! time. Whenever it cannot be used the caller takes the plain path (it
//! clones PID 1 itself and PID 2 executes the test binary), and says why
//! under `ISOLATED_TEST_LOG=debug`: the sandbox is the same either way.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rustix::net::{AddressFamily, SocketFlags, SocketType};
use rustix::process::{Pid, PidfdFlags, Signal, WaitOptions};

use crate::config::{ENV_WRAP_TEST, ENV_ZYGOTE, ENV_ZYGOTE_SOCKET};
use crate::sys::pid1::Cloned;
use crate::zygote::wire::{self, Reply, Request};

/// How long the zygote may take to say it is ready, or to answer a
/// request (a clone), before it is given up (and killed).
const PATIENCE: Duration = Duration::from_secs(30);

enum State {
    /// Not asked for yet.
    Unstarted,
    /// Being started by its keeper thread (see [`keep`]); `forked`: taken
    /// over from the constructor (see [`wait_for_facts`]).
    Starting { forked: bool },
    /// Serving.
    Ready {
        /// The socket to it.
        socket: OwnedFd,
        /// Its pidfd, to kill it when it stops answering.
        pidfd: OwnedFd,
    },
    /// Not to be used, and why.
    Off(String),
}

struct Zygote {
    state: Mutex<State>,
    changed: Condvar,
}

static ZYGOTE: Zygote = Zygote { state: Mutex::new(State::Unstarted), changed: Condvar::new() };

/// The process that started the zygote: PID 1 is cloned as a child of the
/// zygote's parent, so a forked copy of the test process must not use it.
static OWNER: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

impl Zygote {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, state: State) {
        *self.lock() = state;
        self.changed.notify_all();
    }
}

/// What the constructor did about the zygote ([`prestart`]), until the
/// first test takes it over in [`warm`]: `None` when it was not asked to.
static PRESTARTED: Mutex<Option<Prestart>> = Mutex::new(None);

enum Prestart {
    /// Forked: the test process's end of its socket, and its pid.
    Forked(OwnedFd, libc::pid_t),
    /// Wanted but not possible, and why (said at the first test: tracing
    /// is not set up before `main`), which then executes the zygote.
    NotForked(String),
}

/// Forks the zygote in the constructor, before `main`, when this process
/// was started to run an isolated test by its exact name, as nextest runs
/// every test (`--exact NAME`, a process per test): a fork of the
/// single-threaded process costs a fraction of starting the zygote by
/// `execve` at the test (the binary loaded and initialised once more),
/// which such a process pays for its one sandbox. Anything else (another
/// command line, a thread already started, `ISOLATED_TEST_ZYGOTE=0`, the
/// test run by `isolated-test wrap`) leaves the zygote to [`warm`].
///
/// Called by the constructor in every process of a binary that links the
/// harness; costs nothing but a read of `/proc/self/cmdline` unless the
/// binary has isolated tests.
pub(crate) fn prestart() {
    if crate::registry::TESTS.is_empty()
        || std::env::var_os(ENV_ZYGOTE).is_some_and(|v| v == "0")
        || crate::config::coverage::wanted()
        || std::env::var_os(ENV_WRAP_TEST).is_some()
    {
        return;
    }
    // std's arguments may not be set yet in a constructor; the kernel's are.
    let Ok(cmdline) = std::fs::read("/proc/self/cmdline") else { return };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).skip(1).collect();
    if !runs_an_isolated_test_by_name(&args, |name| crate::registry::find(name).is_some()) {
        return;
    }
    let outcome = match crate::sys::zygote::single_threaded() {
        Ok(true) => fork_early(),
        Ok(false) => Err("a constructor of the test binary started a thread before ours".into()),
        Err(err) => Err(format!("its threads could not be counted: {err}")),
    };
    let prestart = match outcome {
        Ok((ours, pid)) => {
            let _ = OWNER.set(std::process::id());
            Prestart::Forked(ours, pid)
        }
        Err(why) => Prestart::NotForked(why),
    };
    *PRESTARTED.lock().unwrap_or_else(PoisonError::into_inner) = Some(prestart);
}

fn fork_early() -> Result<(OwnedFd, libc::pid_t), String> {
    let (ours, theirs) = rustix::net::socketpair(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::CLOEXEC, None)
        .map_err(|err| format!("no socket for it: {err}"))?;
    let pid = crate::sys::zygote::fork_here(&ours, theirs, crate::zygote::serve::serve_forked)
        .map_err(|err| format!("the fork failed: {err}"))?;
    Ok((ours, pid))
}

/// Whether libtest's arguments `args` (without the program) ask for a test
/// by its exact name that `isolated` says is an `#[isolated_test]`: what
/// nextest passes (`--exact NAME --nocapture`, maybe `--ignored`), not a
/// listing (`--list`, which nextest runs first) or a filter.
fn runs_an_isolated_test_by_name(args: &[&[u8]], isolated: impl Fn(&str) -> bool) -> bool {
    args.contains(&&b"--exact"[..])
        && !args.contains(&&b"--list"[..])
        && args.iter().filter_map(|a| std::str::from_utf8(a).ok()).any(isolated)
}

/// Starts the zygote unless it was started before or is turned off, and
/// returns at once: it boots while the caller prepares its first sandbox.
pub(crate) fn warm() {
    let mut state = ZYGOTE.lock();
    if !matches!(*state, State::Unstarted) {
        return;
    }
    // Before the keeper's first line: a zygote forked before `main` is
    // ready at once, sooner than the test's own start sets this up.
    crate::config::init_tracing();
    let forked = match PRESTARTED.lock().unwrap_or_else(PoisonError::into_inner).take() {
        Some(Prestart::Forked(ours, pid)) => Some((ours, pid)),
        Some(Prestart::NotForked(why)) => {
            tracing::debug!("zygote not forked before main: {why}; executing it instead");
            None
        }
        None => None,
    };
    let off = match std::env::var(ENV_ZYGOTE) {
        Ok(value) if value == "0" => Some(format!("{ENV_ZYGOTE}=0")),
        _ if crate::config::coverage::wanted() => Some(format!(
            "{} is set (coverage): a PID 2 forked from the zygote would not write its profile",
            crate::config::coverage::ENV_PROFILE_FILE
        )),
        _ => None,
    };
    *state = match off {
        Some(why) => {
            if let Some((_, pid)) = forked {
                kill(pid);
                reap(pid);
            }
            State::Off(why)
        }
        _ => {
            let early = forked.is_some();
            match start(forked) {
                Ok(()) => State::Starting { forked: early },
                Err(err) => State::Off(format!("it could not be started: {err}")),
            }
        }
    };
}

fn start(forked: Option<(OwnedFd, libc::pid_t)>) -> std::io::Result<()> {
    let (ours, how) = match forked {
        Some((ours, pid)) => (ours, Start::Forked(pid)),
        None => {
            let (ours, theirs) =
                rustix::net::socketpair(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
            let _ = OWNER.set(std::process::id());
            (ours, Start::Spawn(theirs))
        }
    };
    // The keeper thread lives as long as the process: the kernel kills the
    // zygote (PR_SET_PDEATHSIG), and every PID 1 it cloned (their parent
    // is this thread too), when the thread that forked it ends. (A zygote
    // the constructor forked is tied to the main thread the same way.)
    std::thread::Builder::new()
        .name("isolated-test-zygote".into())
        .stack_size(256 << 10)
        .spawn(move || keep(ours, how))?;
    Ok(())
}

/// How the keeper gets its zygote.
enum Start {
    /// Spawns it (`execve` of the test binary), with this end of the socket.
    Spawn(OwnedFd),
    /// Takes over the one the constructor forked ([`prestart`]).
    Forked(libc::pid_t),
}

/// Kills the zygote, our own child not reaped yet (the pid is still its).
fn kill(pid: libc::pid_t) {
    if let Some(pid) = Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(pid, Signal::KILL);
    }
}

/// Waits for the zygote to end; how it ended, in words. (`waitpid(None)`
/// would reap any child: a PID 1 among them.)
fn reap(pid: libc::pid_t) -> String {
    match Pid::from_raw(pid).map(|pid| rustix::process::waitpid(Some(pid), WaitOptions::empty())) {
        Some(Ok(Some((_, status)))) => std::process::ExitStatus::from_raw(status.as_raw()).to_string(),
        Some(Ok(None)) => "not a child".to_owned(),
        Some(Err(err)) => err.to_string(),
        None => format!("no process {pid}"),
    }
}

/// The keeper thread: starts the zygote, waits for it to be ready, reaps
/// it when it ends, and then stays (see [`start`]).
fn keep(ours: OwnedFd, how: Start) -> ! {
    let (started, outcome) = match how {
        Start::Spawn(theirs) => (
            "executed at the first isolated test",
            std::env::current_exe()
                .and_then(|exe| crate::sys::zygote::spawn(&exe, &theirs, ENV_ZYGOTE_SOCKET))
                .map(|child| child.id() as libc::pid_t),
        ),
        Start::Forked(pid) => ("forked before main", Ok(pid)),
    };
    match outcome {
        Err(err) => ZYGOTE.set(State::Off(format!("it could not be started: {err}"))),
        Ok(child) => {
            // Opened before anything can reap it: only this thread does.
            let pidfd = Pid::from_raw(child)
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidData))
                .and_then(|pid| Ok(rustix::process::pidfd_open(pid, PidfdFlags::empty())?));
            let patience = |kind| rustix::net::sockopt::set_socket_timeout(&ours, kind, Some(PATIENCE));
            let ready = patience(rustix::net::sockopt::Timeout::Recv)
                .and_then(|()| patience(rustix::net::sockopt::Timeout::Send))
                .map_err(std::io::Error::from)
                .and_then(|()| wire::recv_ready(ours.as_fd()));
            match (ready, pidfd) {
                (Ok(facts), Ok(pidfd)) => {
                    // The walk of `/proc` a first sandbox needs, done by a
                    // zygote forked before `main` (see `wait_for_facts`).
                    if let Some(facts) = facts {
                        crate::sandbox::setup::KernelFacts::offer(facts);
                    }
                    tracing::debug!(pid = child, started, "zygote ready");
                    ZYGOTE.set(State::Ready { socket: ours, pidfd });
                }
                (ready, pidfd) => {
                    let why = match (ready, pidfd) {
                        (_, Err(err)) => format!("no pidfd for it: {err}"),
                        (Err(err), _) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
                            "it ended before it was ready".to_owned()
                        }
                        (Err(err), _) => format!("it did not say it was ready: {err}"),
                        (Ok(_), Ok(_)) => unreachable!("taken above"),
                    };
                    kill(child);
                    let status = reap(child);
                    ZYGOTE.set(State::Off(format!("{why} ({status})")));
                }
            }
            let status = reap(child);
            let mut state = ZYGOTE.lock();
            if matches!(*state, State::Ready { .. }) {
                *state = State::Off(format!("it ended ({status})"));
            }
        }
    }
    loop {
        std::thread::park();
    }
}

/// Waits while a zygote forked before `main` is being taken over: it
/// read the kernel's facts while the test process started, which the
/// caller's first sandbox then need not read itself. Returns at once
/// otherwise (an executed zygote boots later than the caller would read
/// them).
pub(crate) fn wait_for_facts() {
    let mut state = ZYGOTE.lock();
    while matches!(*state, State::Starting { forked: true }) {
        state = ZYGOTE.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
    }
}

/// What the zygote needs to clone one sandbox.
pub(crate) struct Ask<'a> {
    /// The request (what PID 2 gets, and the clone's flags).
    pub(crate) request: Request,
    /// The descriptors of [`Request::FDS`], in its order.
    pub(crate) fds: [BorrowedFd<'a>; Request::FDS],
    /// The cgroup directory to clone into, if any.
    pub(crate) cgroup: Option<BorrowedFd<'a>>,
}

/// What came of asking the zygote.
pub(crate) enum Asked {
    /// PID 1 is cloned.
    Cloned(Cloned),
    /// No PID 1 was cloned: the caller clones it itself with the same
    /// descriptors.
    NotCloned,
    /// The zygote was lost during the request, maybe after cloning: the
    /// caller must start over with descriptors of its own, so that a PID 1
    /// the zygote may have made reads EOF on its sync pipe and ends.
    Unknown,
}

/// Has the zygote clone PID 1 for `ask`. Unless it was cloned, the reason
/// is logged at debug level and the caller takes the plain path.
pub(crate) fn clone(ask: &Ask<'_>) -> Asked {
    let test = &ask.request.test;
    let plain = |why: &str| tracing::debug!(test, "not through the zygote: {why}; re-executing the test binary");
    if crate::registry::find(test).is_none() {
        plain("the test is not in the attribute's registry");
        return Asked::NotCloned;
    }
    if OWNER.get().is_some_and(|owner| *owner != std::process::id()) {
        plain("this process is a fork of the one that started the zygote");
        return Asked::NotCloned;
    }
    warm();
    let mut state = ZYGOTE.lock();
    while matches!(*state, State::Starting { .. }) {
        state = ZYGOTE.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
    }
    let (socket, pidfd) = match &*state {
        State::Ready { socket, pidfd } => (socket.as_fd(), pidfd.as_fd()),
        State::Off(why) => {
            plain(&format!("the zygote is off: {why}"));
            return Asked::NotCloned;
        }
        State::Unstarted | State::Starting { .. } => {
            plain("the zygote was not started");
            return Asked::NotCloned;
        }
    };
    let mut fds = ask.fds.to_vec();
    fds.extend(ask.cgroup);
    match wire::send_request(socket, &ask.request, &fds).and_then(|()| wire::recv_reply(socket)) {
        Ok(Reply::Cloned { pid, pidfd, in_cgroup }) => Asked::Cloned(Cloned { pid, pidfd, in_cgroup }),
        Ok(Reply::Failed(errno)) => {
            plain(&format!("the zygote's clone failed: {}", std::io::Error::from_raw_os_error(errno)));
            Asked::NotCloned
        }
        Err(err) => {
            let why = format!("lost the zygote: {err}");
            // Stuck or gone: it is not asked again; its keeper reaps it.
            let _ = rustix::process::pidfd_send_signal(pidfd, Signal::KILL);
            plain(&why);
            *state = State::Off(why);
            Asked::Unknown
        }
    }
}

#[cfg(test)]
mod tests {
    use super::runs_an_isolated_test_by_name;

    fn decide(args: &[&str]) -> bool {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        runs_an_isolated_test_by_name(&args, |name| name == "net::isolated")
    }

    #[test]
    fn only_a_process_for_isolated_tests_by_exact_name_forks_its_zygote_early() {
        assert!(decide(&["--exact", "net::isolated", "--nocapture"]));
        assert!(decide(&["net::isolated", "--exact", "--ignored"]));
        // A filter (cargo test NAME), a listing, a plain test, nothing.
        assert!(!decide(&["net::isolated"]));
        assert!(!decide(&["--list", "--exact", "net::isolated"]));
        assert!(!decide(&["--exact", "net::plain", "--nocapture"]));
        assert!(!decide(&["--exact"]));
        assert!(!decide(&[]));
    }
}
