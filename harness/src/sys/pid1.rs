//! `clone3` into fresh namespaces, the PID 1 reaper, and the `execve` of
//! PID 2.
//!
//! Everything after `clone3` returns 0 runs in a copy of a multi-threaded
//! process, so it is restricted to async-signal-safe system calls: no
//! allocation, no locks, no std I/O. All strings and pointer arrays are
//! prepared by the parent in [`ExecImage`] before cloning.
//!
//! Descriptor protocol (the fixed slots are what PID 1 and PID 2 rely on):
//!
//! | slot in PID 1 | becomes in PID 2 | what                                   |
//! |---------------|------------------|----------------------------------------|
//! | 3             | (closed)         | sync pipe: the parent writes `G` once the id maps are written |
//! | 4             | 1                | `/dev/null`                            |
//! | 5             | 2                | stderr pipe                            |
//! | 6             | 3                | result channel (also PID 1's status record) |
//! | 7             | 4                | stdout pipe, moved onto 1 by the harness in PID 2 |
//! | 8             | 0                | stdin: `/dev/null`, or a pipe the parent feeds (`isolated-test run`) |
//!
//! PID 1 itself keeps none of these on 0-2 (they go to `/dev/null`) and
//! closes all but the sync pipe and the result channel once PID 2 runs.
//!
//! When the sandbox nests (every mode but `privileged = true`), PID 1 also
//! makes the namespaces the body will live in, right after forking PID 2
//! (so their cost overlaps PID 2's `execve`), and talks with PID 2 over two
//! pipes of its own, which PID 2 gets as descriptors 5 and 6 (see
//! `sys::userns`).
//!
//! Libtest writes its own banner to fd 1 before the test starts; pointing fd
//! 1 at `/dev/null` until the harness takes over keeps it out of the
//! replayed output.
//!
//! PID 2 either executes a prepared image ([`Pid2::Exec`]: the test binary
//! again, or the CLI in helper mode) or, when the sandbox is cloned by the
//! zygote ([`Pid2::Call`], see `zygote`), goes on in its copy of the zygote
//! and calls the zygote's function. The zygote is single-threaded, so in
//! that case PID 1 and PID 2 are copies of a single-threaded process: PID 1
//! still keeps to async-signal-safe calls (it is the same code), PID 2 may
//! run ordinary Rust code once its descriptors are in place.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const SLOT_SYNC: c_int = 3;
const SLOT_DEVNULL: c_int = 4;
const SLOT_STDERR: c_int = 5;
const SLOT_RESULT: c_int = 6;
const SLOT_STDOUT: c_int = 7;
const SLOT_STDIN: c_int = 8;
/// Descriptors the parent hands over are first duplicated to this number or
/// above, so moving them into the low slots never overwrites one another.
pub(crate) const HANDOVER_MIN_FD: RawFd = 100;

/// The result-channel descriptor number PID 2 sees.
pub(crate) const CHILD_RESULT_FD: RawFd = 3;
/// The stdout-pipe descriptor number PID 2 sees (moved onto 1 by the harness).
pub(crate) const CHILD_STDOUT_FD: RawFd = 4;
/// When nesting: PID 2 reads PID 1's `pid <host pid>` or `errno <n>` line
/// here, then EOF once PID 1 is no longer dumpable.
pub(crate) const CHILD_NEST_REPORT_FD: RawFd = 5;
/// When nesting: PID 2 writes one byte here once it has written PID 1's id
/// maps (or closes it to give up).
pub(crate) const CHILD_NEST_MAPPED_FD: RawFd = 6;

/// A shared memory file PID 2 maps before the body runs (then closes this
/// descriptor): the second route of its result. A body that closes or
/// replaces descriptor [`CHILD_RESULT_FD`] (`close_range(3, ~0)`, as
/// daemonising code does) leaves the harness no descriptor to report on;
/// it writes its last messages into the mapping instead, and PID 1 passes
/// them on to the parent when PID 2 has exited. Not open when PID 1 could
/// not make it.
pub(crate) const CHILD_SPARE_FD: RawFd = 7;
/// The size of that file: the length of what was written (8 bytes,
/// native order), then the messages. Sparse: pages are used only when
/// written.
pub(crate) const SPARE_SIZE: usize = 4 << 20;

/// The namespaces PID 1 unshares for the body when nesting; they belong to
/// its new user namespace.
const NEST_NAMESPACES: c_int = libc::CLONE_NEWUSER | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS | libc::CLONE_NEWNET;

