//! Supervision of one sandbox from the parent: a single `tokio::select!`
//! loop over PID 1's exit (pidfd), the stdout/stderr pipes, the result
//! channel and the deadline.
//!
//! Output is replayed through `print!`/`eprint!` on the test thread, so
//! libtest captures it (shown on failure; its head and tail only, see
//! [`super::capture`]) or streams it (`--nocapture`), unless the caller
//! takes it ([`Output`]). What is held of a line is bounded
//! ([`LINE_PIECE`]).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::process::{Signal, WaitId, WaitIdOptions};
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

use super::capture::Kept;
use super::guard::Pid1Guard;
use super::proctree::{self, ProcInfo};
use super::start::Started;
use crate::sandbox::protocol::ResultLog;

/// How PID 1 ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

/// The deadline passed and the sandbox was killed.
#[derive(Debug, Clone)]
pub(crate) struct TimedOut {
    /// The timeout that applied.
    pub(crate) after: Duration,
    /// What was still running just before the kill.
    pub(crate) tree: Vec<ProcInfo>,
}

/// Everything the parent learnt about one run.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    /// PID 1's end.
    pub(crate) exit: Exit,
    /// The result channel.
    pub(crate) log: ResultLog,
    /// Set when the deadline fired.
    pub(crate) timed_out: Option<TimedOut>,
    /// Wall time from start to PID 1's exit.
    pub(crate) elapsed: Duration,
    /// What the sandbox used, from its cgroup.
    pub(crate) usage: Option<crate::sandbox::cgroup::Usage>,
    /// The limits its cgroup enforced.
    pub(crate) limits: Option<crate::sandbox::cgroup::Effective>,
    /// Why no limits applied, when none did.
    pub(crate) limits_off: Option<String>,
}

/// One of PID 2's output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    /// Its standard output.
    Stdout,
    /// Its standard error.
    Stderr,
}

/// Where the sandbox's output goes.
pub(crate) enum Output<'a> {
    /// Line by line through `print!`/`eprint!`: libtest captures it in a
    /// test (as text: bytes that are no UTF-8 are replaced), and then only
    /// its head and tail are kept ([`Kept`]); elsewhere (`--nocapture`) it
    /// reaches this process's own streams whole.
    Replay,
    /// Standard output and standard error byte for byte as they come,
    /// flushed (a terminal session: a prompt has no newline). Used by the
    /// CLI (`run`).
    #[cfg_attr(not(feature = "cli"), allow(dead_code))]
    Terminal,
    /// Line by line (never a character cut in two), as the bytes they
    /// are, to the caller. Used by the CLI (`wrap`).
    #[cfg_attr(not(feature = "cli"), allow(dead_code))]
    To(&'a mut dyn FnMut(Stream, &[u8])),
    /// Standard output byte for byte as it comes, to the caller (what a
    /// command writes may be no text: `run -- cat image.tar`); standard
    /// error byte for byte to this process's. Used by the CLI (`run`). An
    /// error of the sink ends the relay, as [`pass_on`]'s does.
    #[cfg_attr(not(feature = "cli"), allow(dead_code))]
    Bytes(&'a mut dyn FnMut(&[u8]) -> io::Result<()>),
}

/// Writes `bytes` to this process's standard output and flushes it (a
/// prompt has no newline to wait for).
///
/// # Errors
/// The write failed. With `BrokenPipe` whoever read it is gone (`run --
/// yes | head -1`): the caller then closes the sandbox's end too, so the
/// command inside gets EPIPE (or SIGPIPE) as it would outside.
pub(crate) fn pass_on(bytes: &[u8]) -> io::Result<()> {
    pass_on_to(Stream::Stdout, bytes)
}

/// Writes `bytes` as they are (they may be no text) to this process's own
/// `stream`, flushed.
///
/// # Errors
/// As [`pass_on`].
pub(crate) fn pass_on_to(stream: Stream, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    match stream {
        Stream::Stdout => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(bytes).and_then(|()| stdout.flush())
        }
        Stream::Stderr => {
            let mut stderr = std::io::stderr().lock();
            stderr.write_all(bytes).and_then(|()| stderr.flush())
        }
    }
}

/// After PID 1 exits the kernel kills the rest of the namespace and the
/// pipes reach EOF; this bounds the wait for that.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// The most of one line [`Lines`] holds back: a longer line (a megabyte of
/// base64, a progress bar redrawn with `\r`, output that never ends its
/// line) is passed on in pieces of about this size instead of being held
/// whole, each cut between characters.
pub(crate) const LINE_PIECE: usize = 64 * 1024;

