//! Turns a [`Rootfs`] into host facts the plan can use, in PID 2 before any
//! setup step: relative paths resolved against the crate directory, sources
//! checked, the static busybox found and its applets listed, archives
//! unpacked into their cache.
//!
//! Every failure is a setup error that names the step, the path and the
//! kernel's errno, and nothing on the host is changed by a failure (an
//! interrupted unpack leaves only its private temporary directory, removed
//! on the spot).

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

#[cfg(feature = "tar")]
use sha2::{Digest, Sha256};

use super::plan::{ResolvedBase, ResolvedEntry, ResolvedRootfs, SourceKind};
use crate::error::{IoCause, SetupError};
use crate::rootfs::{Base, Entry, Rootfs};

use crate::config::{ENV_BUSYBOX, ENV_CACHE_DIR};

fn fail(step: &'static str, what: String, source: io::Error) -> SetupError {
    SetupError { step, what, source: IoCause(source) }
}

fn absolute(base_dir: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() { path.to_path_buf() } else { base_dir.join(path) }
}

/// Checks that `path` exists and is a directory.
fn check_dir(path: &Path, role: &str) -> Result<PathBuf, SetupError> {
    let what = || format!("use {role} `{}`", path.display());
    let meta = fs::metadata(path).map_err(|e| fail("check_rootfs", what(), e))?;
    if !meta.is_dir() {
        return Err(fail("check_rootfs", what(), io::Error::from_raw_os_error(libc::ENOTDIR)));
    }
    path.canonicalize().map_err(|e| fail("check_rootfs", what(), e))
}

/// Resolves `rootfs`; relative paths are taken from `base_dir`.
///
/// # Errors
/// A missing or mistyped source, no static busybox, an archive that cannot
/// be read or unpacked.
pub(crate) fn resolve(rootfs: &Rootfs, base_dir: &Path) -> Result<ResolvedRootfs, SetupError> {
    let base = match &rootfs.base {
        Base::Host => ResolvedBase::Host,
        Base::HostRo => ResolvedBase::HostRo,
        Base::Busybox => resolve_busybox()?,
        Base::Layers(layers) if layers.is_empty() => {
            return Err(fail(
                "check_rootfs",
                "use an image made of layers".into(),
                io::Error::new(io::ErrorKind::InvalidInput, "`layers` is empty"),
            ));
        }
        Base::Layers(layers) => ResolvedBase::Layers(
            layers
                .iter()
                .map(|l| check_dir(&absolute(base_dir, l), "the image directory"))
                .collect::<Result<_, _>>()?,
        ),
        Base::Tar(archive) => ResolvedBase::Layers(vec![unpack_cached(&absolute(base_dir, archive))?]),
        // Built by the parent (`Rootfs::prepared`), which has the network
        // and the host's privileges; here it is only found in the cache.
        Base::Debootstrap(image) => {
            let what = || format!("use the debootstrap root of `{}`", image.suite());
            let root = image.cached().map_err(|e| fail("check_rootfs", what(), io::Error::other(e.to_string())))?;
            let root = root.ok_or_else(|| {
                fail(
                    "check_rootfs",
                    what(),
                    io::Error::new(io::ErrorKind::NotFound, "it is not built; the test process builds it first"),
                )
            })?;
            ResolvedBase::Layers(vec![check_dir(&root, "the debootstrap root")?])
        }
    };
    let mut entries = Vec::new();
    for entry in &rootfs.entries {
        entries.push(match entry {
            Entry::Bind { src, dst, rw } => {
                let src = absolute(base_dir, src);
                let what = || format!("bind host `{}` to `{}`", src.display(), dst.display());
                let meta = fs::metadata(&src).map_err(|e| fail("check_rootfs", what(), e))?;
                let src = src.canonicalize().map_err(|e| fail("check_rootfs", what(), e))?;
                let kind = if meta.is_dir() { SourceKind::Dir } else { SourceKind::File };
                ResolvedEntry::Bind { src, kind, dst: checked_dst(dst)?, rw: *rw }
            }
            Entry::Tmpfs { dst } => ResolvedEntry::Tmpfs { dst: checked_dst(dst)? },
            Entry::File { dst, contents } => ResolvedEntry::File { dst: checked_dst(dst)?, contents: contents.clone() },
            Entry::Symlink { link, target } => {
                ResolvedEntry::Symlink { link: checked_dst(link)?, target: target.clone() }
            }
            // Applied after setup, in the finished sandbox (see `seed`).
            Entry::SeedFile { dst, .. } => {
                checked_dst(dst)?;
                continue;
            }
            Entry::Sysctl { .. } => continue,
        });
    }
    Ok(ResolvedRootfs { base, entries })
}

