//! The setup sequence as data: a pure function from what PID 2 sees of the
//! host to the ordered list of kernel operations that build the sandbox.
//!
//! Keeping the plan separate from its execution lets the order (which is
//! where the subtle bugs live) be unit-tested without a kernel.
//!
//! The sequence, in kernel order:
//! 1. make `/` recursively private, so nothing below propagates to the host;
//! 2. the namespaces the body will live in: a nested user namespace with
//!    new IPC, UTS and network namespaces, made by PID 1; PID 2 joins all
//!    but the user namespace (see `sys::userns` for why now), then sets
//!    the hostname and brings loopback up;
//! 3. a staging tmpfs on `/tmp`, entered with `pivot_root`, so the host tree
//!    sits at `/oldroot` (including the host's `/tmp`, which the staging
//!    mount only hid) and the new root is built at `/newroot`;
//! 4. the host's files: as host root (the setup runs outside any user
//!    namespace) one overlay of the host's root filesystem, with the other
//!    host filesystems on top (copy-on-write when they are a top-level
//!    directory, read-only binds deeper down); rootless, one overlay per
//!    top-level directory, since inside a user namespace an overlay with
//!    `lowerdir=/` is refused (`/` has locked submounts) and so is one of
//!    any directory with submounts, which is bound read-only whole;
//! 5. `/proc` with `/proc/sys` read-only but for the per-namespace knobs,
//!    `/sys`, `/dev`, then the fresh `/tmp`, `/run`, `/var/tmp`, then the
//!    kept paths that live under those;
//! 6. `pivot_root` into `/newroot`, detach the old root, `chdir` back;
//! 7. the lock: join the nested user namespace and unshare a new mount
//!    namespace, which locks every mount made so far.
//!
//! Steps 2 and 7 are skipped only by `privileged = true`, whose namespaces
//! all come from the `clone3`.

use std::path::{Path, PathBuf};

/// Where the staging tmpfs is mounted on the host tree. Any existing
/// directory works; `/tmp` exists everywhere.
pub(crate) const STAGING: &str = "/tmp";
/// The host tree after the first `pivot_root`.
pub(crate) const OLD_ROOT: &str = "/oldroot";
/// The sandbox root while it is being built.
pub(crate) const NEW_ROOT: &str = "/newroot";
/// Upper and work directories of the overlays.
pub(crate) const LAYERS: &str = "/layers";

/// Directories of the new root that get a fresh tmpfs, with their mode.
pub(crate) const FRESH_TMPFS: &[(&str, u32)] = &[("/tmp", 0o1777), ("/run", 0o755), ("/var/tmp", 0o1777)];

/// The scratch directories: those above and `/dev/shm`, a fresh tmpfs in
/// every sandbox, where on a real host programs leave what they leave
/// behind. The pollution report lists what is left in them; `teardown =
/// "verify"` checks them for holders.
pub(crate) const SCRATCH: &[&str] = &["/tmp", "/run", "/var/tmp", "/dev/shm"];

/// The sandbox's `/dev` nodes as (name, major, minor): its own nodes as
/// host root, the host's bound in rootless. The numbers are fixed by the
/// kernel (`Documentation/admin-guide/devices.txt`).
pub(crate) const DEVICES: &[(&str, u32, u32)] =
    &[("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];

/// Top-level host directories that are never overlaid: the kernel's
/// filesystems and the ones that get a fresh tmpfs.
const NOT_OVERLAID: &[&str] = &["proc", "sys", "dev", "tmp", "run"];

/// The sysctls that belong to a namespace the sandbox owns, besides
/// `/proc/sys/net` (the network namespace's, as the kernel lists it there):
/// the UTS namespace's writable entries (`kernel/utsname_sysctl.c`), the
/// IPC namespace's (`ipc/ipc_sysctl.c`) and the POSIX message queue
/// namespace's (`ipc/mq_sysctl.c`). Everything else under `/proc/sys` is
/// global and stays read-only. Those that the running kernel lacks are
/// skipped; `tests/tests/escape.rs` derives the per-namespace set from the
/// kernel (file ownership in a namespace whose root is not host root) and
/// checks it against this list.
pub(crate) const NAMESPACED_SYSCTLS: &[&str] = &[
    "kernel/hostname",
    "kernel/domainname",
    "kernel/shmmax",
    "kernel/shmall",
    "kernel/shmmni",
    "kernel/shm_rmid_forced",
    "kernel/msgmax",
    "kernel/msgmni",
    "kernel/msgmnb",
    "kernel/auto_msgmni",
    "kernel/sem",
    "kernel/sem_next_id",
    "kernel/msg_next_id",
    "kernel/shm_next_id",
    "fs/mqueue",
];

/// Sysctls under `/proc/sys/net` that the kernel shows in every network
/// namespace but that set global state: bound read-only. The one known
/// today: `net.netfilter.nf_hooks_lwtunnel` turns on a global static key,
/// and once on it cannot be turned off without a reboot
/// (`net/netfilter/nf_hooks_lwtunnel.c`).
pub(crate) const GLOBAL_NET_SYSCTLS: &[&str] = &["net/netfilter/nf_hooks_lwtunnel"];

/// What one top-level entry of the host's `/` is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum EntryKind {
    /// A directory.
    Dir,
    /// A symbolic link with its target, e.g. `bin -> usr/bin`.
    Symlink(PathBuf),
    /// A regular file.
    File,
    /// Sockets, fifos, devices at top level: left out.
    Other,
}

/// What PID 2 knows about the host before setup, all absolute host paths.
#[derive(Debug, Clone)]
pub(crate) struct HostView {
    /// Top-level entries of `/`.
    pub(crate) root_entries: Vec<(String, EntryKind)>,
    /// Every mount point of the host mount table.
    pub(crate) mount_points: Vec<PathBuf>,
    /// Whether `/var/tmp` is a directory on the host.
    pub(crate) has_var_tmp: bool,
    /// Whether the kernel has `/proc/sysrq-trigger` (CONFIG_MAGIC_SYSRQ).
    pub(crate) has_sysrq_trigger: bool,
    /// The entries of [`NAMESPACED_SYSCTLS`] and [`GLOBAL_NET_SYSCTLS`]
    /// this kernel has.
    pub(crate) sysctls: Vec<String>,
    /// Host-wide knobs at the top of `/proc` (see [`is_proc_knob`]).
    pub(crate) proc_knobs: Vec<String>,
    /// Which of [`MASKED_PROC_FILES`] this kernel has.
    pub(crate) proc_files: Vec<String>,
}

/// Files of `/proc` shown empty in a sandbox: they list the kernel keyring's
/// keys (descriptions, owners) across all namespaces.
pub(crate) const MASKED_PROC_FILES: &[&str] = &["keys", "key-users"];

/// Whether a top-level `/proc` entry must be read-only in a sandbox: every
/// directory but the per-process ones, `sys` (bound entry by entry) and
/// `pressure` (its triggers belong to the open file), and every file with
/// a write bit. They are host-wide and guarded only by file mode (owner:
/// host root), which root inside passes with the identity map: PCI config
/// space in `bus/pci`, IRQ affinities in `irq`, `mtrr`, `sysrq-trigger`.
pub(crate) fn is_proc_knob(name: &str, is_dir: bool, mode: u32) -> bool {
    if name.bytes().all(|b| b.is_ascii_digit()) || matches!(name, "self" | "thread-self" | "sys" | "pressure") {
        return false;
    }
    is_dir || mode & 0o222 != 0
}

/// What the test asked for.
#[derive(Debug, Clone)]
pub(crate) struct SandboxConfig {
    /// Hostname inside the UTS namespace.
    pub(crate) hostname: String,
    /// The working directory to return to after `pivot_root`.
    pub(crate) cwd: PathBuf,
    /// Host paths that must stay visible (crate dir, working dir, test
    /// binary's dir) even under a directory that gets a fresh tmpfs.
    pub(crate) keep: Vec<PathBuf>,
    /// Root inside maps to one unprivileged host user: no `gid=5` for devpts,
    /// and the setup runs inside a user namespace (host mounts are locked).
    pub(crate) rootless: bool,
    /// Lock the finished sandbox in a nested user namespace (all but
    /// `privileged = true`).
    pub(crate) lock: bool,
    /// The size of every tmpfs (bounded by the memory limit: a full tmpfs
    /// then fails with ENOSPC rather than taking the host's memory).
    pub(crate) tmpfs_bytes: u64,
    /// The sandbox's cgroup leaves on the host, shown read-only at its
    /// `/sys/fs/cgroup` (name empty: the directory itself).
    pub(crate) cgroup_views: Vec<(String, PathBuf)>,
    /// The root filesystem, with every host path resolved.
    pub(crate) rootfs: ResolvedRootfs,
}

/// The base of the root filesystem after resolution on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ResolvedBase {
    /// The host's files, copy-on-write.
    Host,
    /// The host's files, read-only.
    HostRo,
    /// The host's static busybox at `binary`, with links for `applets`
    /// (relative paths such as `usr/bin/awk`).
    Busybox { binary: PathBuf, applets: Vec<PathBuf> },
    /// Absolute host directories, bottom first.
    Layers(Vec<PathBuf>),
}