/// Splits a byte stream into whole lines (so that a multi-byte character is
/// never cut in two), passed on as the bytes they are; a line longer than
/// [`LINE_PIECE`] in pieces.
#[derive(Default)]
pub(crate) struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    /// Passes on the whole lines `bytes` completes, and the start of a line
    /// that has grown past [`LINE_PIECE`]; keeps the rest.
    pub(crate) fn push(&mut self, bytes: &[u8], emit: &mut impl FnMut(&[u8])) {
        // Only the new bytes are searched: a long line that comes in many
        // reads costs its length once, not once per read.
        let Some(last_nl) = memchr::memrchr(b'\n', bytes) else {
            self.pending.extend_from_slice(bytes);
            if self.pending.len() >= LINE_PIECE {
                let cut = super::capture::whole_characters(&self.pending);
                emit(&self.pending[..cut]);
                self.pending.drain(..cut);
            }
            return;
        };
        let (complete, rest) = bytes.split_at(last_nl + 1);
        if self.pending.is_empty() {
            emit(complete);
        } else {
            self.pending.extend_from_slice(complete);
            emit(&self.pending);
            self.pending.clear();
        }
        self.pending.extend_from_slice(rest);
    }

    /// Passes on what is left, a last line without its newline.
    pub(crate) fn finish(&mut self, emit: &mut impl FnMut(&[u8])) {
        if !self.pending.is_empty() {
            emit(&self.pending);
            self.pending.clear();
        }
    }
}

struct Piped {
    pipe: Option<pipe::Receiver>,
    lines: Lines,
    buf: Vec<u8>,
}

impl Piped {
    fn new(fd: OwnedFd) -> io::Result<Self> {
        Ok(Self { pipe: Some(pipe::Receiver::from_owned_fd(fd)?), lines: Lines::default(), buf: vec![0; 16 * 1024] })
    }
}

async fn read_some(pipe: &mut Option<pipe::Receiver>, buf: &mut [u8]) -> io::Result<usize> {
    match pipe {
        Some(p) => p.read(buf).await,
        None => std::future::pending().await,
    }
}

fn on_read(stream: &mut Piped, r: io::Result<usize>, emit: &mut impl FnMut(&[u8])) {
    match r {
        Ok(0) | Err(_) => {
            stream.pipe = None;
            stream.lines.finish(emit);
        }
        Ok(n) => {
            let Piped { lines, buf, .. } = stream;
            lines.push(&buf[..n], emit);
        }
    }
}

