#[isolated_test::test]
fn params(n: u32, m: u32) {
    assert!(n < m);
}

fn main() {}
