//! PID 2 forked by the zygote: what an executed PID 2 gets from `execve`,
//! its constructor and libtest, done in its copy of the zygote. It takes
//! the parent's environment of this test (working directory: already, from
//! `sys::pid1`), runs the setup as the constructor would (one thread, as
//! the lock needs), then calls the test's generated function on a thread
//! named after the test, as libtest would; from there the harness runs the
//! body exactly as in an executed PID 2 (`pid2::body`), which ends the
//! process.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::zygote::wire::Request;

static FORKED: AtomicBool = AtomicBool::new(false);

/// Whether this process is a PID 2 forked by the zygote.
pub(crate) fn active() -> bool {
    FORKED.load(Ordering::Relaxed)
}

/// Becomes PID 2 of `request`'s test and runs it; never returns.
pub(crate) fn run(request: &Request) -> ! {
    FORKED.store(true, Ordering::Relaxed);
    crate::sys::zygote::replace_environment(request.env.iter().map(Vec::as_slice));
    crate::pid2::entry::before_main(std::ffi::OsStr::new(&request.setup));
    // The parent sends only registered tests.
    let Some(test) = crate::registry::find(&request.test) else {
        gone(&format!("the zygote was asked for `{}`, which is not registered", request.test));
    };
    // libtest's convention, which `naming` reads: the test runs on a
    // thread named after it.
    let thread = std::thread::Builder::new().name(request.test.clone()).spawn(test);
    let why = match thread.map(std::thread::JoinHandle::join) {
        Err(err) => format!("could not start the test's thread: {err}"),
        Ok(Err(_)) => "the test's function panicked outside its body".to_owned(),
        Ok(Ok(())) => "the test's function returned instead of ending the process".to_owned(),
    };
    gone(&why)
}

/// Ends a PID 2 that could not run its test (a harness bug): on stderr,
/// which the parent replays, then an exit status the verdict reports.
fn gone(why: &str) -> ! {
    eprintln!("isolated-test: PID 2 forked by the zygote: {why}");
    crate::pid2::body::exit(70)
}

/// In a PID 2 forked by the zygote, a test function that is not the one
/// the sandbox was made for (`name` does not match what the parent asked
/// for) ends the process instead of starting a sandbox inside this one.
pub(crate) fn refuse_other(name: &str) {
    if active() {
        gone(&format!("the test's function named itself `{name}`, not the test the sandbox was made for"));
    }
}
