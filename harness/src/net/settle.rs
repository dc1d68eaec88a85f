//! Links that carry traffic and IPv6 addresses that are usable when
//! `build()` (or `up()`) returns.
//!
//! An IPv6 address is `tentative`, and not used, until duplicate address
//! detection (DAD) ends one to two seconds after it is made. The
//! link-local address matters most: a router sends the neighbour
//! solicitations for the packets it forwards from it, so while it is
//! tentative (or not there yet) the router solicits nothing and the first
//! packets across it are lost. And the kernel makes it only when its
//! link-state work ("linkwatch") sees the link's carrier come on, work it
//! may put off for up to a second (it spaces out events on links whose
//! index equals their peer's, as veth ends in fresh namespaces often do);
//! until then that end also has no queue to send on. So:
//!
//! - [`disable_dad`] in each namespace before it has any link. The
//!   addresses the harness adds have `IFA_F_NODAD` besides, but the
//!   link-local ones are the kernel's own. On a network that is the
//!   test's alone no address can be a duplicate: DAD has nothing to find.
//! - [`wait`] once the links are up: every interface up with a carrier
//!   must have its link-local address and no address may be tentative.
//!   Where one has none yet, it asks the kernel for that link by index,
//!   which (on recent kernels) runs the link-state work pending for it
//!   there and then; the kernel then still clears `tentative` on a work
//!   queue (without DAD, at once). Measured: settled at the first look,
//!   or within a few milliseconds; without the first step DAD would make
//!   it 1 to 2 s.

use std::io;
use std::time::{Duration, Instant};

use netlink_packet_route::AddressFamily;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{LinkFlags, LinkMessage};

use super::dump::{address_ip, is_link_local, link_name};
use super::rtnl::Rtnl;

/// How long [`wait`] waits at most: more than DAD itself would take,
/// were it on (one to two seconds).
pub(crate) const LIMIT: Duration = Duration::from_secs(5);

/// The settings turned off, `default` for the interfaces made later (each
/// takes its namespace's `default` when it is made) and `all`, which the
/// kernel also consults.
const ACCEPT_DAD: [&str; 2] = ["/proc/sys/net/ipv6/conf/default/accept_dad", "/proc/sys/net/ipv6/conf/all/accept_dad"];

/// Turns off duplicate address detection in the calling thread's network
/// namespace (`/proc/sys/net` is the namespace of the thread that opens
/// it), for the interfaces made after.
///
/// # Errors
/// A write refused (a `/proc/sys` read-only, a kernel without IPv6), with
/// the file written.
pub(crate) fn disable_dad() -> Result<(), (&'static str, io::Error)> {
    for path in ACCEPT_DAD {
        std::fs::write(path, "0").map_err(|e| (path, e))?;
    }
    Ok(())
}

/// What keeps a namespace's IPv6 addresses from being usable.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unsettled {
    /// Not yet (a link-local address to come, one still tentative).
    Waiting(String),
    /// Never: an address failed DAD.
    Failed(String),
}

/// The flags of an address: the 32-bit attribute where the kernel sends
/// one, the header's 8 bits otherwise.
fn address_flags(a: &AddressMessage) -> AddressFlags {
    a.attributes
        .iter()
        .find_map(|x| match x {
            AddressAttribute::Flags(f) => Some(*f),
            _ => None,
        })
        .unwrap_or_else(|| AddressFlags::from_bits_retain(u32::from(a.header.flags.bits())))
}

/// `None` when every IPv6 address of a namespace, as `links` and
/// `addresses` (the kernel's dumps) show it, is usable: each interface
/// that is up with a carrier (not loopback) has its link-local address,
/// and no address is tentative.
pub(crate) fn unsettled(links: &[LinkMessage], addresses: &[AddressMessage]) -> Option<Unsettled> {
    let name =
        |index: u32| links.iter().find(|l| l.header.index == index).map_or_else(|| format!("#{index}"), link_name);
    for a in addresses.iter().filter(|a| a.header.family == AddressFamily::Inet6) {
        let Some(ip) = address_ip(a) else { continue };
        let flags = address_flags(a);
        let what = format!("{ip}/{} on `{}`", a.header.prefix_len, name(a.header.index));
        if flags.contains(AddressFlags::Dadfailed) {
            return Some(Unsettled::Failed(format!(
                "{what} failed duplicate address detection: another host on its segment has it"
            )));
        }
        if flags.contains(AddressFlags::Tentative) {
            return Some(Unsettled::Waiting(format!("{what} is still tentative (duplicate address detection)")));
        }
    }
    without_link_local(links, addresses).next().map(|link| {
        Unsettled::Waiting(format!("`{}` is up with a carrier but has no IPv6 link-local address yet", link_name(link)))
    })
}

/// The links up with a carrier (not loopback) that have no link-local
/// address.
fn without_link_local<'a>(
    links: &'a [LinkMessage],
    addresses: &'a [AddressMessage],
) -> impl Iterator<Item = &'a LinkMessage> {
    links.iter().filter(|link| {
        let f = link.header.flags;
        !f.contains(LinkFlags::Loopback)
            && f.contains(LinkFlags::Up | LinkFlags::LowerUp)
            && !addresses
                .iter()
                .any(|a| a.header.index == link.header.index && address_ip(a).is_some_and(|ip| is_link_local(&ip)))
    })
}

