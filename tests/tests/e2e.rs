//! End-to-end: runs the deliberately failing tests of `cases/cases.rs` as a
//! user would (the test binary, with libtest's flags, and through nextest)
//! and asserts their outcomes from outside: exit status, the failure
//! message, what is left running, and the state of the host.
//!
//! All tests here are `#[serial]`: they compare host state before and after.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use isolated_test_fixtures::{
    HostSnapshot, processes_matching, run_as_nobody, run_with_user_namespaces_blocked, sandbox_cgroups,
    wait_until_empty,
};
use serial_test::serial;

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// The `cases` test binary (see `isolated_test_fixtures::cases_binary`).
fn cases_binary() -> &'static Path {
    isolated_test_fixtures::cases_binary(Path::new(env!("CARGO_MANIFEST_DIR")), !cfg!(debug_assertions))
}

/// Output of one run, stdout and stderr together.
struct Run {
    status: std::process::ExitStatus,
    text: String,
}

fn run_cases(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(cases_binary());
    cmd.args(args).env_remove("ISOLATED_TEST_INJECT_SETUP_FAULT").envs(env.iter().copied());
    let Output { status, stdout, stderr } = cmd.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr));
    Run { status, text }
}

fn assert_fails_with(run: &Run, needles: &[&str]) {
    assert_eq!(run.status.code(), Some(101), "expected a test failure, got {}:\n{}", run.status, run.text);
    assert!(run.text.contains("1 failed"), "{}", run.text);
    for needle in needles {
        assert!(run.text.contains(needle), "missing `{needle}` in:\n{}", run.text);
    }
}

/// Waits until no process with `marker` in its command line is left.
fn assert_none_left(marker: &str) {
    wait_until_empty("processes survived their sandbox", || processes_matching(marker));
}

#[test]
#[serial]
fn a_passing_case_passes() {
    let run = run_cases(&["--exact", "passes"], &[]);
    assert!(run.status.success(), "{}", run.text);
    assert!(run.text.contains("1 passed"), "{}", run.text);
}

#[test]
#[serial]
fn a_panic_fails_with_message_and_location() {
    let run = run_cases(&["--exact", "panics"], &[]);
    assert_fails_with(
        &run,
        &[
            "isolated test `panics` failed: the test panicked at",
            "cases.rs:",
            "deliberate panic 7c1f",
            // What the sandbox used, or that it was not measured (rootless).
            "\nresources: ",
        ],
    );
}

#[test]
#[serial]
fn an_err_return_fails_with_the_error() {
    let run = run_cases(&["--exact", "returns_err"], &[]);
    assert_fails_with(&run, &["the test returned an error:", "deliberate error 9a2e"]);
}

#[test]
#[serial]
fn an_abort_fails_and_names_sigabrt() {
    let run = run_cases(&["--exact", "aborts"], &[]);
    assert_fails_with(&run, &["the test process was killed by SIGABRT (6)", "while the body ran"]);
}

#[test]
#[serial]
fn exiting_without_a_result_fails() {
    let run = run_cases(&["--exact", "exits_early"], &[]);
    assert_fails_with(&run, &["exited with status 0 while the body ran without reporting a result"]);
}

#[test]
#[serial]
fn should_panic_is_not_satisfied_by_an_abort() {
    let run = run_cases(&["--exact", "should_panic_but_aborts"], &[]);
    assert_fails_with(&run, &["did not panic as expected", "failed before its body could panic", "SIGABRT"]);
    // Nor by a sandbox that could not start.
    let run = run_cases(&["--exact", "should_panic_but_the_sandbox_cannot_start"], &[]);
    assert_fails_with(
        &run,
        &["did not panic as expected", "could not start its sandbox, so its body never ran", "/tmp/a**"],
    );
    assert!(!run.text.contains("the body ran 5d2a"), "{}", run.text);
    // Its body's own panic with the expected text does.
    let run = run_cases(&["--exact", "should_panic_passes"], &[]);
    assert!(run.status.success() && run.text.contains("1 passed"), "{}", run.text);
    // `expected` is matched against the body's message only, as libtest
    // does for a plain #[test], not against the harness's report around
    // it; the report is still shown.
    let run = run_cases(&["--exact", "should_panic_with_another_text"], &[]);
    assert_fails_with(
        &run,
        &[
            "panic did not contain expected string",
            "connection refused 8d1e",
            "the test panicked at tests/cases/cases.rs",
            "resources: ",
        ],
    );
}

#[test]
#[serial]
fn the_verdict_names_the_panic_that_ended_the_body() {
    // Not one the body caught before: its text must not satisfy `expected`,
    // and the report names the panic that ended the body, where it happened.
    let run = run_cases(&["--exact", "should_panic_after_a_handled_panic"], &[]);
    assert_fails_with(
        &run,
        &["panic did not contain expected string", "index out of bounds", "the test panicked at tests/cases/cases.rs"],
    );
    assert!(run.text.contains("panic message: \"index out of bounds"), "{}", run.text);
    // A panic resumed from a joined thread, or under the body's own hook.
    for test in ["should_panic_resumed_from_a_thread", "should_panic_with_its_own_hook"] {
        let run = run_cases(&["--exact", test], &[]);
        assert!(run.status.success() && run.text.contains("1 passed"), "{test}: {}", run.text);
    }
}

#[test]
#[serial]
fn a_body_that_closes_its_descriptors_still_gets_its_verdict() {
    // With the zygote and without (PID 2 executed: the result's spare
    // descriptor crosses an `execve`).
    for zygote in ["1", "0"] {
        for test in ["passes_after_closing_its_descriptors", "passes_after_replacing_its_descriptors"] {
            let run = run_cases(&["--exact", test], &[("ISOLATED_TEST_ZYGOTE", zygote)]);
            assert!(run.status.success() && run.text.contains("1 passed"), "{test}, zygote {zygote}: {}", run.text);
        }
        let run = run_cases(&["--exact", "fails_after_closing_its_descriptors"], &[("ISOLATED_TEST_ZYGOTE", zygote)]);
        assert_fails_with(&run, &["the test panicked at tests/cases/cases.rs", "failed without descriptors 3d5b"]);
        assert!(!run.text.contains("without reporting a result"), "{}", run.text);
    }
}

