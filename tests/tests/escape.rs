//! The escape suite, from inside: each test tries one way out of its
//! sandbox with what root inside has at hand (mounts, `/proc`, sysctls,
//! namespaces, ptrace, keyrings, the terminal, device nodes, file handles)
//! and asserts the contained outcome. What the host sees afterwards is
//! checked from outside in `escape_host.rs`.
//!
//! Every test runs as root (identity uid map) and rootless (root inside
//! mapped to one unprivileged user; `scripts/test.sh` runs this binary as
//! uid 65534 too). Where the kernel legitimately answers differently,
//! [`rootless`] picks the branch and a comment says why.
//!
//! The probes are harmless whatever the outcome: a sysctl write puts back the
//! value it just read, files opened for writing are closed unwritten, mounts
//! are only changed inside the sandbox's own mount namespace (thrown away
//! with it), and a file a probe manages to create outside is removed at once
//! (the test still fails). Nothing ever writes a terminal or injects input.
// The probes are raw system calls an attacker would use (mount_setattr,
// open_tree, keyctl, ptrace, pidfd_getfd, TIOCSTI, fork, init_module, ...),
// most of which rustix does not wrap; each `unsafe` block says why it is
// sound.
#![allow(unsafe_code)]

use std::collections::BTreeSet;
use std::ffi::{CString, c_long, c_ulong};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use isolated_test::isolated_test;

// ------------------------------------------------------------------ helpers

/// Whether the sandbox runs rootless: root inside maps to one unprivileged
/// host user, instead of the identity map the harness uses as root.
fn rootless() -> bool {
    let map = fs::read_to_string("/proc/self/uid_map").unwrap();
    map.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"]
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// The symbolic name of an errno, for failure messages.
fn errno_name(errno: i32) -> String {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::EBADF => "EBADF",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EINVAL => "EINVAL",
        libc::ENOTTY => "ENOTTY",
        libc::EROFS => "EROFS",
        libc::ENOSYS => "ENOSYS",
        libc::ELOOP => "ELOOP",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ESTALE => "ESTALE",
        libc::ENOKEY => "ENOKEY",
        libc::EKEYREVOKED => "EKEYREVOKED",
        _ => return format!("errno {errno}"),
    };
    name.to_owned()
}

/// "succeeded" or the errno's name.
fn outcome<T>(result: &Result<T, i32>) -> String {
    match result {
        Ok(_) => "succeeded".to_owned(),
        Err(errno) => errno_name(*errno),
    }
}

fn io_errno<T>(result: std::io::Result<T>) -> Result<T, i32> {
    result.map_err(|e| e.raw_os_error().unwrap_or(0))
}

fn cstr(text: &str) -> CString {
    CString::new(text).expect("probe paths contain no NUL")
}

fn ptr_or_null(text: &Option<CString>) -> *const libc::c_char {
    text.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())
}

/// A name no earlier run or parallel test uses.
fn unique() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{}-{nanos}", std::process::id())
}

/// `mount(2)`, with the errno on failure.
fn raw_mount(
    source: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: c_ulong,
    data: Option<&str>,
) -> Result<(), i32> {
    let (source, target, fstype, data) = (source.map(cstr), cstr(target), fstype.map(cstr), data.map(cstr));
    // SAFETY: every pointer is either null (allowed for source, fstype and
    // data) or a NUL-terminated string that outlives the call.
    let ret = unsafe {
        libc::mount(ptr_or_null(&source), target.as_ptr(), ptr_or_null(&fstype), flags, ptr_or_null(&data).cast())
    };
    if ret == 0 { Ok(()) } else { Err(last_errno()) }
}

/// `umount2(2)`, with the errno on failure.
fn raw_umount(target: &str, flags: i32) -> Result<(), i32> {
    let target = cstr(target);
    // SAFETY: a NUL-terminated path that outlives the call.
    let ret = unsafe { libc::umount2(target.as_ptr(), flags) };
    if ret == 0 { Ok(()) } else { Err(last_errno()) }
}

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const OPEN_TREE_CLONE: libc::c_uint = 1;
const AT_RECURSIVE: libc::c_uint = 0x8000;

/// `mount_setattr(dirfd, path, flags, {attr_clr: MOUNT_ATTR_RDONLY})`: the
/// new mount API's way to make a mount writable.
fn clear_readonly_at(dirfd: i32, path: &str, flags: libc::c_uint) -> Result<(), i32> {
    let path = cstr(path);
    let attr = MountAttr { attr_set: 0, attr_clr: MOUNT_ATTR_RDONLY, propagation: 0, userns_fd: 0 };
    // SAFETY: `path` is NUL-terminated and `attr` a valid mount_attr of the
    // size passed; both outlive the call.
    let ret = unsafe {
        libc::syscall(libc::SYS_mount_setattr, dirfd, path.as_ptr(), flags, &attr, std::mem::size_of::<MountAttr>())
    };
    if ret == 0 { Ok(()) } else { Err(last_errno()) }
}

/// Runs `probe` in a forked child and returns its exit status (128 + the
/// signal if it was killed). The test process has several threads, so
/// `probe` may only make async-signal-safe calls: raw system calls on data
/// prepared before the fork, no allocation, no locks, no panics.
fn in_forked_child(probe: impl FnOnce() -> i32) -> i32 {
    // SAFETY: fork(2) has no memory-safety preconditions; the child runs
    // only `probe` (async-signal-safe by this function's contract) and then
    // `_exit`, never returning into the test.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", errno_name(last_errno()));
    if pid == 0 {
        let code = probe();
        // SAFETY: _exit is async-signal-safe and does not return.
        unsafe { libc::_exit(code) }
    }
    let mut status = 0;
    // SAFETY: waits for the child forked above, into a local.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid, "waitpid: {}", errno_name(last_errno()));
    if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 128 + libc::WTERMSIG(status) }
}

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone)]
struct Mount {
    /// The part of the filesystem mounted here (`/` for a whole one).
    root: String,
    point: String,
    options: Vec<String>,
    fstype: String,
    super_options: String,
}

impl Mount {
    fn read_only(&self) -> bool {
        self.options.iter().any(|o| o == "ro")
    }

    /// The per-mount flags a remount must repeat: inherited from a more
    /// privileged namespace they are locked, and leaving one out fails with
    /// EPERM for that reason alone. Repeating them isolates the question
    /// asked: may the read-only flag be dropped?
    fn kept_flags(&self) -> c_ulong {
        let mut flags = 0;
        for (name, flag) in [
            ("nosuid", libc::MS_NOSUID),
            ("nodev", libc::MS_NODEV),
            ("noexec", libc::MS_NOEXEC),
            ("noatime", libc::MS_NOATIME),
            ("nodiratime", libc::MS_NODIRATIME),
            ("relatime", libc::MS_RELATIME),
        ] {
            if self.options.iter().any(|o| o == name) {
                flags |= flag;
            }
        }
        flags
    }
}

/// Undoes the kernel's octal escapes (`\040` for a space) in mountinfo.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() && bytes[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b)) {
            out.push((bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn mounts() -> Vec<Mount> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let sep = fields.iter().position(|f| *f == "-").expect("mountinfo has a `-` separator");
            Mount {
                root: unescape(fields[3]),
                point: unescape(fields[4]),
                options: fields[5].split(',').map(str::to_owned).collect(),
                fstype: fields[sep + 1].to_owned(),
                super_options: fields.get(sep + 3).copied().unwrap_or("").to_owned(),
            }
        })
        .collect()
}

/// A fresh tmpfs of the test's own at `dir` (made first), to hold probe
/// targets without touching any mount the sandbox started with.
fn own_tmpfs(dir: &str) {
    fs::create_dir_all(dir).unwrap();
    raw_mount(Some("tmpfs"), dir, Some("tmpfs"), 0, Some("size=16m"))
        .unwrap_or_else(|e| panic!("root inside must be able to mount a tmpfs at {dir}: {}", errno_name(e)));
}