/// What a destination inside the sandbox must be.
pub(crate) const INSIDE_PATH_RULE: &str = "it must be absolute, not `/`, and without `..`";

/// Whether `dst` may be a destination inside the sandbox
/// ([`INSIDE_PATH_RULE`]).
pub(crate) fn is_inside_path(dst: &Path) -> bool {
    dst.is_absolute()
        && dst != Path::new("/")
        && !dst.components().any(|c| matches!(c, std::path::Component::ParentDir))
}

/// A destination inside the sandbox must be absolute, not `/`, without `..`.
fn checked_dst(dst: &Path) -> Result<PathBuf, SetupError> {
    if !is_inside_path(dst) {
        return Err(fail(
            "check_rootfs",
            format!("use `{}` as a path inside the sandbox", dst.display()),
            io::Error::new(io::ErrorKind::InvalidInput, INSIDE_PATH_RULE),
        ));
    }
    Ok(dst.to_path_buf())
}

/// Applies the prepared-state entries of `rootfs` in the finished sandbox
/// (after `pivot_root`, before the body or command and before the pollution
/// report's first snapshot).
///
/// # Errors
/// A seed file could not be written, or a sysctl could not be set (only
/// `net.*` is writable in a sandbox).
pub(crate) fn seed(rootfs: &Rootfs) -> Result<(), SetupError> {
    for entry in &rootfs.entries {
        match entry {
            Entry::SeedFile { dst, contents } => {
                let what = || format!("seed the file `{}`", dst.display());
                if let Some(parent) = dst.parent() {
                    fs::create_dir_all(parent).map_err(|e| fail("seed", what(), e))?;
                }
                fs::write(dst, contents).map_err(|e| fail("seed", what(), e))?;
            }
            Entry::Sysctl { name, value } => {
                let path = Path::new("/proc/sys").join(name.replace('.', "/"));
                let what = || format!("set the sysctl `{name}` to `{value}` (only net.* belongs to the sandbox)");
                fs::write(&path, value).map_err(|e| fail("seed", what(), e))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Where busybox is looked for, in order.
pub const BUSYBOX_CANDIDATES: &[&str] = &["/bin/busybox", "/usr/bin/busybox", "/sbin/busybox", "/usr/sbin/busybox"];

/// A static busybox of this host and its applets, as
/// [`find_static_busybox`] finds it. Example there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busybox {
    /// The binary (canonical path).
    pub binary: PathBuf,
    /// Where its applets live, relative to `/` (`bin/ls`, `usr/bin/awk`).
    pub applets: Vec<PathBuf>,
}

/// Finds the static busybox the `busybox` root uses: `ISOLATED_TEST_BUSYBOX`,
/// else the first of [`BUSYBOX_CANDIDATES`]; also for image builders.
///
/// # Errors
/// None is installed, it is dynamically linked, or it cannot list its
/// applets; the message says which package to install.
///
/// ```no_run
/// // An image builder copying busybox and its applet links into a root.
/// let busybox = isolated_test::find_static_busybox()?;
/// let root = std::path::Path::new("target/image");
/// std::fs::create_dir_all(root.join("bin"))?;
/// std::fs::copy(&busybox.binary, root.join("bin/busybox"))?;
/// for applet in busybox.applets.iter().filter(|a| a.starts_with("bin")) {
///     let _ = std::os::unix::fs::symlink("/bin/busybox", root.join(applet));
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn find_static_busybox() -> io::Result<Busybox> {
    find_busybox()
        .map(|(binary, applets)| Busybox { binary, applets })
        .map_err(|e| io::Error::new(e.source.0.kind(), crate::error::ErrorChain::from_error(e.step, &e).to_string()))
}

fn resolve_busybox() -> Result<ResolvedBase, SetupError> {
    find_busybox().map(|(binary, applets)| ResolvedBase::Busybox { binary, applets })
}

fn find_busybox() -> Result<(PathBuf, Vec<PathBuf>), SetupError> {
    let found = match std::env::var_os(ENV_BUSYBOX) {
        Some(path) => {
            let path = PathBuf::from(path);
            if !path.is_file() {
                return Err(fail(
                    "find_busybox",
                    format!("use the busybox named by {ENV_BUSYBOX} (`{}`)", path.display()),
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        "no such file; install the package busybox-static (Debian/Ubuntu: sudo apt-get install busybox-static) or fix the variable",
                    ),
                ));
            }
            Some(path)
        }
        None => BUSYBOX_CANDIDATES.iter().map(PathBuf::from).find(|p| p.is_file()),
    };
    let Some(binary) = found else {
        return Err(fail(
            "find_busybox",
            format!("find a static busybox (looked for {})", BUSYBOX_CANDIDATES.join(", ")),
            io::Error::new(
                io::ErrorKind::NotFound,
                "not installed; install the package busybox-static (Debian/Ubuntu: sudo apt-get install busybox-static)",
            ),
        ));
    };
    let what = || format!("use busybox `{}`", binary.display());
    let binary = binary.canonicalize().map_err(|e| fail("find_busybox", what(), e))?;
    if has_interpreter(&binary).map_err(|e| fail("find_busybox", what(), e))? {
        return Err(fail(
            "find_busybox",
            what(),
            io::Error::new(
                io::ErrorKind::InvalidData,
                "it is dynamically linked and cannot run without the host's libraries; \
                 install the package busybox-static (Debian/Ubuntu: sudo apt-get install busybox-static)",
            ),
        ));
    }
    let output = std::process::Command::new(&binary)
        .arg("--list-full")
        .output()
        .map_err(|e| fail("find_busybox", format!("list the applets of `{}`", binary.display()), e))?;
    if !output.status.success() {
        return Err(fail(
            "find_busybox",
            format!("list the applets of `{}` (busybox --list-full)", binary.display()),
            io::Error::other(format!("it exited with {}", output.status)),
        ));
    }
    let applets = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.contains(".."))
        .map(PathBuf::from)
        .collect();
    Ok((binary, applets))
}

/// Whether an ELF file asks for a program interpreter (is dynamically
/// linked).
pub(crate) fn has_interpreter(path: &Path) -> io::Result<bool> {
    let mut header = [0u8; 64];
    let mut file = fs::File::open(path)?;
    file.read_exact(&mut header)?;
    if &header[..4] != b"\x7fELF" || header[4] != 2 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "not a 64-bit ELF executable"));
    }
    let u16_at = |o: usize| u16::from_le_bytes([header[o], header[o + 1]]);
    let phoff = u64::from_le_bytes(header[0x20..0x28].try_into().expect("8 bytes"));
    let (phentsize, phnum) = (u16_at(0x36) as u64, u16_at(0x38) as u64);
    let mut table = vec![0u8; (phentsize * phnum) as usize];
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(phoff))?;
    file.read_exact(&mut table)?;
    const PT_INTERP: u32 = 3;
    Ok(table.chunks(phentsize as usize).any(|ph| u32::from_le_bytes([ph[0], ph[1], ph[2], ph[3]]) == PT_INTERP))
}

