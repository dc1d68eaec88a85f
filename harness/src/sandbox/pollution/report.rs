//! The report's public types: what changed, as the parent shows it (text)
//! and hands it on (JSON); [`Report::is_clean`] and [`Report::disallowed`].

use std::fmt;

use serde::{Deserialize, Serialize};

use super::network::NetworkChange;
use super::pattern;

/// The version of the JSON the harness emits for reports: the `schema`
/// field of `isolated-test run --json`. The schema (the run's document and
/// the [`Report`] in it) is documented in `docs/report-schema.md` of the
/// repository. A field added keeps the version; any other change (a field
/// removed, renamed or retyped, a meaning changed, a new value of a closed
/// set such as [`Change`] or [`FileKind`]) bumps it. Output without the
/// field is of version 1 (made before the field existed).
pub const REPORT_SCHEMA: u32 = 1;

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

/// What kind of file a path is. In JSON and in the text: `file`, `dir`,
/// `symlink`, `other`.
///
/// The variants are in the order of their names, so that sorting changes
/// by kind sorts them as the names would.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// Anything else: a device node, a FIFO, a socket.
    Other,
    /// A symbolic link.
    Symlink,
}

impl FileKind {
    /// The name in JSON and in the text (`file`, `dir`, `symlink`, `other`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dir => "dir",
            Self::File => "file",
            Self::Other => "other",
            Self::Symlink => "symlink",
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One changed path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FileChange {
    /// The path inside the sandbox.
    pub path: String,
    /// How it changed.
    pub change: Change,
    /// What the path is now; `None` for deletions (an empty string in
    /// JSON).
    #[serde(with = "kind_or_empty")]
    pub kind: Option<FileKind>,
    /// Size in bytes (0 for deletions and directories).
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// What differs from the host's version, for modified paths
    /// (`type dir -> file`, `mode 644 -> 600`, `size 10 -> 12`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl FileChange {
    /// `path` deleted: no kind, size or mode.
    pub(super) fn deleted(path: String) -> Self {
        Self { path, change: Change::Deleted, kind: None, size: 0, mode: 0, detail: String::new() }
    }
}

/// [`FileChange::kind`] in JSON: the kind's name, or `""` for none.
mod kind_or_empty {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::FileKind;

    pub(super) fn serialize<S: Serializer>(kind: &Option<FileKind>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(kind.map_or("", FileKind::as_str))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<FileKind>, D::Error> {
        let text = String::deserialize(d)?;
        if text.is_empty() {
            return Ok(None);
        }
        FileKind::deserialize(serde::de::value::StrDeserializer::<D::Error>::new(&text)).map(Some)
    }
}

/// A mount added or removed: where, and which filesystem. In JSON and in
/// the text as one string, `mount point (fstype)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MountEntry {
    /// The mount point inside the sandbox.
    pub point: String,
    /// The filesystem type (`tmpfs`, `overlay`, `proc`).
    pub fs_type: String,
}

impl MountEntry {
    /// The text form's bytes, `point (fstype)`, without building it.
    fn text_bytes(&self) -> impl Iterator<Item = u8> + '_ {
        let (point, fs_type) = (self.point.bytes(), self.fs_type.bytes());
        point.chain(*b" (").chain(fs_type).chain(*b")")
    }

    /// Reads the text form; the mount point may hold ` (`, the type not.
    fn parse(text: &str) -> Option<Self> {
        let (point, fs_type) = text.strip_suffix(')')?.rsplit_once(" (")?;
        Some(Self { point: point.to_owned(), fs_type: fs_type.to_owned() })
    }
}

/// Ordered as the text form is, which is the order the lists of a
/// report have always had.
impl Ord for MountEntry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text_bytes().cmp(other.text_bytes())
    }
}

impl PartialOrd for MountEntry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for MountEntry {
    /// `/mnt (tmpfs)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.point, self.fs_type)
    }
}

impl Serialize for MountEntry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MountEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is no mount: expected `mount point (fstype)`")))
    }
}

/// A name that changed (the hostname, the NIS domain name). In JSON a
/// pair, `[before, after]`; in the text `before -> after`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "(String, String)", into = "(String, String)")]
pub struct NameChange {
    /// The name after the setup.
    pub before: String,
    /// The name at the end.
    pub after: String,
}

impl From<(String, String)> for NameChange {
    fn from((before, after): (String, String)) -> Self {
        Self { before, after }
    }
}

impl From<NameChange> for (String, String) {
    fn from(change: NameChange) -> Self {
        (change.before, change.after)
    }
}

