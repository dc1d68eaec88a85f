//! What a test or command changed in its own world: files (from the
//! overlay upper layers), what is left in the scratch directories (`/tmp`,
//! `/run`, `/var/tmp`, `/dev/shm`: a fresh tmpfs each, so a walk of their
//! own), mounts, hostname, network links, addresses and routes, namespaced
//! sysctls, processes left running.
//!
//! PID 2 takes a [`Snapshot`] after setup and another at the end; their
//! difference is the [`Report`]. Whether a written file was added or
//! modified is decided in the parent, which can look at the host (the
//! sandbox keeps no handle on the host tree).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How a path changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Written inside; not yet classified against the host.
    Written,
    /// New: the lower layer did not have it.
    Added,
    /// Existed below and was changed (contents, type or mode).
    Modified,
    /// Deleted (a whiteout in the upper layer).
    Deleted,
}

/// One changed path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FileChange {
    /// The path inside the sandbox.
    pub path: String,
    /// How it changed.
    pub change: Change,
    /// `file`, `dir`, `symlink`, `other`; empty for deletions.
    pub kind: String,
    /// Size in bytes (0 for deletions and directories).
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// What differs from the host's version, for modified paths
    /// (`type dir -> file`, `mode 644 -> 600`, `size 10 -> 12`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// A namespaced sysctl that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysctlChange {
    /// Dotted name, e.g. `net.ipv4.ip_forward`.
    pub name: String,
    /// Value after setup.
    pub before: String,
    /// Value at the end.
    pub after: String,
}

/// A process still running at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessLeft {
    /// PID inside the sandbox.
    pub pid: u32,
    /// Command line.
    pub cmdline: String,
}

/// Everything a test or command changed in its sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Changed paths, sorted.
    pub files: Vec<FileChange>,
    /// Whether file changes could be tracked (not on a busybox root).
    pub files_tracked: bool,
    /// What changed in the scratch directories (`/tmp`, `/run`,
    /// `/var/tmp`, `/dev/shm`) since the setup, sorted: added, modified
    /// (type, mode and size told apart as for [`Report::files`]) or
    /// deleted. They are a fresh tmpfs in the sandbox, so nothing reaches
    /// the host, but on a real host all of it would be left behind. The
    /// harness's own scaffolding (mounts it keeps visible below `/tmp`,
    /// `file`, `seed_file` and other entries placed there) is there before
    /// the test starts and is not listed.
    #[serde(default)]
    pub scratch: Vec<FileChange>,
    /// The scratch directories whose walk stopped at its bound (4096
    /// entries each, breadth first): what lies deeper in them is not
    /// listed, and no deletion is reported there.
    #[serde(default)]
    pub scratch_capped: Vec<String>,
    /// Mounts added (`mount point (fstype)`).
    pub mounts_added: Vec<String>,
    /// Mounts removed.
    pub mounts_removed: Vec<String>,
    /// `before -> after` of the hostname, if it changed.
    pub hostname: Option<(String, String)>,
    /// `before -> after` of the NIS domain name, if it changed.
    pub domainname: Option<(String, String)>,
    /// Network changes: `+ ...` added, `- ...` removed, lines of links,
    /// addresses and routes.
    pub network: Vec<String>,
    /// Namespaced sysctls (`/proc/sys/net`) that changed.
    pub sysctls: Vec<SysctlChange>,
    /// Processes other than the harness's still running.
    pub processes: Vec<ProcessLeft>,
}

