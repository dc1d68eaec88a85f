//! Runs the setup plan inside PID 2: one kernel operation per step, each
//! failure named by its step and objects.
//!
//! The [`Kernel`] trait is the seam between the sequence and the system
//! calls: [`LinuxKernel`] does the real thing, tests record or fail steps.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};

use super::plan::{EntryKind, HostView, Op, OverlayFallback, escape_overlay_path};
use crate::error::{IoCause, SetupError};

/// Applies one setup operation.
pub(crate) trait Kernel {
    /// Performs `op`.
    ///
    /// # Errors
    /// The system call's error.
    fn apply(&mut self, op: &Op) -> io::Result<()>;
}

/// Runs every operation in order and stops at the first failure.
///
/// # Errors
/// The failing step, what it did, and the kernel's errno.
pub(crate) fn execute(ops: &[Op], kernel: &mut dyn Kernel) -> Result<(), SetupError> {
    for op in ops {
        let _span = tracing::debug_span!("setup", step = op.step()).entered();
        tracing::debug!(op = %op.describe());
        kernel.apply(op).map_err(|source| SetupError {
            step: op.step(),
            what: op.describe(),
            source: IoCause(source),
        })?;
    }
    Ok(())
}

/// The real kernel.
#[derive(Debug, Default)]
pub(crate) struct LinuxKernel {
    /// The nested namespaces between [`Op::EnterNamespaces`] and [`Op::Lock`].
    nest: Option<crate::sys::userns::Nest>,
    /// Whether the upper layers' tmpfs takes `user.` attributes, once
    /// probed: every upper layer is on the one at `/layers`.
    layers_take_user_xattrs: Option<bool>,
}

/// The descriptor [`Op::KeepLayers`] opened on the upper layers' tmpfs.
static KEPT_LAYERS: std::sync::OnceLock<std::os::fd::OwnedFd> = std::sync::OnceLock::new();

/// Where the upper layer `upper` (a path under `/layers` during setup) can
/// be read after setup: through the kept descriptor.
pub(crate) fn kept_layer_path(upper: &Path) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    let fd = KEPT_LAYERS.get()?.as_raw_fd();
    let rel = upper.strip_prefix(super::plan::LAYERS).ok()?;
    Some(PathBuf::from(format!("/proc/self/fd/{fd}")).join(rel))
}

/// Wraps a kernel and fails the first operation of one step.
pub(crate) struct FaultAt<K> {
    /// The real kernel.
    pub(crate) inner: K,
    /// The step to fail, as in [`Op::step`].
    pub(crate) step: String,
}

impl<K: Kernel + ?Sized> Kernel for &mut K {
    fn apply(&mut self, op: &Op) -> io::Result<()> {
        (**self).apply(op)
    }
}

