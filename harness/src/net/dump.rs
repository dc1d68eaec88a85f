//! The state of a network as the kernel has it, per node: links (state,
//! flags, MTU, qdiscs with their netem and tbf parameters), addresses and
//! routes. Shown in the failure report of a test that built a network,
//! and by [`super::Network::dump`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use netlink_packet_route::tc::{TcAttribute, TcMessage};

use super::qdisc::{Netem, Tbf, raw_options};
use super::rtnl::Rtnl;
use super::spec::{bits, duration};

/// A link's name, or `#index` when the kernel sent none.
pub(super) fn link_name(link: &LinkMessage) -> String {
    link.attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        })
        .unwrap_or_else(|| format!("#{}", link.header.index))
}

fn flags(f: LinkFlags) -> String {
    let names = [
        (LinkFlags::Up, "UP"),
        (LinkFlags::LowerUp, "LOWER_UP"),
        (LinkFlags::Running, "RUNNING"),
        (LinkFlags::Loopback, "LOOPBACK"),
        (LinkFlags::Broadcast, "BROADCAST"),
        (LinkFlags::Multicast, "MULTICAST"),
        (LinkFlags::Noarp, "NOARP"),
        (LinkFlags::Promisc, "PROMISC"),
    ];
    let set: Vec<&str> = names.iter().filter(|(flag, _)| f.contains(*flag)).map(|(_, n)| *n).collect();
    if set.is_empty() { "none".into() } else { set.join(",") }
}

/// From the flags, which the kernel changes at once (the operational
/// state follows up to a second later).
fn state(link: &LinkMessage) -> &'static str {
    let f = link.header.flags;
    if !f.contains(LinkFlags::Up) {
        "down"
    } else if f.contains(LinkFlags::LowerUp) || f.contains(LinkFlags::Loopback) {
        "up"
    } else {
        "up, no carrier (the other end is down)"
    }
}

