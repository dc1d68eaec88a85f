//! `isolated_test::net` from inside a sandbox: nodes, links, switches,
//! names, link properties at build and at run time, and bad input.
//!
//! Delay, jitter and loss need the kernel's netem qdisc (`sch_netem`).
//! The tests that use it are `#[ignore]`d with that reason: the
//! `netem::` ones run where the kernel has it, `without_netem::` where it
//! has not; `scripts/test.sh` probes the kernel and runs the right group
//! (root and rootless), saying which.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use isolated_test::isolated_test;
use isolated_test::net::{LinkSpec, NetError, Network};
use rstest::rstest;

/// One TCP echo server in `server`, on `port`; serves `connections`
/// connections, echoing until each closes.
fn echo_server(net: &Network, server: &str, ip: IpAddr, port: u16, connections: usize) -> std::thread::JoinHandle<()> {
    let listener = net.node(server).run(move || TcpListener::bind((ip, port))).unwrap();
    std::thread::spawn(move || {
        for _ in 0..connections {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 64 * 1024];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if stream.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
        }
    })
}

/// Whether a UDP datagram from `from` reaches `to` within `wait`.
fn udp_reaches(net: &Network, from: &str, to: &str, port: u16, wait: Duration) -> bool {
    let ip = net.ip(to);
    let receiver = net.node(to).run(move || UdpSocket::bind((ip, port))).unwrap();
    receiver.set_read_timeout(Some(wait)).unwrap();
    let sender = net.node(from).run(|| UdpSocket::bind(("0.0.0.0", 0))).unwrap();
    // A few datagrams: the first may wait for ARP.
    for _ in 0..3 {
        let _ = sender.send_to(b"x", (ip, port));
    }
    let mut buf = [0u8; 8];
    receiver.recv_from(&mut buf).is_ok()
}

#[isolated_test]
fn three_nodes_on_a_switch_ping_each_other_by_name() {
    let net = Network::builder().node("a").node("b").node("c").switch("lan", &["a", "b", "c"]).build().unwrap();
    for from in ["a", "b", "c"] {
        for to in ["a", "b", "c"] {
            let out = net.node(from).command("ping").args(["-c", "1", "-W", "5", to]).output().unwrap();
            assert!(
                out.status.success(),
                "{from} -> {to}: {}{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                net.dump()
            );
        }
    }
    // The names resolve in the test itself too, to the nodes' addresses.
    let resolved: Vec<IpAddr> = std::net::ToSocketAddrs::to_socket_addrs(&("b", 0)).unwrap().map(|a| a.ip()).collect();
    assert!(resolved.contains(&net.ip("b")), "{resolved:?}");
    assert_eq!(net.node("b").ips(), ["10.0.1.2".parse::<IpAddr>().unwrap(), "fd77:0:0:1::2".parse().unwrap()]);
}

#[isolated_test]
fn a_chain_routes_through_its_middle_node_both_families() {
    let net = Network::builder()
        .node("a")
        .node("router")
        .node("c")
        .link("a", "router", LinkSpec::new())
        .link("router", "c", LinkSpec::new())
        .build()
        .unwrap();
    let echo = echo_server(&net, "c", net.ip("c"), 7000, 1);
    let ip = net.ip("c");
    let mut stream = net.node("a").run(move || TcpStream::connect((ip, 7000))).unwrap();
    stream.write_all(b"over two hops").unwrap();
    let mut buf = [0u8; 13];
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"over two hops");
    drop(stream);
    echo.join().unwrap();
    let v6 = net.node("c").ips().into_iter().find(IpAddr::is_ipv6).unwrap();
    let out = net.node("a").command("ping").args(["-6", "-c", "1", "-W", "5", &v6.to_string()]).output().unwrap();
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), net.dump());
}

