//! Network namespaces of `isolated_test::net`: made on a short-lived
//! thread, entered by a thread or by a command between `fork` and `exec`.
//!
//! A network namespace needs no path: it lives as long as a descriptor of
//! it (`/proc/thread-self/ns/net`, opened right after the `unshare`), a
//! socket made in it, or a process inside it. So nothing is ever bound
//! under `/run/netns`, and whatever a test makes is gone with its last
//! descriptor.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::sync::Arc;

/// Makes a new network namespace, owned by the caller's user namespace,
/// and runs `inside` in it (on a thread of its own, which then ends).
/// Returns a descriptor of the namespace and what `inside` returned, for
/// example a netlink socket, which keeps talking to that namespace.
///
/// # Errors
/// The thread, the `unshare` (EPERM without CAP_SYS_ADMIN over the
/// current user namespace, ENOSPC past `user.max_net_namespaces`), the
/// `open` of `/proc/thread-self/ns/net`, or `inside`.
pub(crate) fn new_net_namespace<T: Send>(inside: impl FnOnce() -> io::Result<T> + Send) -> io::Result<(OwnedFd, T)> {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new().name("isolated-test-netns".into()).spawn_scoped(scope, || {
            // SAFETY: the hazard of `unshare_unsafe` is CLONE_FILES
            // splitting the descriptor table under other threads; only
            // CLONE_NEWNET is asked, which moves this thread alone.
            unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) }?;
            let ns: OwnedFd = File::open("/proc/thread-self/ns/net")?.into();
            Ok((ns, inside()?))
        })?;
        thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Moves the calling thread into the network namespace `ns`.
///
/// # Errors
/// The `setns` (EPERM without CAP_SYS_ADMIN over the namespace's owner).
pub(crate) fn enter(ns: BorrowedFd<'_>) -> io::Result<()> {
    rustix::thread::move_into_link_name_space(ns, Some(rustix::thread::LinkNameSpaceType::Network))?;
    Ok(())
}

/// Makes `command` enter the network namespace `ns` between `fork` and
/// `exec`. The descriptor is kept alive by the command.
pub(crate) fn command_in(command: &mut std::process::Command, ns: Arc<OwnedFd>) {
    let raw = ns.as_fd().as_raw_fd();
    // SAFETY: the closure runs in the forked child before `exec`; it makes
    // one system call, `setns`, which is async-signal-safe, and allocates
    // nothing. `raw` stays open in the child: `ns` (moved into the
    // closure, which the command keeps) owns it in the parent, and the
    // child's copy of the table is closed on `exec` (close-on-exec).
    unsafe {
        command.pre_exec(move || {
            let _keep = &ns;
            if libc::setns(raw, libc::CLONE_NEWNET) == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
        });
    }
}
