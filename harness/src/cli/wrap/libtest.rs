//! What wrap needs to know of libtest: whether a binary has it, the
//! arguments cargo passes to it, and its test list (which `pair` reads
//! too, to tell whether a test it is named runs at all).

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;

/// What kind of program a test binary is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A libtest harness (`#[test]`s, `harness = true`): it lists its
    /// tests with `--list` and runs one with `--exact NAME`.
    Libtest,
    /// A doc test compiled by rustdoc: with or without libtest inside, it
    /// runs its doc tests whatever its arguments (`--list` included).
    Doctest,
    /// Anything else: `harness = false`, a custom harness, a program run by
    /// `cargo run` through the target runner.
    Other,
}

/// Part of libtest's usage text (the help of `--include-ignored`), which
/// every binary with libtest's command line carries. A string rather than
/// a symbol: release binaries are often stripped.
const LIBTEST_MARKER: &[u8] = b"Run ignored and not ignored tests";
/// The variable rustdoc's merged doc tests read (edition 2024); their
/// binary also contains libtest, but runs its tests on any arguments.
const DOCTEST_MARKER: &[u8] = b"RUSTDOC_DOCTEST_BIN_PATH";
/// rustdoc builds each doc test in a temporary directory named so.
const DOCTEST_DIR_PREFIX: &str = "rustdoctest";

/// Reads `binary` to tell its [`Kind`] (once per call of wrap, and never
/// for nextest's calls, which name one test of a binary nextest listed).
///
/// # Errors
/// The binary cannot be read.
pub(crate) fn classify(binary: &Path) -> std::io::Result<Kind> {
    let in_doctest_dir = binary
        .ancestors()
        .filter_map(Path::file_name)
        .any(|name| name.to_string_lossy().starts_with(DOCTEST_DIR_PREFIX));
    if in_doctest_dir {
        return Ok(Kind::Doctest);
    }
    let (mut libtest, mut doctest) = (false, false);
    let libtest_finder = memchr::memmem::Finder::new(LIBTEST_MARKER);
    let doctest_finder = memchr::memmem::Finder::new(DOCTEST_MARKER);
    let overlap = LIBTEST_MARKER.len().max(DOCTEST_MARKER.len());
    let mut file = std::fs::File::open(binary)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut kept = 0;
    loop {
        let n = file.read(&mut buf[kept..])?;
        if n == 0 {
            break;
        }
        let filled = kept + n;
        libtest |= libtest_finder.find(&buf[..filled]).is_some();
        doctest |= doctest_finder.find(&buf[..filled]).is_some();
        // Keep the tail, so that a marker across two reads is found.
        kept = overlap.min(filled);
        buf.copy_within(filled - kept..filled, 0);
    }
    Ok(match (libtest, doctest) {
        (_, true) => Kind::Doctest,
        (true, false) => Kind::Libtest,
        (false, false) => Kind::Other,
    })
}

/// Which ignored tests run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Ignored {
    /// None (they are reported `ignored`): libtest's default.
    #[default]
    Skip,
    /// Only them: `--ignored`.
    Only,
    /// Them too: `--include-ignored`.
    Include,
}

/// The arguments of a libtest binary that wrap runs as a whole suite.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Args {
    /// Positional filters (substrings of test names, or whole names with
    /// `--exact`).
    pub(super) filters: Vec<String>,
    /// `--exact`.
    pub(super) exact: bool,
    /// `--skip FILTER`, repeatable.
    pub(super) skip: Vec<String>,
    /// `--ignored`, `--include-ignored`.
    pub(super) ignored: Ignored,
    /// `--nocapture` (`--no-capture`): output as it comes.
    pub(super) nocapture: bool,
    /// `--show-output`: the output of passing tests too.
    pub(super) show_output: bool,
    /// `--test-threads N`.
    pub(super) threads: Option<usize>,
    /// `-q`, `--quiet`, `--format terse`: one character per test.
    pub(super) terse: bool,
    /// `--bench`: benchmarks, run whole.
    pub(super) bench: bool,
}

/// libtest's options that take a value.
const WITH_VALUE: &[&str] = &["--skip", "--test-threads", "--format", "--color", "--logfile", "--shuffle-seed", "-Z"];

