//! The parent's side of starting a sandbox: prepare every string and
//! descriptor, `clone3` PID 1 into new namespaces, write its id maps, and
//! let it go.

use std::ffi::{CString, OsString};
use std::fs;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use rustix::pipe::PipeFlags;

use super::{diagnose, zygote};
use crate::config::ENV_SETUP;
use crate::error::{IoCause, SpawnError};
use crate::sandbox::request::{MAX_REQUEST_LEN, SetupRequest};
use crate::sys::pid1::{Cloned, ExecImage, HANDOVER_MIN_FD, Handover, Pid2, clone_sandbox};

use crate::config::{ENV_CHILD_NONCE, ENV_CHILD_TEST};

/// The namespaces a sandbox can get from `clone3`; which ones it does
/// depends on the mode (see [`clone_namespaces`]).
pub(crate) const NAMESPACES: &[(u64, &str)] = &[
    (libc::CLONE_NEWUSER as u64, "CLONE_NEWUSER"),
    (libc::CLONE_NEWPID as u64, "CLONE_NEWPID"),
    (libc::CLONE_NEWNS as u64, "CLONE_NEWNS"),
    (libc::CLONE_NEWUTS as u64, "CLONE_NEWUTS"),
    (libc::CLONE_NEWIPC as u64, "CLONE_NEWIPC"),
    (libc::CLONE_NEWNET as u64, "CLONE_NEWNET"),
    (libc::CLONE_NEWCGROUP as u64, "CLONE_NEWCGROUP"),
];

/// A started sandbox, seen from the parent.
pub(crate) struct Started {
    /// PID 1 (host PID and pidfd).
    pub(crate) init: Cloned,
    /// Read end of PID 2's stdout.
    pub(crate) stdout: OwnedFd,
    /// Read end of PID 2's stderr.
    pub(crate) stderr: OwnedFd,
    /// Read end of the result channel.
    pub(crate) result: OwnedFd,
    /// The sandbox's cgroup; `None` when no limit was asked for and none
    /// could be had (the report then says limits are off).
    pub(crate) cgroup: Option<crate::sandbox::cgroup::Cgroup>,
    /// Why there is no cgroup, when there is none.
    pub(crate) limits_off: Option<String>,
}

/// What to run as PID 2, and how.
pub(crate) struct Invocation {
    /// `argv[0]` is also the path executed.
    pub(crate) argv: Vec<OsString>,
    /// Variables added to (or replacing in) the parent's environment.
    pub(crate) env: Vec<(OsString, OsString)>,
    /// Variables removed from the parent's environment.
    pub(crate) env_remove: Vec<OsString>,
    /// What PID 2 builds before `main` (without its lock: `privileged = true`).
    pub(crate) setup: SetupRequest,
    /// PID 2's standard input; `/dev/null` when `None`.
    pub(crate) stdin: Option<OwnedFd>,
    /// The libtest name of the test, when PID 2 may be forked by the
    /// zygote instead of executing `argv` (the attribute's tests: `argv`
    /// is then this very binary on this test).
    pub(crate) forked_test: Option<String>,
}

impl Invocation {
    /// Re-runs this test binary on one test.
    ///
    /// The argv is built fresh, never copied from the parent: a copied flag
    /// table breaks on every new libtest flag and has made other harnesses
    /// report ignored tests as passed without running them.
    ///
    /// # Errors
    /// The test binary's path cannot be found.
    pub(crate) fn for_test(test_name: &str, nonce: &str, setup: SetupRequest) -> Result<Self, SpawnError> {
        let exe = prepare("find the test binary (/proc/self/exe)", std::env::current_exe())?;
        let mut argv = vec![exe.into_os_string()];
        argv.extend([test_name, "--exact", "--include-ignored", "--test-threads=1"].map(OsString::from));
        let env = [(ENV_CHILD_NONCE, nonce), (ENV_CHILD_TEST, test_name), ("RUST_TEST_NOCAPTURE", "1")]
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .to_vec();
        Ok(Self { argv, env, env_remove: Vec::new(), setup, stdin: None, forked_test: Some(test_name.to_owned()) })
    }
}

