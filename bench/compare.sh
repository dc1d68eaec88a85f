#!/usr/bin/env bash
# Before and after: the per-test time of `tests/bench/overhead.rs` (100
# empty #[isolated_test] tests), serial and at one thread per core, at a
# base revision and at the working tree, measured in alternation in the
# same time window, so that the machine's load falls on both alike. A report, not a test: it exits
# non-zero only when a build or a run fails. See bench/README.md.
#
# Usage: bench/compare.sh REV            (e.g. bench/compare.sh 55a66c4)
#        ROUNDS=15 bench/compare.sh REV  (rounds per side, default 9)
set -euo pipefail
shopt -s inherit_errexit

ROUNDS=${ROUNDS:-9}
CARGO=${CARGO:-cargo}
N=100

die() {
    echo "compare.sh: $*" >&2
    exit 1
}
[[ $# -eq 1 ]] || die "usage: bench/compare.sh REV (a commit to compare the working tree with)"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, got \`$ROUNDS\`"
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd -- "$ROOT"
base=$(git rev-parse --verify --quiet "$1^{commit}") || die "\`$1\` is not a commit of this repository"
command -v python3 >/dev/null || die "python3 is needed to read cargo's JSON output"
unset RUST_TEST_THREADS RUST_TEST_NOCAPTURE

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/isolated-test-compare-XXXXXX")
cleanup() {
    git -C "$ROOT" worktree remove --force "$WORK/base" 2>/dev/null || true
    rm -rf -- "$WORK"
}
trap cleanup EXIT

# build DIR TARGET_DIR: the release overhead binary of the tree at DIR.
build() {
    local json
    json=$(cd -- "$1" && CARGO_TARGET_DIR=$2 "$CARGO" test --release -p isolated-test-tests --test overhead \
        --no-run --message-format=json) || die "cargo build of the overhead target failed in $1"
    executable overhead <<<"$json"
}

echo "building the base ($(git log -1 --format='%h %s' "$base" | cut -c1-70))..." >&2
git worktree add --detach --quiet "$WORK/base" "$base"
before=$(build "$WORK/base" "$WORK/target")
# The base checkout's target directory goes with it; keep the binary.
cp -- "$before" "$WORK/before"
echo "building the working tree..." >&2
after=$(build "$ROOT" "${CARGO_TARGET_DIR:-$ROOT/target}")
cp -- "$after" "$WORK/after"

# run BIN [ARGS...]: one run of the isolated module (serial unless ARGS
# say otherwise); prints the wall time in ns per test.
run() {
    local start end status=0 bin=$1
    shift
    (($# > 0)) || set -- --test-threads=1
    start=$(date +%s%N)
    "$bin" isolated:: "$@" -q >"$WORK/log" 2>&1 || status=$?
    end=$(date +%s%N)
    if ((status != 0)) || ! grep -q "test result: ok\. $N passed" "$WORK/log"; then
        cat "$WORK/log" >&2
        die "a run of $bin failed (exit status $status, or not $N passed)"
    fi
    echo $(((end - start) / N))
}

echo "measuring: $ROUNDS rounds, before and after in turn, after one warm-up each..." >&2
run "$WORK/before" >/dev/null
run "$WORK/after" >/dev/null
# Each round: both builds serial, then both at libtest's default thread
# count (one per core), the order of the two sides alternating by round.
for ((r = 0; r < ROUNDS; r++)); do
    sides=(before after)
    ((r % 2 == 0)) || sides=(after before)
    for side in "${sides[@]}"; do echo "serial $side $(run "$WORK/$side")"; done
    for side in "${sides[@]}"; do echo "threads $side $(run "$WORK/$side" --test-threads="$(nproc)")"; done
done >"$WORK/samples"

python3 - "$WORK/samples" "$(git log -1 --format=%h "$base")" "$(nproc)" <<'EOF'
import statistics, sys
samples = {}
for line in open(sys.argv[1]):
    mode, side, ns = line.split()
    samples.setdefault(mode, {}).setdefault(side, []).append(int(ns) / 1e6)
titles = {"serial": "serial (--test-threads=1)", "threads": f"{sys.argv[3]} threads (wall time / 100)"}
for mode in ("serial", "threads"):
    got = samples[mode]
    b, a = (statistics.median(got[k]) for k in ("before", "after"))
    print(f"{titles[mode]}, per-test time, median of {len(got['after'])} alternating rounds of 100 tests")
    for side, label in (("before", f"before ({sys.argv[2]})"), ("after", "after (working tree)")):
        runs = " ".join(f"{x:.2f}" for x in got[side])
        print(f"  {label:<24} {statistics.median(got[side]):6.2f} ms/test   [{runs}]")
    print(f"  {'after / before':<24} {a / b:6.2f}")
serial = {k: statistics.median(v) for k, v in samples["serial"].items()}
threads = {k: statistics.median(v) for k, v in samples["threads"].items()}
for side in ("before", "after"):
    print(f"throughput at {sys.argv[3]} threads over serial, {side}: {serial[side] / threads[side]:.2f}x")
EOF
