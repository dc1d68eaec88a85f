//! The configuration every role reads: the name of each environment
//! variable the harness reads or sets, the suite-wide defaults they carry
//! ([`defaults`]), the report switches ([`report`]) and the harness's own
//! logging. Below every process role: it imports nothing of theirs.

pub(crate) mod coverage;
pub(crate) mod defaults;
pub(crate) mod report;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Set by `isolated-test run` and `pair`: see [`for_a_command`].
static FOR_A_COMMAND: AtomicBool = AtomicBool::new(false);

/// Says that this process makes its sandboxes for a command given on
/// `isolated-test`'s command line (`run`, `pair`), not for tests.
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
pub(crate) fn make_for_a_command() {
    FOR_A_COMMAND.store(true, Ordering::Relaxed);
}

/// Whether the sandboxes are for a command (see [`make_for_a_command`]):
/// the fixes errors name are then the command line's (`sudo isolated-test
/// run`, `--privileged`), not the test suite's.
pub(crate) fn for_a_command() -> bool {
    FOR_A_COMMAND.load(Ordering::Relaxed)
}

/// The fix "as root", in the words of what is being run.
pub(crate) fn as_root() -> &'static str {
    if for_a_command() {
        "run isolated-test as root (sudo isolated-test ...)"
    } else {
        "run the tests as root (sudo env \"PATH=$PATH\" cargo test)"
    }
}

// Set by the user.

/// Environment variable that sets the timeout of tests that set none
/// (default [`DEFAULT_TIMEOUT`]), e.g. `90s`, `2m`.
pub const ENV_TIMEOUT: &str = "ISOLATED_TEST_TIMEOUT";
/// Environment variable with the hostname of tests that set none (default
/// [`DEFAULT_HOSTNAME`]).
pub const ENV_HOSTNAME: &str = "ISOLATED_TEST_HOSTNAME";
/// Environment variable that makes tests that set no `forbid_pollution`
/// fail when they change anything: `1` forbids every change, a list in the
/// attribute's syntax (`["/var/cache/**", "/tmp/**"]`) allows those paths.
pub const ENV_FORBID_POLLUTION: &str = "ISOLATED_TEST_FORBID_POLLUTION";
/// Environment variable that, set to `1`, prints every test's pollution
/// report.
pub const ENV_REPORT: &str = "ISOLATED_TEST_REPORT";
/// Environment variable with a tracing filter (`debug`, `isolated_test=trace`)
/// for the harness's own logs on stderr, in the parent and in the sandbox.
pub const ENV_LOG: &str = "ISOLATED_TEST_LOG";
/// Environment variable that, set to `1`, turns "this host cannot create a
/// sandbox" from a failure into a skip: the test returns without running and
/// a loud line goes straight to the terminal (past libtest's capture).
pub const ENV_SKIP_UNSUPPORTED: &str = "ISOLATED_TEST_SKIP_UNSUPPORTED";
/// Environment variable with the memory limit of tests that set none
/// (`256M`, `1G`).
pub const ENV_MEMORY: &str = "ISOLATED_TEST_MEMORY";
/// Environment variable with the process limit of tests that set none.
pub const ENV_PIDS: &str = "ISOLATED_TEST_PIDS";
/// Environment variable with the CPU limit of tests that set none, in
/// cores (`1.5`).
pub const ENV_CPU: &str = "ISOLATED_TEST_CPU";
/// Environment variable naming the directory archives are unpacked into
/// and debootstrap roots built in.
pub const ENV_CACHE_DIR: &str = "ISOLATED_TEST_CACHE_DIR";
/// Environment variable naming the busybox binary to use instead of the
/// first of [`crate::BUSYBOX_CANDIDATES`]; it must be statically linked.
pub const ENV_BUSYBOX: &str = "ISOLATED_TEST_BUSYBOX";
/// Environment variable naming the mirror debootstrap roots are built
/// from; debootstrap's own name for it.
pub const ENV_MIRROR: &str = "DEBOOTSTRAP_MIRROR";
/// Environment variable that, set to `0`, turns the zygote off: every
/// `#[isolated_test]` then re-executes the test binary as PID 2 of its
/// sandbox, as `run` and `wrap` always do. Any other value, or none, keeps
/// it on (see README, "How it runs").
pub const ENV_ZYGOTE: &str = "ISOLATED_TEST_ZYGOTE";
/// Environment variable: how many sandboxes the zygote keeps made ahead of
/// the tests that will use them (at most 8; unset: 2). `0` turns this off:
/// every sandbox is then built when its test starts. A value that is not
/// a number counts as unset, with a warning (see README, "How it runs").
pub const ENV_AHEAD: &str = "ISOLATED_TEST_AHEAD";