/// The cache directory for unpacked archives: `ISOLATED_TEST_CACHE_DIR`,
/// else `isolated-test-cache` in cargo's target directory (found from the
/// running binary through the `CACHEDIR.TAG` cargo writes there), else
/// `$XDG_CACHE_HOME/isolated-test` or `~/.cache/isolated-test`.
///
/// # Errors
/// None of these could be determined (no `HOME`).
///
/// ```no_run
/// // Where the debootstrap roots and unpacked archives of this suite are.
/// let cache = isolated_test::cache_dir()?;
/// println!("{}", cache.join("debootstrap").display());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn cache_dir() -> io::Result<PathBuf> {
    if let Some(dir) = std::env::var_os(ENV_CACHE_DIR) {
        return Ok(PathBuf::from(dir));
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(target) = exe.ancestors().skip(1).find(|d| d.join("CACHEDIR.TAG").is_file()) {
            return Ok(target.join("isolated-test-cache"));
        }
    }
    let home = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    home.map(|h| h.join("isolated-test"))
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no cache directory; set {ENV_CACHE_DIR}")))
}

#[cfg(feature = "tar")]
fn sha256_of(path: &Path) -> io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Without the `tar` feature no archive is unpacked. `Rootfs::tar` does not
/// compile then, but a `Rootfs` can still carry `Base::Tar` (built by
/// hand, or deserialised): the setup fails, naming the feature.
#[cfg(not(feature = "tar"))]
fn unpack_cached(archive: &Path) -> Result<PathBuf, SetupError> {
    Err(fail(
        "unpack_tar",
        format!("unpack `{}`", archive.display()),
        io::Error::new(
            io::ErrorKind::Unsupported,
            "isolated-test was built without its `tar` feature, which image archive roots need; enable it: \
             isolated-test = { version = \"...\", features = [\"tar\"] }",
        ),
    ))
}

