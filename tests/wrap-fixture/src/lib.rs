//! A plain library with plain tests that change the host they run on, as
//! many suites written before anyone thought of isolation do. Run only
//! under `isolated-test wrap` (see `Cargo.toml`).
//!
//! Its doc test writes to `/etc` too; under the wrapper as a cargo runner,
//! rustdoc runs it through `isolated-test wrap`, whole, in one sandbox:
//!
//! ```
//! isolated_test_wrap_fixture::refuse_to_run_unsandboxed();
//! std::fs::write("/etc/isolated-test-wrap-doctest", "x").unwrap();
//! ```

/// Fails the calling test unless it runs in a sandbox of `isolated-test
/// wrap`, whose PID 1 is that command: the fixture's tests change the host
/// they run on, and must never do so on a real one. (A failure, never a
/// skip: a test that did not run must not pass.)
///
/// # Panics
/// Outside such a sandbox.
pub fn refuse_to_run_unsandboxed() {
    let init = std::fs::read("/proc/1/cmdline").unwrap_or_default();
    let mut args = init.split(|b| *b == 0).map(String::from_utf8_lossy);
    let program = args.next().unwrap_or_default();
    let wrapped = program.rsplit('/').next() == Some("isolated-test") && args.next().as_deref() == Some("wrap");
    assert!(
        wrapped,
        "this test changes the host it runs on: run it only under `isolated-test wrap` \
         (PID 1 here is `{program}`, not a sandbox of isolated-test wrap)"
    );
}