impl<K: Kernel> Kernel for FaultAt<K> {
    fn apply(&mut self, op: &Op) -> io::Result<()> {
        if op.step() == self.step {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        self.inner.apply(op)
    }
}

fn tmpfs_data(mode: u32, size: u64) -> std::ffi::CString {
    let inodes = (size / 4096).max(1024);
    std::ffi::CString::new(format!("mode={mode:o},size={size},nr_inodes={inodes}"))
        .expect("no NUL in formatted options")
}

impl Kernel for LinuxKernel {
    fn apply(&mut self, op: &Op) -> io::Result<()> {
        match op {
            Op::MakeRootPrivate => {
                rustix::mount::mount_change("/", MountPropagationFlags::PRIVATE | MountPropagationFlags::REC)?
            }
            Op::SetHostname(name) => rustix::system::sethostname(name.as_bytes())?,
            Op::UserQuota { name, value } => match fs::write(Path::new("/proc/sys/user").join(name), value.to_string())
            {
                // A read-only `/proc/sys` (a sandbox or container around
                // this one): whoever made it so holds the share above us,
                // and the kernel's checks at those levels stay.
                Err(err) if err.raw_os_error() == Some(libc::EROFS) => {
                    tracing::debug!(name, "/proc/sys is read-only: the user namespace's share is not set");
                }
                other => other?,
            },
            Op::LoopbackUp => crate::sys::net::set_interface_up("lo")?,
            Op::Mkdir(path) => mkdir_all(path)?,
            Op::UpperDir { path, like } => {
                mkdir_all(path)?;
                take_owner_and_mode(path, like);
            }
            Op::SkeletonDirs { from, to } => {
                use std::os::unix::fs::{MetadataExt, PermissionsExt};
                for entry in from.iter().filter_map(|dir| fs::read_dir(dir).ok()).flatten() {
                    let entry = entry?;
                    let meta = fs::symlink_metadata(entry.path())?;
                    if !meta.is_dir() {
                        continue;
                    }
                    let dir = to.join(entry.file_name());
                    mkdir_all(&dir)?;
                    // Rootless, ids outside the map cannot be given: root inside keeps it.
                    let _ = std::os::unix::fs::chown(&dir, Some(meta.uid()), Some(meta.gid()));
                    fs::set_permissions(&dir, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
                }
            }
            Op::Touch(path) => {
                fs::OpenOptions::new().write(true).create(true).truncate(false).open(path)?;
            }
            Op::WriteFile { path, contents } => fs::write(path, contents)?,
            Op::CopyFile { from, to, fallback } => {
                let contents = match fs::read(from) {
                    Ok(contents) => contents,
                    Err(err) if err.kind() == io::ErrorKind::NotFound => match fallback {
                        Some(fallback) => fallback.clone(),
                        None => return Ok(()),
                    },
                    Err(err) => return Err(err),
                };
                fs::write(to, contents)?;
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(to, fs::Permissions::from_mode(0o644))?;
            }
            Op::Symlink { target, link } => std::os::unix::fs::symlink(target, link)?,
            Op::Tmpfs { target, mode, size } => {
                let flags = MountFlags::NOSUID | MountFlags::NODEV;
                rustix::mount::mount("tmpfs", target, "tmpfs", flags, tmpfs_data(*mode, *size).as_c_str())?;
            }
            Op::Chdir(path) => rustix::process::chdir(path)?,
            Op::PivotRoot { new_root, put_old } => rustix::process::pivot_root(new_root, put_old)?,
            Op::DetachUnmount(path) => rustix::mount::unmount(path, UnmountFlags::DETACH)?,
            Op::Overlay { lowers, upper, work, target, fallback, in_user_namespace } => {
                let Some(lower) = lowers.last() else {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "an overlay needs at least one lower layer",
                    ));
                };
                // The overlay's root directory takes owner and mode from the
                // upper layer: copy them from the lower one so `/etc` or a
                // kept crate directory looks as on the host. Rootless, host
                // ids outside the map cannot be assigned; the upper then stays
                // owned by root inside.
                // Directories staged in the upper layer (`/etc` with the
                // sandbox's own files, in an overlay of `/`) likewise.
                let staged = fs::read_dir(upper)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| (e.path(), lower.join(e.file_name())));
                for (staged, lower) in [(upper.clone(), lower.clone())].into_iter().chain(staged) {
                    take_owner_and_mode(&staged, &lower);
                }
                let dirs = format!(",upperdir={},workdir={}", escape_overlay_path(upper), escape_overlay_path(work));
                let probed = &mut self.layers_take_user_xattrs;
                let xattrs =
                    overlay_xattrs(*in_user_namespace, || *probed.get_or_insert_with(|| takes_user_xattrs(upper)));
                if let Err(overlay_err) = mount_overlay(lowers, &dirs, xattrs, target, MountFlags::NODEV)? {
                    self.overlay_refused(overlay_err, fallback, lower, target)?;
                }
            }
            Op::ReadonlyOverlay { lowers, target, fallback } => {
                let (Some(bottom), Some(top), true) = (lowers.first(), lowers.last(), lowers.len() >= 2) else {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "an overlay without an upper layer needs two lower layers",
                    ));
                };
                // The overlay's root directory takes owner and mode from
                // the top layer: those of the bottom one (the host's
                // directory), as far as the map allows.
                take_owner_and_mode(top, bottom);
                let flags = MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV;
                // No upper layer: nothing is written, and the layers carry
                // no markers of the harness's (an image's are plain trees).
                if let Err(overlay_err) = mount_overlay(lowers, "", OverlayXattrs::User, target, flags)? {
                    self.overlay_refused(overlay_err, fallback, bottom, target)?;
                }
            }
            Op::Bind { source, target, recursive, readonly } => bind(source, target, *recursive, *readonly)?,
            Op::BindOwnFile { source, target } => {
                // `lstat`: a link in the host's read-only tree is not
                // followed (the mount would land where it points).
                let regular = |path: &Path| fs::symlink_metadata(path).is_ok_and(|m| m.is_file());
                if !regular(source) {
                    tracing::debug!(source = %source.display(), "no file of the sandbox's own to bind (none on the host)");
                } else if !regular(target) {
                    tracing::warn!(
                        target = %target.display(),
                        "the host's file is missing or no regular file in a read-only tree: the sandbox has no own, writable one there"
                    );
                } else {
                    bind(source, target, false, false)?;
                }
            }
            Op::RemountReadonly(path) => remount_readonly(path)?,
            Op::ReadonlyTree(path) => crate::sys::mount::harden_tree(path, true)?,
            Op::Proc(target) => rustix::mount::mount(
                "proc",
                target,
                "proc",
                MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
                None,
            )?,
            Op::Sysfs { target, fallback } => {
                let flags = MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
                if let Err(err) = rustix::mount::mount("sysfs", target, "sysfs", flags, None) {
                    tracing::debug!(error = %err, "sysfs refused; binding the host's /sys read-only");
                    bind(fallback, target, true, true)?;
                }
            }
            Op::CgroupNamespace => match crate::sys::userns::new_cgroup_namespace() {
                // Refused inside another sandbox (its seccomp filter): the
                // outer sandbox's cgroup namespace stays, which is as closed.
                Err(err) if err.raw_os_error() == Some(libc::EPERM) => {
                    tracing::debug!("no cgroup namespace of our own (EPERM): nested in another sandbox?");
                }
                other => other?,
            },
            Op::EnterNamespaces => self.nest = Some(crate::sys::userns::prepare()?),
            Op::Seccomp => crate::sys::seccomp::install()?,
            Op::Lock => match self.nest.take() {
                Some(nest) => nest.lock()?,
                None => return Err(io::Error::other("the nested namespaces were never entered")),
            },
            Op::KeepLayers => {
                let dir = fs::File::open(super::plan::LAYERS)?;
                let _ = KEPT_LAYERS.set(dir.into());
            }
            Op::DevTmpfs { target, size } => {
                rustix::mount::mount(
                    "tmpfs",
                    target,
                    "tmpfs",
                    MountFlags::NOSUID,
                    tmpfs_data(0o755, *size).as_c_str(),
                )?;
            }
            Op::CharDevice { path, major, minor } => {
                device_node(path, rustix::fs::FileType::CharacterDevice, 0o666, *major, *minor)?;
            }
            Op::LoopDevices { dev, sys_block } => make_loop_devices(dev, sys_block)?,
            Op::Devpts { target, tty_gid } => {
                let data = if *tty_gid {
                    c"newinstance,ptmxmode=0666,mode=0620,gid=5"
                } else {
                    c"newinstance,ptmxmode=0666,mode=0620"
                };
                rustix::mount::mount("devpts", target, "devpts", MountFlags::NOSUID | MountFlags::NOEXEC, data)?;
            }
        }
        Ok(())
    }
}