/// Exit codes of PID 1 when it never got to run PID 2.
pub(crate) mod pid1_exit {
    /// The sync pipe closed without the go byte: the parent is gone or gave up.
    pub(crate) const PARENT_GONE: i32 = 120;
    /// Forking PID 2 failed; a `#fork-failed` record names the errno.
    pub(crate) const FORK_FAILED: i32 = 121;
    /// `waitpid` failed while PID 2 still ran.
    pub(crate) const LOST_CHILD: i32 = 122;
    /// `execve` of PID 2 failed; an `#exec-failed` record names the errno.
    pub(crate) const EXEC_FAILED: i32 = 127;
    /// Joining a fresh session keyring failed; a `#keyring-failed` record
    /// names the errno.
    pub(crate) const KEYRING_FAILED: i32 = 123;
}

/// Prefixes of the records PID 1 and PID 2 (before `execve`) write on the
/// result channel. JSON messages from the harness never start with `#`.
pub(crate) mod record {
    /// `#pid2-status <raw wait status>`: how PID 2 ended.
    pub(crate) const PID2_STATUS: &str = "#pid2-status ";
    /// `#exec-failed <errno>`
    pub(crate) const EXEC_FAILED: &str = "#exec-failed ";
    /// `#fork-failed <errno>`
    pub(crate) const FORK_FAILED: &str = "#fork-failed ";
    /// `#keyring-failed <errno>`
    pub(crate) const KEYRING_FAILED: &str = "#keyring-failed ";
}

/// An executable with argv and envp prepared for `execve` without allocating.
pub(crate) struct ExecImage {
    path: CString,
    /// The working directory PID 2 starts in (PID 1 itself moves to `/`).
    cwd: CString,
    _argv: Vec<CString>,
    _envp: Vec<CString>,
    argv_ptrs: Vec<*const c_char>,
    envp_ptrs: Vec<*const c_char>,
}

impl ExecImage {
    /// Prepares `path` with `argv` and `envp` (each entry `KEY=VALUE`), to
    /// run in the working directory `cwd`.
    pub(crate) fn new(path: CString, cwd: CString, argv: Vec<CString>, envp: Vec<CString>) -> Self {
        let argv_ptrs = argv.iter().map(|a| a.as_ptr()).chain([std::ptr::null()]).collect();
        let envp_ptrs = envp.iter().map(|e| e.as_ptr()).chain([std::ptr::null()]).collect();
        Self { path, cwd, _argv: argv, _envp: envp, argv_ptrs, envp_ptrs }
    }

    /// The argument vector, for tests and diagnostics.
    #[cfg(test)]
    pub(crate) fn argv(&self) -> Vec<String> {
        self._argv.iter().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    /// The environment, for tests and diagnostics.
    #[cfg(test)]
    pub(crate) fn envp(&self) -> Vec<String> {
        self._envp.iter().map(|e| e.to_string_lossy().into_owned()).collect()
    }
}

/// What PID 2 becomes once its descriptors are in place.
pub(crate) enum Pid2<'a> {
    /// `execve` of this image (the attribute without a zygote, `run`,
    /// `doctor`, `wrap`).
    Exec(&'a ExecImage),
    /// The zygote's path: no `execve`; PID 2 moves to `cwd`, ignores
    /// `SIGPIPE` (as Rust's runtime does before `main`) and calls `body`,
    /// which ends the process (should it return, PID 2 exits with
    /// [`pid1_exit::EXEC_FAILED`]). Only for a caller that is single-threaded (the
    /// zygote): PID 1 is then cloned with `CLONE_PARENT`, a child of the
    /// zygote's parent, which waits for it as for any other PID 1.
    Call {
        /// The working directory of PID 2.
        cwd: &'a CStr,
        /// What PID 2 runs.
        body: &'a dyn Fn(),
    },
}

impl Pid2<'_> {
    fn cwd(&self) -> &CStr {
        match self {
            Pid2::Exec(image) => &image.cwd,
            Pid2::Call { cwd, .. } => cwd,
        }
    }
}

/// The descriptors PID 1 receives, each already at or above
/// [`HANDOVER_MIN_FD`].
pub(crate) struct Handover {
    pub(crate) sync_read: OwnedFd,
    pub(crate) devnull: OwnedFd,
    pub(crate) stderr_write: OwnedFd,
    pub(crate) result_write: OwnedFd,
    pub(crate) stdout_write: OwnedFd,
    pub(crate) stdin: OwnedFd,
}

