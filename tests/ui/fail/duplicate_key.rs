#[isolated_test::test(hostname = "a", hostname = "b")]
fn duplicate_key() {}

fn main() {}
