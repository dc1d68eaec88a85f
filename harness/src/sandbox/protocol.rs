//! Messages PID 2 sends to the parent over the result channel, one JSON
//! object per line. PID 1 and the pre-exec code add `#`-prefixed records
//! (see [`crate::sys::pid1::record`]).

use serde::{Deserialize, Serialize};

use crate::error::ErrorChain;

/// One message from the sandboxed test process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Message {
    /// The harness took over in PID 2 for this run and this test.
    Hello {
        /// The per-run nonce the parent passed in the environment.
        nonce: String,
        /// The libtest name the child matched.
        test: String,
    },
    /// A setup step failed; the body never ran.
    SetupFailed {
        /// The step and its error chain.
        error: ErrorChain,
    },
    /// Setup is complete; the body starts now.
    Started,
    /// What the test or command changed in its sandbox (unclassified: the
    /// parent tells added from modified), and the image layers below the
    /// overlays (empty: the host's files).
    Report {
        /// The report (boxed: the largest message by far).
        report: Box<crate::sandbox::pollution::Report>,
        /// Host directories of the image layers, bottom first.
        lowers: Vec<std::path::PathBuf>,
    },
    /// The command `isolated-test run` ran ended with this exit code
    /// (128 + signal when killed).
    CommandExited {
        /// The code.
        code: i32,
        /// The signal that killed it, if one did.
        #[serde(default)]
        signal: Option<i32>,
    },
    /// The test `isolated-test wrap` ran is an `#[isolated_test]`: rather
    /// than nest a sandbox in this one (which the kernel refuses), it asks
    /// to be run outside, where it makes its own (see `crate::pid2::wrapped`).
    Deferred {
        /// The libtest name it answered for.
        test: String,
    },
    /// The CLI's probe (`isolated-test doctor`) completed these setup steps.
    Probe {
        /// Distinct step names that succeeded, in order.
        steps: Vec<String>,
        /// Top-level host directories bound read-only instead of overlaid.
        readonly_dirs: Vec<String>,
        /// The network features `isolated_test::net` uses, each with the
        /// error (cause and fix) if the kernel lacks it.
        #[serde(default)]
        network: Vec<(String, Option<String>)>,
    },
    /// The body returned `()` or `Ok(())`.
    Passed,
    /// Something the body's own structures want shown with its failure
    /// (the state of an `isolated_test::net::Network`); sent before the
    /// failure itself.
    FailureNote {
        /// The text, as shown.
        text: String,
    },
    /// The body passed but `teardown = "verify"` found busy mounts.
    TeardownFailed {
        /// Every busy mount and what holds it.
        report: String,
    },
    /// The body returned `Err(e)`; `error` is `format!("{e:?}")`.
    ReturnedErr {
        /// Debug rendering of the error value.
        error: String,
    },
    /// The body panicked.
    Panicked {
        /// The panic payload, if it was a string.
        message: String,
        /// `file:line:column` of the panic.
        location: Option<String>,
    },
}

/// The longest line the parent keeps from the result channel: 256 MiB.
///
/// The harness's largest message is the pollution report, about 70 bytes
/// of JSON per changed path plus the path: 256 MiB holds well over a
/// million changed paths, where a Debian root has some ten thousand files
/// and a large `node_modules` two hundred thousand. A panic's message (an
/// `assert_eq!` of two large vectors) has the same room. A longer line is
/// no message: it is dropped as it comes, only its length counted
/// ([`ResultLog::overlong`]), so that whatever is written on the channel
/// costs the parent at most this much memory.
pub(crate) const MESSAGE_CAP: usize = 256 << 20;

/// Lines of the result channel that were neither a message nor a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stray {
    /// How many.
    pub(crate) lines: u64,
    /// The start of the first (its first 60 characters).
    pub(crate) first: String,
}

