//! The system calls of the zygote (see `zygote`): starting it so that it
//! dies with the test process, taking over its socket, and giving a PID 2
//! forked from it the environment an executed PID 2 would have had.
#![allow(unsafe_code)]

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Starts `exe` as the zygote: `socket` stays open across `execve` and its
/// number goes in `marker` (the variable the constructor looks for), the
/// zygote is killed when the calling *thread* ends (`PR_SET_PDEATHSIG`,
/// which the kernel ties to the thread that forked), and `argv` holds
/// `--isolated-test-zygote`, which libtest refuses: a binary whose
/// constructor does not act on the marker exits at once instead of running
/// its tests.
///
/// # Errors
/// The fork or the `execve` failed.
pub(crate) fn spawn(exe: &Path, socket: &OwnedFd, marker: &str) -> io::Result<Child> {
    let fd: RawFd = socket.as_raw_fd();
    let parent = std::process::id() as libc::pid_t;
    let mut command = Command::new(exe);
    command
        .arg("--isolated-test-zygote")
        .env(marker, fd.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    // SAFETY: the closure runs in the child between fork and exec, in a
    // copy of a multi-threaded process: prctl, getppid, fcntl and _exit are
    // async-signal-safe and nothing is allocated. The descriptor number
    // was read before the fork and `socket` outlives the spawn.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before the prctl: then nothing
            // would kill this process with it.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            // Kept across execve (it was opened close-on-exec).
            if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn()
}

/// The name (`comm`) of the test binary, kept by a zygote forked before
/// `main` (which goes by `isolated-zygote`) for the PID 1s it clones.
static TEST_BINARY_NAME: std::sync::OnceLock<[u8; 16]> = std::sync::OnceLock::new();

/// Gives the calling process the test binary's name back, in a PID 1
/// cloned by a zygote forked before `main`; nothing otherwise.
/// Async-signal-safe: an atomic load and a `prctl`.
pub(crate) fn restore_name() {
    if let Some(name) = TEST_BINARY_NAME.get() {
        // SAFETY: PR_SET_NAME reads at most 16 bytes of a live array.
        unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr(), 0, 0, 0) };
    }
}

/// Forks the zygote from this process, in its constructor, before `main`
/// (see `parent::zygote::prestart`): `theirs` is its end of the socket,
/// and `serve` what it runs (and never returns from). The child is killed
/// when the calling thread (the main thread, which lives as long as the
/// process) ends, and gets `/dev/null` as its standard input and output,
/// as a spawned zygote does. Returns the child's pid in the parent; the
/// caller keeps `ours` and must reap the child.
///
/// Must be called while the process has one thread: the child runs
/// ordinary Rust code after the fork.
///
/// # Errors
/// The fork failed.
pub(crate) fn fork_here(ours: &OwnedFd, theirs: OwnedFd, serve: fn(OwnedFd) -> !) -> io::Result<libc::pid_t> {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the caller made sure this process has one thread, so the
    // child is a whole copy of it (glibc's fork also resets its own locks).
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            // SAFETY: plain system calls on numbers this child owns; the
            // child never returns to the caller (serve diverges, _exit).
            unsafe {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) < 0
                    || libc::getppid() != parent
                {
                    libc::_exit(1);
                }
                libc::close(ours.as_raw_fd());
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
                if null < 0 || libc::dup2(null, 0) < 0 || libc::dup2(null, 1) < 0 {
                    libc::_exit(1);
                }
                if null > 2 {
                    libc::close(null);
                }
                // Its command line is the test process's: the name tells
                // it apart (`ps`, `pgrep -x isolated-zygote`).
                let mut name = [0u8; 16];
                if libc::prctl(libc::PR_GET_NAME, name.as_mut_ptr(), 0, 0, 0) == 0 {
                    let _ = TEST_BINARY_NAME.set(name);
                }
                libc::prctl(libc::PR_SET_NAME, c"isolated-zygote".as_ptr(), 0, 0, 0);
            }
            serve(theirs)
        }
        pid => Ok(pid),
    }
}