/// Opens `path` for writing without creating or truncating it.
fn open_for_writing(path: &Path) -> Result<File, i32> {
    io_errno(OpenOptions::new().write(true).open(path))
}

/// Writes back the value `path` holds: a write that succeeds changes
/// nothing.
fn write_back(path: &str) -> Result<(), i32> {
    let value = io_errno(fs::read(path))?;
    let mut file = open_for_writing(Path::new(path))?;
    io_errno(file.write_all(&value))
}

/// Writes `value` to the sysctl at `path` (only used for per-namespace ones).
fn write_value(path: &str, value: &str) -> Result<(), i32> {
    let mut file = open_for_writing(Path::new(path))?;
    io_errno(file.write_all(format!("{value}\n").as_bytes()))
}

/// Every regular file below `dir`, without following symlinks.
fn regular_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            regular_files(&entry.path(), out);
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
}

/// (device, inode) of `path`, following symlinks (and `/proc` magic links).
fn identity(path: &str) -> Result<(u64, u64), i32> {
    io_errno(fs::metadata(path)).map(|m| (m.dev(), m.ino()))
}

/// Refusals that say "no access": the permission check (EACCES), or a
/// ptrace-mode or capability check (EPERM).
fn refused(errno: i32) -> bool {
    errno == libc::EACCES || errno == libc::EPERM
}

const KEYCTL_GET_KEYRING_ID: c_long = 0;
const KEY_SPEC_SESSION_KEYRING: c_long = -3;
const KEY_SPEC_USER_KEYRING: c_long = -4;

fn keyctl(op: c_long, a: c_long, b: c_long, c: c_long, d: c_long) -> Result<c_long, i32> {
    // SAFETY: keyctl reads or writes only the buffers its arguments point
    // to; callers pass null, integers, or pointers to live buffers of the
    // size given.
    let ret = unsafe { libc::syscall(libc::SYS_keyctl, op, a, b, c, d) };
    if ret < 0 { Err(last_errno()) } else { Ok(ret) }
}

// ------------------------------------------------- PID 1 (outside the body)

/// `pivot_root` moves the root and working directory only of processes
/// that were at the old root: a PID 1 that kept the caller's working
/// directory hands the body the host's disk at `/proc/1/cwd`.
#[isolated_test]
fn pid1_working_directory_does_not_lead_to_the_host() {
    let ours = identity("/").unwrap();
    match io_errno(fs::read_link("/proc/1/cwd")) {
        Err(e) => assert!(refused(e), "readlink /proc/1/cwd: {} (expected EACCES or EPERM)", errno_name(e)),
        Ok(target) => assert_eq!(
            identity("/proc/1/cwd"),
            Ok(ours),
            "PID 1's working directory ({}) is reachable and is not the sandbox's root",
            target.display()
        ),
    }
    let probe = format!("/proc/1/cwd/isolated-test-escape-probe-{}", unique());
    match io_errno(OpenOptions::new().write(true).create_new(true).open(&probe)) {
        Err(e) => assert!(refused(e), "creating {probe}: {} (expected EACCES or EPERM)", errno_name(e)),
        Ok(file) => {
            drop(file);
            let inside = identity("/proc/1/cwd") == Ok(ours);
            let _ = fs::remove_file(&probe);
            assert!(inside, "created {probe} in PID 1's working directory outside the sandbox (removed again)");
        }
    }
}

/// PID 1's root (the host's `/` if it was never moved) leads to the host's
/// `/proc` and with it the host's writable sysctls.
#[isolated_test]
fn pid1_root_does_not_lead_to_the_host() {
    let ours = identity("/").unwrap();
    match io_errno(fs::read_link("/proc/1/root")) {
        Err(e) => assert!(refused(e), "readlink /proc/1/root: {} (expected EACCES or EPERM)", errno_name(e)),
        Ok(target) => assert_eq!(
            identity("/proc/1/root"),
            Ok(ours),
            "PID 1's root ({}) is reachable and is not the sandbox's root",
            target.display()
        ),
    }
    // Opened, never written.
    let sysctl = Path::new("/proc/1/root/proc/sys/vm/swappiness");
    match open_for_writing(sysctl) {
        Ok(_) => panic!("{} opened for writing: a host sysctl through PID 1's root", sysctl.display()),
        Err(e) => assert!(
            refused(e) || e == libc::EROFS,
            "{}: {} (expected EACCES, EPERM, or EROFS from the sandbox's own /proc/sys)",
            sysctl.display(),
            errno_name(e)
        ),
    }
}

/// PID 1 holds the caller's stdin/stdout/stderr (the terminal or the
/// runner's capture) and the write end of the result channel.
#[isolated_test]
fn pid1_descriptors_are_out_of_reach() {
    let mut fds: BTreeSet<u32> = (0..=10).collect();
    if let Ok(listing) = fs::read_dir("/proc/1/fd") {
        fds.extend(listing.flatten().filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()));
    }
    let mut reached = Vec::new();
    for fd in fds {
        let path = format!("/proc/1/fd/{fd}");
        let attempts = [
            ("readlink", io_errno(fs::read_link(&path)).map(drop)),
            ("open for reading", io_errno(File::open(&path)).map(drop)),
            ("open for writing", open_for_writing(Path::new(&path)).map(drop)),
        ];
        for (what, result) in attempts {
            match result {
                // ENOENT: no such descriptor (the listing was refused, so
                // 0..=10 are tried blind).
                Err(e) if refused(e) || e == libc::ENOENT => {}
                other => reached.push(format!("{what} {path}: {}", outcome(&other))),
            }
        }
    }
    // pidfd_getfd(2) copies a descriptor out of another process.
    // SAFETY: pidfd_open takes a pid and flags, no pointers.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, 1, 0) };
    assert!(pidfd >= 0, "pidfd_open(1): {}", errno_name(last_errno()));
    for fd in 0..=2 {
        // SAFETY: pidfd_getfd takes descriptors and flags, no pointers.
        let got = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd, fd, 0) };
        if got >= 0 {
            // SAFETY: `got` is a descriptor the kernel just gave us.
            unsafe { libc::close(got as i32) };
            reached.push(format!("pidfd_getfd(PID 1, {fd}) succeeded"));
        } else {
            let errno = last_errno();
            if errno != libc::EPERM {
                reached.push(format!("pidfd_getfd(PID 1, {fd}): {} (expected EPERM)", errno_name(errno)));
            }
        }
    }
    // SAFETY: closes the pidfd opened above.
    unsafe { libc::close(pidfd as i32) };
    assert!(reached.is_empty(), "PID 1's descriptors are reachable:\n  {}", reached.join("\n  "));
}

/// `/proc/1/environ` is the caller's environment (tokens, paths); `mem` and
/// `maps` are PID 1's memory. Their contents are never printed.
#[isolated_test]
fn pid1_environment_and_memory_are_out_of_reach() {
    let mut reached = Vec::new();
    for (file, write) in [("environ", false), ("mem", false), ("mem", true), ("maps", false), ("auxv", false)] {
        let path = format!("/proc/1/{file}");
        let opened = io_errno(OpenOptions::new().read(true).write(write).open(&path));
        match opened {
            Err(e) if refused(e) => {}
            Err(e) => reached.push(format!("{path}: {} (expected EACCES or EPERM)", errno_name(e))),
            Ok(mut f) => {
                let mut buf = [0u8; 64];
                let read = io_errno(f.read(&mut buf));
                let mode = if write { "read-write" } else { "for reading" };
                match read {
                    Err(e) if refused(e) => {}
                    Ok(n) => reached.push(format!("{path} opened {mode} and {n} bytes read")),
                    Err(e) => reached.push(format!("{path} opened {mode} (read: {})", errno_name(e))),
                }
            }
        }
    }
    assert!(reached.is_empty(), "PID 1's environment or memory is reachable:\n  {}", reached.join("\n  "));
}