impl Args {
    /// Parses what cargo passes a test binary (`cargo test -- ARGS`).
    ///
    /// # Errors
    /// An option wrap does not know or support: it is named, and nothing
    /// runs (an option misread could run what was not asked for).
    pub(super) fn parse(args: &[String]) -> Result<Self, String> {
        let mut parsed = Self::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            if !arg.starts_with('-') || arg == "-" {
                parsed.filters.push(arg.clone());
                continue;
            }
            let (option, inline) = match arg.split_once('=') {
                Some((option, value)) if option.starts_with("--") => (option, Some(value.to_owned())),
                _ => (arg.as_str(), None),
            };
            let value = if WITH_VALUE.contains(&option) {
                match inline {
                    Some(value) => Some(value),
                    None => Some(args.next().cloned().ok_or_else(|| format!("libtest's `{option}` needs a value"))?),
                }
            } else if inline.is_some() {
                return Err(format!("libtest's `{option}` takes no value (`{arg}`)"));
            } else {
                None
            };
            let value = value.unwrap_or_default();
            match option {
                "--exact" => parsed.exact = true,
                "--skip" => parsed.skip.push(value),
                "--ignored" => parsed.ignored = Ignored::Only,
                "--include-ignored" => parsed.ignored = Ignored::Include,
                "--nocapture" | "--no-capture" => parsed.nocapture = true,
                "--show-output" => parsed.show_output = true,
                "-q" | "--quiet" => parsed.terse = true,
                "--test" => {}
                "--bench" => parsed.bench = true,
                // Colours are not used; any choice is fine.
                "--color" => {}
                "--test-threads" => match value.parse::<usize>() {
                    Ok(n) if n > 0 => parsed.threads = Some(n),
                    _ => return Err(format!("`--test-threads {value}`: expected a positive number")),
                },
                "--format" => match value.as_str() {
                    "pretty" => parsed.terse = false,
                    "terse" => parsed.terse = true,
                    other => {
                        return Err(format!(
                            "`--format {other}` is not supported (pretty and terse are); \
                             run the binary without wrap for machine-readable output"
                        ));
                    }
                },
                other => {
                    return Err(format!(
                        "libtest's `{other}` is not supported by isolated-test wrap (it knows --exact, --skip, \
                         --ignored, --include-ignored, --nocapture, --show-output, --test-threads, --quiet, \
                         --format pretty|terse, --color, --list)"
                    ));
                }
            }
        }
        Ok(parsed)
    }

    /// The number of tests run at once: `--test-threads`, else
    /// `RUST_TEST_THREADS`, else one per core, as libtest decides.
    pub(super) fn threads(&self) -> usize {
        self.threads
            .or_else(|| std::env::var(crate::config::ENV_RUST_TEST_THREADS).ok()?.parse().ok().filter(|n| *n > 0))
            .or_else(|| std::thread::available_parallelism().ok().map(std::num::NonZeroUsize::get))
            .unwrap_or(1)
    }

    /// The arguments that select tests, for the binary's own `--list`.
    fn selection(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.exact {
            out.push("--exact".to_owned());
        }
        for skip in &self.skip {
            out.extend(["--skip".to_owned(), skip.clone()]);
        }
        out.extend(self.filters.iter().cloned());
        out
    }

    /// Whether anything narrows the tests down.
    pub(super) fn filtered(&self) -> bool {
        !self.filters.is_empty() || !self.skip.is_empty()
    }
}

/// The tests `binary` lists (`--list --format terse`): all of them, or
/// those `args` select, or only the ignored ones of those. Benchmarks are
/// left out, as libtest leaves them out of a test run. This runs the
/// binary unsandboxed, as cargo and nextest do to list: libtest's listing
/// runs no test.
///
/// # Errors
/// The binary could not be run or failed; its output is in the message.
pub(super) fn list(binary: &Path, args: Option<&Args>, only_ignored: bool) -> Result<Vec<String>, String> {
    let mut command = std::process::Command::new(binary);
    command.args(["--list", "--format", "terse"]);
    if only_ignored {
        command.arg("--ignored");
    }
    if let Some(args) = args {
        command.args(args.selection());
    }
    let shown = binary.display();
    let stdout = stdout_of(
        command,
        &format!("cannot run `{shown}` to list its tests"),
        &format!("listing the tests of `{shown}` failed"),
    )?;
    Ok(parse_list(&stdout))
}

/// The standard output of `command`, a run of a test binary that runs no
/// test. Errors start with `cannot` when it could not be run, with
/// `failed` when it failed, whose output they then hold.
fn stdout_of(mut command: std::process::Command, cannot: &str, failed: &str) -> Result<String, String> {
    let output = command.output().map_err(|e| format!("{cannot}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{failed} ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The reasons of the `#[ignore]`d tests `names` of `binary`
/// (`#[ignore = "REASON"]`), which libtest prints as `test NAME ...
/// ignored, REASON` and its listing does not show: read from the binary's
/// own run of exactly those tests, which reports them and runs none of
/// them (it runs unsandboxed, as [`list`]). A test without a reason, or a
/// libtest older than 1.74 (which prints none), has none in the map.
///
/// # Errors
/// The binary could not be run or its run failed.
pub(super) fn ignore_reasons(binary: &Path, names: &[&str]) -> Result<HashMap<String, String>, String> {
    if names.is_empty() {
        return Ok(HashMap::new());
    }
    // Not `--ignored`: that would run them.
    let mut command = std::process::Command::new(binary);
    command
        .args(["--exact", "--test-threads=1", "--format", "pretty", "--color", "never"])
        .args(names)
        .env_remove(crate::config::ENV_RUST_TEST_THREADS)
        .stdin(std::process::Stdio::null());
    let shown = binary.display();
    let stdout = stdout_of(
        command,
        &format!("cannot run `{shown}` to read why its tests are ignored"),
        &format!("reading why the tests of `{shown}` are ignored failed"),
    )?;
    Ok(parse_ignore_reasons(&stdout, names))
}

/// The reasons in `text`, a libtest run's output, of the tests `names`.
fn parse_ignore_reasons(text: &str, names: &[&str]) -> HashMap<String, String> {
    let names: HashSet<&str> = names.iter().copied().collect();
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("test ")?;
            // A name has no ` ... ` (nor ` - `) in it: the first one ends it.
            let end = rest.find(" ... ")?;
            let name = rest[..end].split(" - ").next()?;
            if !names.contains(name) {
                return None;
            }
            let status = super::reported::strict_status(&rest[name.len()..])?;
            let reason = status.result.strip_prefix("ignored, ")?;
            Some((name.to_owned(), reason.to_owned()))
        })
        .collect()
}

/// What a test binary's listing says of one test name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::__cli) enum Listed {
    /// A test `BINARY --exact NAME` runs.
    Runs,
    /// An `#[ignore]`d test: `BINARY --exact NAME` reports it `ignored`
    /// and runs nothing.
    Ignored,
    /// No test of that name: `BINARY --exact NAME` runs nothing
    /// (`running 0 tests`).
    Missing,
}

