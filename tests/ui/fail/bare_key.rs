#[isolated_test::test(timeout)]
fn bare_key() {}

fn main() {}
