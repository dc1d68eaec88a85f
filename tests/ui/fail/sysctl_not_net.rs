//! Only `net.*` sysctls belong to a sandbox; the others are read-only there.
#[isolated_test::isolated_test(sysctl = ["kernel.hostname=box"])]
fn sysctl_not_net() {}

fn main() {}
