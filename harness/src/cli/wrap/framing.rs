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
//! When the test's output did not end with a newline, the status line
//! follows it on the same line: the output before it is kept, without a
//! newline, as libtest captures it. The status line is read as
//! `super::reported` reads it ([`super::reported::find_status`]), strictly.

/// Where in the inner libtest's output the filter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Before `running 1 test`.
    Start,
    /// The test's own output.
    Body,
    /// After `test NAME ... RESULT`: libtest's summary.
    Tail,
    /// After `---- NAME stdout ----` in the summary: what libtest adds to
    /// the failure's output (`note: ...`), then the rest of its summary.
    Section,
}

/// Filters the standard output of one test run by the inner libtest.
#[derive(Debug)]
pub(super) struct Framing {
    name: String,
    listed: String,
    /// `---- NAME stdout ----`: libtest's heading of a failure's output.
    heading: String,
    at: At,
    mode: Option<&'static str>,
    /// The last chunk ended inside a line (a long line comes in pieces):
    /// whether that line is kept.
    open_line: Option<bool>,
    /// The last bytes kept were a line of the failure's section, whose
    /// newline is libtest's own (see [`Framing::ends_with_libtests_newline`]).
    section_last: bool,
}

impl Framing {
    /// For the test `name`.
    pub(super) fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            listed: format!("    {name}"),
            heading: format!("---- {name} stdout ----"),
            at: At::Start,
            mode: None,
            open_line: None,
            section_last: false,
        }
    }

    /// The mode the inner status line named (`should panic`), if it named
    /// one: wrap's status line names it too, as libtest's does.
    pub(super) fn mode(&self) -> Option<&'static str> {
        self.mode
    }

    /// Whether the last bytes kept ended with the newline the inner libtest
    /// put after a failure's output in its section (`note: test did not
    /// panic as expected at ...` has none of its own): a captured output
    /// shown in wrap's section, where wrap puts that newline as libtest
    /// does, is without it.
    pub(super) fn ends_with_libtests_newline(&self) -> bool {
        self.section_last
    }

    /// How many bytes of `line` (of standard output, with or without its
    /// newline) are the test's own rather than libtest's framing: all of
    /// them, none, or those before the status line, which libtest joined to
    /// the test's output when that did not end with a newline.
    fn keep(&mut self, line: &[u8]) -> usize {
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        match self.at {
            At::Start if text.is_empty() => 0,
            At::Start if text == b"running 1 test" => {
                self.at = At::Body;
                0
            }
            At::Start => {
                self.at = At::Body;
                line.len()
            }
            At::Body => match super::reported::find_status(text, &self.name, super::reported::strict_status) {
                Some((at, status)) => {
                    self.mode = status.mode;
                    self.at = At::Tail;
                    at
                }
                None => line.len(),
            },
            At::Tail | At::Section => {
                if text == self.heading.as_bytes() {
                    self.at = At::Section;
                    return 0;
                }
                let framing = text.is_empty()
                    || text == b"failures:"
                    || text == b"successes:"
                    || text == self.listed.as_bytes()
                    || text.starts_with(b"test result: ");
                if framing { 0 } else { line.len() }
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
            let (keep, whole) = match self.open_line.take() {
                Some(keep) => (if keep { line.len() } else { 0 }, keep),
                None => {
                    let keep = self.keep(line);
                    (keep, keep == line.len())
                }
            };
            if !line.ends_with(b"\n") {
                self.open_line = Some(whole);
            }
            if keep > 0 {
                kept.extend_from_slice(&line[..keep]);
                self.section_last = self.at == At::Section && line.ends_with(b"\n");
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
    fn a_status_line_joined_to_unended_output_is_cut_off_it() {
        // The test's output had no newline: libtest's line follows it on
        // the same line; the rest of libtest's run is framing as ever.
        let mut framing = Framing::new("t");
        let kept = filtered(
            &mut framing,
            "\nrunning 1 test\nno newline heretest t ... FAILED\n\nfailures:\n\nfailures:\n    t\n\n\
             test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 8 filtered out; finished in 0.00s\n\n",
        );
        assert_eq!(kept, "no newline here");
        assert!(!framing.ends_with_libtests_newline());
        // With a should_panic note: the note's newline is libtest's.
        let mut framing = Framing::new("sp");
        let kept = filtered(
            &mut framing,
            "\nrunning 1 test\nxtest sp - should panic ... FAILED\n\nfailures:\n\n---- sp stdout ----\n\
             note: test did not panic as expected at t.rs:1:1\n\nfailures:\n    sp\n\ntest result: FAILED.\n\n",
        );
        assert_eq!(kept, "xnote: test did not panic as expected at t.rs:1:1\n");
        assert_eq!(framing.mode(), Some("should panic"));
        assert!(framing.ends_with_libtests_newline());
        // Another test's status line inside a line is the test's own.
        let mut framing = Framing::new("t");
        assert_eq!(filtered(&mut framing, "running 1 test\nxtest other ... ok\n"), "xtest other ... ok\n");
    }

    #[test]
    fn output_without_a_banner_is_kept_whole() {
        let mut framing = Framing::new("t");
        assert_eq!(filtered(&mut framing, "error: no such test\n"), "error: no such test\n");
    }
}
