//! Parsing of the attribute arguments: `timeout`, `hostname` and `crate`, each a
//! `key = "string"` pair, the resource limits `memory = "256M"`, `pids = 128` and
//! `cpu = "1.5"`, `privileged = true`, and the root filesystem: a base
//! (`rootfs`, `dir`, `layers`, `tar` or `debootstrap`) and entries on top (`bind`, `bind_rw`,
//! `tmpfs`, `file`, `symlink`, each an array of strings). Every key is kept with
//! its span, duplicates are rejected, paths are checked here, and all errors are
//! collected so a bad argument never hides another.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Ident, Lit, LitInt, LitStr, Meta, Token};

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

/// The keys that choose the base of the root filesystem; at most one may be given.
const BASE_KEYS: [&str; 5] = ["rootfs", "dir", "layers", "tar", "debootstrap"];

/// The named bases of `rootfs = "..."`, each the name of a `Rootfs` constructor.
const NAMED_BASES: [&str; 3] = ["host", "host_ro", "busybox"];

/// The smallest memory limit: below it the sandbox cannot even load the test binary.
const MIN_MEMORY_BYTES: u64 = 4 << 20;

/// The smallest pids limit: the sandbox's own processes and the harness's threads need room.
const MIN_PIDS: u64 = 16;

/// The CPU bounds in thousandths of a core: the kernel's minimum quota (0.01
/// core) and 1024 cores.
const CPU_MILLIS: std::ops::RangeInclusive<u64> = 10..=1_024_000;

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

/// One checked element of `bind`, `bind_rw`, `tmpfs`, `file` or `symlink`.
/// Each string carries the span of the array element it was split from.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    /// `bind = ["SRC:DST"]` or `["SRC"]` (`DST` is `SRC`); `bind_rw` sets `rw`.
    Bind {
        /// The host path, absolute or relative to the crate directory.
        src: LitStr,
        /// The absolute path inside the sandbox.
        dst: LitStr,
        /// Writable.
        rw: bool,
    },
    /// `tmpfs = ["/DST"]`.
    Tmpfs {
        /// The absolute path inside the sandbox.
        dst: LitStr,
    },
    /// `file = ["/DST=CONTENTS"]`, split at the first `=`.
    File {
        /// The absolute path inside the sandbox.
        dst: LitStr,
        /// The contents, possibly empty.
        contents: LitStr,
    },
    /// `seed_file = ["/DST=CONTENTS"]`: prepared state, written after setup.
    SeedFile {
        /// The absolute path inside the sandbox.
        dst: LitStr,
        /// The contents.
        contents: LitStr,
    },
    /// `sysctl = ["net.x.y=VALUE"]`: prepared state, set after setup.
    Sysctl {
        /// Dotted name.
        name: LitStr,
        /// Value.
        value: LitStr,
    },
    /// `symlink = ["/LINK=TARGET"]`, split at the first `=`.
    Symlink {
        /// The absolute path of the link inside the sandbox.
        link: LitStr,
        /// What the link points to, as written.
        target: LitStr,
    },
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
            match base_value(&meta, name, example) {
                Ok(base) if chosen => args.base = Some((key, base)),
                Ok(_) => {}
                Err(e) => errors.extend(e),
            }
            continue;
        }
        match name {
            "privileged" => match bool_value(&meta) {
                Ok(lit) => args.privileged = Some((key, lit)),
                Err(e) => errors.push(e),
            },
            "pids" => match pids_value(&meta) {
                Ok((lit, value)) => args.pids = Some(Arg { key, lit, value }),
                Err(e) => errors.push(e),
            },
            "forbid_pollution" => match &meta {
                Meta::NameValue(nv) if matches!(&nv.value, Expr::Lit(ExprLit { lit: Lit::Bool(b), .. }) if b.value) => {
                    args.forbid_pollution = Some((key, Vec::new()));
                }
                _ => match string_array(&meta, name, example) {
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
                        args.forbid_pollution = Some((key, lits));
                    }
                    Err(e) => errors.extend(e),
                },
            },
            "bind" | "bind_rw" | "tmpfs" | "file" | "symlink" | "seed_file" | "sysctl" => {
                match string_array(&meta, name, example) {
                    Ok((_, lits)) => {
                        for lit in &lits {
                            match parse_entry(name, lit) {
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
                    "timeout" => parse_timeout(&lit).map(|value| args.timeout = Some(Arg { key, lit, value })),
                    "memory" => parse_memory(&lit).map(|value| args.memory = Some(Arg { key, lit, value })),
                    "cpu" => parse_cpu(&lit).map(|value| args.cpu = Some(Arg { key, lit, value })),
                    "hostname" => check_hostname(&lit).map(|value| args.hostname = Some(Arg { key, lit, value })),
                    "teardown" => check_teardown(&lit).map(|value| args.teardown = Some(Arg { key, lit, value })),
                    _ => parse_crate(&lit).map(|value| args.krate = Some(Arg { key, lit, value })),
                });
                if let Err(e) = result {
                    errors.push(e);
                }
            }
        }
    }
    (args, errors)
}

