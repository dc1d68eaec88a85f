//! Whether libtest reported a test as passed, read from the standard
//! output of the test binary that ran it (`BINARY --exact NAME ...`).
//!
//! A test binary exits with status 0 when libtest's run passed, and also
//! when the test itself ends the process with `std::process::exit(0)`
//! before libtest could say anything of it: the status alone cannot tell a
//! pass from a test that never finished. libtest's lines can. Run for one
//! test, the pretty layout prints its banner, the test's status line and
//! its summary, in that order:
//!
//! ```text
//! running 1 test
//! test NAME ... ok                      (`test NAME - should panic ... ok`)
//!
//! test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 74 filtered out; finished in 0.00s
//! ```
//!
//! On more than one test thread (which wrap and `pair` ask for) the status
//! line comes after the test's own output, whole; on one (nextest's call
//! on a one-CPU sandbox) `test NAME ... ` comes before it and the result
//! after it. The terse layout (`-q`, `--format terse`) has no name, only
//! a mark (`.`) on the line before the summary. A test passed when its
//! status line (terse: the mark) came after the banner and the summary
//! followed, saying that one test passed (or was measured: `--bench`).
//! A summary the test prints itself does not count unless it comes after
//! the status line; a test that prints libtest's status line too, or on
//! one test thread the summary alone, is not told apart (wrap contains
//! what a test does to the host, not a test written to fool it).
//!
//! Several runs one after the other on one stream (`pair`'s A then B) are
//! told apart by their banners: a new banner ends the run before it (so
//! there, a test that prints libtest's banner itself ends its own run).

/// libtest's output layout (`--format`), as far as a result is read from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::__cli) enum Layout {
    /// `pretty`, libtest's default: a status line per test.
    Pretty,
    /// `terse` (`-q`): a mark per test.
    Terse,
}

/// The layout `args` (libtest's) ask for, as libtest decides it: `--format`,
/// else `-q`/`--quiet`, else pretty.
///
/// # Errors
/// A format whose output is not read here (`json`, `junit`): a result could
/// not be told from it.
pub(in crate::__cli) fn layout_of(args: &[String]) -> Result<Layout, String> {
    let mut format = None;
    let mut quiet = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-q" | "--quiet" => quiet = true,
            "--format" => format = args.next().cloned(),
            other => {
                if let Some(value) = other.strip_prefix("--format=") {
                    format = Some(value.to_owned());
                }
            }
        }
    }
    match format.as_deref() {
        None if quiet => Ok(Layout::Terse),
        None | Some("pretty") => Ok(Layout::Pretty),
        Some("terse") => Ok(Layout::Terse),
        Some(other) => Err(format!(
            "`--format {other}` is not supported (pretty and terse are): wrap reads a test's result from \
             libtest's output; run the binary without wrap for machine-readable output"
        )),
    }
}

/// One run of libtest, for one test.
#[derive(Debug)]
struct Run {
    name: String,
    /// `running N tests`: how many libtest said it runs.
    banner: Option<u64>,
    /// The test's status line, once it came after the banner (pretty), or
    /// the mark's line (terse).
    status: Option<String>,
    /// libtest's summary, once it came after the status line.
    summary: Option<String>,
}

/// libtest's reports of one or more runs, each of one test, read line by
/// line from their standard output.
#[derive(Debug)]
pub(in crate::__cli) struct Reports {
    layout: Layout,
    runs: Vec<Run>,
    /// The run the lines are of now.
    current: usize,
    /// The last line, for the terse mark before the summary.
    previous: String,
}

