//! [`Network`], its [`Builder`], and the handles on its nodes and links.

use std::io::{self, Write as _};
use std::net::IpAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use netlink_packet_route::tc::TcHandle;

use super::error::{BRIDGE, NETEM, NetError, TBF, VETH};
use super::qdisc::{NETEM_LIMIT, Netem, Tbf};
use super::rtnl::Rtnl;
use super::settle;
use super::spec::LinkSpec;
use super::topology::{Plan, Request, SegmentKind, known};

/// Builds a [`Network`]: nodes, links between two of them, switches
/// joining several. Nothing is made until [`Builder::build`], which
/// checks the whole description first.
///
/// A node is a host; a link joins two nodes on a subnet of their own; a
/// switch joins several on one subnet. Here a client reaches two replicas
/// over a switch and a router over a lossy link:
///
/// ```no_run
/// use isolated_test::net::{LinkSpec, Network};
///
/// #[isolated_test::isolated_test]
/// fn reaches_both_replicas() {
///     let net = Network::builder()
///         .node("client")
///         .node("db1")
///         .node("db2")
///         .node("router")
///         .switch("lan", &["client", "db1", "db2"])
///         .link("client", "router", LinkSpec::new().loss(1.0))
///         .build()
///         .unwrap();
///     for db in ["db1", "db2"] {
///         let out = net.node("client").command("ping").args(["-c", "1", "-W", "1", db]).output().unwrap();
///         assert!(out.status.success(), "{db} unreachable");
///     }
/// }
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until `build()`"]
pub struct Builder {
    request: Request,
}

/// A network of nodes inside the test's sandbox: each node is a network
/// namespace of its own, joined to others by links (veth pairs) and
/// switches (bridges), with addresses and routes set so that every node
/// reaches every other, and node names in the sandbox's `/etc/hosts`.
///
/// Everything is gone when the `Network` is dropped (and at the latest with
/// the sandbox): namespaces live only as long as their descriptors, their
/// threads and processes, and nothing is bound under `/run/netns`. If the
/// test then fails, its failure report shows the network's state as it
/// was dropped (see [`Network::dump`]).
///
/// ```no_run
/// use isolated_test::net::{LinkSpec, Network};
/// use std::io::{Read, Write};
/// use std::time::Duration;
///
/// #[isolated_test::isolated_test]
/// fn echo_over_a_slow_link() {
///     let net = Network::builder()
///         .node("server")
///         .node("client")
///         .link("client", "server", LinkSpec::new().delay(Duration::from_millis(50)))
///         .build()
///         .unwrap();
///     let ip = net.ip("server");
///     let listener = net.node("server").run(move || std::net::TcpListener::bind((ip, 7000))).unwrap();
///     let server = std::thread::spawn(move || {
///         let (mut stream, _) = listener.accept().unwrap();
///         let mut buf = [0; 4];
///         stream.read_exact(&mut buf).unwrap();
///         stream.write_all(&buf).unwrap();
///     });
///     let mut stream = net.node("client").run(move || std::net::TcpStream::connect((ip, 7000))).unwrap();
///     stream.write_all(b"ping").unwrap();
///     let mut buf = [0; 4];
///     stream.read_exact(&mut buf).unwrap();
///     server.join().unwrap();
/// }
/// ```
pub struct Network {
    id: u64,
    plan: Plan,
    nodes: Vec<NodeState>,
    /// The namespace holding the switches' bridges, if there are any.
    hub: Option<NodeState>,
    /// Per segment: the spec now applied (links only).
    specs: Mutex<Vec<LinkSpec>>,
    /// Per node, per segment: the interface index there.
    indices: Vec<Vec<Option<u32>>>,
    /// The block this network added to `/etc/hosts`.
    hosts_block: String,
    /// `/etc/hosts` before, with its times, restored when only the block
    /// changed it (so a pollution report does not list it).
    hosts_before: Option<(String, std::fs::FileTimes)>,
    /// Whether `build()` went through.
    built: bool,
}

struct NodeState {
    name: String,
    ns: Arc<OwnedFd>,
    rtnl: Mutex<Rtnl>,
}

impl NodeState {
    fn rtnl(&self) -> MutexGuard<'_, Rtnl> {
        self.rtnl.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network").field("nodes", &self.plan.nodes).field("segments", &self.plan.segments).finish()
    }
}

/// One node of a [`Network`], from [`Network::node`]: its name and
/// addresses, and ways to run code in its network namespace.
///
/// ```no_run
/// # use isolated_test::net::{LinkSpec, Network};
/// # let net = Network::builder().node("server").node("client").link("client", "server", LinkSpec::new()).build().unwrap();
/// let server = net.node("server");
/// // A listener bound in the node, served on a thread of its own.
/// let listener = server.run(|| std::net::TcpListener::bind(("0.0.0.0", 8080))).unwrap();
/// let handle = server.spawn(move || listener.accept().map(|(_, peer)| peer));
/// // A program in the other node, which finds `server` in /etc/hosts.
/// let status = net.node("client").command("wget").args(["-q", "-O-", "http://server:8080/"]).status().unwrap();
/// # drop((handle, status));
/// ```
#[derive(Clone, Copy)]
pub struct Node<'a> {
    net: &'a Network,
    index: usize,
}