impl Handover {
    /// The descriptors in the order of the zygote's protocol
    /// (`zygote::wire::Request::FDS`).
    pub(crate) fn fds(&self) -> [std::os::fd::BorrowedFd<'_>; 6] {
        use std::os::fd::AsFd;
        [&self.sync_read, &self.devnull, &self.stderr_write, &self.result_write, &self.stdout_write, &self.stdin]
            .map(AsFd::as_fd)
    }
}

/// PID 1 as seen from the parent.
pub(crate) struct Cloned {
    /// Host PID of PID 1.
    pub(crate) pid: i32,
    /// A pidfd of PID 1, for polling its exit and signalling it.
    pub(crate) pidfd: OwnedFd,
    /// Whether PID 1 was born in the cgroup given to [`clone_sandbox`].
    pub(crate) in_cgroup: bool,
}

/// Creates PID 1 in new namespaces (`flags` are `CLONE_NEW*` bits) and
/// returns in the parent. The child never returns from this function.
///
/// # Errors
/// The `clone3` errno: EPERM/ENOSPC/EUSERS when user namespaces are
/// restricted, EINVAL for unsupported flag combinations, ENOSYS before 5.3.
///
/// With `cgroup` (a directory of a cgroup v2 hierarchy), PID 1 is born in
/// that cgroup (`CLONE_INTO_CGROUP`, Linux 5.7+): moving it there afterwards
/// by writing `cgroup.procs` takes the kernel's cgroup write lock, which
/// waits for an RCU grace period, milliseconds per sandbox.
///
/// With `nest`, PID 1 makes the nested namespaces for PID 2's setup (see
/// the module documentation).
///
/// With [`Pid2::Call`] PID 1 is cloned with `CLONE_PARENT`: it becomes a
/// child of this process's parent (the test process, for the zygote),
/// which then waits for it, signals it and moves it into cgroups exactly as
/// if it had cloned it itself; the pidfd returned here is sent there.
/// Such a caller must be single-threaded.
pub(crate) fn clone_sandbox(
    flags: u64,
    pid2: &Pid2<'_>,
    fds: &Handover,
    cgroup: Option<std::os::fd::BorrowedFd<'_>>,
    nest: bool,
) -> io::Result<Cloned> {
    for fd in [&fds.sync_read, &fds.devnull, &fds.stderr_write, &fds.result_write, &fds.stdout_write, &fds.stdin] {
        assert!(fd.as_raw_fd() >= HANDOVER_MIN_FD, "handover descriptors must be >= {HANDOVER_MIN_FD}");
    }
    let raw = RawHandover {
        sync_read: fds.sync_read.as_raw_fd(),
        devnull: fds.devnull.as_raw_fd(),
        stderr_write: fds.stderr_write.as_raw_fd(),
        result_write: fds.result_write.as_raw_fd(),
        stdout_write: fds.stdout_write.as_raw_fd(),
        stdin: fds.stdin.as_raw_fd(),
        nest,
    };
    // A sibling of the caller: the kernel then takes the exit signal of
    // the caller itself (SIGCHLD) and refuses any other in clone3.
    let sibling = matches!(pid2, Pid2::Call { .. });
    let (parent_flag, exit_signal) = if sibling { (libc::CLONE_PARENT as u64, 0) } else { (0, libc::SIGCHLD as u64) };
    let mut pidfd: c_int = -1;
    // SAFETY: clone_args is plain old data; zero is the documented default
    // for every field we do not set.
    let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
    args.flags = flags | parent_flag | libc::CLONE_PIDFD as u64;
    args.pidfd = &mut pidfd as *mut c_int as u64;
    args.exit_signal = exit_signal;
    if let Some(cgroup) = cgroup {
        const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = cgroup.as_raw_fd() as u64;
    }
    // SAFETY: `args` is a valid clone_args of the size passed. Without
    // CLONE_VM the child gets a copy of this address space and continues on
    // a copy of this stack, like fork; it then runs only `pid1_main`, which
    // is async-signal-safe and never returns.
    let mut ret = unsafe {
        libc::syscall(libc::SYS_clone3, &mut args as *mut libc::clone_args, std::mem::size_of::<libc::clone_args>())
    };
    let mut in_cgroup = cgroup.is_some();
    if ret < 0 && errno() == libc::ENOSYS {
        // clone3 refused by a seccomp filter (Docker's default profile, or
        // this harness's own when sandboxes are nested): the legacy clone
        // takes the same namespace flags and CLONE_PIDFD, not the cgroup.
        in_cgroup = false;
        let legacy = (flags | parent_flag | libc::CLONE_PIDFD as u64 | exit_signal) as libc::c_ulong;
        // SAFETY: as for clone3 above; the pidfd is stored through the
        // parent_tid argument, which points at a live c_int.
        ret = unsafe { libc::syscall(libc::SYS_clone, legacy, 0usize, &mut pidfd as *mut c_int, 0usize, 0usize) };
    }
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    if ret == 0 {
        // SAFETY: we are the freshly cloned child; see `pid1_main`.
        unsafe { pid1_main(pid2, &raw) }
    }
    // SAFETY: with CLONE_PIDFD the kernel stored a new descriptor in `pidfd`
    // that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    Ok(Cloned { pid: ret as i32, pidfd, in_cgroup })
}

