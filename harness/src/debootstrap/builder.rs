//! A distribution root made by debootstrap, built once into the cache and
//! reused by every test and run after it.
//!
//! The cache entry is `debootstrap/<suite>-<variant>-<arch>[-<packages>]/`
//! in [`crate::cache_dir`], holding the root (`root/`) and a record of how
//! it was made (`image.json`). Concurrent callers (tests of one binary,
//! several test binaries, `isolated-test run`) take an exclusive `flock` on
//! `<key>.lock`; the first builds into a private `.building-<key>-*`
//! directory and renames it into place, the others wait and then find it
//! built. A build that was killed leaves only its private directory, which
//! the next builder removes. debootstrap runs as PID 1 of private PID and
//! mount namespaces (`unshare`), so the `/proc` it mounts in the new root
//! never shows on the host and nothing it starts outlives it, and it dies
//! with the thread that started it.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::mirror::{self, MirrorChoice};
use crate::config::ENV_MIRROR;

/// Where debootstrap keeps its suite scripts unless `DEBOOTSTRAP_DIR` says.
const DEFAULT_DEBOOTSTRAP_DIR: &str = "/usr/share/debootstrap";

/// How long one build may take before it is killed.
const BUILD_DEADLINE: Duration = Duration::from_secs(30 * 60);

/// Lines of debootstrap's log shown when it fails.
const LOG_TAIL_LINES: usize = 15;

/// A root filesystem of a Debian-like distribution made by
/// [`debootstrap`](https://wiki.debian.org/Debootstrap), built once into
/// the cache and then used as an image layer (see [`crate::Rootfs::debootstrap`]).
///
/// ```no_run
/// use isolated_test::{Debootstrap, Rootfs};
///
/// // Debian 12, `minbase` (apt, dpkg, bash, coreutils; about 200 MB), from
/// // DEBOOTSTRAP_MIRROR, the host's apt sources or deb.debian.org.
/// fn debian() -> Rootfs {
///     Rootfs::debootstrap("bookworm")
/// }
///
/// // The same with more packages, from a given mirror.
/// fn with_procps() -> Rootfs {
///     Rootfs::debootstrap(Debootstrap::new("bookworm").include(["procps"]).mirror("http://deb.debian.org/debian"))
/// }
///
/// #[isolated_test::test(rootfs = debian)]
/// fn runs_in_debian() {
///     assert!(std::fs::read_to_string("/etc/debian_version").unwrap().starts_with("12."));
/// }
/// ```
///
/// Building needs root (debootstrap makes device nodes and runs the
/// packages' scripts in a chroot), the `debootstrap` package, a reachable
/// mirror and about a minute; using a built root needs none of these, so
/// a root built by root serves rootless runs too (read-only, as every
/// image layer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Debootstrap {
    suite: String,
    variant: String,
    include: Vec<String>,
    mirror: Option<String>,
    keyring: Option<PathBuf>,
}

impl From<&str> for Debootstrap {
    fn from(suite: &str) -> Self {
        Self::new(suite)
    }
}

impl From<String> for Debootstrap {
    fn from(suite: String) -> Self {
        Self::new(suite)
    }
}

