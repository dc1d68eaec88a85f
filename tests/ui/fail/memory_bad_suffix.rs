//! `memory` takes a binary unit `K`, `M`, `G` or `T`, not a decimal one.
#[isolated_test::isolated_test(memory = "256X")]
fn memory_bad_suffix() {}

fn main() {}
