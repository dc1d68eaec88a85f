//! PID 2: the test binary re-executed inside the sandbox, or forked from
//! the zygote.
//!
//! - [`entry`]: before `main`, from the constructor in `sys::entry`: the
//!   whole setup, ending with the lock, while the process has one thread.
//! - [`body`]: on libtest's test thread: the body, its results on the
//!   result channel, the pollution baseline and report, failure notes.
//! - [`forked`]: PID 2 forked by the zygote instead of executed: the
//!   environment, the setup (as `entry`), and the test's function called
//!   on a thread named after it.
//! - [`teardown`]: `teardown = "verify"`: busy mounts at the end.
//! - [`wrapped`]: an `#[isolated_test]` met inside `wrap`'s sandbox hands
//!   itself back to be run in a sandbox of its own.
//!
//! PID 2 of the CLI (`run`'s command, `wrap`'s test binary) is the helper
//! mode in `cli/helper.rs`, entered through the same `entry`.

pub(crate) mod body;
pub(crate) mod entry;
pub(crate) mod forked;
pub(crate) mod teardown;
pub(crate) mod wrapped;
