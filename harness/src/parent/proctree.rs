//! The process tree still running inside a sandbox, read from the host's
//! `/proc` (used in timeout reports, before the sandbox is killed).

use std::fmt;
use std::fs;

/// One process of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProcInfo {
    /// PID on the host.
    pub(crate) host_pid: i32,
    /// PID inside the sandbox's PID namespace.
    pub(crate) ns_pid: Option<i32>,
    /// Distance from PID 1.
    pub(crate) depth: usize,
    /// Scheduler state letter (R, S, D, Z, ...).
    pub(crate) state: Option<char>,
    /// Command line, arguments separated by spaces.
    pub(crate) cmdline: String,
}

impl fmt::Display for ProcInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let indent = "  ".repeat(self.depth + 1);
        let ns = self.ns_pid.map_or_else(|| "?".to_owned(), |p| p.to_string());
        let state = self.state.map(|s| format!(" [{s}]")).unwrap_or_default();
        write!(f, "{indent}pid {ns} (host pid {}){state}: {}", self.host_pid, self.cmdline)
    }
}

const MAX_PROCESSES: usize = 256;

/// Walks the tree below (and including) `root`, depth first.
pub(crate) fn capture(root: i32) -> Vec<ProcInfo> {
    let mut out = Vec::new();
    let mut stack = vec![(root, 0usize)];
    while let Some((pid, depth)) = stack.pop() {
        if out.len() >= MAX_PROCESSES {
            break;
        }
        let Some(info) = read(pid, depth) else { continue };
        out.push(info);
        let mut kids = children(pid);
        kids.sort_unstable_by(|a, b| b.cmp(a));
        stack.extend(kids.into_iter().map(|k| (k, depth + 1)));
    }
    out
}

fn read(pid: i32, depth: usize) -> Option<ProcInfo> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
    let ns_pid = field("NSpid:").and_then(|v| v.split_whitespace().last()).and_then(|p| p.parse().ok());
    let state = field("State:").and_then(|v| v.chars().next());
    let mut cmdline = u32::try_from(pid).ok().and_then(crate::procfs::cmdline).unwrap_or_default();
    if cmdline.is_empty() {
        cmdline = field("Name:").map(|n| format!("[{n}]")).unwrap_or_default();
    }
    Some(ProcInfo { host_pid: pid, ns_pid, depth, state, cmdline })
}

fn children(pid: i32) -> Vec<i32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    let mut out = Vec::new();
    for task in tasks.flatten() {
        if let Ok(list) = fs::read_to_string(task.path().join("children")) {
            out.extend(list.split_whitespace().filter_map(|p| p.parse::<i32>().ok()));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_a_real_child_with_its_command_line() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let me = std::process::id() as i32;
        // The spawning side can return before the new image's arguments are
        // in place (exec closes descriptors first), so wait for them.
        let started = std::time::Instant::now();
        let mut tree = capture(me);
        while !tree.iter().any(|p| p.cmdline == "sleep 30") && started.elapsed() < std::time::Duration::from_secs(5) {
            std::thread::sleep(std::time::Duration::from_millis(10));
            tree = capture(me);
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(tree[0].host_pid, me);
        let sleeper = tree.iter().find(|p| p.host_pid == child.id() as i32).expect("child in tree");
        assert_eq!(sleeper.depth, 1);
        assert_eq!(sleeper.cmdline, "sleep 30");
        assert!(sleeper.to_string().contains("sleep 30"));
    }
}