struct RawHandover {
    sync_read: c_int,
    devnull: c_int,
    stderr_write: c_int,
    result_write: c_int,
    stdout_write: c_int,
    stdin: c_int,
    nest: bool,
}

fn errno() -> c_int {
    // SAFETY: __errno_location returns this thread's errno slot; reading it
    // is async-signal-safe.
    unsafe { *libc::__errno_location() }
}

/// Writes `prefix` followed by `value` in decimal and a newline, without
/// allocating.
fn write_record(fd: c_int, prefix: &str, value: i64) {
    let mut buf = [0u8; 64];
    let mut len = 0;
    buf[len] = b'\n';
    len += 1;
    for b in prefix.bytes().take(40) {
        buf[len] = b;
        len += 1;
    }
    let mut digits = [0u8; 20];
    let mut n = value.unsigned_abs();
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if value < 0 {
        buf[len] = b'-';
        len += 1;
    }
    for &d in &digits[i..] {
        buf[len] = d;
        len += 1;
    }
    buf[len] = b'\n';
    len += 1;
    // SAFETY: write(2) from a stack buffer of `len` initialised bytes; it is
    // async-signal-safe. A short or failed write only loses the record.
    unsafe {
        libc::write(fd, buf.as_ptr().cast(), len);
    }
}

/// Writes to `to` what PID 2 left in the spare file (see
/// [`CHILD_SPARE_FD`]): its length, then that many bytes, in chunks
/// through a stack buffer. Async-signal-safe; a failed read or write only
/// loses the rest.
fn pass_on_spare(spare: c_int, to: c_int) {
    let mut length = [0u8; 8];
    // SAFETY: pread(2) into a live 8-byte buffer.
    if unsafe { libc::pread(spare, length.as_mut_ptr().cast(), length.len(), 0) } != 8 {
        return;
    }
    let end = 8 + (u64::from_ne_bytes(length) as usize).min(SPARE_SIZE - 8);
    let mut at = 8;
    let mut buf = [0u8; 4096];
    while at < end {
        let want = buf.len().min(end - at);
        // SAFETY: pread(2) into a live buffer of at least `want` bytes.
        let got = unsafe { libc::pread(spare, buf.as_mut_ptr().cast(), want, at as libc::off_t) };
        if got <= 0 {
            return;
        }
        let mut done = 0;
        while done < got as usize {
            // SAFETY: write(2) from the initialised part of the buffer.
            let n = unsafe { libc::write(to, buf.as_ptr().add(done).cast(), got as usize - done) };
            if n < 0 && errno() == libc::EINTR {
                continue;
            }
            if n <= 0 {
                return;
            }
            done += n as usize;
        }
        at += got as usize;
    }
}

/// Reads one byte, retrying on EINTR; `None` on EOF or error.
///
/// # Safety
/// `fd` is a descriptor this process owns; async-signal-safe.
unsafe fn read_byte(fd: c_int) -> Option<u8> {
    let mut byte = 0u8;
    loop {
        // SAFETY: read(2) into a live one-byte buffer.
        let r = unsafe { libc::read(fd, (&mut byte as *mut u8).cast(), 1) };
        if r == 1 {
            return Some(byte);
        }
        if r < 0 && errno() == libc::EINTR {
            continue;
        }
        return None;
    }
}

