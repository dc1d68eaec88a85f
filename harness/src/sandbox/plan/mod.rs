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
//!    `host_ro`, every top-level directory bound read-only. Each root has
//!    its own `/etc/hosts`, `hostname` and `resolv.conf`, writable: staged
//!    in an upper layer, or bound over a read-only `/etc`;
//! 5. `/proc` with `/proc/sys` read-only but for the per-namespace knobs,
//!    `/sys`, `/dev`, then the fresh `/tmp`, `/run`, `/var/tmp`, then the
//!    kept paths that live under those;
//! 6. `pivot_root` into `/newroot`, detach the old root, `chdir` back;
//! 7. the lock: join the nested user namespace and unshare a new mount
//!    namespace, which locks every mount made so far.
//!
//! Steps 2 and 7 are skipped only by `privileged = true`, whose namespaces
//! all come from the `clone3`.
//!
//! [`plan`] calls one function per phase: steps 1-3 and 6-7 are here,
//! step 4 in `root.rs`, step 5 in `kernel.rs` (`/proc`, `/sys`, `/dev`)
//! and `scratch.rs` (the fresh tmpfs, kept paths, the test's entries).
//! `ops.rs` has the operations themselves; `tests.rs` checks the order.

use std::path::{Path, PathBuf};

mod kernel;
mod ops;
mod root;
mod scratch;
#[cfg(test)]
mod tests;

pub(crate) use ops::Op;

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
    /// The share of each of [`USER_QUOTAS`] a sandbox may use.
    pub(crate) user_quotas: Vec<(String, u64)>,
}

/// The per-user quotas of `/proc/sys/user` that a sandbox shares with the
/// user who runs it: the kernel counts them per user at every level of
/// user namespaces up to the host's, so a test that leaks inotify
/// instances would leave that user without any until it ends. Rootless,
/// the sandbox's outer user namespace gets a quarter of each
/// ([`Op::UserQuota`]); the kernel's check at the host's level stays. As
/// host root there is no user namespace the body cannot write above it
/// (see `plan`), so host root's quota is shared whole.
pub(crate) const USER_QUOTAS: &[&str] =
    &["max_inotify_instances", "max_inotify_watches", "max_fanotify_groups", "max_fanotify_marks"];

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

impl ResolvedEntry {
    /// Where inside the sandbox it goes.
    pub(crate) fn destination(&self) -> &Path {
        match self {
            ResolvedEntry::Bind { dst, .. } | ResolvedEntry::Tmpfs { dst } | ResolvedEntry::File { dst, .. } => dst,
            ResolvedEntry::Symlink { link, .. } => link,
        }
    }
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

/// `base` joined with the absolute `path` (`/newroot` + `/usr` = `/newroot/usr`).
pub(crate) fn under(base: &str, path: &Path) -> PathBuf {
    let rel = path.strip_prefix("/").unwrap_or(path);
    if rel.as_os_str().is_empty() { PathBuf::from(base) } else { Path::new(base).join(rel) }
}

/// Builds the whole setup sequence, phase by phase in kernel order (see
/// the module's documentation for why this order).
pub(crate) fn plan(config: &SandboxConfig, host: &HostView) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut overlays = root::Overlays::new(config, host);
    let new_root_tmpfs = namespaces_and_staging(&mut ops, config, host);
    root::root(&mut ops, &mut overlays, config, host, new_root_tmpfs);
    kernel::kernel_filesystems(&mut ops, config, host);
    scratch::scratch_and_kept(&mut ops, &mut overlays, config, host);
    scratch::entries(&mut ops, config);
    pivot_and_lock(&mut ops, config);
    ops
}

/// Steps 1 to 3: the mount tree made private, the body's namespaces, and
/// the staging tmpfs entered. Returns the `/newroot` tmpfs, already added
/// unless the base is the host's files (whose plans add it where needed).
fn namespaces_and_staging(ops: &mut Vec<Op>, config: &SandboxConfig, host: &HostView) -> Op {
    let base = &config.rootfs.base;
    // First, always: without this, on a host whose `/` is shared (every
    // systemd host) the mounts below would propagate back to the host.
    ops.push(Op::MakeRootPrivate);
    ops.push(Op::CgroupNamespace);
    if config.lock {
        ops.push(Op::EnterNamespaces);
    }
    // Rootless, the setup runs in the sandbox's outer user namespace, which
    // the body (in the nested one) cannot write; as host root it runs in
    // the host's, whose values these would change, and the nested
    // namespace's would be the body's to raise again.
    if config.rootless && config.lock {
        for (name, value) in &host.user_quotas {
            ops.push(Op::UserQuota { name: name.clone(), value: *value });
        }
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
    new_root_tmpfs
}

/// Steps 6 and 7: `pivot_root` into the finished root, then the lock.
fn pivot_and_lock(ops: &mut Vec<Op>, config: &SandboxConfig) {
    let host_based = matches!(config.rootfs.base, ResolvedBase::Host | ResolvedBase::HostRo);
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

/// Where a plan's writes land, as `(directory on the setup's tmpfs, path
/// inside the sandbox)`: the overlays' upper layers, and the directories
/// the sandbox's own files are staged in where they are bound over a
/// read-only tree (`host_ro`'s `/etc`). Those of a fallback too: a
/// fallback that did not run left no directory to read.
pub(crate) fn uppers(ops: &[Op]) -> Vec<(PathBuf, PathBuf)> {
    let inside = |target: &Path| Some(Path::new("/").join(target.strip_prefix(NEW_ROOT).ok()?));
    let mut out: Vec<(PathBuf, PathBuf)> = Vec::new();
    for op in ops {
        let (found, fallback) = match op {
            Op::Overlay { upper, target, fallback, .. } => (inside(target).map(|t| (upper.clone(), t)), Some(fallback)),
            Op::ReadonlyOverlay { fallback, .. } => (None, Some(fallback)),
            Op::BindOwnFile { source, target } => {
                let staged = source.parent().zip(target.parent().and_then(inside));
                (staged.map(|(dir, shown)| (dir.to_path_buf(), shown)), None)
            }
            _ => (None, None),
        };
        let nested = match fallback {
            Some(OverlayFallback::Ops(instead)) => uppers(instead),
            _ => Vec::new(),
        };
        for pair in found.into_iter().chain(nested) {
            if !out.contains(&pair) {
                out.push(pair);
            }
        }
    }
    out
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