#[isolated_test]
fn pid1_cannot_be_traced_or_read() {
    let seize = in_forked_child(|| {
        // SAFETY: PTRACE_SEIZE takes a pid and no pointers; if it succeeds
        // the tracee is detached when this child exits.
        let r = unsafe { libc::ptrace(libc::PTRACE_SEIZE, 1, 0, 0) };
        if r == 0 { 0 } else { last_errno() }
    });
    assert_eq!(
        seize,
        libc::EPERM,
        "PTRACE_SEIZE of PID 1: {}",
        if seize == 0 { "succeeded".into() } else { errno_name(seize) }
    );

    let mut byte = [0u8; 1];
    let local = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
    // An address PID 1 has no mapping at: allowed access would be EFAULT.
    let remote = libc::iovec { iov_base: 0x1000 as *mut libc::c_void, iov_len: 1 };
    // SAFETY: `local` points at a live 1-byte buffer; `remote` is only
    // interpreted in PID 1's address space by the kernel.
    let read = unsafe { libc::process_vm_readv(1, &local, 1, &remote, 1, 0) };
    let errno = if read < 0 { last_errno() } else { 0 };
    assert_eq!(
        errno,
        libc::EPERM,
        "process_vm_readv of PID 1: {}",
        if errno == 0 { "succeeded".into() } else { errno_name(errno) }
    );
}

/// Entering PID 1's namespaces must gain nothing: either they cannot be
/// opened, or they are the body's own, or `setns` is refused.
#[isolated_test]
fn pid1_namespaces_cannot_be_entered() {
    let mut entered = Vec::new();
    for ns in ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"] {
        let theirs = format!("/proc/1/ns/{ns}");
        match io_errno(fs::read_link(&theirs)) {
            Err(e) if refused(e) || e == libc::ENOENT => {}
            Err(e) => entered.push(format!("readlink {theirs}: {}", errno_name(e))),
            Ok(link) => {
                if fs::read_link(format!("/proc/self/ns/{ns}")).ok() == Some(link.clone()) {
                    continue; // the body's own namespace: nothing to gain
                }
                let path = cstr(&theirs);
                let code = in_forked_child(|| {
                    // SAFETY: open(2) on a NUL-terminated path; setns on the
                    // descriptor it returned. Single-threaded child.
                    unsafe {
                        let fd = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
                        if fd < 0 {
                            return last_errno();
                        }
                        if libc::setns(fd, 0) == 0 { 0 } else { last_errno() }
                    }
                });
                if !refused(code) {
                    let how = if code == 0 { "succeeded".into() } else { errno_name(code) };
                    entered.push(format!("setns into PID 1's {ns} namespace ({}): {how}", link.display()));
                }
            }
        }
    }
    assert!(entered.is_empty(), "PID 1's namespaces could be entered:\n  {}", entered.join("\n  "));
}

/// The init of a PID namespace ignores SIGKILL and SIGSTOP from inside it.
#[isolated_test]
fn pid1_ignores_kill_and_stop_from_inside() {
    for sig in [libc::SIGKILL, libc::SIGSTOP] {
        // SAFETY: kill(2) takes a pid and a signal number.
        let r = unsafe { libc::kill(1, sig) };
        assert!(r == 0 || last_errno() == libc::EPERM, "kill(1, {sig}): {}", errno_name(last_errno()));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let stat = fs::read_to_string("/proc/1/stat").unwrap_or_default();
    // SAFETY: as above; SIGCONT undoes a stop that should not have happened.
    unsafe { libc::kill(1, libc::SIGCONT) };
    let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next());
    assert!(matches!(state, Some('S' | 'R' | 'D')), "PID 1 after SIGKILL and SIGSTOP: state {state:?} ({stat})");
    assert_eq!(rustix::process::getppid().map(|p| p.as_raw_nonzero().get()), Some(1));
}

// ------------------------------------------------------------ result channel

/// The result channel is fd 3 of PID 2 (and PID 1 keeps the write end as
/// fd 6): a process the body starts must neither inherit it nor reopen it
/// through `/proc`, or it could forge the verdict.
#[isolated_test]
fn children_cannot_reach_the_result_channel() {
    // `echo x` puts a line the parent ignores as garbage; PID 1's
    // descriptors (the caller's stdio) are only opened, never written.
    let script = r#"
        if [ -e /proc/self/fd/3 ]; then echo "fd3 open"; else echo "fd3 closed"; fi
        if (echo x > /proc/2/fd/3) 2>/dev/null; then echo "/proc/2/fd/3 written"; else echo "/proc/2/fd/3 refused"; fi
        for f in /proc/1/fd/0 /proc/1/fd/1 /proc/1/fd/2 /proc/1/fd/6; do
            if (exec 9>"$f") 2>/dev/null; then echo "$f opened"; else echo "$f refused"; fi
        done
        ls -l /proc/self/fd /proc/2/fd >&2
    "#;
    let out = std::process::Command::new("sh").arg("-c").arg(script).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let detail = format!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.lines().any(|l| l == "fd3 closed"), "a child inherited the result channel:\n{detail}");
    for path in ["/proc/2/fd/3", "/proc/1/fd/0", "/proc/1/fd/1", "/proc/1/fd/2", "/proc/1/fd/6"] {
        assert!(text.lines().any(|l| l == format!("{path} refused")), "a child reached {path}:\n{detail}");
    }
}

// ------------------------------------------------------------------- mounts

/// Mounts the sandbox was built with are inherited by the body from a more
/// privileged mount namespace: their read-only flag must be locked, or
/// `/proc/sys`, `/sys` and read-only host binds become writable.
#[isolated_test]
fn inherited_read_only_mounts_cannot_be_made_writable() {
    let start = mounts();
    let read_only: Vec<&Mount> = start.iter().filter(|m| m.read_only()).collect();
    for needed in ["/proc/sys", "/sys"] {
        assert!(read_only.iter().any(|m| m.point == needed), "{needed} is not a read-only mount: {start:#?}");
    }
    let mut writable = Vec::new();
    for m in &read_only {
        let kept = m.kept_flags();
        let mut attempts = vec![
            ("mount -o remount,bind,rw", raw_mount(None, &m.point, None, libc::MS_REMOUNT | libc::MS_BIND, None)),
            (
                "mount -o remount,bind,rw (keeping nosuid/nodev/noexec)",
                raw_mount(None, &m.point, None, libc::MS_REMOUNT | libc::MS_BIND | kept, None),
            ),
            ("mount_setattr clearing MOUNT_ATTR_RDONLY", clear_readonly_at(libc::AT_FDCWD, &m.point, 0)),
        ];
        // A superblock remount as well, for the sandbox's own proc and sysfs
        // (never for host filesystems).
        if matches!(m.fstype.as_str(), "proc" | "sysfs") {
            attempts.push(("mount -o remount,rw", raw_mount(None, &m.point, None, libc::MS_REMOUNT | kept, None)));
        }
        for (what, result) in attempts {
            if result != Err(libc::EPERM) {
                writable.push(format!("{what} {} ({}): {}", m.point, m.fstype, outcome(&result)));
            }
        }
    }
    assert!(
        writable.is_empty(),
        "read-only mounts can be made writable (expected EPERM):\n  {}",
        writable.join("\n  ")
    );
}

