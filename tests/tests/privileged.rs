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

/// Runs `cmd` with `args`; its standard output, or a panic with all it said.
fn run(cmd: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(out.status.success(), "{cmd} {args:?}: {}{}", text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

/// Detaches a loop device however the test ends: one left attached would
/// outlive the sandbox on the host.
struct Attached(String);

impl Drop for Attached {
    fn drop(&mut self) {
        let _ = std::process::Command::new("losetup").args(["-d", &self.0]).status();
    }
}

/// What the README names `privileged = true` for: loop devices, with
/// util-linux's `losetup` and `mount -o loop` as a user calls them.
#[isolated_test(privileged = true)]
#[ignore = "needs real root: sudo ./scripts/test.sh runs it"]
fn privileged_tests_can_use_loop_devices() {
    run("truncate", &["-s", "8M", "/tmp/image"]);
    run("mkfs.ext4", &["-q", "/tmp/image"]);
    let device = run("losetup", &["--find", "--show", "/tmp/image"]).trim().to_owned();
    let attached = Attached(device.clone());
    assert!(device.starts_with("/dev/loop"), "{device}");
    assert!(run("losetup", &["--list", "--noheadings", "-O", "BACK-FILE", &device]).contains("/tmp/image"));
    run("losetup", &["-d", &device]);
    std::mem::forget(attached);
    // `mount -o loop` finds a free device itself, and lets it go at the
    // unmount (autoclear).
    fs::create_dir("/mnt/image").unwrap();
    run("mount", &["-o", "loop", "/tmp/image", "/mnt/image"]);
    let mounted = run("findmnt", &["-n", "-o", "SOURCE", "/mnt/image"]).trim().to_owned();
    let attached = Attached(mounted.clone());
    fs::write("/mnt/image/file", "on a loop device").unwrap();
    run("umount", &["/mnt/image"]);
    run("mount", &["-o", "loop,ro", "/tmp/image", "/mnt/image"]);
    assert_eq!(fs::read_to_string("/mnt/image/file").unwrap(), "on a loop device");
    run("umount", &["/mnt/image"]);
    drop(attached);
    assert_eq!(run("losetup", &["--associated", "/tmp/image"]), "", "a loop device stayed attached");
}
