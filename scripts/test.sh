#!/usr/bin/env bash
# The test suite, as README.md states it: run as root on a fresh Debian/Ubuntu
# machine (`sudo env "PATH=$PATH" ./scripts/test.sh`, or directly as root).
#
# 1. installs what the tests use (iproute2, iputils-ping, util-linux, uidmap,
#    busybox-static, bubblewrap, time, debootstrap);
# 2. runs the whole workspace suite as root (the first test that asks builds
#    the Debian root with debootstrap, about a minute, into the target
#    directory's cache; later runs reuse it);
# 3. runs the dogfood, end-to-end, escape, CLI and wrap suites again as a non-root user (uid
#    65534, given a subordinate id range for the run), so the rootless path
#    (root inside mapped to that user, ids 1.. to the range) is tested on
#    every run;
# 4. checks the host is as it was: mount table, hostname, links, sysctls,
#    /etc, leftover isolated-test-* temp entries and sandbox processes (zygotes
#    too), and
#    that no test write reached the checkout.
#
# Environment: SKIP_ROOTLESS=1 skips step 3 (printed loudly, for machines
# without unprivileged user namespaces); SKIP_INSTALL=1 skips step 1.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (sudo env \"PATH=\$PATH\" ./scripts/test.sh): the suite also runs as a temporary non-root user and checks host state"
command -v cargo > /dev/null || die "cargo not found in PATH (with sudo, try: sudo env PATH=\"\$PATH\" ./scripts/test.sh)"

