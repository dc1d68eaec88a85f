//! A pids limit below 16 leaves no room for the sandbox and the harness.
#[isolated_test::isolated_test(pids = 8)]
fn pids_too_small() {}

fn main() {}