fn prepare<T>(what: &str, result: std::io::Result<T>) -> Result<T, SpawnError> {
    result.map_err(|source| SpawnError::Prepare { what: what.to_owned(), source: IoCause(source) })
}

fn cstring(what: &str, bytes: Vec<u8>) -> Result<CString, SpawnError> {
    prepare(
        what,
        CString::new(bytes).map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "contains a NUL byte")),
    )
}

/// What PID 2 is given, whether it executes `argv` or is forked by the
/// zygote.
struct Child {
    path: CString,
    cwd: CString,
    argv: Vec<CString>,
    /// The environment, but the setup request.
    env: Vec<CString>,
    /// The setup request (JSON).
    setup: String,
}

impl Child {
    /// For `execve`: the setup request in the environment.
    fn image(&self) -> Result<ExecImage, SpawnError> {
        let mut envp = self.env.clone();
        envp.push(cstring("prepare the child's environment", format!("{ENV_SETUP}={}", self.setup).into_bytes())?);
        Ok(ExecImage::new(self.path.clone(), self.cwd.clone(), self.argv.clone(), envp))
    }

    /// For the zygote.
    fn request(&self, test: &str, flags: u64, nest: bool, cgroup: bool, ahead: bool) -> crate::zygote::wire::Request {
        crate::zygote::wire::Request {
            flags,
            nest,
            cgroup,
            ahead,
            test: test.to_owned(),
            setup: self.setup.clone(),
            cwd: self.cwd.as_bytes().to_vec(),
            env: self.env.iter().map(|e| e.as_bytes().to_vec()).collect(),
        }
    }
}

/// Builds argv and envp for `execve` in PID 2, with `setup` as the request.
#[cfg(test)]
fn exec_image(inv: &Invocation, setup: &SetupRequest) -> Result<ExecImage, SpawnError> {
    child(inv, setup)?.image()
}

/// Prepares what PID 2 is given, with `setup` as the request.
fn child(inv: &Invocation, setup: &SetupRequest) -> Result<Child, SpawnError> {
    let mut argv = Vec::new();
    for arg in &inv.argv {
        argv.push(cstring("prepare the child's arguments", arg.as_bytes().to_vec())?);
    }
    let path = argv.first().cloned().ok_or_else(|| SpawnError::Prepare {
        what: "prepare the child's arguments".into(),
        source: IoCause(std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty argv")),
    })?;
    let overridden = |k: &[u8]| {
        inv.env.iter().any(|(key, _)| key.as_bytes() == k) || inv.env_remove.iter().any(|key| key.as_bytes() == k)
    };
    let request = prepare(
        "describe the sandbox for PID 2",
        serde_json::to_string(setup).map_err(std::io::Error::other).and_then(|json| {
            if json.len() > MAX_REQUEST_LEN {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "the sandbox description is {} KiB, more than the {} KiB an environment variable can carry; \
                         `file`/`seed_file` entries carry their contents: bind large files in with `bind` instead",
                        json.len() / 1024,
                        MAX_REQUEST_LEN / 1024
                    ),
                ));
            }
            Ok(json)
        }),
    )?;
    let mut env = Vec::new();
    let vars = std::env::vars_os().filter(|(k, _)| !overridden(k.as_bytes()) && k != ENV_SETUP);
    for (key, value) in vars.chain(inv.env.iter().cloned()) {
        let mut entry = key.as_bytes().to_vec();
        entry.push(b'=');
        entry.extend_from_slice(value.as_bytes());
        env.push(cstring("prepare the child's environment", entry)?);
    }
    let cwd = prepare("read the working directory", std::env::current_dir())?;
    let cwd = cstring("prepare the working directory", cwd.into_os_string().into_vec())?;
    Ok(Child { path, cwd, argv, env, setup: request })
}

/// The parent's ends of the pipes to one sandbox.
struct Pipes {
    sync_write: OwnedFd,
    stdout_read: OwnedFd,
    stderr_read: OwnedFd,
    result_read: OwnedFd,
}

