//! The libtest name of the running test, which the child is re-run with
//! (`--exact <name>`).

use crate::spec::TestSpec;

/// The name libtest knows this test by, e.g. `net::binds_port`.
///
/// libtest runs every test body on a thread named after the test (also with
/// `--test-threads=1` and under nextest); that is the primary source. When
/// the thread name does not end in the function's name (the test function
/// was called from somewhere else), `NEXTEST_TEST_NAME` and then
/// `module_path!()` are used.
pub(crate) fn libtest_name(spec: &TestSpec) -> String {
    let suffix = format!("::{}", spec.fn_name);
    let fits = |n: &str| n == spec.fn_name || n.ends_with(&suffix);
    if let Some(name) = std::thread::current().name() {
        if fits(name) {
            return name.to_owned();
        }
    }
    if let Ok(name) = std::env::var(crate::config::ENV_NEXTEST_TEST_NAME) {
        if fits(&name) {
            return name;
        }
    }
    from_module_path(spec.module_path, spec.fn_name)
}

/// `krate::a::b` + `f` -> `a::b::f`; `krate` + `f` -> `f`.
pub(crate) fn from_module_path(module_path: &str, fn_name: &str) -> String {
    match module_path.split_once("::") {
        Some((_, rest)) => format!("{rest}::{fn_name}"),
        None => fn_name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_path_drops_the_crate_segment() {
        assert_eq!(from_module_path("dogfood", "t"), "t");
        assert_eq!(from_module_path("dogfood::net::inner", "t"), "net::inner::t");
    }

    #[test]
    fn uses_the_libtest_thread_name() {
        let spec = TestSpec::new("uses_the_libtest_thread_name", "isolated_test::naming::tests", "/");
        assert_eq!(libtest_name(&spec), "naming::tests::uses_the_libtest_thread_name");
        let other = TestSpec::new("not_this_one", "isolated_test::x", "/");
        assert_eq!(libtest_name(&other), "x::not_this_one");
    }
}
