//! Deliberately failing, aborting, hanging, ignored and polluting isolated
//! tests. Not part of `cargo test` (`test = false`): `tests/e2e.rs` builds
//! this binary and asserts each outcome from outside: exit status, the
//! failure message, and the state of the host afterwards.
//!
//! Every marker string here is unique so the driver can find it in output
//! or in the host's process table.

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use isolated_test::isolated_test;

#[isolated_test]
fn passes() {
    assert_eq!(std::process::id(), 2);
}

#[isolated_test]
fn panics() {
    println!("stdout before the panic 4b4b");
    eprintln!("stderr before the panic 5c5c");
    panic!("deliberate panic 7c1f");
}

#[isolated_test]
fn returns_err() -> std::io::Result<()> {
    Err(std::io::Error::other("deliberate error 9a2e"))
}

#[isolated_test]
fn aborts() {
    std::process::abort();
}

#[isolated_test]
fn exits_early() {
    std::process::exit(0);
}

/// Closes every descriptor above 2, as daemonising code does, then
/// passes: the harness's result channel went with them.
#[isolated_test]
#[allow(unsafe_code)]
fn passes_after_closing_its_descriptors() {
    // SAFETY: close_range(2) on descriptors no Rust value of this body owns.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
}

/// The same, then fails: its message must still reach the verdict.
#[isolated_test]
#[allow(unsafe_code)]
fn fails_after_closing_its_descriptors() {
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    panic!("failed without descriptors 3d5b");
}

/// Puts `/dev/null` on descriptors 3 to 63, then passes.
#[isolated_test]
#[allow(unsafe_code)]
fn passes_after_replacing_its_descriptors() {
    let null = std::fs::File::open("/dev/null").unwrap();
    for fd in 3..64 {
        // SAFETY: dup2 onto numbers no Rust value of this body owns but `null`, which stays open.
        unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), fd) };
    }
}

