//! Where a debootstrap build downloads from: `DEBOOTSTRAP_MIRROR`, else the
//! host's own apt sources when they serve the suite's distribution, else
//! the Debian default (for Debian suites) or debootstrap's own default.
//!
//! The host's sources are read in both formats apt reads
//! (`sources.list(5)`): one-line entries in `/etc/apt/sources.list` and
//! `sources.list.d/*.list`, deb822 stanzas in `sources.list.d/*.sources`.
//! An entry serves a suite's distribution when one of its suites is a
//! release debootstrap knows and whose script is the same as the suite's
//! (`bookworm` and `trixie` both run debootstrap's `sid` script; Ubuntu's
//! `jammy` runs `gutsy`), so a Debian host's mirror is used for every
//! Debian suite and never for an Ubuntu one. `bookworm-updates`,
//! `bookworm-security` and third-party suites (`nodistro`) are no
//! releases, and are skipped.

use std::fs;
use std::path::{Path, PathBuf};

use crate::config::ENV_MIRROR;

/// The mirror of Debian suites when neither the variable nor the host
/// names one (debootstrap's own default).
pub const DEBIAN_DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// One apt source entry (a one-line entry or a deb822 stanza).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Source {
    /// `deb`, `deb-src`.
    pub(crate) types: Vec<String>,
    /// Repository URIs.
    pub(crate) uris: Vec<String>,
    /// Suites (`bookworm`, `bookworm-updates`).
    pub(crate) suites: Vec<String>,
    /// Components (`main`, `contrib`).
    pub(crate) components: Vec<String>,
    /// `Enabled: no` turns a deb822 stanza off.
    pub(crate) enabled: bool,
}

/// Parses the one-line format: `deb [ opt=val ... ] URI SUITE [COMPONENT...]`,
/// `#` to the end of the line a comment.
pub(crate) fn parse_one_line(text: &str) -> Vec<Source> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some((kind, rest)) = line.split_once(char::is_whitespace) else { continue };
        if !kind.starts_with("deb") {
            continue;
        }
        let mut rest = rest.trim_start();
        // Options: `[arch=amd64 signed-by=/x.gpg]`, spaces allowed inside.
        if let Some(after) = rest.strip_prefix('[') {
            let Some((_, after)) = after.split_once(']') else { continue };
            rest = after.trim_start();
        }
        let mut words = rest.split_whitespace();
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else { continue };
        out.push(Source {
            types: vec![kind.to_owned()],
            uris: vec![uri.to_owned()],
            suites: vec![suite.to_owned()],
            components: words.map(str::to_owned).collect(),
            enabled: true,
        });
    }
    out
}

/// Parses the deb822 format: stanzas of `Field: value` lines separated by
/// blank lines; continuation lines start with a space or tab; lines
/// starting with `#` are comments (also inside a stanza). Field names are
/// case-insensitive.
pub(crate) fn parse_deb822(text: &str) -> Vec<Source> {
    let mut out = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut flush = |fields: &mut Vec<(String, String)>| {
        if fields.is_empty() {
            return;
        }
        let get = |name: &str| -> Vec<String> {
            fields
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .flat_map(|(_, v)| v.split_whitespace().map(str::to_owned))
                .collect()
        };
        let enabled = get("Enabled").first().is_none_or(|v| !v.eq_ignore_ascii_case("no"));
        out.push(Source {
            types: get("Types"),
            uris: get("URIs"),
            suites: get("Suites"),
            components: get("Components"),
            enabled,
        });
        fields.clear();
    };
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            flush(&mut fields);
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
        } else if let Some((key, value)) = line.split_once(':') {
            fields.push((key.trim().to_owned(), value.trim().to_owned()));
        }
    }
    flush(&mut fields);
    out
}

/// Reads the host's apt sources below `etc_apt` (normally `/etc/apt`), in
/// apt's order: `sources.list`, then `sources.list.d/` by name, `.list`
/// files in the one-line format and `.sources` files in deb822. Other
/// names (`x.list.disabled`, `x.save`) are ignored, as apt does.
pub(crate) fn read_sources(etc_apt: &Path) -> Vec<Source> {
    let mut out = Vec::new();
    if let Ok(text) = fs::read_to_string(etc_apt.join("sources.list")) {
        out.extend(parse_one_line(&text));
    }
    let mut parts: Vec<PathBuf> = fs::read_dir(etc_apt.join("sources.list.d"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            // apt's own rule for the names it reads.
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')))
        })
        .collect();
    parts.sort();
    for path in parts {
        let Ok(text) = fs::read_to_string(&path) else { continue };
        match path.extension().and_then(|e| e.to_str()) {
            Some("list") => out.extend(parse_one_line(&text)),
            Some("sources") => out.extend(parse_deb822(&text)),
            _ => {}
        }
    }
    out
}

/// Whether debootstrap can download from `uri` (apt's `mirror+`, `tor+`,
/// `cdrom:` and `copy:` methods are apt's own).
fn fetchable(uri: &str) -> bool {
    ["http://", "https://", "ftp://", "file:/"].iter().any(|scheme| uri.starts_with(scheme))
}

