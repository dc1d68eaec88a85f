//! The tests the attribute registered: each `#[isolated_test]` adds its
//! generated `#[test]` function to one linker-gathered list ([`TESTS`]), so
//! that a PID 2 forked by the zygote (which never enters libtest's `main`)
//! can find the function libtest would have run under a name. Below every
//! process role: the parent asks whether a test is there, PID 2 calls it.

use linkme::distributed_slice;

/// One registered test: where it is and the `#[test]` function libtest runs.
#[derive(Debug)]
pub struct Registered {
    /// `module_path!()` where the test was defined (crate first).
    module_path: &'static str,
    /// The function's name as libtest writes it (a raw identifier keeps
    /// its `r#`).
    fn_name: &'static str,
    /// The generated `#[test]` function.
    test: fn(),
}

impl Registered {
    /// A test named `fn_name` in `module_path`, run by `test`.
    pub const fn new(module_path: &'static str, fn_name: &'static str, test: fn()) -> Self {
        Self { module_path, fn_name, test }
    }

    /// Whether libtest knows this test as `name`: the module path without
    /// the crate, then the function (what `naming::from_module_path`
    /// builds), compared without allocating.
    fn is(&self, name: &str) -> bool {
        let module = self.module_path.split_once("::").map(|(_, rest)| rest);
        match module {
            None => name == self.fn_name,
            Some(module) => name
                .strip_prefix(module)
                .and_then(|rest| rest.strip_prefix("::"))
                .is_some_and(|rest| rest == self.fn_name),
        }
    }
}

/// Every `#[isolated_test]` of the binary, gathered by the linker.
#[distributed_slice]
pub static TESTS: [Registered];

/// The generated `#[test]` function libtest knows as `name`, if the
/// attribute registered it.
pub(crate) fn find(name: &str) -> Option<fn()> {
    TESTS.iter().find(|t| t.is(name)).map(|t| t.test)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop() {}

    #[test]
    fn names_are_the_module_path_without_the_crate_and_the_function() {
        let nested = Registered::new("dogfood::net::inner", "t", noop);
        assert!(nested.is("net::inner::t"));
        assert!(!nested.is("net::inner::t2"));
        assert!(!nested.is("net::innert"));
        assert!(!nested.is("t"));
        let top = Registered::new("dogfood", "r#match", noop);
        assert!(top.is("r#match"));
        assert!(!top.is("dogfood::r#match"));
    }
}
