//! Process limits: a whole number of processes and threads, at least
//! [`MIN_PIDS`].

use crate::ValueError;
use crate::error::{misshapen, non_digit};

/// The smallest process limit: the sandbox's own processes and the test
/// harness's threads need room.
pub const MIN_PIDS: u64 = 16;

/// What a process count looks like, closing the message on a text that is none.
const EXPECTED: &str = "expected a whole number of processes and threads, e.g. `128`";

/// Parses a process limit (processes and threads at once): ASCII digits
/// only (`128`), at least [`MIN_PIDS`]. A negative number (`-1`) is
/// refused as below the minimum.
///
/// ```
/// use isolated_test_values::parse_pids;
///
/// assert_eq!(parse_pids("128"), Ok(128));
/// assert!(parse_pids("8").is_err()); // below 16
/// assert!(parse_pids("1e3").is_err());
/// ```
///
/// # Errors
/// Not of that form (the message names what is wrong), more than a `u64`
/// holds, or below [`MIN_PIDS`].
pub fn parse_pids(text: &str) -> Result<u64, ValueError> {
    let too_few = || {
        ValueError::new(
            text,
            format!(
                "leaves no room for the sandbox's own processes and the test harness's threads; \
                 use at least {MIN_PIDS}"
            ),
        )
    };
    let negative = text.strip_prefix('-').is_some_and(|digits| !digits.is_empty() && non_digit(digits).is_none());
    if negative {
        return Err(too_few());
    }
    if let Some(what) = misshapen(text).map(str::to_owned).or_else(|| non_digit(text)) {
        return Err(ValueError::new(text, format!("is not a number of processes: {what}; {EXPECTED}")));
    }
    let pids: u64 =
        text.parse().map_err(|_| ValueError::new(text, "is too large: a process count is at most 2^64 - 1"))?;
    if pids < MIN_PIDS {
        return Err(too_few());
    }
    Ok(pids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted() {
        for (text, pids) in
            [("16", 16), ("128", 128), ("0128", 128), ("4096", 4096), ("18446744073709551615", u64::MAX)]
        {
            assert_eq!(parse_pids(text), Ok(pids), "{text:?}");
        }
    }

    #[test]
    fn not_a_number_of_processes() {
        for (text, problem) in [
            ("", "it is empty"),
            ("x", "`x` is not a digit"),
            ("1.5", "`.` is not a digit"),
            ("1e3", "`e` is not a digit"),
            ("0x100", "`x` is not a digit"),
            ("1_000", "`_` is not a digit"),
            ("+128", "it has a sign (write the number alone)"),
            ("-", "it is negative"),
            ("-x", "it is negative"),
            (" 128", "it contains whitespace"),
            ("128\n", "it contains whitespace"),
        ] {
            assert_eq!(
                parse_pids(text).unwrap_err().to_string(),
                format!("`{}` is not a number of processes: {problem}; {EXPECTED}", text.escape_debug()),
                "{text:?}"
            );
        }
    }

    #[test]
    fn refused_values() {
        for few in ["0", "8", "15", "-1", "-99999999999999999999"] {
            assert_eq!(
                parse_pids(few).unwrap_err().to_string(),
                format!(
                    "`{few}` leaves no room for the sandbox's own processes and the test harness's threads; \
                     use at least 16"
                )
            );
        }
        assert_eq!(
            parse_pids("18446744073709551616").unwrap_err().to_string(),
            "`18446744073709551616` is too large: a process count is at most 2^64 - 1"
        );
    }
}