/// Whether `BINARY --exact name` runs the test `name`, by the binary's own
/// listing (unsandboxed, as [`list`]).
///
/// # Errors
/// The binary could not be run or its listing failed.
pub(in crate::__cli) fn look_up(binary: &Path, name: &str) -> Result<Listed, String> {
    let args = Args { filters: vec![name.to_owned()], exact: true, ..Args::default() };
    Ok(if list(binary, Some(&args), false)?.is_empty() {
        Listed::Missing
    } else if list(binary, Some(&args), true)?.is_empty() {
        Listed::Runs
    } else {
        Listed::Ignored
    })
}

/// The test names of a terse listing (`name: test` lines).
fn parse_list(text: &str) -> Vec<String> {
    text.lines().filter_map(|line| line.strip_suffix(": test")).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        Args::parse(&args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn cargos_arguments() {
        let args = parse(&["net", "--exact", "--skip", "slow", "--skip=flaky", "--include-ignored", "-q"]).unwrap();
        assert_eq!(args.filters, ["net"]);
        assert!(args.exact && args.terse && !args.nocapture);
        assert_eq!(args.skip, ["slow", "flaky"]);
        assert_eq!(args.ignored, Ignored::Include);
        assert_eq!(args.selection(), ["--exact", "--skip", "slow", "--skip", "flaky", "net"]);
        let args = parse(&["--ignored", "--no-capture", "--test-threads", "3", "--color=never", "a", "b"]).unwrap();
        assert_eq!((args.ignored, args.nocapture, args.threads), (Ignored::Only, true, Some(3)));
        assert_eq!(args.filters, ["a", "b"]);
        assert!(parse(&["--bench"]).unwrap().bench);
        assert!(parse(&["--format", "terse"]).unwrap().terse);
    }

    #[test]
    fn unknown_or_unsupported_options_are_refused() {
        for bad in [&["--shuffle"][..], &["--format", "json"], &["--test-threads", "0"], &["--skip"], &["--exact=1"]] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let err = parse(&["--logfile", "x"]).unwrap_err();
        assert!(err.contains("`--logfile` is not supported"), "{err}");
    }

    #[test]
    fn a_name_is_looked_up_in_the_binarys_own_listing() {
        // This test binary is a libtest binary (its ignored tests are
        // looked up end to end, by `pair`'s tests).
        let binary = std::env::current_exe().unwrap();
        let this = "__cli::wrap::libtest::tests::a_name_is_looked_up_in_the_binarys_own_listing";
        assert_eq!(look_up(&binary, this), Ok(Listed::Runs));
        // Exact names only: a part of one, or one that is not there, runs nothing.
        for missing in ["a_name_is_looked_up", "__cli::wrap::libtest::tests::no_such_test"] {
            assert_eq!(look_up(&binary, missing), Ok(Listed::Missing), "{missing}");
        }
        assert!(look_up(Path::new("/nonexistent/test-binary"), this).is_err());
    }

    #[test]
    fn ignore_reasons_are_read_from_libtests_lines() {
        let text = "\nrunning 4 tests\ntest a::gpu ... ignored, needs a GPU\ntest a::plain ... ignored\n\
                    test sp - should panic ... ignored, flaky ... sometimes\ntest other ... ignored, not asked for\n\
                    test a::gpu2 ... ok\n\ntest result: ok. 0 passed; 0 failed; 3 ignored\n";
        let reasons = parse_ignore_reasons(text, &["a::gpu", "a::plain", "sp", "a::gpu2"]);
        let mut reasons: Vec<_> = reasons.iter().map(|(n, r)| (n.as_str(), r.as_str())).collect();
        reasons.sort_unstable();
        assert_eq!(reasons, [("a::gpu", "needs a GPU"), ("sp", "flaky ... sometimes")]);
    }

    #[test]
    fn terse_listings() {
        let text = "a::one: test\nb::bench_it: benchmark\ntwo: test\n";
        assert_eq!(parse_list(text), ["a::one", "two"]);
    }
}
