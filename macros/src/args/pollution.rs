//! `forbid_pollution = true` or `forbid_pollution = ["/var/cache/**"]`: the
//! paths a test may leave changed, as absolute glob patterns.

use syn::{Expr, ExprLit, Lit, LitStr, Meta};

use super::value::string_array;

/// The allowed patterns of `forbid_pollution`: none for `true`, else the
/// array's string literals. A relative pattern is reported in `errors` and
/// kept (the others still apply); `None` when the value has the wrong shape.
pub(super) fn patterns(meta: &Meta, name: &str, example: &str, errors: &mut Vec<syn::Error>) -> Option<Vec<LitStr>> {
    if let Meta::NameValue(nv) = meta {
        if matches!(&nv.value, Expr::Lit(ExprLit { lit: Lit::Bool(b), .. }) if b.value) {
            return Some(Vec::new());
        }
    }
    match string_array(meta, name, example) {
        Ok((_, lits)) => {
            for lit in &lits {
                if !lit.value().starts_with('/') {
                    errors.push(syn::Error::new_spanned(
                        lit,
                        "`forbid_pollution` patterns are absolute paths inside the sandbox, \
                         with `*` for one path component and `**` for any number, e.g. `\"/var/cache/**\"`",
                    ));
                }
            }
            Some(lits)
        }
        Err(e) => {
            errors.extend(e);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::args::parse;
    use crate::args::testing::messages;
    use quote::quote;

    #[test]
    fn allowed_patterns() {
        let (args, errors) = parse(quote!(forbid_pollution = ["/var/cache/**"]));
        assert!(errors.is_empty(), "{:?}", messages(&errors));
        assert_eq!(args.forbid_pollution.unwrap().1.len(), 1);
        let (args, errors) = parse(quote!(forbid_pollution = true));
        assert!(errors.is_empty() && args.forbid_pollution.unwrap().1.is_empty());
        let messages = messages(&parse(quote!(forbid_pollution = ["relative"])).1);
        assert!(messages[0].starts_with("`forbid_pollution` patterns are absolute paths"), "{messages:?}");
    }
}
