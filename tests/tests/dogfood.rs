//! The dogfood suite: every isolation property of `#[isolated_test]`,
//! proven from inside a sandbox with the attribute itself.
//!
//! What the host sees afterwards (files, hostname, mounts, links) is checked
//! from outside in `e2e.rs`.

use std::collections::BTreeSet;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use isolated_test::isolated_test;
use rstest::{fixture, rstest};

/// PIDs visible in `/proc`.
fn visible_pids() -> BTreeSet<u32> {
    fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect()
}

fn mountinfo() -> String {
    fs::read_to_string("/proc/self/mountinfo").unwrap()
}

/// The mount entry whose mount point is exactly `path`.
fn mount_at(path: &str) -> Option<String> {
    mountinfo().lines().find(|l| l.split(' ').nth(4) == Some(path)).map(str::to_owned)
}

/// The mountinfo line of the mount that holds `path`: the last one (the
/// topmost) whose mount point is `path` or one of its parents.
fn mount_holding(path: &str) -> String {
    let holds = |point: &str| point == "/" || path == point || path.starts_with(&format!("{point}/"));
    let info = mountinfo();
    info.lines()
        .filter(|l| l.split(' ').nth(4).is_some_and(holds))
        .max_by_key(|l| l.split(' ').nth(4).map_or(0, str::len))
        .unwrap()
        .to_owned()
}

/// Whether the sandbox runs rootless: root inside maps to one unprivileged
/// host user, instead of the identity map the harness uses as root.
fn rootless() -> bool {
    let map = fs::read_to_string("/proc/self/uid_map").unwrap();
    map.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"]
}

/// Rootless, files owned by host users other than the caller belong to no
/// id of the sandbox's user namespace; the kernel then grants root inside
/// no override on them, so even a copy-on-write write is refused (EACCES).
/// (New entries directly in an overlaid top-level directory such as `/etc`
/// are allowed: the overlay's root takes its owner from the upper layer.)
/// This checks the documented behaviour of each mode.
fn write_host_file(path: &str, content: &str) -> bool {
    match fs::write(path, content) {
        Ok(()) => {
            assert!(!rootless(), "rootless sandboxes cannot write {path}, yet the write succeeded");
            true
        }
        Err(e) => {
            assert!(rootless(), "writing {path} as root must work copy-on-write: {e}");
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{path}: {e}");
            false
        }
    }
}

fn errno_of(result: std::io::Result<()>) -> Option<i32> {
    result.err().and_then(|e| e.raw_os_error())
}

// ---------------------------------------------------------------- processes

#[isolated_test]
fn body_runs_as_pid_2_under_a_reaper() {
    assert_eq!(std::process::id(), 2);
    assert_eq!(rustix::process::getppid().map(|p| p.as_raw_nonzero().get()), Some(1));
}

#[isolated_test]
fn proc_shows_only_the_sandbox() {
    assert_eq!(visible_pids(), BTreeSet::from([1, 2]));
    let child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
    let pids = visible_pids();
    let mut child = child;
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(pids, BTreeSet::from([1, 2, child.id()]));
    let proc = mount_at("/proc").expect("a /proc mount");
    assert!(proc.contains(" - proc proc "), "{proc}");
}

// ----------------------------------------------------------------- hostname

#[isolated_test]
fn default_hostname_is_chosen_by_the_harness() {
    assert_eq!(rustix::system::uname().nodename().to_str().unwrap(), isolated_test::DEFAULT_HOSTNAME);
}

#[isolated_test(hostname = "box")]
fn hostname_can_be_set_and_changed_inside() {
    assert_eq!(rustix::system::uname().nodename().to_str().unwrap(), "box");
    rustix::system::sethostname(b"renamed-inside").unwrap();
    assert_eq!(fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim(), "renamed-inside");
}

// ------------------------------------------------------------------- mounts