/// The link between two nodes of a [`Network`], from [`Network::link`]:
/// read or change its [`LinkSpec`], cut it and restore it.
///
/// ```no_run
/// # use isolated_test::net::{LinkSpec, Network};
/// # let net = Network::builder().node("server").node("client").link("client", "server", LinkSpec::new()).build().unwrap();
/// let link = net.link("client", "server");
/// link.down().unwrap(); // a partition
/// assert!(link.spec().is_down());
/// link.up().unwrap();
/// link.set(LinkSpec::new().loss(20.0)).unwrap(); // a flaky one
/// ```
#[derive(Clone, Copy)]
pub struct Link<'a> {
    net: &'a Network,
    segment: usize,
}

impl Network {
    /// Starts describing a network. Examples on [`Network`] and [`Builder`].
    pub fn builder() -> Builder {
        Builder::default()
    }
}

impl Builder {
    /// Adds a node: a network namespace with `lo` up. Its name is a host
    /// name (letters, digits, `-`) and names its interfaces on the other
    /// nodes. Example on [`Builder`].
    pub fn node(mut self, name: impl Into<String>) -> Self {
        self.request.nodes.push(name.into());
        self
    }

    /// Joins `a` and `b` with a veth pair (interface `b` in node `a`,
    /// interface `a` in node `b`) on a subnet of their own, with `spec`
    /// applied in both directions. Example on [`Builder`].
    pub fn link(mut self, a: impl Into<String>, b: impl Into<String>, spec: LinkSpec) -> Self {
        self.request.order.push((false, self.request.links.len()));
        self.request.links.push((a.into(), b.into(), spec));
        self
    }

    /// Joins `nodes` on one switch (a bridge in a namespace of its own), a
    /// subnet they share; each gets an interface named after the switch.
    /// Example on [`Builder`].
    pub fn switch(mut self, name: impl Into<String>, nodes: &[&str]) -> Self {
        self.request.order.push((true, self.request.switches.len()));
        self.request.switches.push((name.into(), nodes.iter().map(|n| (*n).to_owned()).collect()));
        self
    }

    /// Checks the description, then makes the namespaces, links, switches,
    /// addresses, routes, qdiscs and `/etc/hosts` entries.
    ///
    /// # Errors
    /// Bad input (a duplicate or invalid name, an unknown node, a link from
    /// a node to itself or made twice, a loss outside 0 to 100, ...),
    /// before anything is made; a kernel without veth pairs, bridges or
    /// the netem and tbf qdiscs (with the cause and the fix); outside an
    /// isolated test's body.
    ///
    /// The description is checked before anything else, so a mistake is
    /// reported the same anywhere:
    ///
    /// ```
    /// use isolated_test::net::{LinkSpec, NetError, Network};
    ///
    /// let err = Network::builder().node("a").node("b").link("a", "c", LinkSpec::new()).build().unwrap_err();
    /// assert!(matches!(err, NetError::UnknownNode { .. }), "{err}");
    ///
    /// // A good description, outside an isolated test's body.
    /// let err = Network::builder().node("a").node("b").link("a", "b", LinkSpec::new()).build().unwrap_err();
    /// assert!(matches!(err, NetError::NotInSandbox), "{err}");
    /// ```
    pub fn build(self) -> Result<Network, NetError> {
        let plan = self.request.plan()?;
        if !crate::pid2::body::in_sandbox_body() {
            return Err(NetError::NotInSandbox);
        }
        static IDS: AtomicU64 = AtomicU64::new(1);
        let id = IDS.fetch_add(1, Ordering::Relaxed);
        let mut nodes = Vec::new();
        for name in &plan.nodes {
            nodes.push(make_namespace(name)?);
        }
        let switches = plan.segments.iter().any(|s| matches!(s.kind, SegmentKind::Switch(_)));
        let hub = if switches { Some(make_namespace("(switches)")?) } else { None };
        let indices = vec![vec![None; plan.segments.len()]; plan.nodes.len()];
        let specs = plan
            .segments
            .iter()
            .map(|s| match s.kind {
                SegmentKind::Link(spec) => spec,
                SegmentKind::Switch(_) => LinkSpec::new(),
            })
            .collect();
        let mut net = Network {
            id,
            plan,
            nodes,
            hub,
            specs: Mutex::new(specs),
            indices,
            hosts_block: String::new(),
            hosts_before: None,
            built: false,
        };
        net.wire()?;
        net.add_hosts()?;
        net.built = true;
        Ok(net)
    }
}