/// Ignores SIGUSR2 (the harness's request for the pollution report at the
/// deadline), then hangs past its deadline.
#[isolated_test(timeout = "1s")]
#[allow(unsafe_code)]
fn hangs_ignoring_sigusr2() {
    // SAFETY: signal(2) with SIG_IGN installs no handler code.
    unsafe { libc::signal(libc::SIGUSR2, libc::SIG_IGN) };
    std::fs::write("/etc/left-by-a-hung-test-4e1a", "x").unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

/// Makes inotify instances until the kernel refuses one, and says how
/// many it got: a sandbox may take only a share of its user's quota.
#[isolated_test]
#[allow(unsafe_code)]
fn counts_inotify_instances() {
    let mut made = 0;
    // SAFETY: inotify_init1 returns a new descriptor or -1; they are all
    // closed with the process.
    while unsafe { libc::inotify_init1(libc::IN_CLOEXEC) } >= 0 {
        made += 1;
    }
    let refused = std::io::Error::last_os_error();
    println!("inotify instances made: {made} :end ({refused})");
}

/// Run with `ISOLATED_TEST_INJECT_SETUP_FAULT=<step>`: the body must never
/// run.
#[isolated_test]
fn setup_fault() {
    println!("BODY RAN 3e8b");
}

#[isolated_test]
#[ignore = "run by e2e.rs with every spelling of --ignored"]
fn ignored_panics() {
    panic!("ignored test ran 51d0");
}

#[isolated_test]
#[should_panic(expected = "wanted panic")]
fn should_panic_but_aborts() {
    std::process::abort();
}

/// Passes where it runs; where it cannot, `ISOLATED_TEST_SKIP_UNSUPPORTED`
/// must count it as passed too, like `passes`.
#[isolated_test]
#[should_panic(expected = "the body panicked 61c4")]
fn should_panic_passes() {
    panic!("as expected: the body panicked 61c4");
}

/// Its body panics with another text than it expects: no pass, although
/// the harness's own words (`test`, `panicked`, `resources`, `memory`)
/// would contain the expected one.
#[isolated_test]
#[should_panic(expected = "memory")]
fn should_panic_with_another_text() {
    panic!("connection refused 8d1e");
}

/// A panic the body caught and handled, then another that ends it: the
/// verdict names the second (an `expected` matching the first must not
/// pass).
#[isolated_test]
#[should_panic(expected = "handled 2b7c")]
fn should_panic_after_a_handled_panic() {
    let _ = std::panic::catch_unwind(|| panic!("handled 2b7c, retried"));
    let index = std::hint::black_box(3);
    let empty: Vec<u32> = Vec::new();
    let _ = empty[index];
}

/// A panic resumed from a joined thread (no hook runs for the resume)
/// passes an `expected` that matches it, as on a plain `#[test]`.
#[isolated_test]
#[should_panic(expected = "bad config 6e0d")]
fn should_panic_resumed_from_a_thread() {
    let thread = std::thread::spawn(|| panic!("bad config 6e0d value"));
    std::panic::resume_unwind(thread.join().unwrap_err());
}

/// The body replaced the panic hook: its message still reaches the verdict.
#[isolated_test]
#[should_panic(expected = "silent hook 0c9a")]
fn should_panic_with_its_own_hook() {
    std::panic::set_hook(Box::new(|_| {}));
    panic!("under a silent hook 0c9a");
}

/// Its sandbox cannot start (a pattern that is no glob): that failure must
/// not count as the panic it expects, and the body never runs.
#[isolated_test(forbid_pollution = ["/tmp/a**"])]
#[should_panic]
fn should_panic_but_the_sandbox_cannot_start() {
    panic!("the body ran 5d2a");
}

/// Starts a child that ignores SIGTERM and a daemon in its own session,
/// then hangs past its deadline.
#[isolated_test(timeout = "1s")]
fn hangs_with_stubborn_children() {
    Command::new("sh").args(["-c", "trap '' TERM; exec sleep 1000.7001"]).spawn().unwrap();
    Command::new("sh").args(["-c", "setsid sleep 1000.7002 > /dev/null 2>&1 &"]).status().unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Prints READY once its stubborn child runs, then sleeps: the driver kills
/// the test process from outside at that point.
#[isolated_test(timeout = "120s")]
fn ready_then_sleep() {
    Command::new("sh").args(["-c", "trap '' TERM; exec sleep 1000.7003"]).spawn().unwrap();
    Command::new("sh").args(["-c", "setsid sleep 1000.7004 > /dev/null 2>&1 &"]).status().unwrap();
    println!("READY");
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(120));
}

fn sh(script: &str) {
    let status = Command::new("sh").args(["-c", script]).status().unwrap();
    assert!(status.success(), "`{script}` failed: {status}");
}

/// Changes everything a polluting test typically changes.
#[isolated_test]
fn pollutes_everything() {
    std::fs::write("/etc/isolated-test-e2e-pollution", "x").unwrap();
    // Rootless, root-owned host files cannot be modified even copy-on-write
    // (see the dogfood suite); as root these succeed. Either way the host
    // must not change.
    let _ = std::fs::write("/etc/hosts", "10.9.9.9 polluted\n");
    let _ = std::fs::create_dir_all("/usr/local/isolated-test-e2e-pollution");
    std::fs::write("/tmp/isolated-test-e2e-pollution", "x").unwrap();
    rustix::system::sethostname(b"polluted-host").unwrap();
    std::fs::create_dir_all("/tmp/isolated-test-e2e-mnt").unwrap();
    rustix::mount::mount("tmpfs", "/tmp/isolated-test-e2e-mnt", "tmpfs", rustix::mount::MountFlags::empty(), None)
        .unwrap();
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").unwrap();
    std::fs::write("/proc/sys/net/ipv4/ping_group_range", "0 0").unwrap();
    sh("ip addr add 10.200.0.1/32 dev lo && ip link set lo mtu 1400");
    sh("ip link add isotest0 type veth peer name isotest1");
    sh("setsid sleep 1000.7005 > /dev/null 2>&1 &");
}

/// Same as above with a different body, so several run at once.
#[isolated_test]
fn pollutes_in_parallel_a() {
    pollutes_everything_inner("a");
}

#[isolated_test]
fn pollutes_in_parallel_b() {
    pollutes_everything_inner("b");
}

fn pollutes_everything_inner(tag: &str) {
    std::fs::write(format!("/etc/isolated-test-e2e-{tag}"), tag).unwrap();
    rustix::system::sethostname(tag.as_bytes()).unwrap();
    sh("ip link add isotest0 type veth peer name isotest1 && ip addr add 10.201.0.1/24 dev isotest0");
    sh("setsid sleep 1000.7006 > /dev/null 2>&1 &");
}

/// Run as a non-root user by e2e.rs: refused before anything starts.
#[isolated_test(privileged = true)]
fn privileged_case() {
    assert_eq!(std::process::id(), 2);
}

// ------------------------------------------------------------ rootfs inputs

#[isolated_test(dir = "/nonexistent/isolated-test-image")]
fn rootfs_missing_dir() {
    println!("BODY RAN 3e8b");
}

#[isolated_test(dir = "/etc/passwd")]
fn rootfs_file_as_dir() {
    println!("BODY RAN 3e8b");
}

#[isolated_test(bind = ["/nonexistent/isolated-test-src:/srv/x"])]
fn rootfs_missing_bind_source() {
    println!("BODY RAN 3e8b");
}

#[isolated_test(rootfs = "host_ro", bind = ["/etc/hostname:/usr/isolated-test-new-dir/hostname"])]
fn rootfs_bind_into_read_only_base() {
    println!("BODY RAN 3e8b");
}

/// The directory e2e.rs prepares for the archive cases
/// (`ISOLATED_TEST_E2E_DIR`).
fn e2e_dir() -> std::path::PathBuf {
    std::env::var_os("ISOLATED_TEST_E2E_DIR").expect("run by e2e.rs, which sets ISOLATED_TEST_E2E_DIR").into()
}

fn corrupt_archive() -> isolated_test::Rootfs {
    isolated_test::Rootfs::tar(e2e_dir().join("corrupt.tar.gz"))
}

#[isolated_test(rootfs = corrupt_archive)]
fn rootfs_corrupt_archive() {
    println!("BODY RAN 3e8b");
}

fn truncated_archive() -> isolated_test::Rootfs {
    isolated_test::Rootfs::tar(e2e_dir().join("truncated.tar.gz"))
}

#[isolated_test(rootfs = truncated_archive)]
fn rootfs_truncated_archive() {
    println!("BODY RAN 3e8b");
}

fn shared_archive() -> isolated_test::Rootfs {
    isolated_test::Rootfs::tar(e2e_dir().join("image.tar.gz")).tmpfs("/scratch")
}

macro_rules! archive_stress {
    ($($name:ident)*) => {$(
        #[isolated_test(rootfs = shared_archive)]
        fn $name() {
            assert!(std::path::Path::new("/bin/busybox").is_file());
            std::fs::write("/etc/os-release", stringify!($name)).unwrap();
            std::fs::write("/scratch/f", "x").unwrap();
        }
    )*};
}

archive_stress!(archive_stress_0 archive_stress_1 archive_stress_2 archive_stress_3
                archive_stress_4 archive_stress_5 archive_stress_6 archive_stress_7);

/// Leaves a mount busy twice: a daemon sits in it, and a leaked file
/// handle points into another.
#[isolated_test(teardown = "verify")]
fn teardown_busy() {
    for dir in ["/tmp/isolated-test-busy-cwd", "/srv/isolated-test-busy-fd"] {
        std::fs::create_dir_all(dir).unwrap();
        rustix::mount::mount("tmpfs", dir, "tmpfs", rustix::mount::MountFlags::empty(), None).unwrap();
    }
    Command::new("sh")
        .args(["-c", "cd /tmp/isolated-test-busy-cwd && exec setsid sleep 1000.7007 > /dev/null 2>&1 &"])
        .status()
        .unwrap();
    let leaked = std::fs::File::create("/srv/isolated-test-busy-fd/held").unwrap();
    std::mem::forget(leaked);
    std::thread::sleep(Duration::from_millis(200));
}

// ----------------------------------------------- isolated-test pair inputs

/// Plain tests for `isolated-test pair`: A leaves a file, B trips on it.
/// They refuse to run anywhere but in a sandbox, where the file is
/// copy-on-write.
fn only_in_a_pair_sandbox() {
    assert_eq!(
        rustix::system::uname().nodename().to_str().unwrap(),
        isolated_test::DEFAULT_HOSTNAME,
        "this test pollutes /etc: run it only through `isolated-test pair`"
    );
}

#[test]
fn pair_a_leaves_a_marker() {
    only_in_a_pair_sandbox();
    std::fs::write("/etc/isolated-test-pair-marker", "left by A").unwrap();
}

#[test]
fn pair_b_trips_on_the_marker() {
    only_in_a_pair_sandbox();
    assert!(!std::path::Path::new("/etc/isolated-test-pair-marker").exists(), "found A's leftover marker");
}

/// A plain test whose output is no text: `isolated-test wrap` passes it on
/// as the bytes they are.
#[test]
fn prints_bytes_that_are_no_text() {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(b"before \xff\xfe 5e1a\n").unwrap();
    out.flush().unwrap();
}

/// A plain B that passes with or without A's marker.
#[test]
fn pair_b_does_not_care() {
    only_in_a_pair_sandbox();
    assert!(std::path::Path::new("/etc").is_dir());
}

/// An isolated A that leaves the same marker as `pair_a_leaves_a_marker`,
/// in its own sandbox: it never reaches B.
#[isolated_test]
fn pair_a_isolated_leaves_a_marker() {
    std::fs::write("/etc/isolated-test-pair-marker", "left by A").unwrap();
}

/// A plain test that ends its process with status 0 before libtest
/// reports it: no pass, under `wrap` or `pair`.
#[test]
fn plain_exits_zero_before_its_result() {
    println!("about to exit 0 2d9f");
    std::process::exit(0);
}

/// The same, after printing libtest's summary of a pass itself (straight
/// to standard output, past libtest's capture).
#[test]
fn plain_prints_a_pass_then_exits_zero() {
    let mut out = std::io::stdout().lock();
    out.write_all(
        b"\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\n",
    )
    .unwrap();
    out.flush().unwrap();
    std::process::exit(0);
}

/// A plain test that opens a pty's slave without `O_NOCTTY` and closes
/// the master, as pty tests do: a process that led a session without a
/// terminal would take the slave as its terminal and die of SIGHUP.
#[test]
#[allow(unsafe_code)]
fn pty_opened_and_closed_plainly() {
    use std::os::fd::AsRawFd;
    let master = std::fs::OpenOptions::new().read(true).write(true).open("/dev/ptmx").unwrap();
    let (mut unlock, mut number): (libc::c_int, libc::c_uint) = (0, 0);
    // SAFETY: two ioctls on the open master with pointers to live integers.
    unsafe {
        assert_eq!(libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &mut unlock), 0);
        assert_eq!(libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number), 0);
    }
    let slave = std::fs::OpenOptions::new().read(true).write(true).open(format!("/dev/pts/{number}")).unwrap();
    drop(master);
    drop(slave);
    println!("the pty came and went 7c3d");
}