impl Report {
    /// Whether nothing changed, in the scratch directories included.
    /// [`Report::scratch_capped`] is a note on the listing, not a change of
    /// its own (a walk stops only where many entries are left, and those
    /// it reached are listed).
    pub fn is_clean(&self) -> bool {
        self.files.is_empty()
            && self.scratch.is_empty()
            && self.mounts_added.is_empty()
            && self.mounts_removed.is_empty()
            && self.hostname.is_none()
            && self.domainname.is_none()
            && self.network.is_empty()
            && self.sysctls.is_empty()
            && self.processes.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_clean() {
            return writeln!(f, "pollution report: nothing changed");
        }
        writeln!(f, "pollution report:")?;
        if !self.files.is_empty() {
            writeln!(f, "  files:")?;
            for c in &self.files {
                writeln!(f, "    {c}")?;
            }
        }
        if !self.files_tracked {
            writeln!(f, "  files: not tracked on this root filesystem (no overlay)")?;
        }
        if !self.scratch.is_empty() {
            writeln!(f, "  scratch (a fresh tmpfs here; on a real host this would be left behind):")?;
            for c in self.scratch.iter().take(SCRATCH_SHOWN) {
                writeln!(f, "    {c}")?;
            }
            if self.scratch.len() > SCRATCH_SHOWN {
                let more = self.scratch.len() - SCRATCH_SHOWN;
                writeln!(f, "    ... and {more} more ({} in all)", self.scratch.len())?;
            }
        }
        for dir in &self.scratch_capped {
            writeln!(
                f,
                "  scratch: the walk of {dir} stopped after {SCRATCH_WALK_LIMIT} entries (breadth first); \
                 more may be left deeper down"
            )?;
        }
        for m in &self.mounts_added {
            writeln!(f, "  mount added:   {m}")?;
        }
        for m in &self.mounts_removed {
            writeln!(f, "  mount removed: {m}")?;
        }
        if let Some((a, b)) = &self.hostname {
            writeln!(f, "  hostname: {a} -> {b}")?;
        }
        if let Some((a, b)) = &self.domainname {
            writeln!(f, "  domainname: {a} -> {b}")?;
        }
        for n in &self.network {
            writeln!(f, "  network: {n}")?;
        }
        for s in &self.sysctls {
            writeln!(f, "  sysctl {}: {} -> {}", s.name, s.before, s.after)?;
        }
        for p in &self.processes {
            writeln!(f, "  process still running: pid {} {}", p.pid, p.cmdline)?;
        }
        Ok(())
    }
}

impl fmt::Display for FileChange {
    /// `added    /etc/x (file, 3 bytes, mode 644): detail`, as in a report.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.change {
            Change::Written => "written ",
            Change::Added => "added   ",
            Change::Modified => "modified",
            Change::Deleted => "deleted ",
        };
        write!(f, "{what} {}", self.path)?;
        if self.change != Change::Deleted {
            write!(f, " ({}, {} bytes, mode {:o})", self.kind, self.size, self.mode)?;
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// How many scratch changes a report shows as text (all are in the
/// [`Report`] itself, and in `isolated-test run --json`).
pub(crate) const SCRATCH_SHOWN: usize = 20;

/// How many entries the walk of one scratch directory looks at, at most:
/// a test that unpacks a large tree into `/tmp` does not make its report
/// slow (a few milliseconds for the whole walk).
pub(crate) const SCRATCH_WALK_LIMIT: usize = 4096;

/// `(kind, size, mode, mtime, mtime nanoseconds)` of one path.
type Stat = (String, u64, u32, i64, i64);

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
    files: BTreeMap<String, Stat>,
    scratch: ScratchTree,
    mounts: BTreeSet<String>,
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

fn kind_of(ft: &fs::FileType) -> &'static str {
    if ft.is_dir() {
        "dir"
    } else if ft.is_file() {
        "file"
    } else if ft.is_symlink() {
        "symlink"
    } else {
        "other"
    }
}

fn stat(kind: &str, meta: &fs::Metadata) -> Stat {
    let size = if meta.is_dir() { 0 } else { meta.size() };
    (kind.to_owned(), size, meta.mode() & 0o7777, meta.mtime(), meta.mtime_nsec())
}

