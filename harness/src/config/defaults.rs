//! Suite-wide defaults from the environment, for tests that set none: the
//! timeout, the hostname and `forbid_pollution` (and how many sandboxes
//! are made ahead). They apply to
//! `#[isolated_test]` tests and to the plain tests `isolated-test wrap`
//! runs alike, so that one variable serves a mixed suite. The timeout and
//! the hostname are read in the attribute's grammar
//! (`isolated_test_values`). (The resource limits' defaults are read in
//! `sandbox::cgroup`.)

use std::sync::OnceLock;
use std::time::Duration;

use super::{DEFAULT_HOSTNAME, DEFAULT_TIMEOUT, ENV_AHEAD, ENV_FORBID_POLLUTION, ENV_HOSTNAME, ENV_TIMEOUT};

/// Checks `ISOLATED_TEST_ZYGOTE`: `0` turns the zygote off; `1`, empty or
/// unset leave it on. Read where it acts (`parent::zygote`, also before
/// `main`, where nothing can fail a test); checked here so that another
/// value (`false`, `off`) fails the test instead of leaving the zygote on
/// in silence.
///
/// # Errors
/// Another value; the message names the variable and the values it takes.
pub(crate) fn check_zygote() -> Result<(), String> {
    match std::env::var_os(super::ENV_ZYGOTE) {
        None => Ok(()),
        Some(v) if v.is_empty() || v == "0" || v == "1" => Ok(()),
        Some(v) => Err(format!(
            "{}={v:?} is not understood: use 0 to run every test without the zygote, 1 or unset for the zygote",
            super::ENV_ZYGOTE
        )),
    }
}

/// How many sandboxes are kept made ahead of their tests unless
/// `ISOLATED_TEST_AHEAD` says: two, so that a test takes one whose setup
/// had the whole of the test before it to run (see `parent::ahead`).
pub(crate) const DEFAULT_AHEAD: usize = 2;

/// The most `ISOLATED_TEST_AHEAD` may ask for.
pub(crate) const MAX_AHEAD: usize = 8;

/// How many sandboxes to keep made ahead: `ISOLATED_TEST_AHEAD` (`0`:
/// none), or [`DEFAULT_AHEAD`].
///
/// # Errors
/// The variable is set to something else than a number from 0 to
/// [`MAX_AHEAD`]; the message names it.
pub(crate) fn ahead() -> Result<usize, String> {
    parse_ahead(std::env::var_os(ENV_AHEAD).as_deref())
}

fn parse_ahead(value: Option<&std::ffi::OsStr>) -> Result<usize, String> {
    let Some(value) = value else { return Ok(DEFAULT_AHEAD) };
    let bad = || {
        format!(
            "{ENV_AHEAD}={value:?} is not a number of sandboxes to make ahead of their tests: \
             use 0 (none) to {MAX_AHEAD}, or leave it unset ({DEFAULT_AHEAD})"
        )
    };
    match value.to_str().map(str::trim) {
        Some("") => Ok(DEFAULT_AHEAD),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if n <= MAX_AHEAD => Ok(n),
            _ => Err(bad()),
        },
        None => Err(bad()),
    }
}

/// The timeout of a test that sets none: `ISOLATED_TEST_TIMEOUT`, or
/// [`DEFAULT_TIMEOUT`].
///
/// # Errors
/// The variable is no duration; the message names it.
pub(crate) fn timeout() -> Result<Duration, String> {
    match std::env::var(ENV_TIMEOUT) {
        Ok(v) => isolated_test_values::parse_timeout(&v).map_err(|e| format!("{ENV_TIMEOUT}={e}")),
        Err(_) => Ok(DEFAULT_TIMEOUT),
    }
}

/// The hostname of a test that sets none: `ISOLATED_TEST_HOSTNAME`, or
/// [`DEFAULT_HOSTNAME`].
///
/// # Errors
/// The variable is set to something that is no hostname; the message names it.
pub(crate) fn hostname() -> Result<String, String> {
    match std::env::var(ENV_HOSTNAME) {
        Ok(name) => {
            isolated_test_values::check_hostname(&name).map(|()| name).map_err(|e| format!("{ENV_HOSTNAME}={e}"))
        }
        Err(_) => Ok(DEFAULT_HOSTNAME.to_owned()),
    }
}