/// A copy of a read-only mount (a bind mount, or a detached `open_tree`
/// clone) keeps the locked read-only flag.
#[isolated_test]
fn copies_of_read_only_mounts_stay_read_only() {
    let base = "/tmp/isolated-test-escape-copies";
    own_tmpfs(base);
    let read_only: Vec<Mount> = mounts().into_iter().filter(|m| m.read_only() && m.point != base).collect();
    let mut writable = Vec::new();
    for (i, m) in read_only.iter().enumerate() {
        let target = format!("{base}/{i}");
        if Path::new(&m.point).is_dir() {
            fs::create_dir(&target).unwrap();
        } else {
            File::create(&target).unwrap();
        }
        // Refused copies (EINVAL for a tree with locked children) are
        // contained; a copy that exists must stay read-only.
        if raw_mount(Some(&m.point), &target, None, libc::MS_BIND | libc::MS_REC, None).is_ok() {
            let flags = libc::MS_REMOUNT | libc::MS_BIND | m.kept_flags();
            let result = raw_mount(None, &target, None, flags, None);
            if result != Err(libc::EPERM) {
                writable.push(format!("bind copy of {} remounted rw: {}", m.point, outcome(&result)));
            }
            let _ = raw_umount(&target, libc::MNT_DETACH);
        }
        let source = cstr(&m.point);
        let flags = OPEN_TREE_CLONE | AT_RECURSIVE | libc::O_CLOEXEC as libc::c_uint;
        // SAFETY: open_tree(2) on a NUL-terminated path; returns a descriptor.
        let tree = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, source.as_ptr(), flags) };
        if tree >= 0 {
            let result = clear_readonly_at(tree as i32, "", libc::AT_EMPTY_PATH as libc::c_uint);
            if result != Err(libc::EPERM) {
                writable.push(format!("open_tree clone of {} made writable: {}", m.point, outcome(&result)));
            }
            // SAFETY: closes the descriptor open_tree returned (the detached
            // copy goes with it).
            unsafe { libc::close(tree as i32) };
        }
    }
    assert!(writable.is_empty(), "copies of read-only mounts became writable:\n  {}", writable.join("\n  "));
}

/// Unmounting an inherited mount reveals what it covers: the writable
/// `/proc/sys` under the read-only one, host directories under overlays.
/// (The sandbox is thrown away, so a successful unmount only fails the test.)
#[isolated_test(timeout = "30s")]
fn inherited_mounts_cannot_be_unmounted() {
    let start = mounts();
    let mut unmounted = Vec::new();
    // Deepest first, so that a successful unmount of a parent cannot make a
    // child's EINVAL look like containment.
    for m in start.iter().rev() {
        for (what, flags) in [("umount", 0), ("umount -l", libc::MNT_DETACH)] {
            let result = raw_umount(&m.point, flags);
            if !matches!(result, Err(libc::EINVAL | libc::EPERM)) {
                unmounted.push(format!("{what} {} ({}): {}", m.point, m.fstype, outcome(&result)));
            }
        }
    }
    assert!(
        unmounted.is_empty(),
        "inherited mounts can be unmounted (expected EINVAL or EPERM):\n  {}",
        unmounted.join("\n  ")
    );
}

/// Moving an inherited mount away reveals what it covers, like unmounting.
#[isolated_test(timeout = "30s")]
fn inherited_mounts_cannot_be_moved() {
    let start = mounts();
    let base = "/tmp/isolated-test-escape-moved";
    own_tmpfs(base);
    let mut moved = Vec::new();
    for (i, m) in start.iter().enumerate().rev() {
        if Path::new(base).starts_with(&m.point) {
            continue; // `/` and `/tmp` cannot move below themselves anyway
        }
        let target = format!("{base}/{i}");
        if Path::new(&m.point).is_dir() {
            fs::create_dir(&target).unwrap();
        } else {
            File::create(&target).unwrap();
        }
        let result = raw_mount(Some(&m.point), &target, None, libc::MS_MOVE, None);
        if !matches!(result, Err(libc::EINVAL | libc::EPERM)) {
            moved.push(format!("mount --move {} ({}): {}", m.point, m.fstype, outcome(&result)));
        }
    }
    assert!(moved.is_empty(), "inherited mounts can be moved (expected EINVAL or EPERM):\n  {}", moved.join("\n  "));
}

fn filesystem_known(fstype: &str) -> bool {
    fs::read_to_string("/proc/filesystems").unwrap().lines().any(|l| l.split_whitespace().last() == Some(fstype))
}

fn cgroup_v1_controller_known(controller: &str) -> bool {
    fs::read_to_string("/proc/cgroups").unwrap().lines().any(|l| l.split_whitespace().next() == Some(controller))
}

/// A fresh procfs shows a writable `/proc/sys`; a writable sysfs, cgroup
/// hierarchies and the debug filesystems are host state. A read-only
/// sysfs is what the harness mounts itself, so it may be allowed; it must
/// not become writable then.
#[isolated_test]
fn kernel_filesystems_cannot_be_mounted() {
    let base = "/tmp/isolated-test-escape-fs";
    own_tmpfs(base);
    let attempts: &[(&str, &str, Option<&str>)] = &[
        ("proc", "proc", None),
        ("sysfs read-write", "sysfs", None),
        ("cgroup2", "cgroup2", None),
        ("cgroup v1 pids", "cgroup", Some("pids")),
        ("cgroup v1 memory", "cgroup", Some("memory")),
        ("cgroup v1 named systemd", "cgroup", Some("none,name=systemd")),
        ("devtmpfs", "devtmpfs", None),
        ("debugfs", "debugfs", None),
        ("tracefs", "tracefs", None),
        ("securityfs", "securityfs", None),
        ("pstore", "pstore", None),
        ("configfs", "configfs", None),
        ("efivarfs", "efivarfs", None),
        ("fusectl", "fusectl", None),
    ];
    let mut mounted = Vec::new();
    for (i, (what, fstype, options)) in attempts.iter().enumerate() {
        if !filesystem_known(fstype) {
            continue; // not in this kernel: nothing to reach
        }
        if let (&"cgroup", Some(controller)) = (fstype, options) {
            if !controller.contains("name=") && !cgroup_v1_controller_known(controller) {
                continue;
            }
        }
        let dir = format!("{base}/{i}");
        fs::create_dir(&dir).unwrap();
        let result = raw_mount(Some("none"), &dir, Some(fstype), 0, *options);
        if result.is_ok() {
            // Never used: a cgroup directory made here would be on the host.
            let _ = raw_umount(&dir, libc::MNT_DETACH);
        }
        if result != Err(libc::EPERM) {
            mounted.push(format!("mount -t {fstype} ({what}): {}", outcome(&result)));
        }
    }
    let dir = format!("{base}/sysfs-ro");
    fs::create_dir(&dir).unwrap();
    let ro = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    if raw_mount(Some("sysfs"), &dir, Some("sysfs"), ro, None).is_ok() {
        let flags = libc::MS_REMOUNT | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        for (what, extra) in [("mount -o remount,rw", 0), ("mount -o remount,bind,rw", libc::MS_BIND)] {
            let result = raw_mount(None, &dir, None, flags | extra, None);
            if result != Err(libc::EPERM) {
                mounted.push(format!("a fresh read-only sysfs, {what}: {}", outcome(&result)));
            }
        }
        let _ = raw_umount(&dir, libc::MNT_DETACH);
    }
    assert!(mounted.is_empty(), "kernel filesystems can be mounted (expected EPERM):\n  {}", mounted.join("\n  "));
}

