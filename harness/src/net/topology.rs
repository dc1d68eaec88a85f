//! The plan of a network, before any kernel call: names checked, every
//! link and switch a subnet with addresses, and the routes that let every
//! node reach every other (shortest paths; a node on two segments
//! forwards between them). Pure, so it is tested without a kernel.
//!
//! Addresses: segment `k` (links and switches in the order they were
//! added, from 1) is `10.{k / 256}.{k % 256}.0/24` and `fd77:0:0:{k}::/64`;
//! its members get hosts 1, 2, ... in order (a link: the first node named
//! gets 1).

use std::collections::{BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::NetError;
use super::spec::LinkSpec;

/// A link or a switch: one subnet.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Segment {
    /// 1-based subnet number.
    pub(crate) number: u16,
    pub(crate) kind: SegmentKind,
    /// Member nodes (indices), in host order.
    pub(crate) members: Vec<usize>,
    /// The interface name each member has on this segment.
    pub(crate) ifnames: Vec<String>,
}

/// What joins a segment's members.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SegmentKind {
    /// A veth pair.
    Link(LinkSpec),
    /// A bridge with this name.
    Switch(String),
}

/// A route one node needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    /// The segment reached.
    pub(crate) to: usize,
    /// The segment the next hop is on (attached to this node).
    pub(crate) via_segment: usize,
    /// The next hop (a node on `via_segment`).
    pub(crate) via_node: usize,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub(crate) nodes: Vec<String>,
    pub(crate) segments: Vec<Segment>,
    /// Per node.
    pub(crate) routes: Vec<Vec<Route>>,
    /// Per node: whether it forwards (it is on more than one segment).
    pub(crate) forwards: Vec<bool>,
}

/// What the builder collected.
#[derive(Debug, Clone, Default)]
pub(crate) struct Request {
    pub(crate) nodes: Vec<String>,
    pub(crate) links: Vec<(String, String, LinkSpec)>,
    pub(crate) switches: Vec<(String, Vec<String>)>,
    /// The order links and switches were added in: `(is_switch, index)`.
    pub(crate) order: Vec<(bool, usize)>,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.bytes().all(|b| b.is_ascii_digit())
}

/// Interface names: the peer's (or switch's) name where it fits in
/// IFNAMSIZ and is not `lo`, else `link{number}`.
fn ifname(name: &str, number: u16) -> String {
    if name.len() <= 15 && name != "lo" { name.to_owned() } else { format!("link{number}") }
}

/// The comma-separated list of node names, for errors.
pub(crate) fn known(nodes: &[String]) -> String {
    if nodes.is_empty() { "none".to_owned() } else { nodes.join(", ") }
}

impl Request {
    /// Checks the request and plans addresses and routes.
    pub(crate) fn plan(&self) -> Result<Plan, NetError> {
        let mut names = BTreeSet::new();
        for name in self.nodes.iter().chain(self.switches.iter().map(|(n, _)| n)) {
            if !valid_name(name) {
                return Err(NetError::BadName { name: name.clone() });
            }
            if !names.insert(name.as_str()) {
                return Err(NetError::DuplicateName { name: name.clone() });
            }
        }
        let index = |name: &str| {
            self.nodes
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| NetError::UnknownNode { name: name.to_owned(), known: known(&self.nodes) })
        };
        let mut segments = Vec::new();
        let mut pairs = BTreeSet::new();
        for (number, &(is_switch, i)) in self.order.iter().enumerate() {
            let number = u16::try_from(number + 1)
                .ok()
                .filter(|n| *n < u16::MAX)
                .ok_or_else(|| NetError::TooLarge("more than 65534 links and switches".into()))?;
            if is_switch {
                let (name, members) = &self.switches[i];
                if members.is_empty() {
                    return Err(NetError::BadSwitch { name: name.clone(), problem: "it has no node".into() });
                }
                if members.len() > 254 {
                    return Err(NetError::TooLarge(format!(
                        "switch `{name}` has {} nodes; a switch's /24 has room for 254",
                        members.len()
                    )));
                }
                let mut seen = BTreeSet::new();
                let mut indices = Vec::new();
                for member in members {
                    if !seen.insert(member) {
                        return Err(NetError::BadSwitch {
                            name: name.clone(),
                            problem: format!("`{member}` is on it twice"),
                        });
                    }
                    indices.push(index(member)?);
                }
                let ifnames = vec![ifname(name, number); indices.len()];
                segments.push(Segment { number, kind: SegmentKind::Switch(name.clone()), members: indices, ifnames });
            } else {
                let (a, b, spec) = &self.links[i];
                let (ia, ib) = (index(a)?, index(b)?);
                if ia == ib {
                    return Err(NetError::SelfLink { name: a.clone() });
                }
                if !pairs.insert((ia.min(ib), ia.max(ib))) {
                    return Err(NetError::DuplicateLink { a: a.clone(), b: b.clone() });
                }
                spec.validate(&format!("{a}-{b}"))?;
                let ifnames = vec![ifname(b, number), ifname(a, number)];
                segments.push(Segment { number, kind: SegmentKind::Link(*spec), members: vec![ia, ib], ifnames });
            }
        }
        // Two interfaces of one node with the same name (a node linked to
        // a node and on a switch of that name cannot be: names differ;
        // but long names all become `link{n}`, which are distinct).
        let routes = (0..self.nodes.len()).map(|node| routes_from(node, self.nodes.len(), &segments)).collect();
        let forwards = (0..self.nodes.len())
            .map(|node| segments.iter().filter(|s| s.members.contains(&node)).count() > 1)
            .collect();
        Ok(Plan { nodes: self.nodes.clone(), segments, routes, forwards })
    }
}

