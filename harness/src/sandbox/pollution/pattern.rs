//! The allow-list patterns of `forbid_pollution` and
//! `ISOLATED_TEST_FORBID_POLLUTION`.

/// Whether `path` matches `pattern`: `*` is any text within one path
/// component, `**` any number of components.
pub(crate) fn path_matches(pattern: &str, path: &str) -> bool {
    fn component(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => component(&p[1..], s) || (!s.is_empty() && component(p, &s[1..])),
            (Some(a), Some(b)) if a == b => component(&p[1..], &s[1..]),
            _ => false,
        }
    }
    fn parts(p: &[&str], s: &[&str]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(&"**"), _) => parts(&p[1..], s) || (!s.is_empty() && parts(p, &s[1..])),
            (Some(a), Some(b)) => component(a.as_bytes(), b.as_bytes()) && parts(&p[1..], &s[1..]),
            _ => false,
        }
    }
    fn split(t: &str) -> Vec<&str> {
        t.split('/').filter(|c| !c.is_empty()).collect()
    }
    parts(&split(pattern), &split(path))
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
}
