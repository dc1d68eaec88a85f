//! A cpu quota below the kernel's minimum of 0.01 core.
#[isolated_test::isolated_test(cpu = "0")]
fn cpu_zero() {}

fn main() {}
