//! A cgroup per sandbox: memory, process and CPU limits, accounting, a
//! consistent process tree at the deadline (freeze) and a complete kill.
//!
//! Both layouts are handled:
//! - cgroup v2 (GitHub's runners, modern distributions): one directory
//!   under `/sys/fs/cgroup`, limits in `memory.max`, `pids.max`, `cpu.max`,
//!   `cgroup.freeze` and `cgroup.kill`.
//! - cgroup v1 and hybrid (this project's own machines): one directory per
//!   controller hierarchy (`memory`, `pids`, `cpu`, `cpuacct`, `freezer`);
//!   where a cgroup2 hierarchy is mounted too (hybrid, at
//!   `/sys/fs/cgroup/unified`), it is used for membership, freezing and
//!   killing, which need no controller there.
//!
//! Where the sandbox's cgroups live: as root, below the test process's own
//! cgroup in each v1 hierarchy, and in `/sys/fs/cgroup/isolated-test/` on
//! cgroup v2 (the test process's own cgroup has processes, and cgroup v2
//! lets only leaves hold them, so a sibling tree at the root is used).
//! Rootless, only a delegated cgroup v2 subtree can be used (systemd's
//! `user@UID.service`): the leaf goes next to the test process's cgroup.
//! Each leaf is named `isolated-test-<pid>-<n>` after the process that made
//! it, and is removed when the sandbox ends; leaves of processes that died
//! without removing theirs (SIGKILL) are removed by the next sandbox.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use isolated_test_values::{MIN_MEMORY, ValueError};
use serde::{Deserialize, Serialize};

use crate::config::{ENV_CPU, ENV_MEMORY, ENV_PIDS};

/// The process limit of a test that sets none: far above what a test
/// normally starts (a build with a few hundred threads fits), far below
/// the host's `pid_max` (32768 by default), so a fork bomb stops here.
pub const DEFAULT_PIDS: u64 = 4096;

/// What a test (or `run`) asked for; `None` takes the environment's or the
/// default.
///
/// The attribute's `memory`, `pids` and `cpu` arguments fill it in (and
/// `run`'s `--memory`, `--pids`, `--cpu`); written out, the limits of
/// `#[isolated_test(memory = "512M", cpu = "1.5")]` are:
///
/// ```
/// use isolated_test::Limits;
///
/// let limits = Limits { memory: Some(512 << 20), cpu_millis: Some(1500), ..Limits::default() };
/// assert_eq!(limits.pids, None); // ISOLATED_TEST_PIDS, else DEFAULT_PIDS
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Bytes of memory, tmpfs contents included.
    pub memory: Option<u64>,
    /// Processes and threads.
    pub pids: Option<u64>,
    /// Thousandths of a core.
    pub cpu_millis: Option<u64>,
}

/// The limits that apply, and which of them were asked for explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Effective {
    pub(crate) memory: u64,
    pub(crate) pids: u64,
    pub(crate) cpu_millis: Option<u64>,
    /// What the test or the environment set (not defaults): a limit asked
    /// for must be enforced or the test fails.
    pub(crate) asked: Limits,
}

/// The memory limit of a test that sets none: a quarter of the machine's
/// memory, so that a runaway test leaves room for the host and for a
/// second test running beside it (4 GiB where `/proc/meminfo` cannot be
/// read).
pub(crate) fn default_memory() -> u64 {
    static DEFAULT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *DEFAULT.get_or_init(read_default_memory)
}

fn read_default_memory() -> u64 {
    let total = fs::read_to_string("/proc/meminfo").ok().and_then(|info| {
        info.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
    });
    total.map_or(4 << 30, |t| (t / 4).max(MIN_MEMORY))
}

impl Limits {
    /// The spec's limits over the environment's over the defaults.
    ///
    /// # Errors
    /// An environment variable that does not parse, named with the fix.
    pub(crate) fn effective(self) -> Result<Effective, String> {
        let env = |name: &str, parse: fn(&str) -> Result<u64, ValueError>| -> Result<Option<u64>, String> {
            match std::env::var(name) {
                Ok(v) => parse(&v).map(Some).map_err(|e| format!("{name}={e}")),
                Err(_) => Ok(None),
            }
        };
        let asked = Limits {
            memory: self.memory.or(env(ENV_MEMORY, isolated_test_values::parse_memory)?),
            pids: self.pids.or(env(ENV_PIDS, isolated_test_values::parse_pids)?),
            cpu_millis: self.cpu_millis.or(env(ENV_CPU, isolated_test_values::parse_cpu)?),
        };
        Ok(Effective {
            memory: asked.memory.unwrap_or_else(default_memory),
            pids: asked.pids.unwrap_or(DEFAULT_PIDS),
            cpu_millis: asked.cpu_millis,
            asked,
        })
    }
}

