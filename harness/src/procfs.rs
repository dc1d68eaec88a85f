//! The one reader of `/proc` in the workspace: the mount table
//! (`/proc/self/mountinfo`) and the processes (`/proc/<pid>`).
//!
//! Hand-written rather than the `procfs` crate: the harness reads one table
//! and two files per process, and that crate would add its dependency tree
//! to every user's build for them.
//!
//! Paths are byte-exact: the kernel's octal escapes (`\040` for a space)
//! are undone into an [`OsString`], never into a lossy string.
//!
//! ```
//! for mount in isolated_test::procfs::mounts()? {
//!     println!("{} on {} ({})", mount.source.display(), mount.mount_point.display(), mount.fs_type);
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// One line of `/proc/<pid>/mountinfo` (see `proc_pid_mountinfo(5)`).
///
/// ```
/// let line = b"36 35 98:0 /mnt1 /mnt/a\\040b rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n";
/// let mount = &isolated_test::procfs::parse_mountinfo(line)[0];
/// assert_eq!((mount.id, mount.parent), (36, 35));
/// assert_eq!(mount.mount_point, std::path::Path::new("/mnt/a b"));
/// assert_eq!(mount.optional, ["master:1"]);
/// assert_eq!(mount.fs_type, "ext3");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The mount's id, unique in its namespace, reused after an unmount.
    pub id: u64,
    /// The id of the mount it is mounted on (its own for the root).
    pub parent: u64,
    /// `major:minor` of the filesystem's device.
    pub device: String,
    /// The directory of the filesystem that is the root of this mount.
    pub root: PathBuf,
    /// Where it is mounted, relative to the reading process's root.
    pub mount_point: PathBuf,
    /// Per-mount options (`rw,nosuid,relatime`).
    pub options: String,
    /// Optional fields: propagation (`shared:7`, `master:3`, `unbindable`).
    pub optional: Vec<String>,
    /// Filesystem type (`ext4`, `overlay`, `cgroup2`).
    pub fs_type: String,
    /// Filesystem-specific source (a device path, `none`, `overlay`).
    pub source: PathBuf,
    /// Per-superblock options.
    pub super_options: String,
}

/// The calling process's mount table, in the kernel's order (parents
/// before the mounts on them).
///
/// # Errors
/// `/proc/self/mountinfo` could not be read (no `/proc` mounted).
///
/// ```
/// let mounts = isolated_test::procfs::mounts()?;
/// assert!(mounts.iter().any(|m| m.mount_point == std::path::Path::new("/")));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn mounts() -> io::Result<Vec<Mount>> {
    Ok(parse_mountinfo(&fs::read("/proc/self/mountinfo")?))
}

/// Parses the text of a `mountinfo` file; lines that do not have the
/// kernel's shape are skipped.
///
/// ```
/// use isolated_test::procfs::parse_mountinfo;
///
/// let text = b"22 1 0:21 / /proc rw,nosuid - proc proc rw\nnot a mount line\n";
/// let mounts = parse_mountinfo(text);
/// assert_eq!(mounts.len(), 1);
/// assert_eq!(mounts[0].fs_type, "proc");
/// ```
#[must_use]
pub fn parse_mountinfo(text: &[u8]) -> Vec<Mount> {
    text.split(|b| *b == b'\n').filter_map(parse_line).collect()
}

fn parse_line(line: &[u8]) -> Option<Mount> {
    let fields: Vec<&[u8]> = line.split(|b| *b == b' ').collect();
    let dash = fields.iter().position(|f| *f == b"-")?;
    if dash < 6 || fields.len() < dash + 4 {
        return None;
    }
    let text = |f: &[u8]| String::from_utf8_lossy(f).into_owned();
    Some(Mount {
        id: text(fields[0]).parse().ok()?,
        parent: text(fields[1]).parse().ok()?,
        device: text(fields[2]),
        root: unescape(fields[3]),
        mount_point: unescape(fields[4]),
        options: text(fields[5]),
        optional: fields[6..dash].iter().map(|f| text(f)).collect(),
        fs_type: text(fields[dash + 1]),
        source: unescape(fields[dash + 2]),
        super_options: text(fields[dash + 3]),
    })
}