impl Reports {
    /// For runs of the tests `names`, in that order.
    pub(in crate::__cli) fn new<'a>(names: impl IntoIterator<Item = &'a str>, layout: Layout) -> Self {
        let runs =
            names.into_iter().map(|name| Run { name: name.to_owned(), banner: None, status: None, summary: None });
        Self { layout, runs: runs.collect(), current: 0, previous: String::new() }
    }

    /// Reads `chunk`: whole lines of standard output, the last one maybe
    /// without its newline (the end of the stream).
    pub(in crate::__cli) fn feed(&mut self, chunk: &[u8]) {
        for line in chunk.split_inclusive(|b| *b == b'\n') {
            let line = String::from_utf8_lossy(line);
            let text = line.trim_end_matches(['\n', '\r']);
            self.line(text);
            text.clone_into(&mut self.previous);
        }
    }

    fn line(&mut self, text: &str) {
        let layout = self.layout;
        if let Some(count) = banner(text) {
            let Some(run) = self.runs.get_mut(self.current) else { return };
            if run.banner.is_none() {
                run.banner = Some(count);
                return;
            }
            // The next run's libtest, if another is to come: this one said
            // all it would. Of the last run, it is the test's own line.
            if let Some(next) = self.runs.get_mut(self.current + 1) {
                next.banner = Some(count);
                self.current += 1;
                return;
            }
        }
        let Some(run) = self.runs.get_mut(self.current) else { return };
        if run.banner.is_none() {
            return;
        }
        if text.starts_with("test result: ") {
            let counts = match layout {
                Layout::Pretty => run.status.is_some(),
                Layout::Terse => self.previous.ends_with('.'),
            };
            if counts || run.banner == Some(0) {
                run.summary = Some(text.to_owned());
                self.current += 1;
            }
            return;
        }
        if layout == Layout::Pretty && run.status.is_none() && is_status_line(text, &run.name) {
            run.status = Some(text.to_owned());
        }
    }

    /// Why the `index`th run (of a test binary that exited with status 0)
    /// is no pass, if it is not: libtest did not report its test passed.
    pub(in crate::__cli) fn not_passed(&self, index: usize) -> Option<String> {
        let run = self.runs.get(index)?;
        let name = &run.name;
        let Some(summary) = &run.summary else {
            return Some(format!(
                "the test process exited with status 0 before libtest reported a result for `{name}` \
                 (std::process::exit called from the test?)"
            ));
        };
        if summary
            .strip_prefix("test result: ok. ")
            .is_some_and(|counts| count(counts, "passed") + count(counts, "measured") == 1)
        {
            return None;
        }
        let said = match &run.status {
            _ if run.banner == Some(0) => "it ran no test of that exact name (`running 0 tests`)".to_owned(),
            Some(status) => format!("it said `{status}`"),
            None => "it said no status line".to_owned(),
        };
        Some(format!("libtest did not report `{name}` passed: {said}, then `{summary}`"))
    }
}

/// `running N tests` (or `running 1 test`): N.
fn banner(text: &str) -> Option<u64> {
    let rest = text.strip_prefix("running ")?;
    let number = rest.strip_suffix(" tests").or_else(|| rest.strip_suffix(" test"))?;
    number.parse().ok()
}

/// Whether `text` is (or, on one test thread, starts) the status line of
/// the test `name`: `test NAME ... RESULT` or `test NAME - MODE ... RESULT`,
/// also after output of the test's that did not end with a newline.
fn is_status_line(text: &str, name: &str) -> bool {
    let loose = |rest: &str| rest.starts_with(" ... ") || rest.strip_prefix(" - ").is_some_and(|m| m.contains(" ... "));
    find_status(text.as_bytes(), name, |rest| loose(rest).then_some(())).is_some()
}

/// The modes libtest names in a status line, `test NAME - MODE ... ok`
/// (`TestDesc::test_mode`; the two `compile` ones are doc tests', which wrap
/// runs whole, but a name is a name).
const MODES: &[&str] = &["should panic", "compile fail", "compile"];

/// libtest's status line of one test, as far as it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Status<'a> {
    /// The mode it names (`should panic`), if any.
    pub(super) mode: Option<&'static str>,
    /// `ok`, `FAILED`, `ignored` or `ignored, REASON`.
    pub(super) result: &'a str,
}