/// What the sandbox used, read from its cgroup after it ended.
///
/// A test reads its own so far with [`usage`](crate::usage()):
///
/// ```no_run
/// #[isolated_test::isolated_test(pids = 64)]
/// fn spawns_few_processes() {
///     let children: Vec<_> = (0..4).map(|_| std::process::Command::new("true").spawn().unwrap()).collect();
///     for mut child in children {
///         child.wait().unwrap();
///     }
///     let usage = isolated_test::usage();
///     assert_eq!(usage.pids_refused, 0);
///     if let Some(peak) = usage.peak_pids {
///         assert!(peak <= 8, "{peak} processes at once");
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Highest memory use in bytes (tmpfs contents included).
    pub peak_memory: Option<u64>,
    /// CPU time in user mode, microseconds.
    pub user_usec: Option<u64>,
    /// CPU time in kernel mode, microseconds.
    pub system_usec: Option<u64>,
    /// The most processes and threads at once (sampled where the kernel
    /// keeps no `pids.peak`: cgroup v1 on kernels before it had one).
    pub peak_pids: Option<u64>,
    /// Processes the OOM killer killed.
    pub oom_kills: u64,
    /// Forks and clones refused by the pids limit.
    pub pids_refused: u64,
}

/// One controller's directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Controller {
    Memory,
    Pids,
    Cpu,
    CpuAcct,
    Freezer,
}

impl Controller {
    const V1: [Controller; 5] =
        [Controller::Memory, Controller::Pids, Controller::Cpu, Controller::CpuAcct, Controller::Freezer];

    fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Cpu => "cpu",
            Controller::CpuAcct => "cpuacct",
            Controller::Freezer => "freezer",
        }
    }
}

/// Where the host mounts its cgroup hierarchies.
#[derive(Debug, Default)]
struct Mounts {
    /// The cgroup2 mount point, and the controllers it has.
    v2: Option<(PathBuf, Vec<String>)>,
    /// v1 hierarchies: controller and mount point.
    v1: Vec<(Controller, PathBuf)>,
}

fn read_mounts() -> Mounts {
    let mut mounts = Mounts::default();
    for mount in crate::procfs::mounts().unwrap_or_default() {
        let point = mount.mount_point;
        match mount.fs_type.as_str() {
            "cgroup2" => {
                let controllers = fs::read_to_string(point.join("cgroup.controllers")).unwrap_or_default();
                mounts.v2 = Some((point, controllers.split_whitespace().map(str::to_owned).collect()));
            }
            "cgroup" => {
                for c in Controller::V1 {
                    if mount.super_options.split(',').any(|o| o == c.name())
                        && !mounts.v1.iter().any(|(have, _)| *have == c)
                    {
                        mounts.v1.push((c, point.clone()));
                    }
                }
            }
            _ => {}
        }
    }
    mounts
}

/// A process's cgroup: its path in the v2 hierarchy, and in each v1 one.
type OwnPaths = (Option<PathBuf>, Vec<(Controller, PathBuf)>);

/// This process's cgroup path in the v2 hierarchy and in each v1 one.
fn own_paths() -> OwnPaths {
    let text = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut v2 = None;
    let mut v1 = Vec::new();
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (f.next(), f.next(), f.next()) else { continue };
        let rel = PathBuf::from(path.trim_start_matches('/'));
        if controllers.is_empty() {
            v2 = Some(rel);
        } else {
            for c in Controller::V1 {
                if controllers.split(',').any(|n| n == c.name()) {
                    v1.push((c, rel.clone()));
                }
            }
        }
    }
    (v2, v1)
}

/// Why no cgroup could be had for a sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unavailable {
    /// What is missing, in words.
    pub(crate) cause: String,
    /// How to get it.
    pub(crate) fix: String,
}

