//! libtest's own lines around one test's output, left out of what wrap
//! shows as that test's output.
//!
//! In its sandbox a test runs as `BINARY --exact NAME --nocapture`, so the
//! inner libtest prints `running 1 test` first, then the test's output, then
//! `test NAME ... ok` (or `FAILED`; `test NAME - should panic ... ok` for a
//! `#[should_panic]` test), a `failures:` list and its `test result:` line.
//! wrap prints its own status line and summary, as libtest does for a
//! whole run; showing the inner ones too under each failure would say
//! everything twice. Only exact framing lines of the test's standard output
//! are dropped, by their position; the verdict does not depend on this
//! filter (it is the exit status, and for a status of 0 what
//! `super::reported` reads of the same lines). What libtest adds to a failure's output after the
//! status line (`note: test did not panic as expected at ...`) is kept, as
//! libtest shows it under the test's name; the mode in the status line
//! (`should panic`) is kept for wrap's own status line ([`Framing::mode`]).

/// Where in the inner libtest's output the filter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Before `running 1 test`.
    Start,
    /// The test's own output.
    Body,
    /// After `test NAME ... RESULT`: libtest's summary.
    Tail,
}

/// The modes libtest names in a status line, `test NAME - MODE ... ok`
/// (`TestDesc::test_mode`; the two `compile` ones are doc tests', which wrap
/// runs whole, but a name is a name).
const MODES: &[&str] = &["should panic", "compile fail", "compile"];

/// Filters the standard output of one test run by the inner libtest.
#[derive(Debug)]
pub(super) struct Framing {
    /// `test NAME`: a status line, before its mode and result.
    status_start: String,
    listed: String,
    /// `---- NAME stdout ----`: libtest's heading of a failure's output.
    heading: String,
    at: At,
    mode: Option<&'static str>,
    /// The last chunk ended inside a line (a long line comes in pieces):
    /// whether that line is kept.
    open_line: Option<bool>,
}

impl Framing {
    /// For the test `name`.
    pub(super) fn new(name: &str) -> Self {
        Self {
            status_start: format!("test {name}"),
            listed: format!("    {name}"),
            heading: format!("---- {name} stdout ----"),
            at: At::Start,
            mode: None,
            open_line: None,
        }
    }

