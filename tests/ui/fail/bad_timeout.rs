#[isolated_test::test(timeout = "10 seconds")]
fn bad_timeout() {}

fn main() {}