/// Why a debootstrap root could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DebootstrapError {
    /// A suite, variant or package name that cannot be right.
    #[error("`{value}` is not a valid {what} for debootstrap: {why}")]
    Invalid {
        /// `suite`, `variant` or `package name`.
        what: &'static str,
        /// What was given.
        value: String,
        /// What is expected.
        why: &'static str,
    },
    /// A program the build needs is not installed.
    #[error(
        "{program} is not installed (looked for {looked}); install the package {package} \
         (Debian/Ubuntu: sudo apt-get install {package})"
    )]
    NotInstalled {
        /// The program.
        program: &'static str,
        /// The package that has it.
        package: &'static str,
        /// Where it was looked for.
        looked: String,
    },
    /// debootstrap has no script for the suite.
    #[error(
        "debootstrap does not know the suite `{suite}` (no script `{}`); its suites are the names in `{}` \
         (bookworm, trixie, sid, jammy, noble, ...)",
        script.display(), script.parent().unwrap_or(Path::new("/")).display()
    )]
    UnknownSuite {
        /// The suite asked for.
        suite: String,
        /// The script that is missing.
        script: PathBuf,
    },
    /// The root is not built yet and this process cannot build it.
    #[error(
        "the `{suite}` root is not built yet (no `{}`), and building it needs root (debootstrap makes device nodes \
         and runs package scripts in a chroot; this process runs as uid {euid}): build it once as root with the same \
         cache directory, e.g. `sudo env {}={} isolated-test run --debootstrap {suite} -- true`; rootless runs then \
         use it read-only",
        entry.display(), crate::ENV_CACHE_DIR, cache.display()
    )]
    NeedsRoot {
        /// The suite.
        suite: String,
        /// The cache entry that is missing.
        entry: PathBuf,
        /// The cache directory.
        cache: PathBuf,
        /// This process's effective uid.
        euid: u32,
    },
    /// The keyring debootstrap checks the suite's signatures with is missing.
    #[error(
        "debootstrap checks `{suite}` against the keyring `{}`, which is not installed: {fix}",
        keyring.display()
    )]
    MissingKeyring {
        /// The suite.
        suite: String,
        /// The keyring its script names.
        keyring: PathBuf,
        /// What to install, or how to give another keyring.
        fix: String,
    },
    /// Reading or writing the cache failed.
    #[error("failed to {what} `{}`", path.display())]
    Cache {
        /// What was done.
        what: &'static str,
        /// On what.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// debootstrap ran and failed, or ran out of time.
    #[error("debootstrap {suite} failed ({status}) with the mirror {mirror}; its log is `{}`, ending:\n{tail}", log.display())]
    Failed {
        /// The suite.
        suite: String,
        /// The exit status, or the deadline.
        status: String,
        /// The mirror, in words.
        mirror: String,
        /// The whole log, kept next to the cache entry.
        log: PathBuf,
        /// Its last lines.
        tail: String,
    },
}

fn cache_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> DebootstrapError + 'a {
    move |source| DebootstrapError::Cache { what, path: path.to_path_buf(), source }
}

/// What `image.json` records about a built root.
#[derive(Debug, Clone, Serialize)]
struct Record {
    suite: String,
    variant: String,
    arch: String,
    include: Vec<String>,
    mirror: String,
    debootstrap: String,
    built_unix_seconds: u64,
    build_seconds: u64,
}

impl Debootstrap {
    /// A `minbase` root of `suite` (`bookworm`, `trixie`, `sid`; `jammy` or
    /// `noble` with an Ubuntu mirror and keyring).
    pub fn new(suite: impl Into<String>) -> Self {
        Self { suite: suite.into(), variant: "minbase".into(), include: Vec::new(), mirror: None, keyring: None }
    }

    /// debootstrap's variant: `minbase` (the default: essential packages
    /// and apt), `buildd` (plus build-essential) or `standard` (all
    /// `required` and `important` packages, debootstrap's own default).
    pub fn variant(mut self, variant: impl Into<String>) -> Self {
        self.variant = variant.into();
        self
    }

    /// More packages to install (debootstrap's `--include`); they are part
    /// of the cache key, so each set is its own image.
    pub fn include<S: Into<String>>(mut self, packages: impl IntoIterator<Item = S>) -> Self {
        self.include.extend(packages.into_iter().map(Into::into));
        self.include.sort();
        self.include.dedup();
        self
    }

    /// The mirror to build from, instead of `DEBOOTSTRAP_MIRROR`, the
    /// host's apt sources or the default. Not part of the cache key: a
    /// root built from one mirror is reused whatever the mirror.
    pub fn mirror(mut self, url: impl Into<String>) -> Self {
        self.mirror = Some(url.into());
        self
    }

    /// The keyring to check the suite's signatures with, instead of the
    /// one debootstrap's script names (`--keyring`).
    pub fn keyring(mut self, path: impl Into<PathBuf>) -> Self {
        self.keyring = Some(path.into());
        self
    }

