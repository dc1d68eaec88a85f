#!/usr/bin/env bash
# Runs test binaries of this workspace on a pure cgroup v2 host: a throwaway
# QEMU guest booting Debian's kernel, whose root is this machine's own
# filesystem (9p, read-only, under a tmpfs overlay) and which mounts only
# cgroup2 at /sys/fs/cgroup, laid out as systemd would (controllers enabled
# from the root, the job in a service's leaf, a user@65534.service subtree
# delegated to uid 65534).
#
#   sudo env "PATH=$PATH" scripts/cgroup2-vm.sh [options] SPEC...
#
# SPEC is a test target of isolated-test-tests with optional libtest
# arguments after a colon: `dogfood`, `dogfood:limit`, `e2e:--skip foo
# --test-threads=1`; or `cli:ARGS` for the isolated-test command line
# (`cli:doctor`), or `sh:COMMAND` for a shell command. The jobs get
# ISOLATED_TEST_CASES_BIN and ISOLATED_TEST_CLI_BIN, and with `wrap` the
# fixture's ISOLATED_TEST_WRAP_FIXTURE_BIN and ISOLATED_TEST_WRAP_OUTPUT_BIN
# (the guest's uid 65534 has no cargo: skip the tests that call it, as
# scripts/test.sh does). The guest has no network: with `debian` the host
# builds the Debian root into the cache first. Each SPEC runs once per mode:
#   root       as root, in /system.slice/cgroup2-vm-job.service;
#   rootless   as uid 65534 in that root-owned cgroup (no delegation);
#   delegated  as uid 65534 in .../user@65534.service/app.slice/<scope>,
#              the subtree chowned to the user as systemd's user@.service
#              and `systemd-run --user --scope -p Delegate=yes` give.
# A SPEC written MODES@SPEC runs in those modes only (`root@privileged:--ignored`).
# Options:
#   --modes LIST     comma-separated modes (default root,rootless,delegated)
#   --timeout SECS   limit for the whole guest run (default 1800)
#   --accel kvm|tcg  default: kvm when the CPU shows vmx/svm, else tcg
#                    (nested PVM hosts, whose KVM fails on Debian's kernel)
#   --memory MIB     guest memory (default 4096)
#   --keep           keep the work directory (prints its path)
#
# Installs qemu-system-x86 and busybox-static when missing, downloads (not
# installs) the kernel package linux-image-amd64 depends on into a temp dir
# /tmp/isolated-test-vm-*, builds the tests on the host, boots, prints the
# guest's output, then one line per SPEC and mode, and exits non-zero when
# any failed, the guest did not report, or the timeout hit. Removes the temp
# dir and leaves no QEMU process.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() { printf 'cgroup2-vm: error: %s\n' "$*" >&2; exit 2; }
say() { printf '\n==> %s\n' "$*" >&2; }

modes="root,rootless,delegated"
timeout_secs=1800
accel=""
memory=4096
keep=0
specs=()
while [ $# -gt 0 ]; do
    case "$1" in
        --modes) modes="$2"; shift 2 ;;
        --timeout) timeout_secs="$2"; shift 2 ;;
        --accel) accel="$2"; shift 2 ;;
        --memory) memory="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $1" ;;
        *) specs+=("$1"); shift ;;
    esac
done
[ ${#specs[@]} -gt 0 ] || die "no SPEC given (try: $0 dogfood:limit cli:doctor)"
[ "$(id -u)" = 0 ] || die "run as root (the guest's root is this machine's filesystem, shared by QEMU)"
# MODES@SPEC: that SPEC in those modes only.
spec_modes=()
for i in "${!specs[@]}"; do
    if [[ "${specs[i]}" =~ ^([a-z,]+)@(.*)$ ]]; then
        spec_modes[i]="${BASH_REMATCH[1]}"
        specs[i]="${BASH_REMATCH[2]}"
    else
        spec_modes[i]="$modes"
    fi
    for m in ${spec_modes[i]//,/ }; do
        case "$m" in root|rootless|delegated) ;; *) die "unknown mode $m" ;; esac
    done
done
if [ -z "$accel" ]; then
    if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then accel=kvm; else accel=tcg; fi
fi

# --- tools --------------------------------------------------------------------
need=()
command -v qemu-system-x86_64 > /dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] && /bin/busybox --list | grep -qx modprobe || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" > /dev/null
fi

