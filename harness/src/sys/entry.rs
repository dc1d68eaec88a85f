//! The constructor that runs the sandbox setup in PID 2 before `main`,
//! turns the process into the zygote, or forks the zygote early.
//!
//! The setup ends by entering a nested user namespace (the lock, see
//! [`super::userns`]), which the kernel allows only in a single-threaded
//! process. libtest runs every test body on a thread of its own, so by the
//! time the test function runs it is too late; a constructor in
//! `.init_array` runs while the re-executed binary still has one thread.
//! The zygote needs one thread for the same reason (it forks PID 2s that
//! run the setup), and never reaches `main`.
#![allow(unsafe_code)]

/// Runs in every binary that links the harness, before `main`; it does
/// nothing unless this process is the zygote of a test process or PID 2
/// of a sandbox that carries a setup request.
#[ctor::ctor(unsafe)]
fn isolated_test_enter_sandbox() {
    match super::zygote::take_socket(crate::config::ENV_ZYGOTE_SOCKET) {
        Some(Ok(socket)) => crate::zygote::serve::serve(socket),
        // Started as a zygote without a usable socket: the test process
        // finds it gone and takes the plain path.
        Some(Err(_)) => std::process::exit(1),
        None => {}
    }
    if std::process::id() != 2 {
        // A process started for one isolated test (nextest's way) forks
        // its zygote now, while it has one thread.
        crate::parent::zygote::prestart();
        return;
    }
    let Some(request) = std::env::var_os(crate::config::ENV_SETUP) else { return };
    // SAFETY: constructors run before `main`, while this process has a
    // single thread, so nothing can read the environment concurrently. The
    // request is removed so that processes the test starts (even its own
    // binary as PID 2 of a namespace of its own) never act on it.
    unsafe { std::env::remove_var(crate::config::ENV_SETUP) };
    // A panic must not unwind out of a constructor (that aborts without a
    // word); it becomes a setup error the test reports instead.
    let _ = std::panic::catch_unwind(|| crate::pid2::entry::before_main(&request));
}