#[test]
#[serial]
fn a_rootless_sandbox_takes_a_quarter_of_its_users_inotify_quota_at_most() {
    let quota: u64 = std::fs::read_to_string("/proc/sys/user/max_inotify_instances").unwrap().trim().parse().unwrap();
    // Rootless (as uid 65534 when run as root): as host root the sandbox
    // has no user namespace above the body's to hold the share.
    let run = run_cases_unprivileged(&["--exact", "counts_inotify_instances", "--nocapture"]);
    assert!(run.status.success(), "{}", run.text);
    let made: u64 =
        run.text.split("inotify instances made: ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    // The host's processes of this user hold some of the quota too, so
    // the sandbox may get fewer, never more.
    assert!((1..=quota / 4).contains(&made), "{made} of the user's {quota}: {}", run.text);
    assert!(run.text.contains("Too many open files"), "{}", run.text);
}

#[test]
#[serial]
fn a_pollution_report_that_cannot_be_taken_is_said_to_be_missing() {
    let run = run_cases(&["--exact", "hangs_ignoring_sigusr2"], &[("ISOLATED_TEST_REPORT", "1")]);
    assert_fails_with(&run, &["timed out after 1s", "no pollution report: at the deadline the sandbox did not answer"]);
}

/// How PID 2 of a run of `shows_what_it_was_given` started.
#[derive(Debug, PartialEq)]
enum Started {
    /// Forked by a zygote the test process forked before `main` (a process
    /// started for one test by its exact name, as nextest does).
    ZygoteForkedEarly,
    /// Forked by a zygote the test process executed at its first isolated
    /// test.
    ZygoteExecuted,
    /// Executed (the plain path).
    Executed,
}

/// One run of `shows_what_it_was_given` with `args`: what its PID 2 was
/// given, and how it started.
fn given(args: &[&str], zygote: &str) -> (String, Started) {
    let run = run_cases(
        args,
        &[
            ("ISOLATED_TEST_ZYGOTE", zygote),
            ("ISOLATED_TEST_E2E_MARK", "mark 1f3e"),
            ("ISOLATED_TEST_LOG", "isolated_test::parent::start=debug,isolated_test::parent::zygote=debug"),
        ],
    );
    assert_fails_with(&run, &["given: "]);
    let given = run.text.split("given: ").nth(1).and_then(|t| t.split(" :end-given").next()).unwrap().to_owned();
    let started = if run.text.contains("\"forked by the zygote\"") {
        // (The field names are set apart from their values by colours.)
        match (
            run.text.contains("\"forked before main\""),
            run.text.contains("\"executed at the first isolated test\""),
        ) {
            (true, false) => Started::ZygoteForkedEarly,
            (false, true) => Started::ZygoteExecuted,
            _ => panic!("the zygote's debug line says how it started:\n{}", run.text),
        }
    } else {
        assert!(run.text.contains("\"executed\""), "the debug line says how PID 2 started:\n{}", run.text);
        Started::Executed
    };
    (given, started)
}

#[test]
#[serial]
fn a_forked_pid2_is_given_what_an_executed_one_is() {
    let exact = ["--exact", "shows_what_it_was_given"];
    let (early, started) = given(&exact, "1");
    assert_eq!(started, Started::ZygoteForkedEarly, "a process for one test by its exact name forks its zygote early");
    // A filter, not an exact name (as `cargo test NAME` runs): the zygote
    // is executed at the first isolated test.
    let (late, started) = given(&["shows_what_it_was_given"], "1");
    assert_eq!(started, Started::ZygoteExecuted, "a filtered run executes its zygote at the first test");
    let (executed, started) = given(&exact, "0");
    assert_eq!(started, Started::Executed, "ISOLATED_TEST_ZYGOTE=0 turns it off");
    assert_eq!(early, executed, "a PID 2 forked by a zygote forked early differs from an executed one");
    assert_eq!(late, executed, "a PID 2 forked by an executed zygote differs from an executed one");
    let cwd = std::env::current_dir().unwrap();
    for needle in [
        "pid=2 ppid=1 ",
        &format!(" cwd={} ", cwd.display()),
        " mark=mark 1f3e ",
        "\"ISOLATED_TEST_E2E_MARK\"",
        "\"/proc/sys ro\"",
        "\"/proc/keys ro\"",
    ] {
        assert!(early.contains(needle), "missing `{needle}` in {early}");
    }
    for leak in ["ISOLATED_TEST_SETUP", "ISOLATED_TEST_ZYGOTE_SOCKET"] {
        assert!(!early.contains(&format!("\"{leak}\"")), "{leak} reached the body: {early}");
    }
}

#[test]
#[serial]
fn without_the_zygote_every_verdict_is_the_same() {
    let plain = [("ISOLATED_TEST_ZYGOTE", "0")];
    let run = run_cases(&["--exact", "passes"], &plain);
    assert!(run.status.success() && run.text.contains("1 passed"), "{}", run.text);
    let run = run_cases(&["--exact", "panics"], &plain);
    assert_fails_with(&run, &["deliberate panic 7c1f", "cases.rs:", "stdout before the panic 4b4b"]);
    let run = run_cases(&["--exact", "returns_err"], &plain);
    assert_fails_with(&run, &["the test returned an error:", "deliberate error 9a2e"]);
    let run = run_cases(&["--exact", "aborts"], &plain);
    assert_fails_with(&run, &["the test process was killed by SIGABRT (6)", "while the body ran"]);
    let run = run_cases(&["--exact", "exits_early"], &plain);
    assert_fails_with(&run, &["exited with status 0 while the body ran without reporting a result"]);
    let fault = [plain[0], ("ISOLATED_TEST_INJECT_SETUP_FAULT", "pivot_root")];
    let run = run_cases(&["--exact", "setup_fault"], &fault);
    assert_fails_with(&run, &["sandbox setup failed at step `pivot_root`", "caused by: EINVAL"]);
    assert!(!run.text.contains("BODY RAN 3e8b"), "the body ran after a failed setup:\n{}", run.text);
}

/// The step and the errno of a failed setup, in a sandbox made for the
/// test when it starts, and in one made ahead, whose setup failed before
/// its test was known (the third of three tests of one process that ask
/// for the same sandbox: the injected fault fails every setup).
#[test]
#[serial]
fn a_setup_failure_names_the_step_and_the_errno() {
    for (step, needle) in [
        ("pivot_root", "failed to pivot_root into `.` (old root at `oldroot`)"),
        ("mount_proc", "failed to mount proc at `/proc`"),
        ("sethostname", "failed to set the hostname to `isolated-test`"),
    ] {
        let fault = [("ISOLATED_TEST_INJECT_SETUP_FAULT", step)];
        let run = run_cases(&["--exact", "setup_fault"], &fault);
        assert_fails_with(&run, &[&format!("sandbox setup failed at step `{step}`"), needle, "caused by: EINVAL"]);
        assert!(!run.text.contains("BODY RAN 3e8b"), "the body ran after a failed setup:\n{}", run.text);
        let log = ("ISOLATED_TEST_LOG", "isolated_test::parent::ahead=debug");
        let args = ["--exact", "passes", "returns_err", "setup_fault", "--test-threads=1"];
        let run = run_cases(&args, &[fault[0], log]);
        // In libtest's order: `passes` and `returns_err` in sandboxes of
        // their own, the second having the next one made ahead.
        assert_eq!(run.text.matches("using the sandbox made ahead").count(), 1, "{}", run.text);
        assert!(run.text.contains("3 failed"), "{}", run.text);
        let failed = format!("sandbox setup failed at step `{step}`");
        assert_eq!(run.text.matches(&failed).count(), 3, "{}", run.text);
        assert!(!run.text.contains("BODY RAN 3e8b"), "the body ran after a failed setup:\n{}", run.text);
    }
}

#[test]
#[serial]
fn a_timeout_kills_the_whole_sandbox_and_shows_the_tree() {
    let started = Instant::now();
    let run = run_cases(&["--exact", "hangs_with_stubborn_children"], &[]);
    let took = started.elapsed();
    assert_fails_with(
        &run,
        &[
            "timed out after 1s while the body ran",
            "the whole sandbox was killed",
            "sleep 1000.7001",
            "sleep 1000.7002",
        ],
    );
    // Generous bound: the point is "promptly", not "within N ms".
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert_none_left("1000.7001");
    assert_none_left("1000.7002");
}

#[test]
#[serial]
fn ignored_tests_really_run_under_every_flag_spelling() {
    for flags in [
        &["--ignored"][..],
        &["--include-ignored"],
        &["--nocapture", "--ignored"],
        &["--no-capture", "--ignored"],
        &["--ignored", "--test-threads=1"],
    ] {
        let mut args = flags.to_vec();
        args.extend(["--exact", "ignored_panics"]);
        let run = run_cases(&args, &[]);
        assert_fails_with(&run, &["ignored test ran 51d0"]);
    }
}

#[test]
#[serial]
fn ignored_tests_really_run_under_nextest() {
    let out = Command::new(cargo())
        .args([
            "nextest",
            "run",
            "-p",
            "isolated-test-tests",
            "--test",
            "cases",
            "--run-ignored",
            "only",
            "--no-fail-fast",
            "-E",
            "test(=ignored_panics)",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "nextest reported success for a panicking ignored test:\n{text}");
    assert!(text.contains("ignored test ran 51d0"), "{text}");
    assert!(text.contains("1 failed"), "{text}");
}

/// The host PIDs of every descendant of `pid`.
fn descendants(pid: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else { continue };
        for task in tasks.flatten() {
            let kids = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for kid in kids.split_whitespace().filter_map(|k| k.parse::<u32>().ok()) {
                let start = std::fs::read_to_string(format!("/proc/{kid}/stat")).unwrap_or_default();
                out.push((kid, start.split(' ').nth(21).unwrap_or("").to_owned()));
                stack.push(kid);
            }
        }
    }
    out
}

fn still_alive(procs: &[(u32, String)]) -> Vec<u32> {
    procs
        .iter()
        .filter(|(pid, start)| {
            let now = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Same PID and same start time: the same process, not a reuse.
            now.split(' ').nth(21) == Some(start.as_str()) && !now.contains(") Z ")
        })
        .map(|(pid, _)| *pid)
        .collect()
}

/// Starts `ready_then_sleep`, waits for READY, and returns the child and
/// every process of its sandbox.
fn start_ready_case(own_group: bool) -> (std::process::Child, Vec<(u32, String)>) {
    let mut cmd = Command::new(cases_binary());
    cmd.args(["--exact", "ready_then_sleep", "--nocapture"]).stdout(Stdio::piped()).stderr(Stdio::null());
    if own_group {
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("the case ended before READY").unwrap();
        if line.contains("READY") {
            break;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while processes_matching("1000.7004").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let procs = descendants(child.id());
    assert!(procs.len() >= 4, "expected PID 1, PID 2 and two sleepers, got {procs:?}");
    (child, procs)
}

/// The processes among `procs` (descendants of a test process) that are a
/// zygote (see `zygote` in the harness): a copy of the test binary in the
/// host's PID namespace. The PID 1 and PID 2 it clones are copies too, but
/// in a namespace of their own. (An executed zygote also has
/// `--isolated-test-zygote` in its command line; one forked before `main`
/// has the test process's, and the name `isolated-zygote`.)
fn zygotes(procs: &[(u32, String)]) -> Vec<u32> {
    let binary = std::fs::canonicalize(cases_binary()).unwrap();
    procs
        .iter()
        .filter(|(pid, _)| {
            let copy = std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == binary);
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let host_only = status.lines().any(|l| l.starts_with("NSpid:") && l.split_whitespace().count() == 2);
            copy && host_only
        })
        .map(|(pid, _)| *pid)
        .collect()
}

fn assert_all_gone(procs: &[(u32, String)]) {
    wait_until_empty("sandbox processes survived the test process", || still_alive(procs));
    assert_none_left("1000.7003");
    assert_none_left("1000.7004");
}

#[test]
#[serial]
fn killing_the_test_process_kills_its_sandbox() {
    let cgroups_before = sandbox_cgroups();
    let (mut child, procs) = start_ready_case(false);
    // The zygote that cloned the sandbox is among them, and goes too.
    assert_eq!(zygotes(&procs).len(), 1, "expected one zygote among {procs:?}");
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    assert_all_gone(&procs);
    // Its cgroup could not be removed by the dead process; the next sandbox
    // collects it.
    let run = run_cases(&["--exact", "passes"], &[]);
    assert!(run.status.success(), "{}", run.text);
    wait_until_empty("cgroups left behind", || {
        sandbox_cgroups().into_iter().filter(|c| !cgroups_before.contains(c)).collect()
    });
}

/// Whether this process may create cgroups for the limits (root, or a
/// delegated cgroup v2 subtree): asked of the harness itself, with a limit
/// from the environment on a test that asks for none. As root it must be.
fn limits_enforceable() -> bool {
    let run = run_cases(&["--exact", "passes"], &[("ISOLATED_TEST_MEMORY", "64M")]);
    if !run.status.success() {
        assert!(!rustix::process::geteuid().is_root(), "as root the limits must be enforceable:\n{}", run.text);
        assert!(run.text.contains("cannot enforce the resource limits asked for"), "{}", run.text);
    }
    run.status.success()
}

#[test]
#[serial]
fn resource_limits_hold_and_the_verdict_names_the_limit() {
    let before = HostSnapshot::capture().unwrap();
    if !limits_enforceable() {
        // Rootless without a delegated cgroup: a limit asked for is never
        // silently dropped.
        for case in ["memory_hog", "fork_bomb", "tmpfs_fills_up", "cpu_spinner"] {
            let run = run_cases(&["--exact", case], &[]);
            assert_fails_with(&run, &["cannot enforce the resource limits asked for", "fix: "]);
        }
        assert!(before.diff(&HostSnapshot::capture().unwrap()).is_empty());
        return;
    }
    // Memory: the OOM killer ends the test, and the verdict says so.
    let run = run_cases(&["--exact", "memory_hog"], &[]);
    assert_fails_with(
        &run,
        &["killed by the OOM killer: memory limit 64.0 MiB reached (peak 64", "resources: peak memory"],
    );
    assert!(!run.text.contains("6d6e"), "the hog outgrew its limit:\n{}", run.text);

    // Processes: a fork bomb stops at the limit; the host's process count
    // barely moves and nothing survives the sandbox.
    let host_procs = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok()))
            .count()
    };
    let procs_before = host_procs();
    let run = run_cases(&["--exact", "fork_bomb", "--nocapture"], &[]);
    assert!(run.status.success(), "{}", run.text);
    assert!(run.text.contains("fork refused after") && run.text.contains("7e7e"), "{}", run.text);
    assert_none_left("1000.7101");
    let grown = host_procs().saturating_sub(procs_before);
    assert!(grown < 32, "{grown} more processes on the host after the fork bomb");

    // tmpfs: bounded, and a full one is an error the test sees.
    let run = run_cases(&["--exact", "tmpfs_fills_up", "--nocapture"], &[]);
    assert!(run.status.success() && run.text.contains("No space left on device"), "{}", run.text);

    // CPU: measured CPU time under a fifth of a core, with room for one
    // quota period of slack and a noisy machine (which only lowers it).
    let run = run_cases(&["--exact", "cpu_spinner", "--nocapture"], &[]);
    assert!(run.status.success(), "{}", run.text);
    let ms: u64 = run
        .text
        .lines()
        .find_map(|l| l.strip_prefix("cpu time ")?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no cpu time reported:\n{}", run.text));
    assert!(ms <= 600, "{ms} ms of CPU time in 1 s under `cpu = \"0.2\"`");

    let after = HostSnapshot::capture().unwrap();
    assert!(before.diff(&after).is_empty(), "{:?}", before.diff(&after));
}