/// Where a sandbox's processes are counted: its leaf in each hierarchy.
/// The parent sees them under the host's `/sys/fs/cgroup`; inside, the
/// sandbox sees them read-only at its own `/sys/fs/cgroup`.
#[derive(Debug, Default)]
pub(crate) struct Leaves {
    /// The leaf in the cgroup2 hierarchy, when there is one we may use.
    v2: Option<PathBuf>,
    /// Controllers of the v2 hierarchy usable in the leaf.
    v2_controllers: Vec<String>,
    /// Leaves in v1 hierarchies.
    v1: Vec<(Controller, PathBuf)>,
}

/// The cgroup of one sandbox.
#[derive(Debug)]
pub(crate) struct Cgroup {
    /// Its leaves.
    leaves: Leaves,
    /// The effective limits, for reports.
    pub(crate) limits: Effective,
    /// Most processes seen at once, where the kernel keeps no peak.
    sampled_pids: std::sync::atomic::AtomicU64,
}

/// Leaves made by this process so far.
static COUNTER: AtomicU64 = AtomicU64::new(0);
/// Prefix of every leaf (and of the v2 parent tree).
const PREFIX: &str = "isolated-test";

fn write(path: &Path, value: &str) -> io::Result<()> {
    fs::write(path, value)
        .map_err(|e| io::Error::new(e.kind(), format!("writing `{value}` to {}: {e}", path.display())))
}

fn read_u64(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `key value` lines (`memory.events`, `cpu.stat`, `memory.oom_control`).
fn keyed(path: &Path, key: &str) -> Option<u64> {
    value_of(&fs::read_to_string(path).ok()?, key)
}

/// The value of `key` in the text of a [`keyed`] file.
fn value_of(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Removes leaves under `dir` left by processes that no longer exist.
fn collect_stale(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)).and_then(|r| r.strip_prefix('-')) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else { continue };
        let alive = rustix::process::Pid::from_raw(pid).is_some_and(|p| rustix::process::test_kill_process(p).is_ok());
        if !alive {
            let _ = fs::remove_dir(entry.path());
        }
    }
}