work="$(mktemp -d /tmp/isolated-test-vm-XXXXXX)"
chmod 755 "$work"
qemu_pid=""
cleanup() {
    # qemu_pid is timeout(1)'s: it passes TERM on to QEMU (a KILL would not).
    if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2> /dev/null; then
        kill -TERM "$qemu_pid" 2> /dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qemu_pid" 2> /dev/null || break; sleep 0.5; done
        pkill -KILL -P "$qemu_pid" 2> /dev/null || true
    fi
    if [ "$keep" = 1 ]; then echo "cgroup2-vm: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the kernel -----------------------------------------------------------------
say "fetching Debian's kernel into $work"
pkg="$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)"
[ -n "$pkg" ] || die "apt-cache names no kernel package for linux-image-amd64"
(cd "$work" && apt-get download -q "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
ls "$work"/linux-image-*.deb > /dev/null 2>&1 || die "apt-get download $pkg failed"
dpkg -x "$work"/linux-image-*.deb "$work/k"
kver="$(ls "$work/k/lib/modules")"
/bin/busybox depmod -b "$work/k" "$kver"
# The uncompressed ELF with its PVH note: QEMU enters it in protected mode,
# without the real-mode setup and decompressor of the bzImage.
python3 - "$work/k/boot/vmlinuz-$kver" "$work/vmlinux" << 'EOF'
import lzma, sys
data = open(sys.argv[1], "rb").read()
start = data.find(b"\xfd7zXZ\x00")
if start < 0:
    sys.exit("no xz payload in " + sys.argv[1])
out = lzma.LZMADecompressor().decompress(data[start:])
if out[:4] != b"\x7fELF":
    sys.exit("the payload is no ELF image")
open(sys.argv[2], "wb").write(out)
EOF

# --- the initramfs: busybox, the modules, an init that builds the root ----------
say "building the initramfs"
ird="$work/initrd"
mkdir -p "$ird/bin" "$ird/proc" "$ird/sys" "$ird/dev" "$ird/lower" "$ird/rw" "$ird/newroot" "$ird/lib/modules/$kver"
cp /bin/busybox "$ird/bin/busybox"
for a in sh mount umount mkdir modprobe switch_root reboot echo cat; do ln -s busybox "$ird/bin/$a"; done
modules="virtio_pci 9pnet_virtio 9p overlay veth bridge sch_netem sch_tbf loop ext4"
(
    cd "$work/k/lib/modules/$kver"
    for m in $modules; do
        line="$(grep -E "/$m\.ko(\.[a-z]+)?:" modules.dep)" || { echo "cgroup2-vm: no module $m" >&2; exit 1; }
        for f in ${line//:/}; do
            mkdir -p "$ird/lib/modules/$kver/$(dirname "$f")"
            cp "$f" "$ird/lib/modules/$kver/$f"
        done
    done
    cp modules.dep modules.alias modules.builtin modules.order "$ird/lib/modules/$kver/"
)
share="$work/share"
mkdir "$share"
cat > "$ird/init" << EOF
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $modules; do modprobe \$m || echo "cgroup2-vm guest: modprobe \$m failed"; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=524288,cache=loose hostroot /lower || exec reboot -f
mount -t tmpfs -o mode=755 tmpfs /rw
mkdir /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot || exec reboot -f
mkdir -p /newroot$share
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 share /newroot$share || exec reboot -f
umount /proc /sys /dev 2> /dev/null
exec switch_root /newroot /bin/bash $share/stage2.sh
EOF
chmod 755 "$ird/init"
(cd "$ird" && find . | /bin/busybox cpio -o -H newc 2> /dev/null | gzip -1 > "$work/initrd.cpio.gz")

# --- the tests, built on the host -------------------------------------------------
say "building the test binaries"
exe_of() { # cargo json on stdin, target name: its executable
    python3 -c '
import json, sys
for line in sys.stdin:
    try: v = json.loads(line)
    except ValueError: continue
    if v.get("reason") == "compiler-artifact" and v["target"]["name"] == sys.argv[1] and v.get("executable"):
        print(v["executable"]); break
' "$1"
}
targets=()
for s in "${specs[@]}"; do
    t="${s%%:*}"
    case "$t" in cli|sh) ;; *) targets+=(--test "$t") ;; esac
done
tests_json="$(cd "$repo" && cargo test -p isolated-test-tests --no-run --message-format=json --test cases "${targets[@]}")"
cli_json="$(cd "$repo" && cargo build -p isolated-test --features cli --bin isolated-test --message-format=json)"
cases_bin="$(exe_of cases <<< "$tests_json")"
cli_bin="$(exe_of isolated-test <<< "$cli_json")"
[ -n "$cases_bin" ] && [ -n "$cli_bin" ] || die "cargo reported no cases or isolated-test executable"
# The wrap suite's fixture binaries, prebuilt (the guest's users have no
# cargo), in the directory the suite would build them in itself.
wrap_fixture_bin=""
wrap_output_bin=""
for s in "${specs[@]}"; do
    [ "${s%%:*}" = wrap ] || continue
    fixture_args=(test --no-run --locked --manifest-path "$repo/tests/wrap-fixture/Cargo.toml"
        --target-dir "$(dirname "$(dirname "$(dirname "$cases_bin")")")/wrap-fixture" --message-format=json)
    wrap_fixture_bin="$(cd "$repo" && cargo "${fixture_args[@]}" | exe_of host_polluting)"
    wrap_output_bin="$(cd "$repo" && cargo "${fixture_args[@]}" --test libtest_output | exe_of libtest_output)"
    [ -n "$wrap_fixture_bin" ] && [ -n "$wrap_output_bin" ] || die "cargo reported no wrap fixture executables"
    break
done
# The debian suite's root: the guest has no network, so the host builds it
# (as the suite would, into the target directory's cache) before booting;
# the guest's root jobs find it there, the uid 65534 ones bound read-only
# in their cache, as scripts/test.sh copies it for its rootless pass.
for s in "${specs[@]}"; do
    [ "${s%%:*}" = debian ] || continue
    say "building (or finding) the Debian root in the cache"
    "$cli_bin" run --debootstrap bookworm -- true > /dev/null || die "the host could not build the Debian root"
    break
done
: > "$share/jobs"
for i in "${!specs[@]}"; do
    s="${specs[i]}"
    t="${s%%:*}"
    args=""
    [ "$s" = "$t" ] || args="${s#*:}"
    case "$t" in
        cli) bin="$cli_bin" ;;
        sh) bin=sh ;;
        *) bin="$(exe_of "$t" <<< "$tests_json")" ;;
    esac
    [ -n "$bin" ] || die "cargo reported no executable for $t"
    for m in ${spec_modes[i]//,/ }; do printf '%s\t%s\t%s\t%s\n' "$m" "$s" "$bin" "$args" >> "$share/jobs"; done
done

# --- the guest's second stage: host root, pure cgroup v2, the jobs ---------------
cat > "$share/stage2.sh" << EOF
#!/bin/bash
# PID 1 of the guest, on the overlay root. Reports to $share/results.
share=$share
repo=$repo
cases_bin=$cases_bin
cli_bin=$cli_bin
wrap_fixture_bin=$wrap_fixture_bin
wrap_output_bin=$wrap_output_bin
EOF
cat >> "$share/stage2.sh" << 'EOF'
set -u
export PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
finish() { sync; echo "CGROUP2-VM-DONE"; echo b > /proc/sysrq-trigger; sleep 10; }
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts /dev/pts
ln -sf pts/ptmx /dev/ptmx
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=755 tmpfs /run
# Only cgroup2, as systemd mounts it on a pure v2 host.
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup || { echo "no cgroup2"; finish; }
cg=/sys/fs/cgroup
echo "+memory +pids +cpu" > $cg/cgroup.subtree_control
mkdir $cg/init.scope && echo $$ > $cg/init.scope/cgroup.procs
mkdir -p $cg/system.slice/cgroup2-vm-job.service
echo "+memory +pids +cpu" > $cg/system.slice/cgroup.subtree_control
# What systemd's user@65534.service gives: the service's cgroup and what
# the user manager makes below it, owned by the user; controllers enabled
# down to it.
user_cg=$cg/user.slice/user-65534.slice/user@65534.service
mkdir -p $user_cg/app.slice/run-cgroup2-vm-job.scope
echo "+memory +pids +cpu" > $cg/user.slice/cgroup.subtree_control
echo "+memory +pids +cpu" > $cg/user.slice/user-65534.slice/cgroup.subtree_control
echo "+memory +pids +cpu" > $user_cg/cgroup.subtree_control
echo "+memory +pids +cpu" > $user_cg/app.slice/cgroup.subtree_control
chown -R 65534:65534 $user_cg
ip link set lo up
hostname cgroup2-vm
echo "65534:3000000:65536" >> /etc/subuid
echo "65534:3000000:65536" >> /etc/subgid
# The checkout on a tmpfs of its own, as on a real disk (an overlay over
# 9p under the sandbox's own overlay gives EIO on directory removal), and
# target/ bound back from the host. Owned by whoever runs the job. The
# tmpfs is mounted at the checkout's top-level directory: as root a
# sandbox overlays a top-level filesystem but binds deeper ones read-only
# (README, "What each test gets"), so a tmpfs at the checkout itself made
# the crate directory read-only in the sandbox.
mkdir -p /run/isolated-test-vm-repo
mount --bind $repo /run/isolated-test-vm-repo
top=/$(echo "$repo" | cut -d/ -f2)
# The share (under /tmp) steps aside while the tmpfs goes on, in case the
# checkout is under /tmp too (a clean clone there), and comes back on it.
mkdir -p /run/isolated-test-vm-share
mount --move "$share" /run/isolated-test-vm-share
mount -t tmpfs -o mode=755 tmpfs "$top"
[ "$top" != /tmp ] || chmod 1777 /tmp
mkdir -p "$repo" "$share"
mount --move /run/isolated-test-vm-share "$share"
(cd /run/isolated-test-vm-repo && git -c safe.directory='*' ls-files -z --cached --others --exclude-standard | tar --null -cf - -T -) | tar -xf - -C $repo
mkdir -p $repo/target
mount --bind /run/isolated-test-vm-repo/target $repo/target
mkdir -p /tmp/isolated-test-vm-home /tmp/isolated-test-vm-cache
chown 65534:65534 /tmp/isolated-test-vm-home /tmp/isolated-test-vm-cache
if [ -d $repo/target/isolated-test-cache/debootstrap ]; then
    mkdir /tmp/isolated-test-vm-cache/debootstrap
    mount --bind -o ro $repo/target/isolated-test-cache/debootstrap /tmp/isolated-test-vm-cache/debootstrap
fi
echo "cgroup2-vm guest: $(uname -r); /sys/fs/cgroup: $(stat -f -c %T /sys/fs/cgroup); controllers: $(cat $cg/cgroup.controllers)"
: > $share/results
while IFS=$'\t' read -r mode spec bin args; do
    echo
    echo "==> [$mode] $spec"
    start=$(date +%s)
    if [ $mode = root ]; then owner=0; else owner=65534; fi
    find $repo -xdev -exec chown -h $owner:$owner {} +
    (
        case $mode in
            root) leaf=$cg/system.slice/cgroup2-vm-job.service ;;
            rootless) leaf=$cg/system.slice/cgroup2-vm-job.service ;;
            delegated) leaf=$user_cg/app.slice/run-cgroup2-vm-job.scope ;;
        esac
        echo $BASHPID > $leaf/cgroup.procs
        cd $repo/tests
        env=(RUST_BACKTRACE=1 ISOLATED_TEST_CASES_BIN=$cases_bin ISOLATED_TEST_CLI_BIN=$cli_bin PATH=$PATH)
        [ -z "$wrap_fixture_bin" ] || env+=(ISOLATED_TEST_WRAP_FIXTURE_BIN=$wrap_fixture_bin ISOLATED_TEST_WRAP_OUTPUT_BIN=$wrap_output_bin)
        # shellcheck disable=SC2086 # args are libtest words
        if [ "$bin" = sh ]; then set -- bash -c "$args"; args=""; bin=""; else set --; fi
        if [ $mode = root ]; then
            exec env -i "${env[@]}" HOME=/root "$@" $bin $args
        else
            exec setpriv --reuid=65534 --regid=65534 --clear-groups -- env -i "${env[@]}" \
                HOME=/tmp/isolated-test-vm-home ISOLATED_TEST_CACHE_DIR=/tmp/isolated-test-vm-cache "$@" $bin $args
        fi
    ) < /dev/null 2>&1
    rc=$?
    printf '%s\t%s\t%s\t%s\n' "$mode" "$spec" "$rc" "$(( $(date +%s) - start ))" >> $share/results
    echo "CGROUP2-VM-RESULT [$mode] $spec: exit $rc"