/// A new namespace with `lo` up, IPv6 duplicate address detection off,
/// and a netlink socket in it.
fn make_namespace(name: &str) -> Result<NodeState, NetError> {
    let (ns, rtnl) = crate::sys::netns::new_net_namespace(|| {
        // Before any link is made: a link takes the namespace's `default`
        // settings when it is made (see `settle`).
        if let Err((path, e)) = settle::disable_dad() {
            let step = format!("turn off IPv6 duplicate address detection in node `{name}` (write 0 to {path})");
            return Ok(Err(NetError::system(step, e)));
        }
        let mut rtnl = Rtnl::open()?;
        let lo = rtnl.index_of("lo")?;
        rtnl.set_link(lo, Some(true), None, None)?;
        Ok(Ok(rtnl))
    })
    .map_err(|e| NetError::system(format!("make the network namespace of `{name}`"), e))?;
    Ok(NodeState { name: name.to_owned(), ns: Arc::new(ns), rtnl: Mutex::new(rtnl?) })
}

/// Whether an error from creating a link says the kind is unknown.
fn unknown_kind(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP) | Some(libc::ENOENT))
}

impl Network {
    fn wire(&mut self) -> Result<(), NetError> {
        for s in 0..self.plan.segments.len() {
            let segment = self.plan.segments[s].clone();
            match &segment.kind {
                SegmentKind::Link(spec) => {
                    let (a, b) = (segment.members[0], segment.members[1]);
                    let (ifa, ifb) = (&segment.ifnames[0], &segment.ifnames[1]);
                    let step = || format!("make the link {}-{}", self.nodes[a].name, self.nodes[b].name);
                    self.nodes[a].rtnl().add_veth(ifa, ifb, self.nodes[b].ns.as_fd()).map_err(|e| {
                        if unknown_kind(&e) {
                            NetError::Missing { step: step(), feature: VETH, cause: e }
                        } else {
                            NetError::system(step(), e)
                        }
                    })?;
                    for (position, &node) in segment.members.iter().enumerate() {
                        let index = self.nodes[node]
                            .rtnl()
                            .index_of(&segment.ifnames[position])
                            .map_err(|e| NetError::system(step(), e))?;
                        self.indices[node][s] = Some(index);
                    }
                    self.configure_link(s, spec, true)?;
                }
                SegmentKind::Switch(name) => {
                    let hub = self.hub.as_ref().expect("a hub is made when there are switches");
                    let step = |what: &str| format!("{what} of switch `{name}`");
                    let bridge = segment.ifnames[0].clone();
                    let mut rtnl = hub.rtnl();
                    rtnl.add_bridge(&bridge).map_err(|e| {
                        if unknown_kind(&e) {
                            NetError::Missing { step: step("make the bridge"), feature: BRIDGE, cause: e }
                        } else {
                            NetError::system(step("make the bridge"), e)
                        }
                    })?;
                    let bridge_index =
                        rtnl.index_of(&bridge).map_err(|e| NetError::system(step("find the bridge"), e))?;
                    rtnl.set_link(bridge_index, Some(true), None, None)
                        .map_err(|e| NetError::system(step("bring up the bridge"), e))?;
                    for (position, &node) in segment.members.iter().enumerate() {
                        let node_name = &self.nodes[node].name;
                        let port = Some(format!("{bridge}-{}", position + 1))
                            .filter(|p| p.len() <= 15)
                            .unwrap_or_else(|| format!("sw{}-{}", segment.number, position + 1));
                        let port_step = || step(&format!("make the port of `{node_name}`"));
                        rtnl.add_veth(&port, &segment.ifnames[position], self.nodes[node].ns.as_fd()).map_err(|e| {
                            if unknown_kind(&e) {
                                NetError::Missing { step: port_step(), feature: VETH, cause: e }
                            } else {
                                NetError::system(port_step(), e)
                            }
                        })?;
                        let port_index = rtnl.index_of(&port).map_err(|e| NetError::system(port_step(), e))?;
                        rtnl.set_link(port_index, Some(true), None, Some(bridge_index))
                            .map_err(|e| NetError::system(port_step(), e))?;
                        let index = self.nodes[node]
                            .rtnl()
                            .index_of(&segment.ifnames[position])
                            .map_err(|e| NetError::system(port_step(), e))?;
                        self.indices[node][s] = Some(index);
                    }
                    drop(rtnl);
                    self.bring_up(s)?;
                }
            }
        }
        self.add_routes()?;
        for (node, forwards) in self.plan.forwards.clone().into_iter().enumerate() {
            if forwards {
                self.enable_forwarding(node)?;
            }
        }
        // Links that start down go down once their routes are in (up()
        // puts them back).
        for s in 0..self.plan.segments.len() {
            if let SegmentKind::Link(spec) = self.plan.segments[s].kind {
                if spec.down {
                    self.set_state(s, false)?;
                }
            }
        }
        self.settle(self.nodes.iter().chain(&self.hub))
    }

