//! PID 2 before `main`: the whole sandbox setup, from a constructor of the
//! re-executed binary (`sys::entry`), where the process still has a single
//! thread, as the lock step needs.
//!
//! The parent describes the sandbox in a [`SetupRequest`] (environment
//! variable `ISOLATED_TEST_SETUP`, JSON); the constructor builds it, locks it, and
//! leaves the outcome in [`entered`] for the harness code that runs later
//! on libtest's test thread (`pid2::body::run`) or in the CLI's helper mode,
//! which reports it over the result channel.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{IoCause, SetupError};
use crate::sandbox::plan::{self, OLD_ROOT, Op, SandboxConfig};
use crate::sandbox::pollution;
use crate::sandbox::request::SetupRequest;
use crate::sandbox::setup::{self, Kernel, LinuxKernel};

/// What the setup left for the rest of PID 2.
#[derive(Debug)]
pub(crate) struct Entered {
    /// The sandbox, or the step that failed.
    pub(crate) built: Result<Built, SetupError>,
    /// With [`SetupRequest::record`]: the steps that succeeded, in order,
    /// each once (read by the CLI's helper, for `doctor`).
    #[cfg_attr(not(feature = "cli"), allow(dead_code))]
    pub(crate) steps: Vec<String>,
    /// With [`SetupRequest::record`]: top-level host directories bound
    /// read-only instead of overlaid (read by the CLI's helper).
    #[cfg_attr(not(feature = "cli"), allow(dead_code))]
    pub(crate) readonly_dirs: Vec<String>,
}

static ENTERED: OnceLock<Entered> = OnceLock::new();

/// The outcome of the setup that ran before `main`, if one ran.
pub(crate) fn entered() -> Option<&'static Entered> {
    ENTERED.get()
}

/// Builds and locks the sandbox described by `request` (JSON), and makes
/// PID 2 not dumpable. Called once, by the constructor, single-threaded.
pub(crate) fn before_main(request: &std::ffi::OsStr) {
    let request: Result<SetupRequest, _> = request
        .to_str()
        .ok_or_else(|| "not UTF-8".to_owned())
        .and_then(|text| serde_json::from_str(text).map_err(|e| e.to_string()));
    crate::config::init_tracing();
    let entered = match request {
        Ok(request) => {
            let mut kernel = Recording { inner: LinuxKernel::default(), on: request.record, ..Recording::default() };
            let built = setup_sandbox(&request, &mut kernel);
            Entered { built, steps: kernel.steps, readonly_dirs: kernel.readonly_dirs }
        }
        Err(why) => Entered {
            built: Err(SetupError {
                step: "read_setup_request",
                what: format!("read the setup request in {}", crate::config::ENV_SETUP),
                source: IoCause(std::io::Error::new(std::io::ErrorKind::InvalidData, why)),
            }),
            steps: Vec::new(),
            readonly_dirs: Vec::new(),
        },
    };
    // Not dumpable from here on: the commands the body runs live in the
    // nested user namespace and have no CAP_SYS_PTRACE over the one this
    // binary was executed in, so `/proc/2/fd` (the result channel) and
    // `/proc/2/mem` stay closed to them.
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    let _ = ENTERED.set(entered);
}

/// Whether [`before_main`] ran the setup and it failed (the harness then
/// reports the step instead of running the body).
pub(crate) fn setup_failed() -> bool {
    ENTERED.get().is_some_and(|entered| entered.built.is_err())
}

/// Records the steps that succeeded, when asked to.
#[derive(Default)]
struct Recording {
    inner: LinuxKernel,
    on: bool,
    steps: Vec<String>,
    readonly_dirs: Vec<String>,
}

impl Kernel for Recording {
    fn apply(&mut self, op: &Op) -> std::io::Result<()> {
        self.inner.apply(op)?;
        if !self.on {
            return Ok(());
        }
        let step = op.step().to_owned();
        if !self.steps.contains(&step) {
            self.steps.push(step);
        }
        if let Op::Bind { source, recursive: true, readonly: true, .. } = op {
            if let Ok(rel) = source.strip_prefix(OLD_ROOT) {
                let dir = Path::new("/").join(rel).display().to_string();
                if rel.components().count() == 1 && !self.readonly_dirs.contains(&dir) {
                    self.readonly_dirs.push(dir);
                }
            }
        }
        Ok(())
    }
}