/// Makes the pipes to one sandbox: the parent's ends, and what PID 1
/// receives (above [`HANDOVER_MIN_FD`]; the other copies are closed here).
fn pipes(inv: &Invocation) -> Result<(Pipes, Handover), SpawnError> {
    let pipe = || prepare("create a pipe", rustix::pipe::pipe_with(PipeFlags::CLOEXEC).map_err(Into::into));
    let (sync_read, sync_write) = pipe()?;
    let (stdout_read, stdout_write) = pipe()?;
    let (stderr_read, stderr_write) = pipe()?;
    let (result_read, result_write) = pipe()?;
    let devnull: OwnedFd =
        prepare("open /dev/null", fs::OpenOptions::new().read(true).write(true).open("/dev/null"))?.into();
    let high = |fd: &OwnedFd| {
        prepare("move a descriptor above 100", rustix::io::fcntl_dupfd_cloexec(fd, HANDOVER_MIN_FD).map_err(Into::into))
    };
    let handover = Handover {
        sync_read: high(&sync_read)?,
        devnull: high(&devnull)?,
        stderr_write: high(&stderr_write)?,
        result_write: high(&result_write)?,
        stdout_write: high(&stdout_write)?,
        stdin: high(inv.stdin.as_ref().unwrap_or(&devnull))?,
    };
    Ok((Pipes { sync_write, stdout_read, stderr_read, result_read }, handover))
}

/// Starts PID 1 in new namespaces and PID 2 running `inv` (the caller:
/// `parent::ahead::start`, which may hand over a sandbox made ahead
/// instead).
///
/// # Errors
/// A preparation step, `clone3` (with the host's cause and a fix when user
/// namespaces are restricted), or the id maps.
pub(crate) fn start(inv: &Invocation) -> Result<(Started, super::guard::Pid1Guard), SpawnError> {
    launch(inv, false).map(|(started, guard, _)| (started, guard))
}

/// What a sandbox is made from, but which test it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MadeFrom {
    /// The setup request (JSON) before the cgroup's paths are added.
    pub(crate) setup: String,
    /// PID 2's working directory.
    pub(crate) cwd: Vec<u8>,
    /// PID 2's whole environment, `KEY=VALUE` each.
    pub(crate) env: Vec<Vec<u8>>,
}

/// What a sandbox for `inv` is made from.
///
/// # Errors
/// As [`start`]'s preparation of what PID 2 is given.
pub(crate) fn made_from(inv: &Invocation) -> Result<MadeFrom, SpawnError> {
    let child = child(inv, &inv.setup)?;
    Ok(MadeFrom {
        setup: child.setup,
        cwd: child.cwd.into_bytes(),
        env: child.env.into_iter().map(CString::into_bytes).collect(),
    })
}

