//! One rtnetlink conversation per network namespace, synchronous:
//! messages are built with `netlink-packet-route` and sent on a
//! `netlink-sys` socket that was made inside the namespace (a netlink
//! socket acts on the namespace it was made in, whichever thread uses it).

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{
    BridgeStpState, InfoBridge, InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType};
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

/// A netlink route socket bound in one network namespace.
#[derive(Debug)]
pub(crate) struct Rtnl {
    socket: Socket,
    seq: u32,
}

/// A kernel answer that is an error, as an `io::Error` with its errno.
fn nack(code: i32) -> io::Error {
    io::Error::from_raw_os_error(-code)
}

impl Rtnl {
    /// A socket in the calling thread's network namespace.
    pub(crate) fn open() -> io::Result<Self> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(Self { socket, seq: 0 })
    }

    /// The socket's descriptor (to check which namespace it is in).
    #[allow(dead_code)]
    pub(crate) fn fd(&self) -> i32 {
        self.socket.as_raw_fd()
    }

    fn send(&mut self, message: RouteNetlinkMessage, flags: u16) -> io::Result<u32> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(message));
        packet.finalize();
        let mut buf = vec![0; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0)?;
        Ok(self.seq)
    }

    /// Reads answers to `seq` until the acknowledgement (or the end of a
    /// dump), collecting the messages.
    fn answers(&mut self, seq: u32) -> io::Result<Vec<RouteNetlinkMessage>> {
        let mut out = Vec::new();
        loop {
            let (bytes, _) = self.socket.recv_from_full()?;
            let mut offset = 0;
            while offset < bytes.len() {
                let message = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes[offset..]).map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("undecodable netlink answer: {e}"))
                })?;
                let length = message.header.length as usize;
                if length == 0 {
                    break;
                }
                offset += (length + 3) & !3;
                if message.header.sequence_number != seq {
                    continue;
                }
                match message.payload {
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            Some(code) => Err(nack(code.get())),
                            None => Ok(out),
                        };
                    }
                    NetlinkPayload::InnerMessage(inner) => out.push(inner),
                    _ => {}
                }
            }
        }
    }

    /// Sends a request and waits for its acknowledgement.
    pub(crate) fn request(&mut self, message: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        let seq = self.send(message, NLM_F_REQUEST | NLM_F_ACK | flags)?;
        self.answers(seq).map(drop)
    }

    /// Sends a dump request and returns every answer.
    pub(crate) fn dump(&mut self, message: RouteNetlinkMessage) -> io::Result<Vec<RouteNetlinkMessage>> {
        let seq = self.send(message, NLM_F_REQUEST | NLM_F_DUMP)?;
        self.answers(seq)
    }

    /// Every link of the namespace.
    pub(crate) fn links(&mut self) -> io::Result<Vec<LinkMessage>> {
        Ok(self
            .dump(RouteNetlinkMessage::GetLink(LinkMessage::default()))?
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l),
                _ => None,
            })
            .collect())
    }

    /// Asks for one link by its index, and drops the answer: asked so, a
    /// recent kernel (this one is 6.18) first runs the link-state work it
    /// has pending for that link (`rtnl_getlink` calls
    /// `linkwatch_sync_dev`), which it may otherwise put off for up to a
    /// second: its carrier taking effect, and the link-local address
    /// that comes with it. An older kernel answers without it.
    pub(crate) fn sync_link(&mut self, index: u32) -> io::Result<()> {
        let mut message = LinkMessage::default();
        message.header.index = index;
        self.request(RouteNetlinkMessage::GetLink(message), 0)
    }

    /// The index of the link called `name`.
    pub(crate) fn index_of(&mut self, name: &str) -> io::Result<u32> {
        self.links()?
            .into_iter()
            .find(|l| l.attributes.iter().any(|a| matches!(a, LinkAttribute::IfName(n) if n == name)))
            .map(|l| l.header.index)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no link named `{name}`")))
    }

    /// Every address of the namespace.
    pub(crate) fn addresses(&mut self) -> io::Result<Vec<AddressMessage>> {
        Ok(self
            .dump(RouteNetlinkMessage::GetAddress(AddressMessage::default()))?
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => Some(a),
                _ => None,
            })
            .collect())
    }

    /// Every route of the namespace, both families, all tables.
    pub(crate) fn routes(&mut self) -> io::Result<Vec<RouteMessage>> {
        let mut out = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut request = RouteMessage::default();
            request.header.address_family = family;
            out.extend(self.dump(RouteNetlinkMessage::GetRoute(request))?.into_iter().filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => Some(r),
                _ => None,
            }));
        }
        Ok(out)
    }

    /// Every qdisc of the namespace.
    pub(crate) fn qdiscs(&mut self) -> io::Result<Vec<TcMessage>> {
        Ok(self
            .dump(RouteNetlinkMessage::GetQueueDiscipline(TcMessage::default()))?
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewQueueDiscipline(q) => Some(q),
                _ => None,
            })
            .collect())
    }

    /// Makes a veth pair: `name` here, `peer` in the namespace `peer_ns`.
    pub(crate) fn add_veth(&mut self, name: &str, peer: &str, peer_ns: BorrowedFd<'_>) -> io::Result<()> {
        let mut peer_message = LinkMessage::default();
        peer_message.attributes.push(LinkAttribute::IfName(peer.to_owned()));
        peer_message.attributes.push(LinkAttribute::NetNsFd(peer_ns.as_raw_fd()));
        let mut message = LinkMessage::default();
        message.attributes.push(LinkAttribute::IfName(name.to_owned()));
        message.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_message))),
        ]));
        self.request(RouteNetlinkMessage::NewLink(message), NLM_F_CREATE | NLM_F_EXCL)
    }

    /// Makes a bridge without STP (ports forward at once).
    pub(crate) fn add_bridge(&mut self, name: &str) -> io::Result<()> {
        let mut message = LinkMessage::default();
        message.attributes.push(LinkAttribute::IfName(name.to_owned()));
        message.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Bridge),
            LinkInfo::Data(InfoData::Bridge(vec![
                InfoBridge::StpState(BridgeStpState::Disabled),
                InfoBridge::ForwardDelay(0),
            ])),
        ]));
        self.request(RouteNetlinkMessage::NewLink(message), NLM_F_CREATE | NLM_F_EXCL)
    }

    /// Changes a link: up or down, MTU, bridge it belongs to.
    pub(crate) fn set_link(
        &mut self,
        index: u32,
        up: Option<bool>,
        mtu: Option<u32>,
        master: Option<u32>,
    ) -> io::Result<()> {
        let mut message = LinkMessage::default();
        message.header.index = index;
        if let Some(up) = up {
            message.header.change_mask = LinkFlags::Up;
            message.header.flags = if up { LinkFlags::Up } else { LinkFlags::empty() };
        }
        if let Some(mtu) = mtu {
            message.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(master) = master {
            message.attributes.push(LinkAttribute::Controller(master));
        }
        self.request(RouteNetlinkMessage::SetLink(message), 0)
    }

    /// Adds `address/prefix` to a link. IPv6 addresses skip duplicate
    /// address detection, so they can be used at once.
    pub(crate) fn add_address(&mut self, index: u32, address: IpAddr, prefix: u8) -> io::Result<()> {
        let mut message = AddressMessage::default();
        message.header.index = index;
        message.header.prefix_len = prefix;
        match address {
            IpAddr::V4(_) => {
                message.header.family = AddressFamily::Inet;
                message.attributes.push(AddressAttribute::Local(address));
                message.attributes.push(AddressAttribute::Address(address));
            }
            IpAddr::V6(_) => {
                message.header.family = AddressFamily::Inet6;
                message.attributes.push(AddressAttribute::Address(address));
                message.attributes.push(AddressAttribute::Flags(AddressFlags::Nodad));
            }
        }
        self.request(RouteNetlinkMessage::NewAddress(message), NLM_F_CREATE | NLM_F_EXCL)
    }

    /// Adds a route to `destination/prefix` through `gateway` on link `oif`.
    pub(crate) fn add_route(&mut self, destination: IpAddr, prefix: u8, gateway: IpAddr, oif: u32) -> io::Result<()> {
        let mut message = RouteMessage::default();
        message.header.address_family = if destination.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
        message.header.destination_prefix_length = prefix;
        message.header.table = netlink_packet_route::route::RouteHeader::RT_TABLE_MAIN;
        message.header.protocol = RouteProtocol::Static;
        message.header.scope = RouteScope::Universe;
        message.header.kind = RouteType::Unicast;
        message.attributes.push(RouteAttribute::Destination(RouteAddress::from(destination)));
        message.attributes.push(RouteAttribute::Gateway(RouteAddress::from(gateway)));
        message.attributes.push(RouteAttribute::Oif(oif));
        self.request(RouteNetlinkMessage::NewRoute(message), NLM_F_CREATE | NLM_F_EXCL)
    }

    /// Adds a qdisc with `handle` below `parent` on link `index`, replacing
    /// one that is there.
    pub(crate) fn add_qdisc(
        &mut self,
        index: u32,
        parent: TcHandle,
        handle: TcHandle,
        kind: &str,
        options: TcAttribute,
    ) -> io::Result<()> {
        let mut message = TcMessage::default();
        message.header.index = index as i32;
        message.header.parent = parent;
        message.header.handle = handle;
        message.attributes.push(TcAttribute::Kind(kind.to_owned()));
        message.attributes.push(options);
        self.request(RouteNetlinkMessage::NewQueueDiscipline(message), NLM_F_CREATE | NLM_F_REPLACE)
    }

    /// Removes the root qdisc of link `index`, back to the default; none
    /// there is no error.
    pub(crate) fn delete_root_qdisc(&mut self, index: u32) -> io::Result<()> {
        let mut message = TcMessage::default();
        message.header.index = index as i32;
        message.header.parent = TcHandle::ROOT;
        match self.request(RouteNetlinkMessage::DelQueueDiscipline(message), 0) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::EINVAL)) => Ok(()),
            other => other,
        }
    }
}
