//! The root filesystem of a sandbox, as a value: a base (the host's files
//! copy-on-write, read-only, a busybox root, an image directory, layers,
//! an archive or a debootstrap root) plus entries mounted on top (binds, tmpfs, files, symlinks).
//!
//! The attribute arguments (`rootfs = "busybox"`, `dir = "..."`,
//! `bind = [...]`, ...) are sugar for the same builder, so both read alike:
//!
//! ```no_run
//! use isolated_test::Rootfs;
//!
//! fn image() -> Rootfs {
//!     Rootfs::busybox().bind("/usr/share/zoneinfo", "/usr/share/zoneinfo").tmpfs("/scratch")
//! }
//!
//! #[isolated_test::isolated_test(rootfs = image)]
//! fn sees_only_busybox() {
//!     assert!(std::path::Path::new("/bin/busybox").exists());
//! }
//! ```
//!
//! Relative source paths (image directories, archives, bind sources) are
//! resolved against the test's crate directory. Sources are never modified:
//! images are overlay lower layers, binds are read-only unless `bind_rw`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What the sandbox's `/` is built from. Chosen by [`Rootfs`]'s
/// constructors, and readable back from [`Rootfs::base`]:
///
/// ```
/// use isolated_test::{Base, Rootfs};
///
/// assert_eq!(Rootfs::default().base, Base::Host);
/// assert_eq!(Rootfs::layers(["img/base", "img/app"]).base, Base::Layers(vec!["img/base".into(), "img/app".into()]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Base {
    /// The host's files, copy-on-write (the default).
    Host,
    /// The host's files through read-only binds.
    HostRo,
    /// A minimal root of the host's static busybox and its applet links.
    Busybox,
    /// Image layers, bottom first, under a throw-away upper layer. One
    /// layer is a plain extracted root (`dir`).
    Layers(Vec<PathBuf>),
    /// An image archive (`.tar`, `.tar.gz`/`.tgz`), unpacked once into a
    /// cache keyed by its content, then used as a layer.
    Tar(PathBuf),
    /// A distribution root made by debootstrap, built once into the cache
    /// by the test process (before its sandbox starts, outside its
    /// timeout), then used as a layer.
    Debootstrap(crate::Debootstrap),
}

/// Something mounted or created on top of the base. Added by [`Rootfs`]'s
/// builder methods, in order:
///
/// ```
/// use isolated_test::{Entry, Rootfs};
///
/// let root = Rootfs::host().tmpfs("/scratch").sysctl("net.ipv4.ip_forward", "1");
/// assert_eq!(
///     root.entries,
///     [
///         Entry::Tmpfs { dst: "/scratch".into() },
///         Entry::Sysctl { name: "net.ipv4.ip_forward".into(), value: "1".into() },
///     ]
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Entry {
    /// A host path bound at `dst` (`nosuid`, `nodev`; read-only unless `rw`).
    Bind {
        /// Host path.
        src: PathBuf,
        /// Path inside the sandbox.
        dst: PathBuf,
        /// Writable (the host sees the writes).
        rw: bool,
    },
    /// A fresh tmpfs at `dst` (`nosuid`, `nodev`).
    Tmpfs {
        /// Path inside the sandbox.
        dst: PathBuf,
    },
    /// A read-only file with these contents at `dst`.
    File {
        /// Path inside the sandbox.
        dst: PathBuf,
        /// The contents.
        contents: Vec<u8>,
    },
    /// A symbolic link at `link` pointing to `target`.
    Symlink {
        /// Path of the link inside the sandbox.
        link: PathBuf,
        /// What it points to.
        target: PathBuf,
    },
    /// Prepared state: a writable file written after setup, as if an
    /// earlier test had left it (copy-on-write, so the host never sees it).
    SeedFile {
        /// Path inside the sandbox.
        dst: PathBuf,
        /// The contents.
        contents: Vec<u8>,
    },
    /// Prepared state: a sysctl of the sandbox's own namespaces set after
    /// setup (`net.*`; the others are read-only in a sandbox).
    Sysctl {
        /// Dotted name, e.g. `net.ipv4.ip_forward`.
        name: String,
        /// The value.
        value: String,
    },
}

/// What [`Rootfs::tar`] asks of its path: every type has it when the `tar`
/// feature is on, none when it is off, so that an archive root (`tar =
/// "..."` included) in a build without the feature is a compile error that
/// names the feature rather than a failure at setup.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "an image archive root (`tar = \"...\"`, `Rootfs::tar`) needs the `tar` feature of isolated-test",
    label = "needs the `tar` feature of isolated-test",
    note = "enable it in Cargo.toml: isolated-test = {{ version = \"...\", features = [\"tar\"] }}"
)]
pub trait TarFeature {}

#[cfg(feature = "tar")]
impl<T: ?Sized> TarFeature for T {}

