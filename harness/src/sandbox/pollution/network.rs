//! The network part of a snapshot and of its difference: the state of the
//! namespace as lines (links, addresses, routes, qdiscs; read by netlink
//! in `net::state_lines`), and what was added or removed.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Whether something appeared or went away: `+` or `-` in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Delta {
    /// There at the end, not after the setup (`+`).
    Added,
    /// There after the setup, not at the end (`-`).
    Removed,
}

/// What a line of the network's state describes: its first word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NetworkItem {
    /// `link NAME <FLAGS> mtu N [master M] [kind K] [address MAC]`.
    Link,
    /// `address IP/PREFIX dev NAME`, either family.
    Address,
    /// `route DEST [via GATEWAY] dev NAME`, either family.
    Route,
    /// `qdisc KIND HANDLE: root|parent ... dev NAME`.
    Qdisc,
    /// A line of another kind (none is made today).
    Other,
}

impl NetworkItem {
    /// What `line` describes, from its first word.
    fn of(line: &str) -> Self {
        match line.split(' ').next() {
            Some("link") => Self::Link,
            Some("address") => Self::Address,
            Some("route") => Self::Route,
            Some("qdisc") => Self::Qdisc,
            _ => Self::Other,
        }
    }
}

/// A link, address, route or qdisc added or removed. In JSON and in the
/// text as one string, the line with `+ ` or `- ` before it:
/// `+ address 10.0.0.1/24 dev eth0`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NetworkChange {
    /// Added or removed.
    pub change: Delta,
    /// What [`NetworkChange::line`] describes (its first word).
    pub what: NetworkItem,
    /// The line of the network's state, its kind first:
    /// `link isotest0 <UP,LOWER_UP> mtu 1500 kind veth address ...`,
    /// `address fd99::1/64 dev isotest0`, `route fd98::/64 via fd99::2 dev
    /// isotest0`, `qdisc tbf 8001: root rate 1Mbit ... dev isotest0`.
    pub line: String,
}

impl NetworkChange {
    /// `line` added or removed; [`NetworkChange::what`] is read from it.
    pub fn new(change: Delta, line: impl Into<String>) -> Self {
        let line = line.into();
        Self { change, what: NetworkItem::of(&line), line }
    }

    /// Reads the text form, `+ line` or `- line`.
    fn parse(text: &str) -> Option<Self> {
        if let Some(line) = text.strip_prefix("+ ") {
            Some(Self::new(Delta::Added, line))
        } else {
            text.strip_prefix("- ").map(|line| Self::new(Delta::Removed, line))
        }
    }
}

impl fmt::Display for NetworkChange {
    /// `+ link isotest0 ...`, `- address ::1/128 dev lo`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = match self.change {
            Delta::Added => '+',
            Delta::Removed => '-',
        };
        write!(f, "{sign} {}", self.line)
    }
}

impl Serialize for NetworkChange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NetworkChange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("`{text}` is no network change: expected `+ line` or `- line`"))
        })
    }
}

/// Links, addresses, routes (IPv4 and IPv6) and qdiscs of the current
/// network namespace, by netlink (see `net::state_lines`); empty if the
/// namespace cannot be read.
pub(super) fn lines() -> BTreeSet<String> {
    crate::net::state_lines().unwrap_or_default()
}

/// What changed from `before` to `end`: the lines added, then those
/// removed, each sorted.
pub(super) fn changes(before: &BTreeSet<String>, end: &BTreeSet<String>) -> Vec<NetworkChange> {
    let added = end.difference(before).map(|line| NetworkChange::new(Delta::Added, line.as_str()));
    let removed = before.difference(end).map(|line| NetworkChange::new(Delta::Removed, line.as_str()));
    added.chain(removed).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_added_then_removed_lines_each_sorted() {
        let set = |lines: &[&str]| lines.iter().map(|l| l.to_string()).collect::<BTreeSet<_>>();
        let before = set(&["link lo <UP> mtu 65536", "address ::1/128 dev lo", "route 10.0.0.0/8 dev eth0"]);
        let end = set(&["link lo <UP> mtu 65536", "route 10.0.0.0/8 dev eth0", "qdisc tbf 1: root dev a", "link a"]);
        let changes = changes(&before, &end);
        let text: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["+ link a", "+ qdisc tbf 1: root dev a", "- address ::1/128 dev lo"]);
        let what: Vec<(Delta, NetworkItem)> = changes.iter().map(|c| (c.change, c.what)).collect();
        assert_eq!(
            what,
            [
                (Delta::Added, NetworkItem::Link),
                (Delta::Added, NetworkItem::Qdisc),
                (Delta::Removed, NetworkItem::Address)
            ]
        );
    }

    #[test]
    fn the_text_form_reads_back() {
        let change = NetworkChange::new(Delta::Removed, "route fd98::/64 via fd99::2 dev isotest0");
        assert_eq!(change.what, NetworkItem::Route);
        assert_eq!(NetworkChange::parse(&change.to_string()), Some(change));
        assert_eq!(NetworkChange::parse("+ something new").map(|c| c.what), Some(NetworkItem::Other));
        assert_eq!(NetworkChange::parse("link lo"), None);
        let err = serde_json::from_str::<NetworkChange>("\"* link lo\"").unwrap_err().to_string();
        assert!(err.contains("`* link lo` is no network change"), "{err}");
    }
}