impl fmt::Display for NameChange {
    /// `box -> renamed`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.before, self.after)
    }
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
///
/// Its JSON form (serde, and the `report` of `isolated-test run --json`)
/// is documented field by field in the repository's
/// `docs/report-schema.md`, versioned by [`REPORT_SCHEMA`].
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
    /// Mounts added, sorted.
    pub mounts_added: Vec<MountEntry>,
    /// Mounts removed, sorted.
    pub mounts_removed: Vec<MountEntry>,
    /// The hostname, if it changed.
    pub hostname: Option<NameChange>,
    /// The NIS domain name, if it changed.
    pub domainname: Option<NameChange>,
    /// Links, addresses, routes and qdiscs added (first, sorted) or
    /// removed (then, sorted).
    pub network: Vec<NetworkChange>,
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
        if let Some(change) = &self.hostname {
            writeln!(f, "  hostname: {change}")?;
        }
        if let Some(change) = &self.domainname {
            writeln!(f, "  domainname: {change}")?;
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
            let kind = self.kind.map_or("", FileKind::as_str);
            write!(f, " ({kind}, {} bytes, mode {:o})", self.size, self.mode)?;
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// How many entries the walk of one scratch directory looks at, at most:
/// a test that unpacks a large tree into `/tmp` does not make its report
/// slow (a few milliseconds for the whole walk).
pub(super) const SCRATCH_WALK_LIMIT: usize = 4096;

/// How many scratch changes a report shows as text (all are in the
/// [`Report`] itself, and in `isolated-test run --json`).
pub(super) const SCRATCH_SHOWN: usize = 20;

impl Report {
    /// The changes not covered by `allowed` path patterns (files, what is
    /// left in the scratch directories, mount points, and sysctls as
    /// `/proc/sys/...` paths; hostname, network and processes are never
    /// allowed), as a report of their own.
    ///
    /// The patterns are globs over absolute paths, as `forbid_pollution`
    /// takes them: `*`, `?` and `[...]` match within one path component,
    /// `**` as a whole component any number of components, and `dir/**`
    /// matches `dir` too.
    ///
    /// ```no_run
    /// #[isolated_test::isolated_test]
    /// fn writes_only_its_cache() {
    ///     std::fs::create_dir_all("/var/cache/app").unwrap();
    ///     std::fs::write("/var/cache/app/index", "x").unwrap();
    ///     let left = isolated_test::pollution().disallowed(&["/var/cache/**"]);
    ///     assert!(left.is_clean(), "{left}");
    /// }
    /// ```
    ///
    /// # Panics
    /// A pattern is no valid glob (an unclosed `[`, `**` inside a
    /// component); the message names it. The harness checks the patterns
    /// of `forbid_pollution` and `ISOLATED_TEST_FORBID_POLLUTION` before a
    /// test starts.
    pub fn disallowed(&self, allowed: &[&str]) -> Report {
        let allowed = pattern::compile(allowed).unwrap_or_else(|e| panic!("{e}"));
        let ok = |path: &str| allowed.iter().any(|p| p.matches(path));
        Report {
            files: self.files.iter().filter(|c| !ok(&c.path)).cloned().collect(),
            files_tracked: self.files_tracked,
            scratch: self.scratch.iter().filter(|c| !ok(&c.path)).cloned().collect(),
            scratch_capped: self.scratch_capped.clone(),
            mounts_added: self.mounts_added.iter().filter(|m| !ok(&m.point)).cloned().collect(),
            mounts_removed: self.mounts_removed.iter().filter(|m| !ok(&m.point)).cloned().collect(),
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
                kind: Some(FileKind::File),
                size: 1,
                mode: 0o644,
                detail: String::new(),
            }],
            mounts_added: vec![MountEntry { point: "/mnt/x".into(), fs_type: "tmpfs".into() }],
            sysctls: vec![SysctlChange { name: "net.ipv4.ip_forward".into(), before: "0".into(), after: "1".into() }],
            hostname: Some(NameChange { before: "a".into(), after: "b".into() }),
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
            kind: Some(FileKind::File),
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

    /// Reports the harness made before its report types were typed
    /// (commit fb797b5), each as `isolated-test run --json` prints it
    /// (keys sorted), as the result channel carries it (keys in field
    /// order), as text, and as text after `disallowed` with [`ALLOWED`].
    /// The first is a real run's (`sh -c` writing, chmod-ing and deleting
    /// in `/etc`, leaving files in `/tmp`, `/run`, `/dev/shm`, mounting a
    /// tmpfs, renaming the host and the domain, adding a veth pair and an
    /// address, taking `lo` down, setting a sysctl, leaving a `sleep`);
    /// the second is made by hand for what that run has not (deletions in
    /// scratch, a capped walk, mounts removed and oddly named, no
    /// overlay, no name changes, a route and a qdisc).
    const CAPTURED: [(&str, &str, &str, &str); 2] = [
        (
            include_str!("testdata/report-1.sorted.json"),
            include_str!("testdata/report-1.json"),
            include_str!("testdata/report-1.txt"),
            include_str!("testdata/report-1.disallowed.txt"),
        ),
        (
            include_str!("testdata/report-2.sorted.json"),
            include_str!("testdata/report-2.json"),
            include_str!("testdata/report-2.txt"),
            include_str!("testdata/report-2.disallowed.txt"),
        ),
    ];

    /// The allow-list the captured `disallowed` texts were made with.
    const ALLOWED: [&str; 3] = ["/mnt/*", "/etc/is*", "/tmp/**"];

    #[test]
    fn reports_of_the_untyped_format_read_back_to_the_same_bytes_and_text() {
        for (sorted, fields, text, disallowed) in CAPTURED {
            let report: Report = serde_json::from_str(sorted).unwrap();
            assert_eq!(serde_json::to_value(&report).unwrap().to_string(), sorted);
            assert_eq!(serde_json::to_string(&report).unwrap(), fields);
            assert_eq!(serde_json::from_str::<Report>(fields).unwrap(), report);
            assert_eq!(report.to_string(), text);
            assert_eq!(report.disallowed(&ALLOWED).to_string(), disallowed);
        }
    }

    #[test]
    fn the_captured_report_reads_as_typed_values() {
        let real: Report = serde_json::from_str(CAPTURED[0].0).unwrap();
        let kinds: Vec<Option<FileKind>> = real.files.iter().map(|c| c.kind).collect();
        use FileKind::{Dir, File, Other, Symlink};
        assert_eq!(kinds, [Some(File), Some(File), Some(Dir), Some(Other), Some(Symlink), Some(File), None]);
        assert_eq!(real.mounts_added, [MountEntry { point: "/mnt".into(), fs_type: "tmpfs".into() }]);
        assert_eq!(real.hostname, Some(NameChange { before: "isolated-test".into(), after: "renamed".into() }));
        let network: Vec<(Delta, NetworkItem)> = real.network.iter().map(|n| (n.change, n.what)).collect();
        use super::super::network::{Delta, NetworkItem};
        assert_eq!(
            network,
            [
                (Delta::Added, NetworkItem::Address),
                (Delta::Added, NetworkItem::Link),
                (Delta::Added, NetworkItem::Link),
                (Delta::Added, NetworkItem::Link),
                (Delta::Removed, NetworkItem::Address),
                (Delta::Removed, NetworkItem::Link),
            ]
        );
        assert_eq!(real.network[4].line, "address ::1/128 dev lo");
        let made: Report = serde_json::from_str(CAPTURED[1].0).unwrap();
        let odd = MountEntry { point: "/mnt/(odd)".into(), fs_type: "overlay".into() };
        assert_eq!(made.mounts_added[1], odd);
        assert!(odd < made.mounts_added[0], "ordered as the text is: `(` before `a`");
    }

    #[test]
    fn malformed_values_are_refused_by_name() {
        let change = |kind: &str| format!(r#"{{"path":"/x","change":"added","kind":"{kind}","size":0,"mode":0}}"#);
        assert_eq!(serde_json::from_str::<FileChange>(&change("")).unwrap().kind, None);
        assert_eq!(serde_json::from_str::<FileChange>(&change("symlink")).unwrap().kind, Some(FileKind::Symlink));
        let err = serde_json::from_str::<FileChange>(&change("socket")).unwrap_err().to_string();
        assert!(err.contains("unknown variant `socket`"), "{err}");
        let err = serde_json::from_str::<MountEntry>(r#""/mnt""#).unwrap_err().to_string();
        assert!(err.contains("`/mnt` is no mount: expected `mount point (fstype)`"), "{err}");
        let mount: MountEntry = serde_json::from_str(r#""/mnt/a (b (tmpfs)""#).unwrap();
        assert_eq!((mount.point.as_str(), mount.fs_type.as_str()), ("/mnt/a (b", "tmpfs"));
    }

    #[test]
    fn a_clean_report_says_so() {
        let report = Report { files_tracked: true, ..Report::default() };
        assert!(report.is_clean());
        assert_eq!(report.to_string(), "pollution report: nothing changed\n");
    }
}