/// What root inside is for: mounts of its own still work and go again.
#[isolated_test]
fn root_inside_can_still_mount_its_own() {
    let base = "/tmp/isolated-test-escape-own";
    own_tmpfs(base);
    fs::write(format!("{base}/f"), "x").unwrap();

    for dir in ["a", "b", "lower", "upper", "work", "merged", "mq"] {
        fs::create_dir(format!("{base}/{dir}")).unwrap();
    }
    fs::write(format!("{base}/a/in-a"), "a").unwrap();
    raw_mount(Some(&format!("{base}/a")), &format!("{base}/b"), None, libc::MS_BIND, None)
        .unwrap_or_else(|e| panic!("bind mount of its own: {}", errno_name(e)));
    assert_eq!(fs::read_to_string(format!("{base}/b/in-a")).unwrap(), "a");
    raw_umount(&format!("{base}/b"), 0).unwrap_or_else(|e| panic!("umount of its own bind: {}", errno_name(e)));

    fs::write(format!("{base}/lower/old"), "lower").unwrap();
    let data = format!("lowerdir={base}/lower,upperdir={base}/upper,workdir={base}/work,userxattr");
    raw_mount(Some("overlay"), &format!("{base}/merged"), Some("overlay"), 0, Some(&data))
        .unwrap_or_else(|e| panic!("overlay of its own ({data}): {}", errno_name(e)));
    fs::write(format!("{base}/merged/new"), "upper").unwrap();
    fs::write(format!("{base}/merged/old"), "changed").unwrap();
    assert_eq!(fs::read_to_string(format!("{base}/lower/old")).unwrap(), "lower");
    assert!(!Path::new(&format!("{base}/lower/new")).exists());
    raw_umount(&format!("{base}/merged"), 0).unwrap_or_else(|e| panic!("umount of its own overlay: {}", errno_name(e)));

    raw_mount(Some("mqueue"), &format!("{base}/mq"), Some("mqueue"), 0, None)
        .unwrap_or_else(|e| panic!("mount -t mqueue (the sandbox's IPC namespace): {}", errno_name(e)));
    raw_umount(&format!("{base}/mq"), 0).unwrap_or_else(|e| panic!("umount of its own mqueue: {}", errno_name(e)));

    raw_umount(base, 0).unwrap_or_else(|e| panic!("umount of its own tmpfs: {}", errno_name(e)));
    assert!(!Path::new(&format!("{base}/f")).exists());
}

/// `/mnt` is copy-on-write as root. Rootless, a top-level directory that
/// carries submounts cannot be overlaid inside a user namespace (locked
/// submounts), so it is bound read-only and mkdir fails with EROFS; only
/// then.
#[isolated_test]
fn new_directories_in_mnt_stay_in_the_sandbox() {
    if !Path::new("/mnt").is_dir() {
        eprintln!("this host has no /mnt: nothing to check");
        return;
    }
    let all = mounts();
    let has_submounts = all.iter().any(|m| m.point.starts_with("/mnt/"));
    let dir = format!("/mnt/isolated-test-escape-{}", unique());
    // The mount the new directory lands on: the longest mount point above it.
    let holder = all
        .iter()
        .filter(|m| Path::new(&dir).starts_with(&m.point))
        .max_by_key(|m| m.point.len())
        .cloned()
        .expect("some mount holds /mnt");
    match io_errno(fs::create_dir(&dir)) {
        Ok(()) => {
            let _ = fs::remove_dir(&dir);
            assert!(
                holder.fstype == "overlay" || (holder.fstype == "tmpfs" && holder.root == "/"),
                "mkdir {dir} succeeded on a `{}` mount at {}: a write to the host",
                holder.fstype,
                holder.point
            );
        }
        Err(e) => assert!(
            rootless() && has_submounts && e == libc::EROFS,
            "mkdir {dir}: {} on a `{}` mount at {} ({}; /mnt {} submounts)",
            errno_name(e),
            holder.fstype,
            holder.point,
            if rootless() { "rootless" } else { "as root /mnt must be copy-on-write" },
            if has_submounts { "carries" } else { "has no" }
        ),
    }
}

/// A writable mount of a host filesystem is a write to the host: every
/// writable mount is the sandbox's own (a whole tmpfs, an overlay, proc,
/// sysfs, devpts, mqueue) or one of the device nodes bound into `/dev`.
#[isolated_test]
fn no_host_filesystem_is_mounted_writable() {
    let mut host = Vec::new();
    for m in mounts().into_iter().filter(|m| !m.read_only()) {
        let own = match m.fstype.as_str() {
            // A bound part of a host tmpfs has a root other than `/`.
            "tmpfs" => m.root == "/",
            "overlay" | "proc" | "sysfs" | "devpts" | "mqueue" => true,
            // The host's device nodes are bound read-only: usable, but
            // their mode, owner and times are the host's.
            _ => false,
        };
        if !own {
            host.push(format!("{} ({} {}, {})", m.point, m.fstype, m.root, m.options.join(",")));
        }
    }
    assert!(host.is_empty(), "host filesystems are mounted writable:\n  {}", host.join("\n  "));
}

/// No device node in `/dev` is the host's to change. As root they are the
/// sandbox's own nodes on its `/dev` tmpfs (a `chmod` inside changes only
/// them); rootless they are the host's inodes bound in read-only, so their
/// mode, owner and times cannot be changed (`chmod 000 /dev/null` in a test
/// would otherwise break the host's `/dev/null`). Each probe writes back
/// what is there already. Either way no new device node can be made: the
/// `/dev` tmpfs as root allows device nodes, so `mknod` of a disk must fail
/// on it.
#[isolated_test]
fn host_device_nodes_cannot_be_changed() {
    let dev_fs = fs::metadata("/dev").unwrap().dev();
    let points: BTreeSet<String> = mounts().into_iter().map(|m| m.point).collect();
    let mut changed = Vec::new();
    for dev in ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"] {
        let meta = fs::metadata(dev).unwrap();
        if !rootless() {
            assert!(
                meta.dev() == dev_fs && !points.contains(dev),
                "{dev} is not the sandbox's own node on its /dev tmpfs"
            );
            continue;
        }
        let path = cstr(dev);
        // SAFETY: chmod, chown and utimensat on a NUL-terminated path, with
        // the values the node has now.
        let probes: [(&str, i32); 3] = unsafe {
            let times = [
                libc::timespec { tv_sec: meta.atime(), tv_nsec: meta.atime_nsec() },
                libc::timespec { tv_sec: meta.mtime(), tv_nsec: meta.mtime_nsec() },
            ];
            [
                ("chmod", libc::chmod(path.as_ptr(), meta.mode() & 0o7777)),
                ("chown", libc::chown(path.as_ptr(), meta.uid(), meta.gid())),
                ("utimensat", libc::utimensat(libc::AT_FDCWD, path.as_ptr(), times.as_ptr(), 0)),
            ]
        };
        for (what, ret) in probes {
            if ret == 0 {
                changed.push(format!("{what} {dev} succeeded"));
            }
        }
    }
    assert!(changed.is_empty(), "host device nodes can be changed from inside:\n  {}", changed.join("\n  "));
    // No node of a real device can be made (8:0 is the first SCSI disk).
    for dir in ["/dev", "/tmp"] {
        let node = cstr(&format!("{dir}/isolated-test-disk-probe"));
        // SAFETY: mknod on a NUL-terminated path; a node made is removed.
        let made = unsafe { libc::mknod(node.as_ptr(), libc::S_IFBLK | 0o600, libc::makedev(8, 0)) } == 0;
        if made {
            // SAFETY: as above.
            unsafe { libc::unlink(node.as_ptr()) };
        }
        assert!(!made, "a block device node could be made in {dir}");
    }
    // Still devices that work.
    fs::write("/dev/null", b"gone").unwrap();
    let mut zeros = [1u8; 16];
    File::open("/dev/zero").unwrap().read_exact(&mut zeros).unwrap();
    assert_eq!(zeros, [0u8; 16]);
    assert_eq!(fs::write("/dev/full", b"x").unwrap_err().raw_os_error(), Some(libc::ENOSPC));
}

