//! Turns what the parent observed into a verdict and a report that says
//! which phase failed. Decided from the exit status and the result channel,
//! never from libtest's text.

use std::fmt::Write as _;
use std::time::Duration;

use super::supervise::{Exit, Outcome};
use crate::sandbox::pollution::Report;
use crate::sandbox::protocol::{MESSAGE_CAP, Message, ResultLog, Stray};
use crate::sys::pid1::pid1_exit;

/// The verdict on one isolated test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The body passed and the sandbox ended cleanly.
    Pass,
    /// The body panicked: the parent re-raises the panic (so
    /// `#[should_panic(expected = ...)]` sees the message).
    BodyPanicked(String),
    /// Any other failure, fully explained.
    Fail(String),
}

/// How a timed-out test is told to raise its limit (`run` says `--timeout`).
pub(crate) const TIMEOUT_HINT: &str =
    "\nRaise the limit with `#[isolated_test(timeout = \"...\")]` or ISOLATED_TEST_TIMEOUT.";

/// What the sandbox's resources say about a failure: the limit it hit
/// (leading the message, since it is the cause), and a line of what it
/// used (closing it).
pub(crate) fn resources(outcome: &Outcome) -> (Option<String>, String) {
    let (Some(usage), Some(limits)) = (outcome.usage, outcome.limits) else {
        let why = outcome.limits_off.as_deref().unwrap_or("no cgroup");
        return (None, format!("resources: not measured, limits off ({why})"));
    };
    let mut cause = Vec::new();
    if usage.oom_kills > 0 {
        let peak =
            usage.peak_memory.map(|p| format!(" (peak {})", crate::sandbox::cgroup::bytes(p))).unwrap_or_default();
        cause.push(format!(
            "killed by the OOM killer: memory limit {} reached{peak}; {} process(es) killed. Raise it with \
             `#[isolated_test(memory = \"...\")]`, ISOLATED_TEST_MEMORY or `--memory`",
            crate::sandbox::cgroup::bytes(limits.memory),
            usage.oom_kills
        ));
    }
    if usage.pids_refused > 0 {
        cause.push(format!(
            "the pids limit of {} processes and threads was reached: {} fork/clone call(s) failed with EAGAIN. \
             Raise it with `#[isolated_test(pids = ...)]`, ISOLATED_TEST_PIDS or `--pids`",
            limits.pids, usage.pids_refused
        ));
    }
    let cpu = limits.cpu_millis.map(|c| format!(", cpu limit {} cores", c as f64 / 1000.0)).unwrap_or_default();
    let line = format!(
        "resources: {usage} (limits: memory {}, pids {}{cpu})",
        crate::sandbox::cgroup::bytes(limits.memory),
        limits.pids
    );
    (if cause.is_empty() { None } else { Some(cause.join("\n")) }, line)
}

/// Why a test that passed fails for what it left behind, if it does: the
/// changes of `report` that `allowed` (path patterns) does not cover.
/// `source` names the setting (`forbid_pollution`, or the environment
/// variable).
pub(crate) fn polluted(report: Option<&Report>, allowed: &[&str], source: &str) -> Option<String> {
    match report.map(|r| r.disallowed(allowed)) {
        Some(left) if left.is_clean() => None,
        Some(left) => Some(format!("the test polluted its sandbox ({source}; allowed: {allowed:?}):\n{left}")),
        None => Some(format!("{source} is set but no pollution report arrived")),
    }
}

/// The name of a signal, e.g. `SIGABRT`.
pub(crate) fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSYS => "SIGSYS",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        _ => return format!("signal {sig}"),
    };
    format!("{name} ({sig})")
}

fn describe_wait_status(status: i32) -> String {
    if libc::WIFSIGNALED(status) {
        let core = if libc::WCOREDUMP(status) { ", core dumped" } else { "" };
        format!("killed by {}{core}", signal_name(libc::WTERMSIG(status)))
    } else if libc::WIFEXITED(status) {
        format!("exited with status {}", libc::WEXITSTATUS(status))
    } else {
        format!("ended with wait status {status:#x}")
    }
}

fn errno_text(errno: i32) -> String {
    crate::error::IoCause(std::io::Error::from_raw_os_error(errno)).to_string()
}

fn format_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}

/// What a line on the result channel longer than any message means, if
/// one came: something other than the harness wrote there.
fn overlong_line(log: &ResultLog) -> Option<String> {
    use crate::sandbox::cgroup::bytes;
    let length = log.overlong?;
    Some(format!(
        "something wrote a line of {} ({length} bytes) on the harness's result channel, descriptor 3 of the test \
         process: more than the {} a message of the harness may have (the body writing to a descriptor it did not \
         open?). The line was dropped unread, and with it whatever the harness wrote on it (the test's result)",
        bytes(length),
        bytes(MESSAGE_CAP as u64)
    ))
}

