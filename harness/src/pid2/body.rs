//! The body's side: the harness inside PID 2, on libtest's test thread. The
//! sandbox was built before `main` (see `pid2::entry`); this runs the body and
//! reports each phase to the parent over the result channel.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;

use crate::config::{ENV_CHILD_NONCE, ENV_CHILD_TEST};
use crate::error::ErrorChain;
use crate::pid2::entry::Built;
use crate::sandbox::pollution;
use crate::sandbox::protocol::{Message, encode};
use crate::spec::{TestReturn, TestSpec};
use crate::sys::pid1::{CHILD_RESULT_FD, CHILD_STDOUT_FD};
use crate::sys::spare::Spare;

/// This process is PID 2 of a sandbox started for this very test.
pub(crate) struct ChildMode {
    nonce: String,
    test: String,
}

/// This process runs the body only when the marker names this test and we are PID 2
/// (a process the test itself starts, or another test, never qualifies).
pub(crate) fn detect(test_name: &str) -> Option<ChildMode> {
    let nonce = std::env::var(ENV_CHILD_NONCE).ok()?;
    let test = std::env::var(ENV_CHILD_TEST).ok()?;
    (test == test_name && std::process::id() == 2).then_some(ChildMode { nonce, test })
}

/// The latest panics the hook saw, on any thread: message and location.
/// The verdict's message is the payload of the panic that ended the body;
/// this only adds where it happened. A thread-local "last panic" would name
/// a panic the body caught and handled, and miss one resumed from a joined
/// thread (`resume_unwind` calls no hook).
static PANICS: std::sync::Mutex<VecDeque<(String, Option<String>)>> = std::sync::Mutex::new(VecDeque::new());

/// How many panics [`PANICS`] keeps.
const KEPT_PANICS: usize = 32;

/// A panic payload's text, as libtest shows it: the `&str` or `String`
/// given to `panic!`, or `Box<dyn Any>` for anything else.
fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "Box<dyn Any>".to_owned())
}

/// The message and location of the panic that ended the body: the
/// message from its payload; the location of the latest panic the hook
/// saw with that message, if any (none when the body replaced the hook).
fn ending_panic(payload: &(dyn std::any::Any + Send)) -> (String, Option<String>) {
    let message = payload_text(payload);
    let panics = PANICS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let location = panics.iter().rev().find(|(seen, _)| *seen == message).and_then(|(_, location)| location.clone());
    (message, location)
}

/// The result channel of PID 2.
pub(crate) struct Channel(std::sync::Mutex<Routes>);

/// Where PID 2's messages go.
struct Routes {
    /// The result channel, descriptor [`CHILD_RESULT_FD`].
    file: File,
    /// Its device and inode: the descriptor number is the body's to close
    /// or reuse, so each send checks that it still is the channel.
    identity: Option<(u64, u64)>,
    /// The spare route, mapped before the body ran (see
    /// [`crate::sys::pid1::CHILD_SPARE_FD`]); `None` if PID 1 could not
    /// make it.
    spare: Option<Spare>,
}

impl Channel {
    /// Takes over the inherited result channel and moves the stdout pipe
    /// onto fd 1 (it was `/dev/null` so libtest's banner stayed out of the
    /// output). Exits the process if the channel is missing: then this is
    /// not PID 2 of a sandbox and nothing can be reported.
    pub(crate) fn adopt() -> Self {
        let file = match crate::sys::fd::adopt_cloexec_file(CHILD_RESULT_FD) {
            Ok(file) => file,
            Err(err) => {
                eprintln!("isolated-test: no result channel in the sandboxed process: {err}");
                std::process::exit(70);
            }
        };
        let identity = identity(&file);
        let spare = Spare::adopt();
        if let Some(stdout) = crate::sys::fd::adopt_inherited(CHILD_STDOUT_FD) {
            let _ = rustix::stdio::dup2_stdout(&stdout);
        }
        Channel(std::sync::Mutex::new(Routes { file, identity, spare }))
    }