/// The first enabled binary (`deb`) source with the `main` component, a
/// URI debootstrap can fetch, and a suite of the same debootstrap script
/// as the one asked for (`script_of` gives a suite's script, `None` for
/// anything that is no release). Returns the URI without a trailing `/`,
/// and the host suite that matched.
pub(crate) fn host_mirror(
    sources: &[Source],
    script: &str,
    script_of: impl Fn(&str) -> Option<String>,
) -> Option<(String, String)> {
    for source in sources.iter().filter(|s| s.enabled) {
        if !source.types.iter().any(|t| t == "deb") || !source.components.iter().any(|c| c == "main") {
            continue;
        }
        let Some(suite) = source.suites.iter().find(|s| script_of(s).as_deref() == Some(script)) else { continue };
        if let Some(uri) = source.uris.iter().find(|u| fetchable(u)) {
            return Some((uri.trim_end_matches('/').to_owned(), suite.clone()));
        }
    }
    None
}

/// Where the mirror came from, for messages and the image's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MirrorChoice {
    /// Given to the builder.
    Given(String),
    /// `DEBOOTSTRAP_MIRROR`.
    Variable(String),
    /// The host's apt sources (the URI, and the host suite that matched).
    Host { uri: String, suite: String },
    /// The Debian default, for a Debian suite.
    DebianDefault,
    /// None: debootstrap picks its script's default (Ubuntu's archive).
    DebootstrapDefault,
}

impl MirrorChoice {
    /// The URL to pass to debootstrap, if any.
    pub(crate) fn url(&self) -> Option<&str> {
        match self {
            Self::Given(u) | Self::Variable(u) | Self::Host { uri: u, .. } => Some(u),
            Self::DebianDefault => Some(DEBIAN_DEFAULT_MIRROR),
            Self::DebootstrapDefault => None,
        }
    }

    /// The mirror in words.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Given(u) => format!("{u} (given)"),
            Self::Variable(u) => format!("{u} ({ENV_MIRROR})"),
            Self::Host { uri, suite } => format!("{uri} (the host's apt source for {suite})"),
            Self::DebianDefault => format!("{DEBIAN_DEFAULT_MIRROR} (the Debian default)"),
            Self::DebootstrapDefault => "debootstrap's default for the suite".into(),
        }
    }
}