#[isolated_test]
fn root_is_private_so_nothing_propagates() {
    let root = mount_at("/").expect("a root mount");
    assert!(!root.contains("shared:"), "the sandbox root must not be a shared mount: {root}");
    for line in mountinfo().lines() {
        let point = line.split(' ').nth(4).unwrap();
        assert!(!point.starts_with("/oldroot") && !point.starts_with("/newroot"), "setup scaffolding left: {line}");
    }
}

#[isolated_test]
fn root_can_mount_inside() {
    let dir = "/tmp/isolated-test-scratch";
    fs::create_dir_all(dir).unwrap();
    rustix::mount::mount("tmpfs", dir, "tmpfs", rustix::mount::MountFlags::empty(), None).unwrap();
    fs::write(format!("{dir}/f"), "x").unwrap();
    assert!(mount_at(dir).is_some());
    rustix::mount::mount_bind(dir, "/run").unwrap();
    assert_eq!(fs::read_to_string("/run/f").unwrap(), "x");
}

// -------------------------------------------------------- copy-on-write files

/// The marker both tests below write: if a write leaked out of one sandbox,
/// the other would find it.
const MARKER: &str = "/etc/isolated-test-dogfood-marker";

#[isolated_test]
fn host_files_are_writable_copy_on_write_a() {
    assert!(!Path::new(MARKER).exists(), "a previous test's write leaked");
    // One overlay of `/` as root, one of `/etc` rootless.
    assert!(mount_holding("/etc").contains(" - overlay "), "{}", mount_holding("/etc"));
    fs::write(MARKER, "a").unwrap();
    let passwd = fs::read_to_string("/etc/passwd").unwrap();
    if write_host_file("/etc/passwd", &passwd) {
        assert_eq!(fs::read_to_string("/etc/passwd").unwrap(), passwd);
    }
}

#[isolated_test(hostname = "own-etc")]
fn etc_hosts_hostname_and_resolv_conf_are_the_sandboxs_own_in_every_mode() {
    // As container engines provide them: writable as root and rootless.
    fs::write("/etc/hosts", "10.0.0.1 db\n").unwrap();
    assert_eq!(fs::read_to_string("/etc/hosts").unwrap(), "10.0.0.1 db\n");
    assert_eq!(fs::read_to_string("/etc/hostname").unwrap(), "own-etc\n");
    fs::write("/etc/hostname", "renamed\n").unwrap();
    if Path::new("/etc/resolv.conf").exists() {
        let resolv = fs::read("/etc/resolv.conf").unwrap();
        fs::write("/etc/resolv.conf", &resolv).unwrap();
    }
    // Changed ones are reported like any other write; untouched ones are not.
    let report = isolated_test::pollution();
    assert!(report.files.iter().any(|c| c.path == "/etc/hosts"), "{report}");
    assert!(report.files.iter().any(|c| c.path == "/etc/hostname"), "{report}");
}

/// The pollution report compares the sandbox's own `/etc` files with what
/// the sandbox started with, not with the host's (whose mode and size
/// differ: the copy is mode 644, and `/etc/hostname` names the sandbox).
#[isolated_test(hostname = "own-etc-report")]
fn the_report_compares_the_sandboxs_own_etc_files_with_their_start() {
    use std::os::unix::fs::PermissionsExt;
    let hosts = fs::metadata("/etc/hosts").unwrap();
    assert_eq!(hosts.permissions().mode() & 0o7777, 0o644, "the sandbox's own, whatever the host's mode");
    let line = "1.2.3.4 x\n";
    let mut file = fs::OpenOptions::new().append(true).open("/etc/hosts").unwrap();
    std::io::Write::write_all(&mut file, line.as_bytes()).unwrap();
    drop(file);
    fs::write("/etc/hostname", "x\n").unwrap();
    let report = isolated_test::pollution();
    let change = |path: &str| {
        let change = report.files.iter().find(|c| c.path == path).unwrap_or_else(|| panic!("{path}: {report}"));
        (change.change, change.detail.clone())
    };
    let grown = format!("size {} -> {}", hosts.len(), hosts.len() + line.len() as u64);
    assert_eq!(change("/etc/hosts"), (isolated_test::Change::Modified, grown), "{report}");
    let shrunk = format!("size {} -> 2", "own-etc-report\n".len());
    assert_eq!(change("/etc/hostname"), (isolated_test::Change::Modified, shrunk), "{report}");
    assert!(!report.files.iter().any(|c| c.path == "/etc/resolv.conf"), "untouched: {report}");
}

