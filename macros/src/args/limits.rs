//! The resource limits: `memory = "256M"` (bytes), `pids = 128` and
//! `cpu = "1.5"` (thousandths of a core), each with the bounds below which
//! (or above which) a sandbox cannot work.

use syn::{Expr, ExprLit, Lit, LitInt, LitStr, Meta};

use super::value::value;

/// The smallest memory limit: below it the sandbox cannot even load the test binary.
const MIN_MEMORY_BYTES: u64 = 4 << 20;

/// The smallest pids limit: the sandbox's own processes and the harness's threads need room.
const MIN_PIDS: u64 = 16;

/// The CPU bounds in thousandths of a core: the kernel's minimum quota (0.01
/// core) and 1024 cores.
const CPU_MILLIS: std::ops::RangeInclusive<u64> = 10..=1_024_000;

/// Parses `memory = "256M"`: bytes, at least [`MIN_MEMORY_BYTES`].
pub(super) fn parse_memory(lit: &LitStr) -> syn::Result<u64> {
    let text = lit.value();
    let shown = text.escape_debug();
    let bytes = memory_bytes(&text).map_err(|e| {
        let message = match e {
            MemoryError::Invalid => format!(
                "invalid memory limit `{shown}`: expected a positive integer with an optional binary unit \
                 `K`, `M`, `G` or `T` (1K = 1024 bytes; `B` or `iB` may follow, no unit is bytes), \
                 e.g. `memory = \"256M\"`, `\"1G\"` or `\"512MiB\"`"
            ),
            MemoryError::Overflow => format!("memory `{shown}` is too large"),
        };
        syn::Error::new_spanned(lit, message)
    })?;
    if bytes < MIN_MEMORY_BYTES {
        return Err(syn::Error::new_spanned(
            lit,
            format!(
                "memory limit `{shown}` is below the 4 MiB a sandbox needs to start (the test binary itself); \
                 use at least `memory = \"4M\"`"
            ),
        ));
    }
    Ok(bytes)
}

#[derive(Debug, PartialEq, Eq)]
enum MemoryError {
    Invalid,
    Overflow,
}

/// `<digits>[K|M|G|T][B|iB]` (units in either case, binary; `B` alone is bytes) in bytes.
fn memory_bytes(text: &str) -> Result<u64, MemoryError> {
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    if digits == 0 {
        return Err(MemoryError::Invalid);
    }
    let (number, unit) = text.split_at(digits);
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
        _ => return Err(MemoryError::Invalid),
    }
    let number: u64 = number.parse().map_err(|_| MemoryError::Overflow)?;
    number.checked_mul(1 << shift).ok_or(MemoryError::Overflow)
}

/// The integer literal of `pids = 128`, unsuffixed and at least [`MIN_PIDS`],
/// or an error on whatever stands instead.
pub(super) fn pids_value(meta: &Meta) -> syn::Result<(LitInt, u64)> {
    let expected = "expected `pids = 128`";
    let value = value(meta, "pids", expected)?;
    let Expr::Lit(ExprLit { lit: Lit::Int(lit), .. }) = value else {
        return Err(syn::Error::new_spanned(value, format!("`pids` takes an integer literal: {expected}")));
    };
    if !lit.suffix().is_empty() {
        return Err(syn::Error::new_spanned(
            lit,
            format!("`pids` takes an integer literal without a suffix: {expected}"),
        ));
    }
    let written = lit.to_string();
    // syn reads `-1` as one negative literal: below the minimum, not too large.
    let pids: u64 = match lit.base10_parse() {
        Ok(pids) => pids,
        Err(_) if lit.base10_digits().starts_with('-') => 0,
        Err(_) => return Err(syn::Error::new_spanned(lit, format!("`pids = {written}` is too large"))),
    };
    if pids < MIN_PIDS {
        return Err(syn::Error::new_spanned(
            lit,
            format!(
                "`pids = {written}` leaves no room for the sandbox's own processes and the test harness's \
                 threads; use at least {MIN_PIDS}"
            ),
        ));
    }
    Ok((lit.clone(), pids))
}