impl LinuxKernel {
    /// What an overlay's `fallback` says when the kernel refused it with
    /// `overlay_err`: fail, bind `lower` read-only on `target`, or run
    /// other operations. Some lower filesystems cannot be overlaid; the
    /// files stay visible, read-only, rather than missing.
    fn overlay_refused(
        &mut self,
        overlay_err: io::Error,
        fallback: &OverlayFallback,
        lower: &Path,
        target: &Path,
    ) -> io::Result<()> {
        match fallback {
            OverlayFallback::Fail => Err(overlay_err),
            OverlayFallback::Ops(ops) => {
                tracing::warn!(
                    target = %target.display(),
                    error = %overlay_err,
                    "overlay refused; binding read-only instead (writes fail with EROFS)"
                );
                for op in ops {
                    self.apply(op).map_err(|err| {
                        io::Error::new(
                            err.kind(),
                            format!("overlay refused ({overlay_err}), and then failed to {}: {err}", op.describe()),
                        )
                    })?;
                }
                Ok(())
            }
            OverlayFallback::ReadonlyBind => {
                tracing::warn!(
                    lower = %lower.display(),
                    error = %overlay_err,
                    "overlay refused; binding read-only instead (writes below it fail with EROFS)"
                );
                bind(lower, target, true, true).map_err(|bind_err| {
                    io::Error::new(
                        bind_err.kind(),
                        format!(
                            "overlay refused ({overlay_err}) and the read-only bind fallback failed too ({bind_err})"
                        ),
                    )
                })
            }
        }
    }
}

