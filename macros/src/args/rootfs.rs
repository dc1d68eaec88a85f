//! The base of the root filesystem: `rootfs` (a named base or a
//! `fn() -> Rootfs`), `dir`, `layers`, `tar` or `debootstrap`, at most one.

use quote::ToTokens;
use syn::{Expr, Ident, LitStr, Meta};

use super::paths::check_source;
use super::value::{as_lit_str, string_array, string_value, ungroup, value};

/// The keys that choose the base of the root filesystem; at most one may be given.
pub(super) const BASE_KEYS: [&str; 5] = ["rootfs", "dir", "layers", "tar", "debootstrap"];

/// The named bases of `rootfs = "..."`, each the name of a `Rootfs` constructor.
const NAMED_BASES: [&str; 3] = ["host", "host_ro", "busybox"];

/// The base of the root filesystem. Every literal here carries the span of
/// the literal it was written as.
#[derive(Debug, Clone)]
pub(crate) enum Base {
    /// `rootfs = "host" | "host_ro" | "busybox"`: the name of the `Rootfs` constructor.
    Named(Ident),
    /// `rootfs = some::path`: a `fn() -> Rootfs`.
    Fn(syn::Path),
    /// `dir = "PATH"`: an extracted root.
    Dir(LitStr),
    /// `layers = ["A", "B"]`: at least one image layer, bottom first.
    Layers(Vec<LitStr>),
    /// `tar = "PATH"`: an image archive.
    Tar(LitStr),
    /// `debootstrap = "SUITE"`: a distribution root made by debootstrap.
    Debootstrap(LitStr),
}

/// The base chosen by `rootfs`, `dir`, `layers`, `tar` or `debootstrap`, checked.
pub(super) fn base_value(meta: &Meta, name: &str, example: &str) -> Result<Base, Vec<syn::Error>> {
    match name {
        "rootfs" => rootfs_value(meta).map_err(|e| vec![e]),
        "layers" => {
            let (array, lits) = string_array(meta, name, example)?;
            if lits.is_empty() {
                let message = format!("`layers` needs at least one layer, bottom first: expected `layers = {example}`");
                return Err(vec![syn::Error::new_spanned(array, message)]);
            }
            let errors: Vec<syn::Error> =
                lits.iter().filter_map(|lit| check_source(lit, "`layers` path", &lit.value()).err()).collect();
            if errors.is_empty() { Ok(Base::Layers(lits)) } else { Err(errors) }
        }
        _ => {
            let lit = string_value(meta, name, example).map_err(|e| vec![e])?;
            let text = lit.value();
            if name == "dir" {
                check_source(&lit, "`dir` path", &text).map_err(|e| vec![e])?;
                Ok(Base::Dir(lit))
            } else if name == "debootstrap" {
                check_suite(&lit, &text).map_err(|e| vec![e])?;
                Ok(Base::Debootstrap(lit))
            } else {
                check_source(&lit, "`tar` path", &text).and_then(|()| check_tar(&lit, &text)).map_err(|e| vec![e])?;
                Ok(Base::Tar(lit))
            }
        }
    }
}

/// `rootfs = "host" | "host_ro" | "busybox"` or `rootfs = some::path`.
fn rootfs_value(meta: &Meta) -> syn::Result<Base> {
    let expected = "expected `rootfs = \"busybox\"` (or `\"host\"`, `\"host_ro\"`), or a path to a \
                    `fn() -> Rootfs` such as `rootfs = my_rootfs`";
    let value = value(meta, "rootfs", expected)?;
    if let Some(lit) = as_lit_str(value) {
        let text = lit.value();
        return match NAMED_BASES.iter().find(|name| **name == text) {
            Some(name) => Ok(Base::Named(Ident::new(name, lit.span()))),
            None => Err(syn::Error::new_spanned(
                lit,
                format!(
                    "unknown root filesystem `{}`: expected `rootfs = \"host\"`, `\"host_ro\"` or `\"busybox\"`, \
                     or a path to a `fn() -> Rootfs` such as `rootfs = my_rootfs`; an image directory, layers \
                     or archive take `dir`, `layers` or `tar`, a Debian root `debootstrap`",
                    text.escape_debug()
                ),
            )),
        };
    }
    match value {
        Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => Ok(Base::Fn(path.path.clone())),
        Expr::Call(call) if call.args.is_empty() && matches!(ungroup(&call.func), Expr::Path(_)) => {
            let func = call.func.to_token_stream().to_string().replace(' ', "");
            Err(syn::Error::new_spanned(
                value,
                format!("`rootfs` takes the function itself, not a call: write `rootfs = {func}`"),
            ))
        }
        other => Err(syn::Error::new_spanned(other, format!("`rootfs` takes a string literal or a path: {expected}"))),
    }
}

/// Checks `debootstrap = "..."`: a release name such as `bookworm`.
fn check_suite(lit: &LitStr, text: &str) -> syn::Result<()> {
    let valid = !text.is_empty()
        && !text.starts_with(['.', '-'])
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if valid {
        return Ok(());
    }
    Err(syn::Error::new_spanned(
        lit,
        format!(
            "`debootstrap` suite `{}` is not a release name: expected e.g. `debootstrap = \"bookworm\"` \
             (letters, digits, `.`, `-`, `_`)",
            text.escape_debug()
        ),
    ))
}

