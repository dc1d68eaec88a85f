//! Memory limits: a whole number with an optional binary unit
//! (`<digits>[K|M|G|T][B|iB]`), in bytes, at least [`MIN_MEMORY`].

use crate::ValueError;
use crate::error::{misshapen, non_digit};

/// The smallest memory limit: below it the sandbox cannot even load the
/// test binary.
pub const MIN_MEMORY: u64 = 4 << 20;

/// What a memory size looks like, closing the message on a text that is none.
const EXPECTED: &str = "expected a whole number with an optional binary unit `K`, `M`, `G` or `T` \
                        (1K = 1024 bytes; `B` or `iB` may follow, no unit is bytes), e.g. `256M`, `1G` or `512MiB`";

/// Parses a memory limit into bytes: ASCII digits, then optionally a
/// binary unit `K`, `M`, `G` or `T` (either case; 1K = 1024), then
/// optionally `B` (or `iB` after a unit): `256M`, `256m`, `256MB`,
/// `256MiB`, `4194304`, `4194304B`. Nothing else: no whitespace, sign,
/// fraction or decimal unit. At least [`MIN_MEMORY`].
///
/// ```
/// use isolated_test_values::parse_memory;
///
/// assert_eq!(parse_memory("256M"), Ok(256 << 20));
/// assert_eq!(parse_memory("1GiB"), Ok(1 << 30));
/// assert!(parse_memory("1.5G").is_err()); // write 1536M
/// assert!(parse_memory("1M").is_err()); // below 4 MiB
/// ```
///
/// # Errors
/// Not of that form (the message names what is wrong: no number, a
/// fraction, an unknown unit, ...), more bytes than a `u64` holds, or
/// below [`MIN_MEMORY`].
pub fn parse_memory(text: &str) -> Result<u64, ValueError> {
    let bytes = bytes(text).map_err(|problem| ValueError::new(text, problem))?;
    if bytes < MIN_MEMORY {
        return Err(ValueError::new(
            text,
            "is below the 4 MiB a sandbox needs to start (the test binary itself); use at least `4M`",
        ));
    }
    Ok(bytes)
}

/// `text` in bytes, or what is wrong with it (the message after the text).
fn bytes(text: &str) -> Result<u64, String> {
    let not_a_size = |what: &str| format!("is not a memory size: {what}; {EXPECTED}");
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    if let Some(what) = misshapen(text) {
        return Err(not_a_size(what));
    }
    if number.is_empty() {
        return Err(not_a_size(&non_digit(text).unwrap_or_default()));
    }
    let (shift, rest) = match unit.chars().next().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (10, &unit[1..]),
        Some('M') => (20, &unit[1..]),
        Some('G') => (30, &unit[1..]),
        Some('T') => (40, &unit[1..]),
        _ => (0, unit),
    };
    match rest {
        "" | "B" => {}
        "iB" if shift > 0 => {}
        _ if unit.starts_with(['.', ',']) => {
            return Err(not_a_size("it has a fraction (use a smaller unit: `1536M`, not `1.5G`)"));
        }
        _ => return Err(not_a_size(&format!("unknown unit `{}`", unit.escape_debug()))),
    }
    let too_large = || "is too large: a memory size is at most 2^64 - 1 bytes (16 EiB)".to_owned();
    let number: u64 = number.parse().map_err(|_| too_large())?;
    number.checked_mul(1 << shift).ok_or_else(too_large)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted() {
        for (text, bytes) in [
            ("4194304", 4 << 20),
            ("4194304B", 4 << 20),
            ("4096K", 4 << 20),
            ("4M", 4 << 20),
            ("256M", 256 << 20),
            ("256m", 256 << 20),
            ("256MB", 256 << 20),
            ("256MiB", 256 << 20),
            ("256mB", 256 << 20),
            ("256miB", 256 << 20),
            ("0256MiB", 256 << 20),
            ("8388608", 8 << 20),
            ("1g", 1 << 30),
            ("2G", 2 << 30),
            ("3T", 3 << 40),
            ("16777215T", 16_777_215 << 40),
            ("18446744073709551615", u64::MAX),
        ] {
            assert_eq!(parse_memory(text), Ok(bytes), "{text:?}");
        }
    }

    #[test]
    fn not_a_size() {
        let what = |text: &str| {
            let message = parse_memory(text).unwrap_err().to_string();
            let rest = message.strip_prefix(&format!("`{}` is not a memory size: ", text.escape_debug())).unwrap();
            rest.strip_suffix(&format!("; {EXPECTED}")).unwrap().to_owned()
        };
        for (text, problem) in [
            ("", "it is empty"),
            ("M", "`M` is not a digit"),
            ("iB", "`i` is not a digit"),
            ("B", "`B` is not a digit"),
            ("-1M", "it is negative"),
            ("+1M", "it has a sign (write the number alone)"),
            (" 256M", "it contains whitespace"),
            ("256M ", "it contains whitespace"),
            ("256 M", "it contains whitespace"),
            ("1.5G", "it has a fraction (use a smaller unit: `1536M`, not `1.5G`)"),
            ("0.5G", "it has a fraction (use a smaller unit: `1536M`, not `1.5G`)"),
            ("1,5G", "it has a fraction (use a smaller unit: `1536M`, not `1.5G`)"),
            ("256X", "unknown unit `X`"),
            ("256iB", "unknown unit `iB`"),
            ("1iB", "unknown unit `iB`"),
            ("256MM", "unknown unit `MM`"),
            ("256Mb", "unknown unit `Mb`"),
            ("256MBB", "unknown unit `MBB`"),
            ("256MiBiB", "unknown unit `MiBiB`"),
            ("1gib", "unknown unit `gib`"),
            ("1e6", "unknown unit `e6`"),
            ("1M\u{7}", "unknown unit `M\\u{7}`"),
        ] {
            assert_eq!(what(text), problem, "{text:?}");
        }
    }

    #[test]
    fn refused_values() {
        let too_large = |text: &str| format!("`{text}` is too large: a memory size is at most 2^64 - 1 bytes (16 EiB)");
        for huge in ["16777216T", "18446744073709551616", "99999999999T"] {
            assert_eq!(parse_memory(huge).unwrap_err().to_string(), too_large(huge));
        }
        for small in ["1M", "0", "4194303", "4095K", "0G"] {
            assert_eq!(
                parse_memory(small).unwrap_err().to_string(),
                format!(
                    "`{small}` is below the 4 MiB a sandbox needs to start (the test binary itself); \
                     use at least `4M`"
                )
            );
        }
    }
}
