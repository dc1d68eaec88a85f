//! The parent of one `#[isolated_test]`: start the sandbox for the test, supervise it on a
//! current-thread tokio runtime, and turn the outcome into the test's
//! verdict.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::SpawnError;
use crate::parent::session::{self, SessionError};
use crate::parent::start::Invocation;
use crate::parent::supervise;
use crate::parent::verdict::{self, Verdict};
use crate::spec::TestSpec;

use crate::config::{ENV_SKIP_UNSUPPORTED, init_tracing};

fn timeout_for(spec: &TestSpec) -> Result<Duration, String> {
    match spec.timeout {
        Some(t) => Ok(t),
        None => crate::config::defaults::timeout(),
    }
}

fn nonce() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    format!("{:016x}{:08x}", h.finish(), std::process::id())
}

/// Runs `name` in a sandbox and panics (the libtest way to fail) unless it
/// passed.
#[track_caller]
pub(crate) fn run_parent(spec: &TestSpec, name: &str) {
    init_tracing();
    let forbidden = match crate::config::report::forbidden(spec) {
        Ok(forbidden) => forbidden,
        Err(message) => return could_not_start(spec, name, &message),
    };
    let outcome = start_and_supervise(spec, name);
    tell_pair(name, outcome.as_ref().is_ok_and(|(nonce, outcome)| body_started(nonce, outcome)));
    let (nonce, outcome) = match outcome {
        Ok(o) => o,
        Err(StartError { message, unsupported_host: true })
            if std::env::var(ENV_SKIP_UNSUPPORTED).as_deref() == Ok("1") =>
        {
            use std::io::Write;
            // Written to the process's stderr directly: libtest captures only
            // print!/eprint!, and a skip must never be silent.
            let _ = writeln!(
                std::io::stderr(),
                "\nSKIPPED isolated test `{name}`: NOT RUN because {ENV_SKIP_UNSUPPORTED}=1 and this host cannot create a sandbox; \
                 libtest will report it as passed.\n{message}\n"
            );
            if spec.should_panic {
                // libtest counts a #[should_panic] test as passed only when
                // it panics (with its expected text): the skip says so, as
                // for every other test.
                panic!(
                    "SKIPPED, NOT RUN ({ENV_SKIP_UNSUPPORTED}=1); this panic only makes libtest count the #[should_panic] \
                     test as passed like the other skipped tests{}",
                    spec.panic_expected.map(|text| format!(" (its expected text: {text})")).unwrap_or_default()
                );
            }
            return;
        }
        Err(StartError { message, .. }) => return could_not_start(spec, name, &message),
    };
    let report = crate::sandbox::pollution::from_messages(&outcome.log.messages);
    if let Some(report) = report.as_ref().filter(|_| crate::config::report::requested()) {
        use std::io::Write;
        // Straight to stderr: asked for with ISOLATED_TEST_REPORT=1, it must
        // show for passing tests too, past libtest's capture.
        let _ = writeln!(std::io::stderr(), "isolated test `{name}`: {report}{}", verdict::resources(&outcome).1);
    }
    if report.is_none() && crate::config::report::requested() {
        use std::io::Write;
        // Asked for and missing: say so rather than print nothing.
        let setup_failed =
            outcome.log.messages.iter().any(|m| matches!(m, crate::sandbox::protocol::Message::SetupFailed { .. }));
        let why = if setup_failed {
            "the sandbox's setup failed before the test ran"
        } else if outcome.timed_out.is_some() {
            "at the deadline the sandbox did not answer the request for it (SIGUSR2) in time: the test ignores, \
             blocks or handles SIGUSR2, or the harness's thread in it could not run"
        } else {
            "the sandbox ended before it could send one (the test was killed by a signal, or exited)"
        };
        let _ = writeln!(std::io::stderr(), "isolated test `{name}`: no pollution report: {why}");
    }
    let mut verdict = verdict::judge(name, &nonce, &outcome);
    // What is left in the scratch directories counts too: the sandbox's
    // fresh tmpfs hides it, but a real host would keep it.
    if let (Verdict::Pass, Some((allowed, source))) = (&verdict, forbidden) {
        if let Some(failure) = verdict::polluted(report.as_ref(), allowed, source) {
            verdict = Verdict::Fail(failure);
        }
    }
    // A failure leads with the limit it hit, if any, and ends with what the
    // sandbox used.
    let (cause, used) = verdict::resources(&outcome);
    let explain = |msg: String| match &cause {
        Some(cause) => format!("{cause}\n{msg}\n{used}"),
        None => format!("{msg}\n{used}"),
    };
    verdict = match verdict {
        Verdict::Pass => Verdict::Pass,
        Verdict::BodyPanicked(msg) => Verdict::BodyPanicked(explain(msg)),
        Verdict::Fail(msg) => Verdict::Fail(explain(msg)),
    };
    match verdict {
        Verdict::Pass => {}
        Verdict::BodyPanicked(msg) if spec.should_panic => {
            // libtest matches `expected` against the panic's payload alone,
            // which for a plain #[test] is the body's own message: so is
            // it here, and the rest of the report (where, the notes, the
            // resources) goes to stderr, which libtest shows with a failure.
            let body_said = outcome.log.messages.iter().find_map(|m| match m {
                crate::sandbox::protocol::Message::Panicked { message, .. } => Some(message.clone()),
                _ => None,
            });
            match body_said {
                Some(message) => {
                    eprintln!("isolated test `{name}`: {msg}");
                    std::panic::panic_any(message)
                }
                None => panic!("{msg}"),
            }
        }
        Verdict::BodyPanicked(msg) => panic!("isolated test `{name}` failed: {msg}"),
        Verdict::Fail(msg) if spec.should_panic => {
            // Panicking here would satisfy #[should_panic] with a failure that
            // is not the body's panic; returning makes libtest report "did not
            // panic as expected" and this line says why.
            eprintln!("isolated test `{name}` failed before its body could panic: {msg}");
        }
        Verdict::Fail(msg) => panic!("isolated test `{name}` failed: {msg}"),
    }
}