#[test]
#[serial]
fn sigterm_to_the_process_group_kills_the_sandbox() {
    // What nextest does on its own timeout.
    let (mut child, procs) = start_ready_case(true);
    rustix::process::kill_process_group(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    child.wait().unwrap();
    assert_all_gone(&procs);
}

#[test]
#[serial]
fn polluting_tests_leave_the_host_as_it_was() {
    let before = HostSnapshot::capture().unwrap();
    let hostname_before = rustix::system::uname().nodename().to_owned();
    let names = ["pollutes_everything", "pollutes_in_parallel_a", "pollutes_in_parallel_b"];
    let run = run_cases(&[&names[..], &["--exact", "--test-threads=3"]].concat(), &[]);
    assert!(run.status.success(), "{}", run.text);
    assert!(run.text.contains("3 passed"), "{}", run.text);
    let after = HostSnapshot::capture().unwrap();
    let diff = before.diff(&after);
    assert!(diff.is_empty(), "the host changed:\n{}", diff.join("\n"));
    assert_eq!(rustix::system::uname().nodename(), hostname_before.as_c_str());
    for path in [
        "/etc/isolated-test-e2e-pollution",
        "/tmp/isolated-test-e2e-pollution",
        "/usr/local/isolated-test-e2e-pollution",
    ] {
        assert!(!Path::new(path).exists(), "{path} reached the host");
    }
    assert_ne!(std::fs::read_to_string("/etc/hosts").unwrap(), "10.9.9.9 polluted\n");
    assert_none_left("1000.7005");
    assert_none_left("1000.7006");
}

/// Copies the cases binary where [`isolated_test_fixtures::NOBODY`] can execute it, wherever the
/// checkout lives.
fn cases_copy_for_nobody() -> (tempfile::TempDir, PathBuf) {
    isolated_test_fixtures::copy_for_nobody(cases_binary()).unwrap()
}

fn run_of(output: Output) -> Run {
    Run {
        status: output.status,
        text: format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)),
    }
}

/// In a user namespace of our own where user namespaces are blocked (the
/// host's setting is untouched, see the fixture), as an unprivileged user.
#[test]
#[serial]
#[ignore = "needs real root (writes another namespace's id map): sudo ./scripts/test.sh runs it"]
fn blocked_user_namespaces_fail_with_cause_and_fix() {
    let (dir, bin) = cases_copy_for_nobody();
    let run = run_of(run_with_user_namespaces_blocked(&bin, &["--exact", "passes"], dir.path()).unwrap());
    assert_fails_with(
        &run,
        &[
            "could not start its sandbox: failed to create the sandbox namespaces with clone3",
            "cause: user namespaces are disabled on this host (user.max_user_namespaces = 0)",
            "fix: sudo sysctl -w user.max_user_namespaces=",
        ],
    );
}

#[test]
#[serial]
#[ignore = "needs real root (writes another namespace's id map): sudo ./scripts/test.sh runs it"]
fn the_explicit_skip_is_loud_and_only_on_request() {
    let (dir, bin) = cases_copy_for_nobody();
    let args = ["--exact", "passes", "should_panic_passes"];
    let wrapper = dir.path().join("skip.sh");
    std::fs::write(&wrapper, format!("#!/bin/sh\nISOLATED_TEST_SKIP_UNSUPPORTED=1 exec {} \"$@\"\n", bin.display()))
        .unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run = run_of(run_with_user_namespaces_blocked(&wrapper, &args, dir.path()).unwrap());
    assert!(run.status.success(), "{}", run.text);
    // A #[should_panic] test is skipped the same way: passed, said loudly.
    assert!(run.text.contains("2 passed; 0 failed"), "{}", run.text);
    for test in ["passes", "should_panic_passes"] {
        let skipped = format!("SKIPPED isolated test `{test}`: NOT RUN because ISOLATED_TEST_SKIP_UNSUPPORTED=1");
        assert!(run.text.contains(&skipped), "{}", run.text);
    }
    assert!(run.text.contains("user.max_user_namespaces = 0"), "{}", run.text);
}

/// Runs the cases binary as an unprivileged user: directly when we are one,
/// as [`isolated_test_fixtures::NOBODY`] (on a copy it can execute) when root.
fn run_cases_unprivileged(args: &[&str]) -> Run {
    if rustix::process::geteuid().as_raw() != 0 {
        return run_cases(args, &[]);
    }
    let (dir, bin) = cases_copy_for_nobody();
    run_of(run_as_nobody(&bin, args, dir.path()).unwrap())
}

#[test]
#[serial]
fn privileged_needs_real_root_and_says_so() {
    let run = run_cases_unprivileged(&["--exact", "privileged_case"]);
    assert_fails_with(
        &run,
        &[
            "could not start its sandbox: `privileged = true` needs real root (this process runs as uid",
            "run the tests with sudo",
        ],
    );
}

fn assert_setup_fails(case: &str, env: &[(&str, &str)], needles: &[&str]) {
    let run = run_cases(&["--exact", case], env);
    assert_fails_with(&run, needles);
    assert!(!run.text.contains("BODY RAN 3e8b"), "the body ran after a failed setup:\n{}", run.text);
}

#[test]
#[serial]
fn bad_rootfs_inputs_name_the_step_the_path_and_the_errno_and_change_nothing() {
    let before = HostSnapshot::capture().unwrap();
    assert_setup_fails(
        "rootfs_missing_dir",
        &[],
        &[
            "sandbox setup failed at step `check_rootfs`",
            "failed to use the image directory `/nonexistent/isolated-test-image`",
            "caused by: ENOENT",
        ],
    );
    assert_setup_fails(
        "rootfs_file_as_dir",
        &[],
        &["step `check_rootfs`", "the image directory `/etc/passwd`", "caused by: ENOTDIR"],
    );
    assert_setup_fails(
        "rootfs_missing_bind_source",
        &[],
        &["step `check_rootfs`", "bind host `/nonexistent/isolated-test-src` to `/srv/x`", "caused by: ENOENT"],
    );
    assert_setup_fails(
        "rootfs_bind_into_read_only_base",
        &[],
        &["step `mkdir`", "failed to create directory `/usr/isolated-test-new-dir`", "caused by: EROFS"],
    );
    let after = HostSnapshot::capture().unwrap();
    assert!(before.diff(&after).is_empty(), "{:?}", before.diff(&after));
}

