//! The only place in the workspace allowed to use `unsafe`: raw system calls
//! that neither rustix nor std wrap in the form we need.
//!
//! - [`spawn`]: `clone3` into fresh namespaces, the PID 1 reaper and the
//!   `execve` of PID 2, all async-signal-safe.
//! - [`fd`]: adopting the descriptors the parent handed to PID 2.
//! - [`net`]: bringing the loopback interface up with an ioctl.
//! - [`signal`]: a self-pipe for the parent's report request (SIGUSR2).
//! - [`mount`]: recursive read-only, nosuid, nodev through `mount_setattr`.

pub(crate) mod fd;
pub(crate) mod mount;
pub(crate) mod net;
pub(crate) mod signal;
pub(crate) mod spawn;