/// Memory is a host resource: every scratch tmpfs has a size and an inode
/// limit (DESIGN.md, Boundary).
#[isolated_test]
fn scratch_tmpfs_mounts_are_bounded() {
    let mut unbounded = Vec::new();
    for m in mounts().into_iter().filter(|m| m.fstype == "tmpfs" && m.root == "/" && !m.read_only()) {
        let opts: Vec<&str> = m.super_options.split(',').collect();
        if !opts.iter().any(|o| o.starts_with("size=")) || !opts.iter().any(|o| o.starts_with("nr_inodes=")) {
            unbounded.push(format!("{} ({})", m.point, m.super_options));
        }
    }
    assert!(unbounded.is_empty(), "tmpfs mounts without size= and nr_inodes=:\n  {}", unbounded.join("\n  "));
}

/// A nested user namespace is root of nothing the sandbox did not give it:
/// its own PID or network namespace does not let it mount a fresh procfs
/// (a writable `/proc/sys`) or a writable sysfs.
#[isolated_test]
fn nested_namespaces_do_not_unlock_kernel_filesystems() {
    let script = r#"
        d=/tmp/isolated-test-escape-nested
        mkdir -p $d/proc $d/sys $d/sysro
        unshare --user --map-root-user --mount --pid --fork sh -c "mount -t proc proc $d/proc" 2>/dev/null
        echo "proc=$?"
        unshare --user --map-root-user --mount --net sh -c "mount -t sysfs sysfs $d/sys" 2>/dev/null
        echo "sysfs-rw=$?"
        unshare --user --map-root-user --mount --net sh -c "mount -t sysfs -o ro sysfs $d/sysro && mount -o remount,rw $d/sysro" 2>/dev/null
        echo "sysfs-ro-then-rw=$?"
    "#;
    let out = std::process::Command::new("sh").arg("-c").arg(script).output().expect("sh (and util-linux's unshare)");
    let text = String::from_utf8_lossy(&out.stdout);
    for key in ["proc", "sysfs-rw", "sysfs-ro-then-rw"] {
        let line = text.lines().find_map(|l| l.strip_prefix(&format!("{key}=")));
        assert!(
            matches!(line, Some(code) if code != "0"),
            "nested namespaces: `{key}` was not refused:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A nested cgroup namespace (allowed to any root of a user namespace)
/// lets the body mount the cgroup filesystems rooted at its own cgroup. As
/// root with the identity map, root inside passes the owner check of files
/// owned by host root: the limits of the sandbox's cgroup, or host knobs
/// when that cgroup is a root cgroup (v1 `memory.swappiness` there is the
/// host's `vm.swappiness`). None may be writable. Rootless they are not
/// owned by the caller (EACCES).
#[isolated_test]
fn nested_cgroup_namespaces_expose_no_limits_or_host_knobs() {
    let own = fs::read_to_string("/proc/self/cgroup").unwrap();
    let mut kinds = Vec::new();
    if own.lines().any(|l| l.starts_with("0::")) {
        kinds.push(("cgroup2", String::new()));
    }
    for controller in ["memory", "pids", "cpu"] {
        if own.lines().any(|l| l.split(':').nth(1).is_some_and(|c| c.split(',').any(|x| x == controller))) {
            kinds.push(("cgroup", format!("-o {controller}")));
        }
    }
    const KNOBS: &str = "memory.max memory.high memory.low memory.min memory.swap.max pids.max cpu.max cpu.weight \
                         io.max memory.limit_in_bytes memory.memsw.limit_in_bytes memory.kmem.limit_in_bytes \
                         memory.soft_limit_in_bytes memory.swappiness cpu.cfs_quota_us cpu.shares";
    let mut writable = Vec::new();
    for (i, (fstype, options)) in kinds.iter().enumerate() {
        let script = format!(
            r#"d=/tmp/isolated-test-escape-cgns-{i}; mkdir -p $d
            mount -t {fstype} {options} none $d || exit 0
            for f in {KNOBS}; do
                [ -f "$d/$f" ] || continue
                if (exec 9>"$d/$f") 2>/dev/null; then echo "$f writable"; fi
            done"#
        );
        let out = std::process::Command::new("unshare")
            .args(["--user", "--map-root-user", "--mount", "--cgroup", "sh", "-c", &script])
            .output()
            .expect("util-linux's unshare");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            writable.push(format!("{fstype} {options}: {line}"));
        }
    }
    assert!(
        writable.is_empty(),
        "a nested cgroup namespace exposes writable limits or host knobs:\n  {}",
        writable.join("\n  ")
    );
}

// ------------------------------------------------------------------ sysctls

/// Host-wide sysctls: read-only at the mount level (EROFS); rootless the
/// permission check, which runs first, may already refuse (EACCES, EPERM).
#[isolated_test]
fn global_sysctls_cannot_be_written() {
    let mut written = Vec::new();
    for name in [
        "vm/swappiness",
        "kernel/pid_max",
        "kernel/printk",
        "kernel/core_pattern",
        "kernel/modprobe",
        "kernel/randomize_va_space",
        "kernel/perf_event_paranoid",
        "fs/file-max",
        "vm/overcommit_memory",
    ] {
        let path = format!("/proc/sys/{name}");
        if !Path::new(&path).exists() {
            continue;
        }
        let result = write_back(&path);
        if !matches!(result, Err(libc::EROFS | libc::EACCES | libc::EPERM)) {
            written.push(format!("{path} (current value written back): {}", outcome(&result)));
        }
    }
    assert!(written.is_empty(), "global sysctls can be written:\n  {}", written.join("\n  "));
}

/// `net.netfilter.nf_hooks_lwtunnel` sits in the per-netns tree but is a
/// global, one-way switch.
#[isolated_test]
fn nf_hooks_lwtunnel_cannot_be_written() {
    let path = "/proc/sys/net/netfilter/nf_hooks_lwtunnel";
    if !Path::new(path).exists() {
        eprintln!("{path} does not exist on this kernel: nothing to reach");
        return;
    }
    let result = write_back(path);
    assert!(
        matches!(result, Err(libc::EROFS | libc::EACCES | libc::EPERM)),
        "{path} (current value written back): {}",
        outcome(&result)
    );
}

/// Sysctls that belong to the sandbox's own namespaces stay writable.
#[isolated_test(hostname = "escape-box")]
fn per_namespace_sysctls_stay_writable() {
    // UTS sysctls: rootless, the sysctl permission check compares the euid
    // with host root for tables without a namespace-aware check (UTS has
    // none, IPC and net do), so the write is refused (EACCES) even in a
    // fresh user namespace; sethostname(2) still works there.
    let uts = [
        ("/proc/sys/kernel/hostname", "isolated-test-escape-renamed"),
        ("/proc/sys/kernel/domainname", "isolated-test-escape-domain"),
    ];
    for (path, value) in uts {
        match write_value(path, value) {
            Ok(()) => {
                let uname = rustix::system::uname();
                let now = if path.ends_with("hostname") { uname.nodename() } else { uname.domainname() };
                assert_eq!(now.to_str().unwrap(), value, "{path} written but uname says otherwise");
            }
            Err(e) => assert!(
                rootless() && e == libc::EACCES,
                "{path}: {} (a per-namespace sysctl; rootless only EACCES)",
                errno_name(e)
            ),
        }
    }
    let mut refused_writes = Vec::new();
    for name in [
        "kernel/shmmax",
        "kernel/shmall",
        "kernel/shmmni",
        "kernel/msgmax",
        "kernel/msgmnb",
        "kernel/msgmni",
        "kernel/sem",
        "fs/mqueue/msg_max",
        "net/ipv4/ip_forward",
    ] {
        let path = format!("/proc/sys/{name}");
        if let Err(e) = write_back(&path) {
            refused_writes.push(format!("{path}: {}", errno_name(e)));
        }
    }
    assert!(
        refused_writes.is_empty(),
        "per-namespace sysctls refused (current value written back):\n  {}",
        refused_writes.join("\n  ")
    );
}

/// Sysctls of the sandbox's own namespaces (UTS, IPC, mqueue, net), which
/// may be writable.
fn per_namespace_sysctl(rel: &str) -> bool {
    if rel.starts_with("net/") {
        return rel != "net/netfilter/nf_hooks_lwtunnel";
    }
    matches!(rel, "kernel/hostname" | "kernel/domainname" | "kernel/sem" | "kernel/sem_next_id" | "kernel/auto_msgmni")
        || rel.starts_with("kernel/shm")
        || rel.starts_with("kernel/msg")
        || rel.starts_with("fs/mqueue/")
}

/// Every sysctl that is writable by its mode and not the sandbox's own is
/// refused at open (nothing is written).
#[isolated_test]
fn every_global_sysctl_is_read_only() {
    let mut files = Vec::new();
    regular_files(Path::new("/proc/sys"), &mut files);
    assert!(files.len() > 100, "too few sysctls found: {}", files.len());
    let mut open = Vec::new();
    for file in files {
        let rel = file.strip_prefix("/proc/sys").unwrap().to_string_lossy().into_owned();
        let Ok(meta) = fs::metadata(&file) else { continue };
        if per_namespace_sysctl(&rel) || meta.mode() & 0o200 == 0 {
            continue;
        }
        match open_for_writing(&file) {
            Err(libc::EROFS) => {}
            // Rootless the permission check (owner: host root) runs first.
            Err(e) if rootless() && refused(e) => {}
            other => open.push(format!("{}: {}", file.display(), outcome(&other))),
        }
    }
    assert!(open.is_empty(), "global sysctls open for writing (expected EROFS):\n  {}", open.join("\n  "));
}

/// Outside `/proc/sys`, procfs has host-wide knobs guarded only by file
/// mode (owner: host root): `/proc/sysrq-trigger`, IRQ affinities,
/// `/proc/bus/pci` (device config space). With the identity map, root inside
/// passes that owner check. Per-process directories are the sandbox's own;
/// `/proc/pressure` files take per-open-file triggers.
#[isolated_test]
fn procfs_has_no_writable_host_knobs_outside_sys() {
    let mut files = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.parse::<u32>().is_ok() || matches!(name.as_str(), "self" | "thread-self" | "sys" | "pressure") {
            continue;
        }
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            regular_files(&entry.path(), &mut files);
        } else if kind.is_file() {
            files.push(entry.path());
        }
    }
    let mut open = Vec::new();
    for file in files {
        let Ok(meta) = fs::metadata(&file) else { continue };
        if meta.mode() & 0o222 == 0 {
            continue;
        }
        match open_for_writing(&file) {
            Err(libc::EROFS) => {}
            Err(e) if refused(e) => {}
            other => open.push(format!("{}: {}", file.display(), outcome(&other))),
        }
    }
    assert!(open.is_empty(), "host knobs in /proc open for writing (nothing was written):\n  {}", open.join("\n  "));
}

