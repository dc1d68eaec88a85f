//! CPU limits: a number of cores with at most three decimals
//! (`<digits>[.<1 to 3 digits>]`), in thousandths of a core, from
//! [`MIN_CPU_MILLIS`] to [`MAX_CPU_MILLIS`].

use crate::ValueError;
use crate::error::{misshapen, non_digit};

/// The smallest CPU limit in thousandths of a core: the kernel's minimum
/// quota, 0.01 core (1 ms per 100 ms period).
pub const MIN_CPU_MILLIS: u64 = 10;

/// The largest CPU limit in thousandths of a core: 1024 cores.
pub const MAX_CPU_MILLIS: u64 = 1_024_000;

/// What a number of cores looks like, closing the message on a text that is none.
const EXPECTED: &str = "expected a number of cores with at most 3 decimals, e.g. `1.5`, `0.25` or `2`";

/// Parses a CPU limit into thousandths of a core: ASCII digits, then
/// optionally `.` and one to three digits: `2`, `1.5`, `0.25`, `0.001`.
/// Nothing else: a digit is needed on both sides of a `.` (`0.5`, not
/// `.5`; `1`, not `1.`), no whitespace, sign or exponent. From
/// [`MIN_CPU_MILLIS`] to [`MAX_CPU_MILLIS`].
///
/// ```
/// use isolated_test_values::parse_cpu;
///
/// assert_eq!(parse_cpu("1.5"), Ok(1500));
/// assert_eq!(parse_cpu("0.25"), Ok(250));
/// assert!(parse_cpu(".5").is_err()); // write 0.5
/// assert!(parse_cpu("0.001").is_err()); // below the kernel's 0.01
/// ```
///
/// # Errors
/// Not of that form (the message names what is wrong), below
/// [`MIN_CPU_MILLIS`] or above [`MAX_CPU_MILLIS`].
pub fn parse_cpu(text: &str) -> Result<u64, ValueError> {
    let millis =
        millis(text).map_err(|what| ValueError::new(text, format!("is not a number of cores: {what}; {EXPECTED}")))?;
    if millis < MIN_CPU_MILLIS {
        return Err(ValueError::new(text, "is below the kernel's minimum CPU quota of 0.01 core; use at least `0.01`"));
    }
    if millis > MAX_CPU_MILLIS {
        return Err(ValueError::new(text, "is above the maximum of 1024 cores"));
    }
    Ok(millis)
}

/// `text` in thousandths of a core, saturating on huge numbers (they are
/// out of range anyway), or what is wrong with it.
fn millis(text: &str) -> Result<u64, String> {
    if let Some(what) = misshapen(text) {
        return Err(what.to_owned());
    }
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if let Some(what) = non_digit(whole) {
        return Err(what);
    }
    if whole.is_empty() {
        return Err(match non_digit(fraction) {
            None if !fraction.is_empty() => format!("no digit before the `.` (write `0.{fraction}`)"),
            _ => "no digit before the `.`".to_owned(),
        });
    }
    if fraction.contains('.') {
        return Err("it has more than one `.`".to_owned());
    }
    if text.ends_with('.') {
        return Err(format!("no digit after the `.` (write `{whole}`)"));
    }
    if let Some(what) = non_digit(fraction) {
        return Err(what);
    }
    if fraction.len() > 3 {
        return Err(format!("it has {} decimals", fraction.len()));
    }
    let whole: u64 = whole.parse().unwrap_or(u64::MAX);
    let fraction: u64 = format!("{fraction:0<3}").parse().unwrap_or(0);
    Ok(whole.saturating_mul(1000).saturating_add(fraction))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted() {
        for (text, millis) in [
            ("1", 1000),
            ("2", 2000),
            ("1.5", 1500),
            ("0.25", 250),
            ("0.010", 10),
            ("0.01", 10),
            ("01.05", 1050),
            ("1024", 1_024_000),
            ("1024.000", 1_024_000),
        ] {
            assert_eq!(parse_cpu(text), Ok(millis), "{text:?}");
        }
    }

    #[test]
    fn not_a_number_of_cores() {
        let what = |text: &str| {
            let message = parse_cpu(text).unwrap_err().to_string();
            let rest = message.strip_prefix(&format!("`{}` is not a number of cores: ", text.escape_debug())).unwrap();
            rest.strip_suffix(&format!("; {EXPECTED}")).unwrap().to_owned()
        };
        for (text, problem) in [
            ("", "it is empty"),
            (".", "no digit before the `.`"),
            (".x", "no digit before the `.`"),
            ("x.5", "`x` is not a digit"),
            (".5", "no digit before the `.` (write `0.5`)"),
            ("1.", "no digit after the `.` (write `1`)"),
            ("1.2345", "it has 4 decimals"),
            ("1.2.3", "it has more than one `.`"),
            ("fast", "`f` is not a digit"),
            ("1,5", "`,` is not a digit"),
            ("-1", "it is negative"),
            ("-0.5", "it is negative"),
            ("+1", "it has a sign (write the number alone)"),
            ("1.-5", "`-` is not a digit"),
            (" 1", "it contains whitespace"),
            ("1 ", "it contains whitespace"),
            ("1. 5", "it contains whitespace"),
            ("1e3", "`e` is not a digit"),
            ("0x10", "`x` is not a digit"),
        ] {
            assert_eq!(what(text), problem, "{text:?}");
        }
    }

    #[test]
    fn out_of_range() {
        for small in ["0", "0.009", "0.001", "0.000"] {
            assert_eq!(
                parse_cpu(small).unwrap_err().to_string(),
                format!("`{small}` is below the kernel's minimum CPU quota of 0.01 core; use at least `0.01`")
            );
        }
        for large in ["1024.001", "2048", "99999999999999999999", "99999999999999999999.999"] {
            assert_eq!(
                parse_cpu(large).unwrap_err().to_string(),
                format!("`{large}` is above the maximum of 1024 cores")
            );
        }
    }
}