/// Whether a bind source is a directory or something else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceKind {
    /// A directory: the target is created as one.
    Dir,
    /// Anything else: the target is created as an empty file.
    File,
}

/// An entry on top of the base, with host paths resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ResolvedEntry {
    /// A bind of an absolute host path.
    Bind { src: PathBuf, kind: SourceKind, dst: PathBuf, rw: bool },
    /// A tmpfs.
    Tmpfs { dst: PathBuf },
    /// A read-only file.
    File { dst: PathBuf, contents: Vec<u8> },
    /// A symbolic link.
    Symlink { link: PathBuf, target: PathBuf },
}

/// The root filesystem ready to be planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedRootfs {
    /// The base.
    pub(crate) base: ResolvedBase,
    /// Entries on top, in order.
    pub(crate) entries: Vec<ResolvedEntry>,
}

impl ResolvedRootfs {
    /// The host's files, copy-on-write, nothing on top.
    #[cfg(test)]
    pub(crate) fn host() -> Self {
        Self { base: ResolvedBase::Host, entries: Vec::new() }
    }
}

/// What the setup does when the kernel refuses an overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OverlayFallback {
    /// Fail the setup: an image has no read-only equivalent.
    Fail,
    /// Bind the (single) lower directory read-only and recursively: it
    /// stays visible, and writes below it fail with EROFS.
    ReadonlyBind,
    /// Run these operations instead: for the host's whole root, a tmpfs
    /// with each top-level entry bound read-only.
    Ops(Vec<Op>),
}

/// One kernel operation of the setup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    /// `mount(NULL, "/", NULL, MS_REC|MS_PRIVATE)`.
    MakeRootPrivate,
    /// `sethostname`.
    SetHostname(String),
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
    Overlay { lowers: Vec<PathBuf>, upper: PathBuf, work: PathBuf, target: PathBuf, fallback: OverlayFallback },
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
            Op::LoopbackUp => "loopback_up",
            Op::Mkdir(_) | Op::SkeletonDirs { .. } => "mkdir",
            Op::Touch(_) | Op::WriteFile { .. } | Op::CopyFile { .. } => "create_file",
            Op::Symlink { .. } => "symlink",
            Op::Tmpfs { .. } => "mount_tmpfs",
            Op::Chdir(_) => "chdir",
            Op::PivotRoot { .. } => "pivot_root",
            Op::DetachUnmount(_) => "umount",
            Op::Overlay { .. } => "mount_overlay",
            Op::Bind { .. } => "bind_mount",
            Op::RemountReadonly(_) | Op::ReadonlyTree(_) => "remount_readonly",
            Op::Proc(_) => "mount_proc",
            Op::Sysfs { .. } => "mount_sysfs",
            Op::Devpts { .. } => "mount_devpts",
            Op::DevTmpfs { .. } => "mount_tmpfs",
            Op::CharDevice { .. } => "mknod",
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
            Op::LoopbackUp => "bring the loopback interface `lo` up".into(),
            Op::Mkdir(p) => format!("create directory {}", show(p)),
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

/// `base` joined with the absolute `path` (`/newroot` + `/usr` = `/newroot/usr`).
pub(crate) fn under(base: &str, path: &Path) -> PathBuf {
    let rel = path.strip_prefix("/").unwrap_or(path);
    if rel.as_os_str().is_empty() { PathBuf::from(base) } else { Path::new(base).join(rel) }
}

/// Whether some mount point lies strictly below `dir`.
fn has_submounts(dir: &Path, mount_points: &[PathBuf]) -> bool {
    mount_points.iter().any(|m| m != dir && m.starts_with(dir))
}