    /// Sends one message: on the channel while its descriptor is still the
    /// channel, else by the spare route.
    pub(crate) fn send(&self, message: &Message) {
        let line = encode(message);
        let mut routes = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if routes.identity.is_some() && identity(&routes.file) == routes.identity {
            // A write error means the parent is gone; PDEATHSIG ends us anyway.
            let _ = routes.file.write_all(line.as_bytes());
        } else if let Some(spare) = &mut routes.spare {
            spare.append(line.as_bytes());
        }
    }
}

/// The device and inode of what `file`'s descriptor now refers to.
fn identity(file: &File) -> Option<(u64, u64)> {
    rustix::fs::fstat(file).ok().map(|st| (st.st_dev, st.st_ino))
}

/// Runs setup and body in PID 2 and exits the process.
pub(crate) fn run<F, R>(mode: ChildMode, spec: &TestSpec, body: F) -> !
where
    F: FnOnce() -> R,
    R: TestReturn,
{
    // Shared with the thread that answers a report request at the deadline.
    let channel: &'static Channel = Box::leak(Box::new(Channel::adopt()));
    channel.send(&Message::Hello { nonce: mode.nonce.clone(), test: mode.test.clone() });
    crate::config::init_tracing();

    let built = setup_outcome(channel);
    let report_wanted = crate::config::report::wanted(spec);
    let start = if report_wanted {
        pollution::Snapshot::take(&built.layers)
    } else {
        pollution::Snapshot::take_cheap(&built.layers)
    };
    let _ = BASELINE.set((start.clone(), built.layers.clone()));
    if report_wanted {
        answer_report_requests(channel, start.clone(), built.layers.clone(), built.lowers.clone());
    }
    channel.send(&Message::Started);
    let mounts_at_start = spec.teardown_verify.then(crate::pid2::teardown::mount_ids);

    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let message = payload_text(info.payload());
        let location = info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
        {
            let mut panics = PANICS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if panics.len() == KEPT_PANICS {
                panics.pop_front();
            }
            panics.push_back((message, location));
        }
        previous(info);
    }));

    let outcome = panic::catch_unwind(AssertUnwindSafe(body));
    let failed = !matches!(&outcome, Ok(value) if value.passes());
    if failed {
        // What the body's own structures said about the failure (a
        // network's state), taken before the report: it is the likelier
        // explanation.
        for text in take_failure_notes() {
            channel.send(&Message::FailureNote { text });
        }
    }
    if report_wanted {
        // Also after a failure: the report often explains it.
        let report = start.diff(&pollution::Snapshot::take(&built.layers), &built.layers);
        channel.send(&Message::Report { report: Box::new(report), lowers: built.lowers.clone() });
    }
    match outcome {
        Ok(value) => match value.into_test_result() {
            Ok(()) => {
                if let Some(at_start) = mounts_at_start {
                    if let Err(report) = crate::pid2::teardown::verify(&at_start) {
                        channel.send(&Message::TeardownFailed { report });
                        exit(101);
                    }
                }
                channel.send(&Message::Passed);
                exit(0);
            }
            Err(error) => {
                channel.send(&Message::ReturnedErr { error });
                exit(101);
            }
        },
        Err(payload) => {
            let (message, location) = ending_panic(&*payload);
            channel.send(&Message::Panicked { message, location });
            exit(101);
        }
    }
}

/// When the deadline comes, the parent asks (SIGUSR2) for the report before
/// it kills the sandbox: a thread answers, since the body may be stuck.
pub(crate) fn answer_report_requests(
    channel: &'static Channel,
    start: pollution::Snapshot,
    layers: pollution::Layers,
    lowers: Vec<PathBuf>,
) {
    let Ok(mut requests) = crate::sys::signal::report_requests() else { return };
    std::thread::spawn(move || {
        let mut byte = [0u8; 1];
        if matches!(std::io::Read::read(&mut requests, &mut byte), Ok(1)) {
            let report = start.diff(&pollution::Snapshot::take(&layers), &layers);
            channel.send(&Message::Report { report: Box::new(report), lowers });
        }
    });
}

