//! Several hosts in one test: nodes (network namespaces made inside the
//! test's sandbox, so no host privilege is needed), links with delay,
//! jitter, loss, rate and MTU, switches, names in the sandbox's
//! `/etc/hosts`, and the network's state in the failure report.
//!
//! ```no_run
//! use isolated_test::isolated_test;
//! use isolated_test::net::{LinkSpec, Network};
//! use std::time::Duration;
//!
//! #[isolated_test]
//! fn client_survives_a_slow_link() {
//!     let net = Network::builder()
//!         .node("server")
//!         .node("client")
//!         .link("client", "server", LinkSpec::new().delay(Duration::from_millis(100)).loss(5.0))
//!         .build()
//!         .unwrap();
//!     let ip = net.ip("server"); // std::net::IpAddr
//!     let listener = net.node("server").run(move || std::net::TcpListener::bind((ip, 7000))).unwrap();
//!     let out = net.node("client").command("ping").args(["-c", "1", "server"]).output().unwrap();
//!     assert!(out.status.success());
//!     # drop(listener);
//! }
//! ```
//!
//! Netlink goes through `netlink-packet-route` and `netlink-sys` (no `ip`
//! or `tc` binary); the netem and tbf options, which that crate has no
//! types for, are built as raw attributes (`net/qdisc.rs`).

mod dump;
mod error;
mod network;
mod qdisc;
mod rtnl;
mod settle;
mod spec;
mod topology;

pub(crate) use dump::state_lines;
pub use error::{BRIDGE, KernelFeature, NETEM, NetError, TBF, VETH};
#[cfg(feature = "cli")]
pub(crate) use network::probe;
pub use network::{Builder, Link, Network, Node};
pub use spec::LinkSpec;