/// Parses `cpu = "1.5"`: cores, into thousandths of a core within [`CPU_MILLIS`].
pub(super) fn parse_cpu(lit: &LitStr) -> syn::Result<u64> {
    let text = lit.value();
    let shown = text.escape_debug();
    let Some(millis) = cpu_millis(&text) else {
        return Err(syn::Error::new_spanned(
            lit,
            format!(
                "invalid cpu limit `{shown}`: expected a positive number of cores with at most 3 decimals, \
                 e.g. `cpu = \"1.5\"`, `\"0.25\"` or `\"2\"`"
            ),
        ));
    };
    if millis < *CPU_MILLIS.start() {
        return Err(syn::Error::new_spanned(
            lit,
            format!(
                "`cpu = \"{shown}\"` is below the kernel's minimum quota of 0.01 core; use at least `cpu = \"0.01\"`"
            ),
        ));
    }
    if millis > *CPU_MILLIS.end() {
        return Err(syn::Error::new_spanned(lit, format!("`cpu = \"{shown}\"` is above the maximum of 1024 cores")));
    }
    Ok(millis)
}

/// `<digits>[.<1 to 3 digits>]` in thousandths; saturates on huge integers
/// (they are out of range anyway), `None` on anything else.
fn cpu_millis(text: &str) -> Option<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str, max: usize| s.bytes().all(|b| b.is_ascii_digit()) && s.len() <= max;
    // Both sides of a `.` are needed: "1." and ".5" are rejected.
    if whole.is_empty() || text.ends_with('.') || !digits(whole, usize::MAX) || !digits(fraction, 3) {
        return None;
    }
    let whole: u64 = whole.parse().unwrap_or(u64::MAX);
    let fraction: u64 = format!("{fraction:0<3}").parse().ok()?;
    Some(whole.saturating_mul(1000).saturating_add(fraction))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::parse;
    use crate::args::testing::messages;
    use quote::quote;

    #[test]
    fn resource_limits_parse() {
        let (args, errors) = parse(quote!(memory = "256M", pids = 128, cpu = "1.5"));
        assert!(errors.is_empty(), "{:?}", messages(&errors));
        let memory = args.memory.unwrap();
        assert_eq!(
            (memory.key.to_string(), memory.lit.value(), memory.value),
            ("memory".into(), "256M".into(), 256 << 20)
        );
        let pids = args.pids.unwrap();
        assert_eq!((pids.key.to_string(), pids.lit.to_string(), pids.value), ("pids".into(), "128".into(), 128));
        let cpu = args.cpu.unwrap();
        assert_eq!((cpu.key.to_string(), cpu.lit.value(), cpu.value), ("cpu".into(), "1.5".into(), 1500));
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(memory_bytes("4194304"), Ok(4 << 20));
        assert_eq!(memory_bytes("4194304B"), Ok(4 << 20));
        for (text, bytes) in [
            ("512K", 512 << 10),
            ("256M", 256 << 20),
            ("256m", 256 << 20),
            ("256MB", 256 << 20),
            ("256MiB", 256 << 20),
            ("256mB", 256 << 20),
            ("0256MiB", 256 << 20),
            ("2G", 2 << 30),
            ("1gib", 0),
            ("3T", 3 << 40),
            ("16777215T", 16_777_215 << 40),
        ] {
            if bytes == 0 {
                assert_eq!(memory_bytes(text), Err(MemoryError::Invalid), "{text:?}");
            } else {
                assert_eq!(memory_bytes(text), Ok(bytes), "{text:?}");
            }
        }
        for bad in
            ["", "M", "iB", "B", "256iB", "256X", "256MM", "256Mb", "256 M", " 256M", "1.5G", "-1M", "+1M", "1e6"]
        {
            assert_eq!(memory_bytes(bad), Err(MemoryError::Invalid), "{bad:?}");
        }
        assert_eq!(memory_bytes("16777216T"), Err(MemoryError::Overflow));
        assert_eq!(memory_bytes("18446744073709551616"), Err(MemoryError::Overflow));
        assert_eq!(memory_bytes("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn memory_bad_values() {
        let invalid = |text: &str| {
            format!(
                "invalid memory limit `{text}`: expected a positive integer with an optional binary unit `K`, `M`, \
                 `G` or `T` (1K = 1024 bytes; `B` or `iB` may follow, no unit is bytes), e.g. `memory = \"256M\"`, \
                 `\"1G\"` or `\"512MiB\"`"
            )
        };
        assert_eq!(messages(&parse(quote!(memory = "256X")).1), [invalid("256X")]);
        assert_eq!(messages(&parse(quote!(memory = "")).1), [invalid("")]);
        assert_eq!(messages(&parse(quote!(memory = "0.5G")).1), [invalid("0.5G")]);
        assert_eq!(messages(&parse(quote!(memory = "99999999T")).1), ["memory `99999999T` is too large"]);
        let below = |text: &str| {
            format!(
                "memory limit `{text}` is below the 4 MiB a sandbox needs to start (the test binary itself); \
                 use at least `memory = \"4M\"`"
            )
        };
        assert_eq!(messages(&parse(quote!(memory = "1M")).1), [below("1M")]);
        assert_eq!(messages(&parse(quote!(memory = "0")).1), [below("0")]);
        assert_eq!(messages(&parse(quote!(memory = "4194303")).1), [below("4194303")]);
        assert_eq!(parse(quote!(memory = "4M")).0.memory.unwrap().value, 4 << 20);
        assert_eq!(
            messages(&parse(quote!(memory = 256)).1),
            ["`memory` takes a string literal: expected `memory = \"256M\"`"]
        );
        assert_eq!(messages(&parse(quote!(memory)).1), ["`memory` needs a value: expected `memory = \"256M\"`"]);
    }

    #[test]
    fn pids_bad_values() {
        assert_eq!(parse(quote!(pids = 16)).0.pids.unwrap().value, 16);
        assert_eq!(parse(quote!(pids = 0x100)).0.pids.unwrap().value, 256);
        assert_eq!(parse(quote!(pids = 1_000)).0.pids.unwrap().value, 1000);
        let not_int = "`pids` takes an integer literal: expected `pids = 128`";
        assert_eq!(messages(&parse(quote!(pids = "128")).1), [not_int]);
        assert_eq!(messages(&parse(quote!(pids = 1.5)).1), [not_int]);
        assert_eq!(messages(&parse(quote!(pids)).1), ["`pids` needs a value: expected `pids = 128`"]);
        assert_eq!(
            messages(&parse(quote!(pids = 128u32)).1),
            ["`pids` takes an integer literal without a suffix: expected `pids = 128`"]
        );
        assert_eq!(
            messages(&parse(quote!(pids = 8)).1),
            ["`pids = 8` leaves no room for the sandbox's own processes and the test harness's threads; \
              use at least 16"]
        );
        assert_eq!(
            messages(&parse(quote!(pids = -1)).1),
            ["`pids = -1` leaves no room for the sandbox's own processes and the test harness's threads; \
              use at least 16"]
        );
        assert_eq!(
            messages(&parse(quote!(pids = 18446744073709551616)).1),
            ["`pids = 18446744073709551616` is too large"]
        );
    }

    #[test]
    fn cpu_amounts() {
        for (text, millis) in [
            ("1", 1000),
            ("2", 2000),
            ("1.5", 1500),
            ("0.25", 250),
            ("0.001", 1),
            ("0.010", 10),
            ("01.05", 1050),
            ("1024", 1_024_000),
            ("0", 0),
            ("99999999999999999999", u64::MAX),
        ] {
            assert_eq!(cpu_millis(text), Some(millis), "{text:?}");
        }
        for bad in ["", ".", "1.", ".5", "1.2345", "fast", "1,5", "-1", "+1", " 1", "1 ", "1e3", "1.2.3", "0x10"] {
            assert_eq!(cpu_millis(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn cpu_bad_values() {
        let invalid = |text: &str| {
            format!(
                "invalid cpu limit `{text}`: expected a positive number of cores with at most 3 decimals, \
                 e.g. `cpu = \"1.5\"`, `\"0.25\"` or `\"2\"`"
            )
        };
        assert_eq!(messages(&parse(quote!(cpu = "1.2345")).1), [invalid("1.2345")]);
        assert_eq!(messages(&parse(quote!(cpu = "fast")).1), [invalid("fast")]);
        let below = |text: &str| {
            format!(
                "`cpu = \"{text}\"` is below the kernel's minimum quota of 0.01 core; use at least `cpu = \"0.01\"`"
            )
        };
        assert_eq!(messages(&parse(quote!(cpu = "0")).1), [below("0")]);
        assert_eq!(messages(&parse(quote!(cpu = "0.009")).1), [below("0.009")]);
        assert_eq!(parse(quote!(cpu = "0.01")).0.cpu.unwrap().value, 10);
        assert_eq!(
            messages(&parse(quote!(cpu = "1024.001")).1),
            ["`cpu = \"1024.001\"` is above the maximum of 1024 cores"]
        );
        assert_eq!(
            messages(&parse(quote!(cpu = "99999999999999999999")).1),
            ["`cpu = \"99999999999999999999\"` is above the maximum of 1024 cores"]
        );
        assert_eq!(messages(&parse(quote!(cpu = 1.5)).1), ["`cpu` takes a string literal: expected `cpu = \"1.5\"`"]);
    }
}