/// Checks the archive ending of `tar = "..."`.
fn check_tar(lit: &LitStr, text: &str) -> syn::Result<()> {
    if [".tar", ".tar.gz", ".tgz"].iter().any(|end| text.ends_with(end)) {
        return Ok(());
    }
    let zstd = if text.ends_with(".zst") || text.ends_with(".tzst") { " (zstd is not supported)" } else { "" };
    Err(syn::Error::new_spanned(
        lit,
        format!("`tar` archive `{}` must end in `.tar`, `.tar.gz` or `.tgz`{zstd}", text.escape_debug()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::parse;
    use crate::args::testing::{messages, rejected};
    use quote::quote;

    fn values(lits: &[&LitStr]) -> Vec<String> {
        lits.iter().map(|lit| lit.value()).collect()
    }

    #[test]
    fn rootfs_named_kinds() {
        for kind in ["host", "host_ro", "busybox"] {
            let (args, errors) = parse(quote!(rootfs = #kind));
            assert!(errors.is_empty(), "{:?}", messages(&errors));
            let (key, base) = args.base.unwrap();
            assert_eq!(key, "rootfs");
            assert!(matches!(base, Base::Named(name) if name == kind));
        }
    }

    #[test]
    fn rootfs_path() {
        let (args, errors) = parse(quote!(rootfs = fixtures::image, privileged = true));
        assert!(errors.is_empty(), "{:?}", messages(&errors));
        let Some((_, Base::Fn(path))) = args.base else { panic!("expected a path") };
        assert_eq!(path.to_token_stream().to_string(), "fixtures :: image");
        assert!(args.privileged.unwrap().1.value);
    }

    #[test]
    fn rootfs_bad_values() {
        assert_eq!(
            rejected(quote!(rootfs = "alpine")),
            ["unknown root filesystem `alpine`: expected `rootfs = \"host\"`, `\"host_ro\"` or `\"busybox\"`, \
              or a path to a `fn() -> Rootfs` such as `rootfs = my_rootfs`; an image directory, layers or archive \
              take `dir`, `layers` or `tar`, a Debian root `debootstrap`"]
        );
        let expected = "expected `rootfs = \"busybox\"` (or `\"host\"`, `\"host_ro\"`), or a path to a \
                        `fn() -> Rootfs` such as `rootfs = my_rootfs`";
        assert_eq!(rejected(quote!(rootfs = 1)), [format!("`rootfs` takes a string literal or a path: {expected}")]);
        assert_eq!(rejected(quote!(rootfs)), [format!("`rootfs` needs a value: {expected}")]);
        assert_eq!(
            rejected(quote!(rootfs = my::image())),
            ["`rootfs` takes the function itself, not a call: write `rootfs = my::image`"]
        );
    }

    #[test]
    fn dir_tar_and_layers() {
        let (args, errors) = parse(quote!(dir = "images/root"));
        assert!(errors.is_empty(), "{:?}", messages(&errors));
        assert!(matches!(args.base, Some((_, Base::Dir(lit))) if lit.value() == "images/root"));
        for good in ["a.tar", "/abs/b.tar.gz", "../c.tgz"] {
            let (args, errors) = parse(quote!(tar = #good));
            assert!(errors.is_empty(), "{:?}", messages(&errors));
            assert!(matches!(args.base, Some((_, Base::Tar(lit))) if lit.value() == good));
        }
        let (args, errors) = parse(quote!(layers = ["base", "/abs/app",]));
        assert!(errors.is_empty(), "{:?}", messages(&errors));
        let Some((_, Base::Layers(lits))) = args.base else { panic!("expected layers") };
        assert_eq!(values(&lits.iter().collect::<Vec<_>>()), ["base", "/abs/app"]);
    }

    #[test]
    fn debootstrap_takes_a_suite() {
        for good in ["bookworm", "sid", "kali-rolling", "trixie"] {
            let (args, errors) = parse(quote!(debootstrap = #good));
            assert!(errors.is_empty(), "{:?}", messages(&errors));
            assert!(matches!(args.base, Some((_, Base::Debootstrap(lit))) if lit.value() == good));
        }
        for bad in ["", "../etc", "book worm", "-x"] {
            let shown = bad.escape_debug();
            assert_eq!(
                rejected(quote!(debootstrap = #bad)),
                [format!(
                    "`debootstrap` suite `{shown}` is not a release name: expected e.g. `debootstrap = \"bookworm\"` \
                     (letters, digits, `.`, `-`, `_`)"
                )]
            );
        }
        let (_, errors) = parse(quote!(debootstrap = "bookworm", rootfs = "busybox"));
        assert_eq!(messages(&errors), ["`rootfs` and `debootstrap` both choose the root filesystem; keep one"]);
    }

    #[test]
    fn bad_bases() {
        assert_eq!(rejected(quote!(dir = "")), ["`dir` path is empty"]);
        assert_eq!(rejected(quote!(dir = "a\0b")), ["`dir` path `a\\0b` contains a NUL byte"]);
        assert_eq!(rejected(quote!(dir = ["a"])), ["`dir` takes a string literal: expected `dir = \"images/root\"`"]);
        assert_eq!(
            rejected(quote!(tar = "root.zip")),
            ["`tar` archive `root.zip` must end in `.tar`, `.tar.gz` or `.tgz`"]
        );
        assert_eq!(
            rejected(quote!(tar = "root.tar.zst")),
            ["`tar` archive `root.tar.zst` must end in `.tar`, `.tar.gz` or `.tgz` (zstd is not supported)"]
        );
        assert_eq!(
            rejected(quote!(layers = [])),
            ["`layers` needs at least one layer, bottom first: expected `layers = [\"images/base\", \"images/app\"]`"]
        );
        let not_strings = "`layers` takes an array of string literals: expected \
                           `layers = [\"images/base\", \"images/app\"]`";
        assert_eq!(rejected(quote!(layers = "base")), [not_strings]);
        assert_eq!(rejected(quote!(layers = ["a", b, 1])), [not_strings, not_strings]);
        assert_eq!(rejected(quote!(layers = ["", "ok", ""])), ["`layers` path is empty", "`layers` path is empty"]);
    }
}
