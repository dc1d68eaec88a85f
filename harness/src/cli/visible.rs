//! The user's files named on `run`'s command line stay visible: `/tmp`,
//! `/var/tmp`, `/run` and `/dev/shm` are a fresh tmpfs in the sandbox, so
//! `isolated-test run -- dpkg -i /var/tmp/x.deb` would point at nothing.
//! Every argument that names an existing host file or directory below one
//! of them (the whole argument, or what follows the first `=` of
//! `--file=PATH` and `VAR=PATH`; relative paths from the working
//! directory) is bound read-only at the same path, and `run` says so on
//! stderr; `--no-bind-args` turns this off.
//!
//! Sockets are never bound this way, nor directories holding one (a
//! socket bound in reaches the host's service: `/tmp/.X11-unix`, an
//! ssh-agent's directory): `run` refuses to start and says how to bind it
//! on purpose. So are fifos and devices.

use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::sandbox::plan::SCRATCH;

/// Entries of a directory looked at for sockets before it is bound.
pub(crate) const WALK_LIMIT: usize = 10_000;

/// What a host path is, as far as binding it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A regular file.
    File,
    /// A directory without sockets (within [`WALK_LIMIT`] entries).
    Dir,
    /// A directory holding this socket.
    DirWithSocket(PathBuf),
    /// A directory with more entries than [`WALK_LIMIT`].
    DirTooLarge,
    /// A socket, fifo or device.
    Special(&'static str),
}

/// What to do about one argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    /// Bind the host path read-only at the same path.
    Bind(PathBuf),
    /// Do not start: the path cannot be bound safely; why.
    Refuse(PathBuf, String),
    /// A relative path to a host file that the command, starting in `/` of
    /// an image root, will not find there.
    Relative { arg: String, path: PathBuf },
}

/// `path` with `.` and `..` resolved without touching the filesystem.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// The scratch directory `path` lies strictly below, if any.
fn scratch_of(path: &Path) -> Option<&'static str> {
    SCRATCH.iter().copied().find(|dir| path.starts_with(dir) && path != Path::new(dir))
}

/// The arguments of `command` (program included) that name host paths the
/// sandbox would hide. `cwd` is the caller's working directory; `visible`
/// are the host paths the sandbox shows anyway (on the host's files: the
/// working directory and this binary's, kept even below `/tmp`; binds the
/// user gave); `host_root` says whether the command starts in `cwd` (the
/// host's files) or in `/` (an image); `kind_of` says what a host path is,
/// `None` when it does not exist.
pub(crate) fn hidden_arguments(
    command: &[String],
    cwd: &Path,
    visible: &[PathBuf],
    host_root: bool,
    kind_of: impl Fn(&Path) -> Option<Kind>,
) -> Vec<Found> {
    let mut found: Vec<Found> = Vec::new();
    let mut bound: Vec<PathBuf> = Vec::new();
    for (i, arg) in command.iter().enumerate() {
        let candidates = std::iter::once(arg.as_str()).chain(arg.split_once('=').map(|(_, value)| value));
        // A program name without a slash is looked up in PATH, not here.
        let is_name = |c: &&str| !c.is_empty() && (i > 0 || c.contains('/'));
        for candidate in candidates.filter(is_name) {
            let relative = !candidate.starts_with('/');
            let path = normalize(&cwd.join(candidate));
            let Some(kind) = kind_of(&path) else { continue };
            if relative && !host_root {
                found.push(Found::Relative { arg: candidate.to_owned(), path: path.clone() });
            }
            if scratch_of(&path).is_none() {
                continue;
            }
            if visible.iter().chain(&bound).any(|v| path.starts_with(v)) {
                continue;
            }
            let refuse = |why: String| Found::Refuse(path.clone(), why);
            let item = match kind {
                Kind::File | Kind::Dir => {
                    // A directory bound later covers what was bound below it.
                    found.retain(|f| !matches!(f, Found::Bind(p) if p.starts_with(&path)));
                    bound.push(path.clone());
                    Found::Bind(path)
                }
                Kind::DirWithSocket(socket) => refuse(format!(
                    "it holds a socket (`{}`), and a socket bound in reaches the host's service",
                    socket.display()
                )),
                Kind::DirTooLarge => refuse(format!(
                    "it has more than {WALK_LIMIT} entries, too many to make sure it holds no socket \
                     (a socket bound in reaches the host's service)"
                )),
                Kind::Special(what) => refuse(format!("it is a {what}, which is only bound when asked for")),
            };
            found.push(item);
        }
    }
    found
}