/// A plain test that passes and prints a line first (under a one-thread
/// libtest, between its `test NAME ... ` and its `ok`).
#[test]
fn plain_prints_and_passes() {
    println!("printed by a passing plain test 1b6e");
}

/// Writes where an instrumented binary writes its coverage profile: the
/// directory `LLVM_PROFILE_FILE` names.
#[isolated_test]
fn writes_beside_its_profile() {
    let profile = std::path::PathBuf::from(std::env::var_os("LLVM_PROFILE_FILE").unwrap());
    std::fs::write(profile.with_file_name("written-in-the-sandbox"), profile.to_str().unwrap()).unwrap();
}

/// Makes the directory `ISOLATED_TEST_E2E_SCRATCH_DIR` names (in a scratch
/// directory), as `mount` makes `/run/mount`: no pollution where the host
/// has it.
#[isolated_test(forbid_pollution = true)]
fn makes_a_scratch_directory() {
    std::fs::create_dir(std::env::var("ISOLATED_TEST_E2E_SCRATCH_DIR").unwrap()).unwrap();
}

#[isolated_test(forbid_pollution = ["/etc/isolated-test-allowed*"])]
fn forbid_pollution_violated() {
    std::fs::write("/etc/isolated-test-allowed-ok", "x").unwrap();
    std::fs::write("/etc/isolated-test-forbidden", "x").unwrap();
    rustix::system::sethostname(b"forbidden").unwrap();
}

