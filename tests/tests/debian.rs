//! A real distribution root, end to end: Debian 12 `minbase` made by
//! debootstrap, built once into the cache by whichever test (here or in the
//! CLI's tests) asks first, about a minute, and reused by every other one
//! and by later runs. In it, what people do in a Debian root: its own
//! tools, users and `/etc`, a package installed with `dpkg -i` and with
//! `apt-get` from the local cache; and the image itself, bound read-only
//! at `/image`, never changes.
//!
//! The tests that install packages need real root: the image's files
//! belong to host root, and rootless, root inside is another user, who
//! can read them but not change them even copy-on-write. They are ignored
//! by default; `scripts/test.sh` runs them with `--ignored` in its root
//! pass and the others in both passes. Without debootstrap, a mirror, or
//! (rootless) a root built by root, every test here fails saying which.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use isolated_test::{Rootfs, isolated_test};
use isolated_test_fixtures::images;

const SUITE: &str = "bookworm";
/// Where the built image itself is bound, read-only, to compare against.
const IMAGE: &str = "/image";
/// Where the package is bound (below the fresh `/tmp`).
const DEB: &str = "/tmp/isolated-hello.deb";

fn image() -> PathBuf {
    images::debootstrap(SUITE).unwrap_or_else(|e| panic!("the {SUITE} root cannot be had: {e}"))
}

/// The Debian root, with the image it is made from at `/image`.
fn debian() -> Rootfs {
    Rootfs::debootstrap(SUITE).bind(image(), IMAGE)
}

/// The same, with `isolated-hello` bound at `/tmp/isolated-hello.deb`.
fn debian_with_package() -> Rootfs {
    let deb = images::hello_deb().expect("dpkg-deb builds the test package (package dpkg)");
    debian().bind(deb, DEB)
}

/// Runs `script` with the root's `/bin/sh` and returns its stdout; fails
/// the test with its output unless it succeeds.
fn sh(script: &str) -> String {
    let out = Command::new("/bin/sh").args(["-c", script]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "`{script}` failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    text
}

fn changed(report: &isolated_test::PollutionReport, path: &str) -> bool {
    report.files.iter().any(|c| c.path == path)
}

#[isolated_test(rootfs = debian, hostname = "deb")]
fn debian_runs_its_own_tools_and_its_image_never_changes() {
    let os_release = fs::read_to_string("/etc/os-release").unwrap();
    assert!(os_release.contains("ID=debian") && os_release.contains("VERSION_CODENAME=bookworm"), "{os_release}");
    assert!(fs::read_to_string("/etc/debian_version").unwrap().starts_with("12."));
    assert!(sh("apt-get --version").starts_with("apt 2."));
    assert!(sh("dpkg --version").contains("Debian 'dpkg' package management program"));
    // Nothing of the host: not its crate directory; the command starts in /.
    assert!(!Path::new(env!("CARGO_MANIFEST_DIR")).exists());
    assert_eq!(std::env::current_dir().unwrap(), Path::new("/"));
    // The sandbox's own /etc files, not the build host's.
    assert_eq!(fs::read_to_string("/etc/hostname").unwrap(), "deb\n");
    assert_eq!(sh("hostname"), "deb\n");
    assert!(sh("getent hosts deb").starts_with("127.0.1.1"), "the hostname resolves");
    // Users and groups are the image's.
    assert!(sh("getent passwd _apt").starts_with("_apt:x:42:"));
    assert!(sh("getent group nogroup").starts_with("nogroup:x:65534:"));
    // Debian's /var/lock is /run/lock, which the fresh /run has.
    fs::write("/var/lock/isolated-test", "x").unwrap();
    // /etc is writable, rootless too (the new file lands in the upper layer).
    fs::write("/etc/isolated-test-debian", "written inside\n").unwrap();
    fs::write("/etc/hosts", "10.0.0.1 db\n").unwrap();
    assert_eq!(sh("getent hosts db"), "10.0.0.1        db\n");
    let report = isolated_test::pollution();
    assert!(changed(&report, "/etc/isolated-test-debian") && changed(&report, "/etc/hosts"), "{report}");
    // The image is untouched: no new file, no hosts file (it has none).
    let image = Path::new(IMAGE);
    assert!(image.join("etc/debian_version").is_file(), "the image is bound at {IMAGE}");
    assert!(!image.join("etc/isolated-test-debian").exists(), "a write reached the image");
    assert!(!image.join("etc/hosts").exists(), "the sandbox's /etc/hosts reached the image");
    assert!(fs::write(image.join("etc/x"), "x").is_err(), "the bound image must be read-only");
}

#[isolated_test(rootfs = debian_with_package)]
#[ignore = "needs real root (installing changes files owned by host root): sudo ./scripts/test.sh runs it"]
fn dpkg_installs_a_package_with_its_user_and_the_image_keeps_none_of_it() {
    let image = Path::new(IMAGE);
    let status_before = fs::read_to_string(image.join("var/lib/dpkg/status")).unwrap();
    sh(&format!("dpkg -i {DEB}"));
    assert!(sh("isolated-hello").starts_with("hello from Debian 12."));
    assert_eq!(sh("dpkg-query -W -f='${Status}' isolated-hello"), "install ok installed");
    // Its postinst added a system user, which owns what it made.
    assert!(sh("getent passwd isolated-hello").contains(":/var/lib/isolated-hello:/usr/sbin/nologin"));
    assert_eq!(sh("stat -c %U:%G /var/lib/isolated-hello"), "isolated-hello:isolated-hello\n");
    assert_eq!(sh("setpriv --reuid=isolated-hello --regid=isolated-hello --clear-groups id -un"), "isolated-hello\n");
    assert_eq!(sh("setpriv --reuid=_apt --regid=nogroup --clear-groups id -un"), "_apt\n");
    let report = isolated_test::pollution();
    for path in ["/var/lib/dpkg/status", "/usr/bin/isolated-hello", "/etc/isolated-hello.conf", "/etc/passwd"] {
        assert!(changed(&report, path), "{path} is not in the report:\n{report}");
    }
    // None of it reached the image.
    assert_eq!(fs::read_to_string(image.join("var/lib/dpkg/status")).unwrap(), status_before);
    assert!(!status_before.contains("Package: isolated-hello"));
    assert!(!image.join("usr/bin/isolated-hello").exists());
    assert!(!fs::read_to_string(image.join("etc/passwd")).unwrap().contains("isolated-hello"));
}

#[isolated_test(rootfs = debian_with_package)]
#[ignore = "needs real root (installing changes files owned by host root): sudo ./scripts/test.sh runs it"]
fn apt_get_installs_from_local_files_and_its_cache_without_a_network() {
    // A package file: apt resolves it against the image's package lists.
    let out = sh(&format!("apt-get install -y {DEB} 2>&1"));
    assert!(out.contains("Setting up isolated-hello (1.0)"), "{out}");
    // A package from the image's own cache (debootstrap leaves the debs it
    // installed in /var/cache/apt/archives): nothing is downloaded.
    let out = sh("apt-get install -y --reinstall --no-download hostname 2>&1");
    assert!(out.contains("Setting up hostname"), "{out}");
    assert!(sh("apt-cache policy isolated-hello").contains("Installed: 1.0"));
    // The sandbox has only `lo`: downloading fails (no mirror inside).
    let update = Command::new("apt-get").args(["update", "-o", "Acquire::Retries=0"]).output().unwrap();
    let text = String::from_utf8_lossy(&update.stdout).into_owned() + &String::from_utf8_lossy(&update.stderr);
    assert!(text.contains("Temporary failure resolving") || text.contains("Could not"), "{text}");
}