/// A scratch directory with a cache of its own for the archive cases.
fn archive_workspace() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new().prefix("isolated-test-e2e-").tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let image = isolated_test_fixtures::images::busybox_image().expect("busybox-static must be installed");
    let archive = dir.path().join("image.tar.gz");
    isolated_test_fixtures::images::tar_gz_from_dir(&image, &archive).unwrap();
    let bytes = std::fs::read(&archive).unwrap();
    std::fs::write(dir.path().join("truncated.tar.gz"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(dir.path().join("corrupt.tar.gz"), b"\x1f\x8b\x08\x00this is not deflate data at all").unwrap();
    std::fs::create_dir(dir.path().join("cache")).unwrap();
    dir
}

fn cache_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
#[serial]
fn corrupt_and_truncated_archives_fail_cleanly() {
    let work = archive_workspace();
    let dir = work.path().to_str().unwrap();
    let cache = work.path().join("cache");
    let env = [("ISOLATED_TEST_E2E_DIR", dir), ("ISOLATED_TEST_CACHE_DIR", cache.to_str().unwrap())];
    for (case, file) in [("rootfs_corrupt_archive", "corrupt.tar.gz"), ("rootfs_truncated_archive", "truncated.tar.gz")]
    {
        assert_setup_fails(
            case,
            &env,
            &["sandbox setup failed at step `unpack_tar`", &format!("failed to unpack `{dir}/{file}`")],
        );
    }
    assert_eq!(cache_entries(work.path()), Vec::<String>::new(), "a failed unpack left something in the cache");
}

#[test]
#[serial]
fn many_tests_share_one_archive_unpacked_once() {
    let work = archive_workspace();
    let cache = work.path().join("cache");
    let env = [
        ("ISOLATED_TEST_E2E_DIR", work.path().to_str().unwrap()),
        ("ISOLATED_TEST_CACHE_DIR", cache.to_str().unwrap()),
    ];
    let before = HostSnapshot::capture().unwrap();
    let run = run_cases(&["archive_stress_", "--test-threads=8"], &env);
    assert!(run.status.success(), "{}", run.text);
    assert!(run.text.contains("8 passed"), "{}", run.text);
    let entries = cache_entries(work.path());
    assert_eq!(entries.len(), 1, "exactly one unpacked copy, no leftovers: {entries:?}");
    assert!(entries[0].starts_with("tar-"), "{entries:?}");
    let root = cache.join(&entries[0]);
    assert_eq!(
        std::fs::read_to_string(root.join("etc/os-release")).unwrap().lines().next(),
        Some("ID=isolated-test-busybox"),
        "a test's write reached the unpacked image"
    );
    let after = HostSnapshot::capture().unwrap();
    let diff: Vec<String> = before.diff(&after);
    assert!(diff.is_empty(), "the host changed:\n{}", diff.join("\n"));
}

#[test]
#[serial]
fn teardown_verify_names_busy_mounts_and_their_holders() {
    let run = run_cases(&["--exact", "teardown_busy"], &[]);
    assert_fails_with(
        &run,
        &[
            "the body passed, but teardown = \"verify\" found busy mounts",
            "mount `/tmp/isolated-test-busy-cwd` is busy (EBUSY)",
            "(sleep): working directory `/tmp/isolated-test-busy-cwd`",
            "mount `/srv/isolated-test-busy-fd` is busy (EBUSY)",
            "open file `/srv/isolated-test-busy-fd/held`",
        ],
    );
    assert_none_left("1000.7007");
}

#[test]
#[serial]
fn the_pollution_report_names_every_category() {
    let run = run_cases(&["--exact", "pollutes_everything"], &[("ISOLATED_TEST_REPORT", "1")]);
    assert!(run.status.success(), "{}", run.text);
    let mut needles = vec![
        "isolated test `pollutes_everything`: pollution report:",
        "added    /etc/isolated-test-e2e-pollution (file, 1 bytes, mode 644)",
        "  scratch (a fresh tmpfs here; on a real host this would be left behind):",
        "    added    /tmp/isolated-test-e2e-pollution (file, 1 bytes, mode 644)",
        "mount added:   /tmp/isolated-test-e2e-mnt (tmpfs)",
        "hostname: isolated-test -> polluted-host",
        "network: + address 10.200.0.1",
        "network: + link isotest0 ",
        "network: - link lo <UP,LOWER_UP,RUNNING,LOOPBACK> mtu 65536",
        "sysctl net.ipv4.ip_forward: 0 -> 1",
        "sysctl net.ipv4.ping_group_range:",
        "process still running: pid ",
        "sleep 1000.7005",
    ];
    if rustix::process::geteuid().as_raw() == 0 {
        // Rootless, root-owned host files cannot be modified at all.
        needles.push("modified /etc/hosts (file, 18 bytes");
        needles.push("added    /usr/local/isolated-test-e2e-pollution (dir");
    }
    for needle in needles {
        assert!(run.text.contains(needle), "missing `{needle}` in:\n{}", run.text);
    }
    assert_none_left("1000.7005");
}

/// A test binary and the command line under `/tmp`, run from `/`: the
/// working directory `/` holds every path, yet the binaries' directory is
/// kept visible over the fresh `/tmp` (the zygote and an executed PID 2
/// run the test binary again there; `run` binds what its command names),
/// and `run` passes a command's output on byte for byte.
#[test]
#[serial]
fn binaries_under_tmp_run_from_the_root_find_themselves() {
    let dir = tempfile::Builder::new().prefix("isolated-test-e2e-").tempdir().unwrap();
    let (cases, cli) = (dir.path().join("cases"), dir.path().join("isolated-test"));
    std::fs::copy(cases_binary(), &cases).unwrap();
    std::fs::copy(cli_binary(), &cli).unwrap();
    for zygote in ["1", "0"] {
        let out = Command::new(&cases)
            .args(["--exact", "passes"])
            .current_dir("/")
            .env("ISOLATED_TEST_ZYGOTE", zygote)
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && text.contains("1 passed"), "ISOLATED_TEST_ZYGOTE={zygote}:\n{text}");
    }
    // And byte for byte: the binary is no text.
    let out = Command::new(&cli).args(["run", "--", "cat"]).arg(&cases).current_dir("/").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout == std::fs::read(&cases).unwrap(), "`run -- cat` changed the bytes it passed on");
}

/// Unmounts and removes a directory a test mounted a tmpfs on, however the
/// test ends.
struct MountedDir(PathBuf);

impl Drop for MountedDir {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A working directory on a host mount that the sandbox shows read-only
/// (a filesystem mounted below a top-level directory: a checkout on
/// `/mnt/data`) is copy-on-write, as the rest of the host's files: the
/// command can write there, and the host's files are unchanged after.
#[test]
#[serial]
#[ignore = "needs real root (mounts a tmpfs on the host): sudo ./scripts/test.sh runs it"]
fn a_working_directory_on_a_deeper_host_mount_is_copy_on_write() {
    let dir = tempfile::Builder::new().prefix("isolated-test-deeper-").tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let dir = MountedDir(dir.keep());
    rustix::mount::mount("tmpfs", &dir.0, "tmpfs", rustix::mount::MountFlags::empty(), c"size=1m").unwrap();
    std::fs::write(dir.0.join("host.txt"), "host\n").unwrap();
    let out = Command::new(cli_binary())
        .args(["run", "--", "sh", "-c", "echo new > new.txt && echo sandbox >> host.txt && cat host.txt"])
        .current_dir(&dir.0)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("host\nsandbox\n"), "{text}");
    assert_eq!(std::fs::read_to_string(dir.0.join("host.txt")).unwrap(), "host\n");
    assert!(!dir.0.join("new.txt").exists());
}

/// The `isolated-test` command line (see `isolated_test_fixtures::cli_binary`).
fn cli_binary() -> &'static Path {
    isolated_test_fixtures::cli_binary(Path::new(env!("CARGO_MANIFEST_DIR")), !cfg!(debug_assertions))
}

/// A sandbox inside a sandbox is refused by the kernel (no fresh procfs
/// under a /proc with locked parts); the failure says so instead of a bare
/// EPERM, and the outer sandbox's seccomp filter (clone3, cgroup
/// namespaces) does not get in the way of saying it.
#[test]
#[serial]
fn a_sandbox_inside_a_sandbox_fails_naming_the_cause() {
    let cli = cli_binary();
    let dir = cli.parent().unwrap().display().to_string();
    let inner = "/opt/isolated-test-e2e-bin/isolated-test";
    let out = Command::new(cli)
        .args(["run", "--bind", &format!("{dir}:/opt/isolated-test-e2e-bin"), "--", inner, "run", "--", "true"])
        .output()
        .unwrap();
    let run = run_of(out);
    assert_eq!(run.status.code(), Some(125), "the inner run should fail to make its sandbox:\n{}", run.text);
    for needle in ["sandbox setup failed at step `mount_proc`", "sandboxes do not nest"] {
        assert!(run.text.contains(needle), "missing `{needle}` in:\n{}", run.text);
    }
}

/// `isolated-test pair <cases binary> a b`: exit code and all output.
fn pair(a: &str, b: &str) -> (Option<i32>, String) {
    pair_with(a, b, &[])
}

/// The same, with `env` added.
fn pair_with(a: &str, b: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut command = Command::new(cli_binary());
    command.arg("pair").arg(cases_binary()).args([a, b]).envs(env.iter().copied());
    let out = command.output().unwrap();
    (out.status.code(), run_of(out).text)
}

fn assert_says(text: &str, needles: &[&str], absent: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
    }
    for absent in absent {
        assert!(!text.contains(absent), "unexpected `{absent}` in:\n{text}");
    }
}

/// A plain test whose binary exits with status 0 before libtest reports
/// it (`std::process::exit(0)` in the test) failed, in every run of a
/// pair, even one that prints libtest's summary of a pass itself; before,
/// status 0 was `passed`.
#[test]
#[serial]
fn pair_reads_the_verdict_libtest_reported_not_the_exit_status_alone() {
    let (exits, fakes) = ("plain_exits_zero_before_its_result", "plain_prints_a_pass_then_exits_zero");
    let why = |name: &str| {
        format!(
            "FAILED (the test process exited with status 0 before libtest reported a result for `{name}` \
             (std::process::exit called from the test?))"
        )
    };
    let (code, text) = pair(exits, fakes);
    assert_eq!(code, Some(0), "{text}");
    assert_says(
        &text,
        &[
            &format!("A `{exits}`: {}", why(exits)),
            &format!("B `{fakes}` after A: {}", why(fakes)),
            &format!("B `{fakes}` alone:   {}", why(fakes)),
            "verdict: A's leftovers do not change B's verdict",
        ],
        &[": passed"],
    );
    // Beside a test that passes, which still does.
    let (code, text) = pair("pair_a_leaves_a_marker", exits);
    assert_eq!(code, Some(0), "{text}");
    assert_says(&text, &["A `pair_a_leaves_a_marker`: passed", &format!("B `{exits}` alone:   {}", why(exits))], &[]);
}

