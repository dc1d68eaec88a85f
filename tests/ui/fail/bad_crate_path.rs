#[isolated_test::test(crate = "not a path")]
fn bad_crate_path() {}

fn main() {}
