//! The in-sandbox readers: PID 2 takes a [`Snapshot`] after setup and
//! another at the end, and their difference is a [`Report`] (written
//! paths not yet told apart as added or modified: that is the parent's,
//! in `classify`; but a file the setup put in an upper layer, such as the
//! sandbox's own `/etc/hosts`, is compared here with what it held then).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::network;
use super::report::{
    Change, FileChange, FileKind, MountEntry, NameChange, ProcessLeft, Report, SCRATCH_WALK_LIMIT, SysctlChange,
};

/// What a walk records of one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stat {
    pub(super) kind: FileKind,
    /// Bytes; 0 for a directory.
    pub(super) size: u64,
    /// Permission bits.
    pub(super) mode: u32,
    /// Modification time: seconds and nanoseconds.
    pub(super) mtime: (i64, i64),
}

/// One entry of an upper layer. overlayfs marks a deletion with a 0/0
/// character device (a whiteout), and a directory deleted and made again
/// with an "opaque" attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upper {
    /// A path written (made, changed, copied up).
    Entry(Stat),
    /// A path deleted.
    Whiteout(Stat),
    /// A directory that replaced the one below: nothing below shows through.
    OpaqueDir(Stat),
}

/// The contents of the scratch directories, walked within their own
/// filesystem: the mounts below them (the crate directory kept visible,
/// a test's own mounts) are not scratch.
#[derive(Debug, Clone, Default)]
struct ScratchTree {
    entries: BTreeMap<String, Stat>,
    /// Each scratch directory and the device of the filesystem walked.
    roots: BTreeMap<String, u64>,
    /// The scratch directories whose walk stopped at the bound.
    capped: BTreeSet<String>,
}

/// The state a report is a difference of. Taken inside the sandbox.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    files: BTreeMap<String, Upper>,
    scratch: ScratchTree,
    /// Each mount with its id: one stacked on another at the same point
    /// (a second tmpfs on `/tmp`, hiding what the test left in the first)
    /// is a mount added, though its point and type are the hidden one's.
    mounts: BTreeSet<(u64, MountEntry)>,
    hostname: String,
    domainname: String,
    network: BTreeSet<String>,
    sysctls: BTreeMap<String, String>,
}

/// Upper layer directories (reachable through a kept descriptor) and the
/// sandbox path each one shows up at.
#[derive(Debug, Clone, Default)]
pub(crate) struct Layers {
    /// `(upper dir, sandbox path)`.
    pub(crate) uppers: Vec<(PathBuf, PathBuf)>,
    /// False when the root is not an overlay (busybox).
    pub(crate) tracked: bool,
    /// The scratch directories (a fresh tmpfs each), as the setup made them.
    pub(crate) scratch: Vec<PathBuf>,
}

fn kind_of(ft: &fs::FileType) -> FileKind {
    if ft.is_dir() {
        FileKind::Dir
    } else if ft.is_file() {
        FileKind::File
    } else if ft.is_symlink() {
        FileKind::Symlink
    } else {
        FileKind::Other
    }
}

/// What a walk records of the path `meta` was read from.
pub(super) fn stat(meta: &fs::Metadata) -> Stat {
    Stat {
        kind: kind_of(&meta.file_type()),
        size: if meta.is_dir() { 0 } else { meta.size() },
        mode: meta.mode() & 0o7777,
        mtime: (meta.mtime(), meta.mtime_nsec()),
    }
}

fn walk(dir: &Path, shown: &Path, out: &mut BTreeMap<String, Upper>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        let ft = meta.file_type();
        let path = shown.join(entry.file_name());
        // overlayfs marks deletions with a 0/0 character device, and a
        // directory deleted and made again with an "opaque" attribute
        // (`user.overlay.` with userxattr, `trusted.overlay.` without).
        let found = if ft.is_char_device() && meta.rdev() == 0 {
            Upper::Whiteout(stat(&meta))
        } else if ft.is_dir() && is_opaque(&entry.path()) {
            Upper::OpaqueDir(stat(&meta))
        } else {
            Upper::Entry(stat(&meta))
        };
        out.insert(path.display().to_string(), found);
        if ft.is_dir() {
            walk(&entry.path(), &path, out);
        }
    }
}

impl ScratchTree {
    /// Walks each of `dirs` breadth first, within its own filesystem, up
    /// to `limit` entries each.
    fn take(dirs: &[PathBuf], limit: usize) -> Self {
        let mut tree = Self::default();
        for root in dirs {
            let Ok(meta) = fs::symlink_metadata(root) else { continue };
            if !meta.is_dir() {
                continue;
            }
            let name = root.display().to_string();
            tree.roots.insert(name.clone(), meta.dev());
            if !walk_within(root, meta.dev(), limit, &mut tree.entries) {
                tree.capped.insert(name);
            }
        }
        tree
    }