/// An `#[isolated_test]` in a pair runs in a sandbox of its own, with its
/// own verdict, as under wrap (it is never nested in pair's sandbox, which
/// the kernel refuses): what an isolated A changes stays in its sandbox and
/// never reaches B. Before, every run failed at `mount_proc` (sandboxes do
/// not nest) and pair gave a verdict from them.
#[test]
#[serial]
fn pair_runs_an_isolated_test_in_a_sandbox_of_its_own() {
    let (code, text) = pair("pair_a_isolated_leaves_a_marker", "pair_b_trips_on_the_marker");
    assert_eq!(code, Some(0), "{text}");
    assert_says(
        &text,
        &[
            "A `pair_a_isolated_leaves_a_marker`: passed",
            "B `pair_b_trips_on_the_marker` after A: passed",
            "B `pair_b_trips_on_the_marker` alone:   passed",
            "verdict: A's leftovers do not change B's verdict",
            // The attribute's own report, of its own sandbox.
            "isolated test `pair_a_isolated_leaves_a_marker`: pollution report:",
            "added    /etc/isolated-test-pair-marker (file, 9 bytes",
        ],
        &["sandboxes do not nest", "found A's leftover marker"],
    );
    assert!(!Path::new("/etc/isolated-test-pair-marker").exists());
    // Both isolated: B's verdict is its own, a failure both times.
    let (code, text) = pair("passes", "panics");
    assert_eq!(code, Some(0), "{text}");
    assert_says(
        &text,
        &[
            "A `passes`: passed",
            "B `panics` after A: FAILED (exit 101)",
            "B `panics` alone:   FAILED (exit 101)",
            "deliberate panic 7c1f",
            "verdict: A's leftovers do not change B's verdict",
        ],
        &["sandboxes do not nest"],
    );
}

/// A pair whose runs could not run a test has no verdict: pair says why
/// and exits 125, whether its own sandbox failed, an isolated test's own
/// sandbox failed before its body, or an isolated B would have to run
/// among a plain A's leftovers (in pair's sandbox, where it cannot make
/// its own).
#[test]
#[serial]
fn pair_gives_no_verdict_from_runs_that_could_not_run_the_test() {
    for (a, b, env, said) in [
        (
            "rootfs_missing_dir",
            "pair_b_does_not_care",
            None,
            &[
                "no verdict: A `rootfs_missing_dir` (an #[isolated_test], run in a sandbox of its own) did not run: \
               that sandbox failed before its body started",
                "sandbox setup failed at step `check_rootfs`",
            ][..],
        ),
        (
            "pair_a_leaves_a_marker",
            "passes",
            None,
            &["no verdict: B `passes` is an #[isolated_test]: it makes a sandbox of its own from the host's files, \
               and sandboxes do not nest"][..],
        ),
        (
            "pair_a_leaves_a_marker",
            "pair_b_does_not_care",
            Some(("ISOLATED_TEST_INJECT_SETUP_FAULT", "mount_proc")),
            &["no verdict: sandbox setup failed at step `mount_proc`"][..],
        ),
    ] {
        let (code, text) = pair_with(a, b, &env.into_iter().collect::<Vec<_>>());
        assert_eq!(code, Some(125), "{a} {b}: {text}");
        assert_says(&text, said, &["verdict: A's", ": passed\n", "B `pair_b_does_not_care` alone"]);
    }
    assert!(!Path::new("/etc/isolated-test-pair-marker").exists());
}

#[test]
#[serial]
fn pair_shows_that_a_leftover_changes_b() {
    let (code, text) = pair("pair_a_leaves_a_marker", "pair_b_trips_on_the_marker");
    assert_eq!(code, Some(1), "{text}");
    for needle in [
        "A `pair_a_leaves_a_marker`: passed",
        "B `pair_b_trips_on_the_marker` after A: FAILED (exit 101)",
        "B `pair_b_trips_on_the_marker` alone:   passed",
        "verdict: A's leftovers change B's verdict (B passes alone, fails after A)",
        "added    /etc/isolated-test-pair-marker (file, 9 bytes",
        "found A's leftover marker",
    ] {
        assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
    }
    assert!(!Path::new("/etc/isolated-test-pair-marker").exists());
    // And when B does not care, the pair says so: B passes both times.
    let (code, text) = pair("pair_a_leaves_a_marker", "pair_b_does_not_care");
    assert_eq!(code, Some(0), "{text}");
    for needle in [
        "B `pair_b_does_not_care` after A: passed",
        "B `pair_b_does_not_care` alone:   passed",
        "verdict: A's leftovers do not change B's verdict",
    ] {
        assert!(
            text.contains(needle),
            "missing `{needle}` in:
{text}"
        );
    }
}

/// A program that is not a libtest binary (`harness = false`, a script
/// named by mistake) runs whatever its arguments: `pair` refuses it
/// without running it, since its `--list` would run on the host, outside
/// any sandbox.
#[test]
#[serial]
fn pair_never_runs_a_program_without_libtest_on_the_host() {
    let dir = tempfile::Builder::new().prefix("isolated-test-e2e-").tempdir().unwrap();
    let marker = dir.path().join("ran-on-the-host");
    let program = dir.path().join("custom-harness");
    std::fs::write(&program, format!("#!/bin/sh\necho \"$@\" > {}\n", marker.display())).unwrap();
    std::fs::set_permissions(&program, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = Command::new(cli_binary()).arg("pair").arg(&program).args(["a", "b"]).output().unwrap();
    let code = out.status.code();
    let text = run_of(out).text;
    assert!(!marker.exists(), "pair ran the program on the host with: {}", std::fs::read_to_string(&marker).unwrap());
    assert!(text.contains("is not a libtest test binary (harness = false"), "{text}");
    assert!(text.contains("it was not run"), "{text}");
    assert_eq!(code, Some(125), "{text}");
}

/// `isolated-test wrap` passes a test's output on as the bytes it is, as
/// nextest calls it (one test) and as cargo's runner (a suite, with
/// `--nocapture` or `RUST_TEST_NOCAPTURE=1`); before, bytes that are no
/// UTF-8 became U+FFFD, and the variable was not read.
#[test]
#[serial]
fn wrap_passes_output_that_is_no_text_through() {
    // The last as libtest takes RUST_TEST_NOCAPTURE=1: `--nocapture`.
    for (args, nocapture) in [
        (&["--exact", "prints_bytes_that_are_no_text", "--nocapture"][..], "0"),
        (&["prints_bytes_that_are_no_text", "--nocapture"][..], "0"),
        (&["prints_bytes_that_are_no_text"][..], "1"),
    ] {
        let mut wrap = Command::new(cli_binary());
        wrap.arg("wrap").arg(cases_binary()).args(args).env("RUST_TEST_NOCAPTURE", nocapture);
        let out = wrap.output().unwrap();
        let shown = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{args:?}: {shown}{}", String::from_utf8_lossy(&out.stderr));
        let raw = b"before \xff\xfe 5e1a\n";
        assert!(out.stdout.windows(raw.len()).any(|w| w == raw), "{args:?}: {shown}");
    }
}

/// A program wrap runs whole (`cargo run` with wrap as the target runner,
/// `harness = false`) reads wrap's standard input, as it would without
/// wrap; before, it read nothing (/dev/null).
#[test]
#[serial]
fn wrap_gives_a_program_run_whole_its_standard_input() {
    use std::io::Write;
    let dir = tempfile::Builder::new().prefix("isolated-test-e2e-").tempdir().unwrap();
    let program = dir.path().join("asks");
    std::fs::write(&program, "#!/bin/sh\nread line\necho \"got-$line on $(hostname)\"\n").unwrap();
    std::fs::set_permissions(&program, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut wrap = Command::new(cli_binary())
        .arg("wrap")
        .arg(&program)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wrap.stdin.take().unwrap().write_all(b"an answer\n").unwrap();
    let out = run_of(wrap.wait_with_output().unwrap());
    assert!(out.status.success(), "{}", out.text);
    assert!(out.text.contains("got-an answer on isolated-test"), "{}", out.text);
}

/// A named test that would not run (no such test, or `#[ignore]`d) is no
/// pass: `pair` says why, makes no sandbox and exits 125, as when it
/// cannot use the test binary.
#[test]
#[serial]
fn pair_refuses_a_test_that_would_not_run() {
    // `ignored_panics` is #[ignore]d: `--exact` alone skips it.
    for (a, b, said) in [
        ("tests::no_such_test_4e1c", "passes", "A `tests::no_such_test_4e1c`: not run: "),
        ("ignored_panics", "passes", "A `ignored_panics`: not run: it is #[ignore]d"),
        ("pair_a_leaves_a_marker", "ignored_panics", "B `ignored_panics`: not run: it is #[ignore]d"),
    ] {
        let (code, text) = pair(a, b);
        assert_eq!(code, Some(125), "{text}");
        for needle in [said, "a test that is not run neither passes nor fails"] {
            assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
        }
        // No verdict, and no sandbox: nothing ran.
        for absent in [": passed", "FAILED", "== A then B", "51d0", "verdict:"] {
            assert!(!text.contains(absent), "unexpected `{absent}` in:\n{text}");
        }
    }
    let (_, text) = pair("tests::no_such_test_4e1c", "passes");
    assert!(text.contains("has no test of that exact name"), "{text}");
}

/// `run --json`'s document is the last line of standard output, on a line
/// of its own, whether or not the command's output ended with a newline;
/// nothing is added to output that did.
#[test]
#[serial]
fn run_json_is_the_last_line_of_stdout_on_a_line_of_its_own() {
    for (command, output) in [
        (&["printf", "no-newline"][..], "no-newline\n"),
        (&["printf", "two\\nlines"], "two\nlines\n"),
        (&["echo", "a line"], "a line\n"),
        (&["true"], ""),
    ] {
        let out = Command::new(cli_binary()).args(["run", "--json", "--"]).args(command).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{command:?}: {}", run_of(out.clone()).text);
        let stdout = String::from_utf8(out.stdout).unwrap();
        let document = stdout.strip_prefix(output).unwrap_or_else(|| panic!("{command:?}: {stdout:?}"));
        let line = document.strip_suffix('\n').unwrap_or_else(|| panic!("{command:?}: {stdout:?}"));
        assert!(!line.contains('\n'), "{command:?}: {stdout:?}");
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{command:?}: {e}: {stdout:?}"));
        assert_eq!(value["command"], serde_json::json!(command), "{stdout}");
    }
}

#[test]
#[serial]
fn run_streams_output_reports_and_exits_with_the_command_status() {
    let before = HostSnapshot::capture().unwrap();
    let out = Command::new(cli_binary())
        .args(["run", "--hostname", "runbox", "--seed-file", "/etc/isolated-test-seed=seeded", "--"])
        .args(["sh", "-c"])
        .arg(
            "cat /etc/isolated-test-seed; echo; echo to-stderr >&2; echo x > /etc/isolated-test-run; \
             hostname renamed; ip link add isotest0 type veth peer name isotest1; \
             echo 1 > /proc/sys/net/ipv4/ip_forward; exit 7",
        )
        .output()
        .unwrap();
    let text = run_of(out.clone()).text;
    assert_eq!(out.status.code(), Some(7), "{text}");
    for needle in [
        "seeded",
        "to-stderr",
        "added    /etc/isolated-test-run (file, 2 bytes",
        "hostname: runbox -> renamed",
        "network: + link isotest0 ",
        "sysctl net.ipv4.ip_forward: 0 -> 1",
    ] {
        assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
    }
    assert!(!text.contains("isolated-test-seed ("), "seeded state is the start, not a change:\n{text}");
    let json = Command::new(cli_binary()).args(["run", "--json", "--", "true"]).output().unwrap();
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["exit_code"], 0);
    assert_eq!(value["report"]["files"], serde_json::json!([]));
    let after = HostSnapshot::capture().unwrap();
    assert!(before.diff(&after).is_empty(), "{:?}", before.diff(&after));
    assert!(!Path::new("/etc/isolated-test-run").exists());
}

#[test]
#[serial]
fn forbid_pollution_fails_a_polluting_test_with_the_report() {
    let run = run_cases(&["--exact", "forbid_pollution_violated"], &[]);
    assert_fails_with(
        &run,
        &[
            "the test polluted its sandbox (forbid_pollution; allowed: [\"/etc/isolated-test-allowed*\"])",
            "added    /etc/isolated-test-forbidden (file, 1 bytes",
            "hostname: isolated-test -> forbidden",
        ],
    );
    assert!(!run.text.contains("isolated-test-allowed-ok ("), "an allowed path was reported:\n{}", run.text);
}

/// Coverage (`cargo llvm-cov`): what the sandbox writes beside the
/// `LLVM_PROFILE_FILE` it is given reaches the directory the user named,
/// under a unique name (`%p` is the same in every sandbox), and nothing of
/// the staging is left; the zygote is off, since a PID 2 forked from it
/// writes no profile. This checks the mechanism with an uninstrumented
/// binary; with `-C instrument-coverage`, the same run leaves one profile
/// of the test process and one of each sandbox's PID 2.
#[test]
#[serial]
fn coverage_profiles_written_in_the_sandbox_reach_the_named_directory() {
    let dir = tempfile::Builder::new().prefix("isolated-test-e2e-").tempdir_in("/tmp").unwrap();
    let profiles = dir.path().join("profiles");
    let pattern = profiles.join("cases-%p-%m.profraw");
    let env = [("LLVM_PROFILE_FILE", pattern.to_str().unwrap()), ("ISOLATED_TEST_LOG", "isolated_test::parent=debug")];
    let run = run_cases(&["--exact", "writes_beside_its_profile"], &env);
    assert!(run.status.success() && run.text.contains("1 passed"), "{}", run.text);
    let seen = std::fs::read_to_string(profiles.join("written-in-the-sandbox")).unwrap();
    let staging = profiles.join(".isolated-test-profiles-");
    assert!(seen.starts_with(staging.to_str().unwrap()), "the sandbox was told {seen}");
    assert!(seen.ends_with("-%m.profraw") && !seen.contains("%p"), "the sandbox was told {seen}");
    let left: Vec<_> = std::fs::read_dir(&profiles).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["written-in-the-sandbox"], "the staging directory was left");
    assert!(run.text.contains("LLVM_PROFILE_FILE is set (coverage)"), "{}", run.text);
    assert!(!run.text.contains("forked by the zygote"), "{}", run.text);
}