/// What the parent read from the result channel.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ResultLog {
    /// Parsed messages in arrival order.
    pub(crate) messages: Vec<Message>,
    /// PID 2's raw wait status, from PID 1's record.
    pub(crate) pid2_status: Option<i32>,
    /// errno of a failed `execve` of PID 2.
    pub(crate) exec_errno: Option<i32>,
    /// errno of a failed fork of PID 2.
    pub(crate) fork_errno: Option<i32>,
    /// errno of PID 1's failed join of a fresh session keyring.
    pub(crate) keyring_errno: Option<i32>,
    /// The length of the longest line that was longer than
    /// [`MESSAGE_CAP`], dropped unread: something other than the harness
    /// wrote on the channel (the body, on a descriptor it did not open).
    pub(crate) overlong: Option<u64>,
    /// Lines that were neither a message nor a record.
    pub(crate) stray: Option<Stray>,
    /// The bytes of a line not yet ended (at most [`MESSAGE_CAP`]).
    pending: Vec<u8>,
    /// The length so far of a line being dropped for its length.
    dropping: Option<u64>,
}

impl ResultLog {
    /// Parses the whole channel content.
    #[cfg(test)]
    pub(crate) fn parse(bytes: &[u8]) -> Self {
        let mut log = Self::default();
        log.push(bytes);
        log.finish();
        log
    }

    /// Takes in bytes as they arrive: each line is parsed once, when its
    /// newline has come; one longer than [`MESSAGE_CAP`] is dropped as it
    /// comes.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        // Only the new bytes are searched for a line's end: a line that
        // comes in many reads costs its length once, not once per read.
        let mut rest = bytes;
        while let Some(end) = memchr::memchr(b'\n', rest) {
            let (line, after) = rest.split_at(end);
            if self.pending.is_empty() && self.dropping.is_none() && line.len() <= MESSAGE_CAP {
                self.line(line);
            } else {
                self.take(line);
                self.end_line();
            }
            rest = &after[1..];
        }
        self.take(rest);
    }

    /// Parses what is left after the channel's end (a last line without
    /// its newline).
    pub(crate) fn finish(&mut self) {
        self.end_line();
    }

    /// Adds `part` to the line not yet ended, unless that makes it too long.
    fn take(&mut self, part: &[u8]) {
        if let Some(length) = &mut self.dropping {
            *length += part.len() as u64;
        } else if self.pending.len() + part.len() > MESSAGE_CAP {
            self.dropping = Some((self.pending.len() + part.len()) as u64);
            self.pending = Vec::new();
        } else {
            self.pending.extend_from_slice(part);
        }
    }

    /// The line not yet ended has ended: parsed, or counted if it was
    /// dropped.
    fn end_line(&mut self) {
        if let Some(length) = self.dropping.take() {
            self.overlong = Some(self.overlong.map_or(length, |longest| longest.max(length)));
        } else {
            let line = std::mem::take(&mut self.pending);
            self.line(&line);
        }
    }

    fn line(&mut self, bytes: &[u8]) {
        use crate::sys::pid1::record;
        let line = String::from_utf8_lossy(bytes);
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        let number = |prefix: &str| line.strip_prefix(prefix).and_then(|n| n.trim().parse::<i32>().ok());
        if let Some(status) = number(record::PID2_STATUS) {
            self.pid2_status = Some(status);
        } else if let Some(errno) = number(record::EXEC_FAILED) {
            self.exec_errno = Some(errno);
        } else if let Some(errno) = number(record::FORK_FAILED) {
            self.fork_errno = Some(errno);
        } else if let Some(errno) = number(record::KEYRING_FAILED) {
            self.keyring_errno = Some(errno);
        } else {
            match serde_json::from_str::<Message>(line) {
                Ok(message) => self.messages.push(message),
                // Only the harness writes here (the channel is close-on-exec
                // and PID 2 is not dumpable): a line that is neither is a
                // harness bug, a version mismatch between parent and child,
                // or the body writing to a descriptor it did not open.
                Err(error) => {
                    let start: String = line.chars().take(60).collect();
                    tracing::warn!(%error, start, "result channel: neither a message nor a record; ignored");
                    self.stray.get_or_insert(Stray { lines: 0, first: start }).lines += 1;
                }
            }
        }
    }

    /// Whether the pollution report has arrived.
    pub(crate) fn has_report(&self) -> bool {
        self.messages.iter().any(|m| matches!(m, Message::Report { .. }))
    }

    /// The nonce of the `Hello` message, if one arrived.
    pub(crate) fn hello(&self) -> Option<(&str, &str)> {
        self.messages.iter().find_map(|m| match m {
            Message::Hello { nonce, test } => Some((nonce.as_str(), test.as_str())),
            _ => None,
        })
    }
}

