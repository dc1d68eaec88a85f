//! Every root filesystem argument: the named bases, a path to a builder fn
//! (alone and with entries), `dir`, `layers`, `tar`, `debootstrap`, and
//! every entry kind.
use isolated_test::Rootfs;
use rstest::fixture;

fn my_fn() -> isolated_test::Rootfs {
    Rootfs::busybox().tmpfs("/scratch")
}

/// An rstest fixture doubles as a builder: `image::default` builds it.
#[fixture]
fn image() -> Rootfs {
    Rootfs::host_ro()
}

#[isolated_test::test(rootfs = "host")]
fn host() {}

#[isolated_test::test(rootfs = "host_ro", privileged = true)]
fn host_ro() {}

#[isolated_test::test(
    rootfs = "busybox",
    bind = ["/usr/share/zoneinfo", "testdata:/data", "../shared:/shared"],
    bind_rw = ["out:/out"],
    tmpfs = ["/scratch", "/var/cache/"],
    file = ["/etc/motd=hello=world\n", "/etc/empty="],
    symlink = ["/bin/sh2=busybox", "/etc/zone=/usr/share/zoneinfo/UTC"],
)]
fn busybox_with_entries() {}

#[isolated_test::test(rootfs = my_fn)]
fn path() {}

#[isolated_test::test(rootfs = self::image::default, tmpfs = ["/more"], timeout = "10s")]
fn fixture_path_with_entries() {}

#[isolated_test::test(dir = "images/root", hostname = "box")]
fn dir() {}

#[isolated_test::test(layers = ["images/base", "/abs/app",])]
async fn layers() {}

#[isolated_test::test(tar = "images/root.tar")]
fn tar() {}

#[isolated_test::test(tar = "images/root.tar.gz", bind = ["/etc/hosts"])]
fn tar_gz() {}

#[isolated_test::test(tar = "images/root.tgz", crate = "::isolated_test")]
fn tgz() -> Result<(), String> {
    Ok(())
}

#[isolated_test::test(debootstrap = "bookworm", bind = ["/var/cache/apt/archives:/debs"])]
fn debootstrap() {}

#[isolated_test::test(tmpfs = ["/only-entries"], file = ["/x=y"])]
fn entries_on_the_host() {}

fn main() {}
