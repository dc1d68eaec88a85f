//! `timeout = "1m30s"`: a duration, in milliseconds, greater than zero.

use syn::LitStr;

/// Parses `"1m30s"`-style durations into milliseconds.
pub(super) fn parse_timeout(lit: &LitStr) -> syn::Result<u64> {
    let text = lit.value();
    let invalid = || {
        syn::Error::new_spanned(
            lit,
            format!(
                "invalid timeout `{text}`: expected one or more `<integer><unit>` groups \
                 with units `ms`, `s`, `m` or `h`, e.g. `timeout = \"30s\"`, `\"500ms\"` or `\"1m30s\"`"
            ),
        )
    };
    let too_large = || syn::Error::new_spanned(lit, format!("timeout `{text}` is too large"));
    let millis = duration_millis(&text).map_err(|e| match e {
        DurationError::Invalid => invalid(),
        DurationError::Overflow => too_large(),
    })?;
    if millis == 0 {
        return Err(syn::Error::new_spanned(
            lit,
            format!("timeout `{text}` must be greater than zero, e.g. `timeout = \"30s\"`"),
        ));
    }
    Ok(millis)
}

#[derive(Debug, PartialEq, Eq)]
enum DurationError {
    Invalid,
    Overflow,
}

fn duration_millis(text: &str) -> Result<u64, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Invalid);
    }
    let mut rest = text;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(DurationError::Invalid);
        }
        let (number, tail) = rest.split_at(digits);
        let unit_len = tail.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(DurationError::Invalid),
        };
        let number: u64 = number.parse().map_err(|_| DurationError::Overflow)?;
        total = number.checked_mul(scale).and_then(|ms| total.checked_add(ms)).ok_or(DurationError::Overflow)?;
        rest = tail;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::parse;
    use crate::args::testing::messages;
    use quote::quote;

    #[test]
    fn zero_is_refused() {
        let (_, errors) = parse(quote!(timeout = "0ms"));
        assert_eq!(messages(&errors), ["timeout `0ms` must be greater than zero, e.g. `timeout = \"30s\"`"]);
    }

    #[test]
    fn durations() {
        assert_eq!(duration_millis("500ms"), Ok(500));
        assert_eq!(duration_millis("10s"), Ok(10_000));
        assert_eq!(duration_millis("1m30s"), Ok(90_000));
        assert_eq!(duration_millis("2h"), Ok(7_200_000));
        assert_eq!(duration_millis("1h1m1s1ms"), Ok(3_661_001));
        assert_eq!(duration_millis("0s"), Ok(0));
        for bad in ["", "10", "s", "10x", "1.5s", " 10s", "10 s", "-1s", "10sec", "ms10"] {
            assert_eq!(duration_millis(bad), Err(DurationError::Invalid), "{bad:?}");
        }
        assert_eq!(duration_millis("99999999999999999999ms"), Err(DurationError::Overflow));
        assert_eq!(duration_millis("18446744073709551615h"), Err(DurationError::Overflow));
    }
}