fn walk(dir: &Path, shown: &Path, out: &mut BTreeMap<String, Stat>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        let ft = meta.file_type();
        let path = shown.join(entry.file_name());
        // overlayfs marks deletions with a 0/0 character device, and a
        // directory deleted and made again with an "opaque" attribute
        // (`user.overlay.` with userxattr, `trusted.overlay.` without).
        let kind = if ft.is_char_device() && meta.rdev() == 0 {
            "whiteout"
        } else if ft.is_dir() && is_opaque(&entry.path()) {
            "opaque-dir"
        } else {
            kind_of(&ft)
        };
        out.insert(path.display().to_string(), stat(kind, &meta));
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
        let entry = |path: &String, change, (kind, size, mode, ..): &Stat, detail| FileChange {
            path: path.clone(),
            change,
            kind: kind.clone(),
            size: *size,
            mode: *mode,
            detail,
        };
        let mut out = Vec::new();
        for (path, now) in &end.entries {
            match self.entries.get(path) {
                None => out.push(entry(path, Change::Added, now, String::new())),
                Some(before) if before == now || before.0 == "dir" && now.0 == "dir" => {}
                Some(before) => out.push(entry(path, Change::Modified, now, differences(before, now))),
            }
        }
        for path in self.entries.keys() {
            if !end.entries.contains_key(path) && self.compared_in_full(end, path) {
                out.push(entry(path, Change::Deleted, &Stat::default(), String::new()));
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
            out.insert(path.display().to_string(), stat(kind_of(&meta.file_type()), &meta));
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
fn differences(before: &Stat, now: &Stat) -> String {
    let mut details = Vec::new();
    if before.0 != now.0 {
        details.push(format!("type {} -> {}", before.0, now.0));
    }
    if before.2 != now.2 {
        details.push(format!("mode {:o} -> {:o}", before.2, now.2));
    }
    if before.0 == "file" && now.0 == "file" && before.1 != now.1 {
        details.push(format!("size {} -> {}", before.1, now.1));
    }
    details.join(", ")
}

fn is_opaque(dir: &Path) -> bool {
    ["user.overlay.opaque", "trusted.overlay.opaque"].iter().any(|name| {
        let mut value = [0u8; 4];
        matches!(rustix::fs::getxattr(dir, *name, &mut value[..]), Ok(n) if value[..n] == *b"y")
    })
}

/// Links, addresses, routes (IPv4 and IPv6) and qdiscs of the current
/// network namespace, by netlink (see `net::state_lines`); empty if the
/// namespace cannot be read.
fn network_lines() -> BTreeSet<String> {
    crate::net::state_lines().unwrap_or_default()
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
            .map(|m| format!("{} ({})", m.mount_point.display(), m.fs_type))
            .collect();
        let uname = rustix::system::uname();
        let sysctls = BTreeMap::new();
        Self {
            files,
            scratch: ScratchTree::take(&layers.scratch, SCRATCH_WALK_LIMIT),
            mounts,
            hostname: uname.nodename().to_string_lossy().into_owned(),
            domainname: uname.domainname().to_string_lossy().into_owned(),
            network: network_lines(),
            sysctls,
        }
    }

    /// What changed from `self` (after setup) to `end`, plus the processes
    /// running now other than PIDs 1 and 2 (and `skip`).
    pub(crate) fn diff(&self, end: &Snapshot, layers: &Layers, skip: &[u32]) -> Report {
        let mut files = Vec::new();
        for (path, now) in &end.files {
            if self.files.get(path) == Some(now) || now.0 == "dir" && self.files.contains_key(path) {
                continue;
            }
            let (kind, size, mode, _, _) = now;
            files.push(if kind == "whiteout" {
                FileChange {
                    path: path.clone(),
                    change: Change::Deleted,
                    kind: String::new(),
                    size: 0,
                    mode: 0,
                    detail: String::new(),
                }
            } else if kind == "opaque-dir" {
                FileChange {
                    path: path.clone(),
                    change: Change::Written,
                    kind: "dir".into(),
                    size: 0,
                    mode: *mode,
                    detail: OPAQUE.into(),
                }
            } else {
                FileChange {
                    path: path.clone(),
                    change: Change::Written,
                    kind: kind.clone(),
                    size: *size,
                    mode: *mode,
                    detail: String::new(),
                }
            });
        }
        let changed = |a: &str, b: &str| (a != b).then(|| (a.to_owned(), b.to_owned()));
        let mut network = Vec::new();
        for line in end.network.difference(&self.network) {
            network.push(format!("+ {line}"));
        }
        for line in self.network.difference(&end.network) {
            network.push(format!("- {line}"));
        }
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
            mounts_added: end.mounts.difference(&self.mounts).cloned().collect(),
            mounts_removed: self.mounts.difference(&end.mounts).cloned().collect(),
            hostname: changed(&self.hostname, &end.hostname),
            domainname: changed(&self.domainname, &end.domainname),
            network,
            sysctls,
            processes: processes_left(skip),
        }
    }
}

/// The detail of a directory deleted and made again.
const OPAQUE: &str = "replaced: everything it held below was deleted";

fn processes_left(skip: &[u32]) -> Vec<ProcessLeft> {
    crate::procfs::pids()
        .into_iter()
        .filter(|pid| *pid > 2 && !skip.contains(pid))
        .filter_map(|pid| {
            let cmdline = crate::procfs::cmdline(pid)?;
            // Zombies have an empty command line and are about to go.
            (!cmdline.is_empty()).then_some(ProcessLeft { pid, cmdline })
        })
        .collect()
}

/// Classifies written paths against `lower(path)`, which returns the
/// metadata of the same path below the overlay, if any.
pub(crate) fn classify(report: &mut Report, lower: impl Fn(&str) -> Option<fs::Metadata>) {
    for change in &mut report.files {
        if change.change != Change::Written {
            continue;
        }
        let opaque = change.detail == OPAQUE;
        match lower(&change.path) {
            None => {
                change.change = Change::Added;
                change.detail.clear();
            }
            Some(meta) => {
                let mut details = Vec::new();
                if opaque {
                    details.push(OPAQUE.to_owned());
                }
                let below = stat(kind_of(&meta.file_type()), &meta);
                let differ = differences(&below, &(change.kind.clone(), change.size, change.mode, 0, 0));
                if !differ.is_empty() {
                    details.push(differ);
                }
                change.change = Change::Modified;
                change.detail = details.join(", ");
            }
        }
    }
    // A directory that exists below and only holds changed entries is not a
    // change of its own.
    report.files.retain(|c| !(c.change == Change::Modified && c.kind == "dir" && c.detail.is_empty()));
    report.files.sort();
}

/// Classifies against the host's files (`lowers` empty) or against image
/// layers (host directories, bottom first).
pub(crate) fn classify_on_host(report: &mut Report, lowers: &[PathBuf]) {
    classify(report, |path| {
        if lowers.is_empty() {
            return fs::symlink_metadata(path).ok();
        }
        let rel = path.trim_start_matches('/');
        lowers.iter().rev().find_map(|layer| fs::symlink_metadata(layer.join(rel)).ok())
    });
}

/// The report in the messages of a finished sandbox, classified.
pub(crate) fn from_messages(messages: &[super::protocol::Message]) -> Option<Report> {
    messages.iter().find_map(|m| match m {
        super::protocol::Message::Report { report, lowers } => {
            let mut report = Report::clone(report);
            classify_on_host(&mut report, lowers);
            Some(report)
        }
        _ => None,
    })
}

/// Whether `path` matches `pattern`: `*` is any text within one path
/// component, `**` any number of components.
pub(crate) fn path_matches(pattern: &str, path: &str) -> bool {
    fn component(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => component(&p[1..], s) || (!s.is_empty() && component(p, &s[1..])),
            (Some(a), Some(b)) if a == b => component(&p[1..], &s[1..]),
            _ => false,
        }
    }
    fn parts(p: &[&str], s: &[&str]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(&"**"), _) => parts(&p[1..], s) || (!s.is_empty() && parts(p, &s[1..])),
            (Some(a), Some(b)) => component(a.as_bytes(), b.as_bytes()) && parts(&p[1..], &s[1..]),
            _ => false,
        }
    }
    fn split(t: &str) -> Vec<&str> {
        t.split('/').filter(|c| !c.is_empty()).collect()
    }
    parts(&split(pattern), &split(path))
}

