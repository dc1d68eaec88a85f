//! The names: `hostname = "box"` (a valid hostname) and
//! `crate = "::isolated_test"` (the path of the runtime crate).

use syn::LitStr;

/// Checks a hostname: 1..=64 of `[A-Za-z0-9.-]`, not starting or ending with `-` or `.`.
pub(super) fn check_hostname(lit: &LitStr) -> syn::Result<String> {
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

/// 1 to 64 ASCII letters, digits, `-` or `.`, not starting or ending with `-` or `.`.
fn is_valid_hostname(text: &str) -> bool {
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c != '-' && c != '.');
    (1..=64).contains(&text.len())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && edge_ok(text.chars().next())
        && edge_ok(text.chars().last())
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
    use super::*;

    #[test]
    fn hostnames() {
        for good in ["box", "a", "my-box.local", "A1", &"a".repeat(64)] {
            assert!(is_valid_hostname(good), "{good:?}");
        }
        for bad in ["", "-box", "box-", ".box", "box.", "b_x", "b x", "bÖx", &"a".repeat(65)] {
            assert!(!is_valid_hostname(bad), "{bad:?}");
        }
    }
}