/// The mirror for a suite whose debootstrap script is `script`: `given`,
/// else `variable` (the value of `DEBOOTSTRAP_MIRROR`), else the host's
/// sources, else the Debian default for Debian's script (`sid`), else
/// none (debootstrap's default for other distributions).
pub(crate) fn choose(
    given: Option<&str>,
    variable: Option<&str>,
    sources: &[Source],
    script: &str,
    script_of: impl Fn(&str) -> Option<String>,
) -> MirrorChoice {
    if let Some(url) = given.filter(|u| !u.is_empty()) {
        return MirrorChoice::Given(url.to_owned());
    }
    if let Some(url) = variable.filter(|u| !u.trim().is_empty()) {
        return MirrorChoice::Variable(url.trim().to_owned());
    }
    if let Some((uri, suite)) = host_mirror(sources, script, script_of) {
        return MirrorChoice::Host { uri, suite };
    }
    if script == "sid" { MirrorChoice::DebianDefault } else { MirrorChoice::DebootstrapDefault }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// debootstrap's scripts as on Debian 12: Debian releases run `sid`,
    /// Ubuntu's `gutsy`.
    fn script_of(suite: &str) -> Option<String> {
        match suite {
            "bookworm" | "trixie" | "stable" | "sid" => Some("sid".into()),
            "jammy" | "noble" => Some("gutsy".into()),
            _ => None,
        }
    }

    const DEB822: &str = "\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
";

    #[test]
    fn deb822_stanzas_with_comments_inside() {
        let sources = parse_deb822(DEB822);
        assert_eq!(sources.len(), 2);
        assert_eq!(
            sources[0],
            Source {
                types: vec!["deb".into()],
                uris: vec!["http://deb.debian.org/debian".into()],
                suites: vec!["bookworm".into(), "bookworm-updates".into()],
                components: vec!["main".into()],
                enabled: true,
            }
        );
        assert_eq!(sources[1].suites, ["bookworm-security"]);
        assert_eq!(
            host_mirror(&sources, "sid", script_of),
            Some(("http://deb.debian.org/debian".into(), "bookworm".into()))
        );
    }

    #[test]
    fn deb822_continuations_case_and_enabled() {
        let text = "\
types: deb deb-src
uris: http://mirror.local/debian/
  http://deb.debian.org/debian
suites: trixie
components: main contrib
signed-by:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBF...
 -----END PGP PUBLIC KEY BLOCK-----


Types: deb
URIs: http://off.example/debian
Suites: bookworm
Components: main
Enabled: no
";
        let sources = parse_deb822(text);
        assert_eq!(sources.len(), 2, "{sources:#?}");
        assert_eq!(sources[0].types, ["deb", "deb-src"]);
        assert_eq!(sources[0].uris, ["http://mirror.local/debian/", "http://deb.debian.org/debian"]);
        assert_eq!(sources[0].components, ["main", "contrib"]);
        assert!(sources[0].enabled && !sources[1].enabled);
        // The first URI, without its trailing slash; the disabled stanza never.
        assert_eq!(
            host_mirror(&sources, "sid", script_of),
            Some(("http://mirror.local/debian".into(), "trixie".into()))
        );
        assert_eq!(host_mirror(&sources[1..], "sid", script_of), None);
    }

    #[test]
    fn one_line_entries_with_options_and_comments() {
        let text = "\
# deb cdrom:[Debian GNU/Linux 12.5.0 _Bookworm_]/ bookworm main
deb-src http://deb.debian.org/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] https://packages.cloud.google.com/apt cloud-sdk-bookworm main
deb [ arch=amd64,arm64 ] http://ftp.de.debian.org/debian/ bookworm main contrib # the nearest
deb http://security.debian.org/debian-security bookworm-security main
";
        let sources = parse_one_line(text);
        assert_eq!(sources.len(), 4, "{sources:#?}");
        assert_eq!(sources[0].types, ["deb-src"]);
        assert_eq!(sources[1].uris, ["https://packages.cloud.google.com/apt"]);
        assert_eq!(sources[2].suites, ["bookworm"]);
        assert_eq!(sources[2].components, ["main", "contrib"]);
        // deb-src and third-party suites are skipped; the first Debian release wins.
        assert_eq!(
            host_mirror(&sources, "sid", script_of),
            Some(("http://ftp.de.debian.org/debian".into(), "bookworm".into()))
        );
    }

    #[test]
    fn a_host_mirror_serves_its_own_distribution_only() {
        let debian = parse_one_line("deb http://deb.debian.org/debian bookworm main\n");
        let ubuntu = parse_one_line("deb http://archive.ubuntu.com/ubuntu noble main universe\n");
        // Debian's mirror for any Debian suite (bookworm's host builds trixie).
        assert_eq!(
            choose(None, None, &debian, "sid", script_of),
            MirrorChoice::Host { uri: "http://deb.debian.org/debian".into(), suite: "bookworm".into() }
        );
        // Never for an Ubuntu suite: debootstrap's own default then.
        assert_eq!(choose(None, None, &debian, "gutsy", script_of), MirrorChoice::DebootstrapDefault);
        assert_eq!(choose(None, None, &ubuntu, "gutsy", script_of).url(), Some("http://archive.ubuntu.com/ubuntu"));
        // An Ubuntu host building Debian: the Debian default.
        assert_eq!(choose(None, None, &ubuntu, "sid", script_of), MirrorChoice::DebianDefault);
        assert_eq!(choose(None, None, &[], "sid", script_of).url(), Some(DEBIAN_DEFAULT_MIRROR));
        // No main component, or apt-only methods: not a mirror debootstrap can use.
        let odd = parse_one_line(
            "deb http://deb.debian.org/debian bookworm contrib\ndeb mirror+file:/etc/apt/mirrors.txt bookworm main\n",
        );
        assert_eq!(host_mirror(&odd, "sid", script_of), None);
    }

    #[test]
    fn the_variable_and_a_given_mirror_come_first() {
        let debian = parse_one_line("deb http://deb.debian.org/debian bookworm main\n");
        let by_variable = choose(None, Some(" http://proxy:3142/debian "), &debian, "sid", script_of);
        assert_eq!(by_variable, MirrorChoice::Variable("http://proxy:3142/debian".into()));
        assert_eq!(choose(None, Some(""), &debian, "sid", script_of).url(), Some("http://deb.debian.org/debian"));
        let given = choose(Some("file:///srv/mirror"), Some("http://proxy/debian"), &debian, "sid", script_of);
        assert_eq!(given.url(), Some("file:///srv/mirror"));
    }

    #[test]
    fn reads_apt_s_files_in_apt_s_order_and_skips_other_names() {
        let dir = tempfile::Builder::new().prefix("isolated-test-unit-").tempdir().unwrap();
        let d = dir.path().join("sources.list.d");
        fs::create_dir(&d).unwrap();
        fs::write(dir.path().join("sources.list"), "deb http://first.example/debian bookworm main\n").unwrap();
        fs::write(d.join("b.sources"), DEB822).unwrap();
        fs::write(d.join("a.list"), "deb http://second.example/debian trixie main\n").unwrap();
        fs::write(d.join("c.list.disabled-by-farm"), "deb http://never.example/debian bookworm main\n").unwrap();
        fs::write(d.join("d.list.save"), "deb http://never.example/debian bookworm main\n").unwrap();
        let uris: Vec<String> = read_sources(dir.path()).into_iter().flat_map(|s| s.uris).collect();
        assert_eq!(
            uris,
            [
                "http://first.example/debian",
                "http://second.example/debian",
                "http://deb.debian.org/debian",
                "http://deb.debian.org/debian-security"
            ]
        );
    }
}