/// What follows `test NAME` in a status line (without its newline), read
/// strictly: ` ... RESULT` or ` - MODE ... RESULT`, with a mode and a
/// result libtest prints.
pub(super) fn strict_status(rest: &str) -> Option<Status<'_>> {
    let (mode, result) = match rest.strip_prefix(" ... ") {
        Some(result) => (None, result),
        None => {
            let rest = rest.strip_prefix(" - ")?;
            MODES.iter().find_map(|mode| Some((Some(*mode), rest.strip_prefix(mode)?.strip_prefix(" ... ")?)))?
        }
    };
    let known = matches!(result, "ok" | "FAILED" | "ignored") || result.starts_with("ignored, ");
    known.then_some(Status { mode, result })
}

/// Where in `line` (one line, without its newline) the status line of the
/// test `name` starts, and what `read` makes of what follows `test NAME`
/// there. A status line starts a line, or follows the test's own output
/// when that did not end with a newline: libtest's line is then joined to
/// it. The first place where `read` accepts what follows counts.
pub(super) fn find_status<'a, T>(
    line: &'a [u8],
    name: &str,
    read: impl Fn(&'a str) -> Option<T>,
) -> Option<(usize, T)> {
    let start = format!("test {name}");
    let finder = memchr::memmem::Finder::new(start.as_bytes());
    let mut from = 0;
    while let Some(found) = finder.find(&line[from..]) {
        let at = from + found;
        if let Ok(rest) = std::str::from_utf8(&line[at + start.len()..]) {
            if let Some(read) = read(rest) {
                return Some((at, read));
            }
        }
        from = at + 1;
    }
    None
}