/// `"verify"` (unmount everything the test may have left busy, and fail if
/// something is) or `"kernel"` (the default: the kernel drops the mounts with
/// the namespace).
fn check_teardown(lit: &LitStr) -> syn::Result<bool> {
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

fn unknown_key(tokens: impl ToTokens) -> syn::Error {
    let written = tokens.to_token_stream().to_string().replace(' ', "");
    let accepted = KEYS.iter().map(|(name, _)| format!("`{name}`")).collect::<Vec<_>>().join(", ");
    syn::Error::new_spanned(tokens, format!("unknown argument `{written}`; accepted arguments: {accepted}"))
}

/// The value of `key = value`, without the invisible groups `macro_rules!` adds,
/// or an error on the bare key or list.
fn value<'a>(meta: &'a Meta, name: &str, expected: &str) -> syn::Result<&'a Expr> {
    match meta {
        Meta::NameValue(nv) => Ok(ungroup(&nv.value)),
        Meta::Path(_) | Meta::List(_) => {
            Err(syn::Error::new_spanned(meta, format!("`{name}` needs a value: {expected}")))
        }
    }
}

fn ungroup(mut expr: &Expr) -> &Expr {
    while let Expr::Group(group) = expr {
        expr = &group.expr;
    }
    expr
}

fn as_lit_str(expr: &Expr) -> Option<&LitStr> {
    match ungroup(expr) {
        Expr::Lit(ExprLit { lit: Lit::Str(lit), .. }) => Some(lit),
        _ => None,
    }
}

/// The string literal of `key = "..."`, or an error on whatever stands instead.
fn string_value(meta: &Meta, name: &str, example: &str) -> syn::Result<LitStr> {
    let expected = format!("expected `{name} = {example}`");
    let value = value(meta, name, &expected)?;
    as_lit_str(value)
        .cloned()
        .ok_or_else(|| syn::Error::new_spanned(value, format!("`{name}` takes a string literal: {expected}")))
}