    /// Waits until the links of `namespaces` that are up carry traffic and
    /// every IPv6 address there is usable, the link-local ones the kernel
    /// makes when a link gets its carrier included (see `settle`). Without
    /// this the first packet a router forwards over a link just brought up
    /// is lost.
    fn settle<'s>(&self, namespaces: impl IntoIterator<Item = &'s NodeState>) -> Result<(), NetError> {
        let deadline = Instant::now() + settle::LIMIT;
        for state in namespaces {
            settle::wait(&mut state.rtnl(), deadline).map_err(|e| {
                NetError::system(format!("wait for the links and IPv6 addresses of `{}` to be ready", state.name), e)
            })?;
        }
        Ok(())
    }

    fn index(&self, node: usize, segment: usize) -> u32 {
        self.indices[node][segment].expect("every member of a segment has its interface index")
    }

    /// Sets the MTU and qdiscs of both ends of link `s`; at build time
    /// (`initial`) also brings it up with its addresses.
    fn configure_link(&self, s: usize, spec: &LinkSpec, initial: bool) -> Result<(), NetError> {
        let segment = &self.plan.segments[s];
        for &node in &segment.members {
            let state = &self.nodes[node];
            let index = self.index(node, s);
            let ifname = &segment.ifnames[segment.position(node).unwrap_or(0)];
            let mtu = spec.mtu.unwrap_or(1500);
            state.rtnl().set_link(index, None, Some(mtu), None).map_err(|e| {
                NetError::system(format!("set the mtu of `{ifname}` in node `{}` to {mtu}", state.name), e)
            })?;
            self.apply_qdiscs(node, s, spec)?;
        }
        if initial {
            self.bring_up(s)?;
        }
        Ok(())
    }

    /// The qdiscs of `spec` on node's interface on segment `s`, replacing
    /// what was there.
    fn apply_qdiscs(&self, node: usize, s: usize, spec: &LinkSpec) -> Result<(), NetError> {
        let segment = &self.plan.segments[s];
        let state = &self.nodes[node];
        let index = self.index(node, s);
        let ifname = &segment.ifnames[segment.position(node).unwrap_or(0)];
        let mut rtnl = state.rtnl();
        let step = |what: &str| format!("{what} on `{ifname}` in node `{}`", state.name);
        rtnl.delete_root_qdisc(index).map_err(|e| NetError::system(step("remove the qdisc"), e))?;
        let root = TcHandle { major: 1, minor: 0 };
        let mut tbf_parent = TcHandle::ROOT;
        if spec.needs_netem() {
            let netem =
                Netem { delay: spec.delay, jitter: spec.jitter, loss: spec.loss, rate: None, limit: NETEM_LIMIT };
            rtnl.add_qdisc(index, TcHandle::ROOT, root, "netem", netem.options()).map_err(|e| {
                if e.raw_os_error() == Some(libc::ENOENT) {
                    NetError::Missing { step: step(&format!("add the netem qdisc ({spec})")), feature: NETEM, cause: e }
                } else {
                    NetError::system(step(&format!("add the netem qdisc ({spec})")), e)
                }
            })?;
            tbf_parent = TcHandle { major: 1, minor: 1 };
        }
        if let Some(rate) = spec.rate {
            let tbf = Tbf::for_rate(rate, spec.mtu.unwrap_or(1500));
            let handle = if spec.needs_netem() { TcHandle { major: 2, minor: 0 } } else { root };
            rtnl.add_qdisc(index, tbf_parent, handle, "tbf", tbf.options()).map_err(|e| {
                if e.raw_os_error() == Some(libc::ENOENT) {
                    NetError::Missing { step: step(&format!("add the tbf qdisc ({spec})")), feature: TBF, cause: e }
                } else {
                    NetError::system(step(&format!("add the tbf qdisc ({spec})")), e)
                }
            })?;
        }
        Ok(())
    }

    /// Brings up both ends of segment `s` (and their addresses, which
    /// IPv6 drops when a link goes down).
    fn bring_up(&self, s: usize) -> Result<(), NetError> {
        let segment = &self.plan.segments[s];
        for (position, &node) in segment.members.iter().enumerate() {
            let state = &self.nodes[node];
            let index = self.index(node, s);
            let ifname = &segment.ifnames[position];
            let mut rtnl = state.rtnl();
            rtnl.set_link(index, Some(true), None, None)
                .map_err(|e| NetError::system(format!("bring up `{ifname}` in node `{}`", state.name), e))?;
            for (address, prefix) in segment.addresses(position).into_iter().zip([24, 64]) {
                match rtnl.add_address(index, address, prefix) {
                    Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                    other => other.map_err(|e| {
                        NetError::system(format!("add {address}/{prefix} to `{ifname}` in node `{}`", state.name), e)
                    })?,
                }
            }
        }
        Ok(())
    }

    /// Every node's routes to the segments it is not on (those in place
    /// are kept: a link brought up again gets back the ones the kernel
    /// dropped with it).
    fn add_routes(&self) -> Result<(), NetError> {
        for (node, routes) in self.plan.routes.iter().enumerate() {
            let state = &self.nodes[node];
            let mut rtnl = state.rtnl();
            for route in routes {
                let to = &self.plan.segments[route.to];
                let via = &self.plan.segments[route.via_segment];
                let Some(position) = via.position(route.via_node) else { continue };
                let gateways = via.addresses(position);
                let oif = self.index(node, route.via_segment);
                for (destination, prefix, gateway) in
                    [(IpAddr::V4(to.v4_net()), 24, gateways[0]), (IpAddr::V6(to.v6_net()), 64, gateways[1])]
                {
                    match rtnl.add_route(destination, prefix, gateway, oif) {
                        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                        // The way there is down: the route comes with `up()`.
                        Err(e) if matches!(e.raw_os_error(), Some(libc::ENETUNREACH) | Some(libc::ENETDOWN)) => {}
                        other => other.map_err(|e| {
                            NetError::system(
                                format!(
                                    "add the route to {destination}/{prefix} via {gateway} in node `{}`",
                                    state.name
                                ),
                                e,
                            )
                        })?,
                    }
                }
            }
        }
        Ok(())
    }

    fn enable_forwarding(&self, node: usize) -> Result<(), NetError> {
        let name = self.nodes[node].name.clone();
        self.node_at(node)
            .run(|| -> io::Result<()> {
                std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")?;
                std::fs::write("/proc/sys/net/ipv6/conf/all/forwarding", "1")
            })
            .map_err(|e| NetError::system(format!("turn on forwarding in node `{name}` (it is on two segments)"), e))
    }

    fn set_state(&self, s: usize, up: bool) -> Result<(), NetError> {
        if up {
            self.bring_up(s)?;
            self.add_routes()?;
            return self.settle(self.plan.segments[s].members.iter().map(|&node| &self.nodes[node]));
        }
        let segment = &self.plan.segments[s];
        for (position, &node) in segment.members.iter().enumerate() {
            let state = &self.nodes[node];
            state.rtnl().set_link(self.index(node, s), Some(false), None, None).map_err(|e| {
                NetError::system(format!("take down `{}` in node `{}`", segment.ifnames[position], state.name), e)
            })?;
        }
        Ok(())
    }

    /// Adds `address name` lines for every node to `/etc/hosts` (the
    /// sandbox's own file), in a block removed on drop.
    fn add_hosts(&mut self) -> Result<(), NetError> {
        let mut block = format!("# isolated-test network {}\n", self.id);
        for (node, name) in self.plan.nodes.iter().enumerate() {
            for address in self.plan.addresses_of(node) {
                block.push_str(&format!("{address} {name}\n"));
            }
        }
        block.push_str(&format!("# isolated-test network {} end\n", self.id));
        let step = || "add the nodes' names to /etc/hosts".to_owned();
        let mut file =
            std::fs::OpenOptions::new().append(true).open("/etc/hosts").map_err(|e| NetError::system(step(), e))?;
        let current = std::fs::read_to_string("/etc/hosts").map_err(|e| NetError::system(step(), e))?;
        let meta = file.metadata().map_err(|e| NetError::system(step(), e))?;
        if let (Ok(accessed), Ok(modified)) = (meta.accessed(), meta.modified()) {
            let times = std::fs::FileTimes::new().set_accessed(accessed).set_modified(modified);
            self.hosts_before = Some((current.clone(), times));
        }
        let text = if current.is_empty() || current.ends_with('\n') { block.clone() } else { format!("\n{block}") };
        file.write_all(text.as_bytes()).map_err(|e| NetError::system(step(), e))?;
        self.hosts_block = block;
        Ok(())
    }

    fn remove_hosts(&self) {
        if self.hosts_block.is_empty() {
            return;
        }
        if let Ok(current) = std::fs::read_to_string("/etc/hosts") {
            if let Some(at) = current.find(&self.hosts_block) {
                let mut rest = current.clone();
                rest.replace_range(at..at + self.hosts_block.len(), "");
                let _ = std::fs::write("/etc/hosts", &rest);
                // Nothing else changed it: as it was, times included.
                if let Some((before, times)) = &self.hosts_before {
                    if *before == rest {
                        let _ =
                            std::fs::File::options().write(true).open("/etc/hosts").and_then(|f| f.set_times(*times));
                    }
                }
            }
        }
    }

    fn node_at(&self, index: usize) -> Node<'_> {
        Node { net: self, index }
    }

    /// The node called `name`.
    ///
    /// # Errors
    /// There is none ([`NetError::UnknownNode`], listing those there are).
    ///
    /// ```no_run
    /// # use isolated_test::net::{LinkSpec, Network};
    /// # let net = Network::builder().node("server").node("client").link("client", "server", LinkSpec::new()).build().unwrap();
    /// match net.try_node("cache") {
    ///     Ok(cache) => println!("cache at {:?}", cache.ips()),
    ///     Err(e) => println!("{e}"), // names `server` and `client`
    /// }
    /// ```
    pub fn try_node(&self, name: &str) -> Result<Node<'_>, NetError> {
        match self.plan.nodes.iter().position(|n| n == name) {
            Some(index) => Ok(self.node_at(index)),
            None => Err(NetError::UnknownNode { name: name.to_owned(), known: known(&self.plan.nodes) }),
        }
    }

    /// The node called `name`.
    ///
    /// # Panics
    /// There is none; the message lists those there are
    /// ([`Network::try_node`] returns the error instead).
    ///
    /// ```no_run
    /// # use isolated_test::net::{LinkSpec, Network};
    /// # let net = Network::builder().node("server").node("client").link("client", "server", LinkSpec::new()).build().unwrap();
    /// let server = net.node("server");
    /// assert_eq!(server.name(), "server");
    /// ```
    #[track_caller]
    pub fn node(&self, name: &str) -> Node<'_> {
        self.try_node(name).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The first address of node `name`: the IPv4 address of its first
    /// link or switch.
    ///
    /// # Panics
    /// There is no such node, or it is on no link or switch.
    ///
    /// ```no_run
    /// # use isolated_test::net::{LinkSpec, Network};
    /// # let net = Network::builder().node("server").node("client").link("client", "server", LinkSpec::new()).build().unwrap();
    /// let addr = std::net::SocketAddr::new(net.ip("server"), 8080);
    /// let reply = net.node("client").run(move || std::net::TcpStream::connect(addr));
    /// # drop(reply);
    /// ```
    #[track_caller]
    pub fn ip(&self, name: &str) -> IpAddr {
        let node = self.node(name);
        *node.ips().first().unwrap_or_else(|| panic!("node `{name}` has no address: it is on no link or switch"))
    }

    /// The link between `a` and `b` (either order).
    ///
    /// # Errors
    /// An unknown node, or no link between them.
    ///
    /// ```no_run
    /// # use isolated_test::net::{LinkSpec, Network};
    /// # let net = Network::builder().node("server").node("client").link("client", "server", LinkSpec::new()).build().unwrap();
    /// assert!(net.try_link("server", "client").is_ok()); // either order
    /// assert!(net.try_link("server", "server").is_err());
    /// ```
    pub fn try_link(&self, a: &str, b: &str) -> Result<Link<'_>, NetError> {
        let (ia, ib) = (self.try_node(a)?.index, self.try_node(b)?.index);
        if ia == ib {
            return Err(NetError::NoSuchLink { a: a.to_owned(), b: b.to_owned() });
        }
        self.plan
            .segments
            .iter()
            .position(|s| matches!(s.kind, SegmentKind::Link(_)) && s.members.contains(&ia) && s.members.contains(&ib))
            .map(|segment| Link { net: self, segment })
            .ok_or_else(|| NetError::NoSuchLink { a: a.to_owned(), b: b.to_owned() })
    }

    /// The link between `a` and `b` (either order).
    ///
    /// # Panics
    /// An unknown node, or no link between them ([`Network::try_link`]
    /// returns the error instead).
    ///
    /// ```no_run
    /// # use isolated_test::net::{LinkSpec, Network};
    /// # let net = Network::builder().node("server").node("client").link("client", "server", LinkSpec::new()).build().unwrap();
    /// use std::time::Duration;
    ///
    /// // Make the link worse halfway through the test.
    /// net.link("client", "server").set(LinkSpec::new().delay(Duration::from_millis(200))).unwrap();
    /// ```
    #[track_caller]
    pub fn link(&self, a: &str, b: &str) -> Link<'_> {
        self.try_link(a, b).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The names of the nodes, in the order they were added.
    ///
    /// ```no_run
    /// # use isolated_test::net::{LinkSpec, Network};
    /// # let net = Network::builder().node("server").node("client").link("client", "server", LinkSpec::new()).build().unwrap();
    /// assert_eq!(net.nodes(), ["server", "client"]);
    /// ```
    pub fn nodes(&self) -> &[String] {
        &self.plan.nodes
    }

    /// The network's state as the kernel has it: each node with its links
    /// (state, flags, MTU, qdiscs with their netem and tbf parameters),
    /// addresses and routes, then the switches' namespace. This is what a
    /// failing test's report shows.
    ///
    /// ```no_run
    /// # use isolated_test::net::{LinkSpec, Network};
    /// # let net = Network::builder().node("server").node("client").link("client", "server", LinkSpec::new()).build().unwrap();
    /// eprintln!("{}", net.dump()); // "network state (2 nodes):\n  node server (link to client (...)):\n..."
    /// ```
    pub fn dump(&self) -> String {
        let mut out = format!("network state ({} nodes):\n", self.nodes.len());
        for (index, node) in self.nodes.iter().enumerate() {
            let segments: Vec<String> = self
                .plan
                .segments
                .iter()
                .filter(|s| s.members.contains(&index))
                .map(|s| {
                    let spec = self.specs.lock().unwrap_or_else(PoisonError::into_inner)
                        [self.plan.segments.iter().position(|x| x == s).unwrap_or(0)];
                    match &s.kind {
                        SegmentKind::Link(_) => {
                            let other = s.members.iter().find(|m| **m != index).map(|m| self.plan.nodes[*m].as_str());
                            format!("link to {} ({spec})", other.unwrap_or("?"))
                        }
                        SegmentKind::Switch(name) => format!("switch {name}"),
                    }
                })
                .collect();
            let on = if segments.is_empty() { "on nothing".to_owned() } else { segments.join(", ") };
            out.push_str(&format!("  node {} ({on}):\n", node.name));
            out.push_str(&super::dump::namespace(&mut node.rtnl(), "    "));
        }
        if let Some(hub) = &self.hub {
            out.push_str("  switches:\n");
            out.push_str(&super::dump::namespace(&mut hub.rtnl(), "    "));
        }
        out
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        // The state as the test left it, for its failure report (the
        // network is dropped before the body's failure reaches the
        // harness, by unwinding or by returning an error).
        let when = if self.built { "taken when the Network was dropped" } else { "as its failed build() left it" };
        let dump = self.dump();
        if !crate::pid2::body::set_failure_note(self.id, Some(format!("{dump}({when})"))) && std::thread::panicking() {
            let _ = writeln!(io::stderr(), "{dump}");
        }
        self.remove_hosts();
    }
}