impl Cgroup {
    /// Makes the cgroup of a new sandbox and sets its limits.
    ///
    /// # Errors
    /// No hierarchy this process may create cgroups in has the
    /// controllers the limits need; or a write the kernel refused.
    pub(crate) fn create(limits: Effective) -> Result<Self, Unavailable> {
        // Where the hierarchies are and where this process sits in them do
        // not change while it runs: read once.
        static LAYOUT: std::sync::OnceLock<(Mounts, OwnPaths)> = std::sync::OnceLock::new();
        let (mounts, (own_v2, own_v1)) = LAYOUT.get_or_init(|| (read_mounts(), own_paths()));
        let euid = rustix::process::geteuid().as_raw();
        let name = format!("{PREFIX}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let unavailable = |cause: String| Unavailable {
            cause,
            fix: if euid == 0 {
                "mount the cgroup controllers memory, pids and cpu (cgroup v2, or v1 hierarchies under /sys/fs/cgroup)"
                    .into()
            } else {
                let again = if crate::config::for_a_command() { "isolated-test ..." } else { "cargo test" };
                format!(
                    "{}, or from a systemd user session that delegates a cgroup v2 subtree \
                     (systemd-run --user --scope -p Delegate=yes {again})",
                    crate::config::as_root()
                )
            },
        };
        let mut cg = Cgroup { leaves: Leaves::default(), limits, sampled_pids: AtomicU64::new(0) };
        if let Some((mount, controllers)) = &mounts.v2 {
            // Where a leaf may go: as root a tree of our own at the root
            // (the root cgroup is exempt from "no processes in inner
            // nodes"); rootless next to our own cgroup, if it is delegated.
            let parent = if euid == 0 {
                Some(mount.join(PREFIX))
            } else {
                own_v2.as_ref().and_then(|own| mount.join(own).parent().map(Path::to_path_buf))
            };
            if let Some(parent) = parent {
                if euid == 0 {
                    let _ = fs::create_dir(&parent);
                    let want: Vec<String> = ["memory", "pids", "cpu"]
                        .iter()
                        .filter(|c| controllers.iter().any(|have| have == *c))
                        .map(|c| format!("+{c}"))
                        .collect();
                    if !want.is_empty() {
                        let _ = write(&parent.join("cgroup.subtree_control"), &want.join(" "));
                    }
                }
                collect_stale(&parent);
                let leaf = parent.join(&name);
                if fs::create_dir(&leaf).is_ok() {
                    let enabled = fs::read_to_string(leaf.join("cgroup.controllers")).unwrap_or_default();
                    cg.leaves.v2_controllers = enabled.split_whitespace().map(str::to_owned).collect();
                    cg.leaves.v2 = Some(leaf);
                }
            }
        }
        for (controller, mount) in &mounts.v1 {
            // A v2 leaf freezes, kills and counts CPU time by itself; the
            // cpu controller is only needed for a quota.
            let redundant = match controller {
                Controller::Freezer | Controller::CpuAcct => cg.leaves.v2.is_some(),
                Controller::Cpu => limits.cpu_millis.is_none(),
                _ => false,
            };
            if redundant || cg.leaves.v2_has(controller.name()) {
                continue;
            }
            let own = own_v1.iter().find(|(c, _)| c == controller).map(|(_, p)| p.clone()).unwrap_or_default();
            let parent = mount.join(own);
            collect_stale(&parent);
            let leaf = parent.join(&name);
            if fs::create_dir(&leaf).is_ok() {
                cg.leaves.v1.push((*controller, leaf));
            }
        }
        // Every limit needs its controller; a missing one is only fatal
        // when the limit was asked for.
        for (needed, asked) in [
            ("memory", limits.asked.memory.is_some()),
            ("pids", limits.asked.pids.is_some()),
            ("cpu", limits.asked.cpu_millis.is_some()),
        ] {
            if asked && !cg.leaves.has(needed) {
                let cause = format!(
                    "no `{needed}` cgroup controller this process may use ({})",
                    if euid == 0 { "none is mounted" } else { "rootless, and no delegated cgroup v2 subtree" }
                );
                return Err(unavailable(cause));
            }
        }
        if cg.leaves.v2.is_none() && cg.leaves.v1.is_empty() {
            return Err(unavailable(if euid == 0 {
                "no cgroup hierarchy is mounted".into()
            } else {
                "rootless, and no delegated cgroup v2 subtree".into()
            }));
        }
        if let Err(e) = cg.apply_limits() {
            return Err(Unavailable { cause: format!("the kernel refused a limit: {e}"), fix: "see the cause".into() });
        }
        Ok(cg)
    }

    fn apply_limits(&self) -> io::Result<()> {
        let l = &self.limits;
        if let Some(dir) = self.leaves.v2.as_ref().filter(|_| self.leaves.v2_has("memory")) {
            write(&dir.join("memory.max"), &l.memory.to_string())?;
            // No swap: a limit must stop the test, not slow the host down.
            if dir.join("memory.swap.max").exists() {
                write(&dir.join("memory.swap.max"), "0")?;
            }
        } else if let Some(dir) = self.leaves.v1_dir(Controller::Memory) {
            write(&dir.join("memory.limit_in_bytes"), &l.memory.to_string())?;
            if dir.join("memory.memsw.limit_in_bytes").exists() {
                write(&dir.join("memory.memsw.limit_in_bytes"), &l.memory.to_string())?;
            }
        }
        if let Some(dir) = self.leaves.v2.as_ref().filter(|_| self.leaves.v2_has("pids")) {
            write(&dir.join("pids.max"), &l.pids.to_string())?;
        } else if let Some(dir) = self.leaves.v1_dir(Controller::Pids) {
            write(&dir.join("pids.max"), &l.pids.to_string())?;
        }
        if let Some(millis) = l.cpu_millis {
            // A period of 100 ms; the quota is the share of it.
            let quota = millis * 100;
            if let Some(dir) = self.leaves.v2.as_ref().filter(|_| self.leaves.v2_has("cpu")) {
                write(&dir.join("cpu.max"), &format!("{quota} 100000"))?;
            } else if let Some(dir) = self.leaves.v1_dir(Controller::Cpu) {
                write(&dir.join("cpu.cfs_period_us"), "100000")?;
                write(&dir.join("cpu.cfs_quota_us"), &quota.to_string())?;
            }
        }
        Ok(())
    }