#[isolated_test]
fn host_files_are_writable_copy_on_write_b() {
    assert!(!Path::new(MARKER).exists(), "a previous test's write leaked");
    fs::write(MARKER, "b").unwrap();
    if write_host_file("/usr/local/share/isolated-test-dogfood", "b") {
        assert_eq!(fs::read_to_string("/usr/local/share/isolated-test-dogfood").unwrap(), "b");
    }
    // Deleting is allowed too (a whiteout in the upper layer).
    fs::remove_file(MARKER).unwrap();
    assert!(!Path::new(MARKER).exists());
}

#[isolated_test]
fn the_callers_own_files_are_writable_copy_on_write_in_every_mode() {
    // The crate directory belongs to whoever runs the tests.
    let probe = Path::new(env!("CARGO_MANIFEST_DIR")).join("isolated-test-dogfood-probe");
    fs::write(&probe, "x").unwrap();
    assert_eq!(fs::read_to_string(&probe).unwrap(), "x");
}

#[isolated_test]
fn host_files_keep_their_owners() {
    use std::os::unix::fs::MetadataExt;
    let passwd = fs::metadata("/etc/passwd").unwrap();
    // Rootless, host root is not mapped and shows as the overflow id.
    let expected = if rootless() { 65534 } else { 0 };
    assert_eq!(passwd.uid(), expected);
    assert_eq!(rustix::process::getuid().as_raw(), 0, "the test is root inside its user namespace");
}

#[isolated_test]
fn crate_dir_working_dir_and_binary_stay_visible() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(crate_dir.join("Cargo.toml").is_file());
    assert_eq!(std::env::current_dir().unwrap(), crate_dir.canonicalize().unwrap());
    assert!(std::env::current_exe().unwrap().is_file());
}

// ------------------------------------------------------- fresh scratch dirs

fn assert_fresh_tmpfs(dir: &str) {
    let entry = mount_at(dir).unwrap_or_else(|| panic!("{dir} is not a mount"));
    assert!(entry.contains(" - tmpfs "), "{entry}");
    let kept: Vec<PathBuf> = [PathBuf::from(env!("CARGO_MANIFEST_DIR")), std::env::current_exe().unwrap()]
        .into_iter()
        .filter_map(|p| p.canonicalize().ok())
        .collect();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        assert!(kept.iter().any(|k| k.starts_with(&path)), "{dir} is not fresh: found {}", path.display());
    }
}

#[isolated_test]
fn tmp_run_and_var_tmp_are_fresh() {
    assert_fresh_tmpfs("/tmp");
    assert_fresh_tmpfs("/run");
    assert_fresh_tmpfs("/var/tmp");
    fs::write("/tmp/isolated-test-dogfood", "x").unwrap();
}

// -------------------------------------------------------------------- /dev

#[isolated_test]
fn dev_is_minimal() {
    let names: BTreeSet<String> =
        fs::read_dir("/dev").unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    let expected: BTreeSet<String> =
        ["null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm", "fd", "stdin", "stdout", "stderr"]
            .into_iter()
            .map(String::from)
            .collect();
    assert_eq!(names, expected);
    fs::write("/dev/null", "discarded").unwrap();
    let mut zeros = [1u8; 8];
    std::io::Read::read_exact(&mut fs::File::open("/dev/zero").unwrap(), &mut zeros).unwrap();
    assert_eq!(zeros, [0; 8]);
    assert!(Path::new("/dev/pts/ptmx").exists());
    fs::write("/dev/shm/isolated-test", "x").unwrap();
}

