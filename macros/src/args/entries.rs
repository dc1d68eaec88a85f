//! The entries on top of the root filesystem's base: `bind`, `bind_rw`,
//! `tmpfs`, `file`, `symlink`, and the prepared state `seed_file` and
//! `sysctl`, each an array of strings split and checked element by element.

use syn::LitStr;

use super::paths::{check_destination, check_source};

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

/// One element of `bind`, `bind_rw`, `tmpfs`, `file` or `symlink`, split and
/// checked; the parts carry the element's span.
pub(super) fn parse_entry(name: &str, lit: &LitStr) -> Result<Entry, Vec<syn::Error>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::testing::{messages, rejected};
    use crate::args::{Args, parse};
    use quote::quote;

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
    fn prepared_state() {
        let (args, errors) = parse(quote!(seed_file = ["/etc/a=b=c"], sysctl = ["net.ipv4.ip_forward=1"]));
        assert!(errors.is_empty(), "{:?}", messages(&errors));
        assert_eq!(entries(&args), ["seed_file(/etc/a, b=c)", "sysctl(net.ipv4.ip_forward, 1)"]);
        let messages = messages(&parse(quote!(sysctl = ["kernel.hostname=x"])).1);
        assert!(messages[0].starts_with("`sysctl` `kernel.hostname`: only `net.*` sysctls"), "{messages:?}");
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
}