/// What lines on the result channel that were no message mean, if some
/// came: said where no result arrived, since one may have been garbled.
fn stray_lines(log: &ResultLog) -> String {
    let Some(Stray { lines, first }) = &log.stray else { return String::new() };
    format!(
        "\nThe harness's result channel, descriptor 3 of the test process, also carried {lines} line(s) that are no \
         message of the harness, the first starting {first:?}: the body writing to a descriptor it did not open? A \
         result written after them on the same line was lost."
    )
}

/// Judges one run of `test` (libtest name) started with `nonce`.
pub(crate) fn judge(test: &str, nonce: &str, outcome: &Outcome) -> Verdict {
    match without_stray_lines(test, nonce, outcome) {
        // Where no result arrived (and the test was not killed at its
        // deadline), lines that were no message may be why.
        Verdict::Fail(msg) if outcome.timed_out.is_none() && !outcome.log.messages.iter().any(is_result) => {
            Verdict::Fail(msg + &stray_lines(&outcome.log))
        }
        verdict => verdict,
    }
}

/// Whether `message` is one that ends the test.
fn is_result(message: &Message) -> bool {
    matches!(
        message,
        Message::SetupFailed { .. }
            | Message::Panicked { .. }
            | Message::ReturnedErr { .. }
            | Message::TeardownFailed { .. }
            | Message::Passed
    )
}