// ------------------------------------------------------------------ network

#[isolated_test]
fn only_loopback_and_it_is_up() {
    let links: Vec<String> = fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(links, vec!["lo".to_owned()]);
    let flags = fs::read_to_string("/sys/class/net/lo/flags").unwrap();
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "IFF_UP");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = std::net::TcpStream::connect(addr).unwrap();
    drop((client, listener));
}

/// Both tests bind the same fixed port and hold it a while; in the host's
/// network namespace the second would fail with EADDRINUSE.
const FIXED_PORT: &str = "127.0.0.1:47913";

fn hold_fixed_port() {
    let listener = std::net::TcpListener::bind(FIXED_PORT).expect("the port is free in a fresh network namespace");
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(listener);
}

#[isolated_test]
fn same_port_in_parallel_a() {
    hold_fixed_port();
}

#[isolated_test]
fn same_port_in_parallel_b() {
    hold_fixed_port();
}

// ------------------------------------------------------------------ sysctls

#[isolated_test]
fn host_sysctls_are_read_only_and_net_ones_are_ours() {
    let erofs = Some(libc::EROFS);
    assert_eq!(errno_of(fs::write("/proc/sys/vm/swappiness", "10")), erofs);
    assert_eq!(errno_of(fs::write("/sys/kernel/uevent_helper", "x")), erofs);
    // /proc/sys/net belongs to the sandbox's network namespace.
    fs::write("/proc/sys/net/ipv4/ip_forward", "1").unwrap();
    assert_eq!(fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap().trim(), "1");
}

#[isolated_test]
fn capabilities_stop_at_the_sandbox() {
    // Setting the clock needs CAP_SYS_TIME in the initial user namespace.
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
    assert_eq!(rustix::time::clock_settime(rustix::time::ClockId::Realtime, now), Err(rustix::io::Errno::PERM));
    // Creating a device node needs CAP_MKNOD in the initial user namespace.
    let made = rustix::fs::mknodat(
        rustix::fs::CWD,
        "/tmp/isolated-test-null",
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o666),
        rustix::fs::makedev(1, 3),
    );
    assert_eq!(made, Err(rustix::io::Errno::PERM));
}

// ------------------------------------------------------- async and results

#[isolated_test(timeout = "30s")]
async fn async_bodies_get_a_runtime_inside() -> std::io::Result<()> {
    tokio::fs::write("/tmp/motd", "x").await?;
    let pid = tokio::spawn(async { std::process::id() }).await.unwrap();
    assert_eq!(pid, 2);
    let (a, b) = tokio::io::duplex(64);
    drop((a, b));
    assert_eq!(tokio::fs::read_to_string("/tmp/motd").await?, "x");
    assert!(!tokio::fs::read_to_string("/etc/passwd").await?.is_empty());
    Ok(())
}

#[isolated_test]
fn results_are_accepted() -> Result<(), String> {
    if std::process::id() == 2 { Ok(()) } else { Err("not in a sandbox".into()) }
}

#[isolated_test]
#[should_panic(expected = "expected inside the sandbox")]
fn should_panic_sees_the_body_panic() {
    assert_eq!(std::process::id(), 2);
    panic!("expected inside the sandbox");
}

/// Run with `cargo test -- --ignored`; `e2e.rs` checks an ignored test
/// really runs under every flag spelling.
#[isolated_test]
#[ignore = "runs only with --ignored / --include-ignored"]
fn ignored_tests_run_in_a_sandbox_too() {
    assert_eq!(std::process::id(), 2);
}

// -------------------------------------------------------------------- rstest