/// The number before `word` in a summary's counts (`1 passed; 0 failed;
/// ...`), 0 if it is not there.
fn count(counts: &str, word: &str) -> u64 {
    counts.split("; ").find_map(|part| part.strip_suffix(word)?.trim_end().parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    /// What `Reports` says of one run of `name` that printed `text`.
    fn said(name: &str, layout: Layout, text: &str) -> Option<String> {
        let mut reports = Reports::new([name], layout);
        // Whole lines at a time, as they come.
        for chunk in text.split_inclusive('\n') {
            reports.feed(chunk.as_bytes());
        }
        reports.not_passed(0)
    }

    const SUMMARY: &str =
        "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 74 filtered out; finished in 0.00s";

    #[test]
    fn a_pass_is_the_status_line_then_the_summary() {
        for text in [
            // Two test threads: the status line after the test's output.
            format!("\nrunning 1 test\nprinted\ntest m::t ... ok\n\n{SUMMARY}\n\n"),
            // One: `test NAME ... ` before it, the result after.
            format!("\nrunning 1 test\ntest m::t ... printed\nok\n\n{SUMMARY}\n\n"),
            format!("\nrunning 1 test\ntest m::t - should panic ... ok\n\n{SUMMARY}\n\n"),
            // Captured, with --show-output.
            format!(
                "\nrunning 1 test\ntest m::t ... ok\n\nsuccesses:\n\n---- m::t stdout ----\nx\n\n\nsuccesses:\n    \
                 m::t\n\n{SUMMARY}\n\n"
            ),
            "\nrunning 1 test\ntest m::t ... bench:          12 ns/iter (+/- 1)\n\ntest result: ok. 0 passed; 0 \
             failed; 0 ignored; 1 measured; 3 filtered out; finished in 0.10s\n\n"
                .to_owned(),
        ] {
            assert_eq!(said("m::t", Layout::Pretty, &text), None, "{text}");
        }
        // The last line may come without its newline.
        assert_eq!(said("t", Layout::Pretty, &format!("running 1 test\ntest t ... ok\n\n{SUMMARY}")), None);
        // Output without a newline: libtest's status line joins it.
        assert_eq!(said("t", Layout::Pretty, &format!("running 1 test\nno newlinetest t ... ok\n\n{SUMMARY}")), None);
        // A test that prints libtest's banner itself.
        assert_eq!(
            said("t", Layout::Pretty, &format!("running 1 test\nrunning 1 test\ntest t ... ok\n\n{SUMMARY}")),
            None
        );
    }

    #[test]
    fn an_exit_before_the_result_is_no_pass() {
        let unreported = "the test process exited with status 0 before libtest reported a result for `m::t` \
                          (std::process::exit called from the test?)";
        for text in [
            "\nrunning 1 test\nabout to exit\n",
            // One test thread: the status line had begun.
            "\nrunning 1 test\ntest m::t ... about to exit\n",
            "\nrunning 1 test\ntest m::t ... ",
            "",
            // The test's own summary, before libtest's status line.
            &format!("\nrunning 1 test\n\n{SUMMARY}\n\n"),
            // Another test's status line is the test's own output.
            &format!("\nrunning 1 test\ntest m::other ... ok\n\n{SUMMARY}\n\n"),
            // No banner: no libtest run at all.
            &format!("test m::t ... ok\n\n{SUMMARY}\n"),
        ] {
            assert_eq!(said("m::t", Layout::Pretty, text).as_deref(), Some(unreported), "{text:?}");
        }
    }

    #[test]
    fn a_test_libtest_did_not_run_is_no_pass() {
        let text = "\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 75 filtered out; \
                    finished in 0.00s\n\n";
        for layout in [Layout::Pretty, Layout::Terse] {
            let why = said("t", layout, text).unwrap();
            assert!(why.contains("it ran no test of that exact name (`running 0 tests`)"), "{why}");
        }
        let text = "\nrunning 1 test\ntest t ... ignored, slow\n\ntest result: ok. 0 passed; 0 failed; 1 ignored; 0 \
                    measured; 74 filtered out; finished in 0.00s\n\n";
        let why = said("t", Layout::Pretty, text).unwrap();
        assert!(
            why.starts_with("libtest did not report `t` passed: it said `test t ... ignored, slow`, then"),
            "{why}"
        );
    }

    #[test]
    fn terse_runs_have_a_mark_before_the_summary() {
        assert_eq!(said("t", Layout::Terse, &format!("\nrunning 1 test\nprinted\n.\n{SUMMARY}\n\n")), None);
        assert_eq!(said("t", Layout::Terse, &format!("\nrunning 1 test\nno newline.\n{SUMMARY}\n\n")), None);
        for text in ["\nrunning 1 test\nabout to exit\n", &format!("\nrunning 1 test\n\n{SUMMARY}\n")] {
            let why = said("t", Layout::Terse, text).unwrap();
            assert!(why.contains("before libtest reported a result"), "{text:?}: {why}");
        }
    }

    #[test]
    fn runs_one_after_the_other_are_told_apart_by_their_banners() {
        let pass = |name: &str| format!("\nrunning 1 test\ntest {name} ... ok\n\n{SUMMARY}\n\n");
        let exit = "\nrunning 1 test\nabout to exit\n";
        // A exits early, then B (the same test) passes: B's report is not A's.
        for (a, b, a_passed, b_passed) in [
            (exit.to_owned(), pass("t"), false, true),
            (pass("t"), exit.to_owned(), true, false),
            (pass("t"), pass("t"), true, true),
        ] {
            let mut reports = Reports::new(["t", "t"], Layout::Pretty);
            reports.feed(a.as_bytes());
            reports.feed(b.as_bytes());
            assert_eq!((reports.not_passed(0).is_none(), reports.not_passed(1).is_none()), (a_passed, b_passed));
        }
    }

    #[test]
    fn the_layout_is_libtests_choice() {
        assert_eq!(layout_of(&strings(&["--exact", "t", "--nocapture"])), Ok(Layout::Pretty));
        assert_eq!(layout_of(&strings(&["--exact", "t", "--nocapture", "-q"])), Ok(Layout::Terse));
        assert_eq!(layout_of(&strings(&["--quiet", "--format", "pretty"])), Ok(Layout::Pretty));
        assert_eq!(layout_of(&strings(&["--format=terse"])), Ok(Layout::Terse));
        let error = layout_of(&strings(&["--format", "json", "-Z", "unstable-options"])).unwrap_err();
        assert!(error.contains("`--format json` is not supported (pretty and terse are)"), "{error}");
    }

    #[test]
    fn counts_of_a_summary() {
        let counts = "1 passed; 0 failed; 2 ignored; 0 measured; 74 filtered out; finished in 0.00s";
        assert_eq!((count(counts, "passed"), count(counts, "ignored"), count(counts, "measured")), (1, 2, 0));
    }
}
