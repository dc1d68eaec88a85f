//! `forbid_pollution` patterns are absolute paths inside the sandbox.
#[isolated_test::isolated_test(forbid_pollution = ["var/cache/**"])]
fn forbid_pollution_relative() {}

fn main() {}