/// Supervises `started` until PID 1 has exited and its output is drained,
/// killing the whole sandbox at the deadline, or as soon as `stop`
/// completes (a caller that was interrupted; a `stop` that never completes
/// may do work of its own meanwhile). With `report_grace`, the deadline
/// first asks PID 2 for its pollution report (SIGUSR2) and kills when the
/// report has arrived or the grace has passed.
///
/// # Errors
/// Registering the descriptors with tokio, or waiting on the pidfd.
pub(crate) async fn supervise(
    started: Started,
    pid1_guard: &mut Pid1Guard,
    timeout: Duration,
    report_grace: Option<Duration>,
    output: Output<'_>,
    stop: impl std::future::Future<Output = ()>,
) -> io::Result<Outcome> {
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let Started { init, stdout, stderr, result, cgroup, limits_off } = started;
    let raw_stdout = matches!(output, Output::Terminal | Output::Bytes(_));
    tokio::pin!(stop);
    let mut stopped = false;
    let pid = init.pid;
    let pidfd = crate::sys::fd::register_readable(init.pidfd)?;
    let mut out = Piped::new(stdout)?;
    let mut err = Piped::new(stderr)?;
    let mut res = Some(pipe::Receiver::from_owned_fd(result)?);
    let mut res_buf = vec![0u8; 16 * 1024];
    let mut log = ResultLog::default();
    let mut exit: Option<Exit> = None;
    let mut exited_at = start;
    let mut timed_out: Option<TimedOut> = None;
    let mut drain_deadline: Option<tokio::time::Instant> = None;
    let mut kill_at: Option<tokio::time::Instant> = None;
    let kill = |pidfd: &tokio::io::unix::AsyncFd<OwnedFd>| {
        // Through the cgroup first: every process, however it hides; then
        // SIGKILL on PID 1, after which the kernel kills the namespace.
        if let Some(cgroup) = &cgroup {
            cgroup.kill_all();
        }
        let _ = rustix::process::pidfd_send_signal(pidfd.get_ref(), Signal::KILL);
    };
    // cgroup v1 keeps no peak process count: it is sampled.
    let mut sample = tokio::time::interval(Duration::from_millis(20));
    sample.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // libtest holds what it captures whole, and copies it: of what it
    // would hold, only the head and the tail are kept.
    let kept = std::cell::RefCell::new(
        (matches!(output, Output::Replay) && super::capture::libtest_captures()).then(Kept::default),
    );
    let output = std::cell::RefCell::new(output);
    // Through print!/eprint! (which libtest captures, as text) unless the
    // caller takes the bytes.
    let emit = |stream: Stream, bytes: &[u8]| match (&mut *output.borrow_mut(), stream) {
        (Output::To(sink), stream) => sink(stream, bytes),
        // Captured, both streams go to the one buffer libtest shows, in the
        // order they came.
        (_, stream) => match (&mut *kept.borrow_mut(), stream) {
            (Some(kept), _) => kept.push(bytes, &mut print),
            (None, Stream::Stdout) => print(bytes),
            (None, Stream::Stderr) => eprint!("{}", String::from_utf8_lossy(bytes)),
        },
    };
    let mut print_out = |bytes: &[u8]| emit(Stream::Stdout, bytes);
    let mut print_err = |bytes: &[u8]| emit(Stream::Stderr, bytes);
    // Standard output as it comes (a prompt has no newline; a command's
    // output may be no text), to the caller or straight to ours.
    let raw = |bytes: &[u8]| match &mut *output.borrow_mut() {
        Output::Bytes(sink) => sink(bytes),
        _ => pass_on(bytes),
    };

    loop {
        if exit.is_some() && out.pipe.is_none() && err.pipe.is_none() && res.is_none() {
            break;
        }
        tokio::select! {
            r = read_some(&mut out.pipe, &mut out.buf) => match r {
                Ok(n @ 1..) if raw_stdout => match raw(&out.buf[..n]) {
                    // The reader of our standard output is gone: the
                    // sandbox's end of the pipe closes as well. (Another
                    // error loses what was being written, nothing more.)
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                        tracing::debug!(pid, %e, "standard output cannot be passed on; closing the command's");
                        out.pipe = None;
                    }
                    _ => {}
                },
                r => on_read(&mut out, r, &mut print_out),
            },
            r = read_some(&mut err.pipe, &mut err.buf) => match r {
                // Byte for byte too, as it comes: a prompt on standard error
                // (`read -p`) has no newline, and what comes may be no text.
                Ok(n @ 1..) if raw_stdout => {
                    let _ = pass_on_to(Stream::Stderr, &err.buf[..n]);
                }
                r => on_read(&mut err, r, &mut print_err),
            },
            r = read_some(&mut res, &mut res_buf) => match r {
                Ok(0) | Err(_) => res = None,
                Ok(n) => {
                    log.push(&res_buf[..n]);
                    if kill_at.is_some() && log.has_report() {
                        kill(&pidfd);
                        kill_at = None;
                    }
                }
            },
            guard = pidfd.readable(), if exit.is_none() => {
                let mut guard = guard?;
                match rustix::process::waitid(WaitId::PidFd(pidfd.get_ref().as_fd()), WaitIdOptions::EXITED | WaitIdOptions::NOHANG) {
                    Ok(Some(status)) => {
                        pid1_guard.disarm();
                        exited_at = Instant::now();
                        exit = Some(match (status.exit_status(), status.terminating_signal()) {
                            (_, Some(sig)) => Exit::Signal(sig),
                            (Some(code), None) => Exit::Code(code),
                            (None, None) => Exit::Code(-1),
                        });
                        drain_deadline = Some(tokio::time::Instant::now() + DRAIN_GRACE);
                    }
                    Ok(None) => guard.clear_ready(),
                    Err(e) => return Err(e.into()),
                }
            }
            () = tokio::time::sleep_until(deadline), if exit.is_none() && timed_out.is_none() => {
                tracing::debug!(pid, ?timeout, "deadline reached; killing the sandbox");
                // Frozen, the tree cannot change while it is read (proc(5):
                // `children` is reliable only for stopped or frozen tasks).
                let frozen = cgroup.as_ref().is_some_and(|c| c.freeze());
                let tree = proctree::capture(pid);
                if frozen && report_grace.is_some() {
                    if let Some(cgroup) = &cgroup {
                        cgroup.thaw();
                    }
                }
                let pid2 = tree.iter().find(|p| p.ns_pid == Some(2)).map(|p| p.host_pid);
                match (report_grace, pid2.and_then(rustix::process::Pid::from_raw)) {
                    (Some(grace), Some(pid2)) => {
                        let _ = rustix::process::kill_process(pid2, Signal::USR2);
                        kill_at = Some(tokio::time::Instant::now() + grace);
                    }
                    _ => kill(&pidfd),
                }
                timed_out = Some(TimedOut { after: timeout, tree });
            }
            () = &mut stop, if exit.is_none() && !stopped => {
                tracing::debug!(pid, "stopped by the caller; killing the sandbox");
                stopped = true;
                kill(&pidfd);
            }
            () = sleep_until_opt(kill_at), if exit.is_none() => {
                kill(&pidfd);
                kill_at = None;
            }
            _ = sample.tick(), if cgroup.is_some() && exit.is_none() => {
                if let Some(cgroup) = &cgroup {
                    cgroup.sample();
                }
            }
            () = sleep_until_opt(drain_deadline) => {
                tracing::warn!(pid, "output pipes still open {DRAIN_GRACE:?} after the sandbox exited; giving up on them");
                break;
            }
        }
    }
    out.lines.finish(&mut print_out);
    err.lines.finish(&mut print_err);
    if let Some(kept) = kept.borrow_mut().as_mut() {
        kept.finish(&mut print);
    }
    let usage = cgroup.as_ref().map(|c| c.usage());
    let limits = cgroup.as_ref().map(|c| c.limits);
    // Dropping the cgroup kills anything left and removes it.
    drop(cgroup);
    log.finish();
    Ok(Outcome {
        exit: exit.unwrap_or(Exit::Code(-1)),
        log,
        timed_out,
        elapsed: exited_at - start,
        usage,
        limits,
        limits_off,
    })
}