impl Report {
    /// The changes not covered by `allowed` path patterns (files, what is
    /// left in the scratch directories, mount points, and sysctls as
    /// `/proc/sys/...` paths; hostname, network and processes are never
    /// allowed), as a report of their own.
    pub fn disallowed(&self, allowed: &[&str]) -> Report {
        let ok = |path: &str| allowed.iter().any(|p| path_matches(p, path));
        let mount_point = |m: &String| m.rsplit_once(" (").map_or(m.clone(), |(p, _)| p.to_owned());
        Report {
            files: self.files.iter().filter(|c| !ok(&c.path)).cloned().collect(),
            files_tracked: self.files_tracked,
            scratch: self.scratch.iter().filter(|c| !ok(&c.path)).cloned().collect(),
            scratch_capped: self.scratch_capped.clone(),
            mounts_added: self.mounts_added.iter().filter(|m| !ok(&mount_point(m))).cloned().collect(),
            mounts_removed: self.mounts_removed.iter().filter(|m| !ok(&mount_point(m))).cloned().collect(),
            hostname: self.hostname.clone(),
            domainname: self.domainname.clone(),
            network: self.network.clone(),
            sysctls: self
                .sysctls
                .iter()
                .filter(|s| !ok(&format!("/proc/sys/{}", s.name.replace('.', "/"))))
                .cloned()
                .collect(),
            processes: self.processes.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot_with(files: &[(&str, &str, u64)]) -> Snapshot {
        Snapshot {
            files: files.iter().map(|(p, k, s)| (p.to_string(), (k.to_string(), *s, 0o644, 0, 0))).collect(),
            ..Snapshot::default()
        }
    }

    #[test]
    fn scaffolding_present_after_setup_is_not_reported() {
        let start = snapshot_with(&[("/proc", "dir", 0)]);
        let end = snapshot_with(&[("/proc", "dir", 0), ("/etc/new", "file", 3), ("/etc/gone", "whiteout", 0)]);
        let layers = Layers { uppers: vec![], tracked: true, scratch: vec![] };
        let report = start.diff(&end, &layers, &[]);
        let paths: Vec<(&str, Change)> = report.files.iter().map(|c| (c.path.as_str(), c.change)).collect();
        assert_eq!(paths, [("/etc/gone", Change::Deleted), ("/etc/new", Change::Written)]);
    }

    #[test]
    fn classification_against_the_lower_layer() {
        let mut report = Report {
            files: vec![
                FileChange {
                    path: "/etc/passwd".into(),
                    change: Change::Written,
                    kind: "file".into(),
                    size: 1,
                    mode: 0o600,
                    detail: String::new(),
                },
                FileChange {
                    path: "/etc/isolated-test-new".into(),
                    change: Change::Written,
                    kind: "file".into(),
                    size: 1,
                    mode: 0o644,
                    detail: String::new(),
                },
                FileChange {
                    path: "/etc".into(),
                    change: Change::Written,
                    kind: "dir".into(),
                    size: 0,
                    mode: 0o755,
                    detail: String::new(),
                },
            ],
            files_tracked: true,
            ..Report::default()
        };
        classify(&mut report, |p| fs::metadata(p).ok());
        assert_eq!(report.files.len(), 2, "{report:#?}");
        let passwd = report.files.iter().find(|c| c.path == "/etc/passwd").unwrap();
        assert_eq!(passwd.change, Change::Modified);
        assert!(passwd.detail.contains("mode 644 -> 600") && passwd.detail.contains("size"), "{}", passwd.detail);
        assert_eq!(report.files.iter().find(|c| c.path == "/etc/isolated-test-new").unwrap().change, Change::Added);
        let text = report.to_string();
        assert!(text.contains("modified /etc/passwd") && text.contains("added    /etc/isolated-test-new"), "{text}");
    }

    #[test]
    fn path_patterns() {
        assert!(path_matches("/var/cache/**", "/var/cache/apt/pkgcache.bin"));
        assert!(path_matches("/var/cache/**", "/var/cache"));
        assert!(path_matches("/etc/*.conf", "/etc/app.conf"));
        assert!(!path_matches("/etc/*.conf", "/etc/sub/app.conf"));
        assert!(path_matches("/tmp/**/x", "/tmp/a/b/x"));
        assert!(!path_matches("/etc/hosts", "/etc/hostname"));
    }

    #[test]
    fn allow_lists_filter_paths_mounts_and_sysctls_only() {
        let report = Report {
            files: vec![FileChange {
                path: "/var/cache/x".into(),
                change: Change::Added,
                kind: "file".into(),
                size: 1,
                mode: 0o644,
                detail: String::new(),
            }],
            mounts_added: vec!["/mnt/x (tmpfs)".into()],
            sysctls: vec![SysctlChange { name: "net.ipv4.ip_forward".into(), before: "0".into(), after: "1".into() }],
            hostname: Some(("a".into(), "b".into())),
            files_tracked: true,
            ..Report::default()
        };
        let left = report.disallowed(&["/var/cache/**", "/mnt/*", "/proc/sys/net/ipv4/**"]);
        assert!(left.files.is_empty() && left.mounts_added.is_empty() && left.sysctls.is_empty());
        assert!(left.hostname.is_some(), "hostname changes are never allowed");
        assert!(!left.is_clean());
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
            entries: paths.iter().map(|p| (p.to_string(), ("file".into(), 0, 0o644, 0, 0))).collect(),
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

    fn scratch_file(path: &str) -> FileChange {
        FileChange {
            path: path.into(),
            change: Change::Added,
            kind: "file".into(),
            size: 2,
            mode: 0o644,
            detail: String::new(),
        }
    }

    #[test]
    fn scratch_leftovers_are_pollution_unless_allowed() {
        let report = Report {
            files_tracked: true,
            scratch: vec![scratch_file("/run/z"), scratch_file("/tmp/cache/x")],
            ..Report::default()
        };
        assert!(!report.is_clean());
        let text = report.to_string();
        assert!(text.contains("  scratch (a fresh tmpfs here; on a real host this would be left behind):\n"), "{text}");
        assert!(text.contains("    added    /run/z (file, 2 bytes, mode 644)\n"), "{text}");
        let left = report.disallowed(&["/tmp/**"]);
        assert_eq!(left.scratch, [scratch_file("/run/z")]);
        assert!(report.disallowed(&["/tmp/**", "/run/*"]).is_clean());
    }

    #[test]
    fn a_long_scratch_listing_shows_its_first_entries_and_a_count() {
        let report = Report {
            files_tracked: true,
            scratch: (0..SCRATCH_SHOWN + 7).map(|i| scratch_file(&format!("/tmp/f{i:03}"))).collect(),
            scratch_capped: vec!["/tmp".into()],
            ..Report::default()
        };
        let text = report.to_string();
        assert_eq!(text.matches("    added    /tmp/f").count(), SCRATCH_SHOWN, "{text}");
        assert!(text.contains(&format!("    ... and 7 more ({} in all)\n", SCRATCH_SHOWN + 7)), "{text}");
        assert!(text.contains("scratch: the walk of /tmp stopped after 4096 entries (breadth first)"), "{text}");
        assert!(!text.contains("/tmp/f020"), "the listing is sorted and cut: {text}");
    }

    #[test]
    fn a_clean_report_says_so() {
        let report = Report { files_tracked: true, ..Report::default() };
        assert!(report.is_clean());
        assert_eq!(report.to_string(), "pollution report: nothing changed\n");
    }
}
