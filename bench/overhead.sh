#!/usr/bin/env bash
# Per-test overhead of #[isolated_test] against plain tests, bubblewrap and
# bare `unshare`, and of `isolated-test wrap` running the plain tests against
# the attribute. A report, not a test: exits 0 whether the target is met or
# not, non-zero only when a run itself fails (a failing isolated test is a
# bug, not a figure). See bench/README.md.
#
# Usage: bench/overhead.sh            (from any directory, root or not)
#        ROUNDS=9 bench/overhead.sh   (median of 9 rounds instead of 5)
#        SCALE_ROUNDS=5 bench/overhead.sh (5 runs of the 1000 sandboxes, not 3)
set -euo pipefail
shopt -s inherit_errexit

ROUNDS=${ROUNDS:-5}
SCALE_ROUNDS=${SCALE_ROUNDS:-3} # runs of the 1000 sandboxes at each thread count
CARGO=${CARGO:-cargo}
N=100 # tests per module in tests/bench/overhead.rs

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd -- "$ROOT"

die() {
    echo "overhead.sh: $*" >&2
    exit 1
}
note() { echo "note: $*" >&2; }

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer, got \`$ROUNDS\`"
[[ $SCALE_ROUNDS =~ ^[1-9][0-9]*$ ]] || die "SCALE_ROUNDS must be a positive integer, got \`$SCALE_ROUNDS\`"
# libtest reads these; the figures assume its defaults.
unset RUST_TEST_THREADS RUST_TEST_NOCAPTURE

is_root() { [[ $(id -u) -eq 0 ]]; }
apt_updated=
apt_install() {
    if [[ -z $apt_updated ]]; then
        apt-get update -qq >&2
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# --- tools -------------------------------------------------------------------
if ! command -v bwrap >/dev/null; then
    if is_root && command -v apt-get >/dev/null; then
        note "installing bubblewrap"
        apt_install bubblewrap
    else
        die "bwrap not found; install bubblewrap (\`sudo apt-get install -y bubblewrap\`) and rerun"
    fi
fi
TIME=
if [[ -x /usr/bin/time ]]; then
    TIME=/usr/bin/time
elif is_root && command -v apt-get >/dev/null; then
    note "installing time (for the peak RSS figure)"
    apt_install time && TIME=/usr/bin/time
fi
command -v python3 >/dev/null || die "python3 is needed to read cargo's JSON output"
command -v "$CARGO" >/dev/null ||
    die "cargo not found (under sudo, try \`sudo env PATH=\"\$PATH\" bench/overhead.sh\`)"

# --- build -------------------------------------------------------------------
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

echo "building the overhead target (release)..." >&2
json=$("$CARGO" test --release -p isolated-test-tests --test overhead --no-run \
    --message-format=json) || die "cargo build of the overhead target failed"
BIN=$(executable overhead <<<"$json") || die "could not find the overhead executable"
[[ -x $BIN ]] || die "\`$BIN\` is not executable"

echo "building the isolated-test command line (release)..." >&2
json=$("$CARGO" build --release -p isolated-test --features cli --bin isolated-test --message-format=json) ||
    die "cargo build of the isolated-test command line failed"
CLI=$(executable isolated-test <<<"$json") || die "could not find the isolated-test executable"

# --- measuring ---------------------------------------------------------------
OUT=$(mktemp -d "${TMPDIR:-/tmp}/isolated-test-bench-XXXXXX")
trap 'rm -rf -- "$OUT"' EXIT

# run_suite LABEL ARGS...: one run of BIN over a whole module, under the
# command in the array WRAP if one is set (empty: BIN itself); checks the exit
# status and that libtest ran all N tests. Sets ELAPSED_NS.
WRAP=()
run_suite() {
    local label=$1 start end status=0
    shift
    start=$(date +%s%N)
    "${WRAP[@]}" "$BIN" "$@" >"$OUT/log" 2>&1 || status=$?
    end=$(date +%s%N)
    if ((status != 0)) || ! grep -q "test result: ok\. $N passed" "$OUT/log"; then
        cat "$OUT/log" >&2
        die "$label run failed (exit status $status, or not $N passed): ${WRAP[*]} $BIN $*"
    fi
    ELAPSED_NS=$((end - start))
}

# run_wrap LABEL ARGS...: run_suite under `isolated-test wrap` (as cargo's
# target runner calls it).
run_wrap() {
    local -a WRAP=("$CLI" wrap)
    run_suite "$@"
}

# run_no_zygote LABEL ARGS...: run_suite with the zygote turned off: every
# sandbox's PID 2 executes the test binary again (the plain path).
run_no_zygote() {
    local -a WRAP=(env ISOLATED_TEST_ZYGOTE=0)
    run_suite "$@"
}

# run_no_ahead LABEL ARGS...: run_suite without sandboxes made ahead: each
# sandbox is built when its test starts.
run_no_ahead() {
    local -a WRAP=(env ISOLATED_TEST_AHEAD=0)
    run_suite "$@"
}

# busy_cores ARGS...: one run of BIN ARGS; prints how many cores were busy
# on average meanwhile (from /proc/stat: the whole machine, so every
# process a sandbox starts and the kernel's work for it are counted) and
# the CPU time per test in ms.
busy_cores() {
    local before after start end
    before=$(head -n1 /proc/stat)
    start=$(date +%s%N)
    "$BIN" "$@" >"$OUT/log" 2>&1 || die "busy-cores run failed: $BIN $*"
    end=$(date +%s%N)
    after=$(head -n1 /proc/stat)
    awk -v b="$before" -v a="$after" -v ns="$((end - start))" -v n="$N" -v hz="$(getconf CLK_TCK)" 'BEGIN {
        split(b, x); split(a, y)
        busy = (y[2] + y[3] + y[4] + y[7] + y[8] + y[9]) - (x[2] + x[3] + x[4] + x[7] + x[8] + x[9])
        printf "%.2f %.2f\n", busy / hz / (ns / 1e9), busy / hz * 1e3 / n
    }'
}

# each_test FIRST STEP LOG PREFIX...: the tests FIRST, FIRST + STEP, ... of
# the module MODULE (default plain), one process each, run under PREFIX
# (empty for none), their output appended to LOG; stops at the first that
# fails, naming it in LOG, and returns its exit status. NEXTEST=1 takes the
# argument order nextest uses (`--exact NAME --nocapture`, which is what
# makes `isolated-test wrap` run one test).
each_test() {
    local first=$1 step=$2 log=$3 i name status
    shift 3
    local -a tail=(-q)
    [[ ${NEXTEST:-0} == 1 ]] && tail=(--nocapture)
    for ((i = first; i < N; i += step)); do
        printf -v name '%s::t%03d' "${MODULE:-plain}" "$i"
        status=0
        "$@" "$BIN" --exact "$name" "${tail[@]}" >>"$log" 2>&1 || status=$?
        if ((status != 0)); then
            echo "failed on $name (exit status $status): $* $BIN --exact $name ${tail[*]}" >>"$log"
            return "$status"
        fi
    done
}

# check_each LABEL STATUS: dies unless STATUS is 0 and $OUT/log holds N
# runs of one passed test.
check_each() {
    local ran
    if (($2 != 0)); then
        cat "$OUT/log" >&2
        die "$1 run failed (see the last line above)"
    fi
    ran=$(grep -c "test result: ok\. 1 passed" "$OUT/log" || true)
    ((ran == N)) || {
        cat "$OUT/log" >&2
        die "$1: expected $N runs with 1 test passed, got $ran"
    }
}

# run_each LABEL PREFIX...: N processes, one per test, one after another,
# each run under PREFIX (see each_test). Sets ELAPSED_NS.
run_each() {
    local label=$1 start end status=0
    shift
    : >"$OUT/log"
    start=$(date +%s%N)
    each_test 0 1 "$OUT/log" "$@" || status=$?
    end=$(date +%s%N)
    check_each "$label" "$status"
    ELAPSED_NS=$((end - start))
}

# run_each_two LABEL PREFIX...: the same N processes, two at a time: two
# loops side by side, each over every other test, as two test threads
# would run them. Sets ELAPSED_NS (wall time of both).
run_each_two() {
    local label=$1 start end status=0 pid
    shift
    : >"$OUT/log"
    : >"$OUT/log.odd"
    start=$(date +%s%N)
    each_test 0 2 "$OUT/log" "$@" &
    pid=$!
    each_test 1 2 "$OUT/log.odd" "$@" || status=$?
    wait "$pid" || status=$?
    end=$(date +%s%N)
    cat "$OUT/log.odd" >>"$OUT/log"
    check_each "$label, two at a time" "$status"
    ELAPSED_NS=$((end - start))
}

# median_ms_per_test KIND LABEL ARGS...: one untimed warm-up, then ROUNDS
# timed rounds; prints the median in milliseconds per test.
median_ms_per_test() {
    local kind=$1 r
    shift
    local -a samples=()
    "$kind" "$@"
    for ((r = 0; r < ROUNDS; r++)); do
        "$kind" "$@"
        samples+=("$ELAPSED_NS")
    done
    median_ms "${samples[@]}"
}

# median_ms NS...: the median of the samples, in milliseconds per test.
median_ms() {
    printf '%s\n' "$@" | sort -n |
        awk -v n="$N" '{ a[NR] = $1 }
            END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
                  printf "%.2f\n", m / n / 1e6 }'
}

# alternate KIND_A KIND_B LABEL ARGS...: as median_ms_per_test for both
# kinds, their rounds in turn, so that a machine whose load changes during
# the run weighs on both alike; prints "MEDIAN_A MEDIAN_B".
alternate() {
    local a=$1 b=$2 r
    shift 2
    local -a sa=() sb=()
    "$a" "$@"
    "$b" "$@"
    for ((r = 0; r < ROUNDS; r++)); do
        "$a" "$@"
        sa+=("$ELAPSED_NS")
        "$b" "$@"
        sb+=("$ELAPSED_NS")
    done
    echo "$(median_ms "${sa[@]}") $(median_ms "${sb[@]}")"
}

# run_isolated_each LABEL / run_isolated_each_no_zygote LABEL: one process
# per isolated test (as nextest runs them), with and without the zygote.
run_isolated_each() { MODULE=isolated run_each "$1"; }
run_isolated_each_no_zygote() { MODULE=isolated run_each "$1" env ISOLATED_TEST_ZYGOTE=0; }

# The issue's command line, plus the binary bound back in: a checkout under
# /tmp would otherwise be hidden by the fresh /tmp (the harness keeps the
# test binary's directory visible the same way).
BWRAP=(bwrap --unshare-all --die-with-parent --ro-bind / / --proc /proc --dev /dev --tmpfs /tmp
    --ro-bind "$BIN" "$BIN")
UNSHARE=(unshare --user --map-root-user --pid --fork --mount --uts --ipc --net)
if ! "${UNSHARE[@]}" true 2>/dev/null; then
    if is_root; then
        note "unshare --user --map-root-user failed; measuring the floor without a user namespace"
        UNSHARE=(unshare --pid --fork --mount --uts --ipc --net)
    else
        die "\`${UNSHARE[*]} true\` failed: unprivileged user namespaces are blocked here (run as root)"
    fi
fi

echo "measuring, median of $ROUNDS rounds (+1 warm-up) of $N tests each..." >&2
plain=$(median_ms_per_test run_suite plain plain:: --test-threads=1 -q)
# The isolated suite with the zygote (the default) and without, in turn.
pair=$(alternate run_suite run_no_zygote "isolated serial" isolated:: --test-threads=1 -q)
read -r iso iso_nz <<<"$pair"
pair=$(alternate run_suite run_no_zygote "isolated parallel" isolated:: -q)
read -r iso_par iso_par_nz <<<"$pair"
# With and without sandboxes made ahead, in turn.
pair=$(alternate run_suite run_no_ahead "isolated serial" isolated:: --test-threads=1 -q)
read -r iso_a iso_na <<<"$pair"
pair=$(alternate run_suite run_no_ahead "isolated parallel" isolated:: -q)
read -r iso_par_a iso_par_na <<<"$pair"
read -r busy_serial cpu_serial < <(busy_cores isolated:: --test-threads=1 -q)
read -r busy_par cpu_par < <(busy_cores isolated:: -q)
# One process per test, and the bare namespaces, one at a time and two at
# a time in turn: how far two cores go for work that is only process
# starts, or only process starts and namespaces, with no harness at all.
pair=$(alternate run_each run_each_two "process per test")
read -r proc proc_two <<<"$pair"
bw=$(median_ms_per_test run_each bwrap "${BWRAP[@]}")
pair=$(alternate run_each run_each_two unshare "${UNSHARE[@]}")
read -r floor floor_two <<<"$pair"
# The plain tests under `isolated-test wrap`, against the same tests with the
# attribute: as cargo's runner calls it (one wrap per binary), and as nextest
# calls it (one wrap per test, against one test binary process per
# attribute test, as nextest runs those).
wrap=$(median_ms_per_test run_wrap "wrap serial" plain:: --test-threads=1 -q)
wrap_par=$(median_ms_per_test run_wrap "wrap parallel" plain:: -q)
pair=$(alternate run_isolated_each run_isolated_each_no_zygote "isolated, process per test")
read -r iso_proc iso_proc_nz <<<"$pair"
wrap_proc=$(NEXTEST=1 median_ms_per_test run_each "wrap, process per test" "$CLI" wrap)

# scale_run THREADS: the 1000 sandboxes of `scale::` in one run; prints
# "FIRST LAST RSS": ms per test over the first and the last hundred results
# (libtest prints each as it completes) and the run's peak RSS in KiB.
scale_run() {
    local threads=$1
    python3 - "$BIN" "$threads" "${TIME:-}" <<'PY' || die "the scale run at $threads threads failed (see above)"
import subprocess, sys, time
binary, threads, timer = sys.argv[1], sys.argv[2], sys.argv[3]
argv = [binary, "scale::", f"--test-threads={threads}"]
rss_file = None
if timer:
    import tempfile
    rss_file = tempfile.NamedTemporaryFile(prefix="isolated-test-bench-rss-", delete=False).name
    argv = [timer, "-f", "%M", "-o", rss_file] + argv
proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
stamps, log = [], []
for line in proc.stdout:
    log.append(line)
    if line.startswith("test scale::") and line.rstrip().endswith(" ok"):
        stamps.append(time.monotonic())
code = proc.wait()
rss = "skipped"
if rss_file:
    import os
    with open(rss_file) as f:
        rss = f.read().strip().splitlines()[-1] if code == 0 else "?"
    os.unlink(rss_file)
if code != 0 or len(stamps) != 1000:
    sys.stderr.write("".join(log[-40:]))
    sys.exit(f"scale run: exit status {code}, {len(stamps)} of 1000 tests passed")
first = (stamps[100] - stamps[0]) / 100 * 1e3
last = (stamps[999] - stamps[899]) / 100 * 1e3
print(f"{first:.2f} {last:.2f} {rss}")
PY
}

rss="skipped"
if [[ -n $TIME ]]; then
    status=0
    "$TIME" -f %M -o "$OUT/rss" "$BIN" isolated:: --test-threads=1 -q >"$OUT/log" 2>&1 || status=$?
    if ((status != 0)) || ! grep -q "test result: ok\. $N passed" "$OUT/log"; then
        cat "$OUT/log" >&2
        die "isolated serial run under $TIME failed (exit status $status)"
    fi
    rss="$(tail -n1 "$OUT/rss") KiB"
else
    note "/usr/bin/time not found (install the \`time\` package); peak RSS skipped"
fi

# --- report ------------------------------------------------------------------
ratio=$(awk -v a="$iso" -v b="$bw" 'BEGIN { printf "%.2f", a / b }')
ratio_par=$(awk -v a="$iso_par" -v b="$bw" 'BEGIN { printf "%.2f", a / b }')
over=$(awk -v a="$iso" -v b="$plain" 'BEGIN { printf "%.2f", a - b }')
met=$(awk -v r="$ratio" 'BEGIN { print (r <= 1.0) ? "met" : "NOT met" }')
speed_met=$(awk -v r="$ratio" 'BEGIN { print (r <= 0.6) ? "met" : "NOT met" }')
gain=$(awk -v a="$iso" -v b="$iso_par" 'BEGIN { printf "%.2f", a / b }')
gain_met=$(awk -v g="$gain" 'BEGIN { print (g >= 1.8) ? "met" : "NOT met" }')
floor_gain=$(awk -v a="$floor" -v b="$floor_two" 'BEGIN { printf "%.2f", a / b }')
proc_gain=$(awk -v a="$proc" -v b="$proc_two" 'BEGIN { printf "%.2f", a / b }')
per() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo
echo "isolated-test overhead: $N trivial tests, median of $ROUNDS rounds, $(nproc) cores, $(uname -r)"
printf '%-46s %10s\n' "figure" "ms/test"
printf '%-46s %10s\n' "plain, one process (--test-threads=1)" "$plain"
printf '%-46s %10s\n' "plain, one process per test" "$proc"
printf '%-46s %10s\n' "isolated, serial (--test-threads=1)" "$iso"
printf '%-46s %10s\n' "isolated, default threads (wall / $N)" "$iso_par"
printf '%-46s %10s\n' "isolated, serial, no zygote" "$iso_nz"
printf '%-46s %10s\n' "isolated, default threads, no zygote" "$iso_par_nz"
printf '%-46s %10s\n' "isolated, serial, none made ahead" "$iso_na"
printf '%-46s %10s\n' "isolated, default threads, none made ahead" "$iso_par_na"
printf '%-46s %10s\n' "bwrap, one process per test" "$bw"
printf '%-46s %10s\n' "bare unshare floor, one process per test" "$floor"
printf '%-46s %10s\n' "plain, one process per test, two at a time" "$proc_two"
printf '%-46s %10s\n' "bare unshare floor, two at a time" "$floor_two"
printf '%-46s %10s\n' "wrap (cargo runner), serial" "$wrap"
printf '%-46s %10s\n' "wrap (cargo runner), default threads" "$wrap_par"
printf '%-46s %10s\n' "isolated, one process per test (nextest)" "$iso_proc"
printf '%-46s %10s\n' "isolated, one process per test, no zygote" "$iso_proc_nz"
printf '%-46s %10s\n' "wrap, one call per test (nextest wrapper)" "$wrap_proc"
echo
printf '%-46s %10s\n' "isolated overhead over plain (iso - plain)" "$over ms"
printf '%-46s %10s\n' "isolated/bwrap, serial (the target)" "$ratio"
printf '%-46s %10s\n' "isolated/bwrap, default threads" "$ratio_par"
printf '%-46s %10s\n' "isolated/bwrap, process per test (nextest)" "$(per "$iso_proc" "$bw")"
printf '%-46s %10s\n' "default threads over serial (throughput)" "${gain}x"
printf '%-46s %10s\n' "two at a time over one, plain process per test" "${proc_gain}x"
printf '%-46s %10s\n' "two at a time over one, bare unshare floor" "${floor_gain}x"
printf '%-46s %10s\n' "zygote/no zygote, serial" "$(per "$iso" "$iso_nz")"
printf '%-46s %10s\n' "zygote/no zygote, default threads" "$(per "$iso_par" "$iso_par_nz")"
printf '%-46s %10s\n' "zygote/no zygote, process per test" "$(per "$iso_proc" "$iso_proc_nz")"
printf '%-46s %10s\n' "ahead/none ahead, serial" "$(per "$iso_a" "$iso_na")"
printf '%-46s %10s\n' "ahead/none ahead, default threads" "$(per "$iso_par_a" "$iso_par_na")"
printf '%-46s %10s\n' "cores busy, serial / default threads" "$busy_serial / $busy_par"
printf '%-46s %10s\n' "CPU ms per test, serial / default threads" "$cpu_serial / $cpu_par"
printf '%-46s %10s\n' "wrap/isolated, serial" "$(awk -v a="$wrap" -v b="$iso" 'BEGIN { printf "%.2f", a / b }')"
printf '%-46s %10s\n' "wrap/isolated, default threads" "$(awk -v a="$wrap_par" -v b="$iso_par" 'BEGIN { printf "%.2f", a / b }')"
printf '%-46s %10s\n' "wrap/isolated, process per test (nextest)" "$(awk -v a="$wrap_proc" -v b="$iso_proc" 'BEGIN { printf "%.2f", a / b }')"
printf '%-46s %10s\n' "peak RSS of the serial isolated run" "$rss"
echo
echo "target (isolated/bwrap <= 1.0): $met"
echo "[speed] targets: isolated/bwrap <= 0.6: $speed_met; throughput at $(nproc) threads >= 1.8x serial: $gain_met (${gain}x; the bare unshare floor's own: ${floor_gain}x)"

# A thousand sandboxes in one run, at 2 and 4 threads: whether the per-test
# time holds (no backlog of dying namespaces, cgroups or mounts) and what
# the run holds in memory.
echo >&2
echo "measuring 1000 sandboxes in one run at 2 and 4 threads..." >&2
echo
# One run's hundred-test windows move by a fifth either way on a shared
# machine (a stall of the host lands in one of them), so each thread
# count runs SCALE_ROUNDS times: every round is printed, and the median
# ratio is the figure.
echo "1000 sandboxes in one run (scale::, $SCALE_ROUNDS rounds at each thread count)"
printf '%-14s %16s %16s %8s %18s\n' "threads" "first 100 ms/test" "last 100 ms/test" "last/first" "peak RSS of the run"
for threads in 2 4; do
    ratios=()
    for ((round = 1; round <= SCALE_ROUNDS; round++)); do
        read -r first last peak < <(scale_run "$threads")
        ratio=$(awk -v a="$last" -v b="$first" 'BEGIN { printf "%.2f", a / b }')
        ratios+=("$ratio")
        printf '%-14s %16s %16s %8s %18s\n' "$threads" "$first" "$last" "$ratio" "$peak KiB"
    done
    printf '%-14s %16s %16s %8s\n' "$threads" "" "median" \
        "$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ r[NR] = $1 } END { print r[int((NR + 1) / 2)] }')"
done
# The memory of each sandbox, from its cgroup (ISOLATED_TEST_REPORT=1
# prints what each used): one more run of the thousand at 2 threads, not
# timed (taking the reports costs time of its own).
echo >&2
echo "measuring the memory of each of 1000 sandboxes..." >&2
python3 - "$BIN" <<'PY' || die "the memory run of the 1000 sandboxes failed (see above)"
import os, re, statistics, subprocess, sys
env = dict(os.environ, ISOLATED_TEST_REPORT="1")
proc = subprocess.run([sys.argv[1], "scale::", "--test-threads=2"], env=env, capture_output=True, text=True)
units = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
peaks = [float(v) * units[u] for v, u in re.findall(r"^resources: peak memory ([0-9.]+) (B|KiB|MiB|GiB)", proc.stderr, re.M)]
if proc.returncode != 0 or len(peaks) != 1000:
    sys.stderr.write(proc.stderr[-4000:])
    sys.exit(f"memory run: exit status {proc.returncode}, {len(peaks)} of 1000 sandboxes reported their peak memory")
kib = lambda b: f"{b / 1024:.0f} KiB"
print()
print("peak memory of each sandbox (its cgroup: PID 1, PID 2, the kernel memory charged to it), 1000 in one run, 2 threads")
print(f"{'':14} {'median':>12} {'max':>12}")
for label, part in (("first 100", peaks[:100]), ("last 100", peaks[-100:]), ("all 1000", peaks)):
    print(f"{label:14} {kib(statistics.median(part)):>12} {kib(max(part)):>12}")
PY
left=$(find /sys/fs/cgroup -maxdepth 6 -type d -name 'isolated-test-*' 2>/dev/null | wc -l)
echo "sandbox cgroups left afterwards: $left"