/// The first packet across a router, right after `build()` (or `up()`):
/// the router sends its neighbour solicitation from its link-local
/// address, which the kernel does not use while duplicate address
/// detection holds it `tentative` (a second or two), and makes only once
/// its link-state work, which it may put off for up to a second, has
/// seen the carrier. That packet was lost (100% loss with `-W 2`, far
/// more than a round trip here takes).
#[rstest]
#[isolated_test::test]
fn the_first_ping_across_a_router_gets_through(
    #[values("links", "switch", "link cut and restored")] topology: &str,
    #[values("-6", "-4", "by name")] family: &str,
) {
    // a - b - c, b forwarding; over a switch, b and c share `lan`.
    let builder = Network::builder().node("a").node("b").node("c").link("a", "b", LinkSpec::new());
    let net = match topology {
        "switch" => builder.switch("lan", &["b", "c"]),
        _ => builder.link("b", "c", LinkSpec::new()),
    }
    .build()
    .unwrap();
    if topology == "link cut and restored" {
        // The kernel drops the link-local addresses of a link that goes
        // down and makes new ones when it comes up.
        net.link("c", "b").down().unwrap();
        net.link("c", "b").up().unwrap();
    }
    // Every address is usable at once: each node's links have their
    // link-local addresses, and nothing is tentative.
    for node in ["a", "b", "c"] {
        let ip = |args: &[&str]| {
            let out = net.node(node).command("ip").args(args).output().unwrap();
            assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        let addresses = ip(&["-6", "-o", "address", "show"]);
        assert!(!addresses.contains("tentative"), "{topology}: in node {node}:\n{addresses}");
        for line in ip(&["-o", "link", "show", "up"]).lines() {
            let name = line.split(": ").nth(1).unwrap().split('@').next().unwrap();
            let link_local = format!("{name}    inet6 fe80::");
            assert!(
                name == "lo" || addresses.lines().any(|l| l.contains(&link_local)),
                "{topology}: `{name}` in node {node} has no link-local address:\n{addresses}"
            );
        }
    }
    // By name, ping takes the IPv6 address first.
    let (flag, target) = match family {
        "-6" => ("-6", net.node("c").ips().into_iter().find(IpAddr::is_ipv6).unwrap().to_string()),
        "-4" => ("-4", net.ip("c").to_string()),
        _ => ("", "c".to_owned()),
    };
    let args = [flag, "-c", "1", "-W", "2", &target].into_iter().filter(|a| !a.is_empty());
    let out = net.node("a").command("ping").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{topology}: ping {family} {target}: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        net.dump()
    );
}

#[isolated_test]
fn ipv6_between_two_nodes() {
    let net =
        Network::builder().node("server").node("client").link("client", "server", LinkSpec::new()).build().unwrap();
    let v6 = net.node("server").ips().into_iter().find(IpAddr::is_ipv6).unwrap();
    assert_eq!(v6, "fd77:0:0:1::2".parse::<IpAddr>().unwrap());
    let echo = echo_server(&net, "server", v6, 7000, 1);
    let mut stream = net.node("client").run(move || TcpStream::connect((v6, 7000))).unwrap();
    assert!(stream.local_addr().unwrap().is_ipv6());
    stream.write_all(b"six").unwrap();
    let mut buf = [0u8; 3];
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"six");
    drop(stream);
    echo.join().unwrap();
}