    /// The suite.
    pub fn suite(&self) -> &str {
        &self.suite
    }

    /// The built root, if it is in the cache; never builds.
    ///
    /// # Errors
    /// The request is invalid or no cache directory can be found.
    pub fn cached(&self) -> Result<Option<PathBuf>, DebootstrapError> {
        self.validate()?;
        let entry = self.entry()?;
        Ok(is_built(&entry).then(|| entry.join("root")))
    }

    /// The root directory, built first if the cache does not have it yet
    /// (about a minute and 200 MB for `minbase`; a line on stderr says so).
    /// Safe to call from many tests and processes at once: one builds, the
    /// others wait for it.
    ///
    /// # Errors
    /// debootstrap (or `unshare`) is not installed, the suite is unknown,
    /// its keyring is missing, this process is not root and the root is not
    /// built yet, the cache cannot be written, or debootstrap failed (the
    /// error ends with its log).
    pub fn build(&self) -> Result<PathBuf, DebootstrapError> {
        self.validate()?;
        let entry = self.entry()?;
        if is_built(&entry) {
            return Ok(entry.join("root"));
        }
        let program = find_program("debootstrap", "debootstrap")?;
        let script = self.script()?;
        let euid = rustix::process::geteuid().as_raw();
        if euid != 0 {
            let cache = entry.ancestors().nth(2).unwrap_or(Path::new("/")).to_path_buf();
            return Err(DebootstrapError::NeedsRoot { suite: self.suite.clone(), entry, cache, euid });
        }
        let keyring = match &self.keyring {
            Some(given) => Some((given.clone(), "the path given with `keyring` does not exist".to_owned())),
            None => script_setting(&script, "keyring").map(|named| {
                let fix = keyring_fix(&named);
                (named, fix)
            }),
        };
        if let Some((keyring, fix)) = keyring.filter(|(path, _)| !path.exists()) {
            return Err(DebootstrapError::MissingKeyring { suite: self.suite.clone(), keyring, fix });
        }
        let unshare = find_program("unshare", "util-linux")?;
        let dir = entry.parent().expect("the entry is inside the cache");
        let built = build_once(dir, &self.key(), |building| {
            let family = script_family(&script);
            let sources = mirror::read_sources(Path::new("/etc/apt"));
            let scripts = script.parent().map(Path::to_path_buf).unwrap_or_default();
            let choice = mirror::choose(
                self.mirror.as_deref(),
                std::env::var(ENV_MIRROR).ok().as_deref(),
                &sources,
                &family,
                |suite| valid_suite(suite).then(|| script_family(&scripts.join(suite))).filter(|f| !f.is_empty()),
            );
            self.run_debootstrap(&program, &unshare, building, &entry, &choice)
        })?;
        Ok(built.join("root"))
    }

