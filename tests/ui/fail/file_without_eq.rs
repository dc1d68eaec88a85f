//! A `file` element is `"/PATH=CONTENTS"`.
#[isolated_test::test(file = ["/etc/motd=hi", "/etc/hostname"])]
fn file_without_eq() {}

fn main() {}