/// Undoes the kernel's octal escaping of space, tab, newline and
/// backslash (`\040`, `\011`, `\012`, `\134`), byte for byte.
fn unescape(field: &[u8]) -> PathBuf {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field.get(i + 1..i + 4).filter(|d| d[0] <= b'3' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (field[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    PathBuf::from(OsString::from_vec(out))
}

/// The PIDs listed in `/proc`, ascending: the processes of the reading
/// process's PID namespace (of the `/proc` mounted there). Empty when
/// `/proc` cannot be read.
///
/// ```
/// let pids = isolated_test::procfs::pids();
/// assert!(pids.contains(&std::process::id()));
/// ```
#[must_use]
pub fn pids() -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else { return Vec::new() };
    let mut out: Vec<u32> = entries.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect();
    out.sort_unstable();
    out
}

/// The command line of `pid`, arguments joined by spaces (lossy UTF-8):
/// for reports. `Some("")` for a zombie or a kernel thread, `None` when
/// the process is gone.
///
/// ```
/// use isolated_test::procfs::{cmdline, pids};
///
/// // Like `pgrep -f`.
/// let sleepers: Vec<u32> = pids().into_iter().filter(|&pid| cmdline(pid).is_some_and(|c| c.starts_with("sleep "))).collect();
/// # drop(sleepers);
/// assert!(cmdline(std::process::id()).is_some());
/// ```
#[must_use]
pub fn cmdline(pid: u32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(String::from_utf8_lossy).collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_with_optional_fields_and_escapes() {
        let info = b"22 27 0:21 / /proc rw,nosuid - proc proc rw\n\
            30 27 0:1 /sub /mnt/with\\040space\\134x rw shared:4 master:2 - tmpfs my\\011src rw,size=4k\n";
        let mounts = parse_mountinfo(info);
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[0].mount_point, PathBuf::from("/proc"));
        assert_eq!(mounts[0].optional, Vec::<String>::new());
        let m = &mounts[1];
        assert_eq!((m.id, m.parent, m.device.as_str()), (30, 27, "0:1"));
        assert_eq!(m.root, PathBuf::from("/sub"));
        assert_eq!(m.mount_point, PathBuf::from("/mnt/with space\\x"));
        assert_eq!(m.optional, ["shared:4", "master:2"]);
        assert_eq!((m.fs_type.as_str(), m.super_options.as_str()), ("tmpfs", "rw,size=4k"));
        assert_eq!(m.source, PathBuf::from("my\tsrc"));
    }

    #[test]
    fn mount_points_are_byte_exact() {
        // A name that is not UTF-8 (0xff) comes back as the same bytes.
        let info = b"30 27 0:1 / /mnt/\xff\\040x rw - tmpfs t rw\n";
        let point = parse_mountinfo(info).remove(0).mount_point;
        assert_eq!(point.into_os_string().into_vec(), b"/mnt/\xff x");
    }

    #[test]
    fn malformed_lines_are_skipped() {
        assert!(parse_mountinfo(b"garbage\n22 27 0:21 / /proc rw proc proc rw\n\n").is_empty());
        // A backslash not followed by three octal digits is kept as it is.
        let m = parse_mountinfo(b"1 1 0:1 / /a\\9b\\ rw - t s rw").remove(0);
        assert_eq!(m.mount_point, PathBuf::from("/a\\9b\\"));
    }

    #[test]
    fn reads_this_process() {
        let mounts = mounts().unwrap();
        assert!(mounts.iter().any(|m| m.fs_type == "proc"), "{mounts:#?}");
        let me = std::process::id();
        assert!(pids().contains(&me));
        assert!(cmdline(me).unwrap().contains("isolated_test"));
    }
}