// Set by other tools and read here.

/// Where debootstrap's scripts are (debootstrap's own variable).
pub(crate) const ENV_DEBOOTSTRAP_DIR: &str = "DEBOOTSTRAP_DIR";
/// The name of the running test under nextest.
pub(crate) const ENV_NEXTEST_TEST_NAME: &str = "NEXTEST_TEST_NAME";
/// libtest's thread count, which `wrap` honours.
#[cfg(feature = "cli")]
pub(crate) const ENV_RUST_TEST_THREADS: &str = "RUST_TEST_THREADS";

// Set by the harness for its own processes.

/// Carries the per-run nonce to PID 2; its presence (with a matching test
/// name, as PID 2) switches the harness to running the body.
pub(crate) const ENV_CHILD_NONCE: &str = "ISOLATED_TEST_CHILD_NONCE";
/// Carries the libtest name PID 2 must run.
pub(crate) const ENV_CHILD_TEST: &str = "ISOLATED_TEST_CHILD_TEST";
/// Carries the setup request (JSON) to PID 2.
pub(crate) const ENV_SETUP: &str = "ISOLATED_TEST_SETUP";
/// Carries the per-run nonce to a CLI helper.
pub(crate) const ENV_HELPER_NONCE: &str = "ISOLATED_TEST_HELPER_NONCE";
/// Carries a `run` command's specification (JSON) to a CLI helper.
pub(crate) const ENV_HELPER_SPEC: &str = "ISOLATED_TEST_HELPER_SPEC";
/// Set for a CLI helper made ahead of its command (`parent::ahead`): it
/// reads its nonce and specification on standard input once its sandbox
/// is built, instead of from the two variables above.
pub(crate) const ENV_HELPER_AHEAD: &str = "ISOLATED_TEST_HELPER_AHEAD";
/// Names the test `wrap` runs in its sandbox.
pub(crate) const ENV_WRAP_TEST: &str = "ISOLATED_TEST_WRAP_TEST";
/// The number of the descriptor (a pipe to `wrap`'s helper) a deferring
/// test writes its name to.
pub(crate) const ENV_WRAP_FD: &str = "ISOLATED_TEST_WRAP_FD";
/// Names the `#[isolated_test]` that `pair` runs outside its sandboxes
/// (where it makes its own).
pub(crate) const ENV_PAIR_TEST: &str = "ISOLATED_TEST_PAIR_TEST";
/// The number of the descriptor (a pipe to `pair`) that test writes
/// `started` to once its body started in its sandbox.
pub(crate) const ENV_PAIR_FD: &str = "ISOLATED_TEST_PAIR_FD";
/// Marks the zygote, started once per test process: the number of its
/// socket to the test process (see `zygote`).
pub(crate) const ENV_ZYGOTE_SOCKET: &str = "ISOLATED_TEST_ZYGOTE_SOCKET";
/// Names a setup step (e.g. `pivot_root`) at which the setup fails with
/// EINVAL. It exists so the failure path (report, exit, teardown) can be
/// exercised end to end; it has no use outside testing the harness.
pub(crate) const ENV_INJECT_FAULT: &str = "ISOLATED_TEST_INJECT_SETUP_FAULT";

// The defaults where no variable is set.

/// The timeout of a test that sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The hostname a sandbox gets when the test sets none.
pub const DEFAULT_HOSTNAME: &str = "isolated-test";

/// Installs a stderr tracing subscriber when `ISOLATED_TEST_LOG` is set.
pub(crate) fn init_tracing() {
    if let Ok(filter) = std::env::var(ENV_LOG) {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
}