    /// The mode the inner status line named (`should panic`), if it named
    /// one: wrap's status line names it too, as libtest's does.
    pub(super) fn mode(&self) -> Option<&'static str> {
        self.mode
    }

    /// Whether `text` is the test's status line, `test NAME ... RESULT` or
    /// `test NAME - MODE ... RESULT`; its mode is then remembered.
    fn status_line(&mut self, text: &str) -> bool {
        let Some(rest) = text.strip_prefix(&self.status_start) else { return false };
        let (mode, result) = match rest.strip_prefix(" ... ") {
            Some(result) => (None, result),
            None => {
                let Some(rest) = rest.strip_prefix(" - ") else { return false };
                let found =
                    MODES.iter().find_map(|mode| Some((*mode, rest.strip_prefix(mode)?.strip_prefix(" ... ")?)));
                let Some((mode, result)) = found else { return false };
                (Some(mode), result)
            }
        };
        let known = matches!(result, "ok" | "FAILED" | "ignored") || result.starts_with("ignored, ");
        if known {
            self.mode = mode;
        }
        known
    }

    /// Whether `line` (of standard output, with or without its newline) is
    /// the test's own rather than libtest's framing.
    pub(super) fn keep(&mut self, line: &str) -> bool {
        let text = line.trim_end_matches(['\n', '\r']);
        match self.at {
            At::Start if text.is_empty() => false,
            At::Start if text == "running 1 test" => {
                self.at = At::Body;
                false
            }
            At::Start => {
                self.at = At::Body;
                true
            }
            At::Body => {
                let status = self.status_line(text);
                if status {
                    self.at = At::Tail;
                }
                !status
            }
            At::Tail => {
                let framing = text.is_empty()
                    || text == "failures:"
                    || text == "successes:"
                    || text == self.listed
                    || text == self.heading
                    || text.starts_with("test result: ");
                !framing
            }
        }
    }

    /// `chunk` (whole lines, maybe ending without a newline: a long line
    /// comes in pieces) without the framing lines, as the bytes they are (a
    /// test's output may be no text; libtest's own lines are). The rest of
    /// a line goes where its start went.
    pub(super) fn filter(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut kept = Vec::with_capacity(chunk.len());
        let mut rest = chunk;
        while !rest.is_empty() {
            let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
            let (line, after) = rest.split_at(end);
            rest = after;
            let keep = match self.open_line.take() {
                Some(keep) => keep,
                None => self.keep(&String::from_utf8_lossy(line)),
            };
            if !line.ends_with(b"\n") {
                self.open_line = Some(keep);
            }
            if keep {
                kept.extend_from_slice(line);
            }
        }
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What [`Framing::filter`] keeps of `text`, as text.
    fn filtered(framing: &mut Framing, text: &str) -> String {
        String::from_utf8(framing.filter(text.as_bytes())).unwrap()
    }

    #[test]
    fn bytes_that_are_no_text_are_kept_as_they_are() {
        let mut framing = Framing::new("t");
        let kept = framing.filter(b"running 1 test\n\xff\xfe raw\ntest t ... ok\n");
        assert_eq!(kept, b"\xff\xfe raw\n");
    }

    #[test]
    fn a_failing_tests_own_output_is_what_is_left() {
        let inner = "\nrunning 1 test\nprinted by fails\n\nfailures:\ninside the output\n\
                     test tests::fails ... FAILED\n\nfailures:\n\nfailures:\n    tests::fails\n\n\
                     test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 3 filtered out; \
                     finished in 0.00s\n\n";
        let mut framing = Framing::new("tests::fails");
        // Lines come in chunks of any number of whole lines.
        let (a, b) = inner.split_at(inner.find("inside").unwrap());
        let kept = filtered(&mut framing, a) + &filtered(&mut framing, b);
        assert_eq!(kept, "printed by fails\n\nfailures:\ninside the output\n");
    }

    #[test]
    fn a_passing_test_leaves_nothing_and_late_output_is_kept() {
        let mut framing = Framing::new("t");
        let kept = filtered(&mut framing, "\nrunning 1 test\ntest t ... ok\n\ntest result: ok. 1 passed; 0 failed\n\n");
        assert_eq!(kept, "");
        assert_eq!(filtered(&mut framing, "a daemon's line\n"), "a daemon's line\n");
        // Another test's status line is the test's own output.
        let mut framing = Framing::new("t");
        assert_eq!(filtered(&mut framing, "running 1 test\ntest other ... ok\n"), "test other ... ok\n");
    }

    #[test]
    fn a_should_panic_tests_status_line_is_framing_and_names_its_mode() {
        // Passing: nothing of libtest's is left, and the mode is known.
        let mut framing = Framing::new("m::sp");
        let kept = filtered(
            &mut framing,
            "\nrunning 1 test\nprinted by sp\ntest m::sp - should panic ... ok\n\n\
             test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 3 filtered out; finished in 0.00s\n\n",
        );
        assert_eq!(kept, "printed by sp\n");
        assert_eq!(framing.mode(), Some("should panic"));
        // Failing (it did not panic): libtest's note is the failure's
        // output, as libtest shows it; its heading and lists are not.
        let mut framing = Framing::new("m::sp");
        let kept = filtered(
            &mut framing,
            "\nrunning 1 test\nprinted by sp\ntest m::sp - should panic ... FAILED\n\nfailures:\n\n\
             ---- m::sp stdout ----\nnote: test did not panic as expected at tests/t.rs:6:4\n\nfailures:\n    \
             m::sp\n\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 3 filtered out; \
             finished in 0.00s\n\n",
        );
        assert_eq!(kept, "printed by sp\nnote: test did not panic as expected at tests/t.rs:6:4\n");
        assert_eq!(framing.mode(), Some("should panic"));
        // A plain test names none; an unknown mode is no status line.
        let mut framing = Framing::new("t");
        assert_eq!(filtered(&mut framing, "running 1 test\ntest t ... ok\n"), "");
        assert_eq!(framing.mode(), None);
        let mut framing = Framing::new("t");
        assert_eq!(filtered(&mut framing, "running 1 test\ntest t - flaky ... ok\n"), "test t - flaky ... ok\n");
        assert_eq!(framing.mode(), None);
    }

    #[test]
    fn a_line_in_pieces_is_kept_or_dropped_whole() {
        // The rest of the test's line is its own, however it reads.
        let mut framing = Framing::new("t");
        let kept = filtered(&mut framing, "running 1 test\nsome output, then ")
            + &filtered(&mut framing, "test t ... ok\n")
            + &filtered(&mut framing, "test t ... ok\n");
        assert_eq!(kept, "some output, then test t ... ok\n");
        // The rest of a framing line is framing.
        let kept = filtered(&mut framing, "test result: ok. 1 passed") + &filtered(&mut framing, "; 0 failed\n");
        assert_eq!(kept, "");
    }

    #[test]
    fn output_without_a_banner_is_kept_whole() {
        let mut framing = Framing::new("t");
        assert_eq!(filtered(&mut framing, "error: no such test\n"), "error: no such test\n");
    }
}
