//! The hidden helper mode: the CLI binary as PID 2 of a sandbox.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;

use crate::child::{Channel, DEFAULT_HOSTNAME, exit, setup_sandbox};
use crate::error::ErrorChain;
use crate::sandbox::plan::{OLD_ROOT, Op};
use crate::sandbox::protocol::Message;
use crate::sandbox::setup::{Kernel, LinuxKernel};

/// Environment variable carrying the per-run nonce to a helper.
pub(crate) const ENV_HELPER_NONCE: &str = "ISOLATED_TEST_HELPER_NONCE";
/// Environment variable carrying a [`RunSpec`] (JSON) to a `run` helper.
pub(crate) const ENV_HELPER_SPEC: &str = "ISOLATED_TEST_HELPER_SPEC";

/// What a `run` helper does in its sandbox.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct RunSpec {
    /// Hostname inside.
    pub(crate) hostname: String,
    /// Root filesystem; relative sources from the caller's working directory.
    pub(crate) rootfs: crate::Rootfs,
    /// Commands run one after the other; the pollution report is taken
    /// after the first one.
    pub(crate) commands: Vec<Vec<String>>,
}

/// Runs `spec`'s commands in the finished sandbox, reporting each exit and
/// the first command's pollution report. Each command is a child of PID 2
/// (rather than PID 2 `execve`ing it, as DESIGN.md sketches) so that PID 2
/// is still there afterwards to take the report.
fn run_commands(channel: &Channel, spec: &RunSpec) -> i32 {
    let cwd = std::env::current_dir().unwrap_or_else(|_| "/".into());
    let built = match setup_sandbox(&spec.hostname, &spec.rootfs, &cwd, &mut LinuxKernel) {
        Ok(built) => built,
        Err(err) => {
            channel.send(&Message::SetupFailed { error: ErrorChain::from_error(err.step, &err) });
            return 1;
        }
    };
    let start = crate::sandbox::pollution::Snapshot::take(&built.layers);
    channel.send(&Message::Started);
    for (i, argv) in spec.commands.iter().enumerate() {
        let Some((program, args)) = argv.split_first() else { continue };
        let code = match std::process::Command::new(program).args(args).status() {
            Ok(status) => status
                .code()
                .unwrap_or_else(|| 128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)),
            Err(e) => {
                eprintln!("isolated-test: cannot run `{program}`: {e}");
                if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 }
            }
        };
        if i == 0 {
            let end = crate::sandbox::pollution::Snapshot::take(&built.layers);
            let report = start.diff(&end, &built.layers, &[]);
            channel.send(&Message::Report { report, lowers: built.lowers.clone() });
        }
        channel.send(&Message::CommandExited { code });
    }
    0
}

/// Records the steps that succeeded.
struct Recording {
    steps: Vec<String>,
    readonly_dirs: BTreeSet<String>,
}

impl Kernel for Recording {
    fn apply(&mut self, op: &Op) -> std::io::Result<()> {
        LinuxKernel.apply(op)?;
        let step = op.step().to_owned();
        if !self.steps.contains(&step) {
            self.steps.push(step);
        }
        if let Op::Bind { source, recursive: true, readonly: true, .. } = op {
            if let Ok(rel) = source.strip_prefix(OLD_ROOT) {
                if rel.components().count() == 1 {
                    self.readonly_dirs.insert(Path::new("/").join(rel).display().to_string());
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn run(mode: &str) -> ExitCode {
    let Ok(nonce) = std::env::var(ENV_HELPER_NONCE) else {
        eprintln!(
            "isolated-test: `__sandbox-helper` is internal; it runs only inside a sandbox started by this binary"
        );
        return ExitCode::from(2);
    };
    if std::process::id() != 2 {
        eprintln!("isolated-test: `__sandbox-helper` must run as PID 2 of a sandbox");
        return ExitCode::from(2);
    }
    let channel = Channel::adopt();
    channel.send(&Message::Hello { nonce, test: format!("__sandbox-helper {mode}") });
    crate::runner::init_tracing();
    match mode {
        "probe" => {
            let mut kernel = Recording { steps: Vec::new(), readonly_dirs: BTreeSet::new() };
            let cwd = std::env::current_dir().unwrap_or_else(|_| "/".into());
            match setup_sandbox(DEFAULT_HOSTNAME, &crate::Rootfs::host(), &cwd, &mut kernel) {
                Ok(_) => {
                    channel.send(&Message::Probe {
                        steps: kernel.steps,
                        readonly_dirs: kernel.readonly_dirs.into_iter().collect(),
                    });
                    exit(0)
                }
                Err(err) => {
                    channel.send(&Message::Probe {
                        steps: kernel.steps,
                        readonly_dirs: kernel.readonly_dirs.into_iter().collect(),
                    });
                    channel.send(&Message::SetupFailed { error: ErrorChain::from_error(err.step, &err) });
                    exit(1)
                }
            }
        }
        "run" => {
            let spec: RunSpec = match std::env::var(ENV_HELPER_SPEC).map(|s| serde_json::from_str(&s)) {
                Ok(Ok(spec)) => spec,
                _ => {
                    eprintln!("isolated-test: the run helper got no valid {ENV_HELPER_SPEC}");
                    exit(2)
                }
            };
            exit(run_commands(&channel, &spec))
        }
        other => {
            eprintln!("isolated-test: unknown helper mode `{other}`");
            exit(2)
        }
    }
}