    /// Runs debootstrap into `building/root`, with its log beside it, and
    /// records how in `building/image.json`; `entry` is where the result
    /// will be (for messages).
    fn run_debootstrap(
        &self,
        program: &Path,
        unshare: &Path,
        building: &Path,
        entry: &Path,
        choice: &MirrorChoice,
    ) -> Result<(), DebootstrapError> {
        let key = self.key();
        let dir = entry.parent().expect("the entry is inside the cache");
        let root = building.join("root");
        let log_path = building.join("debootstrap.log");
        let log = fs::File::create(&log_path).map_err(cache_err("create", &log_path))?;
        let mut flags: Vec<String> = Vec::new();
        if self.variant != "standard" {
            flags.push(format!("--variant={}", self.variant));
        }
        if let Some(arch) = debian_arch() {
            flags.push(format!("--arch={arch}"));
        }
        if !self.include.is_empty() {
            flags.push(format!("--include={}", self.include.join(",")));
        }
        if let Some(keyring) = &self.keyring {
            flags.push(format!("--keyring={}", keyring.display()));
        }
        say(&format!(
            "building the `{}` root with debootstrap {} from {} (once: about a minute; cached in `{}`)",
            self.suite,
            flags.join(" "),
            choice.describe(),
            entry.display()
        ));
        // A missing keyring is an error, never an unchecked download.
        let mut args = flags;
        args.extend(["--force-check-gpg".to_owned(), self.suite.clone(), root.display().to_string()]);
        args.extend(choice.url().map(str::to_owned));
        let started = Instant::now();
        let mut command = Command::new(unshare);
        // debootstrap as PID 1 of private PID and mount namespaces: its
        // mounts (the new root's /proc, /sys) stay there, and everything it
        // started dies with it (--kill-child: when unshare dies, killed in
        // turn with this thread).
        command
            .args(["--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", "--"])
            .arg(program)
            .args(&args)
            .env("LC_ALL", "C.UTF-8")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(cache_err("open", &log_path))?)
            .stderr(log);
        let mut child = crate::sys::process::killed_with_parent(&mut command)
            .spawn()
            .map_err(cache_err("start debootstrap through", unshare))?;
        let status = loop {
            match child.try_wait().map_err(cache_err("wait for debootstrap through", unshare))? {
                Some(status) => break Ok(status),
                None if started.elapsed() > BUILD_DEADLINE => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break Err(format!("still running after {} minutes, killed", BUILD_DEADLINE.as_secs() / 60));
                }
                None => std::thread::sleep(Duration::from_millis(200)),
            }
        };
        let failed = match status {
            Ok(status) if status.success() => None,
            Ok(status) => Some(status.to_string()),
            Err(why) => Some(why),
        };
        if let Some(status) = failed {
            let kept = dir.join(format!("{key}.failed.log"));
            let _ = fs::copy(&log_path, &kept);
            return Err(DebootstrapError::Failed {
                suite: self.suite.clone(),
                status,
                mirror: choice.describe(),
                tail: log_tail(&log_path),
                log: kept,
            });
        }
        let _ = fs::remove_file(dir.join(format!("{key}.failed.log")));
        let record = Record {
            suite: self.suite.clone(),
            variant: self.variant.clone(),
            arch: debian_arch().unwrap_or("native").into(),
            include: self.include.clone(),
            mirror: choice.url().unwrap_or("debootstrap's default").into(),
            debootstrap: debootstrap_version(program),
            built_unix_seconds: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            build_seconds: started.elapsed().as_secs(),
        };
        let json = serde_json::to_string_pretty(&record).expect("the record serialises");
        let record_path = building.join("image.json");
        fs::write(&record_path, json + "\n").map_err(cache_err("write", &record_path))?;
        // Readable by every user, so rootless runs can use the root as a
        // lower layer.
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).map_err(cache_err("make readable", &root))?;
        say(&format!("built the `{}` root in {}s", self.suite, started.elapsed().as_secs()));
        Ok(())
    }

    fn validate(&self) -> Result<(), DebootstrapError> {
        if !valid_suite(&self.suite) {
            return Err(DebootstrapError::Invalid {
                what: "suite",
                value: self.suite.clone(),
                why: "a release name such as `bookworm` (letters, digits, `.`, `-`, `_`)",
            });
        }
        if !["minbase", "buildd", "standard"].contains(&self.variant.as_str()) {
            return Err(DebootstrapError::Invalid {
                what: "variant",
                value: self.variant.clone(),
                why: "one of `minbase`, `buildd`, `standard`",
            });
        }
        if let Some(bad) = self.include.iter().find(|p| !valid_package(p)) {
            return Err(DebootstrapError::Invalid {
                what: "package name",
                value: bad.clone(),
                why: "a Debian package name (lowercase letters, digits, `+`, `-`, `.`)",
            });
        }
        Ok(())
    }

    /// The cache key: what makes two roots differ (the mirror does not).
    fn key(&self) -> String {
        let mut key = format!("{}-{}-{}", self.suite, self.variant, debian_arch().unwrap_or("native"));
        if !self.include.is_empty() {
            key.push_str(&format!("-{:012x}", fnv1a(self.include.join(",").as_bytes()) >> 16));
        }
        key
    }

    fn entry(&self) -> Result<PathBuf, DebootstrapError> {
        let cache = crate::cache_dir().map_err(cache_err("find", Path::new("the cache directory")))?;
        Ok(cache.join("debootstrap").join(self.key()))
    }

    /// debootstrap's script for the suite.
    fn script(&self) -> Result<PathBuf, DebootstrapError> {
        let dir = std::env::var_os(crate::config::ENV_DEBOOTSTRAP_DIR)
            .map_or_else(|| PathBuf::from(DEFAULT_DEBOOTSTRAP_DIR), PathBuf::from);
        let script = dir.join("scripts").join(&self.suite);
        if script.is_file() {
            Ok(script)
        } else {
            Err(DebootstrapError::UnknownSuite { suite: self.suite.clone(), script })
        }
    }
}