/// Unpacks `archive` once into the cache, keyed by its content hash, and
/// returns the unpacked root. Concurrent callers each unpack into a private
/// directory and the first `rename` wins; the others drop theirs.
#[cfg(feature = "tar")]
fn unpack_cached(archive: &Path) -> Result<PathBuf, SetupError> {
    let shown = archive.display().to_string();
    let step = |what: &str, e: io::Error| fail("unpack_tar", format!("{what} `{shown}`"), e);
    let meta =
        fs::metadata(archive).map_err(|e| fail("check_rootfs", format!("use the image archive `{shown}`"), e))?;
    if !meta.is_file() {
        return Err(fail(
            "check_rootfs",
            format!("use the image archive `{shown}`"),
            io::Error::new(io::ErrorKind::InvalidInput, "it is not a regular file"),
        ));
    }
    let hash = sha256_of(archive).map_err(|e| step("hash", e))?;
    let cache = cache_dir().map_err(|e| step("find a cache directory for", e))?;
    let root = cache.join(format!("tar-{hash}"));
    if root.is_dir() {
        return Ok(root);
    }
    fs::create_dir_all(&cache).map_err(|e| fail("unpack_tar", format!("create the cache `{}`", cache.display()), e))?;
    collect_abandoned_unpacks(&cache, UNPACK_GRACE);
    let private = tempfile::Builder::new()
        .prefix(UNPACKING)
        .tempdir_in(&cache)
        .map_err(|e| step("make a private directory to unpack", e))?
        .keep();
    // Held until the unpacked root is in place or gone: tells an unpack
    // still going from one abandoned (see `collect_abandoned_unpacks`).
    let _held = fs::File::open(&private)
        .and_then(|dir| {
            rustix::fs::flock(&dir, rustix::fs::FlockOperation::LockExclusive)?;
            Ok(dir)
        })
        .map_err(|e| step("lock the private directory to unpack", e))?;
    let unpacked = unpack_into(archive, &private);
    if let Err(e) = unpacked {
        let _ = fs::remove_dir_all(&private);
        return Err(step("unpack", e));
    }
    match fs::rename(&private, &root) {
        Ok(()) => Ok(root),
        Err(_) if root.is_dir() => {
            // Another test unpacked the same archive first.
            let _ = fs::remove_dir_all(&private);
            Ok(root)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&private);
            Err(step("move the unpacked root of", e))
        }
    }
}

