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
//! Hence: PID 1, right after forking PID 2, unshares a nested user
//! namespace with new IPC, UTS and network namespaces (their cost overlaps
//! PID 2's `execve`) and says where to find them. PID 2 (still outside, and
//! owner of them) writes PID 1's id maps, joins the three namespaces,
//! builds the whole sandbox, then joins the user namespace and unshares a
//! new mount namespace, which locks every mount. PID 1 becomes
//! non-dumpable once the maps are written, then joins PID 2's locked mount
//! namespace (so the setup's is torn down while the body runs, not on the
//! way out); PID 2 waits for both before the body runs, so nothing the
//! body can reach is dumpable and PID 1 holds no unlocked mount.
//!
//! The conversation runs over two pipes PID 1 makes and PID 2 inherits as
//! descriptors 5 and 6 (see `sys::pid1`):
//!
//! | fd in PID 2 | direction      | what                                                          |
//! |-------------|----------------|---------------------------------------------------------------|
//! | 5           | PID 1 to PID 2 | `pid <n>` (PID 1's pid as this mount namespace's procfs counts) or `errno <n>`; EOF once PID 1 is non-dumpable and in PID 2's locked mount namespace |
//! | 6           | PID 2 to PID 1 | `M` once the id maps are written, `L` once the mounts are locked; EOF means PID 2 gave up |
#![allow(unsafe_code)]

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

use super::pid1::{CHILD_NEST_MAPPED_FD, CHILD_NEST_REPORT_FD};

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
    /// The nested user namespace (`/proc/<pid>/ns/user` of PID 1, opened
    /// while PID 1 was still dumpable).
    user: OwnedFd,
    /// PID 1's report pipe: EOF once it is non-dumpable and has joined the
    /// locked mount namespace.
    report: File,
    /// To PID 1: `L` once locked.
    mapped: File,
}

/// Takes descriptors 5 and 6 from PID 1 (see the module documentation),
/// maps PID 1's nested user namespace to the ids this process has, and
/// joins its IPC, UTS and network namespaces.
///
/// Must be called from a single-threaded process, once.
///
/// # Errors
/// Descriptors 5 and 6 missing, PID 1's `unshare` (its errno is passed
/// back), reading the current maps, writing the nested ones, or a `setns`.
pub(crate) fn prepare() -> io::Result<Nest> {
    let adopt = |fd| {
        super::fd::adopt_cloexec_file(fd).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("descriptor {fd} from PID 1: {err} (PID 1 could not make its pipes, or this process was not started by the harness)"),
            )
        })
    };
    let (mut report, mapped) = (adopt(CHILD_NEST_REPORT_FD)?, adopt(CHILD_NEST_MAPPED_FD)?);
    let uid_map = nested_map(&std::fs::read_to_string("/proc/self/uid_map")?);
    let gid_map = nested_map(&std::fs::read_to_string("/proc/self/gid_map")?);

    // One line, not to EOF: PID 1 keeps the pipe open until the maps are in.
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.iter().all(|b: &u8| b.is_ascii_whitespace()) || line.last() != Some(&b'\n') {
        if report.read(&mut byte)? == 0 {
            return Err(io::Error::other("PID 1 ended before making the nested namespaces"));
        }
        line.push(byte[0]);
    }
    let answer = String::from_utf8_lossy(&line).trim().to_owned();
    let host_pid = match answer.split_once(' ') {
        Some(("pid", pid)) => pid.to_owned(),
        Some(("errno", errno)) => {
            let errno = errno.parse().unwrap_or(libc::EIO);
            let cause = io::Error::from_raw_os_error(errno);
            return Err(io::Error::new(
                cause.kind(),
                format!("PID 1 could not unshare the nested namespaces: {cause}"),
            ));
        }
        _ => return Err(io::Error::other(format!("PID 1 answered `{answer}` about the nested namespaces"))),
    };
    // PID 1's entry in this mount namespace's procfs, which is still the
    // host's (or the outer sandbox's): hence its pid as that procfs counts.
    let proc = format!("/proc/{host_pid}");
    // Opened now, while PID 1 is dumpable (a rootless PID 2 may not open
    // a non-dumpable process's namespaces).
    let open_ns = |name: &str| -> io::Result<OwnedFd> { Ok(File::open(format!("{proc}/ns/{name}"))?.into()) };
    let user = open_ns("user")?;
    let others = [open_ns("ipc")?, open_ns("uts")?, open_ns("net")?];
    let write = |file: &str, content: &str| std::fs::write(format!("{proc}/{file}"), content);
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
    for ns in &others {
        setns(ns, 0)?;
    }
    // Tell PID 1 the maps are in; it becomes non-dumpable.
    let mut mapped = mapped;
    mapped.write_all(b"M")?;
    Ok(Nest { user, report, mapped })
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

fn setns(ns: &OwnedFd, nstype: libc::c_int) -> io::Result<()> {
    // SAFETY: setns on a namespace descriptor we own; it changes only this
    // (single) thread's namespaces.
    if unsafe { libc::setns(ns.as_raw_fd(), nstype) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Nest {
    /// Joins the nested user namespace and unshares a new mount namespace,
    /// which locks every mount this process can see, then waits until
    /// PID 1 is non-dumpable and has joined that namespace. The caller's
    /// root must be its mount namespace's root (after `pivot_root`), or the
    /// kernel refuses the join. The caller must stay dumpable until this
    /// returns (PID 1 opens `/proc/2/ns/mnt`).
    ///
    /// # Errors
    /// The `setns`, the `unshare`, or the exchange with PID 1.
    pub(crate) fn lock(mut self) -> io::Result<()> {
        setns(&self.user, libc::CLONE_NEWUSER)?;
        let flags = rustix::thread::UnshareFlags::NEWNS;
        // SAFETY: the hazard of `unshare_unsafe` is CLONE_FILES splitting
        // the descriptor table under other threads; it is not among the
        // flags, and there are no threads.
        unsafe { rustix::thread::unshare_unsafe(flags) }?;
        self.mapped.write_all(b"L")?;
        drop(self.mapped);
        let mut rest = Vec::new();
        self.report.read_to_end(&mut rest)?;
        Ok(())
    }
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
