//! The zygote's loop: one request at a time, each answered with a PID 1
//! cloned as a child of the test process, or the errno that prevented it.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

use super::wire::{self, Reply, Request};
use crate::sys::pid1::{HANDOVER_MIN_FD, Handover, Pid2, clone_sandbox};

/// Serves the test process on `socket` until it closes it, then exits.
/// Never returns; called by the constructor before `main`, in the zygote
/// the test process executed.
pub(crate) fn serve(socket: OwnedFd) -> ! {
    serve_with(socket, false)
}

/// As [`serve`], in a zygote the test process forked in its constructor
/// (`parent::zygote::prestart`), which reads the kernel's facts for it
/// while the test process goes on to its first test.
pub(crate) fn serve_forked(socket: OwnedFd) -> ! {
    serve_with(socket, true)
}

fn serve_with(socket: OwnedFd, read_facts: bool) -> ! {
    crate::sys::zygote::close_inherited(&socket);
    crate::config::init_tracing();
    // Every PID 2 is a copy of this process and runs the setup, which
    // needs one thread; and code after a fork in a multi-threaded process
    // may not allocate.
    match crate::sys::zygote::single_threaded() {
        Ok(true) => {}
        Ok(false) => {
            tracing::debug!(
                "zygote: a constructor of the test binary started a thread before `main`; the zygote needs one, \
                 exiting (the tests then re-execute the binary)"
            );
            std::process::exit(1);
        }
        Err(err) => {
            tracing::debug!(%err, "zygote: could not count its threads; exiting");
            std::process::exit(1);
        }
    }
    // Read here, on another core than the test's, which then need not.
    let facts = read_facts.then(crate::sandbox::setup::KernelFacts::get);
    if wire::send_ready(socket.as_fd(), facts.as_ref()).is_err() {
        std::process::exit(0);
    }
    loop {
        let (mut request, fds) = match wire::recv_request(socket.as_fd()) {
            Ok(Some(got)) => got,
            // The test process closed its end (or is gone).
            Ok(None) => std::process::exit(0),
            Err(err) => {
                tracing::debug!(%err, "zygote: unreadable request; exiting");
                std::process::exit(1);
            }
        };
        let reply = match clone(&request, fds) {
            Ok((pid, pidfd, in_cgroup)) => Reply::Cloned { pid, pidfd, in_cgroup },
            Err(err) => {
                tracing::debug!(test = request.test, %err, "zygote: no sandbox cloned");
                Reply::Failed(err.raw_os_error().unwrap_or(libc::EIO))
            }
        };
        request.wipe();
        if wire::send_reply(socket.as_fd(), &reply).is_err() {
            std::process::exit(0);
        }
    }
}

/// Clones PID 1 for `request` with the descriptors that came with it.
fn clone(request: &Request, fds: Vec<OwnedFd>) -> io::Result<(i32, OwnedFd, bool)> {
    let expected = Request::FDS + usize::from(request.cgroup);
    if fds.len() != expected {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} descriptors came with the request, not {expected}", fds.len()),
        ));
    }
    // Received at the lowest free numbers; PID 1 expects them high (see
    // `sys::pid1::Handover`).
    let high = |fd: &OwnedFd| -> io::Result<OwnedFd> { Ok(rustix::io::fcntl_dupfd_cloexec(fd, HANDOVER_MIN_FD)?) };
    let handover = Handover {
        sync_read: high(&fds[0])?,
        devnull: high(&fds[1])?,
        stderr_write: high(&fds[2])?,
        result_write: high(&fds[3])?,
        stdout_write: high(&fds[4])?,
        stdin: high(&fds[5])?,
    };
    let cgroup = request.cgroup.then(|| fds[Request::FDS].as_fd());
    let cwd = CString::new(request.cwd.clone())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "the working directory contains a NUL byte"))?;
    let body = || crate::pid2::forked::run(request);
    let cloned = clone_sandbox(request.flags, &Pid2::Call { cwd: &cwd, body: &body }, &handover, cgroup, request.nest)?;
    Ok((cloned.pid, cloned.pidfd, cloned.in_cgroup))
}
