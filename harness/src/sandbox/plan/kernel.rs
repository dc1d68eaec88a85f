//! Step 5 of the plan, first half: the kernel's filesystems: a private
//! `/proc` with only the per-namespace knobs writable, `/sys`, the
//! sandbox's own cgroup, and a minimal `/dev`.

use std::path::Path;

use super::{
    DEVICES, GLOBAL_NET_SYSCTLS, HostView, LAYERS, MASKED_PROC_FILES, NEW_ROOT, OLD_ROOT, Op, SandboxConfig, under,
};

/// Adds `/proc`, `/sys`, `/sys/fs/cgroup` and `/dev`.
pub(super) fn kernel_filesystems(ops: &mut Vec<Op>, config: &SandboxConfig, host: &HostView) {
    // A private procfs: PID 2 is inside the new PID namespace, so it shows
    // only the sandbox. With an identity uid map the test's euid is the
    // host's root for sysctl permission checks, so everything but the
    // per-namespace net/ must be read-only at the mount level.
    let proc = under(NEW_ROOT, Path::new("/proc"));
    let proc_sys = proc.join("sys");
    let proc_sys_net = proc_sys.join("net");
    let sysrq = proc.join("sysrq-trigger");
    ops.push(Op::Mkdir(proc.clone()));
    ops.push(Op::Proc(proc.clone()));
    ops.push(Op::Bind { source: proc_sys.clone(), target: proc_sys.clone(), recursive: false, readonly: false });
    ops.push(Op::Bind { source: proc_sys_net.clone(), target: proc_sys_net, recursive: false, readonly: false });
    // The per-namespace knobs writable, each on its own bind, before
    // `/proc/sys` goes read-only; the global ones below `net/` read-only.
    for name in &host.sysctls {
        let path = proc_sys.join(name);
        let readonly = GLOBAL_NET_SYSCTLS.contains(&name.as_str());
        ops.push(Op::Bind { source: path.clone(), target: path, recursive: false, readonly });
    }
    ops.push(Op::RemountReadonly(proc_sys));
    if host.has_sysrq_trigger {
        ops.push(Op::Bind { source: sysrq.clone(), target: sysrq, recursive: false, readonly: true });
    }
    for knob in host.proc_knobs.iter().filter(|k| k.as_str() != "sysrq-trigger") {
        let path = proc.join(knob);
        ops.push(Op::Bind { source: path.clone(), target: path, recursive: true, readonly: true });
    }
    // The keyring is refused inside (see `sys::seccomp`); these list the
    // caller's keys by description, so they show nothing.
    let empty = Path::new(LAYERS).join("empty");
    ops.push(Op::WriteFile { path: empty.clone(), contents: Vec::new() });
    for masked in MASKED_PROC_FILES {
        if host.proc_files.iter().any(|f| f == masked) {
            ops.push(Op::Bind { source: empty.clone(), target: proc.join(masked), recursive: false, readonly: true });
        }
    }

    // sysfs can be mounted because the net namespace is ours.
    let sys = under(NEW_ROOT, Path::new("/sys"));
    ops.push(Op::Mkdir(sys.clone()));
    ops.push(Op::Sysfs { target: sys.clone(), fallback: under(OLD_ROOT, Path::new("/sys")) });

    // The sandbox's own cgroup, read-only, where runtimes and tools look
    // for their limits (the cgroup namespace makes it their root).
    let cgroup_root = sys.join("fs/cgroup");
    match config.cgroup_views.as_slice() {
        [] => {}
        [(name, leaf)] if name.is_empty() => {
            ops.push(Op::Bind { source: under(OLD_ROOT, leaf), target: cgroup_root, recursive: false, readonly: true });
        }
        views => {
            ops.push(Op::Tmpfs { target: cgroup_root.clone(), mode: 0o755, size: 1 << 20 });
            for (name, leaf) in views {
                let target = cgroup_root.join(name);
                ops.push(Op::Mkdir(target.clone()));
                ops.push(Op::Bind { source: under(OLD_ROOT, leaf), target, recursive: false, readonly: false });
            }
            ops.push(Op::ReadonlyTree(cgroup_root));
        }
    }

    // A minimal /dev.
    let dev = under(NEW_ROOT, Path::new("/dev"));
    ops.push(Op::Mkdir(dev.clone()));
    if config.rootless {
        // A user namespace can neither make device nodes nor use them on a
        // tmpfs it mounts: the host's own nodes are bound in, read-only so
        // that their mode, owner and times stay the host's (the devices
        // themselves still work on a read-only mount).
        ops.push(Op::Tmpfs { target: dev.clone(), mode: 0o755, size: config.tmpfs_bytes });
        for &(name, _, _) in DEVICES {
            ops.push(Op::Touch(dev.join(name)));
            ops.push(Op::Bind {
                source: under(OLD_ROOT, &Path::new("/dev").join(name)),
                target: dev.join(name),
                recursive: false,
                readonly: true,
            });
        }
    } else {
        // As host root, nodes of the sandbox's own: one `mknod` each where a
        // bind took three calls, and a `chmod` inside changes only them.
        ops.push(Op::DevTmpfs { target: dev.clone(), size: config.tmpfs_bytes });
        for &(name, major, minor) in DEVICES {
            ops.push(Op::CharDevice { path: dev.join(name), major, minor });
        }
        if !config.lock {
            // `privileged = true`: the host's loop devices, for `losetup`
            // and `mount -o loop`.
            ops.push(Op::LoopDevices { dev: dev.clone(), sys_block: under(OLD_ROOT, Path::new("/sys/block")) });
        }
    }
    ops.push(Op::Mkdir(dev.join("pts")));
    ops.push(Op::Devpts { target: dev.join("pts"), tty_gid: !config.rootless });
    ops.push(Op::Symlink { target: "pts/ptmx".into(), link: dev.join("ptmx") });
    ops.push(Op::Mkdir(dev.join("shm")));
    ops.push(Op::Tmpfs { target: dev.join("shm"), mode: 0o1777, size: config.tmpfs_bytes });
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        ops.push(Op::Symlink { target: target.into(), link: dev.join(name) });
    }
}