/// Gives `dir` the owner and mode of `from`, as far as the id map allows
/// (rootless, host ids outside it cannot be assigned; `dir` then keeps its
/// own).
fn take_owner_and_mode(dir: &Path, from: &Path) {
    if let Ok(meta) = fs::metadata(from) {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let _ = std::os::unix::fs::chown(dir, Some(meta.uid()), Some(meta.gid()));
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(meta.mode() & 0o7777));
    }
}

/// Where overlayfs keeps its markers (a directory deleted and made again
/// is "opaque"): in `user.overlay.*` attributes (`userxattr`), or in
/// `trusted.overlay.*` ones, which only host root may set and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OverlayXattrs {
    User,
    Trusted,
}

/// The attributes an overlay uses, `upper_takes_user` telling (when asked)
/// whether its upper layer's filesystem takes `user.` ones. Inside a
/// user namespace `user.` ones: `trusted.` ones cannot be set there. As
/// host root `user.` ones too where the upper layer's filesystem takes
/// them, so that the body (root of a nested user namespace, which cannot
/// read `trusted.` ones) can tell an opaque directory in its pollution
/// report; tmpfs takes them only from Linux 6.6, and before that an
/// overlay with `userxattr` fails every write that needs a marker with
/// EIO (`rm -r DIR && mkdir DIR` of a host directory), so `trusted.`.
fn overlay_xattrs(in_user_namespace: bool, upper_takes_user: impl FnOnce() -> bool) -> OverlayXattrs {
    if in_user_namespace || upper_takes_user() { OverlayXattrs::User } else { OverlayXattrs::Trusted }
}

/// Whether the filesystem of `dir` takes `user.` extended attributes on a
/// directory: one set and removed again.
pub(crate) fn takes_user_xattrs(dir: &Path) -> bool {
    const PROBE: &str = "user.isolated-test.probe";
    let set = rustix::fs::setxattr(dir, PROBE, b"1", rustix::fs::XattrFlags::CREATE);
    let _ = rustix::fs::removexattr(dir, PROBE);
    set.is_ok()
}

/// Mounts an overlay of `lowers` (bottom first) at `target`, with `more`
/// options after `lowerdir` (`,upperdir=...,workdir=...`, or none for a
/// read-only one) and its markers in `xattrs`. The outer error is a path
/// overlayfs cannot take (a NUL byte); the inner one is the kernel's
/// refusal, for the caller's fallback.
fn mount_overlay(
    lowers: &[PathBuf],
    more: &str,
    xattrs: OverlayXattrs,
    target: &Path,
    flags: MountFlags,
) -> io::Result<io::Result<()>> {
    // overlayfs lists the top layer first.
    let lowerdir: Vec<String> = lowers.iter().rev().map(|l| escape_overlay_path(l)).collect();
    let userxattr = if xattrs == OverlayXattrs::User { ",userxattr" } else { "" };
    let data = std::ffi::CString::new(format!("lowerdir={}{more}{userxattr}", lowerdir.join(":")))
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    Ok(rustix::mount::mount("overlay", target, "overlay", flags, data.as_c_str()).map_err(io::Error::from))
}

