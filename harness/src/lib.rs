//! # isolated-test
//!
//! Run each test in fresh Linux namespaces (user, PID, mount, UTS, IPC,
//! network, cgroup) with the host's files seen copy-on-write, a private
//! `/proc`, a minimal `/dev`, fresh `/tmp`, `/run` and `/var/tmp`, and only
//! `lo` for a network. A hanging test is killed whole at its deadline, and a
//! failure says which phase failed.
//!
//! ```no_run
//! use isolated_test::isolated_test;
//!
//! #[isolated_test(hostname = "box", timeout = "10s")]
//! fn mounts_and_hostname_stay_inside() -> std::io::Result<()> {
//!     assert_eq!(std::process::id(), 2);
//!     std::fs::write("/etc/hosts", "10.0.0.1 db\n")?; // lands in a throw-away layer
//!     Ok(())
//! }
//! ```
//!
//! For several hosts in one test (nodes, links with delay, loss and rate,
//! switches, names), see [`net`].
//!
//! ## How it works
//!
//! The test function runs in the ordinary test process (the *parent*),
//! which clones a PID 1 into new PID, mount and cgroup namespaces (and a
//! user namespace when not root). PID 1 cuts its ties to the caller (cwd
//! `/`, standard descriptors on `/dev/null`, a session and keyring of its
//! own, not dumpable) and forks PID 2, which re-executes the test binary on
//! just this test (`<binary> <name> --exact --include-ignored`). Before
//! `main`, a constructor builds the sandbox's root filesystem and locks it
//! by entering a nested user namespace with its own IPC, UTS, network and
//! mount namespaces (the kernel then locks every mount of the setup); then
//! libtest runs the test and the harness runs the body. The parent
//! supervises with tokio and decides pass or fail from the exit status and
//! a structured result channel. By default the test process has its
//! sandboxes cloned by a *zygote* instead, a copy of the test binary
//! started once and held before `main`, so that PID 2 runs the same setup
//! and then the test without executing the binary again
//! ([`ENV_ZYGOTE`]`=0` turns it off). Once a test process has run two
//! such tests, the zygote also builds each next sandbox while the current
//! test runs, and hands it over when the next test with the same sandbox
//! starts ([`ENV_AHEAD`]`=0` turns that off). The README's "How it runs"
//! has a diagram.
//!
//! ## Any command in the same sandbox: `isolated-test run`
//!
//! The `isolated-test` binary (behind the `cli` feature: `cargo install
//! --locked --path harness --features cli` from a checkout) runs a command
//! in the sandbox a test gets (the same setup code), streams its output,
//! and prints what it changed:
//!
//! ```text
//! $ sudo isolated-test run --hostname box -- sh -c 'hostname; touch /etc/x'
//! box
//! pollution report:
//!   files:
//!     added    /etc/x (file, 0 bytes, mode 644)
//! resources: peak memory 2.9 MiB, cpu 0.01s user + 0.03s system, at most 5 processes (...)
//! $ sudo isolated-test run --rootfs busybox -- /bin/sh        # a shell inside
//! $ sudo isolated-test run --debootstrap bookworm -- bash     # a Debian root
//! ```
//!
//! `--json` gives the report as a versioned JSON document; `isolated-test
//! doctor` says whether this host can make sandboxes, and why not.
//!
//! ## Plain suites, unchanged
//!
//! The `isolated-test` binary's `wrap` command gives plain `#[test]`s the
//! same sandbox, one per test, without touching their code: as a nextest
//! wrapper script (`[scripts.wrapper.isolated] command = "isolated-test
//! wrap"`) or as cargo's target runner
//! (`CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="isolated-test wrap"
//! cargo test`). An `#[isolated_test]` it meets runs in a sandbox of its own
//! making, never nested in wrap's. The README's "Isolate an existing suite"
//! has the details.
//!
//! ## Fixtures for the tests around the sandbox
//!
//! The `isolated-test-fixtures` crate has what a suite that checks its
//! sandboxes needs: root filesystem images for [`Rootfs::dir`],
//! [`Rootfs::layers`] and [`Rootfs::tar`] (a busybox image, layers made
//! from a list of files, a debootstrap root), a `HostSnapshot` to compare
//! the host before and after a run, and runners that start a binary as an
//! unprivileged user or with user namespaces blocked:
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use isolated_test_fixtures::HostSnapshot;
//! let before = HostSnapshot::capture()?;
//! // ... run the suite ...
//! let after = HostSnapshot::capture()?;
//! assert!(before.diff(&after).is_empty(), "the host changed: {:#?}", before.diff(&after));
//! # Ok(())
//! # }
//! ```
//!
//! ## Environment variables
//!
//! - `ISOLATED_TEST_TIMEOUT`: timeout of tests that set none (default 60s),
//!   e.g. `90s`, `2m`.
//! - `ISOLATED_TEST_HOSTNAME`: hostname of tests that set none (default
//!   `isolated-test`).
//! - `ISOLATED_TEST_FORBID_POLLUTION`: `forbid_pollution` of tests that set
//!   none: `1`, or the allowed paths in the attribute's syntax
//!   (`["/var/cache/**", "/tmp/**"]`).
//! - `ISOLATED_TEST_LOG`: a tracing filter (`debug`) for the harness's own
//!   logs on stderr, in the parent and in the sandbox.
//! - `ISOLATED_TEST_CACHE_DIR`: where image archives are unpacked and
//!   debootstrap roots built (default: `isolated-test-cache` in cargo's
//!   target directory).
//! - `DEBOOTSTRAP_MIRROR`: the mirror debootstrap roots are built from
//!   (default: the host's apt sources, else `http://deb.debian.org/debian`).
//! - `ISOLATED_TEST_SKIP_UNSUPPORTED=1`: on a host that cannot create
//!   sandboxes, return without running instead of failing, with a loud
//!   line on stderr. Never set by default.
#![deny(missing_docs)]

