//! Every argument at once, with attributes kept around the test.
#[isolated_test::isolated_test(
    timeout = "1m30s",
    memory = "256MiB",
    pids = 128,
    cpu = "1.5",
    hostname = "sandbox-1.local",
    privileged = false,
    crate = "::isolated_test"
)]
/// Documented.
#[ignore]
#[should_panic(expected = "boom")]
#[allow(unreachable_code)]
fn all_args() {
    panic!("boom");
}

fn main() {}