/// The sandbox the constructor built before `main`; a setup failure is
/// reported and ends the process.
pub(crate) fn setup_outcome(channel: &Channel) -> &'static Built {
    let Some(entered) = crate::pid2::entry::entered() else {
        let error = ErrorChain {
            step: "enter".into(),
            message: "the sandbox setup did not run before `main`".into(),
            causes: vec![format!(
                "the harness's constructor found no {} in PID 2 (is this binary linked against a different \
                 copy of isolated-test than the one that started it?)",
                crate::config::ENV_SETUP
            )],
            errno: None,
        };
        channel.send(&Message::SetupFailed { error });
        exit(1);
    };
    match &entered.built {
        Ok(built) => built,
        Err(err) => {
            channel.send(&Message::SetupFailed { error: ErrorChain::from_error(err.step, err) });
            exit(1);
        }
    }
}

pub(crate) fn exit(code: i32) -> ! {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(code)
}

/// What the running test has used so far: peak memory (tmpfs contents
/// included), CPU time and its resource-limit events, read from its own
/// cgroup at `/sys/fs/cgroup` (read-only inside). The most processes at
/// once is known where the kernel keeps `pids.peak` (cgroup v2, and v1 on
/// recent kernels). Everything is `None` (and the counts
/// 0) where the sandbox has no cgroup: rootless without a delegated
/// cgroup v2 subtree, or outside a sandbox.
///
/// ```no_run
/// #[isolated_test::isolated_test(memory = "256M")]
/// fn stays_small() {
///     let buffer = vec![1u8; 32 << 20];
///     let peak = isolated_test::usage().peak_memory.unwrap();
///     assert!(peak < 128 << 20, "{peak} bytes for a 32 MiB buffer ({})", buffer.len());
/// }
/// ```
pub fn usage() -> crate::sandbox::cgroup::Usage {
    crate::sandbox::cgroup::Leaves::inside(std::path::Path::new("/sys/fs/cgroup")).usage(None)
}

/// How many failure notes a report shows (the latest).
const MAX_FAILURE_NOTES: usize = 3;

/// Notes for the failure report, by key (the latest per key).
static FAILURE_NOTES: std::sync::Mutex<std::collections::BTreeMap<u64, String>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Whether this process is running an isolated test's body (PID 2 after
/// the setup): the only place where `isolated_test::net` may change
/// `/etc/hosts` and make namespaces.
pub(crate) fn in_sandbox_body() -> bool {
    BASELINE.get().is_some()
}

/// Keeps `text` (under `key`, replacing an earlier note) to be shown in
/// the failure report should the body fail; `None` forgets it. Returns
/// whether a failure report will carry it (false outside a sandbox).
pub(crate) fn set_failure_note(key: u64, text: Option<String>) -> bool {
    let mut notes = FAILURE_NOTES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match text {
        Some(text) => notes.insert(key, text),
        None => notes.remove(&key),
    };
    // The latest few: a test that builds many networks would otherwise
    // bury its failure under all of them.
    while notes.len() > MAX_FAILURE_NOTES {
        notes.pop_first();
    }
    in_sandbox_body()
}

fn take_failure_notes() -> Vec<String> {
    std::mem::take(&mut *FAILURE_NOTES.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
        .into_values()
        .collect()
}

/// The state after setup, for [`pollution`].
static BASELINE: std::sync::OnceLock<(pollution::Snapshot, pollution::Layers)> = std::sync::OnceLock::new();

/// What the running test has changed in its sandbox so far: files written
/// or deleted (not yet told apart as added or modified: only the parent can
/// look at the host), what it left in the scratch directories (`/tmp`,
/// `/var/tmp`, `/run`, `/dev/shm`), mounts, hostname, network, processes.
/// Namespaced
/// sysctls are included when the test asked for a report
/// (`ISOLATED_TEST_REPORT=1` or `forbid_pollution`).
///
/// ```no_run
/// #[isolated_test::isolated_test]
/// fn leaves_nothing_behind() {
///     std::fs::write("/etc/app.conf", "x").unwrap();
///     std::fs::remove_file("/etc/app.conf").unwrap();
///     assert!(isolated_test::pollution().files.is_empty());
/// }
/// ```
///
/// # Panics
/// Outside the body of an isolated test.
pub fn pollution() -> pollution::Report {
    let (start, layers) = BASELINE.get().expect("isolated_test::pollution() works only inside an isolated test's body");
    let mut end = pollution::Snapshot::take_cheap(layers);
    if start.has_sysctls() {
        end = pollution::Snapshot::take(layers);
    }
    start.diff(&end, layers)
}
