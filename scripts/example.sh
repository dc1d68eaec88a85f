#!/usr/bin/env bash
# The main job, as README.md states it: `sudo env "PATH=$PATH" ./scripts/example.sh`
# (or directly as root, or as a user where unprivileged user namespaces are
# allowed).
#
# Runs tests/tests/example.rs, a suite of classic host-polluting tests
# (renaming the host, rewriting /etc/hosts, binding port 8080 twice at once,
# mounting over /tmp, flipping ip_forward, adding a bridge, leaving a daemon,
# a client retrying over a lossy link between two nodes of its own) and shows
# the host before and after: unchanged.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v cargo > /dev/null || { echo "error: cargo not found; install Rust from https://rustup.rs" >&2; exit 1; }
if ! command -v ip > /dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 > /dev/null
    else
        echo "error: the example uses \`ip\`; install iproute2 (sudo apt-get install iproute2)" >&2
        exit 1
    fi
fi

state() {
    printf 'hostname=%s  /etc/hosts md5=%s  ip_forward=%s  links=%s  netns=%s  mounts=%s  daemons(sleep 600)=%s\n' \
        "$(hostname)" "$(md5sum < /etc/hosts | cut -c1-8)" "$(cat /proc/sys/net/ipv4/ip_forward)" \
        "$(ls /sys/class/net | tr '\n' ' ' | sed 's/ $//')" "$(ls -A /run/netns 2> /dev/null | wc -l)" \
        "$(wc -l < /proc/self/mountinfo)" "$(pgrep -fc '^sleep 600$' || true)"
}

before="$(state)"
echo "host before: $before"
cargo test -p isolated-test-tests --test example -- --nocapture
# The lossy link needs the kernel's netem qdisc (sch_netem).
if unshare --net sh -c 'ip link set lo up && tc qdisc add dev lo root netem delay 1ms' 2> /dev/null ||
    unshare --user --map-root-user --net sh -c 'ip link set lo up && tc qdisc add dev lo root netem delay 1ms' 2> /dev/null; then
    cargo test -p isolated-test-tests --test example -- --nocapture --ignored client_retries_over_a_lossy_link
else
    echo "NOT RUN: client_retries_over_a_lossy_link needs the netem qdisc, which this kernel lacks (isolated-test doctor says why and how to get it)"
fi
after="$(state)"
echo "host after:  $after"
if [ "$before" = "$after" ]; then
    echo "host unchanged"
else
    echo "error: the host changed" >&2
    exit 1
fi
