//! Parsing of the attribute arguments: `timeout`, `hostname` and `crate`, each a
//! `key = "string"` pair, and `privileged = true`. Every key is kept with its span, duplicates are
//! rejected, and all errors are collected so a bad argument never hides another.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Ident, Lit, LitStr, Meta, Token};

/// The accepted keys with an example value, in the order the messages list them.
const KEYS: [(&str, &str); 4] =
    [("timeout", "30s"), ("hostname", "box"), ("privileged", "true"), ("crate", "::isolated_test")];

/// One parsed argument: the key as written (for its span) and the checked value.
#[derive(Debug, Clone)]
pub(crate) struct Arg<T> {
    /// The key token, e.g. `timeout`.
    pub(crate) key: Ident,
    /// The string literal as written, for its span.
    pub(crate) lit: LitStr,
    /// The checked value.
    pub(crate) value: T,
}

/// The attribute arguments; a missing or invalid argument is `None`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Args {
    /// `timeout = "..."`, in milliseconds, greater than zero.
    pub(crate) timeout: Option<Arg<u64>>,
    /// `hostname = "..."`, a valid hostname.
    pub(crate) hostname: Option<Arg<String>>,
    /// `crate = "..."`, the path of the runtime crate.
    pub(crate) krate: Option<Arg<syn::Path>>,
    /// `privileged = true`: no user namespace (real root only).
    pub(crate) privileged: Option<(Ident, syn::LitBool)>,
}

