//! Why the host refused to create a sandbox, and how to fix it, found by
//! reading the knobs that restrict user namespaces.

use std::fs;

/// What the host says about user namespaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Probe {
    /// Effective uid of the caller.
    pub(crate) euid: u32,
    /// `user.max_user_namespaces`.
    pub(crate) max_user_namespaces: Option<u64>,
    /// `kernel.apparmor_restrict_unprivileged_userns` (Ubuntu 23.10+).
    pub(crate) apparmor_restrict: Option<u64>,
    /// `kernel.unprivileged_userns_clone` (older Debian kernels).
    pub(crate) unprivileged_userns_clone: Option<u64>,
}

fn read_number(path: &str) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

impl Probe {
    /// Reads the host's settings.
    pub(crate) fn read() -> Self {
        Self {
            euid: rustix::process::geteuid().as_raw(),
            max_user_namespaces: read_number("/proc/sys/user/max_user_namespaces"),
            apparmor_restrict: read_number("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
            unprivileged_userns_clone: read_number("/proc/sys/kernel/unprivileged_userns_clone"),
        }
    }
}

/// Cause and fix for a failed `clone3` with `CLONE_NEWUSER`, if the errno is
/// one the restrictions produce.
pub(crate) fn userns_failure(errno: Option<i32>, probe: &Probe) -> Option<String> {
    let errno = errno?;
    if ![libc::EPERM, libc::ENOSPC, libc::EUSERS, libc::EACCES, libc::EINVAL].contains(&errno) {
        return None;
    }
    if probe.max_user_namespaces == Some(0) {
        return Some(
            "cause: user namespaces are disabled on this host (user.max_user_namespaces = 0)\n\
             fix: sudo sysctl -w user.max_user_namespaces=15000"
                .into(),
        );
    }
    if errno == libc::ENOSPC {
        return Some(
            "cause: the limit of user namespaces (user.max_user_namespaces) or of nested namespaces is reached\n\
             fix: raise it with sudo sysctl -w user.max_user_namespaces=15000, or end leftover sandboxes"
                .into(),
        );
    }
    if probe.euid != 0 && probe.apparmor_restrict == Some(1) {
        return Some(format!(
            "cause: AppArmor blocks unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1, \
             the default on Ubuntu 24.04 and its GitHub runners)\n\
             fix: {}, or sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0",
            crate::config::as_root()
        ));
    }
    if probe.euid != 0 && probe.unprivileged_userns_clone == Some(0) {
        return Some(format!(
            "cause: unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0)\n\
             fix: {}, or sudo sysctl -w kernel.unprivileged_userns_clone=1",
            crate::config::as_root()
        ));
    }
    if errno == libc::EPERM {
        return Some(
            "cause: namespace creation is blocked, most likely by the seccomp profile of a container runtime \
             (Docker's default profile refuses clone with namespace flags)\n\
             fix: run the container with --privileged, or with --security-opt seccomp=unconfined --security-opt apparmor=unconfined"
                .into(),
        );
    }
    None
}

/// Cause and fix for a setup step the host refused, when the step and the
/// errno point at a known host restriction.
pub(crate) fn setup_hint(step: &str, errno: Option<i32>) -> Option<&'static str> {
    match (step, errno?) {
        ("mount_proc", libc::EPERM) => Some(
            "cause: the kernel refuses a fresh procfs in a user namespace while the /proc it runs under has locked, \
             masked paths: a container runtime's (Docker and Podman mask /proc/kcore, /proc/keys, ...), or another \
             isolated-test sandbox's (sandboxes do not nest)\n\
             fix: run the container with --privileged (or --security-opt systempaths=unconfined), \
             run the tests outside any sandbox, or use `privileged = true` as real root",
        ),
        ("mount_sysfs" | "mount_tmpfs" | "make_root_private", libc::EPERM) => Some(
            "cause: mounting is refused inside the sandbox's user namespace, usually by a container runtime's \
             seccomp or AppArmor profile\n\
             fix: run the container with --privileged, or with --security-opt seccomp=unconfined --security-opt apparmor=unconfined",
        ),
        ("mount_overlay", libc::EINVAL) => Some(
            "cause: overlayfs refused this lower directory: its filesystem cannot be an overlay layer \
             (procfs, sysfs, some FUSE or network filesystems), or it carries mounts of its own\n\
             fix: put the image on an ordinary filesystem (ext4, xfs, btrfs, tmpfs), or bind it in with `bind` instead",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_restriction_and_its_fix() {
        let base = Probe { euid: 1000, max_user_namespaces: Some(15000), ..Probe::default() };
        let zero = Probe { max_user_namespaces: Some(0), ..base.clone() };
        assert!(userns_failure(Some(libc::ENOSPC), &zero).unwrap().contains("user.max_user_namespaces = 0"));
        let apparmor = Probe { apparmor_restrict: Some(1), ..base.clone() };
        let msg = userns_failure(Some(libc::EPERM), &apparmor).unwrap();
        assert!(msg.contains("apparmor_restrict_unprivileged_userns=0") && msg.contains("sudo"), "{msg}");
        let debian = Probe { unprivileged_userns_clone: Some(0), ..base.clone() };
        assert!(userns_failure(Some(libc::EPERM), &debian).unwrap().contains("unprivileged_userns_clone=1"));
        assert!(userns_failure(Some(libc::EPERM), &base).unwrap().contains("seccomp"));
        assert_eq!(userns_failure(Some(libc::ENOMEM), &base), None);
        assert_eq!(userns_failure(None, &base), None);
    }

    #[test]
    fn setup_hints_match_step_and_errno() {
        assert!(setup_hint("mount_proc", Some(libc::EPERM)).unwrap().contains("masked"));
        assert!(setup_hint("mount_tmpfs", Some(libc::EPERM)).unwrap().contains("seccomp"));
        assert_eq!(setup_hint("mount_proc", Some(libc::ENOENT)), None);
        assert_eq!(setup_hint("mount_proc", None), None);
        assert_eq!(setup_hint("chdir", Some(libc::EPERM)), None);
    }

    #[test]
    fn apparmor_does_not_apply_to_root() {
        let root = Probe { euid: 0, apparmor_restrict: Some(1), max_user_namespaces: Some(100), ..Probe::default() };
        assert!(!userns_failure(Some(libc::EPERM), &root).unwrap().contains("AppArmor"));
    }
}
