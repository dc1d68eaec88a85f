//! `isolated-test doctor`: probes the host by doing what a test does
//! (create the namespaces, map ids, run the whole setup sequence in a real
//! sandbox) and prints one line per capability with its cause and fix.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::error::SpawnError;
use crate::parent::diagnose::{Probe, setup_hint};
use crate::parent::session::{self, SessionError};
use crate::parent::supervise::{Outcome, Output};
use crate::sandbox::protocol::Message;
use crate::sandbox::request::SetupRequest;

/// The capabilities a sandbox needs, each with the setup steps that prove it.
const CAPABILITIES: &[(&str, &[&str])] = &[
    ("private mount propagation", &["make_root_private"]),
    ("nested user namespace (IPC, UTS, net)", &["enter_namespaces"]),
    ("hostname (UTS namespace)", &["sethostname"]),
    ("loopback up (net namespace)", &["loopback_up"]),
    ("tmpfs", &["mount_tmpfs"]),
    ("pivot_root", &["pivot_root"]),
    ("overlay (host files copy-on-write)", &["mount_overlay"]),
    ("bind mounts, read-only remounts", &["bind_mount", "remount_readonly"]),
    ("procfs (PID namespace)", &["mount_proc"]),
    ("sysfs", &["mount_sysfs"]),
    ("devpts", &["mount_devpts"]),
    // `mounts_locked` is no setup step: the probe sends it once it has seen
    // a read-write remount and an unmount of `/proc/sys` refused.
    ("mounts locked against the test", &["lock_mounts", "mounts_locked"]),
];

/// What one probe sandbox showed.
enum ProbeResult {
    /// The sandbox could not be created.
    NotStarted(SpawnError),
    /// It ran; these steps succeeded, and maybe one failed.
    Ran {
        steps: Vec<String>,
        readonly_dirs: Vec<String>,
        failure: Option<(String, String)>,
        took: Duration,
        /// `isolated_test::net`'s kernel features, with the error of each missing one.
        network: Vec<(String, Option<String>)>,
    },
    /// It ran but said nothing usable.
    Broken(String),
}

fn probe(privileged: bool) -> ProbeResult {
    let started_at = Instant::now();
    let limits = match crate::sandbox::cgroup::Limits::default().effective() {
        Ok(limits) => limits,
        Err(e) => return ProbeResult::Broken(e),
    };
    let base_dir = std::env::current_dir().unwrap_or_else(|_| "/".into());
    let setup = SetupRequest {
        record: true,
        ..SetupRequest::new(
            crate::config::DEFAULT_HOSTNAME.into(),
            crate::Rootfs::host(),
            base_dir,
            !privileged,
            limits,
        )
    };
    let (nonce, invocation) = match super::helper::invocation("probe", None, setup) {
        Ok(made) => made,
        Err(e) => return ProbeResult::Broken(e),
    };
    let runtime = match session::runtime() {
        Ok(rt) => rt,
        Err(e) => return ProbeResult::Broken(format!("cannot build a tokio runtime: {e}")),
    };
    let watch = session::Watch { timeout: Duration::from_secs(10), report_grace: None, output: Output::Replay };
    let outcome: Outcome = match session::run(&runtime, invocation, watch, std::future::pending()) {
        Ok(o) => o,
        Err(SessionError::Start(e)) => return ProbeResult::NotStarted(e),
        Err(SessionError::Supervise(e)) => return ProbeResult::Broken(format!("supervising the probe failed: {e}")),
    };
    if outcome.timed_out.is_some() {
        return ProbeResult::Broken("the probe sandbox hung for 10s and was killed".into());
    }
    if outcome.log.hello().map(|(n, _)| n) != Some(nonce.as_str()) {
        return ProbeResult::Broken(format!("the probe sandbox did not report (it ended with {:?})", outcome.exit));
    }
    let mut steps = Vec::new();
    let mut readonly_dirs = Vec::new();
    let mut network = Vec::new();
    let mut failure = None;
    for m in &outcome.log.messages {
        match m {
            Message::Probe { steps: s, readonly_dirs: r, network: n } => {
                steps.clone_from(s);
                readonly_dirs.clone_from(r);
                network.clone_from(n);
            }
            Message::SetupFailed { error } => {
                let mut text = error.to_string();
                if let Some(hint) = setup_hint(&error.step, error.errno) {
                    let _ = write!(text, "\n{hint}");
                }
                failure = Some((error.step.clone(), text));
            }
            _ => {}
        }
    }
    ProbeResult::Ran { steps, readonly_dirs, failure, took: started_at.elapsed(), network }
}

