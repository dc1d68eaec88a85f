//! Subordinate id ranges (`/etc/subuid`, `/etc/subgid`) for rootless
//! sandboxes: with a range and shadow's setuid `newuidmap`/`newgidmap`, root
//! inside maps to the caller and ids 1..=N to the range, so `chown` to other
//! ids works inside; without them, root inside is the caller's only id.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A range of subordinate ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Range {
    /// First host id of the range.
    pub(crate) start: u32,
    /// How many ids.
    pub(crate) count: u32,
}

/// The first range in `content` (subuid/subgid format `owner:start:count`)
/// whose owner is `name` or the numeric `id`.
pub(crate) fn find_range(content: &str, name: Option<&str>, id: u32) -> Option<Range> {
    content.lines().find_map(|line| {
        let mut fields = line.trim().split(':');
        let owner = fields.next()?;
        let start = fields.next()?.parse().ok()?;
        let count = fields.next()?.parse().ok()?;
        let ours = Some(owner) == name || owner.parse::<u32>().ok() == Some(id);
        (ours && count > 0).then_some(Range { start, count })
    })
}

/// The user name of `uid` from `/etc/passwd`, if any.
fn user_name(uid: u32) -> Option<String> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[0].to_owned())
    })
}

fn helper(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/bin", "/usr/sbin", "/sbin"].iter().map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

/// The helpers and ranges to map `uid`/`gid` with, if the host has them.
pub(crate) struct Subordinate {
    newuidmap: PathBuf,
    newgidmap: PathBuf,
    uids: Range,
    gids: Range,
}

impl Subordinate {
    /// Looks up ranges for the caller and the helpers; `None` when either
    /// is missing (the sandbox then maps a single id).
    pub(crate) fn lookup(uid: u32) -> Option<Self> {
        let name = user_name(uid);
        let uids = find_range(&fs::read_to_string("/etc/subuid").ok()?, name.as_deref(), uid)?;
        let gids = find_range(&fs::read_to_string("/etc/subgid").ok()?, name.as_deref(), uid)?;
        Some(Self { newuidmap: helper("newuidmap")?, newgidmap: helper("newgidmap")?, uids, gids })
    }

    /// Writes the maps of `pid` with the setuid helpers: `0 -> uid`,
    /// `1..=count -> range`.
    ///
    /// # Errors
    /// A helper failed; its message is in the error.
    pub(crate) fn map(&self, pid: i32, uid: u32, gid: u32) -> Result<(), String> {
        for (helper, own, range) in [(&self.newuidmap, uid, self.uids), (&self.newgidmap, gid, self.gids)] {
            let args = [
                pid.to_string(),
                "0".into(),
                own.to_string(),
                "1".into(),
                "1".into(),
                range.start.to_string(),
                range.count.to_string(),
            ];
            let out = Command::new(helper)
                .args(&args)
                .output()
                .map_err(|e| format!("failed to run `{}`: {e}", helper.display()))?;
            if !out.status.success() {
                return Err(format!(
                    "`{} {}` failed ({}): {}",
                    helper.display(),
                    args.join(" "),
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_match_by_name_or_uid() {
        let content = "alice:100000:65536\n1001:200000:1000\nbroken\nzero:1:0\n";
        assert_eq!(find_range(content, Some("alice"), 1000), Some(Range { start: 100000, count: 65536 }));
        assert_eq!(find_range(content, Some("bob"), 1001), Some(Range { start: 200000, count: 1000 }));
        assert_eq!(find_range(content, Some("zero"), 7), None, "empty ranges are ignored");
        assert_eq!(find_range(content, None, 42), None);
    }
}