/// What a careless test leaves: a temporary directory (as nix's doc tests
/// leave `/tmp/tempdir_*`), a shared memory object and a file in `/run`.
/// All of it in fresh tmpfs, so the host never sees it; the report does.
#[isolated_test(forbid_pollution = true)]
fn leaves_scratch_files() {
    std::fs::create_dir("/tmp/isolated-test-e2e-tempdir_x").unwrap();
    std::fs::write("/tmp/isolated-test-e2e-tempdir_x/file", "x").unwrap();
    std::fs::write("/dev/shm/isolated-test-e2e-y", "y").unwrap();
    std::fs::write("/run/isolated-test-e2e-z", "z").unwrap();
}

/// Uses the scratch directories and cleans up after itself.
#[isolated_test(forbid_pollution = true)]
fn cleans_up_its_scratch_files() {
    for dir in ["/tmp", "/var/tmp", "/run", "/dev/shm"] {
        let path = format!("{dir}/isolated-test-e2e-temporary");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(format!("{path}/file"), "x").unwrap();
        std::fs::remove_dir_all(&path).unwrap();
    }
}

#[isolated_test(rootfs = "busybox")]
fn rootfs_busybox() {
    println!("BODY RAN 3e8b");
}

#[isolated_test(dir = "/proc/sys")]
fn rootfs_overlay_refused() {
    println!("BODY RAN 3e8b");
}

