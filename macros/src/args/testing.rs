//! Helpers shared by the argument tests.

use proc_macro2::TokenStream;

use super::parse;

/// The accepted keys as the messages list them.
pub(crate) const ACCEPTED: &str = "`timeout`, `memory`, `pids`, `cpu`, `hostname`, `privileged`, `teardown`, \
                                   `rootfs`, `dir`, `layers`, `tar`, `debootstrap`, `bind`, `bind_rw`, \
                                   `tmpfs`, `file`, \
                                   `symlink`, `seed_file`, `sysctl`, `forbid_pollution`, `crate`";

/// The messages of `errors`, for comparing.
pub(crate) fn messages(errors: &[syn::Error]) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

/// The messages of parsing `tokens`, which must all be errors.
pub(crate) fn rejected(tokens: TokenStream) -> Vec<String> {
    let (args, errors) = parse(tokens);
    assert!(args.base.is_none() && args.entries.is_empty(), "{args:?}");
    messages(&errors)
}