/// `mknod` of a device node with `mode` (the umask aside: `mknod` applies
/// it, so the mode is set again).
fn device_node(path: &Path, file_type: rustix::fs::FileType, mode: u32, major: u32, minor: u32) -> io::Result<()> {
    let mode = rustix::fs::Mode::from_raw_mode(mode);
    rustix::fs::mknodat(rustix::fs::CWD, path, file_type, mode, rustix::fs::makedev(major, minor))?;
    Ok(rustix::fs::chmod(path, mode)?)
}

/// Loop device nodes beyond the host's highest: room for those `losetup
/// --find` adds (`LOOP_CTL_GET_FREE` makes the next one when none is free).
const LOOP_SPARE: u32 = 8;

/// `/dev/loop-control` (10:237) and `/dev/loopN` (7:N) for every loop
/// device the host has and [`LOOP_SPARE`] more, owned by root, as udev
/// makes them.
fn make_loop_devices(dev: &Path, sys_block: &Path) -> io::Result<()> {
    device_node(&dev.join("loop-control"), rustix::fs::FileType::CharacterDevice, 0o660, 10, 237)?;
    let highest = fs::read_dir(sys_block)?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.strip_prefix("loop")?.parse::<u32>().ok())
        .max();
    let count = highest.map_or(0, |n| n + 1) + LOOP_SPARE;
    for n in 0..count {
        device_node(&dev.join(format!("loop{n}")), rustix::fs::FileType::BlockDevice, 0o660, 7, n)?;
    }
    Ok(())
}

fn mkdir_all(path: &Path) -> io::Result<()> {
    match fs::DirBuilder::new().recursive(true).mode(0o755).create(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(err) => Err(err),
    }
}

fn bind(source: &Path, target: &Path, recursive: bool, readonly: bool) -> io::Result<()> {
    if recursive {
        rustix::mount::mount_bind_recursive(source, target)?;
    } else {
        rustix::mount::mount_bind(source, target)?;
    }
    if recursive {
        crate::sys::mount::harden_tree(target, readonly)?;
    } else if readonly {
        remount_readonly(target)?;
    }
    Ok(())
}

/// Remounts a bind mount read-only, keeping the flags the kernel locked on
/// it (nosuid, nodev, noexec inherited from a more privileged namespace must
/// be repeated, or the remount fails with EPERM).
fn remount_readonly(path: &Path) -> io::Result<()> {
    let current = rustix::fs::statvfs(path)?.f_flag;
    let mut flags = MountFlags::BIND | MountFlags::RDONLY;
    for (st, ms) in [
        (rustix::fs::StatVfsMountFlags::NOSUID, MountFlags::NOSUID),
        (rustix::fs::StatVfsMountFlags::NODEV, MountFlags::NODEV),
        (rustix::fs::StatVfsMountFlags::NOEXEC, MountFlags::NOEXEC),
        (rustix::fs::StatVfsMountFlags::NOATIME, MountFlags::NOATIME),
        (rustix::fs::StatVfsMountFlags::NODIRATIME, MountFlags::NODIRATIME),
        (rustix::fs::StatVfsMountFlags::RELATIME, MountFlags::RELATIME),
    ] {
        if current.contains(st) {
            flags |= ms;
        }
    }
    rustix::mount::mount_remount(path, flags, "")?;
    Ok(())
}