fn line(out: &mut String, status: &str, what: &str, detail: &str) {
    let text = format!("{status:<12} {what:<40} {detail}");
    let _ = writeln!(out, "{}", text.trim_end());
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("             {l}")).collect::<Vec<_>>().join("\n")
}

/// Renders the report for one probe; returns whether the sandbox works.
fn report(out: &mut String, result: &ProbeResult, host: &Probe) -> bool {
    match result {
        ProbeResult::NotStarted(err) => {
            let mode = if host.euid == 0 { "identity map of all ids" } else { "root inside mapped to your uid" };
            line(out, "UNAVAILABLE", "user + pid/mount/uts/ipc/net namespaces", mode);
            let _ = writeln!(out, "{}", indent(&err.render()));
            for (what, _) in CAPABILITIES {
                line(out, "not reached", what, "");
            }
            false
        }
        ProbeResult::Broken(why) => {
            line(out, "FAILED", "probe sandbox", why);
            false
        }
        ProbeResult::Ran { steps, readonly_dirs, failure, took, .. } => {
            let mode = if host.euid == 0 { "identity map of all ids (root)" } else { "root inside mapped to your uid" };
            line(out, "ok", "user + pid/mount/uts/ipc/net namespaces", mode);
            for (what, needed) in CAPABILITIES {
                let failed = failure.as_ref().filter(|(step, _)| needed.contains(&step.as_str()));
                if let Some((_, text)) = failed {
                    line(out, "FAILED", what, "");
                    let _ = writeln!(out, "{}", indent(text));
                } else if needed.iter().all(|n| steps.iter().any(|s| s == n)) {
                    let mut detail = String::new();
                    if *what == "overlay (host files copy-on-write)" {
                        if !readonly_dirs.is_empty() {
                            detail = format!("read-only instead (they carry submounts): {}", readonly_dirs.join(" "));
                        }
                        if host.euid != 0 {
                            detail.push_str(if detail.is_empty() { "" } else { "; " });
                            detail.push_str("rootless: files of other host users cannot be modified");
                        }
                    }
                    line(out, "ok", what, &detail);
                } else {
                    line(out, "not reached", what, "");
                }
            }
            line(out, "", "", &format!("(probe sandbox took {} ms)", took.as_millis()));
            failure.is_none()
        }
    }
}

/// One line per kernel feature of `isolated_test::net`, as the probe
/// sandbox found them. A missing one fails only the tests that use it.
fn network(out: &mut String, result: &ProbeResult) {
    let ProbeResult::Ran { network, .. } = result else { return };
    for (what, error) in network {
        let what = format!("net: {what}");
        match error {
            None => line(out, "ok", &what, ""),
            Some(error) => {
                line(out, "missing", &what, "tests that use it fail with this error:");
                let _ = writeln!(out, "{}", indent(error));
            }
        }
    }
}

