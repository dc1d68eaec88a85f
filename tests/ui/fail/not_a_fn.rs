#[isolated_test::test]
struct NotAFn;

fn main() {}
