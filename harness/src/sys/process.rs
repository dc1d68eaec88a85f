//! Starting the commands of `isolated-test run` in a session of their own,
//! build tools that die with the process that started them, and handlers
//! run at exit.
#![allow(unsafe_code)]

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `cmd` lead a new session whose controlling terminal is its
/// standard input (a pty slave), as a shell started in a terminal has.
#[cfg(feature = "cli")]
pub(crate) fn in_new_session_on_tty(cmd: &mut Command) -> &mut Command {
    // SAFETY: the closure runs between fork and exec; setsid(2) and
    // ioctl(2) are async-signal-safe and touch no memory of the parent's.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// Makes `cmd` lead a new process group, in the session it is started
/// from (the sandbox's, which has no controlling terminal). Not a session
/// of its own: a session leader without a terminal that opens a pty's
/// slave (without `O_NOCTTY`, as pty tests do) gets it as its controlling
/// terminal, and closing the master then kills it with SIGHUP; an
/// `#[isolated_test]` body, which leads no session, never meets that.
#[cfg(feature = "cli")]
pub(crate) fn in_new_process_group(cmd: &mut Command) -> &mut Command {
    cmd.process_group(0)
}

/// Makes `cmd` die (SIGKILL) when the thread that starts it exits, so a
/// build it runs (debootstrap) does not outlive a test process that was
/// killed.
pub(crate) fn killed_with_parent(cmd: &mut Command) -> &mut Command {
    // SAFETY: the closure runs between fork and exec; prctl(2) is
    // async-signal-safe and touches no memory of the parent's.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
            Ok(())
        })
    }
}

/// Has `f` run when the process exits through `exit` (the end of `main`,
/// `std::process::exit`; not a death by signal).
///
/// # Errors
/// The C library could not register it.
pub(crate) fn at_exit(f: extern "C" fn()) -> std::io::Result<()> {
    // SAFETY: registering a plain function without arguments, which the C
    // library calls once at `exit`.
    if unsafe { libc::atexit(f) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::other("atexit refused to register a handler"))
    }
}