/// Starts a sandbox for `inv`; with `ahead`, through the zygote only, and
/// with PID 2 waiting after its setup for the test it runs (see
/// [`ahead`]). Also says whether PID 2 was forked by the zygote.
///
/// # Errors
/// As [`start`]; with `ahead`, also when the zygote cannot be used.
pub(crate) fn launch(inv: &Invocation, ahead: bool) -> Result<(Started, super::guard::Pid1Guard, bool), SpawnError> {
    let began = std::time::Instant::now();
    let euid = rustix::process::geteuid().as_raw();
    let privileged = !inv.setup.lock;
    if privileged && euid != 0 {
        return Err(SpawnError::NotRoot { euid });
    }
    // The cgroup is made before the namespaces, and PID 1 moved into it
    // before it is let go: everything it starts is counted from the start.
    let limits = inv.setup.limits;
    let (cgroup, limits_off) = match crate::sandbox::cgroup::Cgroup::create(limits) {
        Ok(cgroup) => (Some(cgroup), None),
        Err(unavailable) if limits.asked != Default::default() => {
            return Err(SpawnError::Limits {
                asked: crate::sandbox::cgroup::describe(&limits.asked),
                cause: unavailable.cause,
                fix: unavailable.fix,
            });
        }
        Err(unavailable) => {
            tracing::debug!(cause = %unavailable.cause, "no cgroup: resource limits are off");
            (None, Some(unavailable.cause))
        }
    };
    let cgroup_made = began.elapsed();
    let mut setup = inv.setup.clone();
    setup.cgroup_views = cgroup.as_ref().map(crate::sandbox::cgroup::Cgroup::views).unwrap_or_default();
    zygote::wait_for_facts();
    setup.kernel = crate::sandbox::setup::KernelFacts::get();
    let child = child(inv, &setup)?;
    let chosen = clone_namespaces(privileged, euid);
    let flags = chosen;
    let nest = !privileged;
    let v2_dir = cgroup.as_ref().and_then(crate::sandbox::cgroup::Cgroup::v2_dir);
    let into = v2_dir.as_ref().map(std::os::fd::AsFd::as_fd);
    let mut through_zygote = inv.forked_test.as_deref();
    let (cloned, pipes, prepared, forked) = loop {
        let (pipes, handover) = pipes(inv)?;
        let prepared = began.elapsed();
        if let Some(test) = through_zygote.take() {
            let ask = zygote::Ask {
                request: child.request(test, flags, nest, into.is_some(), ahead),
                fds: handover.fds(),
                cgroup: into,
            };
            match zygote::clone(&ask) {
                zygote::Asked::Cloned(cloned) => break (cloned, pipes, prepared, true),
                zygote::Asked::NotCloned => {}
                // Start over with new pipes (these are dropped): a PID 1
                // the zygote may have cloned reads EOF on its sync pipe
                // and ends; whatever it left in the cgroup goes first.
                zygote::Asked::Unknown => {
                    if let Some(cgroup) = &cgroup {
                        cgroup.kill_all();
                    }
                    continue;
                }
            }
        }
        // Made ahead, an attribute's PID 2 must be the zygote's: only that
        // one waits for its test (an executed helper waits on its own).
        if ahead && inv.forked_test.is_some() {
            return Err(no_zygote());
        }
        let cloned = clone_sandbox(flags, &Pid2::Exec(&child.image()?), &handover, into, nest).map_err(|source| {
            let names: Vec<&str> = NAMESPACES.iter().filter(|(bit, _)| chosen & bit != 0).map(|(_, n)| *n).collect();
            SpawnError::Clone {
                flags: names.join("|"),
                diagnosis: diagnose::userns_failure(source.raw_os_error(), &diagnose::Probe::read()),
                source: IoCause(source),
            }
        })?;
        // The child holds its own copies now; ours (the handover, dropped
        // here) must go so EOF arrives when the sandbox is gone.
        break (cloned, pipes, prepared, false);
    };
    let Pipes { sync_write, stdout_read, stderr_read, result_read } = pipes;
    let guard = super::guard::Pid1Guard::new(&cloned);
    let cloned_at = began.elapsed();
    if let Some(cgroup) = &cgroup {
        cgroup.add(cloned.pid, cloned.in_cgroup).map_err(|source| SpawnError::Cgroup { source: IoCause(source) })?;
    }

    if chosen & libc::CLONE_NEWUSER as u64 != 0 {
        write_id_maps(cloned.pid)?;
    }
    let mut sync = fs::File::from(sync_write);
    prepare("release PID 1 (write to the sync pipe)", sync.write_all(b"G"))?;
    drop(sync);
    tracing::debug!(
        pid2 = if forked { "forked by the zygote" } else { "executed" },
        ahead,
        cgroup = ?cgroup_made,
        prepared = ?prepared,
        cloned = ?cloned_at,
        released = ?began.elapsed(),
        "sandbox started (times since the start: cgroup made, pipes ready, PID 1 cloned, PID 1 placed and released)"
    );

    Ok((
        Started { init: cloned, stdout: stdout_read, stderr: stderr_read, result: result_read, cgroup, limits_off },
        guard,
        forked,
    ))
}

fn no_zygote() -> SpawnError {
    SpawnError::Prepare {
        what: "make a sandbox ahead of its test".into(),
        source: IoCause(std::io::Error::other("the zygote could not clone it")),
    }
}

