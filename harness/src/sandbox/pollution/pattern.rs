//! The allow-list patterns of `forbid_pollution` and
//! `ISOLATED_TEST_FORBID_POLLUTION`: globs over absolute paths inside the
//! sandbox (the `glob` crate's syntax). `*`, `?` and `[...]` match within
//! one path component, `**` as a whole component any number of components
//! (none included), and `dir/**` matches `dir` itself too.

use glob::{MatchOptions, Pattern};

/// `*` stays within a component; case and leading dots are as written.
const OPTIONS: MatchOptions =
    MatchOptions { case_sensitive: true, require_literal_separator: true, require_literal_leading_dot: false };

/// A pattern that is no glob (an unclosed `[`, `**` inside a component,
/// `***`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{pattern}` is not a valid path pattern: {reason} (at character {position})")]
pub(crate) struct PatternError {
    /// The pattern as given.
    pattern: String,
    /// What is wrong, as `glob` says it.
    reason: &'static str,
    /// Where, counted in characters from 0.
    position: usize,
}

/// One allow-list pattern, compiled.
#[derive(Debug, Clone)]
pub(crate) struct PathPattern {
    glob: Pattern,
    /// For `dir/**`: `dir`, which the glob alone does not match.
    dir: Option<Pattern>,
}

impl PathPattern {
    /// Compiles `text`. Runs of `/` count as one and a trailing `/` is
    /// dropped, as in a path.
    ///
    /// # Errors
    /// `text` is no valid glob; the error names it.
    pub(crate) fn new(text: &str) -> Result<Self, PatternError> {
        let normal = normalise(text);
        let glob = Pattern::new(&normal).map_err(|e| PatternError {
            pattern: text.to_owned(),
            reason: e.msg,
            position: e.pos,
        })?;
        // A prefix of a valid glob that ends before a component is one too.
        let dir = normal.strip_suffix("/**").filter(|d| !d.is_empty()).and_then(|d| Pattern::new(d).ok());
        Ok(Self { glob, dir })
    }

    /// Whether `path` (absolute, no `//`, no trailing `/`) matches.
    pub(crate) fn matches(&self, path: &str) -> bool {
        self.glob.matches_with(path, OPTIONS) || self.dir.as_ref().is_some_and(|d| d.matches_with(path, OPTIONS))
    }
}

/// `text` with each run of `/` made one and no trailing `/` (but `/`).
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    if out.len() > 1 && out.ends_with('/') {
        out.pop();
    }
    out
}

/// Compiles an allow-list.
///
/// # Errors
/// The first pattern that is no valid glob.
pub(crate) fn compile<S: AsRef<str>>(patterns: &[S]) -> Result<Vec<PathPattern>, PatternError> {
    patterns.iter().map(|p| PathPattern::new(p.as_ref())).collect()
}

/// Whether `path` matches `pattern`.
///
/// # Panics
/// `pattern` is no valid glob.
#[cfg(test)]
pub(crate) fn path_matches(pattern: &str, path: &str) -> bool {
    PathPattern::new(pattern).unwrap_or_else(|e| panic!("{e}")).matches(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_patterns() {
        assert!(path_matches("/var/cache/**", "/var/cache/apt/pkgcache.bin"));
        assert!(path_matches("/var/cache/**", "/var/cache"));
        assert!(path_matches("/etc/*.conf", "/etc/app.conf"));
        assert!(!path_matches("/etc/*.conf", "/etc/sub/app.conf"));
        assert!(path_matches("/tmp/**/x", "/tmp/a/b/x"));
        assert!(!path_matches("/etc/hosts", "/etc/hostname"));
    }

    #[test]
    fn double_stars_span_components_at_the_start_middle_and_end() {
        // At the start: any depth, the top level included.
        assert!(path_matches("/**/x.conf", "/x.conf"));
        assert!(path_matches("/**/x.conf", "/etc/app/x.conf"));
        assert!(!path_matches("/**/x.conf", "/etc/app/y.conf"));
        assert!(path_matches("/**", "/"));
        assert!(path_matches("/**", "/any/thing"));
        // In the middle: none or any number of components.
        assert!(path_matches("/tmp/**/x", "/tmp/x"));
        assert!(path_matches("/tmp/**/cache/*", "/tmp/a/b/cache/f"));
        assert!(!path_matches("/tmp/**/x", "/tmp/a/xy"));
        assert!(!path_matches("/tmp/**/x", "/var/tmp/x"));
        // At the end: the directory and everything below it, nothing beside it.
        assert!(path_matches("/run/app/**", "/run/app"));
        assert!(path_matches("/run/app/**", "/run/app/a/b/c"));
        assert!(!path_matches("/run/app/**", "/run/application"));
        assert!(!path_matches("/run/app/**", "/run"));
    }

    #[test]
    fn a_single_star_stays_within_one_component() {
        assert!(path_matches("/tmp/*", "/tmp/a"));
        assert!(!path_matches("/tmp/*", "/tmp/a/b"));
        assert!(!path_matches("/tmp/*", "/tmp"));
        assert!(path_matches("/tmp/*/x", "/tmp/a/x"));
        assert!(!path_matches("/tmp/*/x", "/tmp/a/b/x"));
        assert!(path_matches("/dev/shm/cache-*", "/dev/shm/cache-"));
        assert!(path_matches("/etc/*", "/etc/.hidden"), "a leading dot is no exception");
        assert!(path_matches("/etc/host?", "/etc/hosts"));
        assert!(!path_matches("/etc/host?", "/etc/host/s"));
    }

    #[test]
    fn a_literal_path_matches_itself_only() {
        assert!(path_matches("/etc/hosts", "/etc/hosts"));
        assert!(!path_matches("/etc/hosts", "/etc/hosts/x"));
        assert!(!path_matches("/etc/hosts", "/etc"));
        assert!(!path_matches("/etc/hosts", "/ETC/hosts"));
        assert!(path_matches("/etc//hosts/", "/etc/hosts"), "as a path: `//` is `/`, a trailing `/` is dropped");
    }

    #[test]
    fn an_invalid_pattern_is_an_error_naming_it() {
        for (bad, reason) in [
            ("/tmp/[abc", "invalid range pattern"),
            ("/tmp/a**", "recursive wildcards must form a single path component"),
            ("/tmp/***", "wildcards are either regular `*` or recursive `**`"),
        ] {
            let err = PathPattern::new(bad).unwrap_err().to_string();
            assert!(err.starts_with(&format!("`{bad}` is not a valid path pattern: {reason}")), "{err}");
        }
        assert_eq!(compile(&["/ok/**", "/x/[", "/y/["]).unwrap_err().pattern, "/x/[");
        assert_eq!(compile(&["/ok/**", "/etc/*.conf"]).unwrap().len(), 2);
    }
}
