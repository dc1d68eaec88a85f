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
    let name = if request.ahead { go() } else { request.test.clone() };
    // The parent sends only registered tests.
    let Some(test) = crate::registry::find(&name) else {
        gone(&format!("the zygote was asked for `{name}`, which is not registered"));
    };
    // libtest's convention, which `naming` reads: the test runs on a
    // thread named after it.
    let thread = std::thread::Builder::new().name(name).spawn(test);
    let why = match thread.map(std::thread::JoinHandle::join) {
        Err(err) => format!("could not start the test's thread: {err}"),
        Ok(Err(_)) => "the test's function panicked outside its body".to_owned(),
        Ok(Ok(())) => "the test's function returned instead of ending the process".to_owned(),
    };
    gone(&why)
}

/// In a sandbox made ahead of its test (`parent::ahead`), once it is
/// built: waits for the test on standard input (`<nonce>\n<test>\n`, then
/// EOF), gives the two to the harness as an executed PID 2 gets them (its
/// environment), and puts `/dev/null` on standard input, as for every
/// test of the attribute. EOF without them: the parent dropped this
/// sandbox unused, and PID 2 ends quietly.
fn go() -> String {
    match read_go() {
        Ok(Some((nonce, test))) => {
            crate::sys::zygote::set_child_vars(&nonce, &test);
            test
        }
        Ok(None) => crate::pid2::body::exit(0),
        Err(why) => gone(&why),
    }
}

/// In PID 2 of a sandbox made ahead (the attribute's, or a CLI helper's):
/// reads the two lines it is given on standard input once it is wanted,
/// `<nonce>\n<what>\n` (`what`: the test's name, or the helper's
/// specification as one line of JSON), then EOF, and puts `/dev/null` on
/// standard input. `None` on EOF without them: the parent dropped the
/// sandbox unused.
///
/// # Errors
/// What was read is not two lines of UTF-8, or `/dev/null` could not be
/// put on standard input.
pub(crate) fn read_go() -> Result<Option<(String, String)>, String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let read = std::io::stdin().lock().read_to_end(&mut bytes);
    if bytes.is_empty() {
        return Ok(None);
    }
    let text = match (read, String::from_utf8(bytes)) {
        (Ok(_), Ok(text)) => text,
        (Err(err), _) => return Err(format!("could not read what to run: {err}")),
        (_, Err(_)) => return Err("what to run came as bytes that are not UTF-8".into()),
    };
    let mut lines = text.split_terminator('\n');
    let (Some(nonce), Some(what), None) = (lines.next(), lines.next(), lines.next()) else {
        return Err(format!("malformed message saying what to run: {text:?}"));
    };
    // A setup that failed may have left no `/dev`: standard input then
    // stays this pipe, at its end, and the body never runs to read it.
    if !crate::pid2::entry::setup_failed() {
        let null = std::fs::File::open("/dev/null").map_err(|e| format!("could not open /dev/null: {e}"))?;
        rustix::stdio::dup2_stdin(&null).map_err(|e| format!("could not put /dev/null on standard input: {e}"))?;
    }
    Ok(Some((nonce.to_owned(), what.to_owned())))
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
