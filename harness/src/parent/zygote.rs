//! The test process's side of the zygote (see `zygote`): started at the
//! first `#[isolated_test]`, shared by libtest's threads, one request at a
//! time. Whenever it cannot be used the caller takes the plain path (it
//! clones PID 1 itself and PID 2 executes the test binary), and says why
//! under `ISOLATED_TEST_LOG=debug`: the sandbox is the same either way.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rustix::net::{AddressFamily, SocketFlags, SocketType};
use rustix::process::{Pid, PidfdFlags, Signal};

use crate::config::{ENV_ZYGOTE, ENV_ZYGOTE_SOCKET};
use crate::sys::pid1::Cloned;
use crate::zygote::wire::{self, Reply, Request};

/// How long the zygote may take to say it is ready, or to answer a
/// request (a clone), before it is given up (and killed).
const PATIENCE: Duration = Duration::from_secs(30);

enum State {
    /// Not asked for yet.
    Unstarted,
    /// Being started by its keeper thread (see [`keep`]).
    Starting,
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

/// Starts the zygote unless it was started before or is turned off, and
/// returns at once: it boots while the caller prepares its first sandbox.
pub(crate) fn warm() {
    let mut state = ZYGOTE.lock();
    if !matches!(*state, State::Unstarted) {
        return;
    }
    *state = match std::env::var(ENV_ZYGOTE) {
        Ok(value) if value == "0" => State::Off(format!("{ENV_ZYGOTE}=0")),
        _ => match start() {
            Ok(()) => State::Starting,
            Err(err) => State::Off(format!("it could not be started: {err}")),
        },
    };
}

fn start() -> std::io::Result<()> {
    let (ours, theirs) = rustix::net::socketpair(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
    let _ = OWNER.set(std::process::id());
    // The keeper thread lives as long as the process: the kernel kills the
    // zygote (PR_SET_PDEATHSIG), and every PID 1 it cloned (their parent
    // is this thread too), when the thread that forked it ends.
    std::thread::Builder::new()
        .name("isolated-test-zygote".into())
        .stack_size(256 << 10)
        .spawn(move || keep(ours, theirs))?;
    Ok(())
}

/// The keeper thread: starts the zygote, waits for it to be ready, reaps
/// it when it ends, and then stays (see [`start`]).
fn keep(ours: OwnedFd, theirs: OwnedFd) -> ! {
    let outcome = std::env::current_exe().and_then(|exe| crate::sys::zygote::spawn(&exe, &theirs, ENV_ZYGOTE_SOCKET));
    drop(theirs);
    match outcome {
        Err(err) => ZYGOTE.set(State::Off(format!("it could not be started: {err}"))),
        Ok(mut child) => {
            // Opened before anything can reap it: only this thread does.
            let pidfd = Pid::from_raw(child.id() as i32)
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidData))
                .and_then(|pid| Ok(rustix::process::pidfd_open(pid, PidfdFlags::empty())?));
            let mut byte = [0u8; 1];
            let patience = |kind| rustix::net::sockopt::set_socket_timeout(&ours, kind, Some(PATIENCE));
            let ready = patience(rustix::net::sockopt::Timeout::Recv)
                .and_then(|()| patience(rustix::net::sockopt::Timeout::Send))
                .and_then(|()| rustix::io::read(&ours, &mut byte));
            match (ready, pidfd) {
                (Ok(1), Ok(pidfd)) if byte[0] == wire::READY => {
                    tracing::debug!(pid = child.id(), "zygote ready");
                    ZYGOTE.set(State::Ready { socket: ours, pidfd });
                }
                (ready, pidfd) => {
                    let why = match (ready, pidfd) {
                        (_, Err(err)) => format!("no pidfd for it: {err}"),
                        (Err(err), _) => format!("it did not say it was ready: {err}"),
                        _ => "it ended before it was ready".to_owned(),
                    };
                    let _ = child.kill();
                    let status = child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                    ZYGOTE.set(State::Off(format!("{why} ({status})")));
                }
            }
            let status = child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
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
    while matches!(*state, State::Starting) {
        state = ZYGOTE.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
    }
    let (socket, pidfd) = match &*state {
        State::Ready { socket, pidfd } => (socket.as_fd(), pidfd.as_fd()),
        State::Off(why) => {
            plain(&format!("the zygote is off: {why}"));
            return Asked::NotCloned;
        }
        State::Unstarted | State::Starting => {
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