done < $share/jobs
echo "complete" >> $share/results
finish
EOF

# --- boot -------------------------------------------------------------------------
if [ "$accel" = kvm ]; then accel_args=(-accel kvm -cpu host); else accel_args=(-accel tcg,thread=multi -cpu max); fi
say "booting ($accel, ${memory} MiB, 2 CPUs, timeout ${timeout_secs}s)"
start=$(date +%s)
set +e
timeout --kill-after=10 "$timeout_secs" qemu-system-x86_64 "${accel_args[@]}" -m "$memory" -smp 2 \
    -display none -monitor none -serial stdio -no-reboot \
    -kernel "$work/vmlinux" -initrd "$work/initrd.cpio.gz" \
    -append "console=ttyS0 panic=-1 quiet loglevel=3" \
    -virtfs "local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap" \
    -virtfs "local,path=$share,mount_tag=share,security_model=passthrough" \
    < /dev/null &
qemu_pid=$!
wait "$qemu_pid"
qemu_rc=$?
set -e
qemu_pid=""
elapsed=$(( $(date +%s) - start ))

# --- results ----------------------------------------------------------------------
say "results (guest ran ${elapsed}s)"
failed=0
if [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ]; then
    echo "TIMEOUT: the guest did not finish within ${timeout_secs}s"
    failed=1
fi
if [ -f "$share/results" ]; then
    while IFS=$'\t' read -r mode spec rc secs; do
        [ "$mode" = complete ] && continue
        if [ "$rc" = 0 ]; then echo "ok    [$mode] $spec (${secs}s)"; else echo "FAIL  [$mode] $spec: exit $rc (${secs}s)"; failed=1; fi
    done < "$share/results"
    grep -qx complete "$share/results" || { echo "INCOMPLETE: the guest stopped before the last job"; failed=1; }
else
    echo "NO RESULTS: the guest never reached its second stage"
    failed=1
fi
exit "$failed"