/// A directory made in a scratch tmpfs that the host's has too (as
/// util-linux `mount` makes `/run/mount`) leaves nothing behind on a real
/// host: no pollution. Where the host has none, it is.
#[test]
#[serial]
fn a_scratch_directory_the_host_has_is_no_pollution() {
    // In /tmp, which a non-root user can write too.
    let host_dir = tempfile::Builder::new().prefix("isolated-test-e2e-").tempdir_in("/tmp").unwrap();
    let name = host_dir.path().to_str().unwrap().to_owned();
    let env = [("ISOLATED_TEST_E2E_SCRATCH_DIR", name.as_str())];
    let run = run_cases(&["--exact", "makes_a_scratch_directory"], &env);
    assert!(run.status.success() && run.text.contains("1 passed"), "{}", run.text);
    drop(host_dir);
    let run = run_cases(&["--exact", "makes_a_scratch_directory"], &env);
    assert_fails_with(&run, &["the test polluted its sandbox", &format!("added    {name} (dir")]);
}

/// Files left in the scratch directories are pollution (they would be
/// left on a real host): listed as scratch, and they fail a test that
/// forbids pollution. The harness's own scaffolding there (rootless, the
/// crate directory and the test binary are kept visible below `/tmp`) is
/// not, and a test that cleans up passes with nothing to report.
/// `ISOLATED_TEST_HOSTNAME` and `ISOLATED_TEST_FORBID_POLLUTION` are the
/// defaults of tests that set none; a test's own setting wins, and a bad
/// value (of those, and of `ISOLATED_TEST_AHEAD` and `_REPORT`) fails
/// naming the variable.
#[test]
#[serial]
fn hostname_and_forbid_pollution_defaults_come_from_the_environment() {
    let run = run_cases(
        &["--exact", "hostname_from_the_environment"],
        &[("ISOLATED_TEST_HOSTNAME", "envbox"), ("ISOLATED_TEST_E2E_EXPECT_HOSTNAME", "envbox")],
    );
    assert!(run.status.success(), "{}", run.text);
    let run = run_cases(&["--exact", "passes"], &[("ISOLATED_TEST_HOSTNAME", "not a hostname")]);
    assert_fails_with(&run, &["ISOLATED_TEST_HOSTNAME=`not a hostname` is not a hostname"]);
    // Three variables read as a default when wrong until a user tried them.
    let run = run_cases(&["--exact", "passes"], &[("ISOLATED_TEST_AHEAD", "abc")]);
    assert_fails_with(&run, &["ISOLATED_TEST_AHEAD=\"abc\" is not a number of sandboxes", "use 0 (none) to 8"]);
    let run = run_cases(&["--exact", "passes"], &[("ISOLATED_TEST_REPORT", "yes")]);
    assert_fails_with(&run, &["ISOLATED_TEST_REPORT=\"yes\" is not understood: use 1"]);
    let run = run_cases(&["--exact", "passes"], &[("ISOLATED_TEST_ZYGOTE", "false")]);
    assert_fails_with(&run, &["ISOLATED_TEST_ZYGOTE=\"false\" is not understood: use 0 to run every test without"]);
    for fine in ["0", "1", ""] {
        let run = run_cases(&["--exact", "passes"], &[("ISOLATED_TEST_ZYGOTE", fine)]);
        assert!(run.status.success(), "ISOLATED_TEST_ZYGOTE={fine:?}: {}", run.text);
    }

    let forbid =
        |value: &str| run_cases(&["--exact", "writes_one_file_in_etc"], &[("ISOLATED_TEST_FORBID_POLLUTION", value)]);
    assert_fails_with(
        &forbid("1"),
        &[
            "the test polluted its sandbox (ISOLATED_TEST_FORBID_POLLUTION; allowed: [])",
            "added    /etc/isolated-test-e2e-env-forbid (file, 1 bytes",
        ],
    );
    let allowed = forbid(r#"["/etc/isolated-test-e2e-env-*"]"#);
    assert!(allowed.status.success(), "{}", allowed.text);
    let off = forbid("0");
    assert!(off.status.success(), "{}", off.text);
    assert_fails_with(&forbid("yes"), &["ISOLATED_TEST_FORBID_POLLUTION=`yes`: expected `1`"]);
    // The test's own setting wins over the variable's.
    let own = run_cases(&["--exact", "forbid_pollution_violated"], &[("ISOLATED_TEST_FORBID_POLLUTION", "0")]);
    assert_fails_with(&own, &["(forbid_pollution; allowed: [\"/etc/isolated-test-allowed*\"])"]);
    assert!(!Path::new("/etc/isolated-test-e2e-env-forbid").exists());
}

#[test]
#[serial]
fn scratch_leftovers_are_reported_and_fail_a_test_that_forbids_pollution() {
    let before = HostSnapshot::capture().unwrap();
    let run = run_cases(&["--exact", "leaves_scratch_files"], &[]);
    assert_fails_with(
        &run,
        &[
            "the test polluted its sandbox (forbid_pollution; allowed: [])",
            "  scratch (a fresh tmpfs here; on a real host this would be left behind):",
            "    added    /dev/shm/isolated-test-e2e-y (file, 1 bytes, mode 644)",
            "    added    /run/isolated-test-e2e-z (file, 1 bytes, mode 644)",
            "    added    /tmp/isolated-test-e2e-tempdir_x (dir, 0 bytes, mode 755)",
            "    added    /tmp/isolated-test-e2e-tempdir_x/file (file, 1 bytes, mode 644)",
        ],
    );
    let listed = run.text.lines().filter(|l| l.starts_with("    added    ")).count();
    assert_eq!(listed, 4, "only the test's leftovers, not the harness's scaffolding:\n{}", run.text);
    let run = run_cases(&["--exact", "cleans_up_its_scratch_files"], &[("ISOLATED_TEST_REPORT", "1")]);
    assert!(run.status.success(), "{}", run.text);
    assert!(
        run.text.contains("isolated test `cleans_up_its_scratch_files`: pollution report: nothing changed"),
        "{}",
        run.text
    );
    for path in ["/tmp/isolated-test-e2e-tempdir_x", "/dev/shm/isolated-test-e2e-y", "/run/isolated-test-e2e-z"] {
        assert!(!Path::new(path).exists(), "{path} reached the host");
    }
    let after = HostSnapshot::capture().unwrap();
    assert!(before.diff(&after).is_empty(), "{:?}", before.diff(&after));
}

#[test]
#[serial]
fn an_overlay_the_kernel_refuses_and_a_missing_busybox_are_named() {
    let before = HostSnapshot::capture().unwrap();
    assert_setup_fails(
        "rootfs_overlay_refused",
        &[],
        &[
            "sandbox setup failed at step `mount_overlay`: failed to mount an overlay of host `/proc/sys` at `/`",
            "caused by: EINVAL",
            "cause: overlayfs refused this lower directory",
        ],
    );
    assert_setup_fails(
        "rootfs_busybox",
        &[("ISOLATED_TEST_BUSYBOX", "/nonexistent/busybox")],
        &["step `find_busybox`", "`/nonexistent/busybox`", "install the package busybox-static"],
    );
    assert_setup_fails(
        "rootfs_busybox",
        &[("ISOLATED_TEST_BUSYBOX", "/bin/sh")],
        &["step `find_busybox`", "it is dynamically linked", "install the package busybox-static"],
    );
    let after = HostSnapshot::capture().unwrap();
    assert!(before.diff(&after).is_empty(), "{:?}", before.diff(&after));
}

#[test]
#[serial]
fn a_report_is_taken_even_when_the_test_hangs_past_its_deadline() {
    let run = run_cases(&["--exact", "hangs_after_polluting"], &[("ISOLATED_TEST_REPORT", "1")]);
    assert_fails_with(
        &run,
        &[
            "timed out after 1s while the body ran",
            "isolated test `hangs_after_polluting`: pollution report:",
            "added    /etc/isolated-test-before-the-hang (file, 1 bytes",
            "hostname: isolated-test -> hung-host",
        ],
    );
    // Without a report asked for, the kill is immediate and there is none.
    let run = run_cases(&["--exact", "hangs_after_polluting"], &[]);
    assert_fails_with(&run, &["timed out after 1s"]);
    assert!(!run.text.contains("pollution report"), "{}", run.text);
}

#[test]
#[serial]
fn a_failing_test_with_a_network_shows_its_state() {
    let before = HostSnapshot::capture().unwrap();
    let run = run_cases(&["--exact", "network_fails"], &[]);
    assert_fails_with(
        &run,
        &[
            "deliberate network failure 5e1d: client cannot reach 10.0.2.2",
            "network state (3 nodes):",
            "  node client (link to router (rate 4Mbit mtu 1400), switch lan):",
            "    link router: up <UP,LOWER_UP,RUNNING,BROADCAST,MULTICAST> mtu 1400\n",
            "      qdisc tbf 1: root rate 4Mbit burst ",
            "      addresses 10.0.1.1/24 fd77:0:0:1::1/64\n",
            "    link lan: up <UP,LOWER_UP,RUNNING,BROADCAST,MULTICAST> mtu 1500 qdisc noqueue\n",
            "      addresses 10.0.3.1/24 fd77:0:0:3::1/64\n",
            // The route to the server's link, through the router.
            "    route 10.0.2.0/24 via 10.0.1.2 dev router\n",
            "    route fd77:0:0:2::/64 via fd77:0:0:1::2 dev router\n",
            "  node router (link to client (rate 4Mbit mtu 1400), link to server (down), switch lan):",
            "    link server: down <BROADCAST,MULTICAST> mtu 1500 qdisc noqueue\n",
            "  node server (link to router (down)):",
            "  switches:\n    link lo: ",
            "    link lan-1: up <UP,LOWER_UP,RUNNING,BROADCAST,MULTICAST> mtu 1500 switch-port of lan",
            "(taken when the Network was dropped)",
        ],
    );
    // The server's side of the down link has no route out: shown as such.
    let server = run.text.split("  node server").nth(1).unwrap_or_default();
    assert!(!server.contains("via"), "{server}");

    let run = run_cases(&["--exact", "network_returns_err"], &[]);
    assert_fails_with(
        &run,
        &[
            "the test returned an error: link a-b: loss 250 % is outside 0 to 100",
            "network state (2 nodes):",
            "  node a (link to b (plain)):",
        ],
    );
    // No interface, namespace or /run/netns entry is left on the host.
    let after = HostSnapshot::capture().unwrap();
    assert!(before.diff(&after).is_empty(), "{:?}", before.diff(&after));
}

/// A host directory the cases see in their sandboxes and may write to as
/// whoever runs this (root, or the rootless pass's user): a fresh one in
/// the temp directory, which the cases run in, since the harness keeps the
/// working directory visible under the sandbox's own `/tmp`.
fn ahead_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("isolated-test-ahead-").tempdir().unwrap()
}