#[fixture]
fn scratch() -> PathBuf {
    // Built inside the sandbox: PID 2, fresh /tmp.
    assert_eq!(std::process::id(), 2);
    let dir = PathBuf::from("/tmp/isolated-test-fixture");
    fs::create_dir(&dir).expect("each case starts with a fresh /tmp");
    dir
}

#[rstest]
#[case(1)]
#[case(2)]
#[case(3)]
#[isolated_test::test]
fn every_rstest_case_is_its_own_sandbox(#[case] n: u32, scratch: PathBuf) {
    assert_eq!(std::process::id(), 2);
    let marker = Path::new("/etc/isolated-test-rstest-case");
    assert!(!marker.exists(), "case {n} sees another case's file");
    fs::write(marker, n.to_string()).unwrap();
    fs::write(scratch.join("n"), n.to_string()).unwrap();
}

#[rstest]
#[case("a")]
#[case("b")]
#[isolated_test::test(hostname = "rstest-box")]
async fn rstest_async_cases(#[case] name: &str) {
    assert_eq!(rustix::system::uname().nodename().to_str().unwrap(), "rstest-box");
    tokio::fs::write(format!("/tmp/{name}"), name).await.unwrap();
    for other in ["a", "b"].into_iter().filter(|o| *o != name) {
        assert!(!Path::new("/tmp").join(other).exists(), "case {name} sees case {other}'s /tmp");
    }
}

/// Doc comments, `cfg` and lint attributes stay on the test as written.
#[cfg(target_os = "linux")]
#[allow(clippy::assertions_on_constants)]
#[isolated_test]
fn cfg_doc_and_lint_attributes_are_kept() {
    assert!(true);
}

#[cfg(not(target_os = "linux"))]
#[isolated_test]
fn cfg_false_removes_the_test() {
    compile_error!("this test must be configured away");
}

#[isolated_test]
fn missing_files_stay_missing() {
    assert_eq!(fs::read("/etc/isolated-test-never-created").unwrap_err().kind(), ErrorKind::NotFound);
}

// ----------------------------------------------------------------- teardown

#[isolated_test(teardown = "verify")]
fn teardown_verify_unmounts_what_the_test_left() {
    fs::create_dir_all("/tmp/isolated-test-left/inner").unwrap();
    rustix::mount::mount("tmpfs", "/tmp/isolated-test-left", "tmpfs", rustix::mount::MountFlags::empty(), None)
        .unwrap();
    fs::create_dir("/tmp/isolated-test-left/inner").unwrap();
    rustix::mount::mount("tmpfs", "/tmp/isolated-test-left/inner", "tmpfs", rustix::mount::MountFlags::empty(), None)
        .unwrap();
    fs::write("/tmp/isolated-test-left/inner/f", "closed again").unwrap();
    // Left mounted, but nothing holds them: teardown unmounts both and passes.
}

// ---------------------------------------------------------------- pollution

#[isolated_test]
fn the_body_can_read_its_own_pollution() {
    assert!(isolated_test::pollution().is_clean(), "{}", isolated_test::pollution());
    fs::write("/etc/isolated-test-polluter", "x").unwrap();
    rustix::system::sethostname(b"polluted").unwrap();
    let report = isolated_test::pollution();
    assert_eq!(report.files.len(), 1, "{report}");
    assert_eq!(report.files[0].path, "/etc/isolated-test-polluter");
    assert_eq!(report.files[0].change, isolated_test::Change::Written);
    let renamed =
        isolated_test::NameChange { before: isolated_test::DEFAULT_HOSTNAME.to_owned(), after: "polluted".to_owned() };
    assert_eq!(report.hostname, Some(renamed));
    fs::remove_file("/etc/isolated-test-polluter").unwrap();
    rustix::system::sethostname(isolated_test::DEFAULT_HOSTNAME.as_bytes()).unwrap();
    assert!(isolated_test::pollution().is_clean(), "{}", isolated_test::pollution());
}

