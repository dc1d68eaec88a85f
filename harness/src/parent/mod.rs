//! The parent: the process that starts a sandbox and watches it, the test
//! process on libtest's thread or the `isolated-test` binary.
//!
//! - [`attribute`]: the parent of one `#[isolated_test]`: spec to setup
//!   request, session, verdict, report, panic.
//! - [`session`]: start and supervise one sandbox: the one path the
//!   attribute, `run`, `doctor` and `wrap` take.
//! - [`start`]: the cgroup, the exec image, the descriptors, `clone3`
//!   (through `sys::pid1`), the rootless id maps ([`subid`]).
//! - [`supervise`]: the tokio loop: output, result channel, deadline, kill;
//!   [`proctree`] is the tree a timeout reports.
//! - [`capture`]: what is kept of an output held for a failure (its head
//!   and tail).
//! - [`verdict`]: pass or fail from exit statuses and messages;
//!   [`diagnose`] adds the host's cause and fix.
//! - [`guard`]: kills and reaps PID 1 if the parent leaves early.
//! - [`zygote`]: the test process's zygote (started once, shared by its
//!   threads), which clones the attribute's sandboxes; the plain path
//!   when it cannot.
//! - [`ahead`]: the next sandbox made while the current test runs, and
//!   handed to the next test that asks for the same one.

pub(crate) mod ahead;
pub(crate) mod attribute;
pub(crate) mod capture;
pub(crate) mod diagnose;
pub(crate) mod guard;
pub(crate) mod proctree;
pub(crate) mod session;
pub(crate) mod start;
pub(crate) mod subid;
pub(crate) mod supervise;
pub(crate) mod verdict;
pub(crate) mod zygote;
