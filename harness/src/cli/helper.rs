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
    let mut channel = Channel::adopt();
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
        other => {
            eprintln!("isolated-test: unknown helper mode `{other}`");
            exit(2)
        }
    }
}
