//! What a test or command changed in its own world: files (from the
//! overlay upper layers), mounts, hostname, network links, addresses and
//! routes, namespaced sysctls, processes left running.
//!
//! PID 2 takes a [`Snapshot`] after setup and another at the end; their
//! difference is the [`Report`]. Whether a written file was added or
//! modified is decided in the parent, which can look at the host (the
//! sandbox keeps no handle on the host tree).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
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
    /// Whether nothing changed.
    pub fn is_clean(&self) -> bool {
        self.files.is_empty()
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
                let what = match c.change {
                    Change::Written => "written ",
                    Change::Added => "added   ",
                    Change::Modified => "modified",
                    Change::Deleted => "deleted ",
                };
                let mut line = format!("    {what} {}", c.path);
                if c.change != Change::Deleted {
                    let _ = write!(line, " ({}, {} bytes, mode {:o})", c.kind, c.size, c.mode);
                }
                if !c.detail.is_empty() {
                    let _ = write!(line, ": {}", c.detail);
                }
                writeln!(f, "{line}")?;
            }
        }
        if !self.files_tracked {
            writeln!(f, "  files: not tracked on this root filesystem (no overlay)")?;
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

/// The state a report is a difference of. Taken inside the sandbox.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    files: BTreeMap<String, (String, u64, u32, i64, i64)>,
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

fn walk(dir: &Path, shown: &Path, out: &mut BTreeMap<String, (String, u64, u32, i64, i64)>) {
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
        let size = if ft.is_dir() { 0 } else { meta.size() };
        out.insert(
            path.display().to_string(),
            (kind.to_owned(), size, meta.mode() & 0o7777, meta.mtime(), meta.mtime_nsec()),
        );
        if ft.is_dir() {
            walk(&entry.path(), &path, out);
        }
    }
}

fn is_opaque(dir: &Path) -> bool {
    ["user.overlay.opaque", "trusted.overlay.opaque"].iter().any(|name| {
        let mut value = [0u8; 4];
        matches!(rustix::fs::getxattr(dir, *name, &mut value[..]), Ok(n) if value[..n] == *b"y")
    })
}

fn network_lines() -> BTreeSet<String> {
    let mut lines = BTreeSet::new();
    if let Ok(links) = fs::read_dir("/sys/class/net") {
        for link in links.flatten() {
            let attr = |a: &str| fs::read_to_string(link.path().join(a)).unwrap_or_default().trim().to_owned();
            lines.insert(format!(
                "link {} flags={} mtu={} address={}",
                link.file_name().to_string_lossy(),
                attr("flags"),
                attr("mtu"),
                attr("address")
            ));
        }
    }
    // IPv4 addresses: the fib_trie lines just above each "/32 host LOCAL".
    let trie = fs::read_to_string("/proc/net/fib_trie").unwrap_or_default();
    let trie_lines: Vec<&str> = trie.lines().collect();
    for pair in trie_lines.windows(2) {
        if pair[1].contains("/32 host LOCAL") {
            if let Some(addr) = pair[0].split_whitespace().last() {
                lines.insert(format!("address {addr}"));
            }
        }
    }
    for line in fs::read_to_string("/proc/net/if_inet6").unwrap_or_default().lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if let (Some(addr), Some(dev)) = (cols.first(), cols.last()) {
            lines.insert(format!("address {addr} dev {dev}"));
        }
    }
    for line in fs::read_to_string("/proc/net/route").unwrap_or_default().lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() > 7 {
            lines.insert(format!("route dev {} dest {} gateway {} mask {}", cols[0], cols[1], cols[2], cols[7]));
        }
    }
    lines
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
        let mounts = fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                let dash = f.iter().position(|x| *x == "-")?;
                Some(format!("{} ({})", super::setup::unescape_mountinfo(f.get(4)?), f.get(dash + 1)?))
            })
            .collect();
        let uname = rustix::system::uname();
        let sysctls = BTreeMap::new();
        Self {
            files,
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
    let Ok(entries) = fs::read_dir("/proc") else { return Vec::new() };
    let mut out: Vec<ProcessLeft> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid > 2 && !skip.contains(pid))
        .filter_map(|pid| {
            let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmdline = raw
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ");
            // Zombies have an empty command line and are about to go.
            (!cmdline.is_empty()).then_some(ProcessLeft { pid, cmdline })
        })
        .collect();
    out.sort_by_key(|p| p.pid);
    out
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
                let kind = kind_of(&meta.file_type());
                if kind != change.kind {
                    details.push(format!("type {kind} -> {}", change.kind));
                }
                if meta.mode() & 0o7777 != change.mode {
                    details.push(format!("mode {:o} -> {:o}", meta.mode() & 0o7777, change.mode));
                }
                if kind == "file" && change.kind == "file" && meta.len() != change.size {
                    details.push(format!("size {} -> {}", meta.len(), change.size));
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
            let mut report = report.clone();
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
    /// The changes not covered by `allowed` path patterns (files, mount
    /// points, and sysctls as `/proc/sys/...` paths; hostname, network and
    /// processes are never allowed), as a report of their own.
    pub fn disallowed(&self, allowed: &[&str]) -> Report {
        let ok = |path: &str| allowed.iter().any(|p| path_matches(p, path));
        let mount_point = |m: &String| m.rsplit_once(" (").map_or(m.clone(), |(p, _)| p.to_owned());
        Report {
            files: self.files.iter().filter(|c| !ok(&c.path)).cloned().collect(),
            files_tracked: self.files_tracked,
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
        let layers = Layers { uppers: vec![], tracked: true };
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

    #[test]
    fn a_clean_report_says_so() {
        let report = Report { files_tracked: true, ..Report::default() };
        assert!(report.is_clean());
        assert_eq!(report.to_string(), "pollution report: nothing changed\n");
    }
}
