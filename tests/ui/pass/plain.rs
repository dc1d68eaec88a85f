//! The simplest form: a sync test with no arguments.
#[isolated_test::isolated_test]
fn plain() {
    assert_eq!(1 + 1, 2);
}

fn main() {}
