#[isolated_test::test(timeout = "0s")]
fn zero_timeout() {}

fn main() {}
