#[isolated_test::test]
#[should_panic]
fn returns_a_result() -> Result<(), String> {
    Err("refused".into())
}

// `-> ()` is a unit return, accepted as libtest accepts it.
#[isolated_test::test]
#[should_panic(expected = "boom")]
fn returns_unit() -> () {
    panic!("boom")
}

fn main() {}
