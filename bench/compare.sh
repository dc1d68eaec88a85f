#!/usr/bin/env bash
# Before and after: the serial per-test time of `tests/bench/overhead.rs`
# (100 empty #[isolated_test] tests) at a base revision and at the working
# tree, measured in alternation in the same time window, so that the
# machine's load falls on both alike. A report, not a test: it exits
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

# run BIN: one serial run of the isolated module; prints ns per test.
run() {
    local start end status=0
    start=$(date +%s%N)
    "$1" isolated:: --test-threads=1 -q >"$WORK/log" 2>&1 || status=$?
    end=$(date +%s%N)
    if ((status != 0)) || ! grep -q "test result: ok\. $N passed" "$WORK/log"; then
        cat "$WORK/log" >&2
        die "a run of $1 failed (exit status $status, or not $N passed)"
    fi
    echo $(((end - start) / N))
}

echo "measuring: $ROUNDS rounds, before and after in turn, after one warm-up each..." >&2
run "$WORK/before" >/dev/null
run "$WORK/after" >/dev/null
for ((r = 0; r < ROUNDS; r++)); do
    echo "before $(run "$WORK/before")"
    echo "after $(run "$WORK/after")"
done >"$WORK/samples"

python3 - "$WORK/samples" "$(git log -1 --format=%h "$base")" <<'EOF'
import statistics, sys
samples = {"before": [], "after": []}
for line in open(sys.argv[1]):
    side, ns = line.split()
    samples[side].append(int(ns) / 1e6)
b, a = (statistics.median(samples[k]) for k in ("before", "after"))
print(f"serial per-test time, median of {len(samples['after'])} alternating rounds of 100 tests")
for side, label in (("before", f"before ({sys.argv[2]})"), ("after", "after (working tree)")):
    runs = " ".join(f"{x:.2f}" for x in samples[side])
    print(f"{label:<24} {statistics.median(samples[side]):6.2f} ms/test   [{runs}]")
print(f"{'after / before':<24} {a / b:6.2f}")
EOF