#[isolated_test]
fn a_link_taken_down_passes_nothing_and_up_restores_it() {
    // A chain, so `up()` must also restore the route through the link,
    // which the kernel drops when the link goes down.
    let net = Network::builder()
        .node("a")
        .node("b")
        .node("c")
        .link("a", "b", LinkSpec::new())
        .link("b", "c", LinkSpec::new())
        .build()
        .unwrap();
    assert!(udp_reaches(&net, "a", "c", 9000, Duration::from_secs(5)), "{}", net.dump());
    net.link("b", "a").down().unwrap();
    assert!(net.link("a", "b").spec().is_down());
    assert!(!udp_reaches(&net, "a", "c", 9001, Duration::from_millis(300)), "a datagram crossed a down link");
    let ip = net.ip("b");
    let refused = net.node("a").run(move || TcpStream::connect_timeout(&(ip, 9).into(), Duration::from_millis(300)));
    assert!(refused.is_err());
    net.link("a", "b").up().unwrap();
    assert!(udp_reaches(&net, "a", "c", 9002, Duration::from_secs(5)), "{}", net.dump());
    // A link may also start down, and `set` brings it up.
    let net = Network::builder().node("x").node("y").link("x", "y", LinkSpec::new().down()).build().unwrap();
    assert!(!udp_reaches(&net, "x", "y", 9003, Duration::from_millis(300)));
    net.link("x", "y").set(LinkSpec::new()).unwrap();
    assert!(udp_reaches(&net, "x", "y", 9004, Duration::from_secs(5)), "{}", net.dump());
}

/// Bytes per second from `client` to `server` over a connection that
/// sends `bytes` and waits for the echo of the last one.
fn throughput(net: &Network, port: u16, bytes: usize) -> f64 {
    let ip = net.ip("server");
    let echo = echo_server(net, "server", ip, port, 1);
    let stream = net.node("client").run(move || TcpStream::connect((ip, port))).unwrap();
    let mut reader = stream.try_clone().unwrap();
    let drain = std::thread::spawn(move || {
        let mut got = 0;
        let mut buf = [0u8; 64 * 1024];
        while got < bytes {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        got
    });
    let start = Instant::now();
    let mut writer = stream;
    let chunk = vec![7u8; 64 * 1024];
    let mut sent = 0;
    while sent < bytes {
        let n = chunk.len().min(bytes - sent);
        writer.write_all(&chunk[..n]).unwrap();
        sent += n;
    }
    let got = drain.join().unwrap();
    let elapsed = start.elapsed();
    assert_eq!(got, bytes);
    drop(writer);
    echo.join().unwrap();
    bytes as f64 / elapsed.as_secs_f64()
}

#[isolated_test]
fn a_rate_limit_holds_roughly() {
    // 8 Mbit/s is 1 MB/s; 2 MB then take about 2 s. Only an upper bound on
    // the rate is checked (a slow machine cannot make it fail), with room
    // for the bucket's burst: the order of magnitude.
    let rate = 8_000_000;
    let net = Network::builder()
        .node("server")
        .node("client")
        .link("client", "server", LinkSpec::new().rate(rate))
        .build()
        .unwrap();
    let measured = throughput(&net, 7100, 2_000_000) * 8.0;
    assert!(measured < rate as f64 * 2.0, "{measured} bit/s through a {rate} bit/s link\n{}", net.dump());
    eprintln!("rate limit {rate} bit/s: measured {:.0} bit/s", measured);
    assert!(net.dump().contains("tbf 1: root rate 8Mbit"), "{}", net.dump());
    // Lifted at run time: the same transfer goes well past the limit.
    net.link("client", "server").set(LinkSpec::new()).unwrap();
    let free = throughput(&net, 7101, 2_000_000) * 8.0;
    eprintln!("without the limit: {:.0} bit/s", free);
    assert!(!net.dump().contains("tbf"), "{}", net.dump());
}

#[isolated_test]
fn mtu_applies_to_both_ends() {
    let net = Network::builder().node("a").node("b").link("a", "b", LinkSpec::new().mtu(1280)).build().unwrap();
    for node in ["a", "b"] {
        let other = if node == "a" { "b" } else { "a" };
        // /sys shows the sandbox's own namespace, not the node's: ask ip.
        let out = net.node(node).command("ip").args(["-o", "link", "show", other]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("mtu 1280"), "{node}: {text}");
    }
    // A datagram bigger than the MTU cannot leave unfragmented.
    let ip = net.ip("b");
    let sender = net.node("a").run(|| UdpSocket::bind(("0.0.0.0", 0))).unwrap();
    sender.connect((ip, 9)).unwrap();
    // IP_PMTUDISC_DO: refuse to fragment.
    rustix::net::sockopt::set_ip_mtu_discover(&sender, rustix::net::sockopt::Ipv4PathMtuDiscovery::DO).unwrap();
    let err = sender.send(&[0u8; 1400]).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EMSGSIZE), "{err}");
    sender.send(&[0u8; 1200]).unwrap();
}