/// Builds the whole setup sequence.
pub(crate) fn plan(config: &SandboxConfig, host: &HostView) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut layer = 0usize;
    let base = &config.rootfs.base;
    // An image's `/etc/hosts` names the sandbox; the host's would name the
    // host and its network, which an image root does not share.
    let hosts = if matches!(base, ResolvedBase::Layers(_)) { Hosts::Generated } else { Hosts::FromHost };
    // `lowers` bottom first, as in `Rootfs::layers`.
    // `own_etc`: the sandbox's own `/etc` files go into the upper layer
    // before the overlay is mounted.
    // `own_etc`: where in the upper layer `/etc` is (`""` for an overlay
    // of `/etc` itself, `"etc"` for one of `/`).
    let mut overlay = |ops: &mut Vec<Op>, lowers: Vec<PathBuf>, target: PathBuf, own_etc: Option<&str>| {
        let dir = PathBuf::from(LAYERS).join(layer.to_string());
        layer += 1;
        ops.push(Op::Mkdir(dir.join("upper")));
        ops.push(Op::Mkdir(dir.join("work")));
        if let Some(etc) = own_etc {
            let etc = dir.join("upper").join(etc);
            if etc != dir.join("upper") {
                ops.push(Op::Mkdir(etc.clone()));
            }
            ops.extend(own_etc_files(&etc, &config.hostname, hosts));
        }
        let fallback = if target != Path::new(NEW_ROOT) {
            OverlayFallback::ReadonlyBind
        } else if lowers == [PathBuf::from(OLD_ROOT)] {
            OverlayFallback::Ops(readonly_host_root(host, config.tmpfs_bytes))
        } else {
            OverlayFallback::Fail
        };
        ops.push(Op::Overlay { lowers, upper: dir.join("upper"), work: dir.join("work"), target, fallback });
    };

    // First, always: without this, on a host whose `/` is shared (every
    // systemd host) the mounts below would propagate back to the host.
    ops.push(Op::MakeRootPrivate);
    ops.push(Op::CgroupNamespace);
    if config.lock {
        ops.push(Op::EnterNamespaces);
    }
    ops.push(Op::SetHostname(config.hostname.clone()));
    ops.push(Op::LoopbackUp);

    // Enter a staging tmpfs so the host tree is reachable at /oldroot while
    // /newroot is assembled. pivot_root needs both to be mount points.
    ops.push(Op::Tmpfs { target: STAGING.into(), mode: 0o755, size: config.tmpfs_bytes });
    ops.push(Op::Chdir(STAGING.into()));
    ops.push(Op::Mkdir(under(STAGING, Path::new(OLD_ROOT))));
    ops.push(Op::PivotRoot { new_root: ".".into(), put_old: OLD_ROOT.trim_start_matches('/').into() });
    ops.push(Op::Chdir("/".into()));
    ops.push(Op::Mkdir(NEW_ROOT.into()));
    ops.push(Op::Mkdir(LAYERS.into()));
    let new_root_tmpfs = Op::Tmpfs { target: NEW_ROOT.into(), mode: 0o755, size: config.tmpfs_bytes };
    if !matches!(base, ResolvedBase::Host | ResolvedBase::HostRo) {
        ops.push(new_root_tmpfs.clone());
    }

    match base {
        ResolvedBase::Host if !config.rootless => {
            // As host root the setup runs outside any user namespace, so
            // the host's root filesystem can be one overlay: a single mount
            // where one per top-level directory cost a dozen or more. An
            // overlay shows only its lower directory's own filesystem; the
            // other host filesystems come back on top, each tree once at
            // its topmost mount point: copy-on-write too when it is a
            // top-level directory (a separate `/home`, `/boot` or `/var`),
            // read-only binds deeper down (as for the per-directory plan).
            let etc_is_mount = host.mount_points.iter().any(|m| m == Path::new("/etc"));
            overlay(&mut ops, vec![OLD_ROOT.into()], NEW_ROOT.into(), (!etc_is_mount).then_some("etc"));
            for sub in topmost_submounts(Path::new("/"), &host.mount_points) {
                if NOT_OVERLAID.iter().any(|dir| sub.starts_with(Path::new("/").join(dir))) || is_own_etc_file(&sub) {
                    continue;
                }
                let target = under(NEW_ROOT, &sub);
                let source = under(OLD_ROOT, &sub);
                let name = sub.strip_prefix("/").unwrap_or(&sub).to_string_lossy().into_owned();
                let top_level_dir = host.root_entries.iter().any(|(n, kind)| *n == name && *kind == EntryKind::Dir);
                if top_level_dir {
                    overlay(&mut ops, vec![source], target, (name == "etc").then_some(""));
                    for deeper in topmost_submounts(&sub, &host.mount_points) {
                        if !is_own_etc_file(&deeper) {
                            ops.push(Op::Bind {
                                source: under(OLD_ROOT, &deeper),
                                target: under(NEW_ROOT, &deeper),
                                recursive: true,
                                readonly: true,
                            });
                        }
                    }
                } else {
                    // The mount point exists in the lower filesystem (a
                    // directory or file there), so nothing is created: a
                    // `Touch` would copy a file up.
                    ops.push(Op::Bind { source, target, recursive: true, readonly: true });
                }
            }
        }
        ResolvedBase::HostRo => ops.extend(readonly_host_root(host, config.tmpfs_bytes)),
        ResolvedBase::Host => {
            // Rootless: the host's files one top-level directory at a time,
            // since inside a user namespace an overlay of `/` is refused
            // (`/` has locked submounts), per-directory overlays are not.
            ops.push(new_root_tmpfs);
            host_top_level(host, &mut ops, |ops, name, source, target| {
                if has_submounts(&Path::new("/").join(name), &host.mount_points) {
                    // The kernel refuses to overlay a directory with
                    // locked submounts: it is bound read-only whole.
                    ops.push(Op::Bind { source, target, recursive: true, readonly: true });
                } else {
                    // No submounts: the overlay shows all.
                    overlay(ops, vec![source], target, (name == "etc").then_some(""));
                }
            });
        }
        ResolvedBase::Busybox { binary, applets } => {
            // A throw-away root on the /newroot tmpfs: the binary, a link per
            // applet, and just enough /etc for `id` and `ls -l`.
            for dir in ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "var"] {
                ops.push(Op::Mkdir(Path::new(NEW_ROOT).join(dir)));
            }
            let target = under(NEW_ROOT, Path::new("/bin/busybox"));
            ops.push(Op::Touch(target.clone()));
            ops.push(Op::Bind { source: under(OLD_ROOT, binary), target, recursive: false, readonly: true });
            for applet in applets {
                let link = under(NEW_ROOT, &Path::new("/").join(applet));
                if link != Path::new(NEW_ROOT).join("bin/busybox") {
                    ops.push(Op::Symlink { target: "/bin/busybox".into(), link });
                }
            }
            ops.push(Op::WriteFile {
                path: Path::new(NEW_ROOT).join("etc/passwd"),
                contents: b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n".to_vec(),
            });
            ops.push(Op::WriteFile {
                path: Path::new(NEW_ROOT).join("etc/group"),
                contents: b"root:x:0:\ntty:x:5:\nnogroup:x:65534:\n".to_vec(),
            });
            ops.extend(own_etc_files(&Path::new(NEW_ROOT).join("etc"), &config.hostname, Hosts::FromHost));
        }
        ResolvedBase::Layers(layers) => {
            // The image under a throw-away upper layer; the image is never
            // modified. Its `/etc` gets the sandbox's own files, as a host
            // root's does (a debootstrap root carries the build host's
            // `hostname` and `resolv.conf`, and no `hosts`).
            let lowers = layers.iter().map(|l| under(OLD_ROOT, l)).collect();
            overlay(&mut ops, lowers, NEW_ROOT.into(), Some("etc"));
        }
    }

    // A private procfs: PID 2 is inside the new PID namespace, so it shows
    // only the sandbox. With an identity uid map the test's euid is the
    // host's root for sysctl permission checks, so everything but the
    // per-namespace net/ must be read-only at the mount level.
    let proc = under(NEW_ROOT, Path::new("/proc"));
    let proc_sys = proc.join("sys");
    let proc_sys_net = proc_sys.join("net");
    let sysrq = proc.join("sysrq-trigger");
    ops.push(Op::Mkdir(proc.clone()));
    ops.push(Op::Proc(proc.clone()));
    ops.push(Op::Bind { source: proc_sys.clone(), target: proc_sys.clone(), recursive: false, readonly: false });
    ops.push(Op::Bind { source: proc_sys_net.clone(), target: proc_sys_net, recursive: false, readonly: false });
    // The per-namespace knobs writable, each on its own bind, before
    // `/proc/sys` goes read-only; the global ones below `net/` read-only.
    for name in &host.sysctls {
        let path = proc_sys.join(name);
        let readonly = GLOBAL_NET_SYSCTLS.contains(&name.as_str());
        ops.push(Op::Bind { source: path.clone(), target: path, recursive: false, readonly });
    }
    ops.push(Op::RemountReadonly(proc_sys));
    if host.has_sysrq_trigger {
        ops.push(Op::Bind { source: sysrq.clone(), target: sysrq, recursive: false, readonly: true });
    }
    for knob in host.proc_knobs.iter().filter(|k| k.as_str() != "sysrq-trigger") {
        let path = proc.join(knob);
        ops.push(Op::Bind { source: path.clone(), target: path, recursive: true, readonly: true });
    }
    // The keyring is refused inside (see `sys::seccomp`); these list the
    // caller's keys by description, so they show nothing.
    let empty = Path::new(LAYERS).join("empty");
    ops.push(Op::WriteFile { path: empty.clone(), contents: Vec::new() });
    for masked in MASKED_PROC_FILES {
        if host.proc_files.iter().any(|f| f == masked) {
            ops.push(Op::Bind { source: empty.clone(), target: proc.join(masked), recursive: false, readonly: true });
        }
    }

    // sysfs can be mounted because the net namespace is ours.
    let sys = under(NEW_ROOT, Path::new("/sys"));
    ops.push(Op::Mkdir(sys.clone()));
    ops.push(Op::Sysfs { target: sys.clone(), fallback: under(OLD_ROOT, Path::new("/sys")) });

    // The sandbox's own cgroup, read-only, where runtimes and tools look
    // for their limits (the cgroup namespace makes it their root).
    let cgroup_root = sys.join("fs/cgroup");
    match config.cgroup_views.as_slice() {
        [] => {}
        [(name, leaf)] if name.is_empty() => {
            ops.push(Op::Bind { source: under(OLD_ROOT, leaf), target: cgroup_root, recursive: false, readonly: true });
        }
        views => {
            ops.push(Op::Tmpfs { target: cgroup_root.clone(), mode: 0o755, size: 1 << 20 });
            for (name, leaf) in views {
                let target = cgroup_root.join(name);
                ops.push(Op::Mkdir(target.clone()));
                ops.push(Op::Bind { source: under(OLD_ROOT, leaf), target, recursive: false, readonly: false });
            }
            ops.push(Op::ReadonlyTree(cgroup_root));
        }
    }

    // A minimal /dev.
    let dev = under(NEW_ROOT, Path::new("/dev"));
    ops.push(Op::Mkdir(dev.clone()));
    if config.rootless {
        // A user namespace can neither make device nodes nor use them on a
        // tmpfs it mounts: the host's own nodes are bound in, read-only so
        // that their mode, owner and times stay the host's (the devices
        // themselves still work on a read-only mount).
        ops.push(Op::Tmpfs { target: dev.clone(), mode: 0o755, size: config.tmpfs_bytes });
        for &(name, _, _) in DEVICES {
            ops.push(Op::Touch(dev.join(name)));
            ops.push(Op::Bind {
                source: under(OLD_ROOT, &Path::new("/dev").join(name)),
                target: dev.join(name),
                recursive: false,
                readonly: true,
            });
        }
    } else {
        // As host root, nodes of the sandbox's own: one `mknod` each where a
        // bind took three calls, and a `chmod` inside changes only them.
        ops.push(Op::DevTmpfs { target: dev.clone(), size: config.tmpfs_bytes });
        for &(name, major, minor) in DEVICES {
            ops.push(Op::CharDevice { path: dev.join(name), major, minor });
        }
    }
    ops.push(Op::Mkdir(dev.join("pts")));
    ops.push(Op::Devpts { target: dev.join("pts"), tty_gid: !config.rootless });
    ops.push(Op::Symlink { target: "pts/ptmx".into(), link: dev.join("ptmx") });
    ops.push(Op::Mkdir(dev.join("shm")));
    ops.push(Op::Tmpfs { target: dev.join("shm"), mode: 0o1777, size: config.tmpfs_bytes });
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        ops.push(Op::Symlink { target: target.into(), link: dev.join(name) });
    }

    // Fresh scratch directories.
    let mut fresh: Vec<&str> = Vec::new();
    for &(dir, mode) in FRESH_TMPFS {
        if dir == "/var/tmp" && !host.has_var_tmp {
            continue;
        }
        let target = under(NEW_ROOT, Path::new(dir));
        ops.push(Op::Mkdir(target.clone()));
        ops.push(Op::Tmpfs { target, mode, size: config.tmpfs_bytes });
        fresh.push(dir);
    }
    // An image's `/run` skeleton, as its distribution's boot would make it
    // (Debian's `/var/lock` is a link to `/run/lock`).
    if let ResolvedBase::Layers(layers) = base {
        let from = layers.iter().map(|l| under(OLD_ROOT, l).join("run")).collect();
        ops.push(Op::SkeletonDirs { from, to: under(NEW_ROOT, Path::new("/run")) });
    }

    // On the host's files, kept paths hidden by a fresh tmpfs come back,
    // as the rest of the host's files are (copy-on-write or read-only).
    // Other roots show nothing of the host unless asked with `bind`.
    let host_based = matches!(base, ResolvedBase::Host | ResolvedBase::HostRo);
    for keep in outermost(&config.keep).into_iter().filter(|_| host_based) {
        if fresh.iter().any(|dir| keep.starts_with(dir) && keep != Path::new(dir)) {
            let target = under(NEW_ROOT, &keep);
            ops.push(Op::Mkdir(target.clone()));
            if *base == ResolvedBase::HostRo {
                ops.push(Op::Bind { source: under(OLD_ROOT, &keep), target, recursive: true, readonly: true });
            } else {
                overlay(&mut ops, vec![under(OLD_ROOT, &keep)], target, None);
            }
        }
    }

    // The test's own entries, last, so they can go anywhere (even into the
    // fresh /tmp).
    for (i, entry) in config.rootfs.entries.iter().enumerate() {
        match entry {
            ResolvedEntry::Bind { src, kind, dst, rw } => {
                let target = under(NEW_ROOT, dst);
                match kind {
                    SourceKind::Dir => ops.push(Op::Mkdir(target.clone())),
                    SourceKind::File => {
                        if let Some(parent) = target.parent() {
                            ops.push(Op::Mkdir(parent.to_path_buf()));
                        }
                        ops.push(Op::Touch(target.clone()));
                    }
                }
                ops.push(Op::Bind { source: under(OLD_ROOT, src), target, recursive: true, readonly: !rw });
            }
            ResolvedEntry::Tmpfs { dst } => {
                let target = under(NEW_ROOT, dst);
                ops.push(Op::Mkdir(target.clone()));
                ops.push(Op::Tmpfs { target, mode: 0o755, size: config.tmpfs_bytes });
            }
            ResolvedEntry::File { dst, contents } => {
                // Written to the scaffolding tmpfs and bound read-only, so it
                // also works on a read-only base.
                let staged = Path::new(LAYERS).join(format!("file-{i}"));
                let target = under(NEW_ROOT, dst);
                ops.push(Op::WriteFile { path: staged.clone(), contents: contents.clone() });
                if let Some(parent) = target.parent() {
                    ops.push(Op::Mkdir(parent.to_path_buf()));
                }
                ops.push(Op::Touch(target.clone()));
                ops.push(Op::Bind { source: staged, target, recursive: false, readonly: true });
            }
            ResolvedEntry::Symlink { link, target } => {
                let link = under(NEW_ROOT, link);
                if let Some(parent) = link.parent() {
                    ops.push(Op::Mkdir(parent.to_path_buf()));
                }
                ops.push(Op::Symlink { target: target.clone(), link });
            }
        }
    }

    // Make /newroot the root. pivot_root(".", ".") stacks the old root on
    // top of the new one; detaching "." then drops it and everything below
    // it, host tree included, from this mount namespace.
    ops.push(Op::KeepLayers);
    ops.push(Op::Chdir(NEW_ROOT.into()));
    ops.push(Op::PivotRoot { new_root: ".".into(), put_old: ".".into() });
    ops.push(Op::DetachUnmount(".".into()));
    ops.push(Op::Chdir(if host_based { config.cwd.clone() } else { "/".into() }));

    // Last, the lock: nothing after it can be mounted by the setup alone;
    // then no cgroup namespace of the body's own and no keyring (see
    // `sys::seccomp`).
    if config.lock {
        ops.push(Op::Lock);
        ops.push(Op::Seccomp);
    }
    ops
}

