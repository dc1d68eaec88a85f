//! The names: `hostname = "box"` (a valid hostname) and
//! `crate = "::isolated_test"` (the path of the runtime crate).

use syn::LitStr;

/// Checks `hostname = "box"` in the grammar of
/// `isolated_test_values::check_hostname` (the one `ISOLATED_TEST_HOSTNAME`
/// and `isolated-test run --hostname` take): 1 to 64 of `[A-Za-z0-9.-]`,
/// not starting or ending with `-` or `.`. The error is on the literal.
pub(super) fn check_hostname(lit: &LitStr) -> syn::Result<String> {
    let text = lit.value();
    isolated_test_values::check_hostname(&text).map_err(|e| syn::Error::new_spanned(lit, e))?;
    Ok(text)
}

/// Parses `crate = "..."`: the path of the runtime crate.
pub(super) fn parse_crate(lit: &LitStr) -> syn::Result<syn::Path> {
    lit.parse::<syn::Path>().map_err(|_| {
        syn::Error::new_spanned(
            lit,
            format!("invalid crate path `{}`: expected a path such as `crate = \"::isolated_test\"`", lit.value()),
        )
    })
}

#[cfg(test)]
mod tests {
    use crate::args::parse;
    use crate::args::testing::messages;
    use quote::quote;

    #[test]
    fn hostnames() {
        assert_eq!(parse(quote!(hostname = "my-box.local")).0.hostname.unwrap().value, "my-box.local");
        assert_eq!(
            messages(&parse(quote!(hostname = "my_box")).1),
            ["`my_box` is not a hostname: `_` is not allowed; expected 1 to 64 ASCII letters, digits, `-` or `.`, \
              not starting or ending with `-` or `.`, e.g. `box`"]
        );
    }
}