fn valid_suite(suite: &str) -> bool {
    !suite.is_empty()
        && !suite.starts_with(['.', '-'])
        && suite.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

fn valid_package(name: &str) -> bool {
    name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.'))
}

/// Whether the cache entry is complete: `root/` and `image.json`, written
/// last, are both there.
fn is_built(entry: &Path) -> bool {
    entry.join("root").is_dir() && entry.join("image.json").is_file()
}

/// Makes the cache entry `dir/key` once and returns it. Under the build
/// lock of `key`: if another process built it meanwhile, that one is
/// used; else what killed builds left is removed, `build` fills a private
/// directory (`root/` and `image.json`), which is made readable by every
/// user and renamed into place. A failed build leaves nothing behind.
fn build_once(
    dir: &Path,
    key: &str,
    build: impl FnOnce(&Path) -> Result<(), DebootstrapError>,
) -> Result<PathBuf, DebootstrapError> {
    let entry = dir.join(key);
    if is_built(&entry) {
        return Ok(entry);
    }
    fs::create_dir_all(dir).map_err(cache_err("create the cache directory", dir))?;
    let _lock = lock(dir, key)?;
    if is_built(&entry) {
        return Ok(entry);
    }
    remove_stale(dir, key);
    let building = tempfile::Builder::new()
        .prefix(&format!(".building-{key}-"))
        .tempdir_in(dir)
        .map_err(cache_err("make a private build directory in", dir))?;
    build(building.path())?;
    // The private directory was made 0700.
    fs::set_permissions(building.path(), fs::Permissions::from_mode(0o755))
        .map_err(cache_err("make readable", building.path()))?;
    let building = building.keep();
    if let Err(e) = fs::rename(&building, &entry) {
        let _ = fs::remove_dir_all(&building);
        return Err(cache_err("move the built root into place at", &entry)(e));
    }
    Ok(entry)
}

/// The name of the script a suite's script is (`bookworm` -> `sid`), or
/// empty when there is none.
fn script_family(script: &Path) -> String {
    script.canonicalize().ok().and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())).unwrap_or_default()
}

/// A one-word setting of a debootstrap script (`keyring /usr/share/...`).
fn script_setting(script: &Path, name: &str) -> Option<PathBuf> {
    let text = fs::read_to_string(script).ok()?;
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some(name)).then(|| words.next().map(PathBuf::from)).flatten()
    })
}

/// What to install for a missing keyring.
fn keyring_fix(keyring: &Path) -> String {
    let name = keyring.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let package = match name.as_str() {
        "debian-archive-keyring.gpg" => Some("debian-archive-keyring"),
        "ubuntu-archive-keyring.gpg" => Some("ubuntu-keyring"),
        "kali-archive-keyring.gpg" => Some("kali-archive-keyring"),
        _ => None,
    };
    let give = "or give one with `Debootstrap::keyring`";
    match package {
        Some(p) => format!("install the package {p} (sudo apt-get install {p}; Debian 13 and Ubuntu have it), {give}"),
        None => format!("install the package that ships it, {give}"),
    }
}

/// Debian's name for this machine's architecture (`amd64`), as debootstrap
/// would pick it on a Debian host.
fn debian_arch() -> Option<&'static str> {
    Some(match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "i386",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        "loongarch64" => "loong64",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64el",
        "arm" => "armhf",
        _ => return None,
    })
}

