#!/usr/bin/env bash
# What isolated_test::net costs: a node, a link, a switch port, made inside
# one sandbox (tests/bench/network.rs, built in release). A report, not a
# test: it prints figures and exits non-zero only when the run fails.
#
# Usage: bench/network.sh            (root or not)
#        ROUNDS=9 bench/network.sh   (median of 9 rounds instead of 5)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v cargo > /dev/null || { echo "network.sh: cargo not found" >&2; exit 1; }
export ROUNDS="${ROUNDS:-5}"
cargo test --release -q -p isolated-test-tests --test network-bench -- --nocapture --test-threads=1 2>&1 |
    grep -E '^(network creation|  |figure)' || { echo "network.sh: the benchmark failed" >&2; exit 1; }
echo "($(nproc) cores, $(uname -r), $(id -u) = uid)"