/// The zygote's socket, from the marker variable's value, which is then
/// removed from the environment (so that no process the tests start sees
/// it). `None` when the variable is not set.
///
/// Called by the constructor, before `main`, while the process has one
/// thread.
pub(crate) fn take_socket(marker: &str) -> Option<io::Result<OwnedFd>> {
    let value = std::env::var_os(marker)?;
    // SAFETY: constructors run before `main`, while this process has a
    // single thread, so nothing reads the environment concurrently.
    unsafe { std::env::remove_var(marker) };
    let fd = value.to_str().and_then(|v| v.parse::<RawFd>().ok()).filter(|fd| *fd > 2);
    let Some(fd) = fd else {
        return Some(Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{marker}={value:?} names no descriptor"),
        )));
    };
    Some(super::fd::adopt_cloexec_file(fd).map(OwnedFd::from))
}

/// Closes every descriptor above the standard three but `keep` (the
/// zygote's socket): what the test process let its children inherit is
/// none of the zygote's business, and a pipe kept open here would keep
/// its reader waiting as long as the zygote lives.
pub(crate) fn close_inherited(keep: &OwnedFd) {
    let keep = keep.as_raw_fd() as libc::c_uint;
    // SAFETY: close_range(2) on numbers no Rust value owns: this runs in
    // the zygote before anything but the socket was opened by the harness.
    unsafe {
        if keep > 3 {
            libc::syscall(libc::SYS_close_range, 3 as libc::c_uint, keep - 1, 0 as libc::c_uint);
        }
        libc::syscall(libc::SYS_close_range, keep + 1, libc::c_uint::MAX, 0 as libc::c_uint);
    }
}

/// Whether this process has one thread (the zygote must: it forks, and
/// code after the fork allocates).
///
/// # Errors
/// `/proc/self/task` could not be read.
pub(crate) fn single_threaded() -> io::Result<bool> {
    Ok(std::fs::read_dir("/proc/self/task")?.take(2).count() == 1)
}

/// Replaces the whole environment with `vars` (each `KEY=VALUE`), as
/// `execve` would have: PID 2 forked by the zygote starts with the
/// zygote's environment, the test needs the parent's of this moment.
/// Entries without a `=` or with an empty key are skipped, as the C
/// library's own reading of an environment does.
///
/// Must be called while the process has one thread (PID 2 before its
/// setup).
pub(crate) fn replace_environment<'a>(vars: impl Iterator<Item = &'a [u8]>) {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: PID 2 forked from the single-threaded zygote has one thread
    // until it starts the test's; nothing reads the environment meanwhile.
    unsafe {
        libc::clearenv();
        for entry in vars {
            let Some(eq) = entry.iter().position(|b| *b == b'=').filter(|eq| *eq > 0) else { continue };
            let (key, value) = (&entry[..eq], &entry[eq + 1..]);
            if key.contains(&0) || value.contains(&0) {
                continue;
            }
            std::env::set_var(OsStr::from_bytes(key), OsStr::from_bytes(value));
        }
    }
}

/// Sets the two variables that tell the harness in PID 2 which test it
/// runs (`config::ENV_CHILD_NONCE`, `config::ENV_CHILD_TEST`), in a PID 2
/// made ahead of its test, which learns them only once it is built.
///
/// Must be called while the process has one thread (PID 2 before it starts
/// the test's).
pub(crate) fn set_child_vars(nonce: &str, test: &str) {
    // SAFETY: PID 2 forked from the single-threaded zygote has one thread
    // until it starts the test's; nothing reads the environment meanwhile.
    unsafe {
        std::env::set_var(crate::config::ENV_CHILD_NONCE, nonce);
        std::env::set_var(crate::config::ENV_CHILD_TEST, test);
    }
}