/// Pollutes, then hangs past its deadline: with a report asked for, the
/// report still comes (the harness asks for it before the kill).
#[isolated_test(timeout = "1s")]
fn hangs_after_polluting() {
    std::fs::write("/etc/isolated-test-before-the-hang", "x").unwrap();
    rustix::system::sethostname(b"hung-host").unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

// ------------------------------------------------------------ resource limits
// Asserted from outside by `e2e.rs`. Rootless on a host without a delegated
// cgroup v2 subtree, each of them fails before its body runs, naming the
// cause and the fix.

/// Touches memory until the OOM killer ends it.
#[isolated_test(memory = "64M")]
fn memory_hog() {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    for _ in 0..64 {
        hoard.push(vec![0x5a; 8 << 20]);
        println!("hoarding {} MiB 6d6d", hoard.len() * 8);
    }
    panic!("512 MiB fitted under a 64 MiB limit 6d6e");
}

/// Starts processes until the kernel refuses the next one: passes when the
/// refusal comes before the limit of 32 is exceeded.
#[isolated_test(pids = 32)]
fn fork_bomb() {
    let mut children = Vec::new();
    let refused = loop {
        match Command::new("sleep").arg("1000.7101").spawn() {
            Ok(child) => children.push(child),
            Err(e) => break e,
        }
        assert!(children.len() < 32, "32 processes started under `pids = 32`");
    };
    println!("fork refused after {} children: {refused} 7e7e", children.len());
    assert_eq!(refused.kind(), std::io::ErrorKind::WouldBlock, "{refused}");
}

/// Fills `/tmp`: the write fails with ENOSPC, which the test sees.
#[isolated_test(memory = "64M")]
fn tmpfs_fills_up() {
    let mut file = std::fs::File::create("/tmp/isolated-test-fill").unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut written = 0usize;
    let err = loop {
        match file.write_all(&chunk) {
            Ok(()) => written += 1,
            Err(e) => break e,
        }
        assert!(written < 64, "64 MiB written into /tmp under a 64 MiB limit");
    };
    println!("tmpfs full after {written} MiB: {err} 8f8f");
    assert_eq!(err.raw_os_error(), Some(libc_enospc()), "{err}");
    // What lies in the tmpfs is charged to the sandbox's memory.
    let peak = isolated_test::usage().peak_memory.expect("a sandbox with a memory limit has a cgroup");
    assert!(peak >= (written as u64) << 20, "peak memory {peak} after {written} MiB written to /tmp");
}

fn libc_enospc() -> i32 {
    28
}

/// Spins for a second of wall time under a fifth of a core, and reports
/// the CPU time it got (measured, not assumed from the wall clock).
#[isolated_test(cpu = "0.2")]
fn cpu_spinner() {
    let start = std::time::Instant::now();
    let mut x = 0u64;
    while start.elapsed() < Duration::from_secs(1) {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
    }
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    // utime and stime, fields 14 and 15, in clock ticks (100 a second).
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    println!("cpu time {} ms in 1 s of wall time ({x}) 9a9a", ticks * 10);
}

/// A network whose client cannot reach the server (the link between
/// them is down): the failure report must show each node's links, qdiscs,
/// addresses and routes.
#[isolated_test]
fn network_fails() {
    use isolated_test::net::{LinkSpec, Network};
    let net = Network::builder()
        .node("client")
        .node("router")
        .node("server")
        .link("client", "router", LinkSpec::new().rate(4_000_000).mtu(1400))
        .link("router", "server", LinkSpec::new().down())
        .switch("lan", &["client", "router"])
        .build()
        .unwrap();
    let ip = net.ip("server");
    let reached = net
        .node("client")
        .run(move || std::net::TcpStream::connect_timeout(&(ip, 80).into(), Duration::from_millis(200)));
    assert!(reached.is_ok(), "deliberate network failure 5e1d: client cannot reach {ip}");
}

/// The same network as `network_fails`, returning an error instead.
#[isolated_test]
fn network_returns_err() -> Result<(), isolated_test::net::NetError> {
    use isolated_test::net::{LinkSpec, Network};
    let net = Network::builder().node("a").node("b").link("a", "b", LinkSpec::new()).build()?;
    net.link("a", "b").set(LinkSpec::new().loss(250.0))?;
    Ok(())
}

/// Run with `ISOLATED_TEST_HOSTNAME` set: the sandbox of a test that sets
/// no hostname gets that one.
#[isolated_test]
fn hostname_from_the_environment() {
    let expected = std::env::var("ISOLATED_TEST_E2E_EXPECT_HOSTNAME").unwrap();
    assert_eq!(rustix::system::uname().nodename().to_str().unwrap(), expected);
}

/// Sets no `forbid_pollution`; run with `ISOLATED_TEST_FORBID_POLLUTION`.
#[isolated_test]
fn writes_one_file_in_etc() {
    std::fs::write("/etc/isolated-test-e2e-env-forbid", "x").unwrap();
}

/// An `#[isolated_test]` with options of its own, run by `isolated-test
/// wrap` (tests/tests/wrap.rs): it runs in a sandbox of its own making,
/// with its hostname, never nested in wrap's.
#[isolated_test(hostname = "own-sandbox-box")]
fn keeps_its_own_options() {
    assert_eq!(std::process::id(), 2);
    assert_eq!(rustix::system::uname().nodename().to_str().unwrap(), "own-sandbox-box");
}

/// Fails with what it was given, for tests/e2e.rs to compare a PID 2
/// forked by the zygote with an executed one: the names of its
/// environment variables (the harness's own carry per-run values), one
/// value, the working directory, its PID and parent, and its process
/// attributes (umask, ignored and blocked signals, capabilities,
/// no_new_privs, seccomp, CPUs).
#[isolated_test]
fn shows_what_it_was_given() {
    let mut names: Vec<String> = std::env::vars_os().map(|(k, _)| k.to_string_lossy().into_owned()).collect();
    names.sort();
    let mark = std::env::var("ISOLATED_TEST_E2E_MARK").unwrap_or_default();
    let cwd = std::env::current_dir().unwrap();
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    let wanted = [
        "Umask",
        "SigBlk",
        "SigIgn",
        "CapInh",
        "CapPrm",
        "CapEff",
        "CapBnd",
        "NoNewPrivs",
        "Seccomp",
        "Cpus_allowed_list",
    ];
    let attributes: Vec<&str> =
        status.lines().filter(|l| wanted.iter().any(|w| l.split(':').next() == Some(*w))).collect();
    // What of the host's /proc is masked or read-only: chosen from the
    // kernel's facts, which one of the test process's zygotes may have
    // read for it.
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let proc_mounts: Vec<String> = mountinfo
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            let (point, options) = (fields.get(4)?, fields.get(5)?);
            point.starts_with("/proc").then(|| format!("{point} {}", options.split(',').next().unwrap_or("")))
        })
        .collect();
    panic!(
        "given: pid={} ppid={} cwd={} mark={mark} vars={names:?} attributes={attributes:?} proc={proc_mounts:?} :end-given",
        std::process::id(),
        rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get()),
        cwd.display(),
    );
}

