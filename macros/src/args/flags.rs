//! The switches: `privileged = true` (a boolean literal) and
//! `teardown = "verify" | "kernel"`.

use syn::{Expr, ExprLit, Lit, LitStr, Meta};

use super::value::value;

/// The boolean literal of `privileged = true`, or an error on whatever stands
/// instead.
pub(super) fn bool_value(meta: &Meta) -> syn::Result<syn::LitBool> {
    let expected = "expected `privileged = true` (or `privileged = false`)";
    match value(meta, "privileged", expected)? {
        Expr::Lit(ExprLit { lit: Lit::Bool(lit), .. }) => Ok(lit.clone()),
        other => Err(syn::Error::new_spanned(other, format!("`privileged` takes `true` or `false`: {expected}"))),
    }
}

/// `"verify"` (unmount everything the test may have left busy, and fail if
/// something is) or `"kernel"` (the default: the kernel drops the mounts with
/// the namespace).
pub(super) fn check_teardown(lit: &LitStr) -> syn::Result<bool> {
    match lit.value().as_str() {
        "verify" => Ok(true),
        "kernel" => Ok(false),
        other => Err(syn::Error::new_spanned(
            lit,
            format!(
                "unknown teardown `{other}`: expected `teardown = \"verify\"` or `teardown = \"kernel\"` (the default)"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::args::parse;
    use crate::args::testing::messages;
    use quote::quote;

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
    fn teardown_is_verify_or_kernel() {
        let (args, errors) = parse(quote!(teardown = "verify"));
        assert!(errors.is_empty());
        assert!(args.teardown.unwrap().value);
        let (args, _) = parse(quote!(teardown = "kernel"));
        assert!(!args.teardown.unwrap().value);
        let (_, errors) = parse(quote!(teardown = "lazy"));
        assert_eq!(
            messages(&errors),
            ["unknown teardown `lazy`: expected `teardown = \"verify\"` or `teardown = \"kernel\"` (the default)"]
        );
    }
}