fn find_program(program: &'static str, package: &'static str) -> Result<PathBuf, DebootstrapError> {
    let mut dirs: Vec<PathBuf> = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from).to_vec();
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.iter().map(|d| d.join(program)).find(|p| p.is_file()).ok_or_else(|| DebootstrapError::NotInstalled {
        program,
        package,
        looked: "/usr/sbin, /usr/bin, /sbin, /bin and PATH".into(),
    })
}

fn debootstrap_version(program: &Path) -> String {
    Command::new(program)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// Takes the build lock of `key` in `dir`, waiting (and saying so) while
/// another process holds it. Released when the file is dropped.
fn lock(dir: &Path, key: &str) -> Result<fs::File, DebootstrapError> {
    use rustix::fs::{FlockOperation, flock};
    let path = dir.join(format!("{key}.lock"));
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(cache_err("open the build lock", &path))?;
    if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
        say(&format!("waiting for another build of the same root (lock `{}`)", path.display()));
        flock(&file, FlockOperation::LockExclusive).map_err(|e| cache_err("lock", &path)(e.into()))?;
    }
    Ok(file)
}

/// Removes what builds of `key` that were killed left (their private
/// directories); the caller holds the lock, so none is running.
fn remove_stale(dir: &Path, key: &str) {
    let prefix = format!(".building-{key}-");
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn log_tail(path: &Path) -> String {
    let mut text = String::new();
    let _ = fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
}

/// FNV-1a (64 bits): a cache key must come out the same from every build of
/// the harness, which std's `DefaultHasher` does not promise across Rust
/// releases, and needs no cryptographic hash (nor its crates).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// A line straight to stderr: a test's build takes a minute, and libtest's
/// capture must not hide why.
fn say(line: &str) {
    let _ = writeln!(io::stderr(), "isolated-test: {line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_suite_variant_arch_and_packages_but_not_the_mirror() {
        let arch = debian_arch().unwrap_or("native");
        assert_eq!(Debootstrap::new("bookworm").key(), format!("bookworm-minbase-{arch}"));
        let a = Debootstrap::new("bookworm").include(["procps", "curl"]);
        let b = Debootstrap::new("bookworm").include(["curl"]).include(["procps", "curl"]).mirror("http://x/debian");
        assert_eq!(a.key(), b.key(), "package order, duplicates and the mirror make no other image");
        assert!(a.key().starts_with(&format!("bookworm-minbase-{arch}-")));
        assert_ne!(a.key(), Debootstrap::new("bookworm").include(["procps"]).key());
        assert_eq!(Debootstrap::new("sid").variant("buildd").key(), format!("sid-buildd-{arch}"));
    }

    #[test]
    fn the_package_hash_of_a_key_never_changes() {
        // FNV-1a's published test vectors: a changed hash would orphan every cached root.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
        let arch = debian_arch().unwrap_or("native");
        assert_eq!(
            Debootstrap::new("bookworm").include(["procps"]).key(),
            format!("bookworm-minbase-{arch}-9e164be669d1")
        );
    }

    #[test]
    fn bad_names_are_refused_before_anything_runs() {
        for (bad, what) in [
            (Debootstrap::new("../etc"), "suite"),
            (Debootstrap::new(""), "suite"),
            (Debootstrap::new("bookworm").variant("fakechroot"), "variant"),
            (Debootstrap::new("bookworm").include(["Bad Name"]), "package name"),
            (Debootstrap::new("bookworm").include(["x;rm"]), "package name"),
        ] {
            match bad.build() {
                Err(DebootstrapError::Invalid { what: w, .. }) => assert_eq!(w, what),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        assert!(valid_package("libc6") && valid_package("g++") && valid_package("python3.11"));
    }

    #[test]
    fn an_unknown_suite_names_the_script_it_lacks() {
        let err = Debootstrap::new("no-such-suite-isolated-test").script().unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("debootstrap does not know the suite `no-such-suite-isolated-test`"), "{text}");
        assert!(text.contains("/scripts/no-such-suite-isolated-test"), "{text}");
    }

    #[test]
    fn script_settings_and_keyring_fixes() {
        let dir = tempfile::Builder::new().prefix("isolated-test-unit-").tempdir().unwrap();
        let script = dir.path().join("gutsy");
        fs::write(&script, "mirror_style release\ndownload_style apt\nfinddebs_style from-indices\nkeyring /usr/share/keyrings/ubuntu-archive-keyring.gpg\n").unwrap();
        let keyring = script_setting(&script, "keyring").unwrap();
        assert_eq!(keyring, Path::new("/usr/share/keyrings/ubuntu-archive-keyring.gpg"));
        assert_eq!(script_setting(&script, "default_mirror"), None);
        assert!(keyring_fix(&keyring).starts_with("install the package ubuntu-keyring"), "{}", keyring_fix(&keyring));
        std::os::unix::fs::symlink("gutsy", dir.path().join("noble")).unwrap();
        assert_eq!(script_family(&dir.path().join("noble")), "gutsy");
        assert_eq!(script_family(&dir.path().join("missing")), "");
    }

    #[test]
    fn many_callers_at_once_build_once_and_all_get_the_entry() {
        let dir = tempfile::Builder::new().prefix("isolated-test-unit-").tempdir().unwrap();
        let cache = dir.path().join("cache");
        // What a build that was killed left behind.
        fs::create_dir_all(cache.join(".building-k-stale/root")).unwrap();
        let builds = std::sync::atomic::AtomicUsize::new(0);
        let entries: Vec<PathBuf> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        build_once(&cache, "k", |building| {
                            builds.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            // Long enough for the others to queue on the lock.
                            std::thread::sleep(Duration::from_millis(200));
                            fs::create_dir(building.join("root")).unwrap();
                            fs::write(building.join("root/file"), "x").unwrap();
                            fs::write(building.join("image.json"), "{}").unwrap();
                            Ok(())
                        })
                        .unwrap()
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        assert_eq!(builds.into_inner(), 1, "built more than once");
        assert!(entries.iter().all(|e| *e == cache.join("k")), "{entries:?}");
        assert_eq!(fs::read_to_string(cache.join("k/root/file")).unwrap(), "x");
        let mode = fs::metadata(cache.join("k")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o755, "readable by every user");
        let left: Vec<String> =
            fs::read_dir(&cache).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(left.iter().filter(|n| n.starts_with(".building-")).count(), 0, "{left:?}");
    }

    #[test]
    fn a_failed_build_leaves_nothing_and_the_next_one_builds() {
        let dir = tempfile::Builder::new().prefix("isolated-test-unit-").tempdir().unwrap();
        let cache = dir.path().join("cache");
        let failed = build_once(&cache, "k", |building| {
            fs::create_dir(building.join("root")).unwrap();
            Err(cache_err("pretend to fail in", building)(io::Error::other("no mirror")))
        });
        assert!(matches!(failed, Err(DebootstrapError::Cache { .. })), "{failed:?}");
        let left: Vec<_> = fs::read_dir(&cache).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["k.lock"], "only the lock file stays");
        let built = build_once(&cache, "k", |building| {
            fs::create_dir(building.join("root")).unwrap();
            fs::write(building.join("image.json"), "{}").unwrap();
            Ok(())
        });
        assert_eq!(built.unwrap(), cache.join("k"));
    }

    #[test]
    fn the_log_tail_is_the_last_lines_indented() {
        let dir = tempfile::Builder::new().prefix("isolated-test-unit-").tempdir().unwrap();
        let log = dir.path().join("log");
        fs::write(&log, (1..=40).map(|i| format!("line {i}\n")).collect::<String>()).unwrap();
        let tail = log_tail(&log);
        assert_eq!(tail.lines().count(), LOG_TAIL_LINES);
        assert!(tail.starts_with("  line 26\n") && tail.ends_with("  line 40"), "{tail}");
    }
}