/// Breadth first from `source`: for every segment it is not on, a route
/// through the first hop towards the nearest member of that segment.
fn routes_from(source: usize, nodes: usize, segments: &[Segment]) -> Vec<Route> {
    // first[n] = (segment, next hop) of the path from `source` to node n.
    let mut first: Vec<Option<(usize, usize)>> = vec![None; nodes];
    let mut seen = vec![false; nodes];
    seen[source] = true;
    let mut queue = VecDeque::from([source]);
    while let Some(node) = queue.pop_front() {
        for (s, segment) in segments.iter().enumerate() {
            if !segment.members.contains(&node) {
                continue;
            }
            for &next in &segment.members {
                if !seen[next] {
                    seen[next] = true;
                    first[next] = if node == source { Some((s, next)) } else { first[node] };
                    queue.push_back(next);
                }
            }
        }
    }
    let mut order: Vec<usize> = Vec::new();
    // Nodes in breadth-first order: the nearest member of a segment is the
    // first of its members met.
    let mut seen = vec![false; nodes];
    seen[source] = true;
    let mut queue = VecDeque::from([source]);
    while let Some(node) = queue.pop_front() {
        order.push(node);
        for segment in segments.iter().filter(|s| s.members.contains(&node)) {
            for &next in &segment.members {
                if !seen[next] {
                    seen[next] = true;
                    queue.push_back(next);
                }
            }
        }
    }
    let mut routes = Vec::new();
    for (s, segment) in segments.iter().enumerate() {
        if segment.members.contains(&source) {
            continue;
        }
        let nearest = order.iter().find(|n| segment.members.contains(n));
        if let Some((via_segment, via_node)) = nearest.and_then(|n| first[*n]) {
            routes.push(Route { to: s, via_segment, via_node });
        }
    }
    routes
}

impl Segment {
    /// The IPv4 subnet (`10.x.y.0`, prefix 24).
    pub(crate) fn v4_net(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, (self.number >> 8) as u8, (self.number & 0xff) as u8, 0)
    }

    /// The IPv6 subnet (`fd77:0:0:k::`, prefix 64).
    pub(crate) fn v6_net(&self) -> Ipv6Addr {
        Ipv6Addr::new(0xfd77, 0, 0, self.number, 0, 0, 0, 0)
    }

    /// The position of `node` among the members.
    pub(crate) fn position(&self, node: usize) -> Option<usize> {
        self.members.iter().position(|m| *m == node)
    }

    /// The addresses of the member at `position`: IPv4, IPv6.
    pub(crate) fn addresses(&self, position: usize) -> [IpAddr; 2] {
        let host = position as u8 + 1;
        let v4 = self.v4_net().octets();
        [
            IpAddr::V4(Ipv4Addr::new(v4[0], v4[1], v4[2], host)),
            IpAddr::V6(Ipv6Addr::new(0xfd77, 0, 0, self.number, 0, 0, 0, u16::from(host))),
        ]
    }
}