    /// Whether the scratch directory `path` lies in was walked in full, on
    /// the same filesystem, in both trees: only there does a missing entry
    /// mean a deletion.
    fn compared_in_full(&self, end: &Self, path: &str) -> bool {
        end.roots.iter().any(|(root, dev)| {
            Path::new(path).starts_with(root)
                && self.roots.get(root) == Some(dev)
                && !self.capped.contains(root)
                && !end.capped.contains(root)
        })
    }

    /// What changed from `self` (after setup) to `end`, sorted by path.
    fn diff(&self, end: &Self) -> Vec<FileChange> {
        let entry = |path: &String, change, now: &Stat, detail| FileChange {
            path: path.clone(),
            change,
            kind: Some(now.kind),
            size: now.size,
            mode: now.mode,
            detail,
        };
        let mut out = Vec::new();
        for (path, now) in &end.entries {
            match self.entries.get(path) {
                None => out.push(entry(path, Change::Added, now, String::new())),
                Some(before) if before == now || before.kind == FileKind::Dir && now.kind == FileKind::Dir => {}
                Some(before) => out.push(entry(path, Change::Modified, now, differences(before, now))),
            }
        }
        for path in self.entries.keys() {
            if !end.entries.contains_key(path) && self.compared_in_full(end, path) {
                out.push(FileChange::deleted(path.clone()));
            }
        }
        out.sort();
        out
    }
}

/// Walks `root` breadth first, recording every entry on the filesystem
/// `dev` (a mount point below it shows another device: neither it nor
/// what it holds is recorded) until `limit` entries were looked at.
/// Returns whether the walk went through.
fn walk_within(root: &Path, dev: u64, limit: usize, out: &mut BTreeMap<String, Stat>) -> bool {
    let mut seen = 0;
    let mut dirs = std::collections::VecDeque::from([root.to_path_buf()]);
    while let Some(dir) = dirs.pop_front() {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            if seen == limit {
                return false;
            }
            seen += 1;
            let Ok(meta) = entry.metadata() else { continue };
            if meta.dev() != dev {
                continue;
            }
            let path = entry.path();
            out.insert(path.display().to_string(), stat(&meta));
            if meta.is_dir() {
                dirs.push_back(path);
            }
        }
    }
    true
}

/// What differs between two states of one path (`type file -> dir`,
/// `mode 644 -> 600`, `size 1 -> 3`); empty when only the contents or
/// times changed.
pub(super) fn differences(before: &Stat, now: &Stat) -> String {
    let mut details = Vec::new();
    if before.kind != now.kind {
        details.push(format!("type {} -> {}", before.kind, now.kind));
    }
    if before.mode != now.mode {
        details.push(format!("mode {:o} -> {:o}", before.mode, now.mode));
    }
    if before.kind == FileKind::File && now.kind == FileKind::File && before.size != now.size {
        details.push(format!("size {} -> {}", before.size, now.size));
    }
    details.join(", ")
}

fn is_opaque(dir: &Path) -> bool {
    ["user.overlay.opaque", "trusted.overlay.opaque"].iter().any(|name| {
        let mut value = [0u8; 4];
        matches!(rustix::fs::getxattr(dir, *name, &mut value[..]), Ok(n) if value[..n] == *b"y")
    })
}

fn read_sysctls(dir: &Path, out: &mut BTreeMap<String, String>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            read_sysctls(&path, out);
        } else if let Ok(value) = fs::read_to_string(&path) {
            let name = path.strip_prefix("/proc/sys").unwrap_or(&path).display().to_string().replace('/', ".");
            out.insert(name, value.trim().to_owned());
        }
    }
}

impl Snapshot {
    /// Takes a snapshot inside the sandbox, with the namespaced sysctls
    /// (a thousand files: about 20 ms).
    pub(crate) fn take(layers: &Layers) -> Self {
        let mut snapshot = Self::take_cheap(layers);
        read_sysctls(Path::new("/proc/sys/net"), &mut snapshot.sysctls);
        snapshot
    }

    /// Whether this snapshot read the sysctls.
    pub(crate) fn has_sysctls(&self) -> bool {
        !self.sysctls.is_empty()
    }

