#[isolated_test::test(hostname = "my_box")]
fn bad_hostname() {}

fn main() {}
