//! The network part of a snapshot and of its difference.

use std::collections::BTreeSet;

/// Links, addresses, routes (IPv4 and IPv6) and qdiscs of the current
/// network namespace, by netlink (see `net::state_lines`); empty if the
/// namespace cannot be read.
pub(super) fn lines() -> BTreeSet<String> {
    crate::net::state_lines().unwrap_or_default()
}

/// What changed from `before` to `end`: `+ ...` added, then `- ...`
/// removed, each sorted.
pub(super) fn changes(before: &BTreeSet<String>, end: &BTreeSet<String>) -> Vec<String> {
    let added = end.difference(before).map(|line| format!("+ {line}"));
    let removed = before.difference(end).map(|line| format!("- {line}"));
    added.chain(removed).collect()
}
