//! The namespaces the test body lives in, and the lock that makes every
//! mount of the setup permanent.
//!
//! Kernel facts this relies on (Linux 6.x, verified on 6.18):
//! - When a mount namespace is copied into one owned by a different user
//!   namespace, every inherited mount is locked (`MNT_LOCKED`, and its
//!   read-only, nosuid, nodev, noexec and atime flags): root inside can no
//!   longer remount it read-write or unmount it, but can still mount
//!   tmpfs, binds and overlays of its own on top.
//! - Root of a user namespace has no capability over namespaces owned by
//!   its parent. So the UTS, IPC and network namespaces must belong to the
//!   nested user namespace (or `sethostname`, `ip link`, `mount -t mqueue`
//!   fail inside), while the PID and cgroup namespaces stay with the outer
//!   one: then no fresh procfs or cgroupfs can be mounted from inside.
//! - Per-namespace sysctl files are bound to the namespace that was
//!   current when they were looked up (a bind of `/proc/sys/fs/mqueue` made
//!   in one IPC namespace writes that namespace's values from any other).
//!   So the final IPC, UTS and network namespaces must exist, and be
//!   current, while the setup builds `/proc`.
//! - `unshare(CLONE_NEWUSER)` and `setns` into a user namespace need a
//!   single-threaded caller; a user namespace's id map must be written by
//!   a process in its parent namespace.
//!
//! Hence: before the setup, a helper forked from PID 2 unshares a nested
//! user namespace with new IPC, UTS and network namespaces; PID 2 (still
//! outside, and owner of it) writes its id maps and joins those three
//! namespaces, builds the whole sandbox, then joins the user namespace and
//! unshares a new mount namespace, which locks every mount. The helper is
//! then let go.
#![allow(unsafe_code)]

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

/// The namespaces the helper makes, owned by its new user namespace.
const HELPER_NAMESPACES: libc::c_int =
    libc::CLONE_NEWUSER | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS | libc::CLONE_NEWNET;

/// The nested namespace's id map for one outer map: every id the outer
/// namespace has maps to itself (`0 1000 1` outside becomes `0 0 1`).
pub(crate) fn nested_map(outer: &str) -> String {
    let mut map = String::new();
    for line in outer.lines() {
        let mut fields = line.split_whitespace();
        if let (Some(inside), Some(_), Some(count)) = (fields.next(), fields.next(), fields.next()) {
            map.push_str(&format!("{inside} {inside} {count}\n"));
        }
    }
    map
}

/// The nested namespaces, made and joined (all but the user namespace),
/// waiting for [`Nest::lock`].
#[derive(Debug)]
pub(crate) struct Nest {
    helper: libc::pid_t,
    pidfd: OwnedFd,
    /// Closing it lets the helper exit.
    release: Option<OwnedFd>,
}

/// Makes the nested user namespace with its IPC, UTS and network
/// namespaces, maps it to the ids this process has, and joins the IPC,
/// UTS and network namespaces.
///
/// Must be called from a single-threaded process.
///
/// # Errors
/// Reading the current maps, the pipes, the fork, the helper's `unshare`
/// (its errno is passed back), the maps, or the `setns`.
pub(crate) fn prepare() -> io::Result<Nest> {
    let uid_map = nested_map(&std::fs::read_to_string("/proc/self/uid_map")?);
    let gid_map = nested_map(&std::fs::read_to_string("/proc/self/gid_map")?);
    let (ready_read, ready_write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let (release_read, release_write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    // SAFETY: the caller is single-threaded (documented requirement), so
    // the child is a complete copy in which allocation and std I/O are
    // sound. The child only runs `helper` and leaves with `_exit`, never
    // returning into the caller.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        drop((ready_read, release_write));
        helper(ready_write, release_read);
    }
    drop((ready_write, release_read));
    let mut nest = Nest {
        helper: pid,
        pidfd: rustix::process::pidfd_open(pid_of(pid)?, rustix::process::PidfdFlags::empty())?,
        release: Some(release_write),
    };
    let mut answer = String::new();
    std::fs::File::from(ready_read).read_to_string(&mut answer)?;
    let host_pid = match answer.split_once(' ') {
        Some(("pid", pid)) => pid.trim().to_owned(),
        Some(("errno", errno)) => return Err(io::Error::from_raw_os_error(errno.trim().parse().unwrap_or(libc::EIO))),
        _ => return Err(io::Error::other(format!("the namespace helper answered `{answer}`"))),
    };
    // The helper's entry in this mount namespace's procfs, which is still
    // the host's (or the outer sandbox's): hence its pid as that procfs
    // counts, which the helper read from `/proc/self`.
    let write = |file: &str, content: &str| std::fs::write(format!("/proc/{host_pid}/{file}"), content);
    write("uid_map", &uid_map)?;
    match write("gid_map", &gid_map) {
        // Without CAP_SETGID over the outer namespace's gids (rootless with
        // a single id), a gid map needs setgroups denied first.
        Err(err) if err.raw_os_error() == Some(libc::EPERM) => {
            write("setgroups", "deny")?;
            write("gid_map", &gid_map)?;
        }
        other => other?,
    }
    nest.join(libc::CLONE_NEWIPC | libc::CLONE_NEWUTS | libc::CLONE_NEWNET)?;
    Ok(nest)
}

/// A new cgroup namespace, rooted at this process's cgroup (the sandbox's).
///
/// # Errors
/// The `unshare`.
pub(crate) fn new_cgroup_namespace() -> io::Result<()> {
    // SAFETY: the hazard of `unshare_unsafe` is CLONE_FILES splitting the
    // descriptor table under other threads; it is not among the flags.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWCGROUP) }?;
    Ok(())
}

fn pid_of(raw: libc::pid_t) -> io::Result<rustix::process::Pid> {
    rustix::process::Pid::from_raw(raw).ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))
}