/// What the flooding cases write: 1 GiB, far past what the test process
/// keeps of a test's output (a few MiB) or of a line.
const FLOOD: usize = 1 << 30;

/// Writes [`FLOOD`] bytes of `~` on standard output without a newline, then
/// fails, so that libtest shows what it kept.
fn flood_stdout() {
    let chunk = vec![b'~'; 1 << 20];
    let mut out = std::io::stdout().lock();
    for _ in 0..FLOOD / chunk.len() {
        out.write_all(&chunk).unwrap();
    }
    out.flush().unwrap();
    panic!("flooded 1 GiB 2f6a");
}

/// [`flood_stdout`] in a sandbox: the test process passes on or keeps a
/// bounded part of it at a time, whatever the sandbox writes.
#[isolated_test(timeout = "120s")]
fn flood_stdout_without_a_newline() {
    flood_stdout();
}

/// [`FLOOD`] bytes of 1 KiB lines of `E` on standard error, then a failure.
#[isolated_test(timeout = "120s")]
fn flood_stderr_with_lines() {
    let mut line = vec![b'E'; 1023];
    line.push(b'\n');
    let chunk = line.repeat(1024);
    let mut err = std::io::stderr().lock();
    for _ in 0..FLOOD / chunk.len() {
        err.write_all(&chunk).unwrap();
    }
    panic!("flooded 1 GiB of lines 3a7b");
}

