//! libtest's own lines around one test's output, left out of what wrap
//! shows as that test's output.
//!
//! In its sandbox a test runs as `BINARY --exact NAME --nocapture`, so the
//! inner libtest prints `running 1 test` first, then the test's output, then
//! `test NAME ... ok` (or `FAILED`), an empty `failures:` list and its
//! `test result:` line. wrap prints its own status line and summary, as
//! libtest does for a whole run; showing the inner ones too under each
//! failure would say everything twice. Only exact framing lines of the
//! test's standard output are dropped, by their position; the verdict
//! never depends on them (it is the exit status).

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

/// Filters the standard output of one test run by the inner libtest.
#[derive(Debug)]
pub(super) struct Framing {
    status_prefix: String,
    listed: String,
    at: At,
}

impl Framing {
    /// For the test `name`.
    pub(super) fn new(name: &str) -> Self {
        Self { status_prefix: format!("test {name} ... "), listed: format!("    {name}"), at: At::Start }
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
            At::Body => match text.strip_prefix(&self.status_prefix) {
                Some("ok" | "FAILED" | "ignored") => {
                    self.at = At::Tail;
                    false
                }
                Some(rest) if rest.starts_with("ignored, ") => {
                    self.at = At::Tail;
                    false
                }
                _ => true,
            },
            At::Tail => {
                let framing = text.is_empty()
                    || text == "failures:"
                    || text == "successes:"
                    || text == self.listed
                    || text.starts_with("test result: ");
                !framing
            }
        }
    }

    /// `chunk` (whole lines, maybe ending without a newline) without the
    /// framing lines.
    pub(super) fn filter(&mut self, chunk: &str) -> String {
        chunk.split_inclusive('\n').filter(|line| self.keep(line)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_tests_own_output_is_what_is_left() {
        let inner = "\nrunning 1 test\nprinted by fails\n\nfailures:\ninside the output\n\
                     test tests::fails ... FAILED\n\nfailures:\n\nfailures:\n    tests::fails\n\n\
                     test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 3 filtered out; \
                     finished in 0.00s\n\n";
        let mut framing = Framing::new("tests::fails");
        // Lines come in chunks of any number of whole lines.
        let (a, b) = inner.split_at(inner.find("inside").unwrap());
        let kept = framing.filter(a) + &framing.filter(b);
        assert_eq!(kept, "printed by fails\n\nfailures:\ninside the output\n");
    }

    #[test]
    fn a_passing_test_leaves_nothing_and_late_output_is_kept() {
        let mut framing = Framing::new("t");
        let kept = framing.filter("\nrunning 1 test\ntest t ... ok\n\ntest result: ok. 1 passed; 0 failed\n\n");
        assert_eq!(kept, "");
        assert_eq!(framing.filter("a daemon's line\n"), "a daemon's line\n");
        // Another test's status line is the test's own output.
        let mut framing = Framing::new("t");
        assert_eq!(framing.filter("running 1 test\ntest other ... ok\n"), "test other ... ok\n");
    }

    #[test]
    fn output_without_a_banner_is_kept_whole() {
        let mut framing = Framing::new("t");
        assert_eq!(framing.filter("error: no such test\n"), "error: no such test\n");
    }
}
