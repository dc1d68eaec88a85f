//! Compile-time behaviour of `#[isolated_test]`: accepted forms build, wrong ones fail on the right token.
#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/fail/*.rs");
}