/// The namespaces `clone3` makes for PID 1.
///
/// - `privileged = true`: all but a user namespace; nothing is locked.
/// - As root: PID and mount namespaces only, so that the setup runs
///   with the host's full privileges (overlays of directories that carry
///   submounts, which the kernel refuses inside a user namespace). The
///   user, IPC, UTS and network namespaces of the body are made by PID 2's
///   setup (`sys::userns`), nested so that every mount ends up locked.
/// - Rootless: the same plus a user namespace, without which nothing else
///   could be made.
///
/// The cgroup namespace is made by PID 2's setup, once PID 1 is in the
/// sandbox's cgroup (so that the sandbox sees its own cgroup as its root).
/// The PID and cgroup namespaces always belong to the outer user namespace
/// (or the host's): root inside the nested one can then mount no fresh
/// procfs or cgroupfs.
pub(crate) fn clone_namespaces(privileged: bool, euid: u32) -> u64 {
    let bits = |names: &[&str]| NAMESPACES.iter().filter(|(_, n)| names.contains(n)).fold(0, |acc, (bit, _)| acc | bit);
    if privileged {
        bits(&["CLONE_NEWPID", "CLONE_NEWNS", "CLONE_NEWUTS", "CLONE_NEWIPC", "CLONE_NEWNET"])
    } else if euid == 0 {
        bits(&["CLONE_NEWPID", "CLONE_NEWNS"])
    } else {
        bits(&["CLONE_NEWUSER", "CLONE_NEWPID", "CLONE_NEWNS"])
    }
}

/// The uid and gid maps: the identity of all ids as root (files keep their
/// owners, capabilities stop at the test's namespaces), root to the caller
/// otherwise.
pub(crate) fn id_maps(euid: u32, egid: u32) -> (String, String, bool) {
    if euid == 0 {
        ("0 0 4294967295\n".into(), "0 0 4294967295\n".into(), false)
    } else {
        (format!("0 {euid} 1\n"), format!("0 {egid} 1\n"), true)
    }
}

fn write_id_maps(pid: i32) -> Result<(), SpawnError> {
    let euid = rustix::process::geteuid().as_raw();
    let egid = rustix::process::getegid().as_raw();
    if euid != 0 {
        if let Some(sub) = super::subid::Subordinate::lookup(euid) {
            // With subordinate ids, shadow's setuid helpers write a wider map
            // (and keep setgroups allowed, as they require).
            return sub.map(pid, euid, egid).map_err(|message| SpawnError::IdMap {
                path: format!("/proc/{pid}/uid_map"),
                content: "(through newuidmap/newgidmap)".into(),
                source: IoCause(std::io::Error::other(message)),
            });
        }
    }
    let (uid_map, gid_map, deny_setgroups) = id_maps(euid, egid);
    let write = |file: &str, content: &str| {
        let path = format!("/proc/{pid}/{file}");
        fs::write(&path, content).map_err(|source| SpawnError::IdMap {
            path,
            content: content.trim_end().to_owned(),
            source: IoCause(source),
        })
    };
    if deny_setgroups {
        // An unprivileged process may only write a gid map after denying
        // setgroups, or it could drop supplementary groups it was denied by.
        write("setgroups", "deny")?;
    }
    write("uid_map", &uid_map)?;
    write("gid_map", &gid_map)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_gets_the_identity_map_and_users_a_single_id() {
        assert_eq!(id_maps(0, 0), ("0 0 4294967295\n".into(), "0 0 4294967295\n".into(), false));
        assert_eq!(id_maps(1000, 100), ("0 1000 1\n".into(), "0 100 1\n".into(), true));
    }

    #[test]
    fn child_argv_is_built_fresh() {
        let limits = crate::sandbox::cgroup::Limits::default().effective().unwrap();
        let setup = SetupRequest::new("h".into(), crate::Rootfs::host(), "/".into(), true, limits);
        let inv = Invocation::for_test("m::t", "abc", setup).unwrap();
        let image = exec_image(&inv, &inv.setup).unwrap();
        let dbg = format!("{:?}", image.argv());
        assert!(dbg.contains("\"m::t\", \"--exact\", \"--include-ignored\", \"--test-threads=1\""), "{dbg}");
        let env = image.envp();
        assert!(env.iter().any(|e| e == "ISOLATED_TEST_CHILD_NONCE=abc"));
        assert!(env.iter().any(|e| e == "ISOLATED_TEST_CHILD_TEST=m::t"));
        assert!(env.iter().any(|e| e == "RUST_TEST_NOCAPTURE=1"));
        assert!(env.iter().any(|e| e.starts_with("ISOLATED_TEST_SETUP={\"hostname\":\"h\"")), "{env:?}");
    }
}