/// Serialises one message as a line.
pub(crate) fn encode(message: &Message) -> String {
    let mut line = serde_json::to_string(message).expect("protocol messages always serialise");
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_messages_and_records_in_any_order() {
        let mut bytes = encode(&Message::Hello { nonce: "n".into(), test: "a::b".into() }).into_bytes();
        bytes.extend(encode(&Message::Started).as_bytes());
        bytes.extend(
            encode(&Message::Panicked { message: "boom\nline2".into(), location: Some("f.rs:1:2".into()) }).as_bytes(),
        );
        bytes.extend(b"\n#pid2-status 25856\n");
        bytes.extend(b"not json\n");
        let log = ResultLog::parse(&bytes);
        assert_eq!(log.hello(), Some(("n", "a::b")));
        assert_eq!(log.messages.len(), 3);
        assert_eq!(log.pid2_status, Some(25856));
        assert!(matches!(&log.messages[2], Message::Panicked { message, .. } if message == "boom\nline2"));
    }

    #[test]
    fn lines_cut_anywhere_are_parsed_once_whole() {
        let mut bytes = encode(&Message::Started).into_bytes();
        bytes.extend(b"#exec-failed 2\n");
        bytes.extend(encode(&Message::Hello { nonce: "n".into(), test: "t".into() }).trim_end().as_bytes());
        for cut in 0..bytes.len() {
            let mut log = ResultLog::default();
            log.push(&bytes[..cut]);
            log.push(&bytes[cut..]);
            log.finish();
            assert_eq!(log, ResultLog::parse(&bytes), "cut at {cut}");
            assert_eq!(log.messages.len(), 2, "cut at {cut}");
            assert_eq!(log.exec_errno, Some(2));
        }
    }

    #[test]
    fn a_line_longer_than_the_cap_is_dropped_as_it_comes_and_counted() {
        let mut log = ResultLog::default();
        log.push(&encode(&Message::Started).into_bytes());
        // Something writes on the channel without a newline, in reads of
        // the parent's size, far past the cap; then PID 1's record.
        let read = vec![b'C'; 16 * 1024];
        let reads = MESSAGE_CAP / read.len() + 10;
        for _ in 0..reads {
            log.push(&read);
            assert!(log.pending.len() <= MESSAGE_CAP);
        }
        log.push(encode(&Message::Passed).trim_end().as_bytes());
        log.push(b"\n#pid2-status 0\n");
        log.finish();
        let length = (reads * read.len() + encode(&Message::Passed).trim_end().len()) as u64;
        assert_eq!(log.overlong, Some(length));
        assert_eq!(log.messages, [Message::Started], "the message on the dropped line is lost");
        assert_eq!(log.pid2_status, Some(0), "the lines after it are read");
        assert!(log.pending.is_empty() && log.stray.is_none());
    }

    #[test]
    fn lines_that_are_no_message_are_counted() {
        let log = ResultLog::parse(b"CCCC{\"kind\":\"passed\"}\nnot json\n");
        assert_eq!(log.stray, Some(Stray { lines: 2, first: "CCCC{\"kind\":\"passed\"}".into() }));
        assert!(log.messages.is_empty() && log.overlong.is_none());
    }

    #[test]
    fn parses_negative_and_exec_records() {
        let log = ResultLog::parse(b"\n#exec-failed 2\n\n#fork-failed 11\n");
        assert_eq!(log.exec_errno, Some(2));
        assert_eq!(log.fork_errno, Some(11));
        assert!(log.messages.is_empty());
    }
}