/// `/sys` is read-only: no attribute opens for writing.
#[isolated_test(timeout = "120s")]
fn sysfs_has_no_writable_files() {
    let mut files = Vec::new();
    regular_files(Path::new("/sys"), &mut files);
    assert!(!files.is_empty(), "/sys is empty");
    let mut open = Vec::new();
    for file in files {
        let Ok(meta) = fs::symlink_metadata(&file) else { continue };
        if meta.mode() & 0o222 == 0 {
            continue;
        }
        match open_for_writing(&file) {
            Err(libc::EROFS) => {}
            Err(e) if rootless() && refused(e) => {}
            other => open.push(format!("{}: {}", file.display(), outcome(&other))),
        }
    }
    assert!(open.is_empty(), "sysfs files open for writing (nothing was written):\n  {}", open.join("\n  "));
}

// ----------------------------------------------------------------- terminal

/// Sharing the caller's session shares its controlling terminal, and
/// TIOCSTI on it types commands into the caller's shell. Nothing is ever
/// injected here: a terminal that can be reached fails the test as it is.
#[isolated_test]
fn no_controlling_terminal_is_shared() {
    // SAFETY: getsid and getpgrp read attributes of this process.
    let (sid, pgrp) = unsafe { (libc::getsid(0), libc::getpgrp()) };
    assert!(
        sid > 0,
        "the body's session leader is outside the sandbox (getsid(0) = {sid}, getpgrp() = {pgrp}): it shares the \
         caller's session and with it any controlling terminal"
    );
    let stat = fs::read_to_string("/proc/self/stat").unwrap();
    let tty_nr = stat.rsplit_once(") ").and_then(|(_, rest)| rest.split(' ').nth(4));
    assert_eq!(tty_nr, Some("0"), "the body has a controlling terminal: {stat}");
    for fd in 0..=2 {
        // SAFETY: isatty only inspects the descriptor.
        assert_eq!(unsafe { libc::isatty(fd) }, 0, "fd {fd} of the body is a terminal");
        let byte = b'#';
        // SAFETY: TIOCSTI reads one byte from the pointer given; fd is not a
        // terminal (checked above), so nothing can be injected.
        let r = unsafe { libc::ioctl(fd, libc::TIOCSTI, &byte as *const u8) };
        let errno = last_errno();
        assert!(
            r < 0 && matches!(errno, libc::ENOTTY | libc::EPERM | libc::EIO),
            "TIOCSTI on fd {fd}: {r} {}",
            errno_name(errno)
        );
    }
    match io_errno(OpenOptions::new().read(true).write(true).open("/dev/tty")) {
        Err(e) => {
            assert_eq!(e, libc::ENXIO, "open /dev/tty: {} (expected ENXIO: no controlling terminal)", errno_name(e))
        }
        Ok(_) => panic!("/dev/tty opened: the body has the caller's controlling terminal (no TIOCSTI was attempted)"),
    }
}

// ------------------------------------------------------------------ keyring

/// The kernel keyring is not namespaced: key serials are global and its
/// permission check compares uids, so root inside would own the caller's
/// keys. Every keyring call is refused (ENOSYS, as on a kernel without
/// keys), and `/proc/keys` lists nothing.
#[isolated_test]
fn the_kernel_keyring_is_refused_inside() {
    for (name, spec) in [("session", KEY_SPEC_SESSION_KEYRING), ("user", KEY_SPEC_USER_KEYRING)] {
        assert_eq!(keyctl(KEYCTL_GET_KEYRING_ID, spec, 1, 0, 0), Err(libc::ENOSYS), "keyctl on the {name} keyring");
    }
    let (kind, desc, payload) = (cstr("user"), cstr(&format!("isolated-test-escape-inside-{}", unique())), b"x");
    // SAFETY: add_key reads the NUL-terminated type and description and
    // `payload.len()` bytes of payload, all live for the call.
    let key = unsafe {
        libc::syscall(
            libc::SYS_add_key,
            kind.as_ptr(),
            desc.as_ptr(),
            payload.as_ptr(),
            payload.len(),
            KEY_SPEC_SESSION_KEYRING,
        )
    };
    assert_eq!((key, last_errno()), (-1, libc::ENOSYS), "add_key");
    // SAFETY: request_key reads the two NUL-terminated strings; no callout
    // info (null).
    let requested = unsafe {
        libc::syscall(
            libc::SYS_request_key,
            kind.as_ptr(),
            desc.as_ptr(),
            std::ptr::null::<u8>(),
            KEY_SPEC_SESSION_KEYRING,
        )
    };
    assert_eq!((requested, last_errno()), (-1, libc::ENOSYS), "request_key (its helper would run on the host)");
    assert_eq!(fs::read_to_string("/proc/keys").unwrap_or_default(), "", "/proc/keys lists keys");
}

