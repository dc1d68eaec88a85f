//! `privileged` takes a boolean literal, not a string.
#[isolated_test::isolated_test(privileged = "yes")]
fn privileged_not_bool() {}

fn main() {}
