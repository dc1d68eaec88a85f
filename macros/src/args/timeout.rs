//! `timeout = "1m 30s"`: a duration in `humantime`'s grammar (`500ms`,
//! `10s`, `1m 30s`, `1.5h`, `2days`), the one `ISOLATED_TEST_TIMEOUT` and
//! `isolated-test run --timeout` take too. The generated code passes it in
//! milliseconds, so it must be a whole number of them, greater than zero, and
//! fit a `u64` of them.

use syn::LitStr;

/// What a timeout looks like, closing the message on a bad one.
const EXPECTED: &str = "expected a duration such as `timeout = \"30s\"`, `\"1m 30s\"` or `\"500ms\"`";

/// Parses `timeout = "..."` into milliseconds; every error is on the literal.
pub(super) fn parse_timeout(lit: &LitStr) -> syn::Result<u64> {
    let text = lit.value();
    let shown = text.escape_debug();
    let message = match duration_millis(&text) {
        Ok(millis) => return Ok(millis),
        Err(DurationError::Invalid(problem)) => format!("invalid timeout `{shown}`: {problem}; {EXPECTED}"),
        Err(DurationError::Zero) => format!("timeout `{shown}` must be greater than zero, e.g. `timeout = \"30s\"`"),
        Err(DurationError::BelowMillisecond) => format!(
            "timeout `{shown}` has a part below a millisecond: timeouts count whole milliseconds, \
             e.g. `timeout = \"1500ms\"`"
        ),
        Err(DurationError::TooLarge) => format!("timeout `{shown}` is too large"),
    };
    Err(syn::Error::new_spanned(lit, message))
}

/// Why a text is no timeout.
#[derive(Debug, PartialEq, Eq)]
enum DurationError {
    /// Not in the grammar; `humantime`'s description of what is wrong.
    Invalid(String),
    /// A duration of zero.
    Zero,
    /// A duration with microseconds or nanoseconds left over.
    BelowMillisecond,
    /// More milliseconds than a `u64` holds.
    TooLarge,
}

/// `text` in milliseconds: a `humantime` duration, not zero, whole
/// milliseconds, at most `u64::MAX` of them.
fn duration_millis(text: &str) -> Result<u64, DurationError> {
    let duration = humantime::parse_duration(text).map_err(|e| DurationError::Invalid(e.to_string()))?;
    if duration.is_zero() {
        return Err(DurationError::Zero);
    }
    if duration.subsec_nanos() % 1_000_000 != 0 {
        return Err(DurationError::BelowMillisecond);
    }
    u64::try_from(duration.as_millis()).map_err(|_| DurationError::TooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::parse;
    use crate::args::testing::messages;
    use quote::quote;

    #[test]
    fn accepted_durations() {
        for (text, millis) in [
            ("500ms", 500),
            ("1500ms", 1_500),
            ("10s", 10_000),
            ("1m30s", 90_000),
            ("1m 30s", 90_000),
            ("2h", 7_200_000),
            ("1h1m1s1ms", 3_661_001),
            ("1.5s", 1_500),
            ("2min", 120_000),
            ("10 seconds", 10_000),
            ("1day", 86_400_000),
            (" 10s ", 10_000),
            ("1000us", 1),
        ] {
            assert_eq!(duration_millis(text), Ok(millis), "{text:?}");
        }
    }

    #[test]
    fn refused_durations() {
        let invalid = |text: &str| match duration_millis(text) {
            Err(DurationError::Invalid(problem)) => problem,
            other => panic!("{text:?}: {other:?}"),
        };
        assert_eq!(invalid(""), "value was empty");
        assert_eq!(invalid("10"), "time unit needed, for example 10sec or 10ms");
        assert_eq!(invalid("-1s"), "expected number at 0");
        assert!(invalid("10 parsecs").starts_with("unknown time unit \"parsecs\", supported units: ns, "));
        for bad in ["s", "10x", "ms10", "1,5s", "1."] {
            invalid(bad);
        }
        for zero in ["0", "0s", "0ms", "0h 0m"] {
            assert_eq!(duration_millis(zero), Err(DurationError::Zero), "{zero:?}");
        }
        for fine in ["1us", "1500us", "1.0005s", "1ns"] {
            assert_eq!(duration_millis(fine), Err(DurationError::BelowMillisecond), "{fine:?}");
        }
        assert_eq!(duration_millis("18446744073709551s"), Ok(18_446_744_073_709_551_000));
        for huge in ["18446744073709552s", "9999999999y"] {
            assert_eq!(duration_millis(huge), Err(DurationError::TooLarge), "{huge:?}");
        }
        // Past what `humantime` counts (or below its nanosecond) is its error.
        for beyond in ["18446744073709551616s", "99999999999999999999ms", "0.5ns"] {
            assert!(invalid(beyond).starts_with("number is too large or cannot be represented"), "{beyond:?}");
        }
    }

    #[test]
    fn messages_name_the_problem() {
        let expected = "expected a duration such as `timeout = \"30s\"`, `\"1m 30s\"` or `\"500ms\"`";
        assert_eq!(
            messages(&parse(quote!(timeout = "10")).1),
            [format!("invalid timeout `10`: time unit needed, for example 10sec or 10ms; {expected}")]
        );
        assert_eq!(
            messages(&parse(quote!(timeout = "")).1),
            [format!("invalid timeout ``: value was empty; {expected}")]
        );
        let parsecs = messages(&parse(quote!(timeout = "10 parsecs")).1);
        assert!(parsecs[0].starts_with("invalid timeout `10 parsecs`: unknown time unit \"parsecs\""), "{parsecs:?}");
        assert!(parsecs[0].ends_with(expected), "{parsecs:?}");
        assert_eq!(
            messages(&parse(quote!(timeout = "0ms")).1),
            ["timeout `0ms` must be greater than zero, e.g. `timeout = \"30s\"`"]
        );
        assert_eq!(
            messages(&parse(quote!(timeout = "1500us")).1),
            ["timeout `1500us` has a part below a millisecond: timeouts count whole milliseconds, \
              e.g. `timeout = \"1500ms\"`"]
        );
        assert_eq!(messages(&parse(quote!(timeout = "9999999999y")).1), ["timeout `9999999999y` is too large"]);
    }
}
