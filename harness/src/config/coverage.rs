//! Coverage (`cargo llvm-cov`, `-C instrument-coverage`): an instrumented
//! binary writes its counters when it exits, to the file `LLVM_PROFILE_FILE`
//! names. Written inside a sandbox, that file would land in the overlay and
//! be dropped with it. So where the variable is set, each sandbox gets a
//! staging directory of its own, bound writable (in the profile directory,
//! named `.isolated-test-profiles-*`), and its processes are told to write
//! there, with `%p` made unique (every sandbox's PID 2 is process 2); when
//! the sandbox is over, the profiles move to the directory the user named.
//! Nothing else of the host becomes writable. The zygote is off meanwhile:
//! a PID 2 forked from it writes no profile (the profile runtime's exit
//! hook is not in the process the zygote was forked from).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The variable the LLVM profile runtime reads.
pub(crate) const ENV_PROFILE_FILE: &str = "LLVM_PROFILE_FILE";

/// Whether this process is asked to write coverage profiles.
pub(crate) fn wanted() -> bool {
    std::env::var_os(ENV_PROFILE_FILE).is_some_and(|v| !v.is_empty())
}

/// The profiles of one sandbox, from its start to its end.
#[derive(Debug)]
pub(crate) struct Profiles {
    /// Where the user wants them (the directory of `LLVM_PROFILE_FILE`).
    dir: PathBuf,
    /// Where the sandbox writes them, bound writable at the same path.
    staging: tempfile::TempDir,
    /// `LLVM_PROFILE_FILE` inside the sandbox.
    pattern: PathBuf,
    /// What stands for `%p`, and makes names unique when moved.
    token: String,
}

impl Profiles {
    /// The staging directory of a new sandbox when `LLVM_PROFILE_FILE` is
    /// set; `None` when it is not, or when the directory cannot be made
    /// (the coverage of that sandbox is then lost, as it would be without
    /// this; said under `ISOLATED_TEST_LOG=debug`).
    pub(crate) fn prepare() -> Option<Self> {
        Self::prepare_for(std::env::var_os(ENV_PROFILE_FILE))
    }

    /// [`Profiles::prepare`] for this value of `LLVM_PROFILE_FILE`.
    fn prepare_for(value: Option<OsString>) -> Option<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let file = PathBuf::from(value.filter(|v| !v.is_empty())?);
        let name = file.file_name()?.to_str()?.to_owned();
        // Relative to the working directory, as the runtime takes it.
        let dir = std::env::current_dir().ok()?.join(file.parent().unwrap_or(Path::new("")));
        let staged = std::fs::create_dir_all(&dir)
            .and_then(|()| tempfile::Builder::new().prefix(".isolated-test-profiles-").tempdir_in(&dir));
        let staging = match staged {
            Ok(staging) => staging,
            Err(err) => {
                tracing::debug!(dir = %dir.display(), %err, "coverage profiles of the sandbox cannot be kept");
                return None;
            }
        };
        let token = format!("{}.{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let pattern = staging.path().join(name.replace("%p", &token));
        Some(Self { dir, staging, pattern, token })
    }

    /// The directory to bind writable into the sandbox, at the same path.
    pub(crate) fn staging(&self) -> &Path {
        self.staging.path()
    }

    /// `LLVM_PROFILE_FILE` for the sandbox's processes.
    pub(crate) fn env(&self) -> (OsString, OsString) {
        (ENV_PROFILE_FILE.into(), self.pattern.clone().into_os_string())
    }
}

