//! `rootfs = "..."` names one of the built-in bases; anything else is an error on the literal.
#[isolated_test::test(rootfs = "alpine")]
fn rootfs_unknown_kind() {}

fn main() {}