/// What `path` is on the host, following a symbolic link at `path` itself
/// (not below it); `None` when it does not exist.
pub(crate) fn host_kind(path: &Path) -> Option<Kind> {
    use std::os::unix::fs::FileTypeExt;
    let meta = fs::metadata(path).ok()?;
    let kind = meta.file_type();
    Some(if kind.is_file() {
        Kind::File
    } else if kind.is_dir() {
        walk_for_sockets(path)
    } else if kind.is_socket() {
        Kind::Special("socket")
    } else if kind.is_fifo() {
        Kind::Special("fifo")
    } else {
        Kind::Special("device")
    })
}

/// A directory's kind after a breadth-first walk (symbolic links not
/// followed) of at most [`WALK_LIMIT`] entries.
fn walk_for_sockets(dir: &Path) -> Kind {
    use std::os::unix::fs::FileTypeExt;
    let mut queue = std::collections::VecDeque::from([dir.to_path_buf()]);
    let mut seen = 0usize;
    while let Some(next) = queue.pop_front() {
        for entry in fs::read_dir(&next).into_iter().flatten().flatten() {
            seen += 1;
            if seen > WALK_LIMIT {
                return Kind::DirTooLarge;
            }
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_socket() {
                return Kind::DirWithSocket(entry.path());
            }
            if kind.is_dir() {
                queue.push_back(entry.path());
            }
        }
    }
    Kind::Dir
}

/// The line `run` prints for a bound argument.
pub(crate) fn bound_note(path: &Path) -> String {
    let dir = scratch_of(path).unwrap_or("/tmp");
    format!(
        "isolated-test: `{}` is bound read-only at the same path (named in the command; {dir} is a fresh tmpfs \
         inside; --no-bind-args turns this off)",
        path.display()
    )
}

/// Why `run` does not start, for a path it refuses to bind.
pub(crate) fn refusal(path: &Path, why: &str) -> String {
    let dir = scratch_of(path).unwrap_or("/tmp");
    format!(
        "`{shown}` (named in the command) is below {dir}, which is a fresh tmpfs inside, but it is not bound \
         automatically: {why}; `--bind {shown}` gives it to the command anyway, `--no-bind-args` runs without it",
        shown = path.display()
    )
}