/// The prefix of the private directories archives are unpacked into.
#[cfg(feature = "tar")]
const UNPACKING: &str = "unpacking-";

/// How old an unlocked private directory must be to count as abandoned:
/// between its making and its lock, a live unpack's is unlocked too.
#[cfg(feature = "tar")]
const UNPACK_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// Removes the private directories in `cache` of unpacks that ended
/// halfway (a test killed at its timeout while its setup unpacked): no
/// process holds their lock any more, and they are older than `grace`.
/// Their owners cannot be told by process id: the unpack runs in PID 2 of
/// a sandbox, in a PID namespace of its own. Best effort: what cannot be
/// read or removed stays.
#[cfg(feature = "tar")]
fn collect_abandoned_unpacks(cache: &Path, grace: std::time::Duration) {
    let Ok(entries) = fs::read_dir(cache) else { return };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(UNPACKING) {
            continue;
        }
        let path = entry.path();
        let Ok(dir) = fs::File::open(&path) else { continue };
        let old = dir.metadata().and_then(|m| m.modified()).is_ok_and(|t| t.elapsed().is_ok_and(|age| age >= grace));
        if old && rustix::fs::flock(&dir, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok() {
            tracing::debug!(dir = %path.display(), "removing an unpack that ended halfway");
            let _ = fs::remove_dir_all(&path);
        }
    }
}

