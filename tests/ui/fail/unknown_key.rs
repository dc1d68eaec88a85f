#[isolated_test::test(timeout = "10s", retries = "3")]
fn unknown_key() {}

fn main() {}
