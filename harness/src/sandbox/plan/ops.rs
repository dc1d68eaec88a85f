//! The kernel operations a plan is made of, with the name of each step
//! (for error reports) and what it does in words.

use std::path::{Path, PathBuf};

use super::{LAYERS, NEW_ROOT, OLD_ROOT, OverlayFallback};

/// One kernel operation of the setup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    /// `mount(NULL, "/", NULL, MS_REC|MS_PRIVATE)`.
    MakeRootPrivate,
    /// `sethostname`.
    SetHostname(String),
    /// Write `value` to `/proc/sys/user/NAME` (see `USER_QUOTAS`).
    UserQuota { name: String, value: u64 },
    /// Bring `lo` up.
    LoopbackUp,
    /// `mkdir -p` with this mode for the last component.
    Mkdir(PathBuf),
    /// Create an empty regular file (a bind target).
    Touch(PathBuf),
    /// Write a file with these contents.
    WriteFile { path: PathBuf, contents: Vec<u8> },
    /// Recreate in `to` the directories directly inside each of `from` that
    /// exists (an image's `/run` skeleton in the fresh `/run`), with their
    /// modes and, where the map allows, owners.
    SkeletonDirs { from: Vec<PathBuf>, to: PathBuf },
    /// Rootless, before an overlay is mounted: the directory `path` of its
    /// upper layer, with the mode (and, where the map has it, the owner)
    /// of `like`, its lower counterpart, if that exists. The merged
    /// directory is then the sandbox's own, so that a rootfs entry can be
    /// made in it although the host's is root's.
    UpperDir { path: PathBuf, like: PathBuf },
    /// Write a regular file (mode 0644) with the contents of `from`,
    /// following symbolic links, or `fallback` when `from` is missing (and
    /// nothing when there is no fallback).
    CopyFile { from: PathBuf, to: PathBuf, fallback: Option<Vec<u8>> },
    /// `symlink(target, link)`.
    Symlink { target: PathBuf, link: PathBuf },
    /// Mount a tmpfs with a mode, bounded to `size` bytes (and an inode per
    /// 4 KiB of it).
    Tmpfs { target: PathBuf, mode: u32, size: u64 },
    /// `chdir`.
    Chdir(PathBuf),
    /// `pivot_root(new_root, put_old)`.
    PivotRoot { new_root: PathBuf, put_old: PathBuf },
    /// `umount2(path, MNT_DETACH)`.
    DetachUnmount(PathBuf),
    /// An overlay, and what to do if the kernel refuses it (for example a
    /// lower layer on a filesystem that overlayfs does not support).
    /// `in_user_namespace`: mounted inside one (rootless), where overlayfs
    /// keeps its markers (opaque directories) in `user.` attributes; as
    /// host root it uses `trusted.` ones where the upper layer's tmpfs has
    /// no `user.` attributes (before Linux 6.6).
    Overlay {
        lowers: Vec<PathBuf>,
        upper: PathBuf,
        work: PathBuf,
        target: PathBuf,
        fallback: OverlayFallback,
        in_user_namespace: bool,
    },
    /// A read-only overlay of `lowers` (bottom first, at least two) with
    /// no upper layer, and what to do if the kernel refuses it. The top
    /// layer's root directory (which the overlay's root takes its owner
    /// and mode from) gets those of the bottom one.
    ReadonlyOverlay { lowers: Vec<PathBuf>, target: PathBuf, fallback: OverlayFallback },
    /// Bind the sandbox's own file `source`, staged on the setup's tmpfs,
    /// writable over `target` in a read-only tree; nothing when `source`
    /// is missing or `target` is no regular file (a symbolic link is not
    /// followed: a read-only tree cannot hold a new mount point).
    BindOwnFile { source: PathBuf, target: PathBuf },
    /// A bind mount, optionally recursive; `readonly` remounts it read-only
    /// (the whole tree when recursive).
    Bind { source: PathBuf, target: PathBuf, recursive: bool, readonly: bool },
    /// Remount an existing bind mount read-only.
    RemountReadonly(PathBuf),
    /// Make a mount and every mount below it read-only, nosuid and nodev
    /// (one `mount_setattr`).
    ReadonlyTree(PathBuf),
    /// A fresh procfs.
    Proc(PathBuf),
    /// A read-only sysfs; falls back to a read-only bind of the host's `/sys`.
    Sysfs { target: PathBuf, fallback: PathBuf },
    /// A new devpts instance.
    Devpts { target: PathBuf, tty_gid: bool },
    /// A tmpfs that may hold device nodes (no `nodev`), for `/dev` as host
    /// root: a user namespace cannot make device nodes, nor mount a tmpfs
    /// whose device nodes work.
    DevTmpfs { target: PathBuf, size: u64 },
    /// `mknod` of a character device, mode 0666.
    CharDevice { path: PathBuf, major: u32, minor: u32 },
    /// `privileged = true`: `loop-control` and a `loopN` node for each of
    /// the host's loop devices (counted in `sys_block`, the host's
    /// `/sys/block`) and a few more, which `losetup --find` may add.
    LoopDevices { dev: PathBuf, sys_block: PathBuf },
    /// Keep a descriptor on the overlays' upper layers, so the pollution
    /// report can read them after the scaffolding is detached.
    KeepLayers,
    /// A new cgroup namespace rooted at the sandbox's cgroup.
    CgroupNamespace,
    /// Have a helper make a nested user namespace with new IPC, UTS and
    /// network namespaces, map it, and join all but the user namespace.
    EnterNamespaces,
    /// Join the nested user namespace and unshare a new mount namespace:
    /// every mount so far becomes locked.
    Lock,
    /// A seccomp filter refusing new cgroup namespaces and the kernel
    /// keyring (see `sys::seccomp`).
    Seccomp,
}

