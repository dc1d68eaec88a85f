use rstest::rstest;

#[isolated_test::test]
#[rstest]
#[case(1)]
fn rstest_below(#[case] n: u32) {
    assert!(n > 0);
}

fn main() {}
