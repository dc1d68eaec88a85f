//! The checks of the paths the root filesystem arguments name: a host path
//! (or symlink target), and a path inside the sandbox.

use syn::LitStr;

/// Checks a host path (or symlink target): not empty, no NUL. Relative host
/// paths are resolved against the crate directory at run time.
pub(super) fn check_source(lit: &LitStr, what: &str, text: &str) -> syn::Result<()> {
    if text.is_empty() {
        return Err(syn::Error::new_spanned(lit, format!("{what} is empty")));
    }
    if text.contains('\0') {
        return Err(syn::Error::new_spanned(lit, format!("{what} `{}` contains a NUL byte", text.escape_debug())));
    }
    Ok(())
}

/// Checks a path inside the sandbox: a host path that is also absolute, not
/// `/` itself and without `..` components.
pub(super) fn check_destination(lit: &LitStr, what: &str, text: &str) -> syn::Result<()> {
    check_source(lit, what, text)?;
    let shown = text.escape_debug();
    let message = if !text.starts_with('/') {
        format!("{what} `{shown}` must be absolute (start with `/`): it is a path inside the sandbox")
    } else if text.split('/').all(|c| c.is_empty() || c == ".") {
        format!(
            "{what} cannot be `/` itself; to replace the whole root use `rootfs`, `dir`, `layers`, `tar` or \
             `debootstrap`"
        )
    } else if text.split('/').any(|c| c == "..") {
        format!("{what} `{shown}` must not contain `..`")
    } else {
        return Ok(());
    };
    Err(syn::Error::new_spanned(lit, message))
}

#[cfg(test)]
mod tests {
    use crate::args::testing::rejected;
    use quote::quote;

    #[test]
    fn bad_destinations() {
        let inside = "must be absolute (start with `/`): it is a path inside the sandbox";
        let root = "cannot be `/` itself; to replace the whole root use `rootfs`, `dir`, `layers`, `tar` or \
                    `debootstrap`";
        assert_eq!(rejected(quote!(tmpfs = ["scratch"])), [format!("`tmpfs` path `scratch` {inside}")]);
        assert_eq!(rejected(quote!(tmpfs = ["/"])), [format!("`tmpfs` path {root}")]);
        assert_eq!(rejected(quote!(tmpfs = ["//./"])), [format!("`tmpfs` path {root}")]);
        assert_eq!(rejected(quote!(tmpfs = ["/a/../b"])), ["`tmpfs` path `/a/../b` must not contain `..`"]);
        assert_eq!(rejected(quote!(tmpfs = ["/.."])), ["`tmpfs` path `/..` must not contain `..`"]);
        assert_eq!(rejected(quote!(tmpfs = [""])), ["`tmpfs` path is empty"]);
        assert_eq!(rejected(quote!(file = ["etc/motd=hi"])), [format!("`file` path `etc/motd` {inside}")]);
        assert_eq!(rejected(quote!(file = ["=hi"])), ["`file` path is empty"]);
        assert_eq!(rejected(quote!(symlink = ["/=x"])), [format!("`symlink` link {root}")]);
        assert_eq!(rejected(quote!(symlink = ["/x="])), ["`symlink` target is empty"]);
        assert_eq!(rejected(quote!(bind_rw = ["/a:b"])), [format!("`bind_rw` destination `b` {inside}")]);
        assert_eq!(rejected(quote!(bind = ["/"])), [format!("`bind` destination {root}")]);
        assert_eq!(rejected(quote!(bind = ["/a/../b"])), ["`bind` destination `/a/../b` must not contain `..`"]);
    }
}