if [ "${SKIP_INSTALL:-0}" != 1 ]; then
    say "installing test dependencies"
    need=()
    command -v ip > /dev/null || need+=(iproute2)
    # The network tests ping nodes by name (isolated_test::net's command()).
    command -v ping > /dev/null || need+=(iputils-ping)
    command -v setpriv > /dev/null || need+=(util-linux)
    command -v newuidmap > /dev/null || need+=(uidmap)
    command -v bwrap > /dev/null || need+=(bubblewrap)
    [ -x /usr/bin/time ] || need+=(time)
    command -v pgrep > /dev/null || need+=(procps)
    # privileged.rs makes an ext4 image and loop-mounts it.
    command -v mkfs.ext4 > /dev/null || need+=(e2fsprogs)
    command -v losetup > /dev/null || need+=(mount)
    # The busybox root needs a static busybox, which only busybox-static ships.
    dpkg-query -W -f='${Status}' busybox-static 2> /dev/null | grep -q 'ok installed' || need+=(busybox-static)
    # The Debian root of tests/tests/debian.rs and the CLI's tests (on
    # Ubuntu, Debian's archive keyring is a package of its own).
    [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
    [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)
    command -v python3 > /dev/null || need+=(python3)
    if [ "${#need[@]}" -gt 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${need[@]}" > /dev/null
    fi
fi

# --- host state -------------------------------------------------------------
snapshot() {
    # Mount ids (fields 1-2) are reassigned by unrelated remounts; the rest is state.
    awk '{ $1=""; $2=""; print }' /proc/self/mountinfo
    echo "hostname: $(hostname)"
    ip -o link show | sed 's/^[0-9]*: //'
    ip -o addr show
    ip route show
    ip -6 route show
    # Named network namespaces: isolated_test::net must never make one.
    ls -A /run/netns 2> /dev/null | sed 's/^/netns: /' || true
    for s in net/ipv4/ip_forward net/ipv4/ping_group_range kernel/domainname; do
        echo "$s = $(cat /proc/sys/$s)"
    done
    # -A: the entries, not `.` (whose mtime any create-and-delete moves).
    ls -lA --time-style=+%s /etc | md5sum | sed 's/^/etc listing: /'
    ls -A "${TMPDIR:-/tmp}" | grep '^isolated-test-' | sed 's/^/temp entry: /' || true
    # The device nodes the sandboxes bind in: mode, owner and times are the host's.
    # (/dev/tty's times move whenever a terminal is used through it.)
    stat -c 'device: %n %a %u:%g %y %z' /dev/null /dev/zero /dev/full /dev/random /dev/urandom
    stat -c 'device: %n %a %u:%g' /dev/tty
    # The sandboxes' cgroups (resource limits) must be gone too.
    find /sys/fs/cgroup -maxdepth 6 -type d -name 'isolated-test*' 2> /dev/null | sort | sed 's/^/cgroup: /' || true
}

sandbox_processes() {
    # PID 2 of every executed sandbox runs with the first arguments; every
    # executed zygote, and PID 1 and PID 2 of the sandboxes it cloned, with
    # the last; a zygote forked before `main` is named isolated-zygote (a
    # dead one not yet reaped by init is no leftover).
    pgrep -af -- '--include-ignored --test-threads=1|--isolated-test-zygote' | grep -v pgrep || true
    ps -eo pid=,stat=,comm=,args= | awk '$3 == "isolated-zygote" && $2 !~ /^Z/' || true
}

# The network tests that need the kernel's netem qdisc are #[ignore]d with
# that reason; this picks the group that fits this kernel (netem::, or
# without_netem:: which checks the error naming the cause and the fix).
# The probe makes a throw-away network namespace with a netem qdisc.
if unshare --net sh -c 'ip link set lo up && tc qdisc add dev lo root netem delay 1ms' 2> /dev/null; then
    netem_group=(netem:: --skip without_netem)
    netem_note="this kernel has the netem qdisc: running the netem:: network tests"
else
    netem_group=(without_netem::)
    netem_note="NOT RUNNING the netem:: network tests (delay, jitter, loss): this kernel has no netem qdisc (sch_netem); running without_netem:: instead, which checks the error that says so"
fi

before="$(snapshot)"
sandboxes_before="$(sandbox_processes)"
checkout_before="$(git status --porcelain --untracked-files=all)"

# --- root -------------------------------------------------------------------
say "test suite as root"
cargo test --workspace --locked
say "root-only and ignored tests (privileged = true, blocked user namespaces, doctor as another user, an ignored dogfood test, wrap under the real cargo-nextest)"
cargo test --locked -p isolated-test-tests --test privileged --test e2e --test dogfood --test debian --test wrap -- --ignored
cargo test --locked -p isolated-test --features cli --test cli -- --ignored
say "$netem_note"
cargo test --locked -p isolated-test-tests --test network -- --ignored "${netem_group[@]}"

# --- rootless ---------------------------------------------------------------
if [ "${SKIP_ROOTLESS:-0}" = 1 ]; then
    say "SKIPPING the rootless pass because SKIP_ROOTLESS=1 (nothing rootless was tested)"
else
    say "test suite as a non-root user (uid ${ISOLATED_TEST_CI_UID:-65534})"
    # An unprivileged uid with no account: creating a user would change /etc,
    # which the final check compares. 65534 (nobody) exists everywhere.
    uid="${ISOLATED_TEST_CI_UID:-65534}"
    work="$(mktemp -d "${TMPDIR:-/tmp}/isolated-test-rootless-XXXXXX")"
    # Subordinate ids for the user, so the rootless pass covers the wider
    # map (newuidmap/newgidmap: chown to other ids inside). Restored exactly,
    # modification time included, by cleanup.
    for f in /etc/subuid /etc/subgid; do
        if [ -e "$f" ]; then cp -p "$f" "$work/$(basename "$f").orig"; fi
        echo "$uid:3000000:65536" >> "$f"
    done
    cleanup() {
        for f in /etc/subuid /etc/subgid; do
            if [ -e "$work/$(basename "$f").orig" ]; then cp -p "$work/$(basename "$f").orig" "$f"; else rm -f "$f"; fi
        done
        rm -rf "$work"
    }
    trap cleanup EXIT
    chmod 755 "$work"
    # A copy the user can read (the checkout may live under /root), built by
    # root (the user has no toolchain), run by the user.
    mkdir "$work/src"
    git ls-files -z --cached --others --exclude-standard | tar --null -cf - -T - | tar -xf - -C "$work/src"
    chown -R "$uid:$uid" "$work/src"
    build_json="$(cd "$work/src" && cargo test --workspace --locked --no-run --target-dir "$work/target" \
        --message-format=json 2> "$work/build.log")" || { cat "$work/build.log"; die "building the rootless copy failed"; }
    cases_json="$(cd "$work/src" && cargo test -p isolated-test-tests --locked --no-run --test cases \
        --target-dir "$work/target" --message-format=json 2>> "$work/build.log")" || { cat "$work/build.log"; die "building the cases failed"; }
    cli_json="$(cd "$work/src" && cargo build -p isolated-test --features cli --bin isolated-test --locked \
        --target-dir "$work/target" --message-format=json 2>> "$work/build.log")" || { cat "$work/build.log"; die "building the CLI failed"; }
    # The plain, host-polluting suite `isolated-test wrap` runs (a workspace of its own).
    fixture_json="$(cd "$work/src" && cargo test --no-run --locked --manifest-path tests/wrap-fixture/Cargo.toml \
        --target-dir "$work/target/wrap-fixture" --message-format=json 2>> "$work/build.log")" || { cat "$work/build.log"; die "building the wrap fixture failed"; }
    # Its plain tests that change nothing (built only when named).
    output_json="$(cd "$work/src" && cargo test --no-run --locked --manifest-path tests/wrap-fixture/Cargo.toml \
        --test libtest_output --target-dir "$work/target/wrap-fixture" --message-format=json 2>> "$work/build.log")" || { cat "$work/build.log"; die "building the wrap fixture's libtest_output failed"; }
    exe() {
        printf '%s\n' "$1" | python3 -c '
import json, sys
name = sys.argv[1]
for line in sys.stdin:
    try: v = json.loads(line)
    except ValueError: continue
    if v.get("reason") == "compiler-artifact" and v["target"]["name"] == name and v.get("executable"):
        print(v["executable"]); break
' "$2"
    }
    dogfood="$(exe "$build_json" dogfood)"
    rootfs="$(exe "$build_json" rootfs)"
    e2e="$(exe "$build_json" e2e)"
    escape="$(exe "$build_json" escape)"
    escape_host="$(exe "$build_json" escape_host)"
    network="$(exe "$build_json" network)"
    cli_tests="$(exe "$build_json" cli)"
    debian="$(exe "$build_json" debian)"
    wrap_tests="$(exe "$build_json" wrap)"
    wrap_fixture="$(exe "$fixture_json" host_polluting)"
    wrap_output="$(exe "$output_json" libtest_output)"
    cases="$(exe "$cases_json" cases)"
    cli="$(exe "$cli_json" isolated-test)"
    [ -n "$dogfood" ] && [ -n "$rootfs" ] && [ -n "$e2e" ] && [ -n "$escape" ] && [ -n "$escape_host" ] && [ -n "$network" ] && [ -n "$cli_tests" ] && [ -n "$debian" ] && [ -n "$wrap_tests" ] && [ -n "$wrap_fixture" ] && [ -n "$wrap_output" ] && [ -n "$cases" ] && [ -n "$cli" ] || die "could not find the rootless test binaries"
    # Images and unpacked archives go to a cache the user can write.
    mkdir "$work/cache"
    chown "$uid:$uid" "$work/cache"
    # Building a Debian root needs root: the one the root pass built serves
    # this pass too, copied as it is (owned by root, used read-only as an
    # image layer), so a run builds it once.
    root_cache="$(cargo metadata --format-version 1 --no-deps --locked \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/isolated-test-cache"
    mkdir "$work/cache/debootstrap"
    for entry in "$root_cache"/debootstrap/*/; do
        if [ -f "$entry/image.json" ]; then cp -a --reflink=auto "$entry" "$work/cache/debootstrap/"; fi
    done
    as_user() {
        (cd "$work/src/tests" && setpriv --reuid="$uid" --regid="$uid" --clear-groups -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
            HOME="$work" RUST_BACKTRACE=1 ISOLATED_TEST_CASES_BIN="$cases" ISOLATED_TEST_CLI_BIN="$cli" \
            ISOLATED_TEST_WRAP_FIXTURE_BIN="$wrap_fixture" ISOLATED_TEST_WRAP_OUTPUT_BIN="$wrap_output" ISOLATED_TEST_CACHE_DIR="$work/cache" "$@")
    }
    as_user "$dogfood"
    as_user "$dogfood" --ignored
    as_user "$rootfs"
    as_user "$escape"
    as_user "$escape_host"
    # A Debian root, read-only (installing packages is #[ignore]d: root only).
    as_user "$debian"
    as_user "$network"
    echo "rootless: $netem_note"
    as_user "$network" --ignored "${netem_group[@]}"
    as_user "$cli" doctor
    # run's pty (window size included), stdin and scratch report, rootless
    # (the root-only cases are #[ignore]d).
    as_user "$cli_tests"
    # Skipped here on purpose and run in the root pass: the nextest case
    # needs cargo, which this user does not have. (Root-only tests are
    # #[ignore]d and not run here either.)
    echo "rootless e2e: skipping ignored_tests_really_run_under_nextest (needs cargo; run in the root pass)"
    as_user "$e2e" --test-threads=1 --skip ignored_tests_really_run_under_nextest
    # isolated-test wrap over the plain suite, as nextest and as cargo's
    # runner call it; skipped here: `cargo test` with the runner (this user
    # has no cargo; run in the root pass).
    echo "rootless wrap: skipping cargo_test_with_wrap_as_the_target_runner (needs cargo; run in the root pass)"
    as_user "$wrap_tests" --test-threads=1 --skip cargo_test_with_wrap_as_the_target_runner
    cleanup
    trap - EXIT
fi

# --- host unchanged -----------------------------------------------------------
say "checking the host is as it was"
after="$(snapshot)"
if [ "$before" != "$after" ]; then
    diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") || true
    die "the host changed during the test suite (diff above)"
fi
sandboxes_after="$(sandbox_processes)"
if [ "$sandboxes_before" != "$sandboxes_after" ]; then
    printf '%s\n' "$sandboxes_after"
    die "sandbox processes left running"
fi
checkout_after="$(git status --porcelain --untracked-files=all)"
if [ "$checkout_before" != "$checkout_after" ]; then
    diff <(printf '%s\n' "$checkout_before") <(printf '%s\n' "$checkout_after") || true
    die "a test wrote into the checkout"
fi
echo "host unchanged: mount table, hostname, links, addresses, routes, /run/netns, sysctls, /etc, device nodes, temp entries, cgroups, processes, checkout"