/// A mount stacked on one that is already there (a second tmpfs on
/// `/tmp`) is a mount added, though it has the point and type of the one
/// it hides, along with what the test left in that one.
#[isolated_test]
fn a_mount_stacked_on_a_scratch_directory_is_reported() {
    fs::write("/tmp/isolated-test-hidden", "x").unwrap();
    for point in ["/tmp", "/dev/shm"] {
        rustix::mount::mount("tmpfs", point, "tmpfs", rustix::mount::MountFlags::empty(), None).unwrap();
    }
    assert!(!Path::new("/tmp/isolated-test-hidden").exists());
    let report = isolated_test::pollution();
    for point in ["/dev/shm", "/tmp"] {
        let stacked = isolated_test::MountEntry { point: point.into(), fs_type: "tmpfs".into() };
        assert!(report.mounts_added.contains(&stacked), "{point} not reported:\n{report}");
    }
    assert!(report.mounts_removed.is_empty(), "{report}");
    for point in ["/tmp", "/dev/shm"] {
        rustix::mount::unmount(point, rustix::mount::UnmountFlags::empty()).unwrap();
    }
    fs::remove_file("/tmp/isolated-test-hidden").unwrap();
    assert!(isolated_test::pollution().is_clean(), "{}", isolated_test::pollution());
}

#[isolated_test]
fn the_body_sees_what_it_leaves_in_scratch_directories() {
    assert!(isolated_test::pollution().is_clean(), "{}", isolated_test::pollution());
    fs::write("/run/isolated-test-left", "x").unwrap();
    let report = isolated_test::pollution();
    let left: Vec<(&str, isolated_test::Change)> = report.scratch.iter().map(|c| (c.path.as_str(), c.change)).collect();
    assert_eq!(left, [("/run/isolated-test-left", isolated_test::Change::Added)], "{report}");
    assert!(report.files.is_empty() && !report.is_clean(), "{report}");
    fs::remove_file("/run/isolated-test-left").unwrap();
    assert!(isolated_test::pollution().is_clean(), "{}", isolated_test::pollution());
}

#[isolated_test(forbid_pollution = ["/etc/isolated-test-allowed*", "/proc/sys/net/ipv4/**", "/tmp/**", "/dev/shm/cache-*"])]
fn forbid_pollution_allows_what_is_listed() {
    fs::write("/etc/isolated-test-allowed-1", "x").unwrap();
    fs::write("/proc/sys/net/ipv4/ip_forward", "1").unwrap();
    fs::create_dir_all("/tmp/isolated-test-allowed/sub").unwrap();
    fs::write("/dev/shm/cache-1", "x").unwrap();
}

#[isolated_test(
    seed_file = ["/etc/isolated-test-seeded=left by an earlier test", "/tmp/isolated-test-seeded=also"],
    sysctl = ["net.ipv4.ip_forward=1"],
    forbid_pollution = true
)]
fn tests_can_start_from_a_prepared_state() {
    assert_eq!(fs::read_to_string("/etc/isolated-test-seeded").unwrap(), "left by an earlier test");
    assert_eq!(fs::read_to_string("/tmp/isolated-test-seeded").unwrap(), "also");
    assert_eq!(fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap().trim(), "1");
    // The prepared state is the starting point, not pollution.
    assert!(isolated_test::pollution().is_clean(), "{}", isolated_test::pollution());
}

/// How many ids the sandbox's user namespace maps: all of them as root,
/// one rootless, or one plus a subordinate range (`/etc/subuid` with
/// `newuidmap`).
fn mapped_ids() -> u64 {
    let map = fs::read_to_string("/proc/self/uid_map").unwrap();
    map.lines().filter_map(|l| l.split_whitespace().nth(2)?.parse::<u64>().ok()).sum()
}

