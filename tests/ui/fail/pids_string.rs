//! `pids` takes an integer literal, not a string.
#[isolated_test::isolated_test(pids = "128")]
fn pids_string() {}

fn main() {}
