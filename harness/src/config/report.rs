//! Whether a sandbox sends a pollution report, and what its test may
//! change: decided alike in the parent and in PID 2 (which inherits the
//! parent's environment).

use super::{ENV_REPORT, defaults};
use crate::spec::TestSpec;

/// Whether `ISOLATED_TEST_REPORT=1` asks for every test's report.
pub(crate) fn requested() -> bool {
    std::env::var(ENV_REPORT).as_deref() == Ok("1")
}

/// Checks `ISOLATED_TEST_REPORT`: `1`, `0`, empty or unset.
///
/// # Errors
/// Any other value (a `true` read as off would hide the reports asked
/// for); the message names it.
pub(crate) fn check_requested() -> Result<(), String> {
    match std::env::var_os(ENV_REPORT) {
        None => Ok(()),
        Some(v) if v.is_empty() || v == "0" || v == "1" => Ok(()),
        Some(v) => Err(format!(
            "{ENV_REPORT}={v:?} is not understood: use 1 to print every test's pollution report, 0 or unset for none"
        )),
    }
}

/// Whether the sandbox of `spec` must send a pollution report (to print or
/// to check); a bad `ISOLATED_TEST_FORBID_POLLUTION` stops the parent
/// before any sandbox.
pub(crate) fn wanted(spec: &TestSpec) -> bool {
    requested() || !matches!(forbidden(spec), Ok(None))
}

/// What `spec`'s test may change when it forbids pollution: the paths its
/// own `forbid_pollution` allows, else those of
/// `ISOLATED_TEST_FORBID_POLLUTION`, with the name of where they came from.
///
/// # Errors
/// The variable is set to something unusable, or a pattern of the
/// attribute is no valid glob (the macro checks only that it is absolute).
pub(crate) fn forbidden(spec: &TestSpec) -> Result<Option<(&'static [&'static str], &'static str)>, String> {
    if let Some(allowed) = spec.forbid_pollution {
        crate::sandbox::pollution::compile_patterns(allowed).map_err(|e| format!("forbid_pollution: {e}"))?;
        return Ok(Some((allowed, "forbid_pollution")));
    }
    Ok(defaults::forbid_pollution()?.map(|allowed| (allowed, super::ENV_FORBID_POLLUTION)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_forbid_pollution_pattern_stops_the_test_naming_it() {
        let spec = TestSpec::new("t", "m", "/").forbid_pollution(&["/var/cache/**", "/tmp/[abc"]);
        let err = forbidden(&spec).unwrap_err();
        assert_eq!(
            err,
            "forbid_pollution: `/tmp/[abc` is not a valid path pattern: invalid range pattern (at character 5)"
        );
        let spec = TestSpec::new("t", "m", "/").forbid_pollution(&["/var/cache/**"]);
        assert_eq!(forbidden(&spec), Ok(Some((&["/var/cache/**"][..], "forbid_pollution"))));
    }
}
