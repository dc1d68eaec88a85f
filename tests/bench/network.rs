//! Benchmark fixture for `isolated_test::net`: what a node, a link and a
//! switch port cost to make (and to take down), inside one sandbox.
//!
//! Not a test suite (`test = false`): `bench/network.sh` builds it in
//! release and runs it; it prints figures and asserts nothing about time.

use std::time::{Duration, Instant};

use isolated_test::net::{LinkSpec, Network};

/// Median of `rounds` runs of `f`, which returns how long its timed part took.
fn median(rounds: usize, mut f: impl FnMut() -> Duration) -> Duration {
    let mut samples: Vec<Duration> = (0..rounds).map(|_| f()).collect();
    samples.sort();
    samples[rounds / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

#[isolated_test::isolated_test(timeout = "300s")]
fn node_creation_cost() {
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(5);
    let nodes = 20;
    let names: Vec<String> = (0..nodes).map(|i| format!("n{i}")).collect();
    let build = |links: bool, switch: bool| {
        let mut builder = Network::builder();
        for name in &names {
            builder = builder.node(name);
        }
        if links {
            for pair in names.windows(2) {
                builder = builder.link(&pair[0], &pair[1], LinkSpec::new());
            }
        }
        if switch {
            let members: Vec<&str> = names.iter().map(String::as_str).collect();
            builder = builder.switch("lan", &members);
        }
        builder
    };
    let dropped = std::cell::Cell::new(Duration::ZERO);
    let time = |links: bool, switch: bool| {
        median(rounds, || {
            let builder = build(links, switch);
            let start = Instant::now();
            let net = builder.build().unwrap();
            let took = start.elapsed();
            let start = Instant::now();
            drop(net);
            dropped.set(start.elapsed());
            took
        })
    };
    let bare = time(false, false);
    let bare_drop = dropped.get();
    let chain = time(true, false);
    let lan = time(false, true);
    let per_node = bare / nodes as u32;
    let per_link = chain.saturating_sub(bare) / (nodes as u32 - 1);
    let per_port = lan.saturating_sub(bare) / nodes as u32;
    println!("network creation, {nodes} nodes, median of {rounds} rounds (ms):");
    println!("  {nodes} bare nodes (namespace, lo up, netlink socket): {:>8}  = {} per node", ms(bare), ms(per_node));
    println!(
        "  the same + a chain of {} links (veth, mtu, addresses, routes, forwarding): {:>8}  = {} per link",
        nodes - 1,
        ms(chain),
        ms(per_link)
    );
    println!("  the same + one switch with every node:           {:>8}  = {} per port", ms(lan), ms(per_port));
    println!("  dropping {nodes} bare nodes (dump for the failure report, /etc/hosts): {}", ms(bare_drop));
    println!("figure: {} ms per node", ms(per_node));
}