/// Waits until [`unsettled`] finds nothing in the namespace of `rtnl`,
/// checking at once, then after pauses growing from 50 µs to 5 ms; a link
/// up with a carrier but without its link-local address is asked for by
/// index first ([`Rtnl::sync_link`]), so that the kernel does not put its
/// carrier off.
///
/// # Errors
/// Netlink; an address that failed DAD; still unsettled at `deadline`
/// (`TimedOut`, saying what it waited for).
pub(crate) fn wait(rtnl: &mut Rtnl, deadline: Instant) -> io::Result<()> {
    let mut pause = Duration::from_micros(50);
    loop {
        let links = rtnl.links()?;
        let mut addresses = rtnl.addresses()?;
        let pending: Vec<u32> = without_link_local(&links, &addresses).map(|l| l.header.index).collect();
        if !pending.is_empty() {
            for index in pending {
                rtnl.sync_link(index)?;
            }
            addresses = rtnl.addresses()?;
        }
        match unsettled(&links, &addresses) {
            None => return Ok(()),
            Some(Unsettled::Failed(what)) => return Err(io::Error::other(what)),
            Some(Unsettled::Waiting(what)) if Instant::now() >= deadline => {
                return Err(io::Error::new(io::ErrorKind::TimedOut, format!("{what} after {} s", LIMIT.as_secs())));
            }
            Some(Unsettled::Waiting(_)) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use netlink_packet_route::address::AddressHeaderFlags;
    use netlink_packet_route::link::LinkAttribute;

    use super::*;

    fn link(index: u32, name: &str, flags: LinkFlags) -> LinkMessage {
        let mut l = LinkMessage::default();
        l.header.index = index;
        l.header.flags = flags;
        l.attributes.push(LinkAttribute::IfName(name.to_owned()));
        l
    }

    fn address(index: u32, ip: &str, prefix: u8, flags: AddressFlags) -> AddressMessage {
        let ip: IpAddr = ip.parse().unwrap();
        let mut a = AddressMessage::default();
        a.header.index = index;
        a.header.prefix_len = prefix;
        a.header.family = if ip.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
        a.header.flags = AddressHeaderFlags::from_bits_retain(flags.bits() as u8);
        a.attributes.push(AddressAttribute::Address(ip));
        a.attributes.push(AddressAttribute::Flags(flags));
        a
    }

    fn running() -> LinkFlags {
        LinkFlags::Up | LinkFlags::LowerUp | LinkFlags::Running
    }

    #[test]
    fn addresses_without_dad_on_links_with_their_link_local_are_settled() {
        let links = [link(1, "lo", running() | LinkFlags::Loopback), link(2, "b", running())];
        let addresses = [
            address(1, "::1", 128, AddressFlags::Permanent),
            address(2, "10.0.1.1", 24, AddressFlags::Permanent),
            address(2, "fd77:0:0:1::1", 64, AddressFlags::Permanent | AddressFlags::Nodad),
            address(2, "fe80::1", 64, AddressFlags::Permanent),
        ];
        assert_eq!(unsettled(&links, &addresses), None);
    }

    #[test]
    fn a_tentative_link_local_address_is_waited_for() {
        let links = [link(2, "c", running())];
        let addresses = [address(2, "fe80::1", 64, AddressFlags::Permanent | AddressFlags::Tentative)];
        assert_eq!(
            unsettled(&links, &addresses),
            Some(Unsettled::Waiting("fe80::1/64 on `c` is still tentative (duplicate address detection)".into()))
        );
    }

    #[test]
    fn the_header_flags_count_where_the_kernel_sends_no_attribute() {
        let links = [link(2, "c", running())];
        let mut a = address(2, "fe80::1", 64, AddressFlags::Tentative);
        a.attributes.retain(|x| !matches!(x, AddressAttribute::Flags(_)));
        assert!(matches!(unsettled(&links, &[a]), Some(Unsettled::Waiting(_))));
    }

    #[test]
    fn a_link_with_a_carrier_waits_for_its_link_local_address() {
        let links = [link(2, "c", running())];
        let addresses = [address(2, "fd77:0:0:2::1", 64, AddressFlags::Permanent | AddressFlags::Nodad)];
        assert_eq!(
            unsettled(&links, &addresses),
            Some(Unsettled::Waiting("`c` is up with a carrier but has no IPv6 link-local address yet".into()))
        );
    }

    #[test]
    fn links_down_or_without_a_carrier_need_no_link_local_address() {
        let links = [link(2, "down", LinkFlags::Broadcast), link(3, "alone", LinkFlags::Up)];
        assert_eq!(unsettled(&links, &[]), None);
    }

    #[test]
    fn an_address_that_failed_dad_is_an_error_at_once() {
        let links = [link(2, "c", running())];
        let addresses = [address(2, "fe80::1", 64, AddressFlags::Dadfailed | AddressFlags::Tentative)];
        assert!(matches!(unsettled(&links, &addresses), Some(Unsettled::Failed(m)) if m.contains("fe80::1/64 on `c`")));
    }
}
