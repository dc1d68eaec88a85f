//! Mixed suites: an `#[isolated_test]` run by `isolated-test wrap` (or
//! `pair`, which defers the same way).
//!
//! `wrap` runs every test of a binary in a sandbox of its own. Sandboxes do
//! not nest (inside one, the kernel refuses a second its fresh `/proc`), so
//! a test that makes its own sandbox must not run inside wrap's. wrap
//! cannot tell such a test from a plain one by its name, so it finds out
//! when the test starts: its sandbox's helper (PID 2) runs the test binary
//! with [`ENV_WRAP_TEST`] naming the test and [`ENV_WRAP_FD`] a pipe back to
//! the helper. The attribute's code sees both before doing anything else,
//! writes the test's name to the pipe and exits with [`DEFER_EXIT`]; the
//! helper reports `Deferred`, and wrap runs that test again outside any
//! sandbox, where it makes its own with every option it sets (hostname,
//! root filesystem, limits, `privileged`). The body never runs in wrap's
//! sandbox. A plain test knows nothing of this and runs where it is.
//!
//! Only the test wrap asked for, started directly by the helper (its parent
//! is PID 2), defers: another binary that test starts, with the variables
//! inherited, is not the one asked for and goes on as usual (and then
//! fails, since sandboxes do not nest).

pub(crate) use crate::config::{ENV_WRAP_FD, ENV_WRAP_TEST};
/// The exit status of a test that deferred: a status of its own (as
/// `EX_TEMPFAIL`, "try again"), so that a deferral that went unread is a
/// failure, never a pass.
pub(crate) const DEFER_EXIT: i32 = 75;

/// If this process is the test `name` that `isolated-test wrap` started in
/// its sandbox, asks wrap to run it outside instead, and exits; otherwise
/// returns.
pub(crate) fn defer_if_asked(name: &str) {
    if std::env::var(ENV_WRAP_TEST).as_deref() != Ok(name) {
        return;
    }
    if rustix::process::getppid().map(rustix::process::Pid::as_raw_nonzero).map(|p| p.get()) != Some(2) {
        return;
    }
    let Some(fd) = std::env::var(ENV_WRAP_FD).ok().and_then(|fd| fd.parse().ok()) else { return };
    let Ok(mut pipe) = crate::sys::fd::adopt_cloexec_file(fd) else { return };
    if std::io::Write::write_all(&mut pipe, format!("{name}\n").as_bytes()).is_ok() {
        crate::pid2::body::exit(DEFER_EXIT);
    }
}
