//! At most one of `rootfs`, `dir`, `layers` and `tar`: the second is refused.
#[isolated_test::test(rootfs = "busybox", dir = "images/root")]
fn rootfs_two_bases() {}

fn main() {}
