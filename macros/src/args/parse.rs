//! The top-level parser: splits `#[isolated_test(...)]` into `key = value`
//! pairs, refuses unknown and repeated keys (and a second root filesystem
//! base), and hands each value to the module of its kind. Every error is
//! collected, so a bad argument never hides another.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Ident, LitInt, LitStr, Meta, Token};

use super::entries::{self, Entry};
use super::flags;
use super::limits;
use super::names;
use super::pollution;
use super::rootfs::{self, BASE_KEYS, Base};
use super::timeout;
use super::value::{string_array, string_value};

/// The accepted keys with an example value as written, in the order the messages list them.
const KEYS: [(&str, &str); 21] = [
    ("timeout", r#""30s""#),
    ("memory", r#""256M""#),
    ("pids", "128"),
    ("cpu", r#""1.5""#),
    ("hostname", r#""box""#),
    ("privileged", "true"),
    ("teardown", r#""verify""#),
    ("rootfs", r#""busybox""#),
    ("dir", r#""images/root""#),
    ("layers", r#"["images/base", "images/app"]"#),
    ("tar", r#""images/root.tar.gz""#),
    ("debootstrap", r#""bookworm""#),
    ("bind", r#"["testdata:/data"]"#),
    ("bind_rw", r#"["out:/out"]"#),
    ("tmpfs", r#"["/scratch"]"#),
    ("file", r#"["/etc/motd=hello"]"#),
    ("symlink", r#"["/bin/sh=busybox"]"#),
    ("seed_file", r#"["/etc/app.conf=left=behind"]"#),
    ("sysctl", r#"["net.ipv4.ip_forward=1"]"#),
    ("forbid_pollution", r#"["/var/cache/**"]"#),
    ("crate", r#""::isolated_test""#),
];

/// One parsed argument: the key as written (for its span) and the checked value.
#[derive(Debug, Clone)]
pub(crate) struct Arg<T, L = LitStr> {
    /// The key token, e.g. `timeout`.
    pub(crate) key: Ident,
    /// The literal as written (a string, or the integer of `pids`), for its span.
    pub(crate) lit: L,
    /// The checked value.
    pub(crate) value: T,
}

/// The attribute arguments; a missing or invalid argument is `None`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Args {
    /// `timeout = "..."`, in milliseconds, greater than zero.
    pub(crate) timeout: Option<Arg<u64>>,
    /// `memory = "..."`, in bytes, at least 4 MiB.
    pub(crate) memory: Option<Arg<u64>>,
    /// `pids = N`, at least 16.
    pub(crate) pids: Option<Arg<u64, LitInt>>,
    /// `cpu = "..."`, in thousandths of a core, 0.01 to 1024 cores.
    pub(crate) cpu: Option<Arg<u64>>,
    /// `hostname = "..."`, a valid hostname.
    pub(crate) hostname: Option<Arg<String>>,
    /// `crate = "..."`, the path of the runtime crate.
    pub(crate) krate: Option<Arg<syn::Path>>,
    /// `privileged = true`: no user namespace (real root only).
    pub(crate) privileged: Option<(Ident, syn::LitBool)>,
    /// `teardown = "verify" | "kernel"`: `true` for `"verify"`.
    pub(crate) teardown: Option<Arg<bool>>,
    /// `forbid_pollution = true` or `= ["allowed/path/**", ...]`: the
    /// allowed path patterns (empty: nothing allowed, not even leftovers
    /// in the scratch directories).
    pub(crate) forbid_pollution: Option<(Ident, Vec<LitStr>)>,
    /// The base of the root filesystem with the key that chose it: `rootfs`,
    /// `dir`, `layers`, `tar` or `debootstrap`, at most one. `None` is the
    /// host's files.
    pub(crate) base: Option<(Ident, Base)>,
    /// `bind`, `bind_rw`, `tmpfs`, `file` and `symlink` elements, checked, in
    /// the order written; applied on top of the base.
    pub(crate) entries: Vec<Entry>,
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
    let mut base_key: Option<Ident> = None;
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
        if BASE_KEYS.contains(&name) {
            // The first base wins; a second one is reported, and its value still checked.
            let first = base_key.get_or_insert_with(|| key.clone());
            if *first != key {
                errors.push(syn::Error::new_spanned(
                    &key,
                    format!("`{key}` and `{first}` both choose the root filesystem; keep one"),
                ));
            }
            let chosen = *first == key;
            match rootfs::base_value(&meta, name, example) {
                Ok(base) if chosen => args.base = Some((key, base)),
                Ok(_) => {}
                Err(e) => errors.extend(e),
            }
            continue;
        }
        match name {
            "privileged" => match flags::bool_value(&meta) {
                Ok(lit) => args.privileged = Some((key, lit)),
                Err(e) => errors.push(e),
            },
            "pids" => match limits::pids_value(&meta) {
                Ok((lit, value)) => args.pids = Some(Arg { key, lit, value }),
                Err(e) => errors.push(e),
            },
            "forbid_pollution" => {
                if let Some(patterns) = pollution::patterns(&meta, name, example, &mut errors) {
                    args.forbid_pollution = Some((key, patterns));
                }
            }
            "bind" | "bind_rw" | "tmpfs" | "file" | "symlink" | "seed_file" | "sysctl" => {
                match string_array(&meta, name, example) {
                    Ok((_, lits)) => {
                        for lit in &lits {
                            match entries::parse_entry(name, lit) {
                                Ok(entry) => args.entries.push(entry),
                                Err(e) => errors.extend(e),
                            }
                        }
                    }
                    Err(e) => errors.extend(e),
                }
            }
            _ => {
                let result = string_value(&meta, name, example).and_then(|lit| match name {
                    "timeout" => timeout::parse_timeout(&lit).map(|value| args.timeout = Some(Arg { key, lit, value })),
                    "memory" => limits::parse_memory(&lit).map(|value| args.memory = Some(Arg { key, lit, value })),
                    "cpu" => limits::parse_cpu(&lit).map(|value| args.cpu = Some(Arg { key, lit, value })),
                    "hostname" => {
                        names::check_hostname(&lit).map(|value| args.hostname = Some(Arg { key, lit, value }))
                    }
                    "teardown" => {
                        flags::check_teardown(&lit).map(|value| args.teardown = Some(Arg { key, lit, value }))
                    }
                    _ => names::parse_crate(&lit).map(|value| args.krate = Some(Arg { key, lit, value })),
                });
                if let Err(e) = result {
                    errors.push(e);
                }
            }
        }
    }
    (args, errors)
}

/// The error on a key that is not one of [`KEYS`], listing them.
fn unknown_key(tokens: impl ToTokens) -> syn::Error {
    let written = tokens.to_token_stream().to_string().replace(' ', "");
    let accepted = KEYS.iter().map(|(name, _)| format!("`{name}`")).collect::<Vec<_>>().join(", ");
    syn::Error::new_spanned(tokens, format!("unknown argument `{written}`; accepted arguments: {accepted}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::testing::{ACCEPTED, messages};
    use quote::quote;

    #[test]
    fn empty_arguments_are_defaults() {
        let (args, errors) = parse(TokenStream::new());
        assert!(errors.is_empty());
        assert!(args.timeout.is_none() && args.hostname.is_none() && args.krate.is_none() && args.privileged.is_none());
        assert!(args.base.is_none() && args.entries.is_empty());
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
    fn unknown_key_lists_accepted_keys() {
        let (_, errors) = parse(quote!(foo = "x"));
        assert_eq!(messages(&errors), [format!("unknown argument `foo`; accepted arguments: {ACCEPTED}")]);
        let (_, errors) = parse(quote!(a::b = "x"));
        assert_eq!(messages(&errors), [format!("unknown argument `a::b`; accepted arguments: {ACCEPTED}")]);
    }

    #[test]
    fn duplicate_key_is_rejected_and_first_kept() {
        let (args, errors) = parse(quote!(timeout = "1s", timeout = "2s"));
        assert_eq!(messages(&errors), ["duplicate argument `timeout`"]);
        assert_eq!(args.timeout.unwrap().value, 1_000);
    }

    #[test]
    fn duplicate_resource_limits_are_rejected_and_first_kept() {
        let (args, errors) = parse(quote!(memory = "8M", pids = 32, cpu = "1", memory = "1G", pids = 64, cpu = "2"));
        assert_eq!(
            messages(&errors),
            ["duplicate argument `memory`", "duplicate argument `pids`", "duplicate argument `cpu`"]
        );
        assert_eq!(args.memory.unwrap().value, 8 << 20);
        assert_eq!(args.pids.unwrap().value, 32);
        assert_eq!(args.cpu.unwrap().value, 1000);
    }

    #[test]
    fn second_base_is_refused_and_first_kept() {
        let (args, errors) = parse(quote!(rootfs = "busybox", dir = "images/root"));
        assert_eq!(messages(&errors), ["`dir` and `rootfs` both choose the root filesystem; keep one"]);
        assert!(matches!(args.base, Some((key, Base::Named(name))) if key == "rootfs" && name == "busybox"));
        // The second one's value is still checked; a third is reported too.
        let (_, errors) = parse(quote!(tar = "a.tar", layers = [], rootfs = x));
        assert_eq!(
            messages(&errors),
            [
                "`layers` and `tar` both choose the root filesystem; keep one",
                "`layers` needs at least one layer, bottom first: expected `layers = [\"images/base\", \"images/app\"]`",
                "`rootfs` and `tar` both choose the root filesystem; keep one",
            ]
        );
    }

    #[test]
    fn bad_values() {
        let (args, errors) = parse(quote!(timeout = "10x", hostname = "-x", crate = "a b"));
        assert!(args.timeout.is_none() && args.hostname.is_none() && args.krate.is_none() && args.privileged.is_none());
        let messages = messages(&errors);
        assert_eq!(messages.len(), 3);
        assert!(messages[0].starts_with("`10x` is not a duration: unknown time unit \"x\""));
        assert!(messages[1].starts_with("`-x` is not a hostname: it starts with `-`; expected 1 to 64"));
        assert!(messages[2].starts_with("invalid crate path `a b`"));
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