/// The array of `key = ["...", ...]` and its string literals, or one error on
/// the value if it is no array, else one on each element that is no string literal.
fn string_array<'a>(meta: &'a Meta, name: &str, example: &str) -> Result<(&'a Expr, Vec<LitStr>), Vec<syn::Error>> {
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

/// The base chosen by `rootfs`, `dir`, `layers`, `tar` or `debootstrap`, checked.
fn base_value(meta: &Meta, name: &str, example: &str) -> Result<Base, Vec<syn::Error>> {
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

/// One element of `bind`, `bind_rw`, `tmpfs`, `file` or `symlink`, split and
/// checked; the parts carry the element's span.
fn parse_entry(name: &str, lit: &LitStr) -> Result<Entry, Vec<syn::Error>> {
    let text = lit.value();
    let part = |text: &str| LitStr::new(text, lit.span());
    let split_eq = |form: &str, example: &str| {
        text.split_once('=').ok_or_else(|| {
            vec![syn::Error::new_spanned(
                lit,
                format!(
                    "`{name}` element `{}` has no `=`: expected `\"{form}\"` (split at the first `=`), \
                     e.g. `{name} = {example}`",
                    text.escape_debug()
                ),
            )]
        })
    };
    let mut errors = Vec::new();
    let entry = match name {
        "bind" | "bind_rw" => {
            let (src, dst) = text.split_once(':').unwrap_or((&text, &text));
            if dst.contains(':') {
                return Err(vec![syn::Error::new_spanned(
                    lit,
                    format!(
                        "`{name}` element `{}` has more than one `:`: expected `\"SRC:DST\"` or `\"SRC\"` \
                         (no mount options: `bind` is read-only, `bind_rw` writable)",
                        text.escape_debug()
                    ),
                )]);
            }
            let source = check_source(lit, &format!("`{name}` source"), src);
            let implicit = !text.contains(':');
            if implicit && source.is_ok() && !src.starts_with('/') {
                errors.push(syn::Error::new_spanned(
                    lit,
                    format!(
                        "`{name}` source `{0}` is relative, so it needs a destination inside the sandbox: \
                         `\"{0}:/PATH\"` (the destination defaults to the source only for absolute paths)",
                        src.escape_debug()
                    ),
                ));
            } else if !implicit || source.is_ok() {
                errors.extend(check_destination(lit, &format!("`{name}` destination"), dst).err());
            }
            errors.extend(source.err());
            Entry::Bind { src: part(src), dst: part(dst), rw: name == "bind_rw" }
        }
        "tmpfs" => {
            errors.extend(check_destination(lit, "`tmpfs` path", &text).err());
            Entry::Tmpfs { dst: part(&text) }
        }
        "file" => {
            let (dst, contents) = split_eq("/PATH=CONTENTS", r#"["/etc/motd=hello"]"#)?;
            errors.extend(check_destination(lit, "`file` path", dst).err());
            Entry::File { dst: part(dst), contents: part(contents) }
        }
        "seed_file" => {
            let (dst, contents) = split_eq("/PATH=CONTENTS", r#"["/etc/app.conf=debug=1"]"#)?;
            errors.extend(check_destination(lit, "`seed_file` path", dst).err());
            Entry::SeedFile { dst: part(dst), contents: part(contents) }
        }
        "sysctl" => {
            let (sysctl, value) = split_eq("NAME=VALUE", r#"["net.ipv4.ip_forward=1"]"#)?;
            if !sysctl.starts_with("net.") || sysctl.contains('/') || sysctl.contains("..") {
                errors.push(syn::Error::new_spanned(
                    lit,
                    format!(
                        "`sysctl` `{sysctl}`: only `net.*` sysctls belong to the sandbox (the others are read-only \
                         there), written dotted, e.g. `sysctl = [\"net.ipv4.ip_forward=1\"]`"
                    ),
                ));
            }
            Entry::Sysctl { name: part(sysctl), value: part(value) }
        }
        _ => {
            let (link, target) = split_eq("/LINK=TARGET", r#"["/bin/sh=busybox"]"#)?;
            errors.extend(check_destination(lit, "`symlink` link", link).err());
            errors.extend(check_source(lit, "`symlink` target", target).err());
            Entry::Symlink { link: part(link), target: part(target) }
        }
    };
    if errors.is_empty() { Ok(entry) } else { Err(errors) }
}

/// Checks a host path (or symlink target): not empty, no NUL. Relative host
/// paths are resolved against the crate directory at run time.
fn check_source(lit: &LitStr, what: &str, text: &str) -> syn::Result<()> {
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
fn check_destination(lit: &LitStr, what: &str, text: &str) -> syn::Result<()> {
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

/// The boolean literal of `privileged = true`, or an error on whatever stands
/// instead.
fn bool_value(meta: &Meta) -> syn::Result<syn::LitBool> {
    let expected = "expected `privileged = true` (or `privileged = false`)";
    match value(meta, "privileged", expected)? {
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

/// Parses `memory = "256M"`: bytes, at least [`MIN_MEMORY_BYTES`].
fn parse_memory(lit: &LitStr) -> syn::Result<u64> {
    let text = lit.value();
    let shown = text.escape_debug();
    let bytes = memory_bytes(&text).map_err(|e| {
        let message = match e {
            MemoryError::Invalid => format!(
                "invalid memory limit `{shown}`: expected a positive integer with an optional binary unit \
                 `K`, `M`, `G` or `T` (1K = 1024 bytes; `B` or `iB` may follow, no unit is bytes), \
                 e.g. `memory = \"256M\"`, `\"1G\"` or `\"512MiB\"`"
            ),
            MemoryError::Overflow => format!("memory `{shown}` is too large"),
        };
        syn::Error::new_spanned(lit, message)
    })?;
    if bytes < MIN_MEMORY_BYTES {
        return Err(syn::Error::new_spanned(
            lit,
            format!(
                "memory limit `{shown}` is below the 4 MiB a sandbox needs to start (the test binary itself); \
                 use at least `memory = \"4M\"`"
            ),
        ));
    }
    Ok(bytes)
}

#[derive(Debug, PartialEq, Eq)]
enum MemoryError {
    Invalid,
    Overflow,
}

/// `<digits>[K|M|G|T][B|iB]` (units in either case, binary; `B` alone is bytes) in bytes.
fn memory_bytes(text: &str) -> Result<u64, MemoryError> {
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    if digits == 0 {
        return Err(MemoryError::Invalid);
    }
    let (number, unit) = text.split_at(digits);
    let (shift, rest) = match unit.chars().next().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (10, &unit[1..]),
        Some('M') => (20, &unit[1..]),
        Some('G') => (30, &unit[1..]),
        Some('T') => (40, &unit[1..]),
        _ => (0, unit),
    };
    match rest {
        "" | "B" => {}
        "iB" if shift > 0 => {}
        _ => return Err(MemoryError::Invalid),
    }
    let number: u64 = number.parse().map_err(|_| MemoryError::Overflow)?;
    number.checked_mul(1 << shift).ok_or(MemoryError::Overflow)
}

/// The integer literal of `pids = 128`, unsuffixed and at least [`MIN_PIDS`],
/// or an error on whatever stands instead.
fn pids_value(meta: &Meta) -> syn::Result<(LitInt, u64)> {
    let expected = "expected `pids = 128`";
    let value = value(meta, "pids", expected)?;
    let Expr::Lit(ExprLit { lit: Lit::Int(lit), .. }) = value else {
        return Err(syn::Error::new_spanned(value, format!("`pids` takes an integer literal: {expected}")));
    };
    if !lit.suffix().is_empty() {
        return Err(syn::Error::new_spanned(
            lit,
            format!("`pids` takes an integer literal without a suffix: {expected}"),
        ));
    }
    let written = lit.to_string();
    // syn reads `-1` as one negative literal: below the minimum, not too large.
    let pids: u64 = match lit.base10_parse() {
        Ok(pids) => pids,
        Err(_) if lit.base10_digits().starts_with('-') => 0,
        Err(_) => return Err(syn::Error::new_spanned(lit, format!("`pids = {written}` is too large"))),
    };
    if pids < MIN_PIDS {
        return Err(syn::Error::new_spanned(
            lit,
            format!(
                "`pids = {written}` leaves no room for the sandbox's own processes and the test harness's \
                 threads; use at least {MIN_PIDS}"
            ),
        ));
    }
    Ok((lit.clone(), pids))
}

/// Parses `cpu = "1.5"`: cores, into thousandths of a core within [`CPU_MILLIS`].
fn parse_cpu(lit: &LitStr) -> syn::Result<u64> {
    let text = lit.value();
    let shown = text.escape_debug();
    let Some(millis) = cpu_millis(&text) else {
        return Err(syn::Error::new_spanned(
            lit,
            format!(
                "invalid cpu limit `{shown}`: expected a positive number of cores with at most 3 decimals, \
                 e.g. `cpu = \"1.5\"`, `\"0.25\"` or `\"2\"`"
            ),
        ));
    };
    if millis < *CPU_MILLIS.start() {
        return Err(syn::Error::new_spanned(
            lit,
            format!(
                "`cpu = \"{shown}\"` is below the kernel's minimum quota of 0.01 core; use at least `cpu = \"0.01\"`"
            ),
        ));
    }
    if millis > *CPU_MILLIS.end() {
        return Err(syn::Error::new_spanned(lit, format!("`cpu = \"{shown}\"` is above the maximum of 1024 cores")));
    }
    Ok(millis)
}

/// `<digits>[.<1 to 3 digits>]` in thousandths; saturates on huge integers
/// (they are out of range anyway), `None` on anything else.
fn cpu_millis(text: &str) -> Option<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str, max: usize| s.bytes().all(|b| b.is_ascii_digit()) && s.len() <= max;
    // Both sides of a `.` are needed: "1." and ".5" are rejected.
    if whole.is_empty() || text.ends_with('.') || !digits(whole, usize::MAX) || !digits(fraction, 3) {
        return None;
    }
    let whole: u64 = whole.parse().unwrap_or(u64::MAX);
    let fraction: u64 = format!("{fraction:0<3}").parse().ok()?;
    Some(whole.saturating_mul(1000).saturating_add(fraction))
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
pub(crate) mod tests {
    use super::*;
    use quote::quote;

    pub(crate) const ACCEPTED: &str = "`timeout`, `memory`, `pids`, `cpu`, `hostname`, `privileged`, `teardown`, \
                                       `rootfs`, `dir`, `layers`, `tar`, `debootstrap`, `bind`, `bind_rw`, \
                                       `tmpfs`, `file`, \
                                       `symlink`, `seed_file`, `sysctl`, `forbid_pollution`, `crate`";

    fn messages(errors: &[syn::Error]) -> Vec<String> {
        errors.iter().map(ToString::to_string).collect()
    }

    /// The messages of parsing `tokens`, which must all be errors.
    fn rejected(tokens: TokenStream) -> Vec<String> {
        let (args, errors) = parse(tokens);
        assert!(args.base.is_none() && args.entries.is_empty(), "{args:?}");
        messages(&errors)
    }

    fn values(lits: &[&LitStr]) -> Vec<String> {
        lits.iter().map(|lit| lit.value()).collect()
    }

    /// Each entry as `kind(part, part)`, for comparing.
    fn entries(args: &Args) -> Vec<String> {
        args.entries
            .iter()
            .map(|entry| match entry {
                Entry::Bind { src, dst, rw } => {
                    format!("{}({}, {})", if *rw { "bind_rw" } else { "bind" }, src.value(), dst.value())
                }
                Entry::Tmpfs { dst } => format!("tmpfs({})", dst.value()),
                Entry::File { dst, contents } => format!("file({}, {})", dst.value(), contents.value()),
                Entry::Symlink { link, target } => format!("symlink({}, {})", link.value(), target.value()),
                Entry::SeedFile { dst, contents } => format!("seed_file({}, {})", dst.value(), contents.value()),
                Entry::Sysctl { name, value } => format!("sysctl({}, {})", name.value(), value.value()),
            })
            .collect()
    }

    #[test]
    fn prepared_state_and_forbid_pollution() {
        let (args, errors) = parse(quote!(
            seed_file = ["/etc/a=b=c"],
            sysctl = ["net.ipv4.ip_forward=1"],
            forbid_pollution = ["/var/cache/**"]
        ));
        assert!(errors.is_empty(), "{:?}", messages(&errors));
        assert_eq!(entries(&args), ["seed_file(/etc/a, b=c)", "sysctl(net.ipv4.ip_forward, 1)"]);
        assert_eq!(args.forbid_pollution.unwrap().1.len(), 1);
        let (args, errors) = parse(quote!(forbid_pollution = true));
        assert!(errors.is_empty() && args.forbid_pollution.unwrap().1.is_empty());
        let (_, errors) = parse(quote!(sysctl = ["kernel.hostname=x"], forbid_pollution = ["relative"]));
        let messages = messages(&errors);
        assert!(messages[0].starts_with("`sysctl` `kernel.hostname`: only `net.*` sysctls"), "{messages:?}");
        assert!(messages[1].starts_with("`forbid_pollution` patterns are absolute paths"), "{messages:?}");
    }

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
    fn resource_limits_parse() {
        let (args, errors) = parse(quote!(memory = "256M", pids = 128, cpu = "1.5"));
        assert!(errors.is_empty(), "{:?}", messages(&errors));
        let memory = args.memory.unwrap();
        assert_eq!(
            (memory.key.to_string(), memory.lit.value(), memory.value),
            ("memory".into(), "256M".into(), 256 << 20)
        );
        let pids = args.pids.unwrap();
        assert_eq!((pids.key.to_string(), pids.lit.to_string(), pids.value), ("pids".into(), "128".into(), 128));
        let cpu = args.cpu.unwrap();
        assert_eq!((cpu.key.to_string(), cpu.lit.value(), cpu.value), ("cpu".into(), "1.5".into(), 1500));
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(memory_bytes("4194304"), Ok(4 << 20));
        assert_eq!(memory_bytes("4194304B"), Ok(4 << 20));
        for (text, bytes) in [
            ("512K", 512 << 10),
            ("256M", 256 << 20),
            ("256m", 256 << 20),
            ("256MB", 256 << 20),
            ("256MiB", 256 << 20),
            ("256mB", 256 << 20),
            ("0256MiB", 256 << 20),
            ("2G", 2 << 30),
            ("1gib", 0),
            ("3T", 3 << 40),
            ("16777215T", 16_777_215 << 40),
        ] {
            if bytes == 0 {
                assert_eq!(memory_bytes(text), Err(MemoryError::Invalid), "{text:?}");
            } else {
                assert_eq!(memory_bytes(text), Ok(bytes), "{text:?}");
            }
        }
        for bad in
            ["", "M", "iB", "B", "256iB", "256X", "256MM", "256Mb", "256 M", " 256M", "1.5G", "-1M", "+1M", "1e6"]
        {
            assert_eq!(memory_bytes(bad), Err(MemoryError::Invalid), "{bad:?}");
        }
        assert_eq!(memory_bytes("16777216T"), Err(MemoryError::Overflow));
        assert_eq!(memory_bytes("18446744073709551616"), Err(MemoryError::Overflow));
        assert_eq!(memory_bytes("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn memory_bad_values() {
        let invalid = |text: &str| {
            format!(
                "invalid memory limit `{text}`: expected a positive integer with an optional binary unit `K`, `M`, \
                 `G` or `T` (1K = 1024 bytes; `B` or `iB` may follow, no unit is bytes), e.g. `memory = \"256M\"`, \
                 `\"1G\"` or `\"512MiB\"`"
            )
        };
        assert_eq!(messages(&parse(quote!(memory = "256X")).1), [invalid("256X")]);
        assert_eq!(messages(&parse(quote!(memory = "")).1), [invalid("")]);
        assert_eq!(messages(&parse(quote!(memory = "0.5G")).1), [invalid("0.5G")]);
        assert_eq!(messages(&parse(quote!(memory = "99999999T")).1), ["memory `99999999T` is too large"]);
        let below = |text: &str| {
            format!(
                "memory limit `{text}` is below the 4 MiB a sandbox needs to start (the test binary itself); \
                 use at least `memory = \"4M\"`"
            )
        };
        assert_eq!(messages(&parse(quote!(memory = "1M")).1), [below("1M")]);
        assert_eq!(messages(&parse(quote!(memory = "0")).1), [below("0")]);
        assert_eq!(messages(&parse(quote!(memory = "4194303")).1), [below("4194303")]);
        assert_eq!(parse(quote!(memory = "4M")).0.memory.unwrap().value, 4 << 20);
        assert_eq!(
            messages(&parse(quote!(memory = 256)).1),
            ["`memory` takes a string literal: expected `memory = \"256M\"`"]
        );
        assert_eq!(messages(&parse(quote!(memory)).1), ["`memory` needs a value: expected `memory = \"256M\"`"]);
    }

    #[test]
    fn pids_bad_values() {
        assert_eq!(parse(quote!(pids = 16)).0.pids.unwrap().value, 16);
        assert_eq!(parse(quote!(pids = 0x100)).0.pids.unwrap().value, 256);
        assert_eq!(parse(quote!(pids = 1_000)).0.pids.unwrap().value, 1000);
        let not_int = "`pids` takes an integer literal: expected `pids = 128`";
        assert_eq!(messages(&parse(quote!(pids = "128")).1), [not_int]);
        assert_eq!(messages(&parse(quote!(pids = 1.5)).1), [not_int]);
        assert_eq!(messages(&parse(quote!(pids)).1), ["`pids` needs a value: expected `pids = 128`"]);
        assert_eq!(
            messages(&parse(quote!(pids = 128u32)).1),
            ["`pids` takes an integer literal without a suffix: expected `pids = 128`"]
        );
        assert_eq!(
            messages(&parse(quote!(pids = 8)).1),
            ["`pids = 8` leaves no room for the sandbox's own processes and the test harness's threads; \
              use at least 16"]
        );
        assert_eq!(
            messages(&parse(quote!(pids = -1)).1),
            ["`pids = -1` leaves no room for the sandbox's own processes and the test harness's threads; \
              use at least 16"]
        );
        assert_eq!(
            messages(&parse(quote!(pids = 18446744073709551616)).1),
            ["`pids = 18446744073709551616` is too large"]
        );
    }

    #[test]
    fn cpu_amounts() {
        for (text, millis) in [
            ("1", 1000),
            ("2", 2000),
            ("1.5", 1500),
            ("0.25", 250),
            ("0.001", 1),
            ("0.010", 10),
            ("01.05", 1050),
            ("1024", 1_024_000),
            ("0", 0),
            ("99999999999999999999", u64::MAX),
        ] {
            assert_eq!(cpu_millis(text), Some(millis), "{text:?}");
        }
        for bad in ["", ".", "1.", ".5", "1.2345", "fast", "1,5", "-1", "+1", " 1", "1 ", "1e3", "1.2.3", "0x10"] {
            assert_eq!(cpu_millis(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn cpu_bad_values() {
        let invalid = |text: &str| {
            format!(
                "invalid cpu limit `{text}`: expected a positive number of cores with at most 3 decimals, \
                 e.g. `cpu = \"1.5\"`, `\"0.25\"` or `\"2\"`"
            )
        };
        assert_eq!(messages(&parse(quote!(cpu = "1.2345")).1), [invalid("1.2345")]);
        assert_eq!(messages(&parse(quote!(cpu = "fast")).1), [invalid("fast")]);
        let below = |text: &str| {
            format!(
                "`cpu = \"{text}\"` is below the kernel's minimum quota of 0.01 core; use at least `cpu = \"0.01\"`"
            )
        };
        assert_eq!(messages(&parse(quote!(cpu = "0")).1), [below("0")]);
        assert_eq!(messages(&parse(quote!(cpu = "0.009")).1), [below("0.009")]);
        assert_eq!(parse(quote!(cpu = "0.01")).0.cpu.unwrap().value, 10);
        assert_eq!(
            messages(&parse(quote!(cpu = "1024.001")).1),
            ["`cpu = \"1024.001\"` is above the maximum of 1024 cores"]
        );
        assert_eq!(
            messages(&parse(quote!(cpu = "99999999999999999999")).1),
            ["`cpu = \"99999999999999999999\"` is above the maximum of 1024 cores"]
        );
        assert_eq!(messages(&parse(quote!(cpu = 1.5)).1), ["`cpu` takes a string literal: expected `cpu = \"1.5\"`"]);
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
    fn entries_parse_in_order() {
        let (args, errors) = parse(quote!(
            tmpfs = ["/scratch", "/tmp/x/"],
            bind = ["/usr/share/zoneinfo", "testdata:/data", "../up:/up"],
            file = ["/etc/motd=a=b", "/empty="],
            bind_rw = ["out:/out"],
            symlink = ["/bin/sh=busybox", "/abs=/target/../x"],
        ));
        assert!(errors.is_empty(), "{:?}", messages(&errors));
        assert!(args.base.is_none());
        assert_eq!(
            entries(&args),
            [
                "tmpfs(/scratch)",
                "tmpfs(/tmp/x/)",
                "bind(/usr/share/zoneinfo, /usr/share/zoneinfo)",
                "bind(testdata, /data)",
                "bind(../up, /up)",
                "file(/etc/motd, a=b)",
                "file(/empty, )",
                "bind_rw(out, /out)",
                "symlink(/bin/sh, busybox)",
                "symlink(/abs, /target/../x)",
            ]
        );
    }

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

    #[test]
    fn bad_bind_sources() {
        assert_eq!(
            rejected(quote!(bind = ["data"])),
            ["`bind` source `data` is relative, so it needs a destination inside the sandbox: `\"data:/PATH\"` \
              (the destination defaults to the source only for absolute paths)"]
        );
        assert_eq!(rejected(quote!(bind = [""])), ["`bind` source is empty"]);
        assert_eq!(rejected(quote!(bind = [":/x"])), ["`bind` source is empty"]);
        assert_eq!(rejected(quote!(bind = [":"])), ["`bind` destination is empty", "`bind` source is empty"]);
        assert_eq!(
            rejected(quote!(bind = ["/a:/b:ro"])),
            ["`bind` element `/a:/b:ro` has more than one `:`: expected `\"SRC:DST\"` or `\"SRC\"` (no mount \
              options: `bind` is read-only, `bind_rw` writable)"]
        );
    }

    #[test]
    fn elements_without_eq() {
        assert_eq!(
            rejected(quote!(file = ["/etc/motd"])),
            ["`file` element `/etc/motd` has no `=`: expected `\"/PATH=CONTENTS\"` (split at the first `=`), \
              e.g. `file = [\"/etc/motd=hello\"]`"]
        );
        assert_eq!(
            rejected(quote!(symlink = ["/bin/sh"])),
            ["`symlink` element `/bin/sh` has no `=`: expected `\"/LINK=TARGET\"` (split at the first `=`), \
              e.g. `symlink = [\"/bin/sh=busybox\"]`"]
        );
    }

    #[test]
    fn entry_values_must_be_arrays_of_strings() {
        assert_eq!(
            rejected(quote!(tmpfs = "/scratch")),
            ["`tmpfs` takes an array of string literals: expected `tmpfs = [\"/scratch\"]`"]
        );
        assert_eq!(rejected(quote!(tmpfs)), ["`tmpfs` needs a value: expected `tmpfs = [\"/scratch\"]`"]);
        assert_eq!(
            rejected(quote!(bind = ["/ok", PATH])),
            ["`bind` takes an array of string literals: expected `bind = [\"testdata:/data\"]`"]
        );
        // Empty entry lists are accepted and add nothing.
        let (args, errors) = parse(quote!(bind = [], tmpfs = []));
        assert!(errors.is_empty() && args.entries.is_empty());
    }

    #[test]
    fn every_bad_element_is_reported() {
        let (args, errors) = parse(quote!(tmpfs = ["/ok", "rel", "/"], file = ["nope", "/f=x"], dir = ""));
        assert_eq!(errors.len(), 4, "{:?}", messages(&errors));
        assert_eq!(entries(&args), ["tmpfs(/ok)", "file(/f, x)"]);
    }

    #[test]
    fn unparsable_arguments_are_an_error() {
        let (_, errors) = parse(quote!("30s"));
        assert_eq!(errors.len(), 1);
    }
}