#[cfg(feature = "tar")]
fn unpack_into(archive: &Path, dst: &Path) -> io::Result<()> {
    let file = io::BufReader::new(fs::File::open(archive)?);
    let name = archive.to_string_lossy();
    let reader: Box<dyn Read> = if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else if name.ends_with(".tar") {
        Box::new(file)
    } else if name.ends_with(".tar.zst") || name.ends_with(".tzst") {
        return Err(io::Error::new(io::ErrorKind::Unsupported, "zstd archives are not supported; use .tar or .tar.gz"));
    } else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "unknown archive type; the name must end in .tar, .tar.gz or .tgz",
        ));
    };
    let mut tar = tar::Archive::new(reader);
    tar.set_preserve_permissions(true);
    tar.set_preserve_ownerships(false);
    tar.set_unpack_xattrs(false);
    let mut count = 0usize;
    for entry in tar.entries()? {
        let mut entry = entry?;
        // Device nodes and fifos cannot be created without privileges on
        // the host; the sandbox's /dev is built separately anyway.
        if matches!(entry.header().entry_type(), tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo) {
            continue;
        }
        entry.unpack_in(dst)?;
        count += 1;
    }
    if count == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "the archive is empty"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_sources_resolve_against_the_crate_dir() {
        assert_eq!(absolute(Path::new("/crate"), Path::new("img")), PathBuf::from("/crate/img"));
        assert_eq!(absolute(Path::new("/crate"), Path::new("/abs")), PathBuf::from("/abs"));
    }

    #[test]
    fn destinations_must_be_absolute_and_plain() {
        assert!(checked_dst(Path::new("/ok/path")).is_ok());
        for bad in ["relative", "/", "/a/../b"] {
            let err = checked_dst(Path::new(bad)).unwrap_err();
            assert_eq!(err.step, "check_rootfs", "{bad}");
        }
    }

    #[test]
    fn missing_and_mistyped_sources_name_step_path_and_errno() {
        let err = resolve(&Rootfs::dir("/nonexistent/isolated-test"), Path::new("/")).unwrap_err();
        let chain = crate::error::ErrorChain::from_error(err.step, &err);
        assert_eq!(chain.message, "failed to use the image directory `/nonexistent/isolated-test`");
        assert!(chain.causes[0].starts_with("ENOENT"), "{chain}");
        let err = resolve(&Rootfs::dir("/etc/passwd"), Path::new("/")).unwrap_err();
        assert!(err.source.to_string().starts_with("ENOTDIR"), "{}", err.source);
    }

    #[test]
    fn detects_dynamic_and_static_executables() {
        let me = std::env::current_exe().unwrap();
        assert!(has_interpreter(&me).unwrap(), "the test binary is dynamically linked");
        assert!(has_interpreter(Path::new("/etc/passwd")).is_err());
    }

    #[cfg(not(feature = "tar"))]
    #[test]
    fn an_archive_root_without_the_tar_feature_fails_at_setup_naming_the_feature() {
        let rootfs = Rootfs { base: Base::Tar("root.tar.gz".into()), entries: Vec::new() };
        let err = resolve(&rootfs, Path::new("/crate")).unwrap_err();
        let chain = crate::error::ErrorChain::from_error(err.step, &err);
        assert_eq!(err.step, "unpack_tar");
        assert_eq!(chain.message, "failed to unpack `/crate/root.tar.gz`");
        assert!(chain.causes[0].contains(r#"features = ["tar"]"#), "{chain}");
    }

    #[cfg(feature = "tar")]
    #[test]
    fn only_abandoned_unpacks_are_collected() {
        let dir = tempfile::Builder::new().prefix("isolated-test-unit-").tempdir().unwrap();
        let cache = dir.path();
        let made = |name: &str, minutes_ago: i64| {
            let path = cache.join(name);
            fs::create_dir(&path).unwrap();
            fs::write(path.join("etc"), "half unpacked").unwrap();
            let then = rustix::fs::Timespec {
                tv_sec: rustix::time::clock_gettime(rustix::time::ClockId::Realtime).tv_sec - minutes_ago * 60,
                tv_nsec: 0,
            };
            let times = rustix::fs::Timestamps { last_access: then, last_modification: then };
            rustix::fs::utimensat(rustix::fs::CWD, &path, &times, rustix::fs::AtFlags::empty()).unwrap();
            path
        };
        let abandoned = made("unpacking-abandoned", 5);
        let going = made("unpacking-going", 5);
        let just_made = made("unpacking-just-made", 0);
        let unpacked = made("tar-0123", 5);
        let lock = fs::File::open(&going).unwrap();
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
        collect_abandoned_unpacks(cache, UNPACK_GRACE);
        assert!(!abandoned.exists(), "an old unlocked unpack is collected");
        assert!(going.exists(), "an unpack whose lock is held is kept");
        assert!(just_made.exists(), "an unpack not yet locked (younger than the grace) is kept");
        assert!(unpacked.exists(), "unpacked roots are kept");
        drop(lock);
        collect_abandoned_unpacks(cache, UNPACK_GRACE);
        assert!(!going.exists(), "once its owner is gone (the lock with it) it is collected");
    }

    #[cfg(feature = "tar")]
    #[test]
    fn corrupt_archives_fail_and_leave_no_cache_entry() {
        let dir = tempfile::Builder::new().prefix("isolated-test-unit-").tempdir().unwrap();
        let archive = dir.path().join("broken.tar.gz");
        fs::write(&archive, b"\x1f\x8b\x08\x00 definitely not gzip").unwrap();
        let cache = dir.path().join("cache");
        fs::create_dir(&cache).unwrap();
        let private = tempfile::Builder::new().tempdir_in(&cache).unwrap().keep();
        assert!(unpack_into(&archive, &private).is_err());
        let err = unpack_into(&dir.path().join("x.zip"), &private);
        assert!(err.is_err());
    }
}