/// A root filesystem: a [`Base`] and [`Entry`]s on top, in order.
///
/// A constructor picks the base ([`host`](Rootfs::host),
/// [`host_ro`](Rootfs::host_ro), [`busybox`](Rootfs::busybox),
/// [`dir`](Rootfs::dir), [`layers`](Rootfs::layers), [`tar`](Rootfs::tar),
/// [`debootstrap`](Rootfs::debootstrap)); the builder methods add entries.
/// Building one touches nothing: the paths are checked when a sandbox is
/// made from it.
///
/// ```
/// use isolated_test::Rootfs;
///
/// let root = Rootfs::busybox()
///     .bind("/usr/share/zoneinfo", "/usr/share/zoneinfo") // read-only
///     .bind_rw("target/out", "/out") // the host sees the writes
///     .tmpfs("/scratch")
///     .file("/etc/app.toml", "port = 8080\n") // read-only
///     .symlink("/usr/bin/app", "/opt/app/bin/app")
///     .seed_file("/var/lib/app/state", "crashed\n") // writable, as a previous run left it
///     .sysctl("net.ipv4.ip_forward", "1");
/// assert_eq!(root.entries.len(), 7);
/// ```
///
/// A function returning one is what the attribute's `rootfs = ...` takes:
///
/// ```no_run
/// use isolated_test::Rootfs;
///
/// fn image() -> Rootfs {
///     Rootfs::host_ro().tmpfs("/var/lib/app")
/// }
///
/// #[isolated_test::isolated_test(rootfs = image)]
/// fn only_its_own_directory_is_writable() {
///     assert!(std::fs::write("/etc/x", "").is_err());
///     std::fs::write("/var/lib/app/x", "").unwrap();
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rootfs {
    /// The base.
    pub base: Base,
    /// Entries applied on top of the base, in order.
    pub entries: Vec<Entry>,
}

impl Default for Rootfs {
    fn default() -> Self {
        Self::host()
    }
}

impl Rootfs {
    fn with_base(base: Base) -> Self {
        Self { base, entries: Vec::new() }
    }

    /// The host's files, copy-on-write: writes land in a throw-away layer.
    /// The default.
    ///
    /// ```
    /// use isolated_test::{Base, Rootfs};
    ///
    /// assert_eq!(Rootfs::host().base, Base::Host);
    /// assert_eq!(Rootfs::host(), Rootfs::default());
    /// ```
    pub fn host() -> Self {
        Self::with_base(Base::Host)
    }

    /// The host's files, read-only: writes fail with EROFS except in the
    /// fresh `/tmp`, `/run`, `/var/tmp` and `/dev/shm` and the sandbox's
    /// own `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`.
    ///
    /// ```
    /// use isolated_test::Rootfs;
    ///
    /// // Read-only, but for one writable directory of its own.
    /// let root = Rootfs::host_ro().tmpfs("/var/lib/app");
    /// # assert_eq!(root.base, isolated_test::Base::HostRo);
    /// ```
    pub fn host_ro() -> Self {
        Self::with_base(Base::HostRo)
    }

    /// A minimal root: the host's static busybox (Debian/Ubuntu package
    /// `busybox-static`) with a link per applet, `/etc/passwd` and
    /// `/etc/group` for root, and the usual `/proc`, `/dev`, `/tmp`.
    ///
    /// ```
    /// use isolated_test::Rootfs;
    ///
    /// // busybox's shell, plus one script of the crate's.
    /// let root = Rootfs::busybox().bind("tests/scripts/probe.sh", "/probe.sh");
    /// # assert_eq!(root.base, isolated_test::Base::Busybox);
    /// ```
    pub fn busybox() -> Self {
        Self::with_base(Base::Busybox)
    }

    /// An extracted root (a debootstrap output, an unpacked image) as the
    /// lower layer of an overlay: the directory itself is never modified.
    /// A relative path is taken from the test's crate directory.
    ///
    /// ```
    /// use isolated_test::{Base, Rootfs};
    ///
    /// let root = Rootfs::dir("tests/images/alpine");
    /// assert_eq!(root.base, Base::Layers(vec!["tests/images/alpine".into()]));
    /// ```
    pub fn dir(path: impl Into<PathBuf>) -> Self {
        Self::with_base(Base::Layers(vec![path.into()]))
    }

    /// Image layers stacked bottom first (the last one wins), under a
    /// throw-away upper layer.
    ///
    /// ```
    /// use isolated_test::Rootfs;
    ///
    /// // The application's files over a base image, as a container runtime would stack them.
    /// let root = Rootfs::layers(["tests/images/base", "tests/images/app"]);
    /// # assert_eq!(root.base, isolated_test::Base::Layers(vec!["tests/images/base".into(), "tests/images/app".into()]));
    /// ```
    pub fn layers<P: Into<PathBuf>>(layers: impl IntoIterator<Item = P>) -> Self {
        Self::with_base(Base::Layers(layers.into_iter().map(Into::into).collect()))
    }