impl<'a> Node<'a> {
    /// The node's name. Example on [`Node`].
    pub fn name(&self) -> &'a str {
        &self.net.plan.nodes[self.index]
    }

    /// Every address of the node: IPv4 ones first (one per link or
    /// switch, in the order they were added), then IPv6.
    ///
    /// ```no_run
    /// # use isolated_test::net::{LinkSpec, Network};
    /// # let net = Network::builder().node("server").node("client").link("client", "server", LinkSpec::new()).build().unwrap();
    /// let ips = net.node("server").ips();
    /// assert!(ips[0].is_ipv4() && ips.iter().any(|ip| ip.is_ipv6()));
    /// ```
    pub fn ips(&self) -> Vec<IpAddr> {
        self.net.plan.addresses_of(self.index)
    }

    /// Runs `f` on a new thread inside the node's network namespace and
    /// returns its value (a panic in `f` is resumed here). Sockets made
    /// there stay in the node's namespace wherever they are moved: bind a
    /// listener in `run`, accept on any thread. With tokio, turn them into
    /// tokio sockets (`set_nonblocking(true)`, then `from_std`). Example on
    /// [`Node`].
    ///
    /// # Panics
    /// The thread cannot be made or cannot enter the namespace.
    pub fn run<F, T>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        let ns = &self.net.nodes[self.index].ns;
        let name = self.name();
        std::thread::scope(|scope| {
            let thread = std::thread::Builder::new()
                .name(format!("node {name}"))
                .spawn_scoped(scope, move || {
                    crate::sys::netns::enter(ns.as_fd())
                        .unwrap_or_else(|e| panic!("could not enter the network namespace of node `{name}`: {e}"));
                    f()
                })
                .unwrap_or_else(|e| panic!("could not start a thread for node `{name}`: {e}"));
            thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Starts `f` on a thread inside the node's network namespace (a
    /// server that runs while the test goes on). Example on [`Node`].
    ///
    /// # Panics
    /// The thread cannot be made; the thread panics if it cannot enter
    /// the namespace.
    pub fn spawn<F, T>(&self, f: F) -> std::thread::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let ns = Arc::clone(&self.net.nodes[self.index].ns);
        let name = self.name().to_owned();
        std::thread::Builder::new()
            .name(format!("node {name}"))
            .spawn(move || {
                crate::sys::netns::enter(ns.as_fd())
                    .unwrap_or_else(|e| panic!("could not enter the network namespace of node `{name}`: {e}"));
                f()
            })
            .unwrap_or_else(|e| panic!("could not start a thread for node `{}`: {e}", self.name()))
    }

    /// A command whose process runs in the node's network namespace
    /// (`std::process::Command`: `output()`, `spawn()`, or
    /// `tokio::process::Command::from` for async). It sees the sandbox's
    /// files, `/etc/hosts` with the nodes' names included. Example on
    /// [`Node`].
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
        let mut command = std::process::Command::new(program);
        crate::sys::netns::command_in(&mut command, Arc::clone(&self.net.nodes[self.index].ns));
        command
    }
}