impl Drop for Profiles {
    /// Moves what the sandbox wrote to the directory the user named (a
    /// name taken already gets the sandbox's token before its extension),
    /// then removes the staging directory.
    ///
    /// The sandbox could put anything there, so only regular files move,
    /// and each loses its set-user-ID, set-group-ID and execute bits first:
    /// as host root the sandbox's root owns its files on the host, and a
    /// set-user-ID root program left in the user's directory would outlive
    /// the sandbox. Links, directories and the rest go with the staging
    /// directory, never followed.
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        let Ok(entries) = std::fs::read_dir(self.staging.path()) else { return };
        for entry in entries.flatten() {
            // `DirEntry::metadata` does not follow a symbolic link.
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                tracing::debug!(entry = %entry.path().display(), "not a regular file: not kept as a coverage profile");
                continue;
            }
            let mode = meta.permissions().mode() & 0o666;
            if let Err(err) = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode)) {
                tracing::debug!(entry = %entry.path().display(), %err, "a coverage profile's mode could not be reduced");
                continue;
            }
            let name = entry.file_name();
            let mut to = self.dir.join(&name);
            if to.exists() {
                let name = Path::new(&name);
                let stem = name.file_stem().unwrap_or_default().to_string_lossy();
                let ext = name.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
                to = self.dir.join(format!("{stem}.{}{ext}", self.token));
            }
            if let Err(err) = std::fs::rename(entry.path(), &to) {
                tracing::debug!(from = %entry.path().display(), to = %to.display(), %err, "a coverage profile could not be moved");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_move_to_the_named_directory_with_unique_names() {
        let root = tempfile::Builder::new().prefix("isolated-test-coverage-").tempdir().unwrap();
        let dir = root.path().join("made/if/missing");
        let profiles = Profiles::prepare_for(Some(dir.join("cov-%p-%m.profraw").into())).unwrap();
        assert!(profiles.staging().starts_with(&dir), "{}", profiles.staging().display());
        let (key, pattern) = profiles.env();
        assert_eq!(key, ENV_PROFILE_FILE);
        let pattern = PathBuf::from(pattern);
        assert_eq!(pattern.parent(), Some(profiles.staging()));
        let written = pattern.to_str().unwrap().replace("%m", "123_0");
        assert!(!written.contains("%p") && written.contains(&format!("cov-{}.", std::process::id())), "{written}");
        std::fs::write(&written, "counters").unwrap();
        std::fs::write(dir.join("taken.profraw"), "older").unwrap();
        std::fs::write(profiles.staging().join("taken.profraw"), "newer").unwrap();
        let staging = profiles.staging().to_owned();
        let token = profiles.token.clone();
        drop(profiles);
        assert!(!staging.exists());
        let moved = dir.join(Path::new(&written).file_name().unwrap());
        assert_eq!(std::fs::read_to_string(moved).unwrap(), "counters");
        assert_eq!(std::fs::read_to_string(dir.join("taken.profraw")).unwrap(), "older");
        assert_eq!(std::fs::read_to_string(dir.join(format!("taken.{token}.profraw"))).unwrap(), "newer");
    }

    #[test]
    fn only_plain_files_move_and_lose_their_special_bits() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::Builder::new().prefix("isolated-test-coverage-").tempdir().unwrap();
        let outside = root.path().join("outside");
        std::fs::write(&outside, "host file").unwrap();
        let dir = root.path().join("profiles");
        let profiles = Profiles::prepare_for(Some(dir.join("%p.profraw").into())).unwrap();
        let staging = profiles.staging().to_owned();
        // What a sandbox could leave there besides its profiles.
        std::fs::write(staging.join("setuid.profraw"), "program").unwrap();
        std::fs::set_permissions(staging.join("setuid.profraw"), std::fs::Permissions::from_mode(0o6755)).unwrap();
        std::os::unix::fs::symlink(&outside, staging.join("link.profraw")).unwrap();
        std::fs::create_dir(staging.join("subdir.profraw")).unwrap();
        std::fs::write(staging.join("subdir.profraw/inner"), "x").unwrap();
        drop(profiles);
        assert!(!staging.exists());
        let kept = std::fs::symlink_metadata(dir.join("setuid.profraw")).unwrap();
        assert_eq!(kept.permissions().mode() & 0o7777, 0o644);
        for gone in ["link.profraw", "subdir.profraw"] {
            assert!(std::fs::symlink_metadata(dir.join(gone)).is_err(), "{gone} was moved");
        }
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "host file");
    }
}