fn without_stray_lines(test: &str, nonce: &str, outcome: &Outcome) -> Verdict {
    let log = &outcome.log;
    let started = log.messages.contains(&Message::Started);
    let phase = if started { "while the body ran" } else { "during setup" };

    if let Some(t) = &outcome.timed_out {
        let mut msg = format!(
            "timed out after {} {phase}; the whole sandbox was killed (SIGKILL to its PID 1).",
            format_duration(t.after)
        );
        if t.tree.is_empty() {
            msg.push_str("\nNo process tree could be read.");
        } else {
            msg.push_str("\nProcesses running in the sandbox at the deadline:");
            for p in &t.tree {
                let _ = write!(msg, "\n{p}");
            }
        }
        if let Some(overlong) = overlong_line(log) {
            let _ = write!(msg, "\n{overlong}.");
        }
        msg.push_str(TIMEOUT_HINT);
        return Verdict::Fail(msg);
    }

    match log.hello() {
        Some((n, t)) if n != nonce || t != test => {
            return Verdict::Fail(format!(
                "the sandboxed process answered for another run (nonce `{n}`, test `{t}`); expected test `{test}`"
            ));
        }
        _ => {}
    }
    // A result may have been on that line: no verdict from what is left.
    if let Some(overlong) = overlong_line(log) {
        return Verdict::Fail(overlong);
    }

    // What the body attached to its failure closes the message.
    let notes: String = log
        .messages
        .iter()
        .filter_map(|m| match m {
            Message::FailureNote { text } => Some(format!("\n{}", text.trim_end())),
            _ => None,
        })
        .collect();
    for message in &log.messages {
        match message {
            Message::SetupFailed { error } => {
                let mut msg = format!("sandbox setup failed at step `{}`: {error}", error.step);
                if let Some(hint) = super::diagnose::setup_hint(&error.step, error.errno) {
                    msg.push('\n');
                    msg.push_str(hint);
                }
                return Verdict::Fail(msg);
            }
            Message::Panicked { message, location } => {
                let at = location.as_deref().map(|l| format!(" at {l}")).unwrap_or_default();
                return Verdict::BodyPanicked(format!("the test panicked{at}:\n{message}{notes}"));
            }
            Message::ReturnedErr { error } => {
                return Verdict::Fail(format!("the test returned an error: {error}{notes}"));
            }
            Message::TeardownFailed { report } => {
                return Verdict::Fail(format!(
                    "the body passed, but teardown = \"verify\" found busy mounts:\n{report}"
                ));
            }
            Message::Passed => {
                return match log.pid2_status {
                    Some(s) if libc::WIFEXITED(s) && libc::WEXITSTATUS(s) == 0 => Verdict::Pass,
                    Some(s) => Verdict::Fail(format!(
                        "the body passed, but the test process then {} (a destructor or atexit handler failed?)",
                        describe_wait_status(s)
                    )),
                    None => match outcome.exit {
                        Exit::Code(0) => Verdict::Pass,
                        other => {
                            Verdict::Fail(format!("the body passed, but the sandbox ended abnormally ({other:?})"))
                        }
                    },
                };
            }
            Message::Hello { .. }
            | Message::Started
            | Message::Probe { .. }
            | Message::Report { .. }
            | Message::FailureNote { .. }
            | Message::CommandExited { .. }
            | Message::Deferred { .. } => {}
        }
    }

    if let Some(errno) = log.exec_errno {
        return Verdict::Fail(format!("could not execute the test binary inside the sandbox: {}", errno_text(errno)));
    }
    if let Some(errno) = log.keyring_errno {
        return Verdict::Fail(format!(
            "the sandbox's PID 1 could not join a fresh session keyring (keyctl KEYCTL_JOIN_SESSION_KEYRING): {}; \
             the key quota of your user may be exhausted (/proc/sys/kernel/keys/maxkeys)",
            errno_text(errno)
        ));
    }
    if let Some(errno) = log.fork_errno {
        return Verdict::Fail(format!("the sandbox's PID 1 could not fork the test process: {}", errno_text(errno)));
    }
    if let Some(status) = log.pid2_status {
        if libc::WIFSIGNALED(status) {
            return Verdict::Fail(format!("the test process was {} {phase}", describe_wait_status(status)));
        }
        let code = libc::WEXITSTATUS(status);
        if log.hello().is_none() {
            return Verdict::Fail(format!(
                "the re-executed test binary exited with status {code} without running `{test}` \
                 (it was run as `<test binary> {test} --exact --include-ignored`; its stderr is shown below)"
            ));
        }
        return Verdict::Fail(format!(
            "the test process exited with status {code} {phase} without reporting a result \
             (std::process::exit called from the test?)"
        ));
    }
    let why = match outcome.exit {
        Exit::Code(pid1_exit::PARENT_GONE) => "its PID 1 gave up waiting for the id maps".to_owned(),
        Exit::Code(pid1_exit::LOST_CHILD) => "its PID 1 lost track of the test process".to_owned(),
        Exit::Code(c) => format!("its PID 1 exited with status {c}"),
        Exit::Signal(s) => format!("its PID 1 was killed by {} from outside", signal_name(s)),
    };
    Verdict::Fail(format!("the sandbox ended before the test reported anything: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorChain;
    use crate::parent::proctree::ProcInfo;
    use crate::parent::supervise::TimedOut;

    fn outcome(messages: Vec<Message>, pid2_status: Option<i32>, exit: Exit) -> Outcome {
        let mut all = vec![Message::Hello { nonce: "n".into(), test: "t".into() }];
        all.extend(messages);
        Outcome {
            exit,
            log: {
                let mut log = ResultLog::default();
                log.messages = all;
                log.pid2_status = pid2_status;
                log
            },
            timed_out: None,
            elapsed: Duration::ZERO,
            usage: None,
            limits: None,
            limits_off: None,
        }
    }

    const EXIT_0: i32 = 0;
    const EXIT_101: i32 = 101 << 8;
    const SIGABRT_STATUS: i32 = libc::SIGABRT | 0x80;

    #[test]
    fn passes_only_with_passed_and_a_clean_exit() {
        assert_eq!(
            judge("t", "n", &outcome(vec![Message::Started, Message::Passed], Some(EXIT_0), Exit::Code(0))),
            Verdict::Pass
        );
        assert!(matches!(
            judge("t", "n", &outcome(vec![Message::Started, Message::Passed], Some(EXIT_101), Exit::Code(101))),
            Verdict::Fail(_)
        ));
    }

    #[test]
    fn no_result_is_never_a_pass() {
        // Exit 0 with nothing on the channel: e.g. the filter matched no test.
        let mut o = outcome(vec![], Some(EXIT_0), Exit::Code(0));
        o.log.messages.clear();
        let Verdict::Fail(msg) = judge("t", "n", &o) else { panic!("must fail") };
        assert!(msg.contains("without running `t`"), "{msg}");
    }

    #[test]
    fn a_signal_is_named_with_the_phase() {
        let Verdict::Fail(msg) =
            judge("t", "n", &outcome(vec![Message::Started], Some(SIGABRT_STATUS), Exit::Code(134)))
        else {
            panic!()
        };
        assert!(msg.contains("SIGABRT") && msg.contains("core dumped") && msg.contains("while the body ran"), "{msg}");
    }

    #[test]
    fn panics_are_re_raised_with_message_and_location() {
        let o = outcome(
            vec![Message::Started, Message::Panicked { message: "boom".into(), location: Some("a.rs:1:2".into()) }],
            Some(EXIT_101),
            Exit::Code(101),
        );
        assert_eq!(judge("t", "n", &o), Verdict::BodyPanicked("the test panicked at a.rs:1:2:\nboom".into()));
    }

    #[test]
    fn setup_failures_name_the_step_and_chain() {
        let error = ErrorChain {
            step: "pivot_root".into(),
            message: "failed to pivot_root into `/newroot`".into(),
            causes: vec!["EINVAL: Invalid argument (os error 22)".into()],
            errno: Some(libc::EINVAL),
        };
        let Verdict::Fail(msg) =
            judge("t", "n", &outcome(vec![Message::SetupFailed { error }], Some(1 << 8), Exit::Code(1)))
        else {
            panic!()
        };
        assert!(msg.contains("step `pivot_root`") && msg.contains("caused by: EINVAL"), "{msg}");
    }

    #[test]
    fn timeouts_list_the_tree() {
        let mut o = outcome(vec![Message::Started], None, Exit::Signal(libc::SIGKILL));
        o.timed_out = Some(TimedOut {
            after: Duration::from_secs(2),
            tree: vec![ProcInfo {
                host_pid: 99,
                ns_pid: Some(3),
                depth: 1,
                state: Some('S'),
                cmdline: "sleep 1000".into(),
            }],
        });
        let Verdict::Fail(msg) = judge("t", "n", &o) else { panic!() };
        assert!(
            msg.contains("timed out after 2s while the body ran")
                && msg.contains("pid 3 (host pid 99) [S]: sleep 1000"),
            "{msg}"
        );
    }

    #[test]
    fn a_foreign_nonce_is_refused() {
        let mut o = outcome(vec![Message::Started, Message::Passed], Some(EXIT_0), Exit::Code(0));
        o.log.messages[0] = Message::Hello { nonce: "other".into(), test: "t".into() };
        assert!(matches!(judge("t", "n", &o), Verdict::Fail(m) if m.contains("another run")));
    }

    #[test]
    fn failure_notes_close_the_message() {
        let note = Message::FailureNote { text: "network at the failure:\n  node a\n".into() };
        let o = outcome(
            vec![Message::Started, note.clone(), Message::Panicked { message: "boom".into(), location: None }],
            Some(EXIT_101),
            Exit::Code(101),
        );
        assert_eq!(
            judge("t", "n", &o),
            Verdict::BodyPanicked("the test panicked:\nboom\nnetwork at the failure:\n  node a".into())
        );
        let o = outcome(
            vec![Message::Started, note, Message::ReturnedErr { error: "E".into() }],
            Some(EXIT_101),
            Exit::Code(101),
        );
        assert!(
            matches!(judge("t", "n", &o), Verdict::Fail(m) if m.ends_with("error: E\nnetwork at the failure:\n  node a"))
        );
    }

    #[test]
    fn a_line_longer_than_any_message_fails_and_says_what_wrote_it() {
        // Even with a result that came after it on a line of its own.
        let mut o = outcome(vec![Message::Started, Message::Passed], Some(EXIT_0), Exit::Code(0));
        o.log.overlong = Some(300 << 20);
        let Verdict::Fail(msg) = judge("t", "n", &o) else { panic!("must fail") };
        assert!(
            msg.starts_with(
                "something wrote a line of 300.0 MiB (314572800 bytes) on the harness's result channel, \
                 descriptor 3 of the test process: more than the 256.0 MiB"
            ) && msg.contains("a descriptor it did not open"),
            "{msg}"
        );
        // At the deadline, the timeout is the verdict and the line a note.
        o.timed_out = Some(TimedOut { after: Duration::from_secs(2), tree: Vec::new() });
        let Verdict::Fail(msg) = judge("t", "n", &o) else { panic!("must fail") };
        assert!(
            msg.starts_with("timed out after 2s") && msg.contains("\nsomething wrote a line of 300.0 MiB"),
            "{msg}"
        );
    }

    #[test]
    fn lines_that_are_no_message_are_named_where_no_result_came() {
        let stray = Some(crate::sandbox::protocol::Stray { lines: 1, first: "CCCC".into() });
        let mut o = outcome(vec![Message::Started], Some(EXIT_0), Exit::Code(0));
        o.log.stray = stray.clone();
        let Verdict::Fail(msg) = judge("t", "n", &o) else { panic!("must fail") };
        assert!(msg.contains("without reporting a result") && msg.contains("1 line(s) that are no message"), "{msg}");
        assert!(msg.contains("the first starting \"CCCC\""), "{msg}");
        // A result that came is the verdict, whatever else was written.
        let mut o = outcome(vec![Message::Started, Message::Passed], Some(EXIT_0), Exit::Code(0));
        o.log.stray = stray;
        assert_eq!(judge("t", "n", &o), Verdict::Pass);
    }

    #[test]
    fn returned_errors_are_failures() {
        let o = outcome(
            vec![Message::Started, Message::ReturnedErr { error: "Os { code: 2 }".into() }],
            Some(EXIT_101),
            Exit::Code(101),
        );
        assert!(matches!(judge("t", "n", &o), Verdict::Fail(m) if m.contains("returned an error: Os { code: 2 }")));
    }
}