#[isolated_test]
fn nothing_is_left_in_the_test_namespace_or_in_run_netns() {
    let links_before = std::fs::read_dir("/sys/class/net").unwrap().count();
    let hosts_before = std::fs::read_to_string("/etc/hosts").unwrap();
    let net = Network::builder()
        .node("a")
        .node("b")
        .node("c")
        .link("a", "b", LinkSpec::new().rate(1_000_000))
        .switch("lan", &["a", "b", "c"])
        .build()
        .unwrap();
    assert!(std::fs::read_to_string("/etc/hosts").unwrap().contains("10.0.1.1 a\n"));
    // Each node is its own namespace: its links are not the test's.
    let own = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
    let theirs = net.node("a").run(|| std::fs::read_link("/proc/thread-self/ns/net").unwrap());
    assert_ne!(own, theirs);
    assert_eq!(std::fs::read_dir("/sys/class/net").unwrap().count(), links_before);
    let listed = net.node("c").command("ip").args(["-o", "link"]).output().unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains(": lo:") && listed.contains(": lan@"), "{listed}");
    assert!(!std::path::Path::new("/run/netns").exists(), "a namespace was bound under /run/netns");
    drop(net);
    assert_eq!(std::fs::read_to_string("/etc/hosts").unwrap(), hosts_before, "the names outlived the network");
    assert!(!std::path::Path::new("/run/netns").exists());
    assert_eq!(std::fs::read_dir("/sys/class/net").unwrap().count(), links_before);
}

#[isolated_test]
fn bad_input_gets_errors_naming_the_problem() {
    let err = |b: isolated_test::net::Builder| b.build().unwrap_err().to_string();
    assert_eq!(err(Network::builder().node("a").link("a", "b", LinkSpec::new())), "no node named `b` (nodes: a)");
    assert_eq!(
        err(Network::builder().node("a").node("a")),
        "the name `a` is used twice (node and switch names must all differ)"
    );
    assert_eq!(
        err(Network::builder().node("a").node("b").link("a", "b", LinkSpec::new().loss(150.0))),
        "link a-b: loss 150 % is outside 0 to 100"
    );
    assert_eq!(
        err(Network::builder().node("a").link("a", "a", LinkSpec::new())),
        "a link from `a` to itself: a link joins two different nodes"
    );
    assert!(err(Network::builder().node("a").switch("s", &["a", "z"])).contains("no node named `z`"));
    assert!(err(Network::builder().node("a b")).contains("cannot name a node"));
    // Nothing was made by the failed builds.
    assert!(!std::fs::read_to_string("/etc/hosts").unwrap().contains("isolated-test network"));

    let net = Network::builder().node("a").node("b").link("a", "b", LinkSpec::new()).build().unwrap();
    assert_eq!(net.try_node("nope").unwrap_err().to_string(), "no node named `nope` (nodes: a, b)");
    assert!(matches!(net.try_link("a", "a"), Err(NetError::NoSuchLink { .. })));
    assert_eq!(
        net.link("a", "b").set(LinkSpec::new().loss(-1.0)).unwrap_err().to_string(),
        "link a-b: loss -1 % is outside 0 to 100"
    );
    let panic = std::panic::catch_unwind(|| net.node("ghost")).unwrap_err();
    assert_eq!(panic.downcast_ref::<String>().unwrap(), "no node named `ghost` (nodes: a, b)");
}

#[test]
fn outside_a_sandbox_build_refuses() {
    let err = Network::builder().node("a").build().unwrap_err();
    assert!(matches!(err, NetError::NotInSandbox), "{err}");
    assert!(err.to_string().contains("only inside an #[isolated_test] body"), "{err}");
}

