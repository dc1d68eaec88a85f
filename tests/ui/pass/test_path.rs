//! The `#[isolated_test::test]` path form, with a `pub` test in a module.
mod tests {
    #[isolated_test::test(timeout = "500ms")]
    pub fn in_module() {}
}

fn main() {}