/// Writes `bytes` through `print!`, as text (libtest captures it).
fn print(bytes: &[u8]) {
    print!("{}", String::from_utf8_lossy(bytes));
}

async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_never_split_a_character_and_flush_the_tail() {
        let mut got = Vec::new();
        let mut emit = |s: &[u8]| got.push(String::from_utf8(s.to_vec()).unwrap());
        let mut lines = Lines::default();
        let text = "héllo\nwörld";
        let bytes = text.as_bytes();
        lines.push(&bytes[..2], &mut emit); // cuts 'é' in half
        lines.push(&bytes[2..], &mut emit);
        lines.finish(&mut emit);
        assert_eq!(got, vec!["héllo\n".to_owned(), "wörld".to_owned()]);
    }

    #[test]
    fn a_line_in_many_reads_and_many_lines_in_one_read() {
        let mut got = Vec::new();
        let mut emit = |s: &[u8]| got.push(String::from_utf8(s.to_vec()).unwrap());
        let mut lines = Lines::default();
        for _ in 0..1000 {
            lines.push(b"xx", &mut emit);
        }
        lines.push(b"\na\nb\nc", &mut emit);
        lines.push(b"", &mut emit);
        lines.push(b"d\n", &mut emit);
        lines.finish(&mut emit);
        assert_eq!(got, [format!("{}\na\nb\n", "x".repeat(2000)), "cd\n".to_owned()]);
    }

    #[test]
    fn a_line_longer_than_a_piece_is_passed_on_in_pieces_between_characters() {
        let mut pieces: Vec<Vec<u8>> = Vec::new();
        let mut emit = |s: &[u8]| pieces.push(s.to_vec());
        let mut lines = Lines::default();
        // 'é' is two bytes and the reads are of an odd size: pieces would
        // end in the middle of one.
        let line = format!("{}\n", "é".repeat(5 * LINE_PIECE));
        for read in line.as_bytes().chunks(16 * 1024 + 1) {
            lines.push(read, &mut emit);
            assert!(lines.pending.len() < LINE_PIECE, "held {} bytes", lines.pending.len());
        }
        lines.finish(&mut emit);
        assert!(pieces.len() > 5, "{} pieces", pieces.len());
        assert!(pieces.iter().all(|p| std::str::from_utf8(p).is_ok()), "a piece cut a character in two");
        assert_eq!(pieces.concat(), line.as_bytes(), "nothing lost, nothing added");
    }
}
