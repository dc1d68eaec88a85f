//! `cpu` takes a number of cores with at most 3 decimals.
#[isolated_test::isolated_test(cpu = "1.2345")]
fn cpu_bad() {}

fn main() {}
