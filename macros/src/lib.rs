//! The `#[isolated_test]` attribute. Use it through the `isolated-test` crate,
//! which re-exports it as `isolated_test::isolated_test` and `isolated_test::test`.
//!
//! The work is split into plain functions over `proc_macro2::TokenStream`:
//! `args` parses the attribute arguments, `item` validates the function, and
//! `expand` renders the generated test.
#![deny(missing_docs)]

mod args;
mod expand;
mod item;

use proc_macro::TokenStream;

/// Runs the annotated function as a test in fresh Linux namespaces.
///
/// The function takes no arguments, may be `async`, and returns `()` or a
/// `Result<(), E: Debug>`. It is registered as an ordinary `#[test]`; other
/// attributes (`#[ignore]`, `#[should_panic]`, docs, `cfg`) are kept.
///
/// Arguments, all optional:
/// - `timeout = "1m 30s"`: kill the test after this long; a duration as the
///   `humantime` crate reads it (`500ms`, `10s`, `1.5h`, `2days`), more than
///   zero and in whole milliseconds;
/// - `memory = "256M"`: the memory limit, an integer with an optional binary
///   unit `K`, `M`, `G` or `T` (`B` or `iB` may follow; no unit is bytes), at least `"4M"`;
/// - `pids = 128`: the most processes and threads at once, at least 16;
/// - `cpu = "1.5"`: the CPU quota in cores, 0.01 to 1024 with at most 3 decimals;
/// - `hostname = "box"`: the hostname inside the sandbox, 1 to 64 ASCII
///   letters, digits, `-` or `.`, not starting or ending with `-` or `.`;
/// - `privileged = true`: no user namespace (real root only);
/// - `teardown = "verify"`: unmount what the test left mounted and fail if something is busy;
/// - the root filesystem's base, at most one of: `rootfs = "host"` (the default),
///   `"host_ro"` or `"busybox"`; `rootfs = some::path` to a `fn() -> isolated_test::Rootfs`;
///   `dir = "images/root"`; `layers = ["base", "app"]` (bottom first);
///   `tar = "root.tar.gz"` (`.tar`, `.tar.gz` or `.tgz`). Relative paths are
///   resolved against the crate directory;
/// - entries on top, each an array of strings, applied in the order written:
///   `bind = ["SRC:DST", "/SRC"]` (read-only; the destination defaults to an
///   absolute source), `bind_rw = [...]` (writable), `tmpfs = ["/scratch"]`,
///   `file = ["/etc/motd=CONTENTS"]` and `symlink = ["/LINK=TARGET"]` (split
///   at the first `=`). Paths inside the sandbox are absolute, not `/`, without `..`;
/// - `crate = "::isolated_test"`: the path of the runtime crate, when renamed.
///
/// Paths and forms are checked at compile time; the rootfs arguments are
/// sugar for the `isolated_test::Rootfs` builder. The timeout, the limits and
/// the hostname are read by the `isolated-test-values` crate, as the
/// `ISOLATED_TEST_*` variables and `isolated-test run`'s flags are.
///
/// ```rust,ignore
/// #[isolated_test::test(timeout = "10s", hostname = "box")]
/// async fn mounts_proc() -> std::io::Result<()> {
///     std::fs::read_to_string("/proc/self/mountinfo").map(drop)
/// }
/// ```
///
/// To parametrise, put `#[rstest]` above `#[isolated_test::test]`.
#[proc_macro_attribute]
pub fn isolated_test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::isolated_test(args.into(), item.into()).into()
}
