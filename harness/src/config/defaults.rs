//! Suite-wide defaults from the environment, for tests that set none: the
//! timeout, the hostname and `forbid_pollution`. They apply to
//! `#[isolated_test]` tests and to the plain tests `isolated-test wrap`
//! runs alike, so that one variable serves a mixed suite. The timeout's
//! grammar is here too, shared by `ISOLATED_TEST_TIMEOUT` and
//! `isolated-test run --timeout`. (The resource limits' defaults are read
//! in `sandbox::cgroup`.)

use std::sync::OnceLock;
use std::time::Duration;

use super::{DEFAULT_HOSTNAME, DEFAULT_TIMEOUT, ENV_FORBID_POLLUTION, ENV_HOSTNAME, ENV_TIMEOUT};

/// Whether `text` is a hostname the attribute accepts: 1 to 64 ASCII
/// letters, digits, `-` or `.`, not starting or ending with `-` or `.`.
pub(crate) fn is_valid_hostname(text: &str) -> bool {
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c != '-' && c != '.');
    (1..=64).contains(&text.len())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && edge_ok(text.chars().next())
        && edge_ok(text.chars().last())
}

/// The timeout of a test that sets none: `ISOLATED_TEST_TIMEOUT`, or
/// [`DEFAULT_TIMEOUT`].
///
/// # Errors
/// The variable is no duration; the message names it.
pub(crate) fn timeout() -> Result<Duration, String> {
    match std::env::var(ENV_TIMEOUT) {
        Ok(v) => parse_timeout(&v).map_err(|problem| format!("{ENV_TIMEOUT}={problem}")),
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
        Ok(name) if is_valid_hostname(&name) => Ok(name),
        Ok(name) => Err(format!(
            "{ENV_HOSTNAME}=`{name}` is not a hostname: expected 1 to 64 ASCII letters, digits, `-` or `.`, \
             not starting or ending with `-` or `.`"
        )),
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

/// Parses a timeout as `ISOLATED_TEST_TIMEOUT` and `isolated-test run
/// --timeout` take it: a duration in `humantime`'s grammar (`500ms`, `10s`,
/// `1m 30s`, `1.5h`, `2days`), the grammar of the attribute's `timeout`, with
/// its rules: greater than zero, a whole number of milliseconds, at most
/// `u64::MAX` of them.
///
/// # Errors
/// The text is no such duration; the message shows it, says what is wrong
/// and what was expected.
pub(crate) fn parse_timeout(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration: {e}; expected one like \"10s\", \"1m 30s\" or \"500ms\""))?;
    if duration.is_zero() {
        return Err(format!("`{text}` is zero: a timeout must be greater than zero, e.g. \"30s\""));
    }
    if duration.subsec_nanos() % 1_000_000 != 0 {
        return Err(format!(
            "`{text}` has a part below a millisecond: timeouts count whole milliseconds, e.g. \"1500ms\""
        ));
    }
    if u64::try_from(duration.as_millis()).is_err() {
        return Err(format!("`{text}` is too large for a timeout"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        for good in ["box", "a", "a-b.c", &"x".repeat(64)] {
            assert!(is_valid_hostname(good), "{good:?}");
        }
        for bad in ["", "-a", "a.", "a b", "a/b", &"x".repeat(65)] {
            assert!(!is_valid_hostname(bad), "{bad:?}");
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

    #[test]
    fn timeouts() {
        for (text, millis) in [
            ("500ms", 500),
            ("1500ms", 1_500),
            ("10s", 10_000),
            ("1m30s", 90_000),
            ("1m 30s", 90_000),
            ("2h", 7_200_000),
            ("1.5s", 1_500),
            ("10 seconds", 10_000),
            (" 10s ", 10_000),
            ("18446744073709551s", 18_446_744_073_709_551_000),
        ] {
            assert_eq!(parse_timeout(text), Ok(Duration::from_millis(millis)), "{text:?}");
        }
        let refused = |text: &str| parse_timeout(text).unwrap_err();
        let expected = "; expected one like \"10s\", \"1m 30s\" or \"500ms\"";
        assert_eq!(refused(""), format!("`` is not a duration: value was empty{expected}"));
        assert_eq!(
            refused("10"),
            format!("`10` is not a duration: time unit needed, for example 10sec or 10ms{expected}")
        );
        assert_eq!(refused("-1s"), format!("`-1s` is not a duration: expected number at 0{expected}"));
        let parsecs = refused("10 parsecs");
        assert!(parsecs.starts_with("`10 parsecs` is not a duration: unknown time unit \"parsecs\""), "{parsecs}");
        assert!(parsecs.ends_with(expected), "{parsecs}");
        for zero in ["0", "0s", "0ms"] {
            assert_eq!(refused(zero), format!("`{zero}` is zero: a timeout must be greater than zero, e.g. \"30s\""));
        }
        assert_eq!(
            refused("1500us"),
            "`1500us` has a part below a millisecond: timeouts count whole milliseconds, e.g. \"1500ms\""
        );
        assert_eq!(refused("18446744073709552s"), "`18446744073709552s` is too large for a timeout");
        assert!(refused("18446744073709551616s").contains("number is too large"));
    }
}
