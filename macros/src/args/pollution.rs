//! `forbid_pollution = true` or `forbid_pollution = ["/var/cache/**"]`: the
//! paths a test may leave changed, as absolute glob patterns.

use syn::{Expr, ExprLit, Lit, LitStr, Meta};

use super::value::string_array;

/// The allowed patterns of `forbid_pollution`: none for `true`, else the
/// array's string literals. A relative pattern is reported in `errors` and
/// kept (the others still apply); `None` when the value has the wrong shape.
pub(super) fn patterns(meta: &Meta, name: &str, example: &str, errors: &mut Vec<syn::Error>) -> Option<Vec<LitStr>> {
    if let Meta::NameValue(nv) = meta {
        match &nv.value {
            Expr::Lit(ExprLit { lit: Lit::Bool(b), .. }) if b.value => return Some(Vec::new()),
            Expr::Lit(ExprLit { lit: Lit::Bool(b), .. }) => {
                errors.push(syn::Error::new_spanned(
                    b,
                    format!("`{name} = false` is what a test gets without it: leave it out, or use `{name} = true`"),
                ));
                return None;
            }
            Expr::Array(_) => {}
            value => {
                errors.push(syn::Error::new_spanned(
                    value,
                    format!(
                        "`{name}` takes `true` or an array of string literals: expected `{name} = true` or \
                         `{name} = {example}`"
                    ),
                ));
                return None;
            }
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

    #[test]
    fn other_values_say_what_is_accepted() {
        let (args, errors) = parse(quote!(forbid_pollution = false));
        assert!(args.forbid_pollution.is_none());
        assert_eq!(
            messages(&errors),
            [
                "`forbid_pollution = false` is what a test gets without it: leave it out, or use `forbid_pollution = true`"
            ]
        );
        let either = "`forbid_pollution` takes `true` or an array of string literals: expected \
                      `forbid_pollution = true` or `forbid_pollution = [\"/var/cache/**\"]`";
        assert_eq!(messages(&parse(quote!(forbid_pollution = "yes")).1), [either]);
        assert_eq!(messages(&parse(quote!(forbid_pollution = 1)).1), [either]);
        let not_strings = messages(&parse(quote!(forbid_pollution = [1])).1);
        assert!(not_strings[0].starts_with("`forbid_pollution` takes an array of string literals"), "{not_strings:?}");
    }
}