/// Parses a value of `ISOLATED_TEST_FORBID_POLLUTION`: `None` when off
/// (empty, `0`, `false`), no allowed path for `1` or `true`, the paths of
/// a list such as `["/var/cache/**", "/tmp/**"]`.
///
/// # Errors
/// Anything else, a relative path in the list, or a pattern that is no
/// valid glob (an unclosed `[`); the message names the variable, shows
/// both forms and names the pattern.
pub(crate) fn parse_forbid_pollution(text: &str) -> Result<Option<Vec<String>>, String> {
    let expected = || {
        format!(
            "{ENV_FORBID_POLLUTION}=`{text}`: expected `1` (forbid every change) or the allowed paths as the \
             attribute takes them, e.g. `[\"/var/cache/**\", \"/tmp/**\"]`"
        )
    };
    match text.trim() {
        "" | "0" | "false" => Ok(None),
        "1" | "true" => Ok(Some(Vec::new())),
        list if list.starts_with('[') => {
            let paths: Vec<String> = serde_json::from_str(list).map_err(|e| format!("{}: {e}", expected()))?;
            if let Some(relative) = paths.iter().find(|p| !p.starts_with('/')) {
                return Err(format!("{}: `{relative}` is not an absolute path", expected()));
            }
            crate::sandbox::pollution::compile_patterns(&paths).map_err(|e| format!("{}: {e}", expected()))?;
            Ok(Some(paths))
        }
        _ => Err(expected()),
    }
}

/// `ISOLATED_TEST_FORBID_POLLUTION`, read and parsed once per process (the
/// allowed paths live as long as the process, as an attribute's do).
///
/// # Errors
/// See [`parse_forbid_pollution`].
pub(crate) fn forbid_pollution() -> Result<Option<&'static [&'static str]>, String> {
    static PARSED: OnceLock<Result<Option<&'static [&'static str]>, String>> = OnceLock::new();
    PARSED
        .get_or_init(|| {
            let Ok(text) = std::env::var(ENV_FORBID_POLLUTION) else { return Ok(None) };
            let paths = parse_forbid_pollution(&text)?;
            Ok(paths.map(|paths| {
                let leaked: Vec<&'static str> = paths.into_iter().map(|p| &*Box::leak(p.into_boxed_str())).collect();
                &*Box::leak(leaked.into_boxed_slice())
            }))
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ahead_values() {
        let ahead = |v: Option<&str>| parse_ahead(v.map(std::ffi::OsStr::new));
        assert_eq!(ahead(None), Ok(DEFAULT_AHEAD));
        assert_eq!(ahead(Some("")), Ok(DEFAULT_AHEAD));
        assert_eq!(ahead(Some("0")), Ok(0));
        assert_eq!(ahead(Some(" 3 ")), Ok(3));
        assert_eq!(ahead(Some("8")), Ok(MAX_AHEAD));
        for bad in ["9", "-1", "abc", "1.5"] {
            let err = ahead(Some(bad)).unwrap_err();
            assert!(err.starts_with(&format!("ISOLATED_TEST_AHEAD=\"{bad}\"")), "{err}");
            assert!(err.contains("use 0 (none) to 8"), "{err}");
        }
    }

    #[test]
    fn forbid_pollution_values() {
        assert_eq!(parse_forbid_pollution(""), Ok(None));
        assert_eq!(parse_forbid_pollution("0"), Ok(None));
        assert_eq!(parse_forbid_pollution("1"), Ok(Some(vec![])));
        assert_eq!(parse_forbid_pollution("true"), Ok(Some(vec![])));
        assert_eq!(
            parse_forbid_pollution(r#"["/var/cache/**", "/tmp/**"]"#),
            Ok(Some(vec!["/var/cache/**".to_owned(), "/tmp/**".to_owned()]))
        );
        assert_eq!(parse_forbid_pollution("[]"), Ok(Some(vec![])));
        for bad in ["yes", "/tmp/**", r#"["relative/**"]"#, r#"["/a","#, r#"["/ok/**", "/tmp/[abc"]"#] {
            let err = parse_forbid_pollution(bad).unwrap_err();
            assert!(err.starts_with("ISOLATED_TEST_FORBID_POLLUTION=`"), "{err}");
            assert!(err.contains(r#"e.g. `["/var/cache/**", "/tmp/**"]`"#), "{err}");
        }
        let err = parse_forbid_pollution(r#"["/ok/**", "/tmp/[abc"]"#).unwrap_err();
        assert!(
            err.ends_with("`/tmp/[abc` is not a valid path pattern: invalid range pattern (at character 5)"),
            "{err}"
        );
    }
}
