//! `layers` needs at least one layer.
#[isolated_test::test(layers = [])]
fn layers_empty() {}

fn main() {}