/// Reads what PID 2 sees of the host before any setup step.
///
/// # Errors
/// Reading `/` or `/proc/self/mountinfo` failed.
pub(crate) fn read_host_view(kernel: &KernelFacts) -> io::Result<HostView> {
    let mut root_entries = Vec::new();
    for entry in fs::read_dir("/")? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let meta = fs::symlink_metadata(&path)?;
        let kind = if meta.file_type().is_symlink() {
            EntryKind::Symlink(fs::read_link(&path)?)
        } else if meta.is_dir() {
            EntryKind::Dir
        } else if meta.is_file() {
            EntryKind::File
        } else {
            EntryKind::Other
        };
        root_entries.push((name, kind));
    }
    root_entries.sort();
    Ok(HostView {
        root_entries,
        mount_points: crate::procfs::mounts()?.into_iter().map(|m| m.mount_point).collect(),
        has_var_tmp: Path::new("/var/tmp").is_dir(),
        has_sysrq_trigger: kernel.proc_knobs.iter().any(|k| k == "sysrq-trigger"),
        sysctls: kernel.sysctls.clone(),
        proc_knobs: kernel.proc_knobs.clone(),
        proc_files: kernel.proc_files.clone(),
        user_quotas: kernel.user_quotas.clone(),
    })
}

/// What the running kernel offers of `/proc`, the same for every sandbox:
/// read once per process by the parent (a walk of `/proc` per sandbox
/// would cost more than the sandbox's mounts) and handed to PID 2 in the
/// setup request.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct KernelFacts {
    /// The entries of `NAMESPACED_SYSCTLS` and `GLOBAL_NET_SYSCTLS` it has.
    pub(crate) sysctls: Vec<String>,
    /// Top-level `/proc` entries with a writable file in them (see
    /// [`super::plan::is_proc_knob`]).
    pub(crate) proc_knobs: Vec<String>,
    /// The `MASKED_PROC_FILES` it has.
    pub(crate) proc_files: Vec<String>,
    /// The share of the caller's per-user quotas a sandbox may use (see
    /// [`super::plan::USER_QUOTAS`]): `(name, value)` for each this kernel
    /// has.
    #[serde(default)]
    pub(crate) user_quotas: Vec<(String, u64)>,
}

/// This process's [`KernelFacts`], once read or received.
static FACTS: std::sync::OnceLock<KernelFacts> = std::sync::OnceLock::new();

impl KernelFacts {
    /// This kernel's facts, read on first use.
    pub(crate) fn get() -> Self {
        FACTS.get_or_init(Self::read).clone()
    }

    /// Takes `facts` read by another process of this test binary in the
    /// same namespaces (the zygote), unless this one has its own already.
    pub(crate) fn offer(facts: Self) {
        let _ = FACTS.set(facts);
    }

    fn read() -> Self {
        let exists = |names: &[&str], base: &str| -> Vec<String> {
            names.iter().filter(|n| Path::new(base).join(n).exists()).map(|n| (*n).to_owned()).collect()
        };
        let mut sysctls = exists(super::plan::NAMESPACED_SYSCTLS, "/proc/sys");
        sysctls.extend(exists(super::plan::GLOBAL_NET_SYSCTLS, "/proc/sys"));
        KernelFacts {
            sysctls,
            proc_knobs: proc_knobs(),
            proc_files: exists(super::plan::MASKED_PROC_FILES, "/proc"),
            user_quotas: user_quotas(),
        }
    }
}

/// A quarter of each of the caller's per-user quotas (at least 1), as this
/// process's user namespace sets them.
fn user_quotas() -> Vec<(String, u64)> {
    super::plan::USER_QUOTAS
        .iter()
        .filter_map(|name| {
            let value = fs::read_to_string(Path::new("/proc/sys/user").join(name)).ok()?;
            Some(((*name).to_owned(), (value.trim().parse::<u64>().ok()? / 4).max(1)))
        })
        .collect()
}