#[isolated_test]
fn chown_to_other_ids_works_where_ids_are_mapped() {
    use std::os::unix::fs::MetadataExt;
    fs::write("/tmp/owned", "x").unwrap();
    let result = std::os::unix::fs::chown("/tmp/owned", Some(1000), Some(1000));
    if mapped_ids() > 1000 {
        result.unwrap();
        assert_eq!(fs::metadata("/tmp/owned").unwrap().uid(), 1000);
    } else {
        assert_eq!(result.unwrap_err().raw_os_error(), Some(libc::EINVAL), "uid 1000 is not mapped here");
    }
}

/// Whether tmpfs takes `user.` extended attributes (Linux 6.6 and later):
/// the sandbox's `/tmp` is one.
fn tmpfs_takes_user_xattrs() -> bool {
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    rustix::fs::setxattr(dir.path(), "user.probe", b"1", rustix::fs::XattrFlags::CREATE).is_ok()
}

/// A host directory deleted and made again: overlayfs marks the new one
/// "opaque" in an extended attribute of the upper layer (a tmpfs). Before
/// Linux 6.6 tmpfs has no `user.` attributes: as host root the overlay
/// then keeps its markers in `trusted.` ones (it failed with EIO before),
/// which the body cannot read, so the report cannot say "replaced";
/// rootless the kernel refuses the new directory (README, Requirements).
#[isolated_test]
fn a_directory_deleted_and_made_again_reads_as_replaced() {
    // The crate directory belongs to whoever runs the tests, in every mode.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
    assert!(dir.join("pass").is_dir());
    let markers_readable = tmpfs_takes_user_xattrs();
    let made = fs::remove_dir_all(&dir).and_then(|()| fs::create_dir(&dir));
    if !markers_readable && rootless() {
        assert!(made.is_err(), "the kernel made an opaque directory without user xattrs on tmpfs");
        return;
    }
    made.unwrap();
    fs::write(dir.join("new"), "x").unwrap();
    assert!(!dir.join("pass").exists(), "the deleted lower directory shows through the new one");
    let report = isolated_test::pollution();
    let replaced = report.files.iter().find(|c| Path::new(&c.path) == dir).unwrap_or_else(|| panic!("{report}"));
    if markers_readable {
        assert_eq!(replaced.detail, "replaced: everything it held below was deleted", "{report}");
    }
    assert!(report.files.iter().any(|c| c.path.ends_with("ui/new")), "{report}");
}

// ------------------------------------------------------------ resource limits

/// The sandbox's cgroup is its root (cgroup namespace) and shows at
/// `/sys/fs/cgroup`, read-only, as in a container: runtimes find their
/// limits, and the test cannot raise them. As root there always is one;
/// rootless only with a delegated cgroup v2 subtree.
#[isolated_test]
fn the_sandbox_sees_its_own_cgroup_read_only() {
    let own = fs::read_to_string("/proc/self/cgroup").unwrap();
    assert!(own.lines().all(|l| l.ends_with(":/")), "the sandbox's cgroup is not its root:\n{own}");
    let root = Path::new("/sys/fs/cgroup");
    let limit = [root.join("memory.max"), root.join("memory/memory.limit_in_bytes")].into_iter().find(|p| p.exists());
    let usage = isolated_test::usage();
    let Some(limit) = limit else {
        assert!(rootless(), "as root every sandbox has a cgroup with a memory limit");
        assert_eq!(usage, isolated_test::Usage::default(), "usage without a cgroup");
        return;
    };
    let bytes: u64 = fs::read_to_string(&limit).unwrap().trim().parse().unwrap();
    assert!((4 << 20..u64::MAX / 2).contains(&bytes), "default memory limit {bytes}");
    assert_eq!(errno_of(fs::write(&limit, (bytes * 2).to_string())), Some(libc::EROFS), "{}", limit.display());
    let ballast = vec![7u8; 16 << 20];
    let usage = isolated_test::usage();
    assert!(usage.peak_memory.unwrap() >= 16 << 20, "{usage:?} with {} bytes touched", ballast.len());
    assert!(usage.user_usec.is_some() && usage.system_usec.is_some(), "{usage:?}");
    // Where the kernel keeps a peak of processes (cgroup v2, and v1 on
    // recent kernels), it is the peak, not a sample.
    if [root.join("pids.peak"), root.join("pids/pids.peak")].iter().any(|p| p.exists()) {
        let all = std::sync::Arc::new(std::sync::Barrier::new(13));
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let all = all.clone();
                std::thread::spawn(move || {
                    all.wait();
                })
            })
            .collect();
        all.wait();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let peak = isolated_test::usage().peak_pids;
        assert!(peak.is_some_and(|p| p >= 13), "{peak:?} with 13 threads at once");
    }
}

