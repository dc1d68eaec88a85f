//! The report's public types: what changed, as the parent shows it (text)
//! and hands it on (JSON); [`Report::is_clean`] and [`Report::disallowed`].

use std::fmt;

use serde::{Deserialize, Serialize};

use super::pattern::path_matches;
use super::snapshot::SCRATCH_WALK_LIMIT;

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
pub(super) const SCRATCH_SHOWN: usize = 20;

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