/// Where a sandbox's `/etc/hosts` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hosts {
    /// The host's (roots on the host's files, busybox).
    FromHost,
    /// Made for the sandbox: localhost and its hostname (image roots).
    Generated,
}

/// The files of `/etc` every sandbox gets as its own, as container engines
/// provide them: `hosts`, `hostname` (the sandbox's) and `resolv.conf`,
/// made in `dir`: the upper layer of the `/etc` overlay before it is
/// mounted (or a busybox root's `/etc`). So they are regular files owned
/// by root inside, writable in every mode (rootless too, where a copy-up
/// of the host's root-owned files is refused), and not reported as
/// changes unless the test changes them.
fn own_etc_files(dir: &Path, hostname: &str, hosts: Hosts) -> Vec<Op> {
    let from = |name: &str| under(OLD_ROOT, &Path::new("/etc").join(name));
    let generated = format!(
        "127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
    );
    let hosts = match hosts {
        Hosts::FromHost => Op::CopyFile {
            from: from("hosts"),
            to: dir.join("hosts"),
            fallback: Some(format!("127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost\n").into_bytes()),
        },
        Hosts::Generated => Op::WriteFile { path: dir.join("hosts"), contents: generated.into_bytes() },
    };
    vec![
        hosts,
        Op::WriteFile { path: dir.join("hostname"), contents: format!("{hostname}\n").into_bytes() },
        Op::CopyFile { from: from("resolv.conf"), to: dir.join("resolv.conf"), fallback: None },
    ]
}

/// The host's root as a tmpfs with each top-level entry bound read-only
/// (directories recursively), the kernel's and the scratch directories
/// only created: what a host whose root filesystem overlayfs refuses gets.
fn readonly_host_root(host: &HostView, tmpfs_bytes: u64) -> Vec<Op> {
    let mut ops = vec![Op::Tmpfs { target: NEW_ROOT.into(), mode: 0o755, size: tmpfs_bytes }];
    host_top_level(host, &mut ops, |ops, _, source, target| {
        ops.push(Op::Bind { source, target, recursive: true, readonly: true });
    });
    ops
}