/// The host-wide knobs at the top of `/proc` (see [`super::plan::is_proc_knob`]):
/// writable files, and directories that hold one.
fn proc_knobs() -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    fn has_writable(dir: &Path, depth: usize) -> bool {
        let Ok(entries) = fs::read_dir(dir) else { return false };
        entries.flatten().any(|e| match e.file_type() {
            Ok(t) if t.is_dir() => depth > 0 && has_writable(&e.path(), depth - 1),
            Ok(t) if t.is_file() => e.metadata().is_ok_and(|m| m.permissions().mode() & 0o222 != 0),
            _ => false,
        })
    }
    let Ok(entries) = fs::read_dir("/proc") else { return Vec::new() };
    let mut knobs = Vec::new();
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else { continue };
        // Per-process directories are the sandbox's own: not even stat'ed.
        if name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(meta) = fs::symlink_metadata(entry.path()) else { continue };
        let mode = meta.permissions().mode();
        if meta.file_type().is_symlink() || !super::plan::is_proc_knob(&name, meta.is_dir(), mode) {
            continue;
        }
        if !meta.is_dir() || has_writable(&entry.path(), 8) {
            knobs.push(name);
        }
    }
    knobs.sort();
    knobs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlays_keep_their_markers_where_the_body_can_read_them() {
        // procfs takes no extended attributes; inside a user namespace the
        // upper layer is not even asked.
        assert!(!takes_user_xattrs(Path::new("/proc")));
        assert_eq!(overlay_xattrs(false, || takes_user_xattrs(Path::new("/proc"))), OverlayXattrs::Trusted);
        assert_eq!(overlay_xattrs(true, || unreachable!("asked in a user namespace")), OverlayXattrs::User);
        // A directory in this machine's temporary directory (a disk
        // filesystem takes them, tmpfs since Linux 6.6), which the probe
        // leaves without the attribute.
        let dir = tempfile::Builder::new().prefix("isolated-test-xattr-").tempdir().unwrap();
        let release = rustix::system::uname().release().to_string_lossy().into_owned();
        let mut numbers = release.split(|c: char| !c.is_ascii_digit()).map(|n| n.parse::<u32>().unwrap_or(0));
        let (major, minor) = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
        if (major, minor) >= (6, 6) {
            assert!(takes_user_xattrs(dir.path()), "{release}: {}", dir.path().display());
            assert_eq!(overlay_xattrs(false, || takes_user_xattrs(dir.path())), OverlayXattrs::User);
        }
        let mut value = [0u8; 8];
        assert!(rustix::fs::getxattr(dir.path(), "user.isolated-test.probe", &mut value[..]).is_err());
    }

    struct Recorder {
        seen: Vec<&'static str>,
        fail_at: Option<&'static str>,
    }

    impl Kernel for Recorder {
        fn apply(&mut self, op: &Op) -> io::Result<()> {
            self.seen.push(op.step());
            if Some(op.step()) == self.fail_at {
                return Err(io::Error::from_raw_os_error(libc::EINVAL));
            }
            Ok(())
        }
    }

    fn ops() -> Vec<Op> {
        vec![
            Op::MakeRootPrivate,
            Op::Chdir("/newroot".into()),
            Op::PivotRoot { new_root: ".".into(), put_old: ".".into() },
            Op::DetachUnmount(".".into()),
        ]
    }

    #[test]
    fn stops_at_the_first_failure_and_names_it() {
        let mut k = Recorder { seen: vec![], fail_at: Some("pivot_root") };
        let err = execute(&ops(), &mut k).unwrap_err();
        assert_eq!(k.seen, ["make_root_private", "chdir", "pivot_root"]);
        assert_eq!(err.step, "pivot_root");
        let chain = crate::error::ErrorChain::from_error(err.step, &err);
        assert_eq!(chain.message, "failed to pivot_root into `.` (old root at `.`)");
        assert!(chain.causes[0].starts_with("EINVAL"), "{chain}");
    }

    #[test]
    fn fault_injection_fails_the_named_step_only() {
        let mut k = FaultAt { inner: Recorder { seen: vec![], fail_at: None }, step: "chdir".into() };
        let err = execute(&ops(), &mut k).unwrap_err();
        assert_eq!(err.step, "chdir");
        assert_eq!(k.inner.seen, ["make_root_private"]);
    }

    #[test]
    fn runs_everything_when_nothing_fails() {
        let mut k = Recorder { seen: vec![], fail_at: None };
        execute(&ops(), &mut k).unwrap();
        assert_eq!(k.seen.len(), 4);
    }
}
