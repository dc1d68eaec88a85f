//! `privileged = true`: no user namespace, the host's capabilities, every
//! other namespace as usual. Real root only, so these tests are ignored by
//! default; `scripts/test.sh` runs them with `--ignored` in its root pass.
//! (As a non-root user they fail with a message saying so: see e2e.rs.)

use std::fs;

use isolated_test::isolated_test;

#[isolated_test(privileged = true)]
#[ignore = "needs real root: sudo ./scripts/test.sh runs it"]
fn privileged_tests_keep_host_capabilities() {
    assert_eq!(std::process::id(), 2);
    // CAP_MKNOD in the initial user namespace: refused in a normal sandbox.
    rustix::fs::mknodat(
        rustix::fs::CWD,
        "/tmp/isolated-test-null",
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o666),
        rustix::fs::makedev(1, 3),
    )
    .unwrap();
    use std::os::unix::fs::FileTypeExt;
    assert!(fs::metadata("/tmp/isolated-test-null").unwrap().file_type().is_char_device());
    // /tmp is mounted nodev, so the node cannot be opened there.
    assert_eq!(fs::write("/tmp/isolated-test-null", "x").unwrap_err().raw_os_error(), Some(libc::EACCES));
}

#[isolated_test(privileged = true, hostname = "priv")]
#[ignore = "needs real root: sudo ./scripts/test.sh runs it"]
fn privileged_tests_are_still_isolated() {
    assert_eq!(rustix::system::uname().nodename().to_str().unwrap(), "priv");
    fs::write("/etc/isolated-test-privileged-marker", "x").unwrap();
    let links = fs::read_dir("/sys/class/net").unwrap().count();
    assert_eq!(links, 1, "only lo");
    // Host-wide sysctls stay read-only at the mount level.
    let err = fs::write("/proc/sys/vm/swappiness", "10").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EROFS));
}