impl std::fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("name", &self.name()).field("ips", &self.ips()).finish()
    }
}

impl Link<'_> {
    /// The spec in force. Example on [`Link`].
    pub fn spec(&self) -> LinkSpec {
        self.net.specs.lock().unwrap_or_else(PoisonError::into_inner)[self.segment]
    }

    /// Applies `spec` instead of the current one: MTU, qdiscs, and the
    /// link's state (down if `spec` says so, up otherwise). Example on
    /// [`Link`].
    ///
    /// # Errors
    /// A bad spec, or what the kernel refused (see [`Builder::build`]).
    pub fn set(&self, spec: LinkSpec) -> Result<(), NetError> {
        let segment = &self.net.plan.segments[self.segment];
        let names: Vec<&str> = segment.members.iter().map(|m| self.net.plan.nodes[*m].as_str()).collect();
        spec.validate(&names.join("-"))?;
        self.net.configure_link(self.segment, &spec, false)?;
        self.net.set_state(self.segment, !spec.down)?;
        self.net.specs.lock().unwrap_or_else(PoisonError::into_inner)[self.segment] = spec;
        Ok(())
    }

    /// Takes both ends down: nothing crosses until [`Link::up`]. Example on
    /// [`Link`].
    ///
    /// # Errors
    /// What the kernel refused.
    pub fn down(&self) -> Result<(), NetError> {
        self.net.set_state(self.segment, false)?;
        self.net.specs.lock().unwrap_or_else(PoisonError::into_inner)[self.segment].down = true;
        Ok(())
    }

    /// Brings both ends up again, with their addresses and the routes
    /// through the link that the kernel dropped when it went down. Example
    /// on [`Link`].
    ///
    /// # Errors
    /// What the kernel refused.
    pub fn up(&self) -> Result<(), NetError> {
        self.net.set_state(self.segment, true)?;
        self.net.specs.lock().unwrap_or_else(PoisonError::into_inner)[self.segment].down = false;
        Ok(())
    }
}

