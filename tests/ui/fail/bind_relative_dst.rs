//! A bind destination is a path inside the sandbox and must be absolute.
#[isolated_test::test(bind = ["/usr/share:/share", "testdata:data"])]
fn bind_relative_dst() {}

fn main() {}
