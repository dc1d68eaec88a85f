//! The names generated code uses. Not a public API.
#![allow(missing_docs)]
pub use crate::registry::{Registered, TESTS};
pub use crate::spec::{TestReturn, TestSpec};
pub use linkme;

/// Runs one isolated test: in the parent, starts and supervises the sandbox
/// and panics unless the test passed; in PID 2 of the sandbox, runs the
/// setup and then `body`, and exits.
#[track_caller]
pub fn run<F, R>(spec: &'static TestSpec, body: F)
where
    F: FnOnce() -> R,
    R: TestReturn,
{
    let name = crate::naming::libtest_name(spec);
    if let Some(mode) = crate::pid2::body::detect(&name) {
        crate::pid2::body::run(mode, spec, body);
    }
    // A PID 2 forked by the zygote runs only the test it was forked for;
    // never a sandbox of its own.
    crate::pid2::forked::refuse_other(&name);
    // Run by `isolated-test wrap` in its sandbox: ask to be run outside.
    crate::pid2::wrapped::defer_if_asked(&name);
    // The zygote (started once) boots while this test prepares its sandbox.
    crate::parent::zygote::warm();
    crate::parent::attribute::run_parent(spec, &name);
}

/// Runs an `async fn` body on a current-thread tokio runtime built inside
/// the sandbox, after setup (so `tokio::spawn` works in the test).
pub fn block_on<F: core::future::Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("failed to build the tokio runtime for the async test body")
        .block_on(fut)
}