impl Nest {
    fn join(&mut self, namespaces: libc::c_int) -> io::Result<()> {
        // SAFETY: setns on a pidfd we own; it changes only this (single)
        // thread's namespaces.
        if unsafe { libc::setns(self.pidfd.as_raw_fd(), namespaces) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Joins the nested user namespace and unshares a new mount namespace,
    /// which locks every mount this process can see; then lets the helper
    /// go. The caller's root must be its mount namespace's root (after
    /// `pivot_root`), or the kernel refuses the join.
    ///
    /// # Errors
    /// The `setns` or the `unshare`.
    pub(crate) fn lock(mut self) -> io::Result<()> {
        self.join(libc::CLONE_NEWUSER)?;
        let flags = rustix::thread::UnshareFlags::NEWNS;
        // SAFETY: the hazard of `unshare_unsafe` is CLONE_FILES splitting
        // the descriptor table under other threads; it is not among the
        // flags, and there are no threads.
        unsafe { rustix::thread::unshare_unsafe(flags) }?;
        Ok(())
    }
}

impl Drop for Nest {
    fn drop(&mut self) {
        drop(self.release.take());
        let mut status = 0;
        // SAFETY: waits for the helper forked in `prepare`, our child,
        // which exits as soon as the release pipe is closed.
        unsafe { libc::waitpid(self.helper, &mut status, 0) };
    }
}

/// The helper: unshares the nested namespaces, says its pid (as the
/// procfs of its mount namespace counts) or the errno, and holds the
/// namespaces until released.
fn helper(ready: OwnedFd, release: OwnedFd) -> ! {
    // SAFETY: prctl and unshare affect only this process; _exit never
    // returns. The helper must not outlive PID 2.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0);
    }
    let mut ready = std::fs::File::from(ready);
    // SAFETY: as above; a single-threaded process.
    let answer = if unsafe { libc::unshare(HELPER_NAMESPACES) } < 0 {
        format!("errno {}", io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO))
    } else {
        match std::fs::read_link("/proc/self") {
            Ok(pid) => format!("pid {}", pid.display()),
            Err(err) => format!("errno {}", err.raw_os_error().unwrap_or(libc::EIO)),
        }
    };
    let _ = ready.write_all(answer.as_bytes());
    drop(ready);
    let mut byte = [0u8; 1];
    let _ = std::fs::File::from(release).read(&mut byte);
    // SAFETY: ends the helper without running the caller's atexit handlers.
    unsafe { libc::_exit(0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_maps_are_the_identity_of_the_outer_ids() {
        assert_eq!(nested_map("         0          0 4294967295\n"), "0 0 4294967295\n");
        assert_eq!(nested_map("0 1000 1\n"), "0 0 1\n");
        assert_eq!(nested_map("0 65534 1\n1 3000000 65536\n"), "0 0 1\n1 1 65536\n");
    }
}
