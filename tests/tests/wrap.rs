//! `isolated-test wrap` end to end, over `tests/wrap-fixture`: a crate of
//! plain `#[test]`s that rename the host, rewrite `/etc/hosts`, bind port
//! 8080 two at a time, leave a daemon, panic (one of them ignored), hang,
//! and two `#[should_panic]` ones (one passes; the ignored one fails).
//! Each way wrap is called is exercised, and every verdict and the host's
//! state afterwards are asserted from outside:
//!
//! - as a cargo target runner: the call cargo makes (`wrap BINARY ARGS`),
//!   and `cargo test` itself with `CARGO_TARGET_<TRIPLE>_RUNNER` (doc test
//!   included);
//! - as a nextest wrapper script, *emulated*: wrap is invoked exactly as
//!   nextest's wrapper protocol does (`wrap BINARY --exact NAME --nocapture
//!   [--ignored]`, one process per test, in the package's directory, which
//!   nextest-runner's `TestInstance::compute_cli` builds), so that the suite
//!   needs no nextest; the real `cargo nextest run` with the fixture's
//!   `.config/nextest.toml` is the `#[ignore]`d test at the end (the CI's
//!   `wrap` job and `scripts/test.sh` run it);
//! - mixed suites: `#[isolated_test]`s of `cases/cases.rs` under wrap, and
//!   plain tests of it that exit before libtest reports them.
//!
//! All tests are `#[serial]`: they compare host state before and after.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use isolated_test_fixtures::{HostSnapshot, WorkspaceBinary, processes_matching, sandbox_cgroups, wait_until_empty};
use serial_test::serial;

/// The fixture crate's directory, where cargo and nextest run its tests.
fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("wrap-fixture")
}

/// The target directory this test binary was built in (`<target>/<profile>/deps/wrap-...`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).expect("the test binary lives in <target>/<profile>/deps").to_path_buf()
}

/// Where the fixture is built: a directory of its own in this target
/// directory (never in the checkout).
fn fixture_target_dir() -> PathBuf {
    target_dir().join("wrap-fixture")
}

/// The fixture's test binary, built once (`ISOLATED_TEST_WRAP_FIXTURE_BIN`
/// names a prebuilt one, for the rootless pass of `scripts/test.sh`).
fn fixture_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let manifest = fixture_dir().join("Cargo.toml");
        let target = fixture_target_dir();
        let (manifest, target) = (manifest.to_str().unwrap(), target.to_str().unwrap());
        let args = ["test", "--no-run", "--locked", "--manifest-path", manifest, "--target-dir", target];
        WorkspaceBinary {
            prebuilt_env: "ISOLATED_TEST_WRAP_FIXTURE_BIN",
            cargo_args: &args,
            target: "host_polluting",
            test: true,
        }
        .build(Path::new(env!("CARGO_MANIFEST_DIR")), !cfg!(debug_assertions))
    })
}

/// The fixture's `libtest_output` binary: plain tests that change nothing,
/// for comparing wrap's output with the binary's own
/// (`ISOLATED_TEST_WRAP_OUTPUT_BIN` names a prebuilt one).
fn output_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let manifest = fixture_dir().join("Cargo.toml");
        let target = fixture_target_dir();
        let (manifest, target) = (manifest.to_str().unwrap(), target.to_str().unwrap());
        let args = [
            "test",
            "--no-run",
            "--locked",
            "--manifest-path",
            manifest,
            "--target-dir",
            target,
            "--test",
            "libtest_output",
        ];
        WorkspaceBinary {
            prebuilt_env: "ISOLATED_TEST_WRAP_OUTPUT_BIN",
            cargo_args: &args,
            target: "libtest_output",
            test: true,
        }
        .build(Path::new(env!("CARGO_MANIFEST_DIR")), !cfg!(debug_assertions))
    })
}

/// The `cases` binary of `#[isolated_test]`s (see tests/e2e.rs).
fn cases_binary() -> &'static Path {
    isolated_test_fixtures::cases_binary(Path::new(env!("CARGO_MANIFEST_DIR")), !cfg!(debug_assertions))
}

fn cli_binary() -> &'static Path {
    isolated_test_fixtures::cli_binary(Path::new(env!("CARGO_MANIFEST_DIR")), !cfg!(debug_assertions))
}

/// Output of one run, stdout and stderr together.
struct Run {
    code: Option<i32>,
    text: String,
}

fn run_of(output: Output) -> Run {
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    Run { code: output.status.code(), text }
}