// --------------------------------------------------- capabilities and devices

/// Device nodes need CAP_MKNOD in the initial user namespace, even on a
/// tmpfs of the test's own mounted without `nodev`.
#[isolated_test]
fn device_nodes_cannot_be_created() {
    let base = "/tmp/isolated-test-escape-dev";
    own_tmpfs(base);
    let mut made = Vec::new();
    for (name, kind, major, minor) in [
        ("loop0", libc::S_IFBLK, 7, 0),
        ("sda", libc::S_IFBLK, 8, 0),
        ("mem", libc::S_IFCHR, 1, 1),
        ("kmsg", libc::S_IFCHR, 1, 11),
    ] {
        let path = cstr(&format!("{base}/{name}"));
        // SAFETY: mknod(2) on a NUL-terminated path.
        let r = unsafe { libc::mknod(path.as_ptr(), kind | 0o600, libc::makedev(major, minor)) };
        if r == 0 || last_errno() != libc::EPERM {
            let what = if r == 0 { "created".into() } else { errno_name(last_errno()) };
            made.push(format!("mknod {name} ({major}:{minor}): {what}"));
        }
    }
    assert!(made.is_empty(), "device nodes (expected EPERM):\n  {}", made.join("\n  "));
}

/// Host-level system calls stay refused. Each probe is harmless even if it
/// were allowed (a missing module, an invalid kexec flag, a missing swap
/// file, the C-A-D setting of a PID namespace).
#[isolated_test]
fn host_only_system_calls_are_refused() {
    let mut allowed = Vec::new();
    let mut check = |what: &str, ret: c_long, ok: &[i32]| {
        let errno = if ret < 0 { last_errno() } else { 0 };
        // ENOSYS: not built into this kernel, nothing to reach.
        if ret >= 0 || !(ok.contains(&errno) || errno == libc::ENOSYS) {
            allowed.push(format!("{what}: {}", if ret >= 0 { "succeeded".into() } else { errno_name(errno) }));
        }
    };
    let empty = cstr("");
    let nonexistent_module = cstr("isolated_test_escape_nonexistent");
    let nonexistent_file = cstr("/nonexistent/isolated-test-escape-swap");
    // SAFETY: in each call below the arguments are integers, null, or
    // NUL-terminated strings that outlive the call.
    unsafe {
        check("init_module", libc::syscall(libc::SYS_init_module, 0usize, 0usize, empty.as_ptr()), &[libc::EPERM]);
        check("finit_module", libc::syscall(libc::SYS_finit_module, -1, empty.as_ptr(), 0), &[libc::EPERM]);
        check(
            "delete_module",
            libc::syscall(libc::SYS_delete_module, nonexistent_module.as_ptr(), libc::O_NONBLOCK),
            &[libc::EPERM],
        );
        // Flag 0x100 is no kexec flag: allowed callers get EINVAL.
        check("kexec_load", libc::syscall(libc::SYS_kexec_load, 0usize, 0usize, 0usize, 0x100usize), &[libc::EPERM]);
        check("swapon", libc::syscall(libc::SYS_swapon, nonexistent_file.as_ptr(), 0), &[libc::EPERM]);
        // In a PID namespace other than the initial one, the C-A-D commands
        // are EINVAL: they never reach the host's setting.
        check(
            "reboot(LINUX_REBOOT_CMD_CAD_OFF)",
            libc::syscall(
                libc::SYS_reboot,
                libc::LINUX_REBOOT_MAGIC1,
                libc::LINUX_REBOOT_MAGIC2,
                libc::LINUX_REBOOT_CMD_CAD_OFF,
                0usize,
            ),
            &[libc::EINVAL, libc::EPERM],
        );
        #[cfg(target_arch = "x86_64")]
        {
            let r = libc::syscall(libc::SYS_iopl, 3);
            if r == 0 {
                libc::syscall(libc::SYS_iopl, 0);
            }
            check("iopl(3)", r, &[libc::EPERM]);
            let r = libc::syscall(libc::SYS_ioperm, 0x80usize, 1usize, 1);
            if r == 0 {
                libc::syscall(libc::SYS_ioperm, 0x80usize, 1usize, 0);
            }
            check("ioperm(0x80)", r, &[libc::EPERM]);
        }
    }
    for path in ["/proc/kcore", "/proc/kmsg"] {
        let result = io_errno(File::open(path));
        if !matches!(result, Err(libc::EPERM | libc::EACCES | libc::ENOENT)) {
            allowed.push(format!("open {path}: {}", outcome(&result)));
        }
    }
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
    if rustix::time::clock_settime(rustix::time::ClockId::Realtime, now) != Err(rustix::io::Errno::PERM) {
        allowed.push("clock_settime: not EPERM".into());
    }
    assert!(allowed.is_empty(), "host-level system calls were not refused:\n  {}", allowed.join("\n  "));
}

/// `open_by_handle_at` ("shocker"): a handle of the root inode of a host
/// filesystem that is only partly bound into the sandbox (a single file,
/// `/mnt`) must not open that filesystem's root.
#[isolated_test]
fn file_handles_do_not_open_host_files() {
    #[repr(C)]
    struct Ext4RootHandle {
        handle_bytes: u32,
        handle_type: i32,
        /// FILEID_INO32_GEN: inode 2 (the root of an ext2/3/4 filesystem),
        /// generation 0 (not checked).
        ino_gen: [u32; 2],
    }
    let mut opened = Vec::new();
    for m in mounts().into_iter().filter(|m| matches!(m.fstype.as_str(), "ext2" | "ext3" | "ext4") && m.root != "/") {
        let Ok(file) = File::open(&m.point) else { continue };
        let handle = Ext4RootHandle { handle_bytes: 8, handle_type: 1, ino_gen: [2, 0] };
        // SAFETY: `handle` is a valid struct file_handle of the declared
        // size; the mount descriptor is open for the call.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_open_by_handle_at,
                std::os::fd::AsRawFd::as_raw_fd(&file),
                &handle,
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd >= 0 {
            // SAFETY: closes the descriptor just returned.
            unsafe { libc::close(fd as i32) };
            opened.push(format!(
                "the root of the {} filesystem behind {} (only {} is mounted)",
                m.fstype, m.point, m.root
            ));
        }
    }
    assert!(opened.is_empty(), "open_by_handle_at opened host files:\n  {}", opened.join("\n  "));
}

/// The classic chroot escape (chroot into a subdirectory, walk `..` from a
/// descriptor kept outside, chroot `.`) ends at the sandbox's root, never
/// above it.
#[isolated_test]
fn chroot_does_not_lead_out() {
    let ours = identity("/").unwrap();
    let jail = "/tmp/isolated-test-escape-jail/inner";
    fs::create_dir_all(jail).unwrap();
    let (jail, root, up, here) = (cstr(jail), cstr("/"), cstr(".."), cstr("."));
    let code = in_forked_child(|| {
        // SAFETY: system calls on NUL-terminated paths prepared before the
        // fork and on a local stat buffer; single-threaded child.
        unsafe {
            let outside = libc::open(root.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
            if outside < 0 || libc::chroot(jail.as_ptr()) != 0 || libc::fchdir(outside) != 0 {
                return 100;
            }
            for _ in 0..64 {
                libc::chdir(up.as_ptr());
            }
            if libc::chroot(here.as_ptr()) != 0 {
                return 101;
            }
            let mut st: libc::stat = std::mem::zeroed();
            if libc::stat(root.as_ptr(), &mut st) != 0 {
                return 102;
            }
            if (st.st_dev, st.st_ino) == ours { 0 } else { 1 }
        }
    });
    assert_eq!(
        code,
        0,
        "after the chroot escape the root is {} than the sandbox's",
        if code == 1 { "other" } else { "unknown (setup failed)" }
    );
}