/// The host's top-level entries on the `/newroot` tmpfs: symlinks copied,
/// files bound read-only, the kernel's and the scratch directories only
/// created, and every other directory created and handed to `dir` (with
/// its name, host source and target) to be filled.
fn host_top_level(host: &HostView, ops: &mut Vec<Op>, mut dir: impl FnMut(&mut Vec<Op>, &str, PathBuf, PathBuf)) {
    for (name, kind) in &host.root_entries {
        let host_path = Path::new("/").join(name);
        let (source, target) = (under(OLD_ROOT, &host_path), under(NEW_ROOT, &host_path));
        match kind {
            EntryKind::Dir if NOT_OVERLAID.contains(&name.as_str()) => ops.push(Op::Mkdir(target)),
            EntryKind::Dir => {
                ops.push(Op::Mkdir(target.clone()));
                dir(ops, name, source, target);
            }
            EntryKind::Symlink(link_target) => ops.push(Op::Symlink { target: link_target.clone(), link: target }),
            EntryKind::File => {
                ops.push(Op::Touch(target.clone()));
                ops.push(Op::Bind { source, target, recursive: false, readonly: true });
            }
            EntryKind::Other => {}
        }
    }
}

/// Whether `path` is one of the `/etc` files every sandbox has as its own
/// (see [`own_etc_files`]): a host that bind-mounts them (a container's
/// `/etc/resolv.conf`) must not put its read-only copy back on top.
fn is_own_etc_file(path: &Path) -> bool {
    ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"].iter().any(|own| path == Path::new(own))
}

/// The mount points strictly below `dir` that are not below another one
/// of them: binding each recursively brings back the whole tree once.
fn topmost_submounts(dir: &Path, mount_points: &[PathBuf]) -> Vec<PathBuf> {
    let below: Vec<PathBuf> =
        mount_points.iter().filter(|m| m.as_path() != dir && m.starts_with(dir)).cloned().collect();
    outermost(&below)
}

