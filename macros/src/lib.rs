//! The `#[isolated_test]` attribute. Use it through the `isolated-test` crate,
//! which re-exports it as `isolated_test::isolated_test` and `isolated_test::test`.
//!
//! The work is split into plain functions over `proc_macro2::TokenStream`:
//! `args` parses the attribute arguments, `item` validates the function, and
//! `expand` renders the generated test.

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
/// Arguments, all optional, as `key = "string"`:
/// - `timeout = "1m30s"`: kill the test after this long (units `ms`, `s`, `m`, `h`);
/// - `hostname = "box"`: the hostname inside the sandbox;
/// - `crate = "::isolated_test"`: the path of the runtime crate, when renamed.
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