/// [`flood_stdout`] as a plain test, for `isolated-test wrap`. Ignored:
/// run alone, libtest itself would hold its gigabyte.
#[test]
#[ignore = "run by tests/e2e.rs under isolated-test wrap"]
fn flood_stdout_without_the_attribute() {
    flood_stdout();
}

/// Writes [`FLOOD`] bytes of `C` without a newline on descriptor 3, the
/// result channel of the harness, which the body did not open, and returns.
#[isolated_test(timeout = "60s")]
#[allow(unsafe_code)]
fn flood_the_result_channel() {
    use std::os::fd::FromRawFd;
    // SAFETY: descriptor 3 is open in PID 2 (the harness's channel); the
    // file is never dropped, so it is never closed.
    let mut channel = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(3) });
    let chunk = vec![b'C'; 1 << 20];
    for _ in 0..FLOOD / chunk.len() {
        channel.write_all(&chunk).unwrap();
    }
}

/// Run in order (`ahead::` with `--test-threads=1`) by tests/e2e.rs, which
/// sets `ISOLATED_TEST_E2E_AHEAD_DIR` (a host directory visible in the
/// sandbox): sandboxes made ahead of their tests serve the tests that ask
/// for the same sandbox, and every test still sees its own options, the
/// test process's environment and the host's files as they are when it
/// starts.
mod ahead {
    use isolated_test::isolated_test;

