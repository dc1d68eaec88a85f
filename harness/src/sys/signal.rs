//! A self-pipe for SIGUSR2, the parent's request for a pollution report
//! from a test that hit its deadline: the handler only writes a byte, a
//! thread of the harness does the work.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::IntoRawFd;
use std::sync::atomic::{AtomicI32, Ordering};

/// Write end of the self-pipe, for the handler; -1 until installed.
static WRITE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_report_request(_sig: libc::c_int) {
    let fd = WRITE_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) of one byte from a static buffer is
        // async-signal-safe; a full pipe only drops a duplicate request.
        unsafe {
            libc::write(fd, b"r".as_ptr().cast(), 1);
        }
    }
}

/// Installs the SIGUSR2 handler and returns the read end of its pipe: each
/// request makes one byte readable.
///
/// # Errors
/// The pipe or the handler could not be set up.
pub(crate) fn report_requests() -> io::Result<File> {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    rustix::fs::fcntl_setfl(&write, rustix::fs::OFlags::NONBLOCK)?;
    // The write end lives as long as the process: the handler may run any time.
    WRITE_FD.store(write.into_raw_fd(), Ordering::Relaxed);
    // SAFETY: sigaction is plain old data; all-zero is a valid value.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_report_request as *const () as libc::sighandler_t;
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: the handler only calls write(2) on a descriptor that stays
    // open; `action` is fully initialised.
    let ret = unsafe {
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGUSR2, &action, std::ptr::null_mut())
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(File::from(read))
}
