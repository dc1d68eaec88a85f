//! Every root filesystem kind, proven from inside: what `/` contains, that
//! writes never reach the source directory or archive, and that binds are
//! as read-only as asked. Bad inputs are asserted from outside in e2e.rs.

use std::collections::BTreeSet;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;

use isolated_test::{Rootfs, isolated_test};
use isolated_test_fixtures::images;

fn root_entries() -> BTreeSet<String> {
    fs::read_dir("/").unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

fn mount_options(path: &str) -> String {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = info.lines().rfind(|l| l.split(' ').nth(4) == Some(path)).unwrap_or_else(|| {
        panic!("{path} is not a mount point:\n{info}");
    });
    line.split(' ').nth(5).unwrap().to_owned()
}

fn sh(script: &str) -> String {
    let out = Command::new("/bin/sh").args(["-c", script]).output().unwrap();
    assert!(out.status.success(), "`{script}`: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn erofs(result: std::io::Result<()>) -> bool {
    result.err().and_then(|e| e.raw_os_error()) == Some(libc::EROFS)
}

// ------------------------------------------------------------------ host_ro

#[isolated_test(rootfs = "host_ro")]
fn host_ro_refuses_writes_outside_scratch() {
    assert!(erofs(fs::write("/etc/isolated-test-ro", "x")));
    assert!(erofs(fs::write(Path::new(env!("CARGO_MANIFEST_DIR")).join("isolated-test-ro"), "x")));
    fs::write("/tmp/ok", "x").unwrap();
    fs::write("/run/ok", "x").unwrap();
    fs::write("/var/tmp/ok", "x").unwrap();
    fs::write("/dev/shm/ok", "x").unwrap();
    assert!(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml").is_file());
    assert!(mount_options("/usr").contains("ro"));
}

/// The sandbox's own `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`
/// are writable on a read-only root too, as in every mode; the rest of
/// `/etc` stays read-only, and `isolated_test::net` can name its nodes.
#[isolated_test(rootfs = "host_ro", hostname = "ro-box")]
fn host_ro_has_the_sandboxs_own_etc_files_writable() {
    assert_eq!(fs::read_to_string("/etc/hostname").unwrap(), "ro-box\n", "the sandbox's hostname, not the host's");
    fs::write("/etc/hostname", "renamed\n").unwrap();
    assert_eq!(fs::read_to_string("/etc/hostname").unwrap(), "renamed\n");
    let hosts = fs::read_to_string("/etc/hosts").unwrap();
    fs::write("/etc/hosts", format!("{hosts}10.0.0.1 db\n")).unwrap();
    if Path::new("/etc/resolv.conf").exists() {
        let resolv = fs::read("/etc/resolv.conf").unwrap();
        fs::write("/etc/resolv.conf", &resolv).unwrap();
    }
    // Nothing else of /etc is writable.
    assert!(erofs(fs::write("/etc/isolated-test-ro", "x")));
    let passwd = fs::read("/etc/passwd").unwrap();
    assert!(erofs(fs::write("/etc/passwd", &passwd)));
    assert!(mount_options("/etc").split(',').any(|o| o == "ro"), "{}", mount_options("/etc"));
    // A network names its nodes in /etc/hosts, and takes them out again.
    let net = isolated_test::net::Network::builder()
        .node("a")
        .node("b")
        .link("a", "b", isolated_test::net::LinkSpec::new())
        .build()
        .unwrap();
    assert!(fs::read_to_string("/etc/hosts").unwrap().contains(&format!("{} b\n", net.ip("b"))));
    drop(net);
    assert_eq!(fs::read_to_string("/etc/hosts").unwrap(), format!("{hosts}10.0.0.1 db\n"));
    // What the test wrote is in its report, against what the file held.
    let report = isolated_test::pollution();
    let hostname = report.files.iter().find(|c| c.path == "/etc/hostname").unwrap_or_else(|| panic!("{report}"));
    assert_eq!((hostname.change, hostname.detail.as_str()), (isolated_test::Change::Modified, "size 7 -> 8"));
    assert!(report.files.iter().any(|c| c.path == "/etc/hosts"), "{report}");
}

// ------------------------------------------------------------------ busybox

#[isolated_test(rootfs = "busybox")]
fn busybox_root_shows_only_its_own_directories() {
    let expected: BTreeSet<String> = ["bin", "dev", "etc", "proc", "root", "run", "sbin", "sys", "tmp", "usr", "var"]
        .into_iter()
        .map(String::from)
        .collect();
    // `linuxrc` is busybox's own top-level applet link.
    let mut entries = root_entries();
    entries.remove("linuxrc");
    assert_eq!(entries, expected);
    assert_eq!(sh("echo hello from $(id -u)"), "hello from 0\n");
    assert_eq!(sh("ls /usr/bin/awk >/dev/null && readlink /bin/ls"), "/bin/busybox\n");
    assert!(!Path::new("/usr/lib").exists(), "nothing of the host");
    assert_eq!(std::env::current_dir().unwrap(), Path::new("/"));
    fs::write("/etc/isolated-test", "a throw-away root").unwrap();
}

/// A root other than the host's shows nothing of the host: its
/// `/etc/hosts` names `localhost` and the sandbox, as an image's does.
#[isolated_test(rootfs = "busybox", hostname = "bb-box")]
fn busybox_etc_hosts_names_the_sandbox_not_the_host() {
    let hosts = fs::read_to_string("/etc/hosts").unwrap();
    assert!(hosts.starts_with("127.0.0.1\tlocalhost\n127.0.1.1\tbb-box\n"), "{hosts}");
    assert_eq!(fs::read_to_string("/etc/hostname").unwrap(), "bb-box\n");
    // The sandbox's name resolves (busybox's own resolver reads /etc/hosts).
    assert!(sh("ping -c 1 -W 2 bb-box").contains("127.0.1.1"));
    fs::write("/etc/hosts", "10.0.0.1 db\n").unwrap();
}

// ---------------------------------------------------------------- dir, tar

fn busybox_image() -> PathBuf {
    images::busybox_image().expect("busybox-static must be installed (scripts/test.sh installs it)")
}

/// The image, plus the image itself bound read-only at /image-source so the
/// test can check that its writes never reach it.
fn image_dir() -> Rootfs {
    let image = busybox_image();
    Rootfs::dir(&image).bind(&image, "/image-source")
}

#[isolated_test(rootfs = image_dir)]
fn an_image_directory_is_never_modified() {
    assert_eq!(fs::read_to_string("/etc/os-release").unwrap().lines().next(), Some("ID=isolated-test-busybox"));
    fs::write("/etc/os-release", "ID=changed-inside\n").unwrap();
    fs::write("/etc/added-inside", "x").unwrap();
    fs::remove_file("/bin/ls").unwrap();
    assert!(Path::new("/image-source/bin/ls").exists(), "a deletion reached the image");
    assert!(!Path::new("/image-source/etc/added-inside").exists(), "a new file reached the image");
    let source = fs::read_to_string("/image-source/etc/os-release").unwrap();
    assert!(source.starts_with("ID=isolated-test-busybox"), "a write reached the image: {source}");
    assert!(erofs(fs::write("/image-source/etc/x", "x")), "the bound source must be read-only");
    assert_eq!(sh("cat /etc/os-release"), "ID=changed-inside\n");
}

fn layered() -> Rootfs {
    let app = images::layer(&[
        ("/app/config", b"debug=1\n".as_slice()),
        ("/etc/os-release", b"ID=isolated-test-app-layer\n".as_slice()),
    ])
    .unwrap();
    Rootfs::layers([busybox_image(), app])
}

#[isolated_test(rootfs = layered)]
fn layers_stack_and_the_top_one_wins() {
    assert_eq!(fs::read_to_string("/app/config").unwrap(), "debug=1\n");
    assert_eq!(fs::read_to_string("/etc/os-release").unwrap(), "ID=isolated-test-app-layer\n");
    assert!(Path::new("/bin/busybox").is_file(), "the bottom layer is there too");
    fs::write("/app/config", "debug=0\n").unwrap();
}

fn archive() -> Rootfs {
    // The archive is made once (next to the image cache) and unpacked once.
    let image = busybox_image();
    let archive = image.with_extension("tar.gz");
    if !archive.exists() {
        let partial = image.with_extension(format!("tar.gz.{}", std::process::id()));
        images::tar_gz_from_dir(&image, &partial).unwrap();
        fs::rename(&partial, &archive).unwrap();
    }
    Rootfs::tar(archive)
}

#[isolated_test(rootfs = archive)]
fn an_archive_is_unpacked_into_the_cache_and_used_as_an_image() {
    assert_eq!(fs::read_to_string("/etc/os-release").unwrap().lines().next(), Some("ID=isolated-test-busybox"));
    assert_eq!(sh("echo from the archive"), "from the archive\n");
    fs::write("/etc/os-release", "changed").unwrap();
}

// ------------------------------------------------------------------ entries

#[isolated_test(
    bind = ["/etc/hostname:/srv/hostname-ro", "/usr/share"],
    tmpfs = ["/srv/scratch"],
    file = ["/etc/isolated-test-motd=written by the attribute"],
    symlink = ["/srv/link=/srv/scratch"]
)]
fn entries_on_the_host_files() {
    assert!(erofs(fs::write("/srv/hostname-ro", "x")), "bind is read-only");
    assert!(Path::new("/usr/share").is_dir());
    let opts = mount_options("/srv/hostname-ro");
    assert!(opts.contains("ro") && opts.contains("nosuid") && opts.contains("nodev"), "{opts}");
    fs::write("/srv/scratch/f", "x").unwrap();
    assert!(mount_options("/srv/scratch").contains("nosuid"));
    assert_eq!(fs::read_to_string("/etc/isolated-test-motd").unwrap(), "written by the attribute");
    assert!(erofs(fs::write("/etc/isolated-test-motd", "x")), "files are read-only");
    assert_eq!(fs::read_link("/srv/link").unwrap(), Path::new("/srv/scratch"));
    assert_eq!(fs::read_to_string("/srv/link/f").unwrap(), "x");
}

/// Entries deep in directories that are the host's root's, as a suite puts
/// them (`/etc/ssl/...`, `/usr/local/bin/...`, a new directory below
/// `/etc/apt`): made in every mode, rootless too, where the sandbox's root
/// is not the host's and could not make them there before. The
/// directories keep their mode.
#[isolated_test(
    file = ["/etc/ssl/isolated-test-entry.conf=deep", "/etc/apt/isolated-test-new/deeper/entry.list=deeper"],
    symlink = ["/usr/local/bin/isolated-test-tool=/bin/true"],
    bind = ["/etc/hostname:/usr/share/doc/isolated-test-bound"]
)]
fn entries_deep_in_root_owned_directories() {
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(fs::read_to_string("/etc/ssl/isolated-test-entry.conf").unwrap(), "deep");
    assert_eq!(fs::read_to_string("/etc/apt/isolated-test-new/deeper/entry.list").unwrap(), "deeper");
    assert_eq!(fs::read_link("/usr/local/bin/isolated-test-tool").unwrap(), Path::new("/bin/true"));
    assert!(Path::new("/usr/share/doc/isolated-test-bound").is_file());
    // What else those directories hold is still there, in its mode.
    assert!(Path::new("/etc/ssl/certs").is_dir());
    assert!(fs::read_dir("/usr/share/doc").unwrap().count() > 1);
    for dir in ["/etc/ssl", "/usr/local/bin", "/usr/share/doc"] {
        let inside = fs::metadata(dir).unwrap().permissions().mode() & 0o7777;
        assert_eq!(inside, 0o755, "{dir}");
    }
}

