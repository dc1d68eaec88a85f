//! A negative pids limit is refused, the error on the whole value.
#[isolated_test::isolated_test(pids = -1)]
fn pids_negative() {}

fn main() {}
