//! `teardown = "verify"`: after the body, unmount in reverse order every
//! mount the test added and the scratch mounts (`/tmp`, `/run`, `/var/tmp`,
//! `/dev/shm` and what lies below them), and report each one that is busy
//! with the processes that hold it (working directory, root, open file,
//! mapped file). A test that leaves mounts busy is often a real bug in the
//! code under test: a leaked file handle, a daemon left running.
//!
//! The mounts that carry the running test binary and its libraries cannot be
//! unmounted from inside and are left to the kernel, which drops them with
//! the namespace. The scratch mounts are locked (the sandbox's boundary,
//! see `sys::userns`), so they are checked for holders without being
//! unmounted: busy is whatever still refers to something below them.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::sandbox::plan::SCRATCH;

/// Mount ids of the current mount table.
pub(crate) fn mount_ids() -> BTreeSet<u64> {
    table().into_iter().map(|(id, _)| id).collect()
}

/// `(id, mount point)` in table order.
fn table() -> Vec<(u64, PathBuf)> {
    crate::procfs::mounts().unwrap_or_default().into_iter().map(|m| (m.id, m.mount_point)).collect()
}

/// Mounts the setup made below a scratch directory: the crate directory,
/// working directory or test binary kept visible there. They are the
/// harness's, busy by design (the running binary is mapped from one).
fn kept(table: &[(u64, PathBuf)], at_start: &BTreeSet<u64>) -> Vec<PathBuf> {
    table
        .iter()
        .filter(|(id, point)| {
            at_start.contains(id) && SCRATCH.iter().any(|s| point.starts_with(s) && point != Path::new(s))
        })
        .map(|(_, point)| point.clone())
        .collect()
}

/// The mounts to take down or check, children before parents, each with
/// whether the setup made it (then it is locked and only checked).
pub(crate) fn targets(table: &[(u64, PathBuf)], at_start: &BTreeSet<u64>) -> Vec<(PathBuf, bool)> {
    let kept = kept(table, at_start);
    let mut out: Vec<(PathBuf, bool)> = table
        .iter()
        .filter(|(id, point)| !at_start.contains(id) || SCRATCH.iter().any(|s| point.starts_with(s)))
        .filter(|(_, point)| !kept.contains(point))
        .map(|(id, point)| (point.clone(), at_start.contains(id)))
        .collect();
    out.reverse();
    out
}

/// What in process `pid` refers to something under `mount` (but not under
/// one of the `kept` mounts below it).
fn holders_in(pid: u32, mount: &Path, kept: &[PathBuf]) -> Vec<String> {
    let base = Path::new("/proc").join(pid.to_string());
    let comm = fs::read_to_string(base.join("comm")).unwrap_or_default().trim().to_owned();
    let mut found = Vec::new();
    let under = |p: &Path| p.starts_with(mount) && !kept.iter().any(|k| p.starts_with(k));
    for (link, what) in [("cwd", "working directory"), ("root", "root directory")] {
        if let Ok(target) = fs::read_link(base.join(link)) {
            if under(&target) {
                found.push(format!("pid {pid} ({comm}): {what} `{}`", target.display()));
            }
        }
    }
    if let Ok(fds) = fs::read_dir(base.join("fd")) {
        for fd in fds.flatten() {
            if let Ok(target) = fs::read_link(fd.path()) {
                if under(&target) {
                    found.push(format!(
                        "pid {pid} ({comm}): open file `{}` (fd {})",
                        target.display(),
                        fd.file_name().to_string_lossy()
                    ));
                }
            }
        }
    }
    let maps = fs::read_to_string(base.join("maps")).unwrap_or_default();
    let mapped: BTreeSet<&str> = maps.lines().filter_map(|l| l.split_whitespace().nth(5)).collect();
    for path in mapped.into_iter().filter(|p| under(Path::new(p))) {
        found.push(format!("pid {pid} ({comm}): mapped file `{path}`"));
    }
    found
}

fn holders(mount: &Path, kept: &[PathBuf]) -> Vec<String> {
    crate::procfs::pids().into_iter().flat_map(|pid| holders_in(pid, mount, kept)).collect()
}

/// Unmounts the targets; `Err` lists every busy mount with its holders.
pub(crate) fn verify(at_start: &BTreeSet<u64>) -> Result<(), String> {
    // Our own working directory must not hold a scratch mount.
    let _ = std::env::set_current_dir("/");
    let mut busy = Vec::new();
    let table = table();
    let kept = kept(&table, at_start);
    for (mount, locked) in targets(&table, at_start) {
        let unmounted = if locked {
            if holders(&mount, &kept).is_empty() { Ok(()) } else { Err(rustix::io::Errno::BUSY) }
        } else {
            rustix::mount::unmount(&mount, rustix::mount::UnmountFlags::empty())
        };
        match unmounted {
            Ok(()) => {}
            Err(rustix::io::Errno::BUSY) => {
                let held = holders(&mount, &kept);
                let why = if held.is_empty() {
                    "  (nothing holds it directly: a mount below it is busy)".to_owned()
                } else {
                    held.iter().map(|h| format!("  held by {h}")).collect::<Vec<_>>().join("\n")
                };
                busy.push(format!("mount `{}` is busy (EBUSY)\n{why}", mount.display()));
            }
            Err(e) => busy.push(format!("mount `{}` could not be unmounted: {e}", mount.display())),
        }
    }
    if busy.is_empty() { Ok(()) } else { Err(busy.join("\n")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_added_and_scratch_mounts_children_first() {
        let table = vec![
            (1, PathBuf::from("/")),
            (2, PathBuf::from("/usr")),
            (3, PathBuf::from("/tmp")),
            (4, PathBuf::from("/proc")),
            (5, PathBuf::from("/tmp/cache")),
            (6, PathBuf::from("/srv/added")),
            (7, PathBuf::from("/tmp/crate/target")),
        ];
        let at_start: BTreeSet<u64> = [1, 2, 3, 4, 7].into();
        assert_eq!(
            targets(&table, &at_start),
            [(PathBuf::from("/srv/added"), false), ("/tmp/cache".into(), false), ("/tmp".into(), true)]
        );
    }

    #[test]
    fn holders_of_this_process_are_found() {
        let dir = tempfile::Builder::new().prefix("isolated-test-unit-").tempdir().unwrap();
        let file = fs::File::create(dir.path().join("held")).unwrap();
        let me = std::process::id();
        let found = holders_in(me, dir.path(), &[]);
        assert!(found.iter().any(|h| h.contains("open file") && h.contains("held")), "{found:?}");
        assert!(holders_in(me, dir.path(), &[dir.path().to_path_buf()]).is_empty(), "kept mounts hold nothing");
        drop(file);
    }
}