fn read_step<T>(what: &str, result: std::io::Result<T>) -> Result<T, SetupError> {
    result.map_err(|source| SetupError { step: "read_host", what: what.to_owned(), source: IoCause(source) })
}

/// Builds the sandbox in PID 2: the namespaces, hostname, the root
/// filesystem (relative sources taken from the request's base directory,
/// which on the host's files stays visible with the working directory and
/// the running binary's directory), everything else of the setup sequence,
/// the lock, then the prepared state (seed files, sysctls).
///
/// `ISOLATED_TEST_INJECT_SETUP_FAULT=<step>` fails that step (for testing
/// the harness's reports).
///
/// # Errors
/// The first step that failed.
pub(crate) fn setup_sandbox(request: &SetupRequest, kernel: &mut dyn Kernel) -> Result<Built, SetupError> {
    let base_dir = request.base_dir.as_path();
    let cwd = read_step("read the working directory", std::env::current_dir())?;
    let exe = read_step("find the running binary", std::env::current_exe())?;
    let resolved = crate::sandbox::resolve::resolve(&request.rootfs, base_dir)?;
    let mut all: Vec<PathBuf> = vec![base_dir.to_path_buf()];
    all.push(cwd.clone());
    all.extend(exe.parent().map(PathBuf::from));
    all.extend(request.keep.iter().cloned());
    let keep = all.into_iter().filter_map(|p| p.canonicalize().ok()).collect();
    let uid_map = read_step("read /proc/self/uid_map", std::fs::read_to_string("/proc/self/uid_map"))?;
    let config = SandboxConfig {
        hostname: request.hostname.clone(),
        cwd,
        keep,
        rootless: !is_identity_map(&uid_map),
        lock: request.lock,
        // Half the memory limit: one tmpfs filling up fails with ENOSPC, a
        // clear error, before the OOM killer has to step in.
        tmpfs_bytes: request.limits.memory / 2,
        cgroup_views: request.cgroup_views.clone(),
        rootfs: resolved,
    };
    let host = read_step("read the host's root directory and mount table", setup::read_host_view(&request.kernel))?;
    let lowers = match &config.rootfs.base {
        plan::ResolvedBase::Layers(layers) => layers.clone(),
        _ => Vec::new(),
    };
    let tracked = !matches!(config.rootfs.base, plan::ResolvedBase::Busybox { .. });
    let ops = plan::plan(&config, &host);
    match std::env::var(crate::config::ENV_INJECT_FAULT) {
        Ok(step) => setup::execute(&ops, &mut setup::FaultAt { inner: kernel, step })?,
        Err(_) => setup::execute(&ops, kernel)?,
    }
    crate::sandbox::resolve::seed(&request.rootfs)?;
    let uppers = plan::uppers(&ops)
        .into_iter()
        .filter_map(|(upper, inside)| Some((setup::kept_layer_path(&upper)?, inside)))
        .collect();
    Ok(Built { layers: pollution::Layers { uppers, tracked, scratch: plan::scratch(&ops) }, lowers })
}

/// What the pollution report needs to know about a built sandbox.
#[derive(Debug)]
pub(crate) struct Built {
    /// The overlays' upper layers.
    pub(crate) layers: pollution::Layers,
    /// Image layers below the overlays, bottom first; empty for the host.
    pub(crate) lowers: Vec<PathBuf>,
}

/// Whether a uid map maps every id to itself (the parent was root).
fn is_identity_map(map: &str) -> bool {
    let fields: Vec<&str> = map.split_whitespace().collect();
    fields.len() == 3 && fields[0] == "0" && fields[1] == "0" && fields[2] == "4294967295"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_map_detection() {
        assert!(is_identity_map("         0          0 4294967295\n"));
        assert!(!is_identity_map("         0       1000          1\n"));
    }
}