impl Plan {
    /// A node's addresses, in segment order: IPv4 ones first, then IPv6.
    pub(crate) fn addresses_of(&self, node: usize) -> Vec<IpAddr> {
        let pairs: Vec<[IpAddr; 2]> =
            self.segments.iter().filter_map(|s| s.position(node).map(|p| s.addresses(p))).collect();
        pairs.iter().map(|p| p[0]).chain(pairs.iter().map(|p| p[1])).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(nodes: &[&str], links: &[(&str, &str)], switches: &[(&str, &[&str])]) -> Request {
        let mut r = Request { nodes: nodes.iter().map(|n| n.to_string()).collect(), ..Request::default() };
        for (a, b) in links {
            r.order.push((false, r.links.len()));
            r.links.push((a.to_string(), b.to_string(), LinkSpec::new()));
        }
        for (name, members) in switches {
            r.order.push((true, r.switches.len()));
            r.switches.push((name.to_string(), members.iter().map(|m| m.to_string()).collect()));
        }
        r
    }

    #[test]
    fn a_chain_routes_through_the_middle() {
        let plan = request(&["a", "b", "c"], &[("a", "b"), ("b", "c")], &[]).plan().unwrap();
        assert_eq!(plan.forwards, [false, true, false]);
        // a reaches segment 1 (b-c) through b on segment 0.
        assert_eq!(plan.routes[0], [Route { to: 1, via_segment: 0, via_node: 1 }]);
        assert_eq!(plan.routes[2], [Route { to: 0, via_segment: 1, via_node: 1 }]);
        assert!(plan.routes[1].is_empty());
        assert_eq!(
            plan.addresses_of(1),
            ["10.0.1.2", "10.0.2.1", "fd77:0:0:1::2", "fd77:0:0:2::1"].map(|a| a.parse::<IpAddr>().unwrap()).to_vec()
        );
        assert_eq!(plan.segments[0].ifnames, ["b", "a"]);
    }

    #[test]
    fn a_switch_and_a_longer_path() {
        let plan = request(&["a", "b", "c", "d"], &[("c", "d")], &[("lan", &["a", "b", "c"])]).plan().unwrap();
        let lan = &plan.segments[1];
        assert_eq!(lan.kind, SegmentKind::Switch("lan".into()));
        assert_eq!(lan.addresses(2)[0], "10.0.2.3".parse::<IpAddr>().unwrap());
        // a reaches c-d through c on the switch; d reaches the switch through c.
        assert_eq!(plan.routes[0], [Route { to: 0, via_segment: 1, via_node: 2 }]);
        assert_eq!(plan.routes[3], [Route { to: 1, via_segment: 0, via_node: 2 }]);
        assert_eq!(plan.forwards, [false, false, true, false]);
    }

    #[test]
    fn islands_get_no_routes_to_each_other() {
        let plan = request(&["a", "b", "c", "d"], &[("a", "b"), ("c", "d")], &[]).plan().unwrap();
        assert!(plan.routes.iter().all(Vec::is_empty));
    }

    #[test]
    fn bad_requests_are_named() {
        let err = |r: Request| r.plan().unwrap_err().to_string();
        assert_eq!(
            err(request(&["a", "a"], &[], &[])),
            "the name `a` is used twice (node and switch names must all differ)"
        );
        assert_eq!(
            err(request(&["a"], &[], &[("a", &["a"])])),
            "the name `a` is used twice (node and switch names must all differ)"
        );
        assert_eq!(err(request(&["a"], &[("a", "b")], &[])), "no node named `b` (nodes: a)");
        assert_eq!(
            err(request(&["a"], &[("a", "a")], &[])),
            "a link from `a` to itself: a link joins two different nodes"
        );
        assert!(err(request(&["a", "b"], &[("a", "b"), ("b", "a")], &[])).contains("linked twice"));
        assert!(err(request(&["a"], &[], &[("s", &["a", "a"])])).contains("`a` is on it twice"));
        assert!(err(request(&["a"], &[], &[("s", &[])])).contains("no node"));
        for bad in ["", "-a", "a_b", "a.b", "123", &"x".repeat(64)] {
            assert!(err(request(&[bad], &[], &[])).contains("cannot name a node"), "{bad}");
        }
    }

    #[test]
    fn interface_names_fit_ifnamsiz() {
        let long = "a-very-long-node-name";
        let plan = request(&["lo", long], &[("lo", long)], &[]).plan().unwrap();
        assert_eq!(plan.segments[0].ifnames, ["link1", "link1"]);
    }
}
