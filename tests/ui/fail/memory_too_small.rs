//! A memory limit below 4 MiB cannot even start the sandbox.
#[isolated_test::isolated_test(memory = "1M")]
fn memory_too_small() {}

fn main() {}
