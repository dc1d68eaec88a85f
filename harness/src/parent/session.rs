//! One sandbox from start to end: start it (`ahead::start`: a sandbox
//! made ahead, or one of its own through `start`), supervise it on a
//! current-thread tokio runtime (`supervise`), and hand back what was
//! observed. The one path every caller takes: the attribute (`attribute`),
//! `isolated-test run` and `pair`, `doctor`, and `wrap`.

use std::future::Future;
use std::time::Duration;

use super::start::Invocation;
use super::supervise::{self, Outcome, Output};
use crate::error::SpawnError;

/// How one sandbox is watched.
pub(crate) struct Watch<'a> {
    /// Kill the whole sandbox after this long.
    pub(crate) timeout: Duration,
    /// At the deadline, first ask for the pollution report and wait this
    /// long for it.
    pub(crate) report_grace: Option<Duration>,
    /// Where its output goes.
    pub(crate) output: Output<'a>,
}

/// Why no outcome could be had.
#[derive(Debug)]
pub(crate) enum SessionError {
    /// The sandbox could not be started.
    Start(SpawnError),
    /// It started, but supervising it failed (registering its descriptors
    /// with tokio, waiting on its pidfd); it was killed.
    Supervise(std::io::Error),
}

/// The runtime a sandbox is supervised on: current-thread, so that the
/// caller's thread (libtest's test thread, for the attribute) does the
/// work and the output it replays is captured where libtest expects it.
///
/// # Errors
/// The runtime could not be built.
pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

/// Starts `invocation` and supervises it on `runtime` until it has ended
/// and its output is drained. `stop` is polled alongside: when it
/// completes, the sandbox is killed (an interrupted caller); one that
/// never completes can do work of its own meanwhile (`run` follows the
/// terminal's size).
///
/// # Errors
/// The sandbox could not be started, or supervising it failed.
pub(crate) fn run(
    runtime: &tokio::runtime::Runtime,
    invocation: Invocation,
    watch: Watch<'_>,
    stop: impl Future<Output = ()>,
) -> Result<Outcome, SessionError> {
    let (started, mut guard) = super::ahead::start(&invocation).map_err(SessionError::Start)?;
    // PID 1 holds its own copies of what the invocation handed over (its
    // standard input): ours go now, so that a writer feeding that input
    // sees EPIPE once the sandbox is gone, instead of blocking.
    drop(invocation);
    let supervised = supervise::supervise(started, &mut guard, watch.timeout, watch.report_grace, watch.output, stop);
    runtime.block_on(supervised).map_err(SessionError::Supervise)
}