    /// Takes a snapshot without the sysctls (well under a millisecond on a
    /// fresh sandbox): the baseline every test gets for [`crate::pollution`].
    pub(crate) fn take_cheap(layers: &Layers) -> Self {
        let mut files = BTreeMap::new();
        for (upper, shown) in &layers.uppers {
            walk(upper, shown, &mut files);
        }
        let mounts = crate::procfs::mounts()
            .unwrap_or_default()
            .into_iter()
            .map(|m| (m.id, MountEntry { point: m.mount_point.display().to_string(), fs_type: m.fs_type }))
            .collect();
        let uname = rustix::system::uname();
        let sysctls = BTreeMap::new();
        Self {
            files,
            scratch: ScratchTree::take(&layers.scratch, SCRATCH_WALK_LIMIT),
            mounts,
            hostname: uname.nodename().to_string_lossy().into_owned(),
            domainname: uname.domainname().to_string_lossy().into_owned(),
            network: network::lines(),
            sysctls,
        }
    }

    /// What changed from `self` (after setup) to `end`, plus the processes
    /// running now other than PIDs 1 and 2.
    pub(crate) fn diff(&self, end: &Snapshot, layers: &Layers) -> Report {
        let mut files = Vec::new();
        for (path, now) in &end.files {
            // A directory the setup's snapshot had too changes with its
            // entries (its times), which are listed themselves.
            let dir_from_setup =
                matches!(now, Upper::Entry(Stat { kind: FileKind::Dir, .. })) && self.files.contains_key(path);
            if self.files.get(path) == Some(now) || dir_from_setup {
                continue;
            }
            files.push(match (self.files.get(path), now) {
                (_, Upper::Whiteout(_)) => FileChange::deleted(path.clone()),
                // A file the setup put there (the sandbox's own `/etc/hosts`,
                // `hostname`, `resolv.conf`, a seed file): what the test
                // changed is known here, from what it held after the setup;
                // the host's file below (its mode, its size) is not what
                // the test started with.
                (Some(Upper::Entry(before)), Upper::Entry(stat)) => FileChange {
                    path: path.clone(),
                    change: Change::Modified,
                    kind: Some(stat.kind),
                    size: stat.size,
                    mode: stat.mode,
                    detail: differences(before, stat),
                },
                (_, Upper::OpaqueDir(stat)) => FileChange {
                    path: path.clone(),
                    change: Change::Written,
                    kind: Some(FileKind::Dir),
                    size: 0,
                    mode: stat.mode,
                    detail: OPAQUE.into(),
                },
                (_, Upper::Entry(stat)) => FileChange {
                    path: path.clone(),
                    change: Change::Written,
                    kind: Some(stat.kind),
                    size: stat.size,
                    mode: stat.mode,
                    detail: String::new(),
                },
            });
        }
        // What the setup put there and the test deleted, where nothing
        // below had it (no whiteout then), unless a directory above it was
        // deleted or replaced (listed itself).
        let gone_above = |path: &str| {
            Path::new(path).ancestors().skip(1).any(|dir| {
                let dir = dir.display().to_string();
                match end.files.get(&dir) {
                    Some(Upper::Whiteout(_) | Upper::OpaqueDir(_)) => true,
                    Some(Upper::Entry(_)) => false,
                    None => self.files.contains_key(&dir),
                }
            })
        };
        for (path, before) in &self.files {
            if matches!(before, Upper::Entry(_)) && !end.files.contains_key(path) && !gone_above(path) {
                files.push(FileChange::deleted(path.clone()));
            }
        }
        files.sort();
        let changed = |a: &str, b: &str| (a != b).then(|| NameChange { before: a.to_owned(), after: b.to_owned() });
        // Sysctls compare only when both snapshots read them.
        let sysctls = end
            .sysctls
            .iter()
            .filter_map(|(name, after)| {
                let before = self.sysctls.get(name)?;
                (before != after).then(|| SysctlChange {
                    name: name.clone(),
                    before: before.clone(),
                    after: after.clone(),
                })
            })
            .collect();
        Report {
            files,
            files_tracked: layers.tracked,
            scratch: self.scratch.diff(&end.scratch),
            scratch_capped: end.scratch.capped.iter().cloned().collect(),
            mounts_added: only_in(&end.mounts, &self.mounts),
            mounts_removed: only_in(&self.mounts, &end.mounts),
            hostname: changed(&self.hostname, &end.hostname),
            domainname: changed(&self.domainname, &end.domainname),
            network: network::changes(&self.network, &end.network),
            sysctls,
            processes: processes_left(),
        }
    }
}