    /// The cgroup v2 leaf, opened for `clone3(CLONE_INTO_CGROUP)`, which
    /// puts the new process there without the cost of [`Cgroup::add`].
    pub(crate) fn v2_dir(&self) -> Option<std::fs::File> {
        self.leaves.v2.as_ref().and_then(|d| fs::File::open(d).ok())
    }

    /// Moves `pid` (a host pid, before it has children) into every leaf,
    /// but the v2 one when `born_in_v2` (it was cloned into it).
    ///
    /// # Errors
    /// The kernel refused the move.
    pub(crate) fn add(&self, pid: i32, born_in_v2: bool) -> io::Result<()> {
        let v2 = self.leaves.v2.iter().filter(|_| !born_in_v2);
        for dir in v2.chain(self.leaves.v1.iter().map(|(_, d)| d)) {
            write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Whether moving a process in takes `cgroup.procs` writes in v1
    /// hierarchies (no `clone3(CLONE_INTO_CGROUP)` there).
    #[cfg(feature = "cli")]
    pub(crate) fn has_v1(&self) -> bool {
        !self.leaves.v1.is_empty()
    }

    /// Host pids of every process in the sandbox.
    pub(crate) fn procs(&self) -> Vec<i32> {
        let dir = self.leaves.v2.as_deref().or_else(|| self.leaves.v1.first().map(|(_, d)| d.as_path()));
        let text = dir.and_then(|d| fs::read_to_string(d.join("cgroup.procs")).ok()).unwrap_or_default();
        text.lines().filter_map(|l| l.trim().parse().ok()).collect()
    }

    /// Notes the current process count (cgroup v1 keeps no peak).
    pub(crate) fn sample(&self) {
        if let Some(dir) = self.leaves.v1_dir(Controller::Pids) {
            if let Some(n) = read_u64(&dir.join("pids.current")) {
                self.sampled_pids.fetch_max(n, Ordering::Relaxed);
            }
        }
    }

    /// Freezes every process, so the tree read next is consistent; returns
    /// whether the freeze took hold within a second.
    pub(crate) fn freeze(&self) -> bool {
        self.set_frozen(true)
    }

    /// Lets frozen processes run again.
    pub(crate) fn thaw(&self) {
        self.set_frozen(false);
    }

    fn set_frozen(&self, frozen: bool) -> bool {
        let (file, value, done): (PathBuf, &str, Box<dyn Fn() -> bool>) = if let Some(dir) = &self.leaves.v2 {
            let events = dir.join("cgroup.events");
            let want = if frozen { "frozen 1" } else { "frozen 0" };
            (
                dir.join("cgroup.freeze"),
                if frozen { "1" } else { "0" },
                Box::new(move || fs::read_to_string(&events).is_ok_and(|t| t.lines().any(|l| l == want))),
            )
        } else if let Some(dir) = self.leaves.v1_dir(Controller::Freezer) {
            let state = dir.join("freezer.state");
            let want = if frozen { "FROZEN" } else { "THAWED" };
            (
                dir.join("freezer.state"),
                want,
                Box::new(move || fs::read_to_string(&state).is_ok_and(|t| t.trim() == want)),
            )
        } else {
            return false;
        };
        if write(&file, value).is_err() {
            return false;
        }
        let until = Instant::now() + Duration::from_secs(1);
        while Instant::now() < until {
            if done() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    }

    /// Kills every process in the sandbox: `cgroup.kill` where the kernel
    /// has it (5.14+), else freeze, SIGKILL each, thaw, until none is left.
    pub(crate) fn kill_all(&self) {
        if let Some(dir) = &self.leaves.v2 {
            if write(&dir.join("cgroup.kill"), "1").is_ok() {
                return;
            }
        }
        for _ in 0..100 {
            let frozen = self.freeze();
            let procs = self.procs();
            for pid in &procs {
                if let Some(pid) = rustix::process::Pid::from_raw(*pid) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
            if frozen {
                self.thaw();
            }
            if procs.is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Where each capability comes from, for `doctor`: (what, where or
    /// `None` when unavailable).
    #[cfg(feature = "cli")]
    pub(crate) fn capabilities(&self) -> Vec<(&'static str, Option<String>)> {
        let source = |controller: &str| {
            if self.leaves.v2_has(controller) {
                Some("cgroup v2".to_owned())
            } else {
                self.leaves.v1.iter().find(|(c, _)| c.name() == controller).map(|_| format!("cgroup v1 {controller}"))
            }
        };
        let freeze = if self.leaves.v2.is_some() {
            Some("cgroup v2 (cgroup.freeze, cgroup.kill)".to_owned())
        } else {
            self.leaves.v1_dir(Controller::Freezer).map(|_| "cgroup v1 freezer".to_owned())
        };
        vec![
            ("memory limit", source("memory")),
            ("pids limit", source("pids")),
            ("cpu limit", source("cpu")),
            ("freeze and kill the whole sandbox", freeze),
        ]
    }

    /// How the sandbox sees its leaves, read-only, at its `/sys/fs/cgroup`:
    /// `(name, host directory)`. On cgroup v2 alone the one leaf is that
    /// directory itself (name empty), as in a container; otherwise each
    /// leaf is a subdirectory named after its v1 controller, and `unified`
    /// for the cgroup2 one. Runtimes that size themselves by the cgroup
    /// limit (Go, Java) find it where they look.
    pub(crate) fn views(&self) -> Vec<(String, PathBuf)> {
        match (&self.leaves.v2, self.leaves.v1.is_empty()) {
            (Some(v2), true) => vec![(String::new(), v2.clone())],
            (v2, _) => v2
                .iter()
                .map(|d| ("unified".to_owned(), d.clone()))
                .chain(self.leaves.v1.iter().map(|(c, d)| (c.name().to_owned(), d.clone())))
                .collect(),
        }
    }

    /// What the sandbox used, read now.
    pub(crate) fn usage(&self) -> Usage {
        self.sample();
        self.leaves.usage(Some(self.sampled_pids.load(Ordering::Relaxed)))
    }
}

impl Leaves {
    /// The leaves as the sandbox sees them at `root` (its `/sys/fs/cgroup`,
    /// laid out by [`Cgroup::views`]); none when it has no cgroup.
    pub(crate) fn inside(root: &Path) -> Self {
        if root.join("cgroup.controllers").exists() {
            let controllers = fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
            return Leaves {
                v2: Some(root.to_path_buf()),
                v2_controllers: controllers.split_whitespace().map(str::to_owned).collect(),
                v1: Vec::new(),
            };
        }
        let unified = root.join("unified");
        Leaves {
            v2: unified.join("cgroup.procs").exists().then_some(unified),
            v2_controllers: Vec::new(),
            v1: Controller::V1
                .into_iter()
                .map(|c| (c, root.join(c.name())))
                .filter(|(_, dir)| dir.join("cgroup.procs").exists())
                .collect(),
        }
    }

    fn v2_has(&self, controller: &str) -> bool {
        self.v2.is_some() && self.v2_controllers.iter().any(|c| c == controller)
    }

    fn v1_dir(&self, controller: Controller) -> Option<&Path> {
        self.v1.iter().find(|(c, _)| *c == controller).map(|(_, p)| p.as_path())
    }

    /// Whether a controller is available to this sandbox.
    pub(crate) fn has(&self, controller: &str) -> bool {
        self.v2_has(controller) || self.v1.iter().any(|(c, _)| c.name() == controller)
    }

    /// What the sandbox used, read now; `sampled_pids`: the most
    /// processes seen at once where the kernel keeps no peak (cgroup v1).
    pub(crate) fn usage(&self, sampled_pids: Option<u64>) -> Usage {
        let mut u = Usage::default();
        if let Some(dir) = self.v2.as_ref().filter(|_| self.v2_has("memory")) {
            u.peak_memory = read_u64(&dir.join("memory.peak"));
            u.oom_kills = keyed(&dir.join("memory.events"), "oom_kill").unwrap_or(0);
        } else if let Some(dir) = self.v1_dir(Controller::Memory) {
            u.peak_memory = read_u64(&dir.join("memory.max_usage_in_bytes"));
            u.oom_kills = keyed(&dir.join("memory.oom_control"), "oom_kill").unwrap_or(0);
        }
        if let Some(dir) = &self.v2 {
            // cpu.stat is there without the cpu controller too.
            if let Ok(stat) = fs::read_to_string(dir.join("cpu.stat")) {
                u.user_usec = value_of(&stat, "user_usec");
                u.system_usec = value_of(&stat, "system_usec");
            }
        }
        if u.user_usec.is_none() {
            if let Some(dir) = self.v1_dir(Controller::CpuAcct) {
                u.user_usec = read_u64(&dir.join("cpuacct.usage_user")).map(|ns| ns / 1000);
                u.system_usec = read_u64(&dir.join("cpuacct.usage_sys")).map(|ns| ns / 1000);
            }
        }
        if let Some(dir) = self.v2.as_ref().filter(|_| self.v2_has("pids")) {
            u.peak_pids = read_u64(&dir.join("pids.peak"));
            u.pids_refused = keyed(&dir.join("pids.events"), "max").unwrap_or(0);
        } else if let Some(dir) = self.v1_dir(Controller::Pids) {
            // Recent kernels keep `pids.peak` on v1 too; sampled
            // before that (it misses a burst between two samples).
            u.peak_pids = read_u64(&dir.join("pids.peak")).or(sampled_pids);
            u.pids_refused = keyed(&dir.join("pids.events"), "max").unwrap_or(0);
        }
        u
    }

    /// Every leaf directory, v2 first.
    fn dirs(&self) -> impl Iterator<Item = &PathBuf> {
        self.v2.iter().chain(self.v1.iter().map(|(_, d)| d))
    }
}

impl Drop for Cgroup {
    /// Kills what is left and removes the leaves (retrying while the
    /// kernel still counts dying processes).
    fn drop(&mut self) {
        if !self.procs().is_empty() {
            self.kill_all();
        }
        let until = Instant::now() + Duration::from_secs(2);
        for leaf in self.leaves.dirs() {
            while fs::remove_dir(leaf).is_err() && leaf.exists() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(1));
            }
            if leaf.exists() {
                tracing::warn!(cgroup = %leaf.display(), "could not remove the sandbox's cgroup");
            }
        }
        // The v2 tree of our own, once no sandbox uses it.
        if let Some(parent) = self.leaves.v2.as_ref().and_then(|l| l.parent()) {
            if parent.file_name().is_some_and(|n| n == PREFIX) {
                let _ = fs::remove_dir(parent);
            }
        }
    }
}

/// The limits asked for, in words (`memory 64.0 MiB, pids 128`).
pub(crate) fn describe(asked: &Limits) -> String {
    let mut parts = Vec::new();
    if let Some(m) = asked.memory {
        parts.push(format!("memory {}", bytes(m)));
    }
    if let Some(p) = asked.pids {
        parts.push(format!("pids {p}"));
    }
    if let Some(c) = asked.cpu_millis {
        parts.push(format!("cpu {}", c as f64 / 1000.0));
    }
    parts.join(", ")
}

/// Renders a byte count as people read it (`12.5 MiB`).
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(m) = self.peak_memory {
            parts.push(format!("peak memory {}", bytes(m)));
        }
        if let (Some(u), Some(s)) = (self.user_usec, self.system_usec) {
            parts.push(format!("cpu {:.2}s user + {:.2}s system", u as f64 / 1e6, s as f64 / 1e6));
        }
        if let Some(p) = self.peak_pids {
            parts.push(format!("at most {p} processes"));
        }
        if parts.is_empty() { write!(f, "not measured") } else { write!(f, "{}", parts.join(", ")) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_asked_win_over_defaults() {
        let e = Limits { memory: Some(64 << 20), pids: None, cpu_millis: Some(500) }.effective().unwrap();
        assert_eq!(e.memory, 64 << 20);
        assert_eq!(e.cpu_millis, Some(500));
        assert!(e.asked.memory.is_some() && e.asked.cpu_millis.is_some());
        if std::env::var(ENV_PIDS).is_err() {
            assert_eq!(e.pids, DEFAULT_PIDS);
            assert!(e.asked.pids.is_none());
        }
    }

    #[test]
    fn sizes_read_as_people_read_them() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(64 << 20), "64.0 MiB");
        assert_eq!(bytes(3 << 29), "1.5 GiB");
    }
}