/// PID 1's part of nesting, right after PID 2 is forked: unshare the
/// namespaces, say where PID 2 finds them (`pid` as the procfs of this
/// mount namespace counts, read from `/proc/self`) or why not (`errno`),
/// wait until PID 2 has written the id maps (`M`), and only then become
/// non-dumpable (a rootless PID 2 could not write the maps of a
/// non-dumpable process); then wait until PID 2 has locked (`L`) and join
/// its mount namespace. Closing `report` afterwards tells PID 2 so.
///
/// # Safety
/// As [`pid1_main`]: async-signal-safe calls only.
unsafe fn pid1_nest(report: c_int, mapped: c_int) {
    // SAFETY: unshare, readlink, write and prctl on this process only.
    unsafe {
        if libc::unshare(NEST_NAMESPACES) < 0 {
            write_record(report, "errno ", errno() as i64);
        } else {
            let mut buf = [0u8; 32];
            let n = libc::readlink(c"/proc/self".as_ptr(), buf.as_mut_ptr().cast(), buf.len());
            let mut pid: i64 = 0;
            let valid = n > 0 && buf[..n as usize].iter().all(u8::is_ascii_digit);
            if valid {
                for &d in &buf[..n as usize] {
                    pid = pid * 10 + i64::from(d - b'0');
                }
                write_record(report, "pid ", pid);
            } else {
                write_record(report, "errno ", if n < 0 { errno() as i64 } else { libc::EIO as i64 });
            }
        }
        let first = read_byte(mapped);
        libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong, 0, 0, 0);
        // Once PID 2 has locked, join its mount namespace: the setup's,
        // left to this process alone, is then torn down here, while the
        // body runs, instead of in PID 1's exit after it (each teardown
        // waits for an RCU grace period, milliseconds on a busy machine).
        // PID 2 is still dumpable and waits for the report pipe to close;
        // failing to join only keeps the slower exit.
        if first == Some(b'M') && read_byte(mapped) == Some(b'L') {
            let ns = libc::open(c"/proc/2/ns/mnt".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            if ns >= 0 {
                libc::setns(ns, libc::CLONE_NEWNS);
                libc::close(ns);
            }
        }
        libc::close(mapped);
        libc::close(report);
    }
}

extern "C" fn pid1_on_signal(sig: c_int) {
    // SAFETY: _exit is async-signal-safe. When PID 1 exits the kernel
    // SIGKILLs every other process of its PID namespace.
    unsafe { libc::_exit(128 + sig) }
}

