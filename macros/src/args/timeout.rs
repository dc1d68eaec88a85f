//! `timeout = "1m 30s"`: a duration in the grammar of
//! `isolated_test_values::parse_timeout` (`humantime`'s: `500ms`, `10s`,
//! `1m 30s`, `1.5h`, `2days`; more than zero, whole milliseconds), the one
//! `ISOLATED_TEST_TIMEOUT` and `isolated-test run --timeout` take too. The
//! generated code passes it in milliseconds.

use syn::LitStr;

/// Parses `timeout = "..."` into milliseconds; the error is on the literal.
pub(super) fn parse_timeout(lit: &LitStr) -> syn::Result<u64> {
    let duration = isolated_test_values::parse_timeout(&lit.value()).map_err(|e| syn::Error::new_spanned(lit, e))?;
    // `parse_timeout` refuses more than `u64::MAX` milliseconds.
    Ok(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use crate::args::parse;
    use crate::args::testing::messages;
    use quote::quote;

    #[test]
    fn milliseconds() {
        assert_eq!(parse(quote!(timeout = "1m 30s")).0.timeout.unwrap().value, 90_000);
        assert_eq!(parse(quote!(timeout = "1.5s")).0.timeout.unwrap().value, 1_500);
        assert_eq!(parse(quote!(timeout = "18446744073709551s 615ms")).0.timeout.unwrap().value, u64::MAX);
    }

    #[test]
    fn messages_name_the_problem() {
        let expected = "expected one like `30s`, `1m 30s` or `500ms`";
        assert_eq!(
            messages(&parse(quote!(timeout = "10")).1),
            [format!("`10` is not a duration: time unit needed, for example 10sec or 10ms; {expected}")]
        );
        assert_eq!(
            messages(&parse(quote!(timeout = "")).1),
            [format!("`` is not a duration: value was empty; {expected}")]
        );
        let parsecs = messages(&parse(quote!(timeout = "10 parsecs")).1);
        assert!(parsecs[0].starts_with("`10 parsecs` is not a duration: unknown time unit \"parsecs\""), "{parsecs:?}");
        assert!(parsecs[0].ends_with(expected), "{parsecs:?}");
        assert_eq!(
            messages(&parse(quote!(timeout = "0ms")).1),
            ["`0ms` is zero: a timeout must be greater than zero, e.g. `30s`"]
        );
        assert_eq!(
            messages(&parse(quote!(timeout = "1500us")).1),
            ["`1500us` has a part below a millisecond: timeouts count whole milliseconds, e.g. `1500ms`"]
        );
        assert_eq!(
            messages(&parse(quote!(timeout = "9999999999y")).1),
            ["`9999999999y` is too large for a timeout: at most 2^64 - 1 milliseconds (about 584 million years)"]
        );
        assert_eq!(
            messages(&parse(quote!(timeout = 30)).1),
            ["`timeout` takes a string literal: expected `timeout = \"30s\"`"]
        );
    }
}
