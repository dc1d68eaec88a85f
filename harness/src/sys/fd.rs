//! Descriptors inherited across `execve` by PID 2, adopted as owned values.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Takes ownership of an inherited descriptor after checking that it is open.
///
/// Returns `None` when `fd` is not open in this process.
pub(crate) fn adopt_inherited(fd: RawFd) -> Option<OwnedFd> {
    // SAFETY: F_GETFD only queries the descriptor table; an invalid number
    // yields EBADF and no side effect.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return None;
    }
    // SAFETY: the descriptor is open (checked above) and, by the protocol
    // between the parent and PID 2 (see `sys::pid1`), nothing else in this
    // process owns it: it was placed there by PID 2 before `execve` for the
    // harness alone (the result channel, stdout, or PID 1's nest pipes), and
    // is adopted exactly once.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adopts `fd` as a [`File`] and marks it close-on-exec so the test's own
/// subprocesses do not inherit it.
///
/// # Errors
/// Fails when `fd` is not open or cannot be marked close-on-exec.
pub(crate) fn adopt_cloexec_file(fd: RawFd) -> io::Result<File> {
    let owned = adopt_inherited(fd).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("descriptor {fd} is not open; the sandbox protocol was not followed"),
        )
    })?;
    rustix::io::fcntl_setfd(&owned, rustix::io::FdFlags::CLOEXEC)?;
    Ok(File::from(owned))
}

/// Registers an owned descriptor (a pidfd) with the current tokio reactor
/// for readability.
///
/// # Errors
/// The reactor refused the registration.
pub(crate) fn register_readable(fd: OwnedFd) -> io::Result<tokio::io::unix::AsyncFd<OwnedFd>> {
    // SAFETY: an OwnedFd keeps its descriptor open and returns the same number
    // from as_raw_fd for as long as it lives, and the AsyncFd owns it.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(|e| e.into_parts().1)
}