/// `netem delay 100ms jitter 10ms loss 5% limit 1000`, `tbf rate 1Mbit
/// burst 3028b limit 15528b`, `noqueue`.
pub(crate) fn qdisc_text(q: &TcMessage) -> String {
    let kind = q
        .attributes
        .iter()
        .find_map(|a| match a {
            TcAttribute::Kind(k) => Some(k.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "?".into());
    let handle = format!("{:x}:", q.header.handle.major);
    let parent = if q.header.parent.major == u16::MAX && q.header.parent.minor == u16::MAX {
        "root".to_owned()
    } else {
        format!("parent {:x}:{:x}", q.header.parent.major, q.header.parent.minor)
    };
    let options = raw_options(&q.attributes);
    let params = match kind.as_str() {
        "netem" => options.as_deref().and_then(Netem::parse).map(|n| {
            let mut s = format!("delay {}", duration(n.delay));
            if !n.jitter.is_zero() {
                let _ = write!(s, " jitter {}", duration(n.jitter));
            }
            let _ = write!(s, " loss {}%", (n.loss * 1000.0).round() / 1000.0);
            if let Some(rate) = n.rate {
                let _ = write!(s, " rate {}", bits(rate * 8));
            }
            let _ = write!(s, " limit {}", n.limit);
            s
        }),
        "tbf" => options
            .as_deref()
            .and_then(Tbf::parse)
            .map(|t| format!("rate {} burst {}b limit {}b", bits(t.rate * 8), t.burst, t.limit)),
        _ => None,
    };
    match params {
        Some(p) => format!("{kind} {handle} {parent} {p}"),
        None => format!("{kind} {handle} {parent}"),
    }
}

/// The address an address message carries.
pub(super) fn address_ip(a: &AddressMessage) -> Option<IpAddr> {
    a.attributes.iter().find_map(|x| match x {
        AddressAttribute::Address(ip) => Some(*ip),
        _ => None,
    })
}

/// Whether `ip` is an IPv6 link-local address (`fe80::/10`), which every
/// interface has.
pub(super) fn is_link_local(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

fn address_text(a: &AddressMessage) -> Option<String> {
    let ip = address_ip(a).filter(|ip| !is_link_local(ip))?;
    Some(format!("{ip}/{}", a.header.prefix_len))
}

fn route_address(a: &RouteAddress) -> String {
    match a {
        RouteAddress::Inet(v4) => v4.to_string(),
        RouteAddress::Inet6(v6) => v6.to_string(),
        other => format!("{other:?}"),
    }
}

/// A route as `ip route` would print it: `10.0.2.0/24 via 10.0.1.2 dev b`.
pub(crate) fn route_text(r: &RouteMessage, names: &BTreeMap<u32, String>) -> Option<String> {
    if r.header.table != netlink_packet_route::route::RouteHeader::RT_TABLE_MAIN || r.header.kind != RouteType::Unicast
    {
        return None;
    }
    let mut destination = None;
    let mut gateway = None;
    let mut oif = None;
    for attribute in &r.attributes {
        match attribute {
            RouteAttribute::Destination(d) => destination = Some(route_address(d)),
            RouteAttribute::Gateway(g) => gateway = Some(route_address(g)),
            RouteAttribute::Oif(i) => oif = Some(*i),
            _ => {}
        }
    }
    let destination = match destination {
        Some(d) => format!("{d}/{}", r.header.destination_prefix_length),
        None => "default".into(),
    };
    if destination.starts_with("fe80:") {
        return None;
    }
    let mut text = destination;
    if let Some(g) = gateway {
        let _ = write!(text, " via {g}");
    }
    if let Some(i) = oif {
        let _ = write!(text, " dev {}", names.get(&i).cloned().unwrap_or_else(|| format!("#{i}")));
    }
    Some(text)
}

/// The state of the namespace `rtnl` talks to, indented for a report.
pub(crate) fn namespace(rtnl: &mut Rtnl, indent: &str) -> String {
    let mut out = String::new();
    let (links, addresses, routes, qdiscs) = match (rtnl.links(), rtnl.addresses(), rtnl.routes(), rtnl.qdiscs()) {
        (Ok(l), Ok(a), Ok(r), Ok(q)) => (l, a, r, q),
        (l, a, r, q) => {
            let err = [l.err(), a.err(), r.err(), q.err()].into_iter().flatten().next();
            let _ = writeln!(out, "{indent}(could not read it: {})", err.map(|e| e.to_string()).unwrap_or_default());
            return out;
        }
    };
    let names: BTreeMap<u32, String> = links.iter().map(|l| (l.header.index, link_name(l))).collect();
    for link in &links {
        let index = link.header.index;
        let mtu = link
            .attributes
            .iter()
            .find_map(|a| match a {
                LinkAttribute::Mtu(m) => Some(*m),
                _ => None,
            })
            .unwrap_or(0);
        let master = link.attributes.iter().find_map(|a| match a {
            LinkAttribute::Controller(m) => Some(*m),
            _ => None,
        });
        let mut line =
            format!("{indent}link {}: {} <{}> mtu {mtu}", names[&index], state(link), flags(link.header.flags));
        if let Some(m) = master {
            let _ = write!(line, " switch-port of {}", names.get(&m).cloned().unwrap_or_else(|| format!("#{m}")));
        }
        let own: Vec<String> = qdiscs.iter().filter(|q| q.header.index == index as i32).map(qdisc_text).collect();
        // The default (no queue) fits on the link's line.
        if let [only] = own.as_slice() {
            if only.starts_with("noqueue") {
                let _ = write!(line, " qdisc noqueue");
            }
        }
        let _ = writeln!(out, "{line}");
        for q in own.iter().filter(|q| !q.starts_with("noqueue")) {
            let _ = writeln!(out, "{indent}  qdisc {q}");
        }
        let addrs: Vec<String> =
            addresses.iter().filter(|a| a.header.index == index).filter_map(address_text).collect();
        if !addrs.is_empty() {
            let _ = writeln!(out, "{indent}  addresses {}", addrs.join(" "));
        }
    }
    let routes: Vec<String> = routes.iter().filter_map(|r| route_text(r, &names)).collect();
    if routes.is_empty() {
        let _ = writeln!(out, "{indent}routes: none");
    }
    for r in routes {
        let _ = writeln!(out, "{indent}route {r}");
    }
    out
}

fn mac(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// The state of the calling thread's network namespace as one line per
/// link, address, route and qdisc, for the pollution report (which diffs
/// two such sets): `link lo <UP,...> mtu 65536 address 00:00:...`,
/// `address 10.0.0.1/24 dev eth0`, `route 10.0.0.0/24 dev eth0`,
/// `qdisc netem 1: root delay 100ms ... dev eth0`. Both families.
pub(crate) fn state_lines() -> std::io::Result<std::collections::BTreeSet<String>> {
    use netlink_packet_route::link::{InfoKind, LinkInfo};
    let mut rtnl = Rtnl::open()?;
    let links = rtnl.links()?;
    let names: BTreeMap<u32, String> = links.iter().map(|l| (l.header.index, link_name(l))).collect();
    let name = |index: u32| names.get(&index).cloned().unwrap_or_else(|| format!("#{index}"));
    let mut lines = std::collections::BTreeSet::new();
    for link in &links {
        let mut line = format!("link {} <{}>", name(link.header.index), flags(link.header.flags));
        for attribute in &link.attributes {
            match attribute {
                LinkAttribute::Mtu(m) => {
                    let _ = write!(line, " mtu {m}");
                }
                LinkAttribute::Controller(m) => {
                    let _ = write!(line, " master {}", name(*m));
                }
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        if let LinkInfo::Kind(kind) = info {
                            let kind = match kind {
                                InfoKind::Other(other) => other.clone(),
                                known => format!("{known:?}").to_lowercase(),
                            };
                            let _ = write!(line, " kind {kind}");
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(address) = link.attributes.iter().find_map(|a| match a {
            LinkAttribute::Address(bytes) => Some(mac(bytes)),
            _ => None,
        }) {
            let _ = write!(line, " address {address}");
        }
        lines.insert(line);
    }
    for address in rtnl.addresses()? {
        if let Some(ip) = address_ip(&address) {
            lines.insert(format!("address {ip}/{} dev {}", address.header.prefix_len, name(address.header.index)));
        }
    }
    for route in rtnl.routes()? {
        if let Some(text) = route_text(&route, &names) {
            lines.insert(format!("route {text}"));
        }
    }
    for qdisc in rtnl.qdiscs()? {
        lines.insert(format!("qdisc {} dev {}", qdisc_text(&qdisc), name(qdisc.header.index as u32)));
    }
    Ok(lines)
}