/// What `isolated-test doctor` shows of the kernel's network features:
/// each one tried in a throw-away namespace (a veth pair, a bridge, a tbf
/// and a netem qdisc), with the error (cause and fix) of those missing.
#[cfg(feature = "cli")]
pub(crate) fn probe() -> Vec<(&'static str, Option<String>)> {
    let tried = crate::sys::netns::new_net_namespace(|| {
        let mut rtnl = Rtnl::open()?;
        let own: OwnedFd = std::fs::File::open("/proc/thread-self/ns/net")?.into();
        let missing = |feature: super::KernelFeature, step: &str, e: io::Error, kind_unknown: bool| {
            if kind_unknown {
                NetError::Missing { step: step.to_owned(), feature, cause: e }.to_string()
            } else {
                NetError::system(step, e).to_string()
            }
        };
        let veth =
            rtnl.add_veth("probe0", "probe1", own.as_fd()).map_err(|e| missing(VETH, "make a veth pair", e, true));
        let bridge = rtnl.add_bridge("probebr").map_err(|e| missing(BRIDGE, "make a bridge", e, true));
        let qdisc = |rtnl: &mut Rtnl, feature: super::KernelFeature, kind: &str, options| {
            let index =
                rtnl.index_of("probe0").map_err(|e| NetError::system("find the probe's veth", e).to_string())?;
            rtnl.add_qdisc(index, TcHandle::ROOT, TcHandle { major: 1, minor: 0 }, kind, options).map_err(|e| {
                let unknown = e.raw_os_error() == Some(libc::ENOENT);
                missing(feature, &format!("add a {kind} qdisc"), e, unknown)
            })?;
            rtnl.delete_root_qdisc(index).map_err(|e| NetError::system("remove the probe's qdisc", e).to_string())
        };
        let needs_veth = || Err("not tried: it needs a veth pair".to_owned());
        let (tbf, netem) = if veth.is_ok() {
            let tbf = qdisc(&mut rtnl, TBF, "tbf", Tbf::for_rate(1_000_000, 1500).options());
            let netem = Netem { delay: std::time::Duration::from_millis(1), limit: NETEM_LIMIT, ..Netem::default() };
            (tbf, qdisc(&mut rtnl, NETEM, "netem", netem.options()))
        } else {
            (needs_veth(), needs_veth())
        };
        Ok([(VETH, veth), (BRIDGE, bridge), (TBF, tbf), (NETEM, netem)])
    });
    match tried {
        Ok((_, results)) => results.into_iter().map(|(feature, r)| (feature.what, r.err())).collect(),
        Err(e) => vec![("network namespaces", Some(NetError::system("make a network namespace", e).to_string()))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_network_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Network>();
        shared::<Node<'static>>();
        shared::<Link<'static>>();
    }
}
