#[isolated_test::test]
#[test]
fn stacked_test() {}

fn main() {}