    /// An image archive (`.tar`, `.tar.gz`, `.tgz`), unpacked once into a
    /// cache keyed by its content (safe when many tests start at once), then
    /// used like [`Rootfs::dir`].
    ///
    /// Needs the `tar` feature (`isolated-test = { version = "...", features
    /// = ["tar"] }`); without it, a call does not compile, and says so.
    ///
    /// ```
    /// # #[cfg(feature = "tar")]
    /// # {
    /// use isolated_test::{Base, Rootfs};
    ///
    /// let root = Rootfs::tar("tests/images/alpine-minirootfs.tar.gz");
    /// assert_eq!(root.base, Base::Tar("tests/images/alpine-minirootfs.tar.gz".into()));
    /// # }
    /// ```
    pub fn tar(path: impl Into<PathBuf> + TarFeature) -> Self {
        Self::with_base(Base::Tar(path.into()))
    }

    /// A Debian (or Ubuntu, ...) root made by debootstrap: `"bookworm"` for
    /// Debian 12 `minbase`, or a [`Debootstrap`](crate::Debootstrap) with
    /// more packages or a mirror. Built once into the cache the first time
    /// a test or run asks for it (about a minute, as root; see
    /// [`Debootstrap::build`](crate::Debootstrap::build)), then used like
    /// [`Rootfs::dir`]: an overlay lower layer, never modified.
    ///
    /// ```
    /// use isolated_test::{Debootstrap, Rootfs};
    ///
    /// let plain = Rootfs::debootstrap("bookworm");
    /// let with_curl = Rootfs::debootstrap(Debootstrap::new("bookworm").include(["curl", "ca-certificates"]));
    /// assert_ne!(plain, with_curl);
    /// ```
    pub fn debootstrap(image: impl Into<crate::Debootstrap>) -> Self {
        Self::with_base(Base::Debootstrap(image.into()))
    }

    /// What must be made on the host before the sandbox starts: a
    /// debootstrap root is built (or found in the cache) and becomes its
    /// image directory. Runs in the test process or the command line, where
    /// the network and the host's privileges are.
    pub(crate) fn prepared(mut self) -> Result<Self, crate::DebootstrapError> {
        if let Base::Debootstrap(image) = &self.base {
            self.base = Base::Layers(vec![image.build()?]);
        }
        Ok(self)
    }

    /// Binds host path `src` at `dst`, read-only. Example on [`Rootfs`].
    pub fn bind(mut self, src: impl Into<PathBuf>, dst: impl Into<PathBuf>) -> Self {
        self.entries.push(Entry::Bind { src: src.into(), dst: dst.into(), rw: false });
        self
    }

    /// Binds host path `src` at `dst`, writable: the host sees the writes.
    /// Example on [`Rootfs`].
    pub fn bind_rw(mut self, src: impl Into<PathBuf>, dst: impl Into<PathBuf>) -> Self {
        self.entries.push(Entry::Bind { src: src.into(), dst: dst.into(), rw: true });
        self
    }

    /// Mounts a fresh tmpfs at `dst`. Example on [`Rootfs`].
    pub fn tmpfs(mut self, dst: impl Into<PathBuf>) -> Self {
        self.entries.push(Entry::Tmpfs { dst: dst.into() });
        self
    }

    /// Puts a read-only file with `contents` at `dst`. Example on [`Rootfs`].
    pub fn file(mut self, dst: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) -> Self {
        self.entries.push(Entry::File { dst: dst.into(), contents: contents.into() });
        self
    }

    /// Creates a symbolic link at `link` pointing to `target`. Example on
    /// [`Rootfs`].
    pub fn symlink(mut self, link: impl Into<PathBuf>, target: impl Into<PathBuf>) -> Self {
        self.entries.push(Entry::Symlink { link: link.into(), target: target.into() });
        self
    }

    /// Starts from a prepared state: writes a file after setup, writable
    /// and copy-on-write (to reproduce what an earlier test left behind).
    /// Example on [`Rootfs`].
    pub fn seed_file(mut self, dst: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) -> Self {
        self.entries.push(Entry::SeedFile { dst: dst.into(), contents: contents.into() });
        self
    }

    /// Starts from a prepared state: sets a namespaced sysctl after setup,
    /// e.g. `sysctl("net.ipv4.ip_forward", "1")`. Example on [`Rootfs`].
    pub fn sysctl(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.entries.push(Entry::Sysctl { name: name.into(), value: value.into() });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_keeps_entries_in_order() {
        let r = Rootfs::busybox().bind("/a", "/b").bind_rw("/c", "/d").tmpfs("/t").file("/f", "x").symlink("/l", "t");
        assert_eq!(r.base, Base::Busybox);
        assert_eq!(
            r.entries,
            vec![
                Entry::Bind { src: "/a".into(), dst: "/b".into(), rw: false },
                Entry::Bind { src: "/c".into(), dst: "/d".into(), rw: true },
                Entry::Tmpfs { dst: "/t".into() },
                Entry::File { dst: "/f".into(), contents: b"x".to_vec() },
                Entry::Symlink { link: "/l".into(), target: "t".into() },
            ]
        );
        assert_eq!(Rootfs::dir("x").base, Base::Layers(vec!["x".into()]));
        assert_eq!(Rootfs::default(), Rootfs::host());
        assert_eq!(Rootfs::debootstrap("bookworm").base, Base::Debootstrap(crate::Debootstrap::new("bookworm")));
    }
}
