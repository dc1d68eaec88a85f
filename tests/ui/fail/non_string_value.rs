#[isolated_test::test(timeout = 30)]
fn non_string_value() {}

fn main() {}