impl Op {
    /// Short name of the step, used as `SetupStep` in error reports.
    pub(crate) fn step(&self) -> &'static str {
        match self {
            Op::MakeRootPrivate => "make_root_private",
            Op::SetHostname(_) => "sethostname",
            Op::UserQuota { .. } => "user_quotas",
            Op::LoopbackUp => "loopback_up",
            Op::Mkdir(_) | Op::SkeletonDirs { .. } | Op::UpperDir { .. } => "mkdir",
            Op::Touch(_) | Op::WriteFile { .. } | Op::CopyFile { .. } => "create_file",
            Op::Symlink { .. } => "symlink",
            Op::Tmpfs { .. } => "mount_tmpfs",
            Op::Chdir(_) => "chdir",
            Op::PivotRoot { .. } => "pivot_root",
            Op::DetachUnmount(_) => "umount",
            Op::Overlay { .. } | Op::ReadonlyOverlay { .. } => "mount_overlay",
            Op::Bind { .. } | Op::BindOwnFile { .. } => "bind_mount",
            Op::RemountReadonly(_) | Op::ReadonlyTree(_) => "remount_readonly",
            Op::Proc(_) => "mount_proc",
            Op::Sysfs { .. } => "mount_sysfs",
            Op::Devpts { .. } => "mount_devpts",
            Op::DevTmpfs { .. } => "mount_tmpfs",
            Op::CharDevice { .. } | Op::LoopDevices { .. } => "mknod",
            Op::KeepLayers => "keep_layers",
            Op::CgroupNamespace => "cgroup_namespace",
            Op::EnterNamespaces => "enter_namespaces",
            Op::Lock => "lock_mounts",
            Op::Seccomp => "seccomp",
        }
    }

    /// What the operation does, with its objects, for "failed to ..." messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Op::MakeRootPrivate => "make `/` a recursively private mount (so nothing propagates to the host)".into(),
            Op::SetHostname(h) => format!("set the hostname to `{h}`"),
            Op::UserQuota { name, value } => {
                format!("limit the sandbox's user namespace to {value} (user.{name}, a quarter of the caller's)")
            }
            Op::LoopbackUp => "bring the loopback interface `lo` up".into(),
            Op::Mkdir(p) => format!("create directory {}", show(p)),
            Op::UpperDir { path, like } => format!("create directory {} like {}", show(path), show(like)),
            Op::SkeletonDirs { from, to } => format!(
                "recreate the directories of {} in {}",
                from.iter().map(|f| show(f)).collect::<Vec<_>>().join(" and "),
                show(to)
            ),
            Op::Touch(p) | Op::WriteFile { path: p, .. } => format!("create file {}", show(p)),
            Op::CopyFile { from, to, .. } => format!("copy {} to {}", show(from), show(to)),
            Op::Symlink { target, link } => format!("create symlink {} -> `{}`", show(link), target.display()),
            Op::Tmpfs { target, .. } => format!("mount a tmpfs at {}", show(target)),
            Op::Chdir(p) => format!("change directory to {}", show(p)),
            Op::PivotRoot { new_root, put_old } => {
                format!("pivot_root into `{}` (old root at `{}`)", new_root.display(), put_old.display())
            }
            Op::DetachUnmount(p) => format!("detach the old root at `{}`", p.display()),
            Op::Overlay { lowers, target, .. } => format!(
                "mount an overlay of {} at {}",
                lowers.iter().map(|l| show(l)).collect::<Vec<_>>().join(" over "),
                show(target)
            ),
            Op::ReadonlyOverlay { lowers, target, .. } => format!(
                "mount a read-only overlay of {} at {}",
                lowers.iter().map(|l| show(l)).collect::<Vec<_>>().join(" over "),
                show(target)
            ),
            Op::BindOwnFile { source, target } => format!("bind {} writable over {}", show(source), show(target)),
            Op::Bind { source, target, readonly, .. } => {
                format!("bind {} to {}{}", show(source), show(target), if *readonly { " read-only" } else { "" })
            }
            Op::RemountReadonly(p) => format!("remount {} read-only", show(p)),
            Op::ReadonlyTree(p) => format!("make {} and the mounts below it read-only", show(p)),
            Op::Proc(p) => format!("mount proc at {}", show(p)),
            Op::Sysfs { target, .. } => format!("mount sysfs read-only at {}", show(target)),
            Op::Devpts { target, .. } => format!("mount devpts at {}", show(target)),
            Op::DevTmpfs { target, .. } => format!("mount a tmpfs for device nodes at {}", show(target)),
            Op::CharDevice { path, major, minor } => format!("make the device node {} ({major}:{minor})", show(path)),
            Op::LoopDevices { dev, .. } => format!("make the loop device nodes in {}", show(dev)),
            Op::KeepLayers => format!("open `{LAYERS}` for the pollution report"),
            Op::CgroupNamespace => "unshare a cgroup namespace rooted at the sandbox's cgroup".into(),
            Op::EnterNamespaces => {
                "make a nested user namespace with IPC, UTS and network namespaces and join them".into()
            }
            Op::Lock => {
                "join the nested user namespace with a new mount namespace (locks every mount of the setup)".into()
            }
            Op::Seccomp => "install a seccomp filter refusing new cgroup namespaces and the kernel keyring".into(),
        }
    }
}

/// A path of the setup in words: host paths (under [`OLD_ROOT`]) as
/// "host `/x`", sandbox paths (under [`NEW_ROOT`]) as "`/x`", scaffolding
/// as is.
pub(crate) fn show(path: &Path) -> String {
    if let Ok(rel) = path.strip_prefix(OLD_ROOT) {
        format!("host `{}`", Path::new("/").join(rel).display())
    } else if let Ok(rel) = path.strip_prefix(NEW_ROOT) {
        format!("`{}`", Path::new("/").join(rel).display())
    } else {
        format!("`{}`", path.display())
    }
}