/// The scratch directories a plan mounts a fresh tmpfs on, as paths inside
/// the sandbox.
pub(crate) fn scratch(ops: &[Op]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = ops
        .iter()
        .filter_map(|op| match op {
            Op::Tmpfs { target, .. } => {
                let inside = Path::new("/").join(target.strip_prefix(NEW_ROOT).ok()?);
                SCRATCH.iter().any(|dir| inside == Path::new(dir)).then_some(inside)
            }
            _ => None,
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// The overlays of a plan as `(upper layer, path inside the sandbox)`.
pub(crate) fn uppers(ops: &[Op]) -> Vec<(PathBuf, PathBuf)> {
    ops.iter()
        .filter_map(|op| match op {
            Op::Overlay { upper, target, .. } => {
                let inside = target.strip_prefix(NEW_ROOT).ok()?;
                Some((upper.clone(), Path::new("/").join(inside)))
            }
            _ => None,
        })
        .collect()
}

/// The absolute paths of `paths` that lie under no other of them, sorted,
/// each once.
fn outermost(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut sorted: Vec<PathBuf> = paths.iter().filter(|p| p.is_absolute()).cloned().collect();
    sorted.sort();
    sorted.dedup();
    let mut out: Vec<PathBuf> = Vec::new();
    for p in sorted {
        if !out.iter().any(|kept| p.starts_with(kept)) {
            out.push(p);
        }
    }
    out
}

/// Escapes a path for an overlayfs option value (`,`, `:` and `\` are
/// separators there).
pub(crate) fn escape_overlay_path(path: &Path) -> String {
    let mut out = String::new();
    for ch in path.to_string_lossy().chars() {
        if matches!(ch, ',' | ':' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn host() -> HostView {
        HostView {
            root_entries: vec![
                ("bin".into(), EntryKind::Symlink("usr/bin".into())),
                ("dev".into(), EntryKind::Dir),
                ("etc".into(), EntryKind::Dir),
                ("mnt".into(), EntryKind::Dir),
                ("proc".into(), EntryKind::Dir),
                ("tmp".into(), EntryKind::Dir),
                ("usr".into(), EntryKind::Dir),
                ("swapfile".into(), EntryKind::File),
            ],
            mount_points: vec!["/".into(), "/proc".into(), "/mnt/data".into()],
            has_var_tmp: true,
            has_sysrq_trigger: true,
            sysctls: ["kernel/hostname", "kernel/shmmax", "fs/mqueue", "net/netfilter/nf_hooks_lwtunnel"]
                .map(Into::into)
                .to_vec(),
            proc_knobs: vec!["bus".into(), "mtrr".into()],
            proc_files: vec!["keys".into()],
        }
    }

    fn config() -> SandboxConfig {
        SandboxConfig {
            hostname: "box".into(),
            cwd: "/tmp/crate".into(),
            keep: vec!["/tmp/crate".into(), "/tmp/crate/target/debug".into(), "/usr/src".into()],
            rootless: false,
            lock: true,
            tmpfs_bytes: 64 << 20,
            cgroup_views: vec![("memory".into(), "/sys/fs/cgroup/memory/isolated-test-1-0".into())],
            rootfs: ResolvedRootfs::host(),
        }
    }

    /// The ops after the final `chdir` into the sandbox: the lock and what
    /// must happen in its namespaces.
    fn after_setup(ops: &[Op]) -> &[Op] {
        let chdir = ops.iter().rposition(|op| matches!(op, Op::Chdir(_))).unwrap();
        &ops[chdir + 1..]
    }

    fn position(ops: &[Op], pred: impl Fn(&Op) -> bool) -> usize {
        ops.iter().position(pred).expect("op present")
    }

    #[test]
    fn making_root_private_comes_first() {
        let ops = plan(&config(), &host());
        assert_eq!(ops[0], Op::MakeRootPrivate);
        let first_mount = position(&ops, |op| matches!(op, Op::Tmpfs { .. }));
        assert!(first_mount > 0);
    }

    #[test]
    fn every_overlay_and_special_mount_precedes_the_final_pivot() {
        let ops = plan(&config(), &host());
        let final_pivot = ops
            .iter()
            .rposition(|op| matches!(op, Op::PivotRoot { new_root, put_old } if new_root == Path::new(".") && put_old == Path::new(".")))
            .unwrap();
        for (i, op) in ops.iter().enumerate() {
            if matches!(op, Op::Overlay { .. } | Op::Proc(_) | Op::Sysfs { .. } | Op::Devpts { .. }) {
                assert!(i < final_pivot, "{op:?} after the pivot");
            }
        }
        assert_eq!(ops[final_pivot + 1], Op::DetachUnmount(".".into()));
        assert_eq!(ops[final_pivot + 2], Op::Chdir("/tmp/crate".into()));
    }

    #[test]
    fn namespaces_are_entered_before_anything_and_locked_after_everything() {
        let ops = plan(&config(), &host());
        assert_eq!(
            &ops[..5],
            [
                Op::MakeRootPrivate,
                Op::CgroupNamespace,
                Op::EnterNamespaces,
                Op::SetHostname("box".into()),
                Op::LoopbackUp
            ]
        );
        assert_eq!(after_setup(&ops), [Op::Lock, Op::Seccomp]);
        let mut privileged = config();
        privileged.lock = false;
        let ops = plan(&privileged, &host());
        assert_eq!(
            &ops[..4],
            [Op::MakeRootPrivate, Op::CgroupNamespace, Op::SetHostname("box".into()), Op::LoopbackUp]
        );
        assert!(after_setup(&ops).is_empty());
        assert!(!ops.contains(&Op::Lock) && !ops.contains(&Op::EnterNamespaces));
    }

    fn rootless() -> SandboxConfig {
        SandboxConfig { rootless: true, ..config() }
    }

    fn overlay_of(ops: &[Op], lower: &str) -> Option<usize> {
        ops.iter().position(|op| matches!(op, Op::Overlay { lowers, .. } if lowers == &[PathBuf::from(lower)]))
    }

    /// A host with a separate `/home` (carrying a mount of its own), a
    /// bind-mounted file at the top and a container's `/etc/resolv.conf`.
    fn host_with_filesystems() -> HostView {
        let mut view = host();
        view.root_entries.push(("home".into(), EntryKind::Dir));
        view.root_entries.push((".dockerenv".into(), EntryKind::File));
        view.root_entries.sort();
        view.mount_points.extend(
            ["/home", "/home/big", "/.dockerenv", "/etc/resolv.conf", "/dev/shm", "/sys/fs/cgroup"].map(PathBuf::from),
        );
        view
    }

    #[test]
    fn as_root_the_hosts_root_filesystem_is_one_overlay_with_the_other_filesystems_on_top() {
        let ops = plan(&config(), &host_with_filesystems());
        let root = overlay_of(&ops, "/oldroot").expect("one overlay of the host's /");
        let Op::Overlay { target, fallback, .. } = &ops[root] else { unreachable!() };
        assert_eq!(target, Path::new(NEW_ROOT));
        assert!(!ops.contains(&Op::Tmpfs { target: NEW_ROOT.into(), mode: 0o755, size: 64 << 20 }));
        // No overlay per top-level directory of the root filesystem.
        for dir in ["/oldroot/usr", "/oldroot/etc", "/oldroot/mnt", "/oldroot/proc", "/oldroot/tmp"] {
            assert_eq!(overlay_of(&ops, dir), None, "{dir}");
        }
        // A top-level directory that is a filesystem of its own stays
        // copy-on-write, with its own submounts read-only on top.
        let home = overlay_of(&ops, "/oldroot/home").expect("/home is copy-on-write");
        let bind_ro = |source: &str| {
            ops.iter().position(|op| {
                matches!(op, Op::Bind { source: s, target, recursive: true, readonly: true }
                if s == Path::new(source) && target == &under(NEW_ROOT, s.strip_prefix(OLD_ROOT).unwrap()))
            })
        };
        assert!(root < home && home < bind_ro("/oldroot/home/big").expect("/home/big"));
        // Deeper filesystems and bind-mounted files come back read-only, on
        // top of the root overlay, and nothing is created for them.
        assert!(root < bind_ro("/oldroot/mnt/data").expect("/mnt/data"));
        assert!(root < bind_ro("/oldroot/.dockerenv").expect("/.dockerenv"));
        assert!(!ops.contains(&Op::Touch("/newroot/.dockerenv".into())), "a touch would copy the file up");
        // The kernel's filesystems and scratch directories are made fresh;
        // the sandbox's own /etc files are not covered by the host's.
        for source in ["/oldroot/proc", "/oldroot/dev/shm", "/oldroot/sys/fs/cgroup", "/oldroot/etc/resolv.conf"] {
            assert_eq!(bind_ro(source), None, "{source}");
        }
        // If the kernel refuses it, each top-level entry is bound read-only.
        let OverlayFallback::Ops(instead) = fallback else { panic!("{fallback:?}") };
        assert_eq!(instead[0], Op::Tmpfs { target: NEW_ROOT.into(), mode: 0o755, size: 64 << 20 });
        assert!(instead.iter().any(|op| matches!(op, Op::Bind { source, recursive: true, readonly: true, .. }
            if source == Path::new("/oldroot/usr"))));
        assert!(instead.contains(&Op::Symlink { target: "usr/bin".into(), link: "/newroot/bin".into() }));
        assert!(
            !instead.iter().any(|op| matches!(op, Op::Bind { source, .. } if source == Path::new("/oldroot/proc")))
        );
    }

    #[test]
    fn rootless_host_directories_are_overlaid_one_by_one() {
        let ops = plan(&rootless(), &host_with_filesystems());
        assert_eq!(overlay_of(&ops, "/oldroot"), None, "refused in a user namespace: / has locked submounts");
        assert!(ops.contains(&Op::Tmpfs { target: NEW_ROOT.into(), mode: 0o755, size: 64 << 20 }));
        let Op::Overlay { target, fallback, .. } = &ops[overlay_of(&ops, "/oldroot/usr").unwrap()] else {
            unreachable!()
        };
        assert_eq!((target.as_path(), fallback), (Path::new("/newroot/usr"), &OverlayFallback::ReadonlyBind));
        // The kernel refuses to overlay a directory with locked submounts:
        // the whole directory is bound read-only (a container's bound
        // `/etc/resolv.conf` makes that `/etc`).
        for dir in ["/oldroot/mnt", "/oldroot/home", "/oldroot/etc"] {
            assert_eq!(overlay_of(&ops, dir), None);
            assert!(ops.iter().any(|op| matches!(op, Op::Bind { source, recursive: true, readonly: true, .. }
                if source == Path::new(dir))));
        }
        for dir in ["/oldroot/proc", "/oldroot/tmp"] {
            assert_eq!(overlay_of(&ops, dir), None);
        }
        assert!(ops.contains(&Op::Symlink { target: "usr/bin".into(), link: "/newroot/bin".into() }));
        assert!(ops.iter().any(|op| matches!(op, Op::Bind { source, readonly: true, recursive: false, .. }
            if source == Path::new("/oldroot/swapfile"))));
    }

    #[test]
    fn device_nodes_are_the_sandboxs_own_as_root_and_the_hosts_read_only_rootless() {
        let ops = plan(&config(), &host());
        let dev = position(&ops, |op| matches!(op, Op::DevTmpfs { target, .. } if target == Path::new("/newroot/dev")));
        for &(name, _, _) in DEVICES {
            let node = position(&ops, |op| matches!(op, Op::CharDevice { path, .. } if path.ends_with(name)));
            assert!(dev < node, "{name}");
        }
        assert!(ops.contains(&Op::CharDevice { path: "/newroot/dev/null".into(), major: 1, minor: 3 }));
        assert!(!ops.iter().any(|op| matches!(op, Op::Bind { source, .. } if source.starts_with("/oldroot/dev"))));

        let ops = plan(&rootless(), &host());
        assert!(!ops.iter().any(|op| matches!(op, Op::DevTmpfs { .. } | Op::CharDevice { .. })));
        for &(name, _, _) in DEVICES {
            let source = Path::new("/oldroot/dev").join(name);
            assert!(
                ops.iter().any(
                    |op| matches!(op, Op::Bind { source: s, readonly: true, recursive: false, .. } if *s == source)
                ),
                "{name} is bound read-only"
            );
        }
    }

    #[test]
    fn etc_hosts_hostname_and_resolv_conf_are_the_sandboxs_own() {
        // In the root overlay's upper layer (as root), or in /etc's own
        // (rootless, or a host whose /etc is a filesystem of its own).
        let mut etc_mounted = host();
        etc_mounted.mount_points.push("/etc".into());
        for (config, view, lower, dir) in [
            (config(), host(), "/oldroot", "etc"),
            (rootless(), host(), "/oldroot/etc", ""),
            (config(), etc_mounted, "/oldroot/etc", ""),
        ] {
            let ops = plan(&config, &view);
            let overlay = overlay_of(&ops, lower).unwrap();
            let Op::Overlay { upper, .. } = &ops[overlay] else { unreachable!() };
            let etc = upper.join(dir);
            let hosts = position(&ops, |op| {
                matches!(op, Op::CopyFile { from, to, fallback: Some(_) }
                if from == Path::new("/oldroot/etc/hosts") && to == &etc.join("hosts"))
            });
            let hostname = position(&ops, |op| {
                matches!(op, Op::WriteFile { path, contents }
                if path == &etc.join("hostname") && contents == b"box\n")
            });
            let resolv = position(
                &ops,
                |op| matches!(op, Op::CopyFile { to, fallback: None, .. } if to == &etc.join("resolv.conf")),
            );
            assert!(hosts < overlay && hostname < overlay && resolv < overlay, "staged before the overlay: {lower}");
            if !dir.is_empty() {
                assert!(position(&ops, |op| *op == Op::Mkdir(etc.clone())) < hosts);
            }
        }
    }

    #[test]
    fn every_overlay_has_its_own_upper_and_work_created_before_it() {
        let ops = plan(&config(), &host());
        let mut uppers = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            if let Op::Overlay { upper, work, .. } = op {
                assert!(ops[..i].contains(&Op::Mkdir(upper.clone())));
                assert!(ops[..i].contains(&Op::Mkdir(work.clone())));
                assert!(upper.starts_with(LAYERS) && work.starts_with(LAYERS));
                uppers.push(upper.clone());
            }
        }
        let n = uppers.len();
        uppers.sort();
        uppers.dedup();
        assert_eq!(uppers.len(), n, "overlays share an upper layer");
    }

    #[test]
    fn proc_sys_is_read_only_except_net() {
        let ops = plan(&config(), &host());
        let net_bind = position(&ops, |op| matches!(op, Op::Bind { target, .. } if target.ends_with("proc/sys/net")));
        let sys_ro = position(&ops, |op| matches!(op, Op::RemountReadonly(p) if p.ends_with("proc/sys")));
        let proc = position(&ops, |op| matches!(op, Op::Proc(_)));
        assert!(proc < net_bind && net_bind < sys_ro, "net must be its own mount before sys goes read-only");
        for (name, readonly) in [
            ("kernel/hostname", false),
            ("kernel/shmmax", false),
            ("fs/mqueue", false),
            ("net/netfilter/nf_hooks_lwtunnel", true),
        ] {
            let bind = position(&ops, |op| {
                matches!(op, Op::Bind { target, readonly: ro, recursive: false, .. }
                if target.ends_with(Path::new("proc/sys").join(name)) && *ro == readonly)
            });
            assert!(net_bind < bind && bind < sys_ro, "{name}");
        }
        assert!(
            ops.iter()
                .any(|op| matches!(op, Op::Bind { target, readonly: true, .. } if target.ends_with("sysrq-trigger")))
        );
        for knob in ["bus", "mtrr"] {
            let bind = position(&ops, |op| {
                matches!(op, Op::Bind { source, target, recursive: true, readonly: true }
                if source == target && target.ends_with(Path::new("proc").join(knob)))
            });
            assert!(bind > proc, "{knob}");
        }
        assert!(is_proc_knob("irq", true, 0o555) && is_proc_knob("mtrr", false, 0o644));
        assert!(ops.iter().any(|op| matches!(op, Op::Bind { source, target, readonly: true, .. }
            if source == Path::new("/layers/empty") && target.ends_with("proc/keys"))));
        assert!(!ops.iter().any(|op| matches!(op, Op::Bind { target, .. } if target.ends_with("proc/key-users"))));
        for (name, dir, mode) in [
            ("1", true, 0o555),
            ("self", true, 0o777),
            ("sys", true, 0o555),
            ("pressure", true, 0o555),
            ("cpuinfo", false, 0o444),
        ] {
            assert!(!is_proc_knob(name, dir, mode), "{name}");
        }
    }

    /// The per-namespace sysctls, derived from the kernel: in a user
    /// namespace whose root is not host root, with new IPC, UTS and network
    /// namespaces, the files the namespace's root owns are the ones the
    /// kernel keeps per namespace (`set_ownership`). Outside `net/`, they
    /// must be exactly the IPC and message queue entries of
    /// [`NAMESPACED_SYSCTLS`]. The UTS entries carry no such owner; they are
    /// checked by behaviour: written in a UTS namespace of its own, the
    /// host's value stays.
    #[test]
    fn namespaced_sysctls_are_what_the_kernel_keeps_per_namespace() {
        use std::process::Command;
        let probe = "find /proc/sys -type f -user 0 2>/dev/null | grep -v '^/proc/sys/net/' | sort";
        let mut cmd = if rustix::process::geteuid().is_root() {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "unshare"]);
            c
        } else {
            Command::new("unshare")
        };
        let out = cmd
            .args(["--user", "--map-root-user", "--ipc", "--uts", "--net", "sh", "-c", probe])
            .output()
            .expect("run unshare (util-linux) to probe the kernel's per-namespace sysctls");
        assert!(out.status.success(), "the probe failed: {}", String::from_utf8_lossy(&out.stderr));
        let derived: BTreeSet<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l.trim_start_matches("/proc/sys/").to_owned())
            .collect();
        assert!(!derived.is_empty(), "the probe found no per-namespace sysctl at all");
        let mut listed = BTreeSet::new();
        for name in NAMESPACED_SYSCTLS.iter().filter(|n| !matches!(**n, "kernel/hostname" | "kernel/domainname")) {
            let path = Path::new("/proc/sys").join(name);
            if path.is_dir() {
                for entry in std::fs::read_dir(&path).unwrap().flatten() {
                    listed.insert(format!("{name}/{}", entry.file_name().to_string_lossy()));
                }
            } else if path.exists() {
                listed.insert((*name).to_owned());
            }
        }
        assert_eq!(listed, derived, "NAMESPACED_SYSCTLS (left) differs from what this kernel keeps per namespace");
        // UTS: a write in a namespace of its own leaves the host's value.
        if rustix::process::geteuid().is_root() {
            let host = std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap();
            let out = Command::new("unshare")
                .args([
                    "--uts",
                    "sh",
                    "-c",
                    "echo isolated-test-probe > /proc/sys/kernel/domainname && cat /proc/sys/kernel/domainname",
                ])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "isolated-test-probe");
            assert_eq!(std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap(), host);
        }
    }

    #[test]
    fn the_sandboxs_cgroup_is_shown_read_only_where_tools_look() {
        let ops = plan(&config(), &host());
        let sysfs = position(&ops, |op| matches!(op, Op::Sysfs { .. }));
        let root = Path::new("/newroot/sys/fs/cgroup");
        let tmpfs = position(&ops, |op| matches!(op, Op::Tmpfs { target, .. } if target == root));
        let bind = position(&ops, |op| {
            matches!(op, Op::Bind { source, target, recursive: false, .. }
            if source == Path::new("/oldroot/sys/fs/cgroup/memory/isolated-test-1-0") && target == &root.join("memory"))
        });
        let ro = position(&ops, |op| matches!(op, Op::ReadonlyTree(p) if p == root));
        assert!(sysfs < tmpfs && tmpfs < bind && bind < ro);
        // cgroup v2 alone: the leaf is the directory itself, as in a container.
        let mut v2 = config();
        v2.cgroup_views = vec![(String::new(), "/sys/fs/cgroup/isolated-test/isolated-test-1-0".into())];
        let ops = plan(&v2, &host());
        assert!(ops.iter().any(|op| matches!(op, Op::Bind { target, readonly: true, .. } if target == root)));
        assert!(!ops.iter().any(|op| matches!(op, Op::Tmpfs { target, .. } if target == root)));
    }

    #[test]
    fn kept_paths_under_a_fresh_tmpfs_come_back_after_it() {
        let ops = plan(&config(), &host());
        let tmp_mount =
            position(&ops, |op| matches!(op, Op::Tmpfs { target, .. } if target == Path::new("/newroot/tmp")));
        let kept = position(
            &ops,
            |op| matches!(op, Op::Overlay { lowers, .. } if lowers == &[PathBuf::from("/oldroot/tmp/crate")]),
        );
        assert!(tmp_mount < kept);
        // The binary dir under the crate dir needs no second overlay; /usr/src is already in /usr's overlay.
        assert!(!ops.iter().any(|op| matches!(op, Op::Overlay { lowers, .. } if lowers[0].ends_with("target/debug"))));
        assert!(
            !ops.iter()
                .any(|op| matches!(op, Op::Overlay { lowers, .. } if lowers == &[PathBuf::from("/oldroot/usr/src")]))
        );
    }

    #[test]
    fn rootless_devpts_has_no_tty_gid_and_var_tmp_is_optional() {
        let mut cfg = config();
        cfg.rootless = true;
        let mut view = host();
        view.has_var_tmp = false;
        let ops = plan(&cfg, &view);
        assert!(ops.iter().any(|op| matches!(op, Op::Devpts { tty_gid: false, .. })));
        assert!(!ops.iter().any(|op| matches!(op, Op::Tmpfs { target, .. } if target.ends_with("var/tmp"))));
        assert_eq!(scratch(&ops), [Path::new("/dev/shm"), Path::new("/run"), Path::new("/tmp")]);
    }

    #[test]
    fn the_scratch_directories_are_the_fresh_tmpfs_not_a_tests_own() {
        let ops = with_rootfs(ResolvedBase::Host, vec![ResolvedEntry::Tmpfs { dst: "/tmp/mine".into() }]);
        assert_eq!(scratch(&ops), ["/dev/shm", "/run", "/tmp", "/var/tmp"].map(PathBuf::from));
        let ops = with_rootfs(ResolvedBase::Busybox { binary: "/bin/busybox".into(), applets: vec![] }, vec![]);
        assert_eq!(scratch(&ops), ["/dev/shm", "/run", "/tmp", "/var/tmp"].map(PathBuf::from));
    }

    fn with_rootfs(base: ResolvedBase, entries: Vec<ResolvedEntry>) -> Vec<Op> {
        let mut cfg = config();
        cfg.rootfs = ResolvedRootfs { base, entries };
        plan(&cfg, &host())
    }

    #[test]
    fn host_ro_binds_everything_read_only_and_overlays_nothing() {
        let ops = with_rootfs(ResolvedBase::HostRo, vec![]);
        assert!(!ops.iter().any(|op| matches!(op, Op::Overlay { .. })), "{ops:#?}");
        for dir in ["/oldroot/usr", "/oldroot/etc", "/oldroot/tmp/crate"] {
            assert!(
                ops.iter().any(|op| matches!(op, Op::Bind { source, readonly: true, recursive: true, .. } if source == Path::new(dir))),
                "{dir} not bound read-only"
            );
        }
        assert!(ops.contains(&Op::Chdir("/tmp/crate".into())));
    }

    #[test]
    fn busybox_shows_nothing_of_the_host() {
        let base = ResolvedBase::Busybox {
            binary: "/bin/busybox".into(),
            applets: vec!["bin/ls".into(), "usr/bin/awk".into(), "bin/busybox".into()],
        };
        let ops = with_rootfs(base, vec![]);
        assert!(!ops.iter().any(|op| matches!(op, Op::Overlay { .. })));
        assert!(!ops.iter().any(|op| matches!(op, Op::Bind { source, .. } if source.starts_with("/oldroot/usr") || source.starts_with("/oldroot/etc"))));
        assert!(ops.contains(&Op::Symlink { target: "/bin/busybox".into(), link: "/newroot/usr/bin/awk".into() }));
        assert!(
            !ops.iter().any(|op| matches!(op, Op::Symlink { link, .. } if link == Path::new("/newroot/bin/busybox")))
        );
        assert!(ops.iter().any(|op| matches!(op, Op::Bind { source, target, readonly: true, .. }
            if source == Path::new("/oldroot/bin/busybox") && target == Path::new("/newroot/bin/busybox"))));
        assert!(
            ops.iter().any(|op| matches!(op, Op::WriteFile { path, .. } if path == Path::new("/newroot/etc/passwd")))
        );
        let chdir = ops.iter().rfind(|op| matches!(op, Op::Chdir(_)));
        assert_eq!(chdir, Some(&Op::Chdir("/".into())), "the host's working directory is not in this root");
    }

    #[test]
    fn layers_stack_bottom_first_over_the_new_root() {
        let ops = with_rootfs(ResolvedBase::Layers(vec!["/img/base".into(), "/img/app".into()]), vec![]);
        let overlays: Vec<&Op> = ops.iter().filter(|op| matches!(op, Op::Overlay { .. })).collect();
        assert_eq!(overlays.len(), 1, "no host directory is overlaid: {overlays:#?}");
        let Op::Overlay { lowers, target, .. } = overlays[0] else { unreachable!() };
        assert_eq!(lowers, &[PathBuf::from("/oldroot/img/base"), PathBuf::from("/oldroot/img/app")]);
        assert_eq!(target, Path::new(NEW_ROOT));
        let overlay_at = position(&ops, |op| matches!(op, Op::Overlay { .. }));
        let proc_at = position(&ops, |op| matches!(op, Op::Proc(_)));
        assert!(overlay_at < proc_at, "mount points are created in the image's overlay");
    }

    #[test]
    fn an_image_gets_its_own_etc_files_and_its_run_skeleton() {
        let ops = with_rootfs(ResolvedBase::Layers(vec!["/img/debian".into()]), vec![]);
        let overlay_at = position(&ops, |op| matches!(op, Op::Overlay { .. }));
        let Op::Overlay { upper, .. } = &ops[overlay_at] else { unreachable!() };
        let etc = upper.join("etc");
        // Staged in the upper layer before the overlay is mounted.
        let hosts = position(&ops, |op| matches!(op, Op::WriteFile { path, .. } if *path == etc.join("hosts")));
        let Op::WriteFile { contents, .. } = &ops[hosts] else { unreachable!() };
        let text = String::from_utf8_lossy(contents);
        assert!(text.contains("127.0.0.1\tlocalhost\n") && text.contains("127.0.1.1\tbox\n"), "{text}");
        let hostname = position(
            &ops,
            |op| matches!(op, Op::WriteFile { path, contents } if *path == etc.join("hostname") && contents == b"box\n"),
        );
        let resolv = position(&ops, |op| matches!(op, Op::CopyFile { to, .. } if *to == etc.join("resolv.conf")));
        assert!(hosts < overlay_at && hostname < overlay_at && resolv < overlay_at);
        // The image's /run directories come back in the fresh /run.
        let run = position(&ops, |op| matches!(op, Op::Tmpfs { target, .. } if target == Path::new("/newroot/run")));
        let skeleton = position(&ops, |op| {
            *op == Op::SkeletonDirs { from: vec!["/oldroot/img/debian/run".into()], to: "/newroot/run".into() }
        });
        assert!(run < skeleton);
        // A host root keeps the host's /etc/hosts and its own /run.
        let ops = with_rootfs(ResolvedBase::Host, vec![]);
        assert!(
            ops.iter().any(|op| matches!(op, Op::CopyFile { from, .. } if from == Path::new("/oldroot/etc/hosts")))
        );
        assert!(!ops.iter().any(|op| matches!(op, Op::SkeletonDirs { .. })));
    }

    #[test]
    fn entries_come_last_and_files_are_staged_read_only() {
        let entries = vec![
            ResolvedEntry::Bind { src: "/srv/data".into(), kind: SourceKind::Dir, dst: "/tmp/data".into(), rw: false },
            ResolvedEntry::Bind { src: "/srv/out".into(), kind: SourceKind::File, dst: "/out".into(), rw: true },
            ResolvedEntry::Tmpfs { dst: "/scratch".into() },
            ResolvedEntry::File { dst: "/etc/motd".into(), contents: b"hi".to_vec() },
            ResolvedEntry::Symlink { link: "/opt/link".into(), target: "/tmp/data".into() },
        ];
        let ops = with_rootfs(ResolvedBase::Host, entries);
        let tmp = position(&ops, |op| matches!(op, Op::Tmpfs { target, .. } if target == Path::new("/newroot/tmp")));
        let data = position(&ops, |op| {
            matches!(op, Op::Bind { source, target, readonly: true, recursive: true }
            if source == Path::new("/oldroot/srv/data") && target == Path::new("/newroot/tmp/data"))
        });
        assert!(tmp < data, "a bind into /tmp must follow the fresh /tmp");
        assert!(ops[data - 1] == Op::Mkdir("/newroot/tmp/data".into()));
        let out = position(
            &ops,
            |op| matches!(op, Op::Bind { target, readonly: false, .. } if target == Path::new("/newroot/out")),
        );
        assert_eq!(ops[out - 1], Op::Touch("/newroot/out".into()));
        assert!(ops.contains(&Op::Tmpfs { target: "/newroot/scratch".into(), mode: 0o755, size: 64 << 20 }));
        let staged = position(&ops, |op| matches!(op, Op::WriteFile { path, .. } if path.starts_with(LAYERS)));
        let motd = position(
            &ops,
            |op| matches!(op, Op::Bind { target, readonly: true, recursive: false, .. } if target == Path::new("/newroot/etc/motd")),
        );
        assert!(staged < motd);
        assert!(ops.contains(&Op::Symlink { target: "/tmp/data".into(), link: "/newroot/opt/link".into() }));
        let pivot = ops.iter().rposition(|op| matches!(op, Op::PivotRoot { .. })).unwrap();
        assert!(motd < pivot);
    }

    #[test]
    fn setup_paths_are_shown_as_the_user_knows_them() {
        assert_eq!(show(Path::new("/oldroot/srv/x")), "host `/srv/x`");
        assert_eq!(show(Path::new("/newroot/etc")), "`/etc`");
        assert_eq!(show(Path::new("/layers/1")), "`/layers/1`");
    }

    #[test]
    fn overlay_paths_are_escaped() {
        assert_eq!(escape_overlay_path(Path::new("/a,b:c\\d")), "/a\\,b\\:c\\\\d");
    }
}