/// A host directory the next test writes through `bind_rw`; made in the
/// cache so nothing outside the build directory is touched.
fn rw_dir() -> PathBuf {
    let dir = isolated_test::cache_dir().unwrap().join("bind-rw-probe");
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn busybox_with_rw_bind() -> Rootfs {
    Rootfs::busybox().bind_rw(rw_dir(), "/out").bind(rw_dir(), "/out-ro")
}

#[isolated_test(rootfs = busybox_with_rw_bind)]
fn bind_rw_reaches_the_host_and_bind_does_not_write() {
    let stamp = format!("{:?}", std::time::SystemTime::now());
    fs::write("/out/stamp", &stamp).unwrap();
    assert_eq!(fs::read_to_string("/out-ro/stamp").unwrap(), stamp, "same host directory");
    assert!(erofs(fs::write("/out-ro/stamp", "x")));
    assert!(!root_entries().contains("usr") || Path::new("/usr/bin/awk").is_symlink(), "busybox root");
    assert_eq!(fs::read("/nonexistent").unwrap_err().kind(), ErrorKind::NotFound);
}

// ----------------------------------------------------- rstest and builders

/// An rstest fixture that returns a root filesystem: the attribute takes
/// its generated `default` function, and every case gets that root.
#[rstest::fixture]
fn layered_fixture() -> Rootfs {
    layered()
}

#[rstest::rstest]
#[case("/app/config")]
#[case("/bin/busybox")]
#[isolated_test::test(rootfs = layered_fixture::default)]
fn a_root_from_an_rstest_fixture(#[case] path: &str) {
    assert!(Path::new(path).exists(), "{path} missing from the fixture's root");
    assert_eq!(fs::read_to_string("/etc/os-release").unwrap(), "ID=isolated-test-app-layer\n");
}