/// Runs the cases with `args` and `env` in `dir`, with `dir` in
/// `ISOLATED_TEST_E2E_AHEAD_DIR`.
fn run_cases_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(cases_binary());
    cmd.args(args)
        .current_dir(dir)
        .env_remove("ISOLATED_TEST_INJECT_SETUP_FAULT")
        .env("ISOLATED_TEST_E2E_AHEAD_DIR", dir)
        .envs(env.iter().copied());
    let Output { status, stdout, stderr } = cmd.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr));
    Run { status, text }
}

/// Runs `ahead::` of the cases in order with `env`, and returns the run's
/// text; every test passes.
fn run_ahead_cases(env: &[(&str, &str)]) -> String {
    let dir = ahead_dir();
    let mut all = vec![("ISOLATED_TEST_LOG", "isolated_test::parent::ahead=debug,isolated_test::parent::start=debug")];
    all.extend_from_slice(env);
    let run = run_cases_in(dir.path(), &["ahead::", "--test-threads=1"], &all);
    assert!(run.status.success(), "{}", run.text);
    assert!(run.text.contains("test result: ok. 14 passed"), "{}", run.text);
    run.text
}

/// Sandboxes made ahead (see `parent::ahead`): each serves a test that
/// asks for the same sandbox, and a test that asks for another one (its
/// own hostname, a changed environment) gets its own. Every test sees its
/// options, the environment and the host's files of its start, and nothing
/// a test before it left; nothing is left on the host afterwards.
#[test]
#[serial]
fn sandboxes_made_ahead_serve_only_the_tests_they_fit() {
    let before = HostSnapshot::capture().unwrap();
    let text = run_ahead_cases(&[]);
    let used = text.matches("using the sandbox made ahead").count();
    let dropped = text.matches("dropped the sandbox made ahead").count();
    // a1 and a2 start their own; from a3 on the one made during the test
    // before is used, but by c1 (another hostname), c2 (made for c1's
    // hostname) and d2 (another environment). One that does not fit is
    // dropped when the test finds it ready, or by the maker when the next
    // test asked for another before this one was built (tests faster than
    // the making: rootless, without a cgroup); both say so.
    assert!(used >= 5, "{used} sandboxes made ahead used, {dropped} dropped:\n{text}");
    assert!(dropped >= 2, "{used} sandboxes made ahead used, {dropped} dropped:\n{text}");
    wait_until_empty("cgroups of sandboxes made ahead", sandbox_cgroups);
    assert_none_left("--isolated-test-zygote");
    let changed = before.diff(&HostSnapshot::capture().unwrap());
    assert!(changed.is_empty(), "{changed:?}");
    // A run that fails ends through `exit(101)`: the one made ahead goes too.
    let dir = ahead_dir();
    let run = run_cases_in(dir.path(), &["ahead::a", "panics", "--test-threads=1"], &[]);
    assert!(run.text.contains("5 passed; 1 failed"), "{}", run.text);
    wait_until_empty("cgroups of sandboxes made ahead", sandbox_cgroups);
    assert_none_left("--isolated-test-zygote");
}

#[test]
#[serial]
fn isolated_test_ahead_0_makes_none() {
    let text = run_ahead_cases(&[("ISOLATED_TEST_AHEAD", "0")]);
    assert!(!text.contains("made ahead"), "{text}");
    // One sandbox for each of the twelve isolated tests, none more.
    assert_eq!(text.matches("sandbox started").count(), 12, "{text}");
    wait_until_empty("sandbox cgroups", sandbox_cgroups);
}

/// The real `cargo nextest run` on three cases: each test is a process of
/// its own, started `--exact NAME`, which forks its zygote before `main`;
/// verdicts are libtest's, and nothing is left on the host.
#[test]
#[serial]
#[ignore = "needs cargo-nextest; scripts/test.sh runs it with the other ignored tests"]
fn under_the_real_nextest_each_test_process_forks_its_zygote_before_main() {
    let before = HostSnapshot::capture().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["nextest", "run", "--locked", "--no-fail-fast", "-p", "isolated-test-tests", "--test", "cases"])
        .args(["--success-output", "immediate", "--failure-output", "immediate"])
        .args(["-E", "test(=passes) | test(=panics) | test(=returns_err)"])
        .env("ISOLATED_TEST_LOG", "isolated_test::parent::zygote=debug")
        .env("NO_COLOR", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let run = Run {
        status: out.status,
        text: format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    };
    assert_eq!(run.status.code(), Some(100), "nextest's code for failed tests:\n{}", run.text);
    assert!(run.text.contains("3 tests run: 1 passed, 2 failed"), "{}", run.text);
    assert!(run.text.lines().any(|l| l.contains("PASS") && l.ends_with(" passes")), "{}", run.text);
    for failing in [" panics", " returns_err"] {
        assert!(run.text.lines().any(|l| l.contains("FAIL") && l.ends_with(failing)), "{failing}:\n{}", run.text);
    }
    assert_eq!(
        run.text.matches("\"forked before main\"").count(),
        3,
        "one zygote forked early per test:\n{}",
        run.text
    );
    let zygotes_left = || {
        let out = Command::new("ps").args(["-eo", "stat=,comm="]).output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.ends_with(" isolated-zygote") && !l.starts_with('Z'))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    wait_until_empty("zygotes forked before main", zygotes_left);
    wait_until_empty("sandbox cgroups", sandbox_cgroups);
    let changed = before.diff(&HostSnapshot::capture().unwrap());
    assert!(changed.is_empty(), "{changed:?}");
}