/// The mounts of `a` that `b` does not have (by id, point and type), in
/// the order of their text.
fn only_in(a: &BTreeSet<(u64, MountEntry)>, b: &BTreeSet<(u64, MountEntry)>) -> Vec<MountEntry> {
    let mut only: Vec<MountEntry> = a.difference(b).map(|(_, m)| m.clone()).collect();
    only.sort();
    only
}

/// The detail of a directory deleted and made again.
pub(super) const OPAQUE: &str = "replaced: everything it held below was deleted";

fn processes_left() -> Vec<ProcessLeft> {
    crate::procfs::pids()
        .into_iter()
        .filter(|pid| *pid > 2)
        .filter_map(|pid| {
            let cmdline = crate::procfs::cmdline(pid)?;
            // Zombies have an empty command line and are about to go.
            (!cmdline.is_empty()).then_some(ProcessLeft { pid, cmdline })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot_with(files: &[(&str, Upper)]) -> Snapshot {
        Snapshot { files: files.iter().map(|(p, u)| (p.to_string(), *u)).collect(), ..Snapshot::default() }
    }

    fn written(kind: FileKind, size: u64) -> Upper {
        Upper::Entry(Stat { kind, size, mode: 0o644, mtime: (0, 0) })
    }

    #[test]
    fn scaffolding_present_after_setup_is_not_reported() {
        let whiteout = Upper::Whiteout(Stat { kind: FileKind::Other, size: 0, mode: 0, mtime: (0, 0) });
        let start = snapshot_with(&[("/proc", written(FileKind::Dir, 0))]);
        let end = snapshot_with(&[
            ("/proc", written(FileKind::Dir, 0)),
            ("/etc/new", written(FileKind::File, 3)),
            ("/etc/gone", whiteout),
        ]);
        let layers = Layers { uppers: vec![], tracked: true, scratch: vec![] };
        let report = start.diff(&end, &layers);
        let paths: Vec<(&str, Change)> = report.files.iter().map(|c| (c.path.as_str(), c.change)).collect();
        assert_eq!(paths, [("/etc/gone", Change::Deleted), ("/etc/new", Change::Written)]);
    }

    #[test]
    fn a_file_the_setup_put_there_is_compared_with_what_it_held_then() {
        let file = |size, mode, at| Upper::Entry(Stat { kind: FileKind::File, size, mode, mtime: (at, 0) });
        // The sandbox's own /etc files as the setup staged them.
        let start = snapshot_with(&[
            ("/etc", written(FileKind::Dir, 0)),
            ("/etc/hostname", file(14, 0o644, 1)),
            ("/etc/hosts", file(49, 0o644, 1)),
            ("/etc/resolv.conf", file(25, 0o644, 1)),
            ("/etc/kept", file(1, 0o644, 1)),
        ]);
        // One rewritten, one appended to and made private, one deleted
        // (nothing below: no whiteout), one untouched.
        let end = snapshot_with(&[
            ("/etc", written(FileKind::Dir, 0)),
            ("/etc/hostname", file(2, 0o644, 2)),
            ("/etc/hosts", file(59, 0o600, 2)),
            ("/etc/kept", file(1, 0o644, 1)),
        ]);
        let layers = Layers { uppers: vec![], tracked: true, scratch: vec![] };
        let mut report = start.diff(&end, &layers);
        let expected = [
            ("/etc/hostname", Change::Modified, "size 14 -> 2"),
            ("/etc/hosts", Change::Modified, "mode 644 -> 600, size 49 -> 59"),
            ("/etc/resolv.conf", Change::Deleted, ""),
        ];
        let changes = |report: &Report| -> Vec<(String, Change, String)> {
            report.files.iter().map(|c| (c.path.clone(), c.change, c.detail.clone())).collect()
        };
        let expected: Vec<(String, Change, String)> =
            expected.iter().map(|(p, c, d)| (p.to_string(), *c, d.to_string())).collect();
        assert_eq!(changes(&report), expected);
        // The parent keeps them: the host's file below (mode 755 and 3
        // bytes here) is not what the test started with.
        let host = tempfile::Builder::new().prefix("isolated-test-unit-").tempfile().unwrap();
        fs::write(host.path(), "vm\n").unwrap();
        fs::set_permissions(host.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        crate::sandbox::pollution::classify::classify(&mut report, |_| fs::symlink_metadata(host.path()).ok());
        assert_eq!(changes(&report), expected);
    }

    fn scratch_dir() -> tempfile::TempDir {
        tempfile::Builder::new().prefix("isolated-test-unit-").tempdir().unwrap()
    }

    fn scratch_changes(report: &[FileChange], root: &Path) -> Vec<(String, Change, String)> {
        report
            .iter()
            .map(|c| {
                let path = Path::new(&c.path).strip_prefix(root).unwrap().display().to_string();
                (path, c.change, c.detail.clone())
            })
            .collect()
    }

    #[test]
    fn scratch_leftovers_are_what_changed_since_the_setup() {
        let dir = scratch_dir();
        let root = dir.path();
        // What the setup put there: a seeded file, a directory, one to go.
        fs::write(root.join("seeded"), "a").unwrap();
        fs::create_dir(root.join("kept")).unwrap();
        fs::write(root.join("gone"), "x").unwrap();
        let start = ScratchTree::take(&[root.to_path_buf()], 100);
        fs::write(root.join("seeded"), "abc").unwrap();
        fs::create_dir_all(root.join("tempdir_x/sub")).unwrap();
        fs::write(root.join("tempdir_x/sub/file"), "hi").unwrap();
        fs::write(root.join("kept/new"), "").unwrap();
        fs::remove_file(root.join("gone")).unwrap();
        let end = ScratchTree::take(&[root.to_path_buf()], 100);
        assert!(end.capped.is_empty());
        assert_eq!(
            scratch_changes(&start.diff(&end), root),
            [
                ("gone".into(), Change::Deleted, String::new()),
                ("kept/new".into(), Change::Added, String::new()),
                ("seeded".into(), Change::Modified, "size 1 -> 3".into()),
                ("tempdir_x".into(), Change::Added, String::new()),
                ("tempdir_x/sub".into(), Change::Added, String::new()),
                ("tempdir_x/sub/file".into(), Change::Added, String::new()),
            ]
        );
        assert!(start.diff(&ScratchTree::take(&[root.to_path_buf()], 100)).len() == 6, "taking it twice is the same");
        assert!(end.diff(&end).is_empty());
    }

    #[test]
    fn the_scratch_walk_stays_on_its_filesystem() {
        // `/proc` is another filesystem below `/` on every Linux host.
        let root = Path::new("/");
        let dev = fs::metadata(root).unwrap().dev();
        let mut entries = BTreeMap::new();
        walk_within(root, dev, 64, &mut entries);
        assert!(!entries.is_empty());
        assert!(!entries.keys().any(|p| p.starts_with("/proc")), "{:?}", entries.keys());
    }

    #[test]
    fn a_large_scratch_tree_is_walked_breadth_first_up_to_the_bound() {
        let dir = scratch_dir();
        let root = dir.path();
        fs::write(root.join("seeded"), "").unwrap();
        let start = ScratchTree::take(&[root.to_path_buf()], 100);
        fs::create_dir(root.join("big")).unwrap();
        for i in 0..50 {
            fs::write(root.join(format!("big/{i}")), "").unwrap();
        }
        fs::write(root.join("top"), "").unwrap();
        fs::remove_file(root.join("seeded")).unwrap();
        let end = ScratchTree::take(&[root.to_path_buf()], 10);
        assert_eq!(end.capped, BTreeSet::from([root.display().to_string()]));
        let changes = scratch_changes(&start.diff(&end), root);
        assert!(changes.contains(&("top".into(), Change::Added, String::new())), "the top level comes first");
        assert!(changes.contains(&("big".into(), Change::Added, String::new())), "{changes:?}");
        assert_eq!(changes.len(), 10, "{changes:?}");
        // `seeded` may lie beyond the bound: it is not called deleted.
        assert!(!changes.iter().any(|c| c.1 == Change::Deleted), "{changes:?}");
    }

    #[test]
    fn a_scratch_directory_covered_by_a_mount_reports_no_deletions() {
        let tree = |dev: u64, paths: &[&str]| ScratchTree {
            entries: paths
                .iter()
                .map(|p| (p.to_string(), Stat { kind: FileKind::File, size: 0, mode: 0o644, mtime: (0, 0) }))
                .collect(),
            roots: BTreeMap::from([("/tmp".to_owned(), dev)]),
            capped: BTreeSet::new(),
        };
        let start = tree(1, &["/tmp/setup"]);
        let covered = tree(2, &["/tmp/new"]);
        let paths: Vec<String> = start.diff(&covered).into_iter().map(|c| c.path).collect();
        assert_eq!(paths, ["/tmp/new"]);
        let same = tree(1, &["/tmp/new"]);
        let changes: Vec<(String, Change)> = start.diff(&same).into_iter().map(|c| (c.path, c.change)).collect();
        assert_eq!(changes, [("/tmp/new".into(), Change::Added), ("/tmp/setup".into(), Change::Deleted)]);
    }
}
