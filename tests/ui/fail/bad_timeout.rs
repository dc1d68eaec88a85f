#[isolated_test::test(timeout = "10 parsecs")]
fn bad_timeout() {}

fn main() {}
