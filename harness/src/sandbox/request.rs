//! What the parent asks PID 2 to build: a [`SetupRequest`], carried as
//! JSON in the environment variable `ISOLATED_TEST_SETUP`. Written by the
//! parent (`parent::start`, `cli`), read by PID 2 (`pid2::entry`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::setup;

/// The longest request passed in the environment (the kernel's limit for
/// one variable is 128 KiB).
pub(crate) const MAX_REQUEST_LEN: usize = 120 * 1024;

/// What the parent asks PID 2 to build.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SetupRequest {
    /// Hostname inside.
    pub(crate) hostname: String,
    /// The root filesystem, as the test or the command line gave it.
    pub(crate) rootfs: crate::Rootfs,
    /// Where relative sources are taken from (the crate directory of a
    /// test, the working directory of `isolated-test run`); on the host's
    /// files it stays visible.
    pub(crate) base_dir: PathBuf,
    /// Lock the sandbox in nested namespaces (everything but
    /// `privileged = true`).
    pub(crate) lock: bool,
    /// Record the steps that ran (for `isolated-test doctor`).
    pub(crate) record: bool,
    /// The resource limits; the parent enforces them with a cgroup, and
    /// the memory limit also bounds every tmpfs of the setup.
    pub(crate) limits: crate::sandbox::cgroup::Effective,
    /// The sandbox's cgroup leaves, shown read-only at its `/sys/fs/cgroup`
    /// (see `Cgroup::views`); set by the parent once it has made them.
    #[serde(default)]
    pub(crate) cgroup_views: Vec<(String, PathBuf)>,
    /// What the kernel offers of `/proc`, read once per process by the
    /// parent; set when the sandbox is started.
    #[serde(default)]
    pub(crate) kernel: setup::KernelFacts,
    /// More host paths kept visible on the host's files, as the base and
    /// working directories and the running binary's directory are (the
    /// binary `isolated-test wrap` runs, when it lives below `/tmp`).
    #[serde(default)]
    pub(crate) keep: Vec<PathBuf>,
}

impl SetupRequest {
    /// A request for a sandbox; what only the start knows (its cgroup, the
    /// kernel's facts) is filled in by `parent::start`.
    pub(crate) fn new(
        hostname: String,
        rootfs: crate::Rootfs,
        base_dir: PathBuf,
        lock: bool,
        limits: crate::sandbox::cgroup::Effective,
    ) -> Self {
        Self {
            hostname,
            rootfs,
            base_dir,
            lock,
            record: false,
            limits,
            cgroup_views: Vec::new(),
            kernel: setup::KernelFacts::default(),
            keep: Vec::new(),
        }
    }
}