/// What the flooding cases write (`FLOOD` in cases.rs).
const FLOOD: u64 = 1 << 30;

/// The most the test process (or `wrap`) may use while a sandbox floods
/// it with [`FLOOD`] bytes: it keeps a bounded part of them at a time.
/// Half the flood: the peak counts the processes it reaped too (the
/// sandbox's test binary, which reads its debug information when a
/// backtrace is printed: 115 MiB here, 292 MiB seen in a rootless CI run),
/// and holding the flood took 1 to 3 GiB before.
const FLOODED_RSS: u64 = FLOOD / 2;

/// A run whose output may be a flood: the bytes of it that were `flood`,
/// counted as they came and not kept; the rest, as text; and the peak
/// memory of the process and the descendants it waited for.
struct Flooded {
    status: std::process::ExitStatus,
    flood: u64,
    text: String,
    max_rss: u64,
}

impl Flooded {
    /// How many bytes the line that stands in for what was left out
    /// (`[isolated-test: 1020.0 MiB (1069547520 bytes) of this test's
    /// output left out here; ...]`) says were left out.
    fn left_out(&self) -> u64 {
        let marker = self.text.split("[isolated-test: ").nth(1).unwrap_or_else(|| panic!("no marker:\n{}", self.text));
        assert!(marker.contains(" bytes) of this test's output left out here; the first "), "{marker}");
        assert!(marker.contains("To see all of it, run the test with --nocapture]"), "{marker}");
        marker.split_once(" (").and_then(|(_, n)| n.split_once(" bytes)")).unwrap().0.parse().unwrap()
    }
}

/// Runs `command`, reading its standard output and error as they come (a
/// gigabyte would not fit the test's own memory as text), and measures its
/// peak memory: `wait4`'s usage of that one child, since the
/// `RUSAGE_CHILDREN` of this process holds every child it ever waited for
/// (cargo's builds among them).
#[allow(unsafe_code)]
// The child is waited for by wait4, which gives its usage; std's wait does not.
#[allow(clippy::zombie_processes)]
fn run_flooded(mut command: Command, flood: u8) -> Flooded {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let count = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let (all, mut buf) = (vec![flood; 64 * 1024], vec![0u8; 64 * 1024]);
            let (mut flooded, mut other) = (0u64, Vec::new());
            loop {
                let n = match pipe.read(&mut buf) {
                    Ok(0) => return (flooded, other),
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => panic!("reading the output: {e}"),
                };
                // Compared whole first (a memcmp, fast in a debug build too).
                if buf[..n] == all[..n] {
                    flooded += n as u64;
                    continue;
                }
                for byte in &buf[..n] {
                    if *byte == flood { flooded += 1 } else { other.push(*byte) }
                }
            }
        })
    };
    let stdout = count(Box::new(child.stdout.take().unwrap()));
    let stderr = count(Box::new(child.stderr.take().unwrap()));
    let pid = i32::try_from(child.id()).unwrap();
    let mut status = 0;
    // SAFETY: `rusage` is plain data that wait4 fills in.
    let mut usage = unsafe { std::mem::zeroed::<libc::rusage>() };
    // SAFETY: `pid` is our child, not yet waited for; both pointers are to
    // live locals. `child` is not waited for after this (it is only dropped).
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    let (out_flood, out_other) = stdout.join().unwrap();
    let (err_flood, err_other) = stderr.join().unwrap();
    Flooded {
        status: std::process::ExitStatus::from_raw(status),
        flood: out_flood + err_flood,
        text: format!("{}{}", String::from_utf8_lossy(&out_other), String::from_utf8_lossy(&err_other)),
        max_rss: u64::try_from(usage.ru_maxrss).unwrap() * 1024,
    }
}

/// The cases binary with `args`, as `run_cases` runs it, for
/// [`run_flooded`].
fn cases_command(args: &[&str]) -> Command {
    let mut command = Command::new(cases_binary());
    command.args(args).env_remove("ISOLATED_TEST_INJECT_SETUP_FAULT");
    without_backtraces(&mut command);
    command
}

/// Takes out what would change a flooded run's peak memory or output: a
/// panic's backtrace (symbolizing it reads the binary's debug information,
/// a hundred MiB, into memory) and the variable that means `--nocapture`.
fn without_backtraces(command: &mut Command) {
    command.env("RUST_BACKTRACE", "0").env_remove("RUST_LIB_BACKTRACE").env_remove("RUST_TEST_NOCAPTURE");
}

/// A sandbox that writes a gigabyte cannot grow the test process by as
/// much: a line without its newline is passed on in pieces, and of what
/// libtest captures only the head and the tail are kept, with a line
/// saying what was left out; with `--nocapture` every byte comes through.
/// Before, the test process held the whole unended line (1 GiB) and the
/// whole captured output (several times over, 3 GB).
#[test]
#[serial]
fn a_flooding_test_keeps_the_test_process_bounded() {
    let assert_bounded = |run: &Flooded, what: &str| {
        assert!(
            run.max_rss < FLOODED_RSS,
            "{what}: the test process grew to {} MiB while the sandbox wrote {} MiB",
            run.max_rss >> 20,
            FLOOD >> 20
        );
    };
    // Captured: what libtest shows of the failure is the head and the
    // tail, and the line between them counts the rest exactly.
    let run = run_flooded(cases_command(&["--exact", "flood_stdout_without_a_newline"]), b'~');
    assert_eq!(run.status.code(), Some(101), "{}", run.text);
    assert!(run.text.contains("flooded 1 GiB 2f6a") && run.text.contains("1 failed"), "{}", run.text);
    assert_eq!(run.left_out() + run.flood, FLOOD, "shown and left out add up to what was written");
    assert!(run.flood < 16 << 20, "{} bytes of the flood shown", run.flood);
    assert_bounded(&run, "captured");
    // --nocapture: every byte passes through.
    let run = run_flooded(cases_command(&["--exact", "flood_stdout_without_a_newline", "--nocapture"]), b'~');
    assert_eq!(run.status.code(), Some(101), "{}", run.text);
    assert_eq!(run.flood, FLOOD, "--nocapture shows all of it:\n{}", run.text);
    assert!(run.text.contains("flooded 1 GiB 2f6a") && !run.text.contains("[isolated-test: "), "{}", run.text);
    assert_bounded(&run, "--nocapture");
    // Lines on standard error, captured.
    let run = run_flooded(cases_command(&["--exact", "flood_stderr_with_lines"]), b'E');
    assert_eq!(run.status.code(), Some(101), "{}", run.text);
    assert!(run.text.contains("flooded 1 GiB of lines 3a7b"), "{}", run.text);
    assert!(run.left_out() > FLOOD - (16 << 20) && run.flood < 16 << 20, "{} bytes shown", run.flood);
    assert_bounded(&run, "lines on stderr");
}

/// `isolated-test wrap` keeps as little of a flooding plain test: as
/// cargo's runner (captured, and with `--nocapture`) and as nextest calls
/// it (one test, passed through).
#[test]
#[serial]
fn wrap_keeps_a_flooding_test_bounded() {
    let test = "flood_stdout_without_the_attribute";
    for (args, captured) in [
        (&["--exact", test, "--include-ignored"][..], true),
        (&["--exact", test, "--include-ignored", "--nocapture"][..], false),
        (&["--exact", test, "--nocapture", "--ignored"][..], false),
    ] {
        let mut wrap = Command::new(cli_binary());
        wrap.arg("wrap").arg(cases_binary()).args(args);
        without_backtraces(&mut wrap);
        let run = run_flooded(wrap, b'~');
        assert_eq!(run.status.code(), Some(101), "{args:?}: {}", run.text);
        assert!(run.text.contains("flooded 1 GiB 2f6a"), "{args:?}: {}", run.text);
        if captured {
            assert_eq!(run.left_out() + run.flood, FLOOD, "{args:?}: shown and left out add up");
        } else {
            assert_eq!(run.flood, FLOOD, "{args:?}: all of it passes through:\n{}", run.text);
        }
        assert!(
            run.max_rss < FLOODED_RSS,
            "{args:?}: wrap grew to {} MiB while the test wrote {} MiB",
            run.max_rss >> 20,
            FLOOD >> 20
        );
    }
}

/// The body writes 1 GiB without a newline on descriptor 3, the harness's
/// result channel: the test process drops the line once it is longer than
/// any message (256 MiB), searches only the new bytes of each read, and
/// the verdict says what happened. Before, it held the whole line and
/// searched all of it again at every read, spinning until the timeout.
#[test]
#[serial]
fn a_flood_on_the_result_channel_fails_naming_it() {
    let run = run_flooded(cases_command(&["--exact", "flood_the_result_channel"]), b'C');
    assert_fails_with(
        &Run { status: run.status, text: run.text.clone() },
        &[
            "something wrote a line of 1.0 GiB",
            "on the harness's result channel, descriptor 3 of the test process: more than the 256.0 MiB",
            "a descriptor it did not open",
        ],
    );
    assert!(!run.text.contains("timed out"), "{}", run.text);
    assert!(run.max_rss < 320 << 20, "the test process grew to {} MiB for 1 GiB written", run.max_rss >> 20);
}