#[isolated_test]
fn the_dump_shows_links_qdiscs_addresses_and_routes() {
    let net = Network::builder()
        .node("a")
        .node("b")
        .node("c")
        .link("a", "b", LinkSpec::new().rate(2_000_000).mtu(1400))
        .link("b", "c", LinkSpec::new())
        .build()
        .unwrap();
    net.link("b", "c").down().unwrap();
    let dump = net.dump();
    for needle in [
        "network state (3 nodes):",
        "  node a (link to b (rate 2Mbit mtu 1400)):",
        "    link lo: up <UP,LOWER_UP,RUNNING,LOOPBACK> mtu 65536",
        "    link b: up <UP,LOWER_UP,RUNNING,BROADCAST,MULTICAST> mtu 1400",
        "      qdisc tbf 1: root rate 2Mbit burst",
        "      addresses 10.0.1.1/24 fd77:0:0:1::1/64",
        "    route 10.0.1.0/24 dev b",
        "    link c: down <BROADCAST,MULTICAST> mtu 1500",
        "  node c (link to b (down)):",
    ] {
        assert!(dump.contains(needle), "missing `{needle}` in:\n{dump}");
    }
}

/// The tests that need the kernel's netem qdisc.
mod netem {
    use super::*;

    #[isolated_test]
    #[ignore = "needs the netem qdisc (sch_netem); scripts/test.sh runs it where the kernel has it"]
    fn tcp_echo_over_a_100ms_link_takes_at_least_the_round_trip() {
        let net = Network::builder()
            .node("server")
            .node("client")
            .link("client", "server", LinkSpec::new().delay(Duration::from_millis(100)))
            .build()
            .unwrap();
        let ip = net.ip("server");
        let echo = echo_server(&net, "server", ip, 7000, 1);
        let mut stream = net.node("client").run(move || TcpStream::connect((ip, 7000))).unwrap();
        stream.set_nodelay(true).unwrap();
        let start = Instant::now();
        stream.write_all(b"echo").unwrap();
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).unwrap();
        let round_trip = start.elapsed();
        assert_eq!(&buf, b"echo");
        // 100 ms each way.
        assert!(round_trip >= Duration::from_millis(200), "round trip {round_trip:?}\n{}", net.dump());
        eprintln!("round trip over a 100 ms link: {round_trip:?}");
        drop(stream);
        echo.join().unwrap();
        assert!(net.dump().contains("qdisc netem 1: root delay 100ms loss 0%"), "{}", net.dump());
    }

    #[isolated_test]
    #[ignore = "needs the netem qdisc (sch_netem); scripts/test.sh runs it where the kernel has it"]
    fn total_loss_passes_nothing_and_lifting_it_restores_traffic() {
        let net = Network::builder().node("a").node("b").link("a", "b", LinkSpec::new().loss(100.0)).build().unwrap();
        assert!(!udp_reaches(&net, "a", "b", 9000, Duration::from_millis(500)), "a datagram crossed 100% loss");
        let out = net.node("a").command("ping").args(["-c", "3", "-i", "0.2", "-W", "1", "b"]).output().unwrap();
        assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        assert!(String::from_utf8_lossy(&out.stdout).contains("100% packet loss"));
        net.link("a", "b").set(LinkSpec::new()).unwrap();
        assert!(udp_reaches(&net, "a", "b", 9001, Duration::from_secs(5)), "{}", net.dump());
        // Down and up again, with a delay and jitter this time.
        net.link("a", "b")
            .set(LinkSpec::new().delay(Duration::from_millis(20)).jitter(Duration::from_millis(5)))
            .unwrap();
        net.link("a", "b").down().unwrap();
        assert!(!udp_reaches(&net, "a", "b", 9002, Duration::from_millis(300)));
        net.link("a", "b").up().unwrap();
        assert!(udp_reaches(&net, "a", "b", 9003, Duration::from_secs(5)), "{}", net.dump());
        assert!(net.dump().contains("delay 20ms jitter 5ms"), "{}", net.dump());
    }

    #[isolated_test]
    #[ignore = "needs the netem qdisc (sch_netem); scripts/test.sh runs it where the kernel has it"]
    fn delay_and_rate_together() {
        let spec = LinkSpec::new().delay(Duration::from_millis(10)).rate(8_000_000);
        let net = Network::builder().node("server").node("client").link("client", "server", spec).build().unwrap();
        let dump = net.dump();
        assert!(
            dump.contains("qdisc netem 1: root delay 10ms") && dump.contains("qdisc tbf 2: parent 1:1 rate 8Mbit"),
            "{dump}"
        );
        let measured = throughput(&net, 7200, 1_000_000) * 8.0;
        assert!(measured < 16_000_000.0, "{measured} bit/s\n{dump}");
    }
}