/// PID 1 of the sandbox.
///
/// # Safety
/// Must only be called in the child of `clone3`, which is a single-threaded
/// copy of a possibly multi-threaded process: only async-signal-safe calls
/// are made, nothing is allocated, and it never returns.
unsafe fn pid1_main(pid2: &Pid2<'_>, fds: &RawHandover) -> ! {
    // SAFETY: for the whole body, only async-signal-safe system calls on
    // descriptors and memory prepared by the parent before `clone3`.
    unsafe {
        // Die with the parent's thread. Checked below through the sync pipe:
        // if the parent died before this prctl, the pipe reads EOF.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0);
        // Cloned by a zygote forked before `main`: the test binary's name
        // again, not the zygote's.
        super::zygote::restore_name();

        // Move the handed-over descriptors into fixed slots. Sources are
        // >= HANDOVER_MIN_FD, so no source is a target. Then close every
        // other inherited descriptor: this process never execs, and a copy of
        // another test's pipe kept here would delay that test's EOF.
        libc::dup2(fds.sync_read, SLOT_SYNC);
        libc::dup2(fds.devnull, SLOT_DEVNULL);
        libc::dup2(fds.stderr_write, SLOT_STDERR);
        libc::dup2(fds.result_write, SLOT_RESULT);
        libc::dup2(fds.stdout_write, SLOT_STDOUT);
        libc::dup2(fds.stdin, SLOT_STDIN);
        libc::syscall(libc::SYS_close_range, SLOT_STDIN as libc::c_uint + 1, libc::c_uint::MAX, 0u32);

        // Cut every tie to the caller that the sandbox could follow (see
        // DESIGN.md, Boundary). Standard descriptors on `/dev/null`: the
        // caller's terminal or pipes stay out of reach. cwd `/`:
        // `pivot_root` moves the root and cwd only of processes whose root
        // or cwd is the old root, so a cwd left in the caller's directory
        // would keep the host's disk at `/proc/1/cwd`. A new session: no
        // controlling terminal (no TIOCSTI into the caller's).
        libc::dup2(SLOT_DEVNULL, 0);
        libc::dup2(SLOT_DEVNULL, 1);
        libc::dup2(SLOT_DEVNULL, 2);
        libc::chdir(c"/".as_ptr());
        libc::setsid();

        // Wait until the parent has written the uid/gid maps.
        if read_byte(SLOT_SYNC) != Some(b'G') {
            libc::_exit(pid1_exit::PARENT_GONE);
        }
        libc::close(SLOT_SYNC);

        // Not dumpable (only now: the parent had to write our id maps,
        // which a non-dumpable process's /proc entries refuse to a rootless
        // parent; when nesting, only once PID 2 has written the nested
        // ones, see `pid1_nest`). `/proc/1/{cwd,root,fd,environ,mem}` then
        // need CAP_SYS_PTRACE over the user namespace this process was
        // created in, which nothing inside the sandbox has.
        if !fds.nest {
            libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong, 0, 0, 0);
        }

        // A fresh, anonymous session keyring (after the id maps, so it is
        // owned by root inside): the caller's keys stay out of reach and
        // keys made inside never reach the caller. ENOSYS: a kernel without
        // keys has nothing to share.
        const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
        if libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, 0usize) < 0 && errno() != libc::ENOSYS {
            write_record(SLOT_RESULT, record::KEYRING_FAILED, errno() as i64);
            libc::_exit(pid1_exit::KEYRING_FAILED);
        }

        // PID 1 ignores every signal it has no handler for, even SIGTERM from
        // outside; these handlers make INT/TERM/HUP end the whole sandbox.
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = pid1_on_signal as *const () as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }

        // The nest's pipes: [report read, report write], [mapped read,
        // mapped write]. Failing to make them, PID 2 finds no descriptors 5
        // and 6 and its setup says so.
        let mut report = [-1 as c_int; 2];
        let mut mapped = [-1 as c_int; 2];
        if fds.nest
            && (libc::pipe2(report.as_mut_ptr(), libc::O_CLOEXEC) < 0
                || libc::pipe2(mapped.as_mut_ptr(), libc::O_CLOEXEC) < 0)
        {
            report = [-1; 2];
            mapped = [-1; 2];
        }
        // The spare route of PID 2's result (see `CHILD_SPARE_FD`).
        let mut spare =
            libc::syscall(libc::SYS_memfd_create, c"isolated-test-result".as_ptr(), libc::MFD_CLOEXEC) as c_int;
        if spare >= 0 && libc::ftruncate(spare, SPARE_SIZE as libc::off_t) < 0 {
            libc::close(spare);
            spare = -1;
        }
        // Above the slots (the sync pipe's slot is free by now), so PID 2's
        // moves into its own low numbers never overwrite them.
        for fd in report
            .iter_mut()
            .chain(mapped.iter_mut())
            .chain(std::iter::once(&mut spare))
            .filter(|fd| (0..=SLOT_STDIN).contains(&**fd))
        {
            let high = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, SLOT_STDIN + 1);
            libc::close(*fd);
            *fd = high;
        }

        // Fork PID 2 with the raw syscall when it will exec: glibc's fork()
        // would run atfork handlers and take malloc locks another
        // (non-existent here) thread may have held. When PID 2 goes on
        // without exec, this process is a copy of the single-threaded
        // zygote, where glibc's fork() is safe, and needed: it records
        // PID 2's thread id in glibc's thread descriptor (a raw clone
        // leaves the zygote's there, which glibc uses for its own locks'
        // owner and for the robust-futex list it registers again in the
        // child).
        let pid: libc::c_long = match pid2 {
            Pid2::Exec(_) => {
                libc::syscall(libc::SYS_clone, libc::SIGCHLD as libc::c_ulong, 0usize, 0usize, 0usize, 0usize)
            }
            Pid2::Call { .. } => libc::c_long::from(libc::fork()),
        };
        if pid == 0 {
            pid2_start(pid2, report[0], mapped[1], spare);
        }
        if pid < 0 {
            write_record(SLOT_RESULT, record::FORK_FAILED, errno() as i64);
            libc::_exit(pid1_exit::FORK_FAILED);
        }
        libc::close(SLOT_DEVNULL);
        libc::close(SLOT_STDERR);
        libc::close(SLOT_STDOUT);
        libc::close(SLOT_STDIN);
        if report[1] >= 0 {
            libc::close(report[0]);
            libc::close(mapped[1]);
            pid1_nest(report[1], mapped[0]);
        }

        // Reap everything (orphans are re-parented to us) until PID 2 exits,
        // then exit; the kernel kills whatever is left in the namespace.
        loop {
            let mut status: c_int = 0;
            let w = libc::waitpid(-1, &mut status, libc::__WALL);
            if w as libc::c_long == pid {
                if spare >= 0 {
                    pass_on_spare(spare, SLOT_RESULT);
                }
                write_record(SLOT_RESULT, record::PID2_STATUS, status as i64);
                let code =
                    if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 128 + libc::WTERMSIG(status) };
                libc::_exit(code);
            }
            if w < 0 && errno() != libc::EINTR {
                libc::_exit(pid1_exit::LOST_CHILD);
            }
        }
    }
}

