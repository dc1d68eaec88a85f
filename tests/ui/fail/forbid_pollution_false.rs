//! `forbid_pollution = false` is the default: the error says to leave it out.
#[isolated_test::isolated_test(forbid_pollution = false)]
fn forbid_pollution_false() {}

fn main() {}