// ------------------------------------------------------- no sandbox is reused

/// Each case first checks that nothing another case left is there, then
/// leaves its own traces in every kind of state a sandbox owns: files in
/// `/etc`, `/tmp` and `/dev/shm`, the hostname, a per-namespace sysctl, a
/// System V shared memory segment, a network link, and a process. A
/// sandbox handed to the next test without being made fresh (a pool, a
/// zygote that went wrong) fails the next case, whichever runs next, at any
/// thread count.
#[rstest]
#[case(0)]
#[case(1)]
#[case(2)]
#[case(3)]
#[case(4)]
#[case(5)]
#[case(6)]
#[case(7)]
#[case(8)]
#[case(9)]
#[case(10)]
#[case(11)]
#[case(12)]
#[case(13)]
#[case(14)]
#[case(15)]
#[isolated_test::test]
fn no_state_survives_into_another_sandbox(#[case] n: u32) {
    const MARK: &str = "isolated-test-reuse-mark";
    let fresh_hostname = rustix::system::uname().nodename().to_str().unwrap().to_owned();
    assert!(!fresh_hostname.starts_with(MARK), "hostname left by another sandbox: {fresh_hostname}");
    for dir in ["/etc", "/tmp", "/dev/shm"] {
        let left: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(MARK))
            .collect();
        assert!(left.is_empty(), "{dir} has files left by another sandbox: {left:?}");
    }
    let sysctl = "/proc/sys/net/ipv4/ip_default_ttl";
    assert_eq!(fs::read_to_string(sysctl).unwrap().trim(), "64", "{sysctl} left changed by another sandbox");
    let shm = fs::read_to_string("/proc/sysvipc/shm").unwrap();
    assert_eq!(shm.lines().count(), 1, "System V segments left by another sandbox:\n{shm}");
    let links = fs::read_to_string("/proc/net/dev").unwrap();
    assert!(!links.contains(MARK.get(..10).unwrap()), "a link left by another sandbox:\n{links}");
    let processes: Vec<u32> =
        fs::read_dir("/proc").unwrap().flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect();
    assert!(processes.iter().all(|&p| p <= 2 || p == std::process::id()), "processes left: {processes:?}");

    // Leave traces of every kind.
    for dir in ["/etc", "/tmp", "/dev/shm"] {
        fs::write(format!("{dir}/{MARK}-{n}"), n.to_string()).unwrap();
    }
    rustix::system::sethostname(format!("{MARK}-{n}").as_bytes()).unwrap();
    fs::write(sysctl, "99").unwrap();
    // A System V segment in this sandbox's IPC namespace (util-linux).
    assert!(std::process::Command::new("ipcmk").args(["-M", "4096"]).status().unwrap().success());
    // A link in its network namespace: a bridge (every kernel the net
    // module supports has them; `dummy` is not built everywhere).
    let link = &MARK[..10];
    assert!(std::process::Command::new("ip").args(["link", "add", link, "type", "bridge"]).status().unwrap().success());
    // Left running on purpose: the sandbox ends it with the test.
    let sleeper = std::process::Command::new("sleep").arg("600").spawn().unwrap();
    std::mem::forget(sleeper);
}