/// Whether the body of the test started in the sandbox that `nonce` names
/// (its setup was done): unless it did, the verdict is the sandbox's, not
/// the test's.
fn body_started(nonce: &str, outcome: &supervise::Outcome) -> bool {
    let ours = outcome.log.hello().is_some_and(|(n, _)| n == nonce);
    ours && outcome.log.messages.contains(&crate::sandbox::protocol::Message::Started)
}

/// Run by `isolated-test pair` outside its sandboxes (an `#[isolated_test]`
/// makes its own), the test `name` tells pair on the pipe it names whether
/// its body started: a test whose sandbox failed before its body (its
/// setup, its start) has no verdict of its own for pair to compare. Only
/// the test pair names says so, once.
fn tell_pair(name: &str, started: bool) {
    use crate::config::{ENV_PAIR_FD, ENV_PAIR_TEST};
    if !started || std::env::var(ENV_PAIR_TEST).as_deref() != Ok(name) {
        return;
    }
    let Some(fd) = std::env::var(ENV_PAIR_FD).ok().and_then(|fd| fd.parse().ok()) else { return };
    if let Ok(mut pipe) = crate::sys::fd::adopt_cloexec_file(fd) {
        let _ = std::io::Write::write_all(&mut pipe, b"started\n");
    }
}

/// Fails a test whose sandbox could not start, saying why. A panic would
/// satisfy a `#[should_panic]` test with a failure that is not its body's
/// panic, so for one it returns instead (libtest then reports that it did
/// not panic as expected) after this line says why.
#[track_caller]
fn could_not_start(spec: &TestSpec, name: &str, message: &str) {
    if spec.should_panic {
        eprintln!("isolated test `{name}` could not start its sandbox, so its body never ran: {message}");
    } else {
        panic!("isolated test `{name}` could not start its sandbox: {message}");
    }
}

/// Why no outcome could be had.
struct StartError {
    message: String,
    /// The host cannot create sandboxes at all (user namespaces restricted).
    unsupported_host: bool,
}

impl From<String> for StartError {
    fn from(message: String) -> Self {
        Self { message, unsupported_host: false }
    }
}

impl From<SpawnError> for StartError {
    fn from(err: SpawnError) -> Self {
        let unsupported_host = matches!(err, SpawnError::Clone { diagnosis: Some(_), .. });
        Self { message: err.render(), unsupported_host }
    }
}

/// With a report asked for, the deadline gives the sandbox this long to
/// send it before the kill.
fn report_grace(spec: &TestSpec) -> Option<Duration> {
    crate::config::report::wanted(spec).then_some(Duration::from_secs(2))
}

fn start_and_supervise(spec: &TestSpec, name: &str) -> Result<(String, supervise::Outcome), StartError> {
    let timeout = timeout_for(spec)?;
    // Read elsewhere, checked here: a wrong value fails the test, as a
    // wrong timeout does, instead of being read as the default.
    crate::config::defaults::ahead()?;
    crate::config::defaults::check_zygote()?;
    crate::config::report::check_requested()?;
    let nonce = nonce();
    let _span = tracing::debug_span!("isolated_test", test = name).entered();
    // The root filesystem's builder runs here, on the host, once per test
    // (an rstest fixture's function, an image built into the cache).
    let limits = crate::sandbox::cgroup::Limits { memory: spec.memory, pids: spec.pids, cpu_millis: spec.cpu_millis }
        .effective()?;
    // A debootstrap root is built here, once, before the sandbox and its
    // deadline start.
    let mut rootfs = spec
        .rootfs
        .map(|build| build())
        .unwrap_or_default()
        .prepared()
        .map_err(|e| format!("failed to make its root filesystem: {e}"))?;
    // Held until the sandbox is over, then its profiles move out.
    let profiles = crate::config::coverage::Profiles::prepare();
    if let Some(profiles) = &profiles {
        rootfs = rootfs.bind_rw(profiles.staging(), profiles.staging());
    }
    let setup = crate::sandbox::request::SetupRequest::new(
        match spec.hostname {
            Some(hostname) => hostname.to_owned(),
            None => crate::config::defaults::hostname()?,
        },
        rootfs,
        spec.manifest_dir.into(),
        !spec.privileged,
        limits,
    );
    let mut invocation = Invocation::for_test(name, &nonce, setup)?;
    invocation.env.extend(profiles.as_ref().map(crate::config::coverage::Profiles::env));
    let runtime = session::runtime().map_err(|e| format!("failed to build the supervising tokio runtime: {e}"))?;
    let watch = session::Watch { timeout, report_grace: report_grace(spec), output: supervise::Output::Replay };
    let outcome = match session::run(&runtime, invocation, watch, std::future::pending()) {
        Ok(outcome) => outcome,
        Err(SessionError::Start(err)) => return Err(err.into()),
        Err(SessionError::Supervise(e)) => return Err(format!("failed to supervise the sandbox: {e}").into()),
    };
    tracing::debug!(elapsed = ?outcome.elapsed, exit = ?outcome.exit, "sandbox ended");
    drop(profiles);
    Ok((nonce, outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_differ() {
        assert_ne!(nonce(), nonce());
    }
}
