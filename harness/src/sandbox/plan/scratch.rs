//! Step 5 of the plan, second half: the fresh scratch directories, the
//! kept paths that live below them, and the test's own entries (last, so
//! they can go anywhere, even into the fresh `/tmp`).

use std::path::Path;

use super::root::Overlays;
use super::{
    FRESH_TMPFS, HostView, LAYERS, NEW_ROOT, OLD_ROOT, Op, ResolvedBase, ResolvedEntry, SandboxConfig, SourceKind,
    outermost, under,
};

/// Adds a fresh tmpfs on each scratch directory, an image's `/run`
/// skeleton, and the kept paths hidden below them.
pub(super) fn scratch_and_kept(
    ops: &mut Vec<Op>,
    overlays: &mut Overlays<'_>,
    config: &SandboxConfig,
    host: &HostView,
) {
    let base = &config.rootfs.base;
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
    // Only those below a scratch directory count: a kept `/` (the working
    // directory of a command run from there) must not stand for the test
    // binary under `/tmp` it contains.
    let host_based = matches!(base, ResolvedBase::Host | ResolvedBase::HostRo);
    let hidden: Vec<_> = config
        .keep
        .iter()
        .filter(|keep| fresh.iter().any(|dir| keep.starts_with(dir) && keep.as_path() != Path::new(dir)))
        .cloned()
        .collect();
    for keep in outermost(&hidden).into_iter().filter(|_| host_based) {
        let target = under(NEW_ROOT, &keep);
        ops.push(Op::Mkdir(target.clone()));
        if *base == ResolvedBase::HostRo {
            ops.push(Op::Bind { source: under(OLD_ROOT, &keep), target, recursive: true, readonly: true });
        } else {
            overlays.add(ops, vec![under(OLD_ROOT, &keep)], target, None);
        }
    }
    // Kept paths on a host mount the sandbox shows read-only (a checkout
    // on `/mnt/data`; rootless, under a top-level directory with mounts of
    // its own) are copy-on-write as the rest of the host's files, so that
    // a test can write in its crate directory wherever it lies. Not one
    // with mounts below it: an overlay shows only its own filesystem (and
    // rootless the kernel refuses one over locked mounts).
    if *base == ResolvedBase::Host {
        let read_only: Vec<_> = config
            .keep
            .iter()
            // Those below a scratch directory came back above.
            .filter(|keep| !fresh.iter().any(|dir| keep.starts_with(dir)))
            .filter(|keep| super::root::read_only_on_host(keep, config, host))
            .filter(|keep| !super::root::has_submounts(keep, &host.mount_points))
            .cloned()
            .collect();
        for keep in outermost(&read_only) {
            overlays.add(ops, vec![under(OLD_ROOT, &keep)], under(NEW_ROOT, &keep), None);
        }
    }
}

/// Adds the test's own entries: binds, tmpfs, files, symlinks.
pub(super) fn entries(ops: &mut Vec<Op>, config: &SandboxConfig) {
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
}