/// The line `run` prints for a relative argument in an image root.
pub(crate) fn relative_note(arg: &str, path: &Path) -> String {
    let hint = if scratch_of(path).is_some() {
        format!("it is bound at `{}`; name it so", path.display())
    } else {
        format!("`--bind {}` and name it by that path", path.display())
    };
    format!(
        "isolated-test: `{arg}` is relative, and in this root the command starts in `/`, where it is not your \
         `{}`: {hint}",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(path: &Path) -> Option<Kind> {
        match path.to_str()? {
            "/var/tmp/x.deb" | "/tmp/work/a.txt" | "/tmp/notes.txt" | "/dev/shm/seg" | "/home/u/x.deb" => {
                Some(Kind::File)
            }
            "/tmp/work" | "/run/data" | "/tmp" => Some(Kind::Dir),
            "/tmp/.X11-unix" => Some(Kind::DirWithSocket("/tmp/.X11-unix/X0".into())),
            "/tmp/huge" => Some(Kind::DirTooLarge),
            "/run/docker.sock" => Some(Kind::Special("socket")),
            _ => None,
        }
    }

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn existing_paths_below_scratch_directories_are_bound() {
        let found = hidden_arguments(
            &args(&["dpkg", "-i", "/var/tmp/x.deb", "--log=/dev/shm/seg", "OUT=/tmp/missing", "/home/u/x.deb", "/tmp"]),
            Path::new("/home/u"),
            &[],
            true,
            kinds,
        );
        // Not /tmp itself (the sandbox's own), not what does not exist, not
        // what is outside the scratch directories (the host's files show it).
        assert_eq!(found, [Found::Bind("/var/tmp/x.deb".into()), Found::Bind("/dev/shm/seg".into())]);
    }

    #[test]
    fn a_program_name_is_looked_up_in_path_not_here() {
        let found = hidden_arguments(&args(&["notes.txt"]), Path::new("/tmp"), &[], true, kinds);
        assert_eq!(found, []);
        let found = hidden_arguments(&args(&["./notes.txt"]), Path::new("/tmp"), &[], true, kinds);
        assert_eq!(found, [Found::Bind("/tmp/notes.txt".into())]);
    }

    #[test]
    fn relative_paths_resolve_from_the_working_directory() {
        // From /tmp itself (a fresh tmpfs inside, not kept), a relative name
        // needs a bind; from /tmp/work (kept visible), it does not.
        let found =
            hidden_arguments(&args(&["cat", "notes.txt", "./work/../notes.txt"]), Path::new("/tmp"), &[], true, kinds);
        assert_eq!(found, [Found::Bind("/tmp/notes.txt".into())]);
        let kept = [PathBuf::from("/tmp/work")];
        let found = hidden_arguments(&args(&["cat", "a.txt"]), Path::new("/tmp/work"), &kept, true, kinds);
        assert_eq!(found, []);
    }

    #[test]
    fn an_image_root_starts_in_slash_so_relative_names_are_noted() {
        let found = hidden_arguments(&args(&["dpkg", "-i", "x.deb"]), Path::new("/home/u"), &[], false, kinds);
        assert_eq!(found, [Found::Relative { arg: "x.deb".into(), path: "/home/u/x.deb".into() }]);
        let found = hidden_arguments(&args(&["cat", "notes.txt"]), Path::new("/tmp"), &[], false, kinds);
        assert_eq!(
            found,
            [
                Found::Relative { arg: "notes.txt".into(), path: "/tmp/notes.txt".into() },
                Found::Bind("/tmp/notes.txt".into())
            ]
        );
        assert!(relative_note("notes.txt", Path::new("/tmp/notes.txt")).contains("it is bound at `/tmp/notes.txt`"));
        assert!(relative_note("x.deb", Path::new("/home/u/x.deb")).contains("`--bind /home/u/x.deb`"));
    }

    #[test]
    fn a_directory_covers_what_is_below_it_and_binds_count_as_visible() {
        let found = hidden_arguments(
            &args(&["cp", "/tmp/work/a.txt", "/tmp/work", "/tmp/work/a.txt"]),
            Path::new("/"),
            &[],
            true,
            kinds,
        );
        assert_eq!(found, [Found::Bind("/tmp/work".into())]);
        let given = [PathBuf::from("/run/data")];
        assert_eq!(hidden_arguments(&args(&["ls", "/run/data"]), Path::new("/"), &given, true, kinds), []);
    }

    #[test]
    fn sockets_and_what_may_hold_them_are_refused_with_the_way_out() {
        let found = hidden_arguments(
            &args(&["x", "/tmp/.X11-unix", "/run/docker.sock", "/tmp/huge"]),
            Path::new("/"),
            &[],
            true,
            kinds,
        );
        let reasons: Vec<&str> = found
            .iter()
            .map(|f| match f {
                Found::Refuse(_, why) => why.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(reasons[0].contains("`/tmp/.X11-unix/X0`"), "{reasons:?}");
        assert!(reasons[1].starts_with("it is a socket"), "{reasons:?}");
        assert!(reasons[2].contains("more than 10000 entries"), "{reasons:?}");
        let text = refusal(Path::new("/run/docker.sock"), reasons[1]);
        assert!(text.contains("below /run") && text.contains("`--bind /run/docker.sock`"), "{text}");
        assert!(text.contains("--no-bind-args"), "{text}");
    }

    #[test]
    fn the_real_probe_finds_files_directories_and_sockets() {
        let dir = tempfile::Builder::new().prefix("isolated-test-unit-").tempdir().unwrap();
        fs::write(dir.path().join("file"), "x").unwrap();
        fs::create_dir_all(dir.path().join("plain/deeper")).unwrap();
        fs::create_dir_all(dir.path().join("agent/deeper")).unwrap();
        let socket = dir.path().join("agent/deeper/sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        assert_eq!(host_kind(&dir.path().join("file")), Some(Kind::File));
        assert_eq!(host_kind(&dir.path().join("plain")), Some(Kind::Dir));
        assert_eq!(host_kind(&dir.path().join("agent")), Some(Kind::DirWithSocket(socket.clone())));
        assert_eq!(host_kind(&socket), Some(Kind::Special("socket")));
        assert_eq!(host_kind(&dir.path().join("missing")), None);
        assert_eq!(normalize(Path::new("/tmp/a/../b/./c")), Path::new("/tmp/b/c"));
    }
}
