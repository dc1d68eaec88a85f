//! `tar` archives end in `.tar`, `.tar.gz` or `.tgz`; zstd is not supported.
#[isolated_test::test(tar = "images/root.tar.zst")]
fn tar_bad_extension() {}

fn main() {}