pub use isolated_test_macros::isolated_test;
/// The same attribute as [`isolated_test`], named so that `#[isolated_test::test]`
/// works and rstest recognises it as the test attribute.
pub use isolated_test_macros::isolated_test as test;

pub use config::{
    DEFAULT_HOSTNAME, DEFAULT_TIMEOUT, ENV_AHEAD, ENV_BUSYBOX, ENV_CACHE_DIR, ENV_CPU, ENV_FORBID_POLLUTION,
    ENV_HOSTNAME, ENV_LOG, ENV_MEMORY, ENV_PIDS, ENV_REPORT, ENV_SKIP_UNSUPPORTED, ENV_TIMEOUT, ENV_ZYGOTE,
};
pub use debootstrap::{Debootstrap, DebootstrapError};
pub use pid2::body::{pollution, usage};
pub use rootfs::{Base, Entry, Rootfs};
pub use sandbox::cgroup::{DEFAULT_PIDS, Limits, Usage};
pub use sandbox::pollution::{
    Change, Delta, FileChange, FileKind, MountEntry, NameChange, NetworkChange, NetworkItem, ProcessLeft,
    REPORT_SCHEMA, Report as PollutionReport, SysctlChange,
};
pub use sandbox::resolve::{BUSYBOX_CANDIDATES, Busybox, cache_dir, find_static_busybox};

#[doc(hidden)]
pub mod __private;

/// The `isolated-test` command line (`doctor`); used by the binary.
#[cfg(feature = "cli")]
#[doc(hidden)]
#[path = "cli/mod.rs"]
pub mod __cli;

mod config;
pub mod debootstrap;
mod error;
mod naming;
pub mod net;
mod parent;
mod pid2;
pub mod procfs;
mod registry;
pub mod rootfs;
mod sandbox;
mod spec;
mod sys;
mod zygote;
