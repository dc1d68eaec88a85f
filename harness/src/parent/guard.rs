//! Guarantees that PID 1 is killed and reaped even when the parent leaves
//! supervision early (an error, a panic, an unwinding test thread).

use std::os::fd::{AsFd, OwnedFd};

use rustix::process::{Signal, WaitId, WaitIdOptions};

use crate::sys::pid1::Cloned;

/// Kills and reaps PID 1 on drop unless disarmed after a successful reap.
pub(crate) struct Pid1Guard {
    pidfd: Option<OwnedFd>,
}

impl Pid1Guard {
    /// Arms a guard over `init`.
    pub(crate) fn new(init: &Cloned) -> Self {
        Self { pidfd: init.pidfd.try_clone().ok() }
    }

    /// PID 1 was reaped by the supervisor; nothing left to do.
    pub(crate) fn disarm(&mut self) {
        self.pidfd = None;
    }
}

impl Drop for Pid1Guard {
    fn drop(&mut self) {
        if let Some(pidfd) = self.pidfd.take() {
            // SIGKILL on PID 1 takes the whole PID namespace with it.
            let _ = rustix::process::pidfd_send_signal(&pidfd, Signal::KILL);
            let _ = rustix::process::waitid(WaitId::PidFd(pidfd.as_fd()), WaitIdOptions::EXITED);
        }
    }
}