/// One line per resource-limit capability, from a real cgroup made and
/// removed here.
fn limits(out: &mut String) {
    use crate::sandbox::cgroup::{Cgroup, Effective, Limits};
    let probe = Effective { memory: 64 << 20, pids: 64, cpu_millis: Some(1000), asked: Limits::default() };
    match Cgroup::create(probe) {
        Ok(cgroup) => {
            for (what, source) in cgroup.capabilities() {
                match source {
                    Some(source) => line(out, "ok", what, &source),
                    None => line(out, "unavailable", what, "no such controller: a test that asks for it fails"),
                }
            }
            if cgroup.has_v1() {
                placement(out, &cgroup);
            }
        }
        Err(unavailable) => {
            line(out, "off", "resource limits", "tests that ask for none run without; tests that ask for one fail");
            let _ = writeln!(out, "{}", indent(&format!("cause: {}\nfix: {}", unavailable.cause, unavailable.fix)));
        }
    }
}

/// How long moving a process into the v1 controllers takes, measured on a
/// `sleep` moved into the probe cgroup. The kernel's default makes each
/// move wait for an RCU grace period (`cgroup_threadgroup_rwsem`),
/// milliseconds per sandbox; cgroup v2 avoids it (`CLONE_INTO_CGROUP`), and
/// so does the `favordynmods` mount option on a v1 host.
fn placement(out: &mut String, cgroup: &crate::sandbox::cgroup::Cgroup) {
    let Ok(mut child) = std::process::Command::new("sleep").arg("10").spawn() else { return };
    let Ok(pid) = i32::try_from(child.id()) else { return };
    let began = std::time::Instant::now();
    let moved = cgroup.add(pid, false);
    let took = began.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    match moved {
        Ok(()) if took >= std::time::Duration::from_millis(2) => line(
            out,
            "slow",
            "placing a sandbox in its v1 cgroups",
            &format!(
                "{:.1} ms per sandbox (the kernel waits for an RCU grace period); the cgroup mount option \
                 `favordynmods` (`mount -o remount,favordynmods /sys/fs/cgroup/unified`) or `cgroup_favordynmods=1` \
                 at boot removes the wait; a host setting, see the README (Resource limits)",
                took.as_secs_f64() * 1e3
            ),
        ),
        Ok(()) => {
            line(out, "ok", "placing a sandbox in its v1 cgroups", &format!("{:.2} ms", took.as_secs_f64() * 1e3))
        }
        Err(err) => line(out, "failed", "placing a sandbox in its v1 cgroups", &err.to_string()),
    }
}

fn sysctl(value: Option<u64>) -> String {
    value.map_or_else(|| "absent".into(), |v| v.to_string())
}

/// Runs the doctor and prints its report on stdout.
pub(crate) fn run() -> ExitCode {
    let host = Probe::read();
    let kernel = rustix::system::uname().release().to_string_lossy().into_owned();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "isolated-test doctor: Linux {kernel}, running as uid {}{}",
        host.euid,
        if host.euid == 0 { " (root)" } else { "" }
    );
    let _ = writeln!(
        out,
        "host: user.max_user_namespaces={} kernel.apparmor_restrict_unprivileged_userns={} kernel.unprivileged_userns_clone={}\n",
        sysctl(host.max_user_namespaces),
        sysctl(host.apparmor_restrict),
        sysctl(host.unprivileged_userns_clone)
    );
    let sandbox = probe(false);
    let works = report(&mut out, &sandbox, &host);
    network(&mut out, &sandbox);

    limits(&mut out);

    if host.euid == 0 {
        match probe(true) {
            ProbeResult::Ran { failure: None, .. } => {
                line(&mut out, "ok", "privileged = true", "available (real root)")
            }
            other => {
                line(&mut out, "FAILED", "privileged = true", "");
                let mut sub = String::new();
                report(&mut sub, &other, &host);
                let _ = writeln!(out, "{}", indent(&sub));
            }
        }
    } else {
        line(&mut out, "unavailable", "privileged = true", "needs real root (sudo)");
    }

    let _ = writeln!(
        out,
        "\n{}",
        if works {
            "result: isolated tests can run on this host"
        } else {
            "result: isolated tests CANNOT run on this host; fix the first failure above"
        }
    );
    print!("{out}");
    if works { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
