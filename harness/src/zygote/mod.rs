//! The zygote: a copy of the test binary, started once per test process
//! at its first `#[isolated_test]`, that clones the sandboxes of that
//! process's tests so that PID 2 needs no `execve`.
//!
//! The test process starts it (`parent::zygote`) with a socket; the
//! constructor in `sys::entry` sees the marker and calls [`serve::serve`]
//! before `main`, while the process has its one thread, and it never
//! returns. For each test the parent sends what the plain path passes
//! through argv, the environment and inherited descriptors ([`wire`]); the
//! zygote clones PID 1 with `CLONE_PARENT` (a child of the test process,
//! which supervises it as its own) and sends back the pidfd. PID 1 forks
//! PID 2 as always; PID 2 takes the parent's environment and working
//! directory, runs the setup and calls the test's generated function
//! (`pid2::forked`), found in the registry the attribute fills.
//!
//! Nothing flows from a sandbox to the zygote: PID 1 closes the socket
//! before anything else, and the zygote reads only the parent's requests.
//! It dies with the test process (`PR_SET_PDEATHSIG` on the thread that
//! started it, which lives as long as the process, and EOF on the socket).

pub(crate) mod serve;
pub(crate) mod wire;
