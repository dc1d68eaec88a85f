//! Timeouts: a duration in `humantime`'s grammar (`500ms`, `10s`,
//! `1m 30s`, `1.5h`, `2days`), greater than zero, in whole milliseconds
//! (the attribute's generated code carries milliseconds), at most
//! [`MAX_TIMEOUT`].

use std::time::Duration;

use crate::ValueError;

/// The longest timeout: `u64::MAX` milliseconds (about 584 million years).
pub const MAX_TIMEOUT: Duration = Duration::from_millis(u64::MAX);

/// What a timeout looks like, closing the message on a text that is none.
const EXPECTED: &str = "expected one like `30s`, `1m 30s` or `500ms`";

/// Parses a timeout: `humantime`'s grammar (a number and a unit, `ns` to
/// `years`, one or more of them: `1m 30s`, `1h1m`; a decimal number is
/// fine, `1.5s`), greater than zero, a whole number of milliseconds, at
/// most [`MAX_TIMEOUT`].
///
/// ```
/// use std::time::Duration;
/// use isolated_test_values::parse_timeout;
///
/// assert_eq!(parse_timeout("1m 30s"), Ok(Duration::from_secs(90)));
/// assert_eq!(parse_timeout("1.5s"), Ok(Duration::from_millis(1500)));
/// assert!(parse_timeout("10").is_err()); // no unit
/// assert!(parse_timeout("1500us").is_err()); // a part below a millisecond
/// ```
///
/// # Errors
/// Not in that grammar (the message quotes `humantime`'s reason: no unit,
/// an unknown unit, ...), zero, with microseconds or nanoseconds left over,
/// or longer than [`MAX_TIMEOUT`].
pub fn parse_timeout(text: &str) -> Result<Duration, ValueError> {
    let refused = |problem: String| ValueError::new(text, problem);
    let duration =
        humantime::parse_duration(text).map_err(|e| refused(format!("is not a duration: {e}; {EXPECTED}")))?;
    if duration.is_zero() {
        return Err(refused("is zero: a timeout must be greater than zero, e.g. `30s`".into()));
    }
    if duration.subsec_nanos() % 1_000_000 != 0 {
        return Err(refused("has a part below a millisecond: timeouts count whole milliseconds, e.g. `1500ms`".into()));
    }
    if duration > MAX_TIMEOUT {
        return Err(refused(
            "is too large for a timeout: at most 2^64 - 1 milliseconds (about 584 million years)".into(),
        ));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(text: &str) -> Result<u128, String> {
        parse_timeout(text).map(|d| d.as_millis()).map_err(|e| e.to_string())
    }

    #[test]
    fn accepted() {
        for (text, ms) in [
            ("500ms", 500),
            ("1500ms", 1_500),
            ("10s", 10_000),
            ("1m30s", 90_000),
            ("1m 30s", 90_000),
            ("2h", 7_200_000),
            ("1h1m1s1ms", 3_661_001),
            ("1.5s", 1_500),
            ("1.5h", 5_400_000),
            ("2min", 120_000),
            ("10 seconds", 10_000),
            ("1day", 86_400_000),
            ("2days", 172_800_000),
            // humantime's own leniency: whitespace around the text.
            (" 10s ", 10_000),
            ("1000us", 1),
            ("18446744073709551s", 18_446_744_073_709_551_000),
            ("18446744073709551s 615ms", u128::from(u64::MAX)),
        ] {
            assert_eq!(millis(text), Ok(ms), "{text:?}");
        }
        assert_eq!(parse_timeout("18446744073709551s 615ms"), Ok(MAX_TIMEOUT));
    }

    #[test]
    fn not_a_duration() {
        let reason = |text: &str| {
            let message = millis(text).unwrap_err();
            let rest = message.strip_prefix(&format!("`{}` is not a duration: ", text.escape_debug())).unwrap();
            rest.strip_suffix("; expected one like `30s`, `1m 30s` or `500ms`").unwrap().to_owned()
        };
        assert_eq!(reason(""), "value was empty");
        assert_eq!(reason("10"), "time unit needed, for example 10sec or 10ms");
        assert_eq!(reason("-1s"), "expected number at 0");
        assert!(reason("10 parsecs").starts_with("unknown time unit \"parsecs\", supported units: ns, "));
        for bad in ["s", "10x", "ms10", "1,5s", "1.", "1\n"] {
            reason(bad);
        }
        // Past what `humantime` counts (or below its nanosecond) is its error.
        for beyond in ["18446744073709551616s", "18446744073709551615ms", "0.5ns"] {
            assert!(reason(beyond).starts_with("number is too large or cannot be represented"), "{beyond:?}");
        }
    }

    #[test]
    fn refused_values() {
        for zero in ["0", "0s", "0ms", "0h 0m"] {
            assert_eq!(millis(zero), Err(format!("`{zero}` is zero: a timeout must be greater than zero, e.g. `30s`")));
        }
        for fine in ["1us", "1500us", "1.0005s", "1ns"] {
            assert_eq!(
                millis(fine),
                Err(format!(
                    "`{fine}` has a part below a millisecond: timeouts count whole milliseconds, e.g. `1500ms`"
                ))
            );
        }
        for huge in ["18446744073709552s", "18446744073709551s 616ms", "9999999999y"] {
            assert_eq!(
                millis(huge),
                Err(format!(
                    "`{huge}` is too large for a timeout: at most 2^64 - 1 milliseconds (about 584 million years)"
                ))
            );
        }
    }
}