/// `isolated-test wrap BINARY ARGS` in the fixture's directory, with `env`
/// (and none of the options' variables unless given).
fn wrap_command(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(cli_binary());
    command.arg("wrap").arg(binary).args(args).current_dir(fixture_dir());
    for var in
        ["ISOLATED_TEST_REPORT", "ISOLATED_TEST_FORBID_POLLUTION", "ISOLATED_TEST_HOSTNAME", "ISOLATED_TEST_TIMEOUT"]
    {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    command
}

fn wrap(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    run_of(wrap_command(binary, args, env).output().unwrap())
}

fn assert_contains(run: &Run, needles: &[&str]) {
    for needle in needles {
        assert!(run.text.contains(needle), "missing `{needle}` in:\n{}", run.text);
    }
}

/// The host as a test could change it, and a check that it did not.
struct Host {
    snapshot: HostSnapshot,
    hostname: String,
    hosts: String,
    cgroups: Vec<String>,
}

impl Host {
    fn capture() -> Self {
        Self {
            snapshot: HostSnapshot::capture().unwrap(),
            hostname: rustix::system::uname().nodename().to_string_lossy().into_owned(),
            hosts: std::fs::read_to_string("/etc/hosts").unwrap(),
            cgroups: sandbox_cgroups(),
        }
    }

    fn assert_unchanged(&self) {
        for marker in ["1000.7107", "1000.7108", "1000.7109"] {
            wait_until_empty("a process of a sandbox survived it", || processes_matching(marker));
        }
        wait_until_empty("cgroups left behind", || {
            sandbox_cgroups().into_iter().filter(|c| !self.cgroups.contains(c)).collect()
        });
        let diff = self.snapshot.diff(&HostSnapshot::capture().unwrap());
        assert!(diff.is_empty(), "the host changed:\n{}", diff.join("\n"));
        assert_eq!(rustix::system::uname().nodename().to_string_lossy(), self.hostname);
        assert_eq!(std::fs::read_to_string("/etc/hosts").unwrap(), self.hosts);
        assert!(!Path::new("/etc/isolated-test-wrap-doctest").exists(), "the doc test wrote to the host");
        assert!(!Path::new("/etc/isolated-test-wrap-should-panic").exists(), "a should_panic test wrote to the host");
    }
}

/// The times (ms) the two port tests held port 8080, from their output.
fn port_intervals(text: &str) -> Vec<(u128, u128)> {
    text.lines()
        .filter_map(|line| {
            let rest = line.split_once("port 8080 ")?.1;
            let (_, times) = rest.split_once(": held from ")?;
            let (from, to) = times.strip_suffix(" ms")?.split_once(" to ")?;
            Some((from.parse().ok()?, to.parse().ok()?))
        })
        .collect()
}

/// Both port tests held port 8080 at the same time (each holds it 3 s).
fn assert_held_at_once(text: &str) {
    let held = port_intervals(text);
    assert_eq!(held.len(), 2, "expected both port tests to report:\n{text}");
    let (a, b) = (held[0], held[1]);
    assert!(a.0.max(b.0) < a.1.min(b.1), "the port tests did not hold port 8080 at the same time: {held:?}\n{text}");
}

#[test]
#[serial]
fn as_a_cargo_runner_every_verdict_is_right_and_the_host_is_unchanged() {
    let host = Host::capture();
    // Four at a time, so that the two port tests overlap on any machine.
    let run = wrap(fixture_binary(), &["--show-output", "--test-threads=4"], &[]);
    assert_eq!(run.code, Some(101), "{}", run.text);
    assert_contains(
        &run,
        &[
            "\nrunning 10 tests\n",
            "test binds_port_8080_a ... ok\n",
            "test binds_port_8080_b ... ok\n",
            "test leaves_a_daemon ... ok\n",
            "test renames_the_host ... ok\n",
            "test rewrites_etc_hosts ... ok\n",
            "test panics ... FAILED\n",
            "test ignored_panics ... ignored, panics when it runs: --ignored must really run it\n",
            "test hangs ... ignored, hangs: run with a short ISOLATED_TEST_TIMEOUT, or stopped with a signal\n",
            "test panics_as_it_should - should panic ... ok\n",
            "test should_panic_but_does_not ... ignored, fails (it does not panic): --ignored must report it as \
             libtest does\n",
            // libtest's sections: the panic under its name, the output of
            // the passing tests (--show-output).
            "\nfailures:\n\n---- panics stdout ----\n",
            "deliberate panic in a plain test 6c2d",
            "\nfailures:\n    panics\n",
            "---- leaves_a_daemon stdout ----\nleft a daemon behind\n",
            "test result: FAILED. 6 passed; 1 failed; 3 ignored; 0 measured; 0 filtered out; finished in ",
        ],
    );
    assert!(!run.text.contains("8e4f") && !run.text.contains("9c3b"), "an ignored test ran:\n{}", run.text);
    // The inner libtest's own lines are not shown as a test's output.
    assert!(!run.text.contains("running 1 test"), "{}", run.text);
    assert_eq!(count(&run, "test result: "), 1, "{}", run.text);
    assert!(!run.text.contains("test panics_as_it_should ... "), "{}", run.text);
    assert_held_at_once(&run.text);
    host.assert_unchanged();
}

/// Run one after the other, from the third test on each gets a sandbox
/// made while the test before it ran (see `parent::ahead`), and every
/// verdict is still its own; with `ISOLATED_TEST_AHEAD=0`, none is made.
#[test]
#[serial]
fn as_a_cargo_runner_serially_sandboxes_are_made_ahead() {
    let host = Host::capture();
    let log = ("ISOLATED_TEST_LOG", "isolated_test::parent::ahead=debug");
    // On: two of the four could be (the third and the fourth test's); at
    // least one is, even when a slow machine lets the other grow too old.
    for (ahead, used) in [("1", 1..=2), ("0", 0..=0)] {
        let args = ["--skip", "binds_port", "--skip", "panics_as_it_should", "--test-threads=1"];
        let run = wrap(fixture_binary(), &args, &[log, ("ISOLATED_TEST_AHEAD", ahead)]);
        assert_eq!(run.code, Some(101), "{}", run.text);
        assert_contains(
            &run,
            &[
                "test leaves_a_daemon ... ok\n",
                "test panics ... FAILED\n",
                "test renames_the_host ... ok\n",
                "test rewrites_etc_hosts ... ok\n",
                "deliberate panic in a plain test 6c2d",
                "test result: FAILED. 3 passed; 1 failed; 3 ignored; 0 measured; 3 filtered out",
            ],
        );
        let made = run.text.matches("using the sandbox made ahead").count();
        assert!(used.contains(&made), "{made} used, ISOLATED_TEST_AHEAD={ahead}:\n{}", run.text);
    }
    host.assert_unchanged();
}

#[test]
#[serial]
fn as_a_cargo_runner_filters_and_ignored_tests_are_libtests() {
    let host = Host::capture();
    // --ignored runs them (for real: the panic shows), and only them.
    let run = wrap(fixture_binary(), &["--ignored", "ignored_panics"], &[]);
    assert_eq!(run.code, Some(101), "{}", run.text);
    assert_contains(
        &run,
        &[
            "test ignored_panics ... FAILED",
            "ignored plain test ran 8e4f",
            "0 passed; 1 failed; 0 ignored; 0 measured; 9 filtered out",
        ],
    );
    // --include-ignored: the ignored one among the others a filter selects.
    let run = wrap(fixture_binary(), &["panics", "--include-ignored", "-q", "--skip", "as_it_should"], &[]);
    assert_eq!(run.code, Some(101), "{}", run.text);
    assert_contains(
        &run,
        // libtest's terse layout gives each failure a line (in the order they end).
        &[
            "\nignored_panics --- FAILED\n",
            "\npanics --- FAILED\n",
            "8e4f",
            "6c2d",
            "0 passed; 2 failed; 0 ignored; 0 measured; 8 filtered out",
        ],
    );
    // --exact and --skip, as libtest reads them.
    let run = wrap(fixture_binary(), &["renames_the_host", "rewrites", "--exact"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert_contains(
        &run,
        &["test renames_the_host ... ok", "1 passed; 0 failed; 0 ignored; 0 measured; 9 filtered out"],
    );
    let run = wrap(fixture_binary(), &["re", "--skip", "hosts", "--skip", "ignored"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert_contains(
        &run,
        &["test renames_the_host ... ok", "1 passed; 0 failed; 0 ignored; 0 measured; 9 filtered out"],
    );
    // An option wrap does not know stops it before anything runs.
    let run = wrap(fixture_binary(), &["--shuffle"], &[]);
    assert_eq!(run.code, Some(101), "{}", run.text);
    assert_contains(&run, &["`--shuffle` is not supported by isolated-test wrap"]);
    assert!(!run.text.contains("running"), "{}", run.text);
    // Listing passes through: the binary's own list, no sandbox.
    let run = wrap(fixture_binary(), &["--list"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert_contains(&run, &["renames_the_host: test", "hangs: test", "10 tests, 0 benchmarks"]);
    host.assert_unchanged();
}

/// How many times `needle` is in the run's output.
fn count(run: &Run, needle: &str) -> usize {
    run.text.matches(needle).count()
}

/// A `--nocapture` run with failures framed as one libtest run: one
/// `running`, one summary, libtest's two `failures:` sections, and no
/// inner run's `---- NAME stdout ----` heading.
fn assert_one_libtest_run(run: &Run) {
    for (needle, times) in [("running ", 1), ("test result: ", 1), ("failures:", 2), (" stdout ----", 0)] {
        assert_eq!(count(run, needle), times, "`{needle}`:\n{}", run.text);
    }
}

/// `#[should_panic]` tests as cargo's runner: wrap prints what libtest
/// prints (`test NAME - should panic ... ok`, a failure's `note: test did
/// not panic as expected`), never the inner libtest's own run around them,
/// with or without `--nocapture`.
#[test]
#[serial]
fn as_a_cargo_runner_should_panic_tests_are_reported_as_libtest_reports_them() {
    let host = Host::capture();
    let both = ["panics_as_it_should", "should_panic_but_does_not", "--include-ignored"];
    let run = wrap(fixture_binary(), &both, &[]);
    assert_eq!(run.code, Some(101), "{}", run.text);
    assert_contains(
        &run,
        &[
            "\nrunning 2 tests\n",
            "test panics_as_it_should - should panic ... ok\n",
            "test should_panic_but_does_not - should panic ... FAILED\n",
            "\nfailures:\n\n---- should_panic_but_does_not stdout ----\ndid not panic 9c3b\n\
             note: test did not panic as expected at tests/host_polluting.rs:",
            "\nfailures:\n    should_panic_but_does_not\n",
            "test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 8 filtered out; finished in ",
        ],
    );
    // One libtest run, wrap's: no inner one inside the failure.
    for (needle, times) in [("running ", 1), ("test result: ", 1), ("failures:", 2), (" stdout ----", 1)] {
        assert_eq!(count(&run, needle), times, "`{needle}`:\n{}", run.text);
    }
    // The same under a limit of one core, where the inner libtest sees one
    // CPU (it would run on one thread and put its status line first). The
    // limit needs a cgroup: as root here.
    if rustix::process::geteuid().is_root() {
        let run = wrap(fixture_binary(), &both, &[("ISOLATED_TEST_CPU", "1")]);
        assert_eq!(run.code, Some(101), "{}", run.text);
        assert_contains(&run, &["test should_panic_but_does_not - should panic ... FAILED\n", "cpu limit 1 cores"]);
        for (needle, times) in [("running ", 1), ("test result: ", 1), ("failures:", 2), (" stdout ----", 1)] {
            assert_eq!(count(&run, needle), times, "ISOLATED_TEST_CPU=1, `{needle}`:\n{}", run.text);
        }
    }
    // Streamed: the tests' output, libtest's note, wrap's lines, nothing else of libtest's.
    let run = wrap(fixture_binary(), &[&both[..], &["--nocapture"]].concat(), &[]);
    assert_eq!(run.code, Some(101), "{}", run.text);
    assert_contains(
        &run,
        &[
            "test panics_as_it_should - should panic ... ok\n",
            "test should_panic_but_does_not - should panic ... FAILED\n",
            "about to panic 3a7e\n",
            "expected panic 3a7e",
            // Two tests streaming at once: their lines may interleave.
            "did not panic 9c3b\n",
            "note: test did not panic as expected at tests/host_polluting.rs:",
            "test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 8 filtered out; finished in ",
        ],
    );
    assert_one_libtest_run(&run);
    host.assert_unchanged();
}

/// Standard output of `binary ARGS` run directly (no wrap), in the
/// fixture's directory, with `finished in` times made equal.
fn direct_stdout(binary: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(binary).args(args).current_dir(fixture_dir()).env("RUST_BACKTRACE", "0").output().unwrap();
    (out.status.code(), same_times(&String::from_utf8_lossy(&out.stdout)))
}

/// wrap's standard output for `binary ARGS`, with `finished in` times made
/// equal and without wrap's own lines (`isolated-test wrap: resources:
/// ...`, which wrap adds to a failure's output, on a line of its own: the
/// newline before it is wrap's when the output did not end with one, as
/// every failing test's of `libtest_output` does not).
fn wrap_stdout(binary: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = wrap_command(binary, args, &[("RUST_BACKTRACE", "0")]).output().unwrap();
    let mut text = same_times(&String::from_utf8_lossy(&out.stdout));
    while let Some(start) = text.find("\nisolated-test wrap: ") {
        let end = text[start + 1..].find('\n').map_or(text.len(), |i| start + 1 + i + 1);
        text.replace_range(start..end, "");
    }
    (out.status.code(), text)
}

/// `text` with every `finished in N.NNs` as `finished in 0.00s`.
fn same_times(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("finished in ") {
        let (before, after) = rest.split_at(at + "finished in ".len());
        out.push_str(before);
        let end = after.find('s').unwrap_or(0);
        out.push_str("0.00");
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// As a cargo runner, wrap prints what libtest prints for the same tests,
/// byte for byte (one test thread: the same order), in the pretty and the
/// terse layout (`-q`): an ignore reason (`ignored, needs a GPU`), the
/// terse marks and failure lines with no blank line added before the
/// summary, a passing test whose output has no newline, and a failure's
/// output (no newline at its end) without the inner libtest's own lines.
#[test]
#[serial]
fn as_a_cargo_runner_the_output_is_libtests() {
    let binary = output_binary();
    let passing = ["passes", "ignored"];
    let failing = ["fails", "passes", "ignored"];
    for (filters, code) in [(&passing[..], 0), (&failing[..], 101)] {
        for layout in [&[][..], &["-q"], &["--format", "terse"]] {
            let args = [filters, layout, &["--test-threads=1"]].concat();
            let (direct_code, direct) = direct_stdout(binary, &args);
            assert_eq!(direct_code, Some(code), "{args:?}: {direct}");
            let (wrap_code, wrapped) = wrap_stdout(binary, &args);
            assert_eq!(wrap_code, direct_code, "{args:?}: {wrapped}");
            assert_eq!(wrapped, direct, "{args:?}: wrap's output (left) is not libtest's (right)");
        }
    }
    // The lines each fix is about, checked where they are.
    let (_, wrapped) = wrap_stdout(binary, &["ignored_with_a_reason", "--test-threads=1"]);
    assert!(wrapped.contains("\ntest ignored_with_a_reason ... ignored, needs a GPU\n"), "{wrapped}");
    let (_, wrapped) = wrap_stdout(binary, &["passes", "-q"]);
    assert!(wrapped.starts_with("\nrunning 2 tests\n..\ntest result: ok. 2 passed;"), "{wrapped}");
    let (_, wrapped) = wrap_stdout(binary, &["fails_without_a_newline"]);
    assert!(
        wrapped.contains(
            "\n---- fails_without_a_newline stdout ----\nno newline, failing 4c1dnote: test did not panic as \
             expected at tests/libtest_output.rs:"
        ),
        "{wrapped}"
    );
    for (needle, times) in [("running ", 1), ("test result: ", 1), ("failures:", 2)] {
        assert_eq!(wrapped.matches(needle).count(), times, "`{needle}`:\n{wrapped}");
    }
}

/// Ctrl-C (SIGINT to the process group) while a test runs: wrap stops it
/// and says so, without calling it FAILED (it did not fail by itself; libtest
/// would die of the signal without a word), keeps the status lines of the
/// tests that ended before, prints no summary, and exits with 130 as a
/// shell reports a command killed by SIGINT.
#[test]
#[serial]
fn sigint_stops_the_running_test_without_failing_it() {
    let host = Host::capture();
    let mut command = wrap_command(
        fixture_binary(),
        &["--include-ignored", "--test-threads=2", "--exact", "hangs", "renames_the_host"],
        &[],
    );
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let started = std::time::Instant::now();
    while processes_matching("1000.7109").is_empty() {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "`hangs` did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // renames_the_host, beside it, ends first.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let group = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process_group(group, rustix::process::Signal::INT).unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(128 + libc::SIGINT), "{stdout}{stderr}");
    assert!(stdout.contains("test renames_the_host ... ok\n"), "{stdout}");
    assert!(!stdout.contains("test hangs"), "{stdout}");
    assert!(!stdout.contains("test result:") && !stdout.contains("failures:"), "{stdout}");
    assert!(
        stderr.contains("isolated-test wrap: interrupted by SIGINT")
            && stderr.contains("; the running sandboxes were killed (stopped: hangs)\n"),
        "{stderr}"
    );
    host.assert_unchanged();
}

/// The runner variable cargo reads for this target.
fn runner_variable() -> String {
    let env = if cfg!(target_env = "musl") { "MUSL" } else { "GNU" };
    format!("CARGO_TARGET_{}_UNKNOWN_LINUX_{env}_RUNNER", std::env::consts::ARCH.to_uppercase())
}

/// `cargo test` on the fixture with wrap as the target runner: what a user
/// types, doc test included (rustdoc runs it through the runner too).
#[test]
#[serial]
fn cargo_test_with_wrap_as_the_target_runner() {
    let host = Host::capture();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["test", "--locked", "--no-fail-fast", "--target-dir"])
        .arg(fixture_target_dir())
        .args(["--", "--test-threads=4"])
        .env(runner_variable(), format!("{} wrap", cli_binary().display()))
        .current_dir(fixture_dir())
        .output()
        .unwrap();
    let run = run_of(out);
    assert_eq!(run.code, Some(101), "{}", run.text);
    assert_contains(
        &run,
        &[
            "test renames_the_host ... ok",
            "test rewrites_etc_hosts ... ok",
            "test leaves_a_daemon ... ok",
            "test binds_port_8080_a ... ok",
            "test binds_port_8080_b ... ok",
            "test panics ... FAILED",
            "test ignored_panics ... ignored",
            "test panics_as_it_should - should panic ... ok",
            "test should_panic_but_does_not ... ignored",
            "deliberate panic in a plain test 6c2d",
            "test result: FAILED. 6 passed; 1 failed; 3 ignored; 0 measured; 0 filtered out",
            // The doc test writes to /etc, in a sandbox of its own.
            "is a doc test: it runs whole, in one sandbox",
            "test src/lib.rs - (line 8) ... ok",
        ],
    );
    host.assert_unchanged();
}

/// Runs `wrap FIXTURE --exact NAME --nocapture [--ignored]` as nextest
/// would (see the module's comment).
fn as_nextest(name: &str, ignored: bool, env: &[(&str, &str)]) -> Command {
    let mut args = vec!["--exact", name, "--nocapture"];
    if ignored {
        args.push("--ignored");
    }
    wrap_command(fixture_binary(), &args, env)
}

#[test]
#[serial]
fn as_a_nextest_wrapper_every_verdict_is_right_and_the_host_is_unchanged() {
    let host = Host::capture();
    // nextest runs the two port tests at once, each in a process of its own.
    let ports: Vec<_> = ["binds_port_8080_a", "binds_port_8080_b"]
        .into_iter()
        .map(|name| as_nextest(name, false, &[]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap())
        .collect();
    let ports: Vec<Run> = ports.into_iter().map(|child| run_of(child.wait_with_output().unwrap())).collect();
    for run in &ports {
        assert_eq!(run.code, Some(0), "{}", run.text);
        assert_contains(run, &["test result: ok. 1 passed"]);
    }
    assert_held_at_once(&format!("{}{}", ports[0].text, ports[1].text));
    for name in ["renames_the_host", "rewrites_etc_hosts", "leaves_a_daemon"] {
        let run = run_of(as_nextest(name, false, &[]).output().unwrap());
        assert_eq!(run.code, Some(0), "{name}: {}", run.text);
        // The output passes through: the binary's own libtest lines.
        assert_contains(&run, &[&format!("test {name} ... ok"), "test result: ok. 1 passed"]);
    }
    let run = run_of(as_nextest("panics_as_it_should", false, &[]).output().unwrap());
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert_contains(&run, &["test panics_as_it_should - should panic ... ok", "expected panic 3a7e"]);
    let run = run_of(as_nextest("panics", false, &[]).output().unwrap());
    assert_eq!(run.code, Some(101), "{}", run.text);
    assert_contains(&run, &["test panics ... FAILED", "deliberate panic in a plain test 6c2d"]);
    let run = run_of(as_nextest("ignored_panics", true, &[]).output().unwrap());
    assert_eq!(run.code, Some(101), "{}", run.text);
    assert_contains(&run, &["ignored plain test ran 8e4f"]);
    host.assert_unchanged();
}

/// The options come from the environment: the report, forbidding
/// pollution (the attribute's allow-list syntax), the hostname, limits and
/// the timeout.
#[test]
#[serial]
fn options_come_from_the_environment() {
    let host = Host::capture();
    let run = run_of(
        as_nextest("renames_the_host", false, &[("ISOLATED_TEST_REPORT", "1"), ("ISOLATED_TEST_HOSTNAME", "envbox")])
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert_contains(
        &run,
        &[
            "isolated test `renames_the_host`: pollution report:",
            "hostname: envbox -> wrapped-fixture-4d1a",
            "resources: ",
        ],
    );
    let forbid = |value: &str| {
        run_of(as_nextest("rewrites_etc_hosts", false, &[("ISOLATED_TEST_FORBID_POLLUTION", value)]).output().unwrap())
    };
    let run = forbid("1");
    assert_eq!(run.code, Some(101), "{}", run.text);
    assert_contains(
        &run,
        &[
            "isolated-test wrap: `rewrites_etc_hosts` failed: the test polluted its sandbox \
             (ISOLATED_TEST_FORBID_POLLUTION; allowed: [])",
            "modified /etc/hosts",
        ],
    );
    let run = forbid(r#"["/etc/hosts"]"#);
    assert_eq!(run.code, Some(0), "{}", run.text);
    // As a cargo runner too: the test is FAILED, the report under its name.
    let run = wrap(fixture_binary(), &["rewrites_etc_hosts"], &[("ISOLATED_TEST_FORBID_POLLUTION", "1")]);
    assert_eq!(run.code, Some(101), "{}", run.text);
    assert_contains(
        &run,
        &["test rewrites_etc_hosts ... FAILED", "---- rewrites_etc_hosts stdout ----", "modified /etc/hosts"],
    );
    // A timeout kills the whole sandbox, daemon included, and says how to raise it.
    let run = run_of(as_nextest("hangs", true, &[("ISOLATED_TEST_TIMEOUT", "1s")]).output().unwrap());
    assert_eq!(run.code, Some(101), "{}", run.text);
    assert_contains(&run, &["hanging 5f0b", "timed out after 1s", "sleep 1000.7109", "ISOLATED_TEST_TIMEOUT"]);
    let run = run_of(as_nextest("renames_the_host", false, &[("ISOLATED_TEST_TIMEOUT", "soon")]).output().unwrap());
    assert_eq!(run.code, Some(101), "{}", run.text);
    assert_contains(&run, &["ISOLATED_TEST_TIMEOUT=`soon` is not a duration"]);
    for (var, value, says) in [
        ("ISOLATED_TEST_AHEAD", "abc", "ISOLATED_TEST_AHEAD=\"abc\" is not a number of sandboxes"),
        ("ISOLATED_TEST_REPORT", "yes", "ISOLATED_TEST_REPORT=\"yes\" is not understood"),
    ] {
        let run = run_of(as_nextest("renames_the_host", false, &[(var, value)]).output().unwrap());
        assert_eq!(run.code, Some(101), "{}", run.text);
        assert_contains(&run, &[says]);
    }
    if rustix::process::geteuid().is_root() {
        let run = run_of(
            as_nextest("renames_the_host", false, &[("ISOLATED_TEST_REPORT", "1"), ("ISOLATED_TEST_PIDS", "64")])
                .output()
                .unwrap(),
        );
        assert_eq!(run.code, Some(0), "{}", run.text);
        assert_contains(&run, &["pids 64)"]);
    }
    host.assert_unchanged();
}

/// SIGTERM to the process group, as nextest sends it at its own timeout
/// or on Ctrl-C: the sandbox dies with its test, its cgroup removed at once.
#[test]
#[serial]
fn sigterm_to_the_process_group_leaves_nothing() {
    let host = Host::capture();
    let mut command = as_nextest("hangs", true, &[]);
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("the test ended before it hung").unwrap();
        if line.contains("hanging 5f0b") {
            break;
        }
    }
    let group = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process_group(group, rustix::process::Signal::TERM).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{status}");
    // Gone already, cgroup included: not left for the next sandbox to collect.
    for marker in ["1000.7108", "1000.7109"] {
        wait_until_empty("a process of the sandbox survived SIGTERM", || processes_matching(marker));
    }
    let cgroups: Vec<_> = sandbox_cgroups().into_iter().filter(|c| !host.cgroups.contains(c)).collect();
    assert!(cgroups.is_empty(), "cgroups left behind: {cgroups:?}");
    host.assert_unchanged();
}

/// A program without libtest (`harness = false`, or anything else cargo's
/// runner is given) runs whole, in one sandbox, with a note.
#[test]
#[serial]
fn a_binary_without_libtest_runs_whole_in_one_sandbox() {
    let host = Host::capture();
    let script = "hostname wrapped-whole; echo x > /etc/isolated-test-wrap-whole; echo ran whole 2b7c; exit 3";
    let run = wrap(Path::new("/bin/sh"), &["-c", script], &[]);
    assert_eq!(run.code, Some(3), "{}", run.text);
    assert_contains(&run, &["has no libtest harness", "runs whole, in one sandbox", "ran whole 2b7c"]);
    // Its `--list` is no listing: it runs sandboxed too.
    let run = wrap(Path::new("/bin/echo"), &["--list"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert_contains(&run, &["has no libtest harness", "--list"]);
    assert!(!Path::new("/etc/isolated-test-wrap-whole").exists());
    host.assert_unchanged();
}

/// Mixed suites: an `#[isolated_test]` under wrap is not nested in wrap's
/// sandbox (the kernel refuses that); it asks to be run outside, where it
/// makes its own with its own options.
#[test]
#[serial]
fn isolated_tests_under_wrap_run_in_their_own_sandbox() {
    let host = Host::capture();
    let cases = cases_binary();
    // As nextest calls it: the test's own verdict and output.
    let run = wrap(cases, &["--exact", "keeps_its_own_options", "--nocapture"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert_contains(&run, &["test keeps_its_own_options ... ok"]);
    let run = wrap(cases, &["--exact", "panics", "--nocapture"], &[]);
    assert_eq!(run.code, Some(101), "{}", run.text);
    assert_contains(&run, &["isolated test `panics` failed: the test panicked at", "deliberate panic 7c1f"]);
    assert!(!run.text.contains("sandboxes do not nest"), "{}", run.text);
    // As a cargo runner, next to the plain tests of the same binary: one
    // libtest run, wrap's, captured or streamed (`--nocapture`), a
    // should_panic one named as libtest names it.
    let tests = ["--exact", "keeps_its_own_options", "panics", "pair_a_leaves_a_marker", "should_panic_but_aborts"];
    // Captured or streamed alike: the status lines, the panic, libtest's
    // note, the summary.
    let both = [
        "test keeps_its_own_options ... ok\n",
        "test pair_a_leaves_a_marker ... ok\n",
        "test panics ... FAILED\n",
        "test should_panic_but_aborts - should panic ... FAILED\n",
        "deliberate panic 7c1f",
        "note: test did not panic as expected at tests/cases/cases.rs:",
        "test result: FAILED. 2 passed; 2 failed",
    ];
    let run = wrap(cases, &tests, &[]);
    assert_eq!(run.code, Some(101), "{}", run.text);
    assert_contains(
        &run,
        &[&both[..], &["---- panics stdout ----", "---- should_panic_but_aborts stdout ----"]].concat(),
    );
    for (needle, times) in [("running ", 1), ("test result: ", 1), ("failures:", 2)] {
        assert_eq!(count(&run, needle), times, "`{needle}`:\n{}", run.text);
    }
    let run = wrap(cases, &[&tests[..], &["--nocapture"]].concat(), &[]);
    assert_eq!(run.code, Some(101), "{}", run.text);
    assert_contains(&run, &both);
    assert_one_libtest_run(&run);
    assert!(!Path::new("/etc/isolated-test-pair-marker").exists());
    host.assert_unchanged();
}

/// A plain test whose binary exits with status 0 before libtest reported
/// it (`std::process::exit(0)` in the test) did not pass: wrap fails it and
/// says why, as cargo's runner (captured or streamed) and as nextest calls
/// it, in libtest's pretty and terse layouts. A summary of a pass that the
/// test prints itself does not count; a passing test beside them passes.
#[test]
#[serial]
fn a_plain_test_that_exits_zero_before_its_result_fails() {
    let cases = cases_binary();
    let why = |name: &str| {
        format!(
            "the test process exited with status 0 before libtest reported a result for `{name}` \
             (std::process::exit called from the test?)"
        )
    };
    let (exits, fakes, passes) =
        ("plain_exits_zero_before_its_result", "plain_prints_a_pass_then_exits_zero", "plain_prints_and_passes");
    for extra in [&[][..], &["--nocapture"]] {
        let run = wrap(cases, &[&["--exact", exits, fakes, passes][..], extra].concat(), &[]);
        assert_eq!(run.code, Some(101), "{extra:?}: {}", run.text);
        assert_contains(
            &run,
            &[
                &format!("test {exits} ... FAILED\n"),
                &format!("test {fakes} ... FAILED\n"),
                &format!("test {passes} ... ok\n"),
                &why(exits),
                &why(fakes),
                "test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; ",
            ],
        );
    }
    // As nextest calls it; `-q` is libtest's terse layout, and one test
    // thread puts `test NAME ... ` before the test's output.
    for (extra, env) in [(&[][..], None), (&["-q"][..], None), (&[][..], Some(("RUST_TEST_THREADS", "1")))] {
        let env: Vec<_> = env.into_iter().collect();
        let mut names = vec![(exits, 101), (passes, 0)];
        if env.is_empty() {
            names.push((fakes, 101));
        }
        for (name, code) in names {
            let run = wrap(cases, &[&["--exact", name, "--nocapture"][..], extra].concat(), &env);
            assert_eq!(run.code, Some(code), "{name} {extra:?} {env:?}: {}", run.text);
            if code != 0 {
                assert_contains(&run, &[&format!("isolated-test wrap: `{name}` failed: {}", why(name))]);
            }
        }
    }
    // A format whose output wrap does not read stops it before anything runs.
    let run = wrap(cases, &["--exact", passes, "--nocapture", "--format", "json", "-Z", "unstable-options"], &[]);
    assert_eq!(run.code, Some(101), "{}", run.text);
    assert_contains(&run, &["`--format json` is not supported (pretty and terse are)"]);
    assert!(!run.text.contains("1b6e"), "{}", run.text);
}

/// A passing test whose output does not end with a newline (procfs's
/// `test_namespaces` prints with `print!`) passes as nextest calls wrap:
/// libtest's status line then follows that output on the same line.
#[test]
#[serial]
fn a_passing_test_without_a_newline_passes_as_nextest_calls_it() {
    let binary = output_binary();
    for (extra, env) in [(&[][..], None), (&["-q"][..], None), (&[][..], Some(("RUST_TEST_THREADS", "1")))] {
        let env: Vec<_> = env.into_iter().collect();
        let run = wrap(binary, &[&["--exact", "passes_without_a_newline", "--nocapture"][..], extra].concat(), &env);
        assert_eq!(run.code, Some(0), "{extra:?} {env:?}: {}", run.text);
        assert_contains(&run, &["no newline, passing 5e2a"]);
    }
}

/// A plain test that opens a pty's slave and closes its master (as pty
/// tests do) passes under wrap as it does plainly, as cargo's runner and
/// as nextest calls it: it leads no session of its own, so the slave never
/// becomes its terminal and the master's close sends it no SIGHUP.
#[test]
#[serial]
fn a_plain_test_that_opens_a_pty_passes() {
    let name = "pty_opened_and_closed_plainly";
    for args in [&[name][..], &["--exact", name, "--nocapture"]] {
        let run = wrap(cases_binary(), args, &[]);
        assert_eq!(run.code, Some(0), "{args:?}: {}", run.text);
        assert!(!run.text.contains("SIGHUP"), "{}", run.text);
    }
    let run = wrap(cases_binary(), &["--exact", name, "--nocapture"], &[]);
    assert_contains(&run, &["the pty came and went 7c3d"]);
}

/// The real `cargo nextest run` on the fixture, with its
/// `.config/nextest.toml` (the wrapper script) and wrap on PATH.
#[test]
#[serial]
#[ignore = "needs cargo-nextest 0.9.98 or newer; scripts/test.sh and the CI's wrap job run it"]
fn real_nextest_with_the_wrapper_script() {
    let host = Host::capture();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let path = format!("{}:{}", cli_binary().parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let nextest = |args: &[&str]| {
        let out = Command::new(&cargo)
            .args(["nextest", "run", "--locked", "--no-fail-fast", "--target-dir"])
            .arg(fixture_target_dir())
            .args(args)
            .env("PATH", &path)
            .current_dir(fixture_dir())
            .output()
            .unwrap();
        run_of(out)
    };
    let run = nextest(&["--success-output", "immediate"]);
    assert_eq!(run.code, Some(100), "nextest's code for failed tests:\n{}", run.text);
    for pass in [
        "binds_port_8080_a",
        "binds_port_8080_b",
        "leaves_a_daemon",
        "renames_the_host",
        "rewrites_etc_hosts",
        "panics_as_it_should",
    ] {
        assert!(
            run.text.lines().any(|l| l.contains("PASS") && l.ends_with(&format!("host_polluting {pass}"))),
            "{pass} did not pass:\n{}",
            run.text
        );
    }
    assert!(run.text.lines().any(|l| l.contains("FAIL") && l.ends_with("host_polluting panics")), "{}", run.text);
    assert_contains(
        &run,
        &[
            "experimental features enabled: wrapper-scripts",
            "deliberate panic in a plain test 6c2d",
            "6 passed, 1 failed, 3 skipped",
        ],
    );
    assert_held_at_once(&run.text);
    let run = nextest(&["--run-ignored", "only", "-E", "test(=ignored_panics)"]);
    assert_eq!(run.code, Some(100), "{}", run.text);
    assert_contains(&run, &["ignored plain test ran 8e4f"]);
    host.assert_unchanged();
}