/// PID 2 between fork and exec (or, from the zygote, the call).
///
/// # Safety
/// Same restrictions as [`pid1_main`]: async-signal-safe calls only, never
/// returns. With [`Pid2::Call`], the body that is called last runs in a
/// copy of a single-threaded process, where any code is allowed.
///
/// `nest_report` and `nest_mapped` (or -1) become PID 2's descriptors
/// [`CHILD_NEST_REPORT_FD`] and [`CHILD_NEST_MAPPED_FD`], `spare` (or -1)
/// its [`CHILD_SPARE_FD`].
unsafe fn pid2_start(pid2: &Pid2<'_>, nest_report: c_int, nest_mapped: c_int, spare: c_int) -> ! {
    // SAFETY: for the whole body, async-signal-safe calls on the fixed slots and on
    // the argv/envp arrays prepared before cloning.
    unsafe {
        // Handlers installed by PID 1 must not run in PID 2 before exec.
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = libc::SIG_DFL;
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGPIPE] {
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
        libc::dup2(SLOT_STDIN, 0);
        libc::dup2(SLOT_DEVNULL, 1);
        libc::dup2(SLOT_STDERR, 2);
        libc::dup2(SLOT_RESULT, CHILD_RESULT_FD);
        libc::dup2(SLOT_STDOUT, CHILD_STDOUT_FD);
        // The nest's pipes sit above the slots (PID 1 closed everything
        // above them before making the pipes), so these never overwrite one
        // another; dup2 leaves the copies without CLOEXEC.
        let mut last = CHILD_STDOUT_FD;
        if nest_report >= 0 && nest_mapped >= 0 {
            libc::dup2(nest_report, CHILD_NEST_REPORT_FD);
            libc::dup2(nest_mapped, CHILD_NEST_MAPPED_FD);
            last = CHILD_NEST_MAPPED_FD;
        }
        // Above the slots too; a descriptor 5 or 6 left open without the
        // nest is closed first, so PID 2 finds no nest pipes there.
        if spare >= 0 {
            if last < CHILD_NEST_MAPPED_FD {
                libc::close(CHILD_NEST_REPORT_FD);
                libc::close(CHILD_NEST_MAPPED_FD);
            }
            libc::dup2(spare, CHILD_SPARE_FD);
            last = CHILD_SPARE_FD;
        }
        libc::syscall(libc::SYS_close_range, last as libc::c_uint + 1, libc::c_uint::MAX, 0u32);
        // Back to the caller's working directory (PID 1 left it for `/`); a
        // directory that vanished leaves PID 2 in `/`, and the setup says so
        // when it reads the working directory.
        libc::chdir(pid2.cwd().as_ptr());
        match pid2 {
            Pid2::Exec(image) => {
                libc::execve(image.path.as_ptr(), image.argv_ptrs.as_ptr(), image.envp_ptrs.as_ptr());
                write_record(CHILD_RESULT_FD, record::EXEC_FAILED, errno() as i64);
                libc::_exit(pid1_exit::EXEC_FAILED);
            }
            Pid2::Call { body, .. } => {
                // What Rust's runtime sets up before `main` in an executed
                // binary: a write to a closed pipe is an EPIPE error, not
                // a death by signal.
                action.sa_sigaction = libc::SIG_IGN;
                libc::sigaction(libc::SIGPIPE, &action, std::ptr::null_mut());
                body();
                libc::_exit(pid1_exit::EXEC_FAILED);
            }
        }
    }
}