/// Parses the arguments of `#[isolated_test(...)]`.
///
/// Returns the arguments that are valid, and one error per problem; the caller
/// expands with defaults for the invalid ones and appends the errors.
pub(crate) fn parse(tokens: TokenStream) -> (Args, Vec<syn::Error>) {
    let mut args = Args::default();
    let mut errors = Vec::new();
    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(tokens) {
        Ok(metas) => metas,
        Err(e) => {
            errors.push(e);
            return (args, errors);
        }
    };
    let mut seen: Vec<Ident> = Vec::new();
    for meta in metas {
        let Some(key) = meta.path().get_ident().cloned() else {
            errors.push(unknown_key(meta.path()));
            continue;
        };
        let Some(&(name, example)) = KEYS.iter().find(|(name, _)| key == name) else {
            errors.push(unknown_key(&key));
            continue;
        };
        if seen.contains(&key) {
            errors.push(syn::Error::new_spanned(&key, format!("duplicate argument `{name}`")));
            continue;
        }
        seen.push(key.clone());
        if name == "privileged" {
            match bool_value(&meta) {
                Ok(lit) => args.privileged = Some((key, lit)),
                Err(e) => errors.push(e),
            }
            continue;
        }
        let lit = match string_value(&meta, name, example) {
            Ok(lit) => lit,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let result = match name {
            "timeout" => parse_timeout(&lit).map(|value| args.timeout = Some(Arg { key, lit, value })),
            "hostname" => check_hostname(&lit).map(|value| args.hostname = Some(Arg { key, lit, value })),
            _ => parse_crate(&lit).map(|value| args.krate = Some(Arg { key, lit, value })),
        };
        if let Err(e) = result {
            errors.push(e);
        }
    }
    (args, errors)
}

fn unknown_key(tokens: impl ToTokens) -> syn::Error {
    let written = tokens.to_token_stream().to_string().replace(' ', "");
    let accepted = KEYS.iter().map(|(name, _)| format!("`{name}`")).collect::<Vec<_>>().join(", ");
    syn::Error::new_spanned(tokens, format!("unknown argument `{written}`; accepted arguments: {accepted}"))
}

/// The string literal of `key = "..."`, or an error on whatever stands instead.
fn string_value(meta: &Meta, name: &str, example: &str) -> syn::Result<LitStr> {
    let expected = format!("expected `{name} = \"{example}\"`");
    let value = match meta {
        Meta::NameValue(nv) => &nv.value,
        Meta::Path(_) | Meta::List(_) => {
            return Err(syn::Error::new_spanned(meta, format!("`{name}` needs a value: {expected}")));
        }
    };
    let mut value = value;
    while let Expr::Group(group) = value {
        value = &group.expr;
    }
    match value {
        Expr::Lit(ExprLit { lit: Lit::Str(lit), .. }) => Ok(lit.clone()),
        other => Err(syn::Error::new_spanned(other, format!("`{name}` takes a string literal: {expected}"))),
    }
}

/// The boolean literal of `privileged = true`, or an error on whatever stands
/// instead.
fn bool_value(meta: &Meta) -> syn::Result<syn::LitBool> {
    let expected = "expected `privileged = true` (or `privileged = false`)";
    let Meta::NameValue(nv) = meta else {
        return Err(syn::Error::new_spanned(meta, format!("`privileged` needs a value: {expected}")));
    };
    let mut value = &nv.value;
    while let Expr::Group(group) = value {
        value = &group.expr;
    }
    match value {
        Expr::Lit(ExprLit { lit: Lit::Bool(lit), .. }) => Ok(lit.clone()),
        other => Err(syn::Error::new_spanned(other, format!("`privileged` takes `true` or `false`: {expected}"))),
    }
}

/// Parses `"1m30s"`-style durations into milliseconds.
fn parse_timeout(lit: &LitStr) -> syn::Result<u64> {
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

/// Checks a hostname: 1..=64 of `[A-Za-z0-9.-]`, not starting or ending with `-` or `.`.
fn check_hostname(lit: &LitStr) -> syn::Result<String> {
    let text = lit.value();
    if is_valid_hostname(&text) {
        Ok(text)
    } else {
        Err(syn::Error::new_spanned(
            lit,
            format!(
                "invalid hostname `{text}`: expected 1 to 64 ASCII letters, digits, `-` or `.`, \
                 not starting or ending with `-` or `.`, e.g. `hostname = \"box\"`"
            ),
        ))
    }
}

fn is_valid_hostname(text: &str) -> bool {
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c != '-' && c != '.');
    (1..=64).contains(&text.len())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && edge_ok(text.chars().next())
        && edge_ok(text.chars().last())
}

fn parse_crate(lit: &LitStr) -> syn::Result<syn::Path> {
    lit.parse::<syn::Path>().map_err(|_| {
        syn::Error::new_spanned(
            lit,
            format!("invalid crate path `{}`: expected a path such as `crate = \"::isolated_test\"`", lit.value()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn messages(errors: &[syn::Error]) -> Vec<String> {
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn empty_arguments_are_defaults() {
        let (args, errors) = parse(TokenStream::new());
        assert!(errors.is_empty());
        assert!(args.timeout.is_none() && args.hostname.is_none() && args.krate.is_none() && args.privileged.is_none());
    }

    #[test]
    fn all_arguments_parse() {
        let (args, errors) = parse(quote!(timeout = "1m30s", hostname = "box", crate = "renamed",));
        assert!(errors.is_empty(), "{:?}", messages(&errors));
        let timeout = args.timeout.unwrap();
        assert_eq!(timeout.value, 90_000);
        assert_eq!(timeout.key, "timeout");
        assert_eq!(args.hostname.unwrap().value, "box");
        let krate = args.krate.unwrap();
        assert!(krate.value.is_ident("renamed"));
        assert_eq!(krate.key, "crate");
    }

    #[test]
    fn privileged_takes_a_bool_literal() {
        let (args, errors) = parse(quote!(privileged = true));
        assert!(errors.is_empty(), "{:?}", messages(&errors));
        assert!(args.privileged.unwrap().1.value);
        let (_, errors) = parse(quote!(privileged = "yes"));
        assert_eq!(
            messages(&errors),
            ["`privileged` takes `true` or `false`: expected `privileged = true` (or `privileged = false`)"]
        );
        let (_, errors) = parse(quote!(privileged));
        assert_eq!(
            messages(&errors),
            ["`privileged` needs a value: expected `privileged = true` (or `privileged = false`)"]
        );
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

    #[test]
    fn hostnames() {
        for good in ["box", "a", "my-box.local", "A1", &"a".repeat(64)] {
            assert!(is_valid_hostname(good), "{good:?}");
        }
        for bad in ["", "-box", "box-", ".box", "box.", "b_x", "b x", "bÖx", &"a".repeat(65)] {
            assert!(!is_valid_hostname(bad), "{bad:?}");
        }
    }

    #[test]
    fn unknown_key_lists_accepted_keys() {
        let (_, errors) = parse(quote!(foo = "x"));
        assert_eq!(
            messages(&errors),
            ["unknown argument `foo`; accepted arguments: `timeout`, `hostname`, `privileged`, `crate`"]
        );
        let (_, errors) = parse(quote!(a::b = "x"));
        assert_eq!(
            messages(&errors),
            ["unknown argument `a::b`; accepted arguments: `timeout`, `hostname`, `privileged`, `crate`"]
        );
    }

    #[test]
    fn duplicate_key_is_rejected_and_first_kept() {
        let (args, errors) = parse(quote!(timeout = "1s", timeout = "2s"));
        assert_eq!(messages(&errors), ["duplicate argument `timeout`"]);
        assert_eq!(args.timeout.unwrap().value, 1_000);
    }

    #[test]
    fn wrong_value_kinds() {
        let (_, errors) = parse(quote!(timeout));
        assert_eq!(messages(&errors), ["`timeout` needs a value: expected `timeout = \"30s\"`"]);
        let (_, errors) = parse(quote!(hostname(box)));
        assert_eq!(messages(&errors), ["`hostname` needs a value: expected `hostname = \"box\"`"]);
        let (_, errors) = parse(quote!(timeout = 30));
        assert_eq!(messages(&errors), ["`timeout` takes a string literal: expected `timeout = \"30s\"`"]);
        let (_, errors) = parse(quote!(crate = isolated_test));
        assert_eq!(messages(&errors), ["`crate` takes a string literal: expected `crate = \"::isolated_test\"`"]);
    }

    #[test]
    fn bad_values() {
        let (args, errors) = parse(quote!(timeout = "10x", hostname = "-x", crate = "a b"));
        assert!(args.timeout.is_none() && args.hostname.is_none() && args.krate.is_none() && args.privileged.is_none());
        let messages = messages(&errors);
        assert_eq!(messages.len(), 3);
        assert!(messages[0].starts_with("invalid timeout `10x`: expected one or more"));
        assert!(messages[1].starts_with("invalid hostname `-x`: expected 1 to 64"));
        assert!(messages[2].starts_with("invalid crate path `a b`"));
        let (_, errors) = parse(quote!(timeout = "0ms"));
        assert_eq!(
            super::tests::messages(&errors),
            ["timeout `0ms` must be greater than zero, e.g. `timeout = \"30s\"`"]
        );
    }

    #[test]
    fn all_errors_are_collected() {
        let (args, errors) = parse(quote!(foo = "x", timeout, hostname = "ok", hostname = "y"));
        assert_eq!(errors.len(), 3);
        assert_eq!(args.hostname.unwrap().value, "ok");
    }

    #[test]
    fn unparsable_arguments_are_an_error() {
        let (_, errors) = parse(quote!("30s"));
        assert_eq!(errors.len(), 1);
    }
}