/// Where the kernel has no netem qdisc.
mod without_netem {
    use super::*;

    #[isolated_test]
    #[ignore = "for kernels without the netem qdisc; scripts/test.sh runs it there"]
    fn a_delay_fails_build_naming_the_cause_and_the_fix() {
        let err = Network::builder()
            .node("server")
            .node("client")
            .link("client", "server", LinkSpec::new().delay(Duration::from_millis(100)))
            .build()
            .unwrap_err();
        assert!(matches!(err, NetError::Missing { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("failed to add the netem qdisc (delay 100ms) on `server` in node `client`: ENOENT"),
            "{text}"
        );
        assert!(text.contains("\ncause: ") && text.contains("netem qdisc"), "{text}");
        let fix = text.split("\nfix: ").nth(1).unwrap_or_default();
        assert!(
            fix.contains("sudo modprobe sch_netem") || fix.contains("a kernel built with CONFIG_NET_SCH_NETEM=m or =y"),
            "{text}"
        );
        // Nothing is left of the half-built network.
        assert!(!std::fs::read_to_string("/etc/hosts").unwrap().contains("isolated-test network"));
    }
}

#[isolated_test]
fn a_network_leaves_nothing_in_the_pollution_report() {
    let net = Network::builder()
        .node("a")
        .node("b")
        .link("a", "b", LinkSpec::new().rate(1_000_000))
        .switch("lan", &["a", "b"])
        .build()
        .unwrap();
    assert!(udp_reaches(&net, "a", "b", 9000, Duration::from_secs(5)));
    drop(net);
    let report = isolated_test::pollution();
    assert!(report.is_clean(), "{report}");
}

#[isolated_test]
fn the_pollution_report_reads_ipv6_routes_and_qdiscs_of_the_test_namespace() {
    let sh = |script: &str| {
        let out = std::process::Command::new("sh").args(["-c", script]).output().unwrap();
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    };
    sh("ip link add isotest0 type veth peer name isotest1 && ip link set isotest0 up && \
        ip -6 addr add fd99::1/64 dev isotest0 nodad && ip -6 route add fd98::/64 via fd99::2 dev isotest0 && \
        tc qdisc add dev isotest0 root tbf rate 1mbit burst 5k limit 10k");
    let network: Vec<String> = isolated_test::pollution().network.iter().map(ToString::to_string).collect();
    for needle in [
        "+ address fd99::1/64 dev isotest0",
        "+ route fd98::/64 via fd99::2 dev isotest0",
        "+ route fd99::/64 dev isotest0",
    ] {
        assert!(network.iter().any(|l| l == needle), "missing `{needle}` in {network:#?}");
    }
    // The kernel numbers the qdisc.
    let tbf = |l: &&String| {
        l.starts_with("+ qdisc tbf ") && l.ends_with(": root rate 1Mbit burst 5120b limit 10240b dev isotest0")
    };
    assert!(network.iter().any(|l| tbf(&l)), "{network:#?}");
    assert!(network.iter().any(|l| l.starts_with("+ link isotest0 <UP,") && l.contains(" kind veth ")), "{network:#?}");
}
