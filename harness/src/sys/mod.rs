//! The only place in the workspace allowed to use `unsafe`: raw system calls
//! that neither rustix nor std wrap in the form we need.
//!
//! - [`pid1`]: PID 1: `clone3` into fresh namespaces, its reaper loop, the
//!   nested namespaces and the `execve` of PID 2, all async-signal-safe.
//! - [`fd`]: adopting the descriptors the parent handed to PID 2.
//! - [`net`]: bringing the loopback interface up with an ioctl.
//! - [`netns`]: the network namespaces of `isolated_test::net` (made on a
//!   thread, entered by a thread or a command before `exec`).
//! - [`signal`]: a self-pipe for the parent's report request (SIGUSR2).
//! - [`spare`]: PID 2's shared memory for its result when the body took
//!   the result channel's descriptor away.
//! - [`mount`]: recursive read-only, nosuid, nodev through `mount_setattr`.
//! - [`entry`]: the constructor that runs the setup in PID 2 before `main`.
//! - [`userns`]: the nested namespaces of the body and the lock.
//! - [`seccomp`]: the system calls the sandbox refuses.
//! - [`process`]: `run`'s commands in a session of their own; build tools
//!   killed with their parent.
//! - [`zygote`]: starting the zygote, its socket, and the environment of a
//!   PID 2 forked from it.

pub(crate) mod entry;
pub(crate) mod fd;
pub(crate) mod mount;
pub(crate) mod net;
pub(crate) mod netns;
pub(crate) mod pid1;
pub(crate) mod process;
pub(crate) mod seccomp;
pub(crate) mod signal;
pub(crate) mod spare;
pub(crate) mod userns;
pub(crate) mod zygote;