    fn dir() -> std::path::PathBuf {
        std::env::var_os("ISOLATED_TEST_E2E_AHEAD_DIR").expect("set by tests/e2e.rs").into()
    }

    fn hostname() -> String {
        rustix::system::uname().nodename().to_str().unwrap().to_owned()
    }

    macro_rules! plain_sandboxes {
        ($($name:ident)*) => {$(
            #[isolated_test]
            fn $name() {
                assert_eq!(std::process::id(), 2);
                assert_eq!(hostname(), "isolated-test");
                assert!(std::env::var_os("ISOLATED_TEST_E2E_AHEAD_MARK").is_none());
            }
        )*};
    }

    plain_sandboxes!(a1 a2 a3 a4 a5);

    /// On the host, in the test process, between two isolated tests.
    #[test]
    fn b1_host_file_appears() {
        std::fs::write(dir().join("appeared"), "b1 7d2a").unwrap();
    }

    #[isolated_test]
    fn b2_sees_the_host_file() {
        assert_eq!(std::fs::read_to_string(dir().join("appeared")).unwrap(), "b1 7d2a");
    }

    #[isolated_test(hostname = "ahead-other-9c1b")]
    fn c1_own_hostname() {
        assert_eq!(hostname(), "ahead-other-9c1b");
    }

    #[isolated_test]
    fn c2_default_hostname_again() {
        assert_eq!(hostname(), "isolated-test");
    }

    /// Changes the test process's environment between two isolated tests.
    #[test]
    #[allow(unsafe_code)]
    fn d1_environment_changes() {
        // SAFETY: run with --test-threads=1: no other thread reads the
        // environment meanwhile.
        unsafe { std::env::set_var("ISOLATED_TEST_E2E_AHEAD_MARK", "d1 5e0f") };
    }

    #[isolated_test]
    fn d2_sees_the_new_environment() {
        assert_eq!(std::env::var("ISOLATED_TEST_E2E_AHEAD_MARK").unwrap(), "d1 5e0f");
        assert_eq!(hostname(), "isolated-test");
    }

    #[isolated_test]
    fn d3_leaves_state() {
        std::fs::write("/etc/isolated-test-ahead-left", "d3").unwrap();
        std::fs::write("/tmp/isolated-test-ahead-left", "d3").unwrap();
        rustix::system::sethostname(b"ahead-left-d3").unwrap();
    }

    #[isolated_test]
    fn d4_finds_none_of_it() {
        assert!(!std::path::Path::new("/etc/isolated-test-ahead-left").exists());
        assert!(!std::path::Path::new("/tmp/isolated-test-ahead-left").exists());
        assert_eq!(hostname(), "isolated-test");
    }

    /// `pollution()`'s baseline, which a sandbox made ahead takes before
    /// its test is known, holds what the setup made and nothing of a test.
    #[isolated_test]
    fn d5_pollution_lists_only_its_own_changes() {
        assert!(isolated_test::pollution().is_clean(), "{:?}", isolated_test::pollution());
        std::fs::write("/etc/isolated-test-ahead-d5", "d5").unwrap();
        std::fs::write("/tmp/isolated-test-ahead-d5", "d5").unwrap();
        rustix::system::sethostname(b"ahead-d5").unwrap();
        let report = isolated_test::pollution();
        let paths = |changes: &[isolated_test::FileChange]| changes.iter().map(|c| c.path.clone()).collect::<Vec<_>>();
        assert_eq!(paths(&report.files), ["/etc/isolated-test-ahead-d5"], "{report:?}");
        assert_eq!(paths(&report.scratch), ["/tmp/isolated-test-ahead-d5"], "{report:?}");
        assert_eq!(report.hostname.as_ref().map(|h| h.after.as_str()), Some("ahead-d5"), "{report:?}");
        assert!(report.mounts_added.is_empty() && report.mounts_removed.is_empty(), "{report:?}");
        assert!(report.network.is_empty() && report.processes.is_empty(), "{report:?}");
    }
}
