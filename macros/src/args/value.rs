//! The shapes a value can take, shared by every kind of argument: the
//! value of `key = value` (a bare key or a list is an error), a string
//! literal, an array of string literals. Each error is on the token that
//! stands instead and says what was expected.

use syn::{Expr, ExprLit, Lit, LitStr, Meta};

/// The value of `key = value`, without the invisible groups `macro_rules!` adds,
/// or an error on the bare key or list.
pub(super) fn value<'a>(meta: &'a Meta, name: &str, expected: &str) -> syn::Result<&'a Expr> {
    match meta {
        Meta::NameValue(nv) => Ok(ungroup(&nv.value)),
        Meta::Path(_) | Meta::List(_) => {
            Err(syn::Error::new_spanned(meta, format!("`{name}` needs a value: {expected}")))
        }
    }
}

/// `expr` without the invisible groups `macro_rules!` wraps a fragment in.
pub(super) fn ungroup(mut expr: &Expr) -> &Expr {
    while let Expr::Group(group) = expr {
        expr = &group.expr;
    }
    expr
}

/// The string literal `expr` is, if it is one.
pub(super) fn as_lit_str(expr: &Expr) -> Option<&LitStr> {
    match ungroup(expr) {
        Expr::Lit(ExprLit { lit: Lit::Str(lit), .. }) => Some(lit),
        _ => None,
    }
}

/// The string literal of `key = "..."`, or an error on whatever stands instead.
pub(super) fn string_value(meta: &Meta, name: &str, example: &str) -> syn::Result<LitStr> {
    let expected = format!("expected `{name} = {example}`");
    let value = value(meta, name, &expected)?;
    as_lit_str(value)
        .cloned()
        .ok_or_else(|| syn::Error::new_spanned(value, format!("`{name}` takes a string literal: {expected}")))
}

/// The array of `key = ["...", ...]` and its string literals, or one error on
/// the value if it is no array, else one on each element that is no string literal.
pub(super) fn string_array<'a>(
    meta: &'a Meta,
    name: &str,
    example: &str,
) -> Result<(&'a Expr, Vec<LitStr>), Vec<syn::Error>> {
    let expected = format!("expected `{name} = {example}`");
    let message = format!("`{name}` takes an array of string literals: {expected}");
    let value = value(meta, name, &expected).map_err(|e| vec![e])?;
    let Expr::Array(array) = value else {
        return Err(vec![syn::Error::new_spanned(value, message)]);
    };
    let mut lits = Vec::new();
    let mut errors = Vec::new();
    for elem in &array.elems {
        match as_lit_str(elem) {
            Some(lit) => lits.push(lit.clone()),
            None => errors.push(syn::Error::new_spanned(elem, &message)),
        }
    }
    if errors.is_empty() { Ok((value, lits)) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use crate::args::parse;
    use crate::args::testing::messages;
    use quote::quote;

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
}
