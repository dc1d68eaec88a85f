//! The plan's order and contents, checked without a kernel.
use std::collections::BTreeSet;

use super::ops::show;
use super::*;

fn host() -> HostView {
    HostView {
        root_entries: vec![
            ("bin".into(), EntryKind::Symlink("usr/bin".into())),
            ("dev".into(), EntryKind::Dir),
            ("etc".into(), EntryKind::Dir),
            ("mnt".into(), EntryKind::Dir),
            ("proc".into(), EntryKind::Dir),
            ("tmp".into(), EntryKind::Dir),
            ("usr".into(), EntryKind::Dir),
            ("swapfile".into(), EntryKind::File),
        ],
        mount_points: vec!["/".into(), "/proc".into(), "/mnt/data".into()],
        has_var_tmp: true,
        has_sysrq_trigger: true,
        sysctls: ["kernel/hostname", "kernel/shmmax", "fs/mqueue", "net/netfilter/nf_hooks_lwtunnel"]
            .map(Into::into)
            .to_vec(),
        proc_knobs: vec!["bus".into(), "mtrr".into()],
        proc_files: vec!["keys".into()],
        user_quotas: vec![("max_inotify_instances".into(), 32)],
    }
}

fn config() -> SandboxConfig {
    SandboxConfig {
        hostname: "box".into(),
        cwd: "/tmp/crate".into(),
        keep: vec!["/tmp/crate".into(), "/tmp/crate/target/debug".into(), "/usr/src".into()],
        rootless: false,
        lock: true,
        tmpfs_bytes: 64 << 20,
        cgroup_views: vec![("memory".into(), "/sys/fs/cgroup/memory/isolated-test-1-0".into())],
        rootfs: ResolvedRootfs::host(),
    }
}

/// The ops after the final `chdir` into the sandbox: the lock and what
/// must happen in its namespaces.
fn after_setup(ops: &[Op]) -> &[Op] {
    let chdir = ops.iter().rposition(|op| matches!(op, Op::Chdir(_))).unwrap();
    &ops[chdir + 1..]
}

fn position(ops: &[Op], pred: impl Fn(&Op) -> bool) -> usize {
    ops.iter().position(pred).expect("op present")
}

#[test]
fn making_root_private_comes_first() {
    let ops = plan(&config(), &host());
    assert_eq!(ops[0], Op::MakeRootPrivate);
    let first_mount = position(&ops, |op| matches!(op, Op::Tmpfs { .. }));
    assert!(first_mount > 0);
}

#[test]
fn every_overlay_and_special_mount_precedes_the_final_pivot() {
    let ops = plan(&config(), &host());
    let final_pivot = ops
        .iter()
        .rposition(|op| matches!(op, Op::PivotRoot { new_root, put_old } if new_root == Path::new(".") && put_old == Path::new(".")))
        .unwrap();
    for (i, op) in ops.iter().enumerate() {
        if matches!(op, Op::Overlay { .. } | Op::Proc(_) | Op::Sysfs { .. } | Op::Devpts { .. }) {
            assert!(i < final_pivot, "{op:?} after the pivot");
        }
    }
    assert_eq!(ops[final_pivot + 1], Op::DetachUnmount(".".into()));
    assert_eq!(ops[final_pivot + 2], Op::Chdir("/tmp/crate".into()));
}

#[test]
fn namespaces_are_entered_before_anything_and_locked_after_everything() {
    let ops = plan(&config(), &host());
    assert_eq!(
        &ops[..5],
        [Op::MakeRootPrivate, Op::CgroupNamespace, Op::EnterNamespaces, Op::SetHostname("box".into()), Op::LoopbackUp]
    );
    // Rootless, the share of the user's quotas, set in the outer user
    // namespace; as host root that would be the host's own setting.
    let ops = plan(&rootless(), &host());
    assert_eq!(ops[3], Op::UserQuota { name: "max_inotify_instances".into(), value: 32 });
    assert_eq!(after_setup(&ops), [Op::Lock, Op::Seccomp]);
    let mut privileged = config();
    privileged.lock = false;
    let ops = plan(&privileged, &host());
    assert_eq!(&ops[..4], [Op::MakeRootPrivate, Op::CgroupNamespace, Op::SetHostname("box".into()), Op::LoopbackUp]);
    assert!(after_setup(&ops).is_empty());
    assert!(!ops.contains(&Op::Lock) && !ops.contains(&Op::EnterNamespaces));
    // Without a user namespace of its own, `/proc/sys/user` is the host's.
    assert!(!ops.iter().any(|op| matches!(op, Op::UserQuota { .. })));
    // Loop devices only with the host's capabilities, counted on the host.
    let loops = Op::LoopDevices { dev: "/newroot/dev".into(), sys_block: "/oldroot/sys/block".into() };
    assert!(ops.contains(&loops));
    assert!(!plan(&config(), &host()).iter().any(|op| matches!(op, Op::LoopDevices { .. })));
}

fn rootless() -> SandboxConfig {
    SandboxConfig { rootless: true, ..config() }
}

fn overlay_of(ops: &[Op], lower: &str) -> Option<usize> {
    ops.iter().position(|op| matches!(op, Op::Overlay { lowers, .. } if lowers == &[PathBuf::from(lower)]))
}

/// A host with a separate `/home` (carrying a mount of its own), a
/// bind-mounted file at the top and a container's `/etc/resolv.conf`.
fn host_with_filesystems() -> HostView {
    let mut view = host();
    view.root_entries.push(("home".into(), EntryKind::Dir));
    view.root_entries.push((".dockerenv".into(), EntryKind::File));
    view.root_entries.sort();
    view.mount_points.extend(
        ["/home", "/home/big", "/.dockerenv", "/etc/resolv.conf", "/dev/shm", "/sys/fs/cgroup"].map(PathBuf::from),
    );
    view
}

#[test]
fn as_root_the_hosts_root_filesystem_is_one_overlay_with_the_other_filesystems_on_top() {
    let ops = plan(&config(), &host_with_filesystems());
    let root = overlay_of(&ops, "/oldroot").expect("one overlay of the host's /");
    let Op::Overlay { target, fallback, .. } = &ops[root] else { unreachable!() };
    assert_eq!(target, Path::new(NEW_ROOT));
    assert!(!ops.contains(&Op::Tmpfs { target: NEW_ROOT.into(), mode: 0o755, size: 64 << 20 }));
    // No overlay per top-level directory of the root filesystem.
    for dir in ["/oldroot/usr", "/oldroot/etc", "/oldroot/mnt", "/oldroot/proc", "/oldroot/tmp"] {
        assert_eq!(overlay_of(&ops, dir), None, "{dir}");
    }
    // A top-level directory that is a filesystem of its own stays
    // copy-on-write, with its own submounts read-only on top.
    let home = overlay_of(&ops, "/oldroot/home").expect("/home is copy-on-write");
    let bind_ro = |source: &str| {
        ops.iter().position(|op| {
            matches!(op, Op::Bind { source: s, target, recursive: true, readonly: true }
            if s == Path::new(source) && target == &under(NEW_ROOT, s.strip_prefix(OLD_ROOT).unwrap()))
        })
    };
    assert!(root < home && home < bind_ro("/oldroot/home/big").expect("/home/big"));
    // Deeper filesystems and bind-mounted files come back read-only, on
    // top of the root overlay, and nothing is created for them.
    assert!(root < bind_ro("/oldroot/mnt/data").expect("/mnt/data"));
    assert!(root < bind_ro("/oldroot/.dockerenv").expect("/.dockerenv"));
    assert!(!ops.contains(&Op::Touch("/newroot/.dockerenv".into())), "a touch would copy the file up");
    // The kernel's filesystems and scratch directories are made fresh;
    // the sandbox's own /etc files are not covered by the host's.
    for source in ["/oldroot/proc", "/oldroot/dev/shm", "/oldroot/sys/fs/cgroup", "/oldroot/etc/resolv.conf"] {
        assert_eq!(bind_ro(source), None, "{source}");
    }
    // If the kernel refuses it, each top-level entry is bound read-only.
    let OverlayFallback::Ops(instead) = fallback else { panic!("{fallback:?}") };
    assert_eq!(instead[0], Op::Tmpfs { target: NEW_ROOT.into(), mode: 0o755, size: 64 << 20 });
    assert!(instead.iter().any(|op| matches!(op, Op::Bind { source, recursive: true, readonly: true, .. }
        if source == Path::new("/oldroot/usr"))));
    assert!(instead.contains(&Op::Symlink { target: "usr/bin".into(), link: "/newroot/bin".into() }));
    assert!(!instead.iter().any(|op| matches!(op, Op::Bind { source, .. } if source == Path::new("/oldroot/proc"))));
}

#[test]
fn rootless_host_directories_are_overlaid_one_by_one() {
    let ops = plan(&rootless(), &host_with_filesystems());
    assert_eq!(overlay_of(&ops, "/oldroot"), None, "refused in a user namespace: / has locked submounts");
    assert!(ops.contains(&Op::Tmpfs { target: NEW_ROOT.into(), mode: 0o755, size: 64 << 20 }));
    let Op::Overlay { target, fallback, .. } = &ops[overlay_of(&ops, "/oldroot/usr").unwrap()] else { unreachable!() };
    assert_eq!((target.as_path(), fallback), (Path::new("/newroot/usr"), &OverlayFallback::ReadonlyBind));
    // The kernel refuses to overlay a directory with locked submounts:
    // the whole directory is bound read-only (a container's bound
    // `/etc/resolv.conf` makes that `/etc`).
    for dir in ["/oldroot/mnt", "/oldroot/home", "/oldroot/etc"] {
        assert_eq!(overlay_of(&ops, dir), None);
        assert!(ops.iter().any(|op| matches!(op, Op::Bind { source, recursive: true, readonly: true, .. }
            if source == Path::new(dir))));
    }
    for dir in ["/oldroot/proc", "/oldroot/tmp"] {
        assert_eq!(overlay_of(&ops, dir), None);
    }
    assert!(ops.contains(&Op::Symlink { target: "usr/bin".into(), link: "/newroot/bin".into() }));
    assert!(ops.iter().any(|op| matches!(op, Op::Bind { source, readonly: true, recursive: false, .. }
        if source == Path::new("/oldroot/swapfile"))));
}

#[test]
fn device_nodes_are_the_sandboxs_own_as_root_and_the_hosts_read_only_rootless() {
    let ops = plan(&config(), &host());
    let dev = position(&ops, |op| matches!(op, Op::DevTmpfs { target, .. } if target == Path::new("/newroot/dev")));
    for &(name, _, _) in DEVICES {
        let node = position(&ops, |op| matches!(op, Op::CharDevice { path, .. } if path.ends_with(name)));
        assert!(dev < node, "{name}");
    }
    assert!(ops.contains(&Op::CharDevice { path: "/newroot/dev/null".into(), major: 1, minor: 3 }));
    assert!(!ops.iter().any(|op| matches!(op, Op::Bind { source, .. } if source.starts_with("/oldroot/dev"))));

    let ops = plan(&rootless(), &host());
    assert!(!ops.iter().any(|op| matches!(op, Op::DevTmpfs { .. } | Op::CharDevice { .. })));
    for &(name, _, _) in DEVICES {
        let source = Path::new("/oldroot/dev").join(name);
        assert!(
            ops.iter()
                .any(|op| matches!(op, Op::Bind { source: s, readonly: true, recursive: false, .. } if *s == source)),
            "{name} is bound read-only"
        );
    }
}

#[test]
fn etc_hosts_hostname_and_resolv_conf_are_the_sandboxs_own() {
    // In the root overlay's upper layer (as root), or in /etc's own
    // (rootless, or a host whose /etc is a filesystem of its own).
    let mut etc_mounted = host();
    etc_mounted.mount_points.push("/etc".into());
    for (config, view, lower, dir) in [
        (config(), host(), "/oldroot", "etc"),
        (rootless(), host(), "/oldroot/etc", ""),
        (config(), etc_mounted, "/oldroot/etc", ""),
    ] {
        let ops = plan(&config, &view);
        let overlay = overlay_of(&ops, lower).unwrap();
        let Op::Overlay { upper, .. } = &ops[overlay] else { unreachable!() };
        let etc = upper.join(dir);
        let hosts = position(&ops, |op| {
            matches!(op, Op::CopyFile { from, to, fallback: Some(_) }
            if from == Path::new("/oldroot/etc/hosts") && to == &etc.join("hosts"))
        });
        let hostname = position(&ops, |op| {
            matches!(op, Op::WriteFile { path, contents }
            if path == &etc.join("hostname") && contents == b"box\n")
        });
        let resolv = position(
            &ops,
            |op| matches!(op, Op::CopyFile { to, fallback: None, .. } if to == &etc.join("resolv.conf")),
        );
        assert!(hosts < overlay && hostname < overlay && resolv < overlay, "staged before the overlay: {lower}");
        if !dir.is_empty() {
            assert!(position(&ops, |op| *op == Op::Mkdir(etc.clone())) < hosts);
        }
    }
}

#[test]
fn overlays_are_marked_as_made_inside_a_user_namespace_only_rootless() {
    for (cfg, inside) in [(config(), false), (rootless(), true)] {
        let ops = plan(&cfg, &host());
        let marks: Vec<bool> = ops
            .iter()
            .filter_map(|op| match op {
                Op::Overlay { in_user_namespace, .. } => Some(*in_user_namespace),
                _ => None,
            })
            .collect();
        assert!(!marks.is_empty() && marks.iter().all(|m| *m == inside), "rootless {inside}: {marks:?}");
    }
}

#[test]
fn every_overlay_has_its_own_upper_and_work_created_before_it() {
    let ops = plan(&config(), &host());
    let mut uppers = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if let Op::Overlay { upper, work, .. } = op {
            assert!(ops[..i].contains(&Op::Mkdir(upper.clone())));
            assert!(ops[..i].contains(&Op::Mkdir(work.clone())));
            assert!(upper.starts_with(LAYERS) && work.starts_with(LAYERS));
            uppers.push(upper.clone());
        }
    }
    let n = uppers.len();
    uppers.sort();
    uppers.dedup();
    assert_eq!(uppers.len(), n, "overlays share an upper layer");
}

#[test]
fn proc_sys_is_read_only_except_net() {
    let ops = plan(&config(), &host());
    let net_bind = position(&ops, |op| matches!(op, Op::Bind { target, .. } if target.ends_with("proc/sys/net")));
    let sys_ro = position(&ops, |op| matches!(op, Op::RemountReadonly(p) if p.ends_with("proc/sys")));
    let proc = position(&ops, |op| matches!(op, Op::Proc(_)));
    assert!(proc < net_bind && net_bind < sys_ro, "net must be its own mount before sys goes read-only");
    for (name, readonly) in [
        ("kernel/hostname", false),
        ("kernel/shmmax", false),
        ("fs/mqueue", false),
        ("net/netfilter/nf_hooks_lwtunnel", true),
    ] {
        let bind = position(&ops, |op| {
            matches!(op, Op::Bind { target, readonly: ro, recursive: false, .. }
            if target.ends_with(Path::new("proc/sys").join(name)) && *ro == readonly)
        });
        assert!(net_bind < bind && bind < sys_ro, "{name}");
    }
    assert!(
        ops.iter().any(|op| matches!(op, Op::Bind { target, readonly: true, .. } if target.ends_with("sysrq-trigger")))
    );
    for knob in ["bus", "mtrr"] {
        let bind = position(&ops, |op| {
            matches!(op, Op::Bind { source, target, recursive: true, readonly: true }
            if source == target && target.ends_with(Path::new("proc").join(knob)))
        });
        assert!(bind > proc, "{knob}");
    }
    assert!(is_proc_knob("irq", true, 0o555) && is_proc_knob("mtrr", false, 0o644));
    assert!(ops.iter().any(|op| matches!(op, Op::Bind { source, target, readonly: true, .. }
        if source == Path::new("/layers/empty") && target.ends_with("proc/keys"))));
    assert!(!ops.iter().any(|op| matches!(op, Op::Bind { target, .. } if target.ends_with("proc/key-users"))));
    for (name, dir, mode) in [
        ("1", true, 0o555),
        ("self", true, 0o777),
        ("sys", true, 0o555),
        ("pressure", true, 0o555),
        ("cpuinfo", false, 0o444),
    ] {
        assert!(!is_proc_knob(name, dir, mode), "{name}");
    }
}

/// The per-namespace sysctls, derived from the kernel: in a user
/// namespace whose root is not host root, with new IPC, UTS and network
/// namespaces, the files the namespace's root owns are the ones the
/// kernel keeps per namespace (`set_ownership`). Outside `net/`, they
/// must be exactly the IPC and message queue entries of
/// [`NAMESPACED_SYSCTLS`]. The UTS entries carry no such owner; they are
/// checked by behaviour: written in a UTS namespace of its own, the
/// host's value stays.
#[test]
fn namespaced_sysctls_are_what_the_kernel_keeps_per_namespace() {
    use std::process::Command;
    let probe = "find /proc/sys -type f -user 0 2>/dev/null | grep -v '^/proc/sys/net/' | sort";
    let mut cmd = if rustix::process::geteuid().is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "unshare"]);
        c
    } else {
        Command::new("unshare")
    };
    let out = cmd
        .args(["--user", "--map-root-user", "--ipc", "--uts", "--net", "sh", "-c", probe])
        .output()
        .expect("run unshare (util-linux) to probe the kernel's per-namespace sysctls");
    assert!(out.status.success(), "the probe failed: {}", String::from_utf8_lossy(&out.stderr));
    let derived: BTreeSet<String> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| l.trim_start_matches("/proc/sys/").to_owned()).collect();
    assert!(!derived.is_empty(), "the probe found no per-namespace sysctl at all");
    let mut listed = BTreeSet::new();
    for name in NAMESPACED_SYSCTLS.iter().filter(|n| !matches!(**n, "kernel/hostname" | "kernel/domainname")) {
        let path = Path::new("/proc/sys").join(name);
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap().flatten() {
                listed.insert(format!("{name}/{}", entry.file_name().to_string_lossy()));
            }
        } else if path.exists() {
            listed.insert((*name).to_owned());
        }
    }
    assert_eq!(listed, derived, "NAMESPACED_SYSCTLS (left) differs from what this kernel keeps per namespace");
    // UTS: a write in a namespace of its own leaves the host's value.
    if rustix::process::geteuid().is_root() {
        let host = std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap();
        let out = Command::new("unshare")
            .args([
                "--uts",
                "sh",
                "-c",
                "echo isolated-test-probe > /proc/sys/kernel/domainname && cat /proc/sys/kernel/domainname",
            ])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "isolated-test-probe");
        assert_eq!(std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap(), host);
    }
}

#[test]
fn the_sandboxs_cgroup_is_shown_read_only_where_tools_look() {
    let ops = plan(&config(), &host());
    let sysfs = position(&ops, |op| matches!(op, Op::Sysfs { .. }));
    let root = Path::new("/newroot/sys/fs/cgroup");
    let tmpfs = position(&ops, |op| matches!(op, Op::Tmpfs { target, .. } if target == root));
    let bind = position(&ops, |op| {
        matches!(op, Op::Bind { source, target, recursive: false, .. }
        if source == Path::new("/oldroot/sys/fs/cgroup/memory/isolated-test-1-0") && target == &root.join("memory"))
    });
    let ro = position(&ops, |op| matches!(op, Op::ReadonlyTree(p) if p == root));
    assert!(sysfs < tmpfs && tmpfs < bind && bind < ro);
    // cgroup v2 alone: the leaf is the directory itself, as in a container.
    let mut v2 = config();
    v2.cgroup_views = vec![(String::new(), "/sys/fs/cgroup/isolated-test/isolated-test-1-0".into())];
    let ops = plan(&v2, &host());
    assert!(ops.iter().any(|op| matches!(op, Op::Bind { target, readonly: true, .. } if target == root)));
    assert!(!ops.iter().any(|op| matches!(op, Op::Tmpfs { target, .. } if target == root)));
}

#[test]
fn kept_paths_under_a_fresh_tmpfs_come_back_after_it() {
    let ops = plan(&config(), &host());
    let tmp_mount = position(&ops, |op| matches!(op, Op::Tmpfs { target, .. } if target == Path::new("/newroot/tmp")));
    let kept = position(
        &ops,
        |op| matches!(op, Op::Overlay { lowers, .. } if lowers == &[PathBuf::from("/oldroot/tmp/crate")]),
    );
    assert!(tmp_mount < kept);
    // The binary dir under the crate dir needs no second overlay; /usr/src is already in /usr's overlay.
    assert!(!ops.iter().any(|op| matches!(op, Op::Overlay { lowers, .. } if lowers[0].ends_with("target/debug"))));
    assert!(
        !ops.iter()
            .any(|op| matches!(op, Op::Overlay { lowers, .. } if lowers == &[PathBuf::from("/oldroot/usr/src")]))
    );
}

/// Run from `/` (`cd / && isolated-test wrap /tmp/.../test-binary`): the
/// kept working directory `/` holds every path, but the binary's directory
/// below `/tmp` must still come back over the fresh tmpfs.
#[test]
fn a_kept_root_does_not_stand_for_the_kept_paths_below_a_fresh_tmpfs() {
    let mut cfg = config();
    cfg.cwd = "/".into();
    cfg.keep = vec!["/".into(), "/tmp/suite/target/debug/deps".into()];
    let ops = plan(&cfg, &host());
    let deps = PathBuf::from("/oldroot/tmp/suite/target/debug/deps");
    assert!(
        ops.iter()
            .any(|op| matches!(op, Op::Overlay { lowers, .. } if lowers.as_slice() == std::slice::from_ref(&deps))),
        "{ops:#?}"
    );
}

#[test]
fn rootless_devpts_has_no_tty_gid_and_var_tmp_is_optional() {
    let mut cfg = config();
    cfg.rootless = true;
    let mut view = host();
    view.has_var_tmp = false;
    let ops = plan(&cfg, &view);
    assert!(ops.iter().any(|op| matches!(op, Op::Devpts { tty_gid: false, .. })));
    assert!(!ops.iter().any(|op| matches!(op, Op::Tmpfs { target, .. } if target.ends_with("var/tmp"))));
    assert_eq!(scratch(&ops), [Path::new("/dev/shm"), Path::new("/run"), Path::new("/tmp")]);
}

#[test]
fn the_scratch_directories_are_the_fresh_tmpfs_not_a_tests_own() {
    let ops = with_rootfs(ResolvedBase::Host, vec![ResolvedEntry::Tmpfs { dst: "/tmp/mine".into() }]);
    assert_eq!(scratch(&ops), ["/dev/shm", "/run", "/tmp", "/var/tmp"].map(PathBuf::from));
    let ops = with_rootfs(ResolvedBase::Busybox { binary: "/bin/busybox".into(), applets: vec![] }, vec![]);
    assert_eq!(scratch(&ops), ["/dev/shm", "/run", "/tmp", "/var/tmp"].map(PathBuf::from));
}

fn with_rootfs(base: ResolvedBase, entries: Vec<ResolvedEntry>) -> Vec<Op> {
    let mut cfg = config();
    cfg.rootfs = ResolvedRootfs { base, entries };
    plan(&cfg, &host())
}

#[test]
fn host_ro_binds_everything_read_only_and_overlays_nothing() {
    let ops = with_rootfs(ResolvedBase::HostRo, vec![]);
    assert!(!ops.iter().any(|op| matches!(op, Op::Overlay { .. })), "{ops:#?}");
    // `/etc` too, as a read-only overlay (see the next test).
    for dir in ["/oldroot/usr", "/oldroot/tmp/crate"] {
        assert!(
            ops.iter().any(
                |op| matches!(op, Op::Bind { source, readonly: true, recursive: true, .. } if source == Path::new(dir))
            ),
            "{dir} not bound read-only"
        );
    }
    assert!(ops.contains(&Op::Chdir("/tmp/crate".into())));
}

/// The ops that bind the sandbox's own `/etc` files over a read-only
/// `/etc`, as `(staged file, target)`.
fn own_files_bound(ops: &[Op]) -> Vec<(PathBuf, PathBuf)> {
    ops.iter()
        .filter_map(|op| match op {
            Op::BindOwnFile { source, target } => Some((source.clone(), target.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn host_ro_has_its_own_etc_files_bound_writable_over_a_read_only_etc() {
    let mut etc_submount = host();
    etc_submount.mount_points.extend(["/etc/ssl", "/etc/resolv.conf"].map(PathBuf::from));
    for (rootless, view) in [(false, host()), (true, host()), (false, etc_submount)] {
        let mut cfg = SandboxConfig { rootless, ..config() };
        cfg.rootfs = ResolvedRootfs { base: ResolvedBase::HostRo, entries: vec![] };
        let ops = plan(&cfg, &view);
        let staged = Path::new(LAYERS).join("etc");
        let hosts = position(&ops, |op| {
            matches!(op, Op::CopyFile { from, to, fallback: Some(_) }
            if from == Path::new("/oldroot/etc/hosts") && *to == staged.join("hosts"))
        });
        let hostname = position(
            &ops,
            |op| matches!(op, Op::WriteFile { path, contents } if *path == staged.join("hostname") && contents == b"box\n"),
        );
        // /etc: the host's, read-only, under a layer that makes each own
        // file a regular file to bind over (whatever the host has there).
        let overlay = position(&ops, |op| matches!(op, Op::ReadonlyOverlay { .. }));
        let Op::ReadonlyOverlay { lowers, target, fallback } = &ops[overlay] else { unreachable!() };
        assert_eq!(target, Path::new("/newroot/etc"));
        assert_eq!(lowers[0], Path::new("/oldroot/etc"), "the host's /etc at the bottom");
        let top = &lowers[1];
        assert!(top.starts_with(LAYERS) && *top != staged, "the bound files are no layer of the overlay");
        for name in ["hosts", "hostname", "resolv.conf"] {
            let mount_point = position(
                &ops,
                |op| matches!(op, Op::CopyFile { from, to, fallback: None } if *from == staged.join(name) && *to == top.join(name)),
            );
            assert!(hosts < mount_point && hostname < mount_point && mount_point < overlay, "{name}");
        }
        assert_eq!(
            *fallback,
            OverlayFallback::Ops(vec![Op::Bind {
                source: "/oldroot/etc".into(),
                target: "/newroot/etc".into(),
                recursive: true,
                readonly: true
            }])
        );
        // Bound writable after everything else of /etc, before the pivot.
        let bound = own_files_bound(&ops);
        assert_eq!(
            bound,
            ["hosts", "hostname", "resolv.conf"].map(|n| (staged.join(n), Path::new("/newroot/etc").join(n)))
        );
        let first_bind = position(&ops, |op| matches!(op, Op::BindOwnFile { .. }));
        let last_etc_mount = ops
            .iter()
            .rposition(|op| matches!(op, Op::Bind { target, .. } if target.starts_with("/newroot/etc")))
            .unwrap_or(overlay);
        assert!(overlay < first_bind && last_etc_mount < first_bind);
        // Nothing else of /etc is writable.
        assert!(
            !ops.iter()
                .any(|op| matches!(op, Op::Bind { target, readonly: false, .. } if target.starts_with("/newroot/etc")))
        );
        // Another filesystem below /etc comes back read-only on top of the
        // overlay, but not over the sandbox's own files.
        let ssl = ops.iter().position(|op| {
            *op == Op::Bind {
                source: "/oldroot/etc/ssl".into(),
                target: "/newroot/etc/ssl".into(),
                recursive: true,
                readonly: true,
            }
        });
        assert_eq!(ssl.is_some(), view.mount_points.contains(&PathBuf::from("/etc/ssl")), "{ssl:?}");
        assert!(ssl.is_none_or(|ssl| overlay < ssl));
        assert!(
            !ops.iter()
                .any(|op| matches!(op, Op::Bind { source, .. } if source == Path::new("/oldroot/etc/resolv.conf")))
        );
        // The report reads what the test wrote in them.
        assert!(uppers(&ops).contains(&(staged.clone(), "/etc".into())), "{:?}", uppers(&ops));
    }
}

#[test]
fn rootless_an_etc_with_submounts_is_bound_whole_with_the_own_files_over_it() {
    // A container's /etc/hosts, /etc/hostname, /etc/resolv.conf are bound
    // in: the kernel refuses to overlay /etc in a user namespace.
    let mut view = host();
    view.mount_points.extend(["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"].map(PathBuf::from));
    for base in [ResolvedBase::HostRo, ResolvedBase::Host] {
        let mut cfg = rootless();
        cfg.rootfs = ResolvedRootfs { base: base.clone(), entries: vec![] };
        let ops = plan(&cfg, &view);
        assert!(!ops.iter().any(|op| matches!(op, Op::ReadonlyOverlay { .. })), "{base:?}");
        assert_eq!(overlay_of(&ops, "/oldroot/etc"), None, "{base:?}");
        let whole = position(&ops, |op| {
            *op == Op::Bind {
                source: "/oldroot/etc".into(),
                target: "/newroot/etc".into(),
                recursive: true,
                readonly: true,
            }
        });
        let bound = own_files_bound(&ops);
        assert_eq!(bound.len(), 3, "{base:?}: {bound:?}");
        assert!(whole < position(&ops, |op| matches!(op, Op::BindOwnFile { .. })));
    }
}

#[test]
fn a_host_root_that_cannot_be_overlaid_still_has_its_own_etc_files() {
    let ops = plan(&config(), &host());
    let root = overlay_of(&ops, "/oldroot").unwrap();
    let Op::Overlay { fallback: OverlayFallback::Ops(instead), .. } = &ops[root] else { panic!("{:?}", ops[root]) };
    assert!(
        instead
            .iter()
            .any(|op| matches!(op, Op::ReadonlyOverlay { target, .. } if target == Path::new("/newroot/etc")))
    );
    assert_eq!(own_files_bound(instead).len(), 3);
    // Read where the fallback stages them, should it run.
    assert!(uppers(&ops).contains(&(Path::new(LAYERS).join("etc"), "/etc".into())));
}

#[test]
fn busybox_gets_an_etc_hosts_naming_the_sandbox_not_the_hosts() {
    let base = ResolvedBase::Busybox { binary: "/bin/busybox".into(), applets: vec![] };
    let ops = with_rootfs(base, vec![]);
    assert!(!ops.iter().any(|op| matches!(op, Op::CopyFile { from, .. } if from == Path::new("/oldroot/etc/hosts"))));
    let hosts =
        position(&ops, |op| matches!(op, Op::WriteFile { path, .. } if path == Path::new("/newroot/etc/hosts")));
    let Op::WriteFile { contents, .. } = &ops[hosts] else { unreachable!() };
    let text = String::from_utf8_lossy(contents);
    assert!(text.contains("127.0.0.1\tlocalhost\n") && text.contains("127.0.1.1\tbox\n"), "{text}");
    // As an image's.
    let image = with_rootfs(ResolvedBase::Layers(vec!["/img".into()]), vec![]);
    assert!(image.iter().any(|op| matches!(op, Op::WriteFile { path, contents: c, .. }
        if path.ends_with("etc/hosts") && c == contents)));
}

#[test]
fn busybox_shows_nothing_of_the_host() {
    let base = ResolvedBase::Busybox {
        binary: "/bin/busybox".into(),
        applets: vec!["bin/ls".into(), "usr/bin/awk".into(), "bin/busybox".into()],
    };
    let ops = with_rootfs(base, vec![]);
    assert!(!ops.iter().any(|op| matches!(op, Op::Overlay { .. })));
    assert!(!ops.iter().any(|op| matches!(op, Op::Bind { source, .. } if source.starts_with("/oldroot/usr") || source.starts_with("/oldroot/etc"))));
    assert!(ops.contains(&Op::Symlink { target: "/bin/busybox".into(), link: "/newroot/usr/bin/awk".into() }));
    assert!(!ops.iter().any(|op| matches!(op, Op::Symlink { link, .. } if link == Path::new("/newroot/bin/busybox"))));
    assert!(ops.iter().any(|op| matches!(op, Op::Bind { source, target, readonly: true, .. }
        if source == Path::new("/oldroot/bin/busybox") && target == Path::new("/newroot/bin/busybox"))));
    assert!(ops.iter().any(|op| matches!(op, Op::WriteFile { path, .. } if path == Path::new("/newroot/etc/passwd"))));
    let chdir = ops.iter().rfind(|op| matches!(op, Op::Chdir(_)));
    assert_eq!(chdir, Some(&Op::Chdir("/".into())), "the host's working directory is not in this root");
}

#[test]
fn layers_stack_bottom_first_over_the_new_root() {
    let ops = with_rootfs(ResolvedBase::Layers(vec!["/img/base".into(), "/img/app".into()]), vec![]);
    let overlays: Vec<&Op> = ops.iter().filter(|op| matches!(op, Op::Overlay { .. })).collect();
    assert_eq!(overlays.len(), 1, "no host directory is overlaid: {overlays:#?}");
    let Op::Overlay { lowers, target, .. } = overlays[0] else { unreachable!() };
    assert_eq!(lowers, &[PathBuf::from("/oldroot/img/base"), PathBuf::from("/oldroot/img/app")]);
    assert_eq!(target, Path::new(NEW_ROOT));
    let overlay_at = position(&ops, |op| matches!(op, Op::Overlay { .. }));
    let proc_at = position(&ops, |op| matches!(op, Op::Proc(_)));
    assert!(overlay_at < proc_at, "mount points are created in the image's overlay");
}

#[test]
fn an_image_gets_its_own_etc_files_and_its_run_skeleton() {
    let ops = with_rootfs(ResolvedBase::Layers(vec!["/img/debian".into()]), vec![]);
    let overlay_at = position(&ops, |op| matches!(op, Op::Overlay { .. }));
    let Op::Overlay { upper, .. } = &ops[overlay_at] else { unreachable!() };
    let etc = upper.join("etc");
    // Staged in the upper layer before the overlay is mounted.
    let hosts = position(&ops, |op| matches!(op, Op::WriteFile { path, .. } if *path == etc.join("hosts")));
    let Op::WriteFile { contents, .. } = &ops[hosts] else { unreachable!() };
    let text = String::from_utf8_lossy(contents);
    assert!(text.contains("127.0.0.1\tlocalhost\n") && text.contains("127.0.1.1\tbox\n"), "{text}");
    let hostname = position(
        &ops,
        |op| matches!(op, Op::WriteFile { path, contents } if *path == etc.join("hostname") && contents == b"box\n"),
    );
    let resolv = position(&ops, |op| matches!(op, Op::CopyFile { to, .. } if *to == etc.join("resolv.conf")));
    assert!(hosts < overlay_at && hostname < overlay_at && resolv < overlay_at);
    // The image's /run directories come back in the fresh /run.
    let run = position(&ops, |op| matches!(op, Op::Tmpfs { target, .. } if target == Path::new("/newroot/run")));
    let skeleton = position(&ops, |op| {
        *op == Op::SkeletonDirs { from: vec!["/oldroot/img/debian/run".into()], to: "/newroot/run".into() }
    });
    assert!(run < skeleton);
    // A host root keeps the host's /etc/hosts and its own /run.
    let ops = with_rootfs(ResolvedBase::Host, vec![]);
    assert!(ops.iter().any(|op| matches!(op, Op::CopyFile { from, .. } if from == Path::new("/oldroot/etc/hosts"))));
    assert!(!ops.iter().any(|op| matches!(op, Op::SkeletonDirs { .. })));
}

#[test]
fn entries_come_last_and_files_are_staged_read_only() {
    let entries = vec![
        ResolvedEntry::Bind { src: "/srv/data".into(), kind: SourceKind::Dir, dst: "/tmp/data".into(), rw: false },
        ResolvedEntry::Bind { src: "/srv/out".into(), kind: SourceKind::File, dst: "/out".into(), rw: true },
        ResolvedEntry::Tmpfs { dst: "/scratch".into() },
        ResolvedEntry::File { dst: "/etc/motd".into(), contents: b"hi".to_vec() },
        ResolvedEntry::Symlink { link: "/opt/link".into(), target: "/tmp/data".into() },
    ];
    let ops = with_rootfs(ResolvedBase::Host, entries);
    let tmp = position(&ops, |op| matches!(op, Op::Tmpfs { target, .. } if target == Path::new("/newroot/tmp")));
    let data = position(&ops, |op| {
        matches!(op, Op::Bind { source, target, readonly: true, recursive: true }
        if source == Path::new("/oldroot/srv/data") && target == Path::new("/newroot/tmp/data"))
    });
    assert!(tmp < data, "a bind into /tmp must follow the fresh /tmp");
    assert!(ops[data - 1] == Op::Mkdir("/newroot/tmp/data".into()));
    let out = position(
        &ops,
        |op| matches!(op, Op::Bind { target, readonly: false, .. } if target == Path::new("/newroot/out")),
    );
    assert_eq!(ops[out - 1], Op::Touch("/newroot/out".into()));
    assert!(ops.contains(&Op::Tmpfs { target: "/newroot/scratch".into(), mode: 0o755, size: 64 << 20 }));
    let staged = position(&ops, |op| matches!(op, Op::WriteFile { path, .. } if path.starts_with(LAYERS)));
    let motd = position(
        &ops,
        |op| matches!(op, Op::Bind { target, readonly: true, recursive: false, .. } if target == Path::new("/newroot/etc/motd")),
    );
    assert!(staged < motd);
    assert!(ops.contains(&Op::Symlink { target: "/tmp/data".into(), link: "/newroot/opt/link".into() }));
    let pivot = ops.iter().rposition(|op| matches!(op, Op::PivotRoot { .. })).unwrap();
    assert!(motd < pivot);
}

#[test]
fn setup_paths_are_shown_as_the_user_knows_them() {
    assert_eq!(show(Path::new("/oldroot/srv/x")), "host `/srv/x`");
    assert_eq!(show(Path::new("/newroot/etc")), "`/etc`");
    assert_eq!(show(Path::new("/layers/1")), "`/layers/1`");
}

#[test]
fn overlay_paths_are_escaped() {
    assert_eq!(escape_overlay_path(Path::new("/a,b:c\\d")), "/a\\,b\\:c\\\\d");
}

#[test]
fn rootless_entries_get_their_directories_in_the_upper_layer_first() {
    let entries = vec![
        ResolvedEntry::File { dst: "/etc/ssl/app.conf".into(), contents: b"x".to_vec() },
        ResolvedEntry::Symlink { link: "/usr/local/bin/tool".into(), target: "/bin/true".into() },
        ResolvedEntry::File { dst: "/etc/top.conf".into(), contents: b"x".to_vec() },
    ];
    let config = SandboxConfig { rootfs: ResolvedRootfs { base: ResolvedBase::Host, entries }, ..rootless() };
    let ops = plan(&config, &host());
    let overlay_of = |lower: &str| {
        position(&ops, |op| matches!(op, Op::Overlay { lowers, .. } if lowers == &[PathBuf::from(lower)]))
    };
    let upper_dir =
        |like: &str| position(&ops, |op| matches!(op, Op::UpperDir { like: l, .. } if l == Path::new(like)));
    let (etc, usr) = (overlay_of("/oldroot/etc"), overlay_of("/oldroot/usr"));
    // Each in its own overlay's upper layer, outermost first, before it is
    // mounted; nothing for an entry directly in the top-level directory.
    let ssl = upper_dir("/oldroot/etc/ssl");
    assert!(ssl < etc, "{ops:#?}");
    let Op::Overlay { upper, .. } = &ops[etc] else { unreachable!() };
    assert_eq!(ops[ssl], Op::UpperDir { path: upper.join("ssl"), like: "/oldroot/etc/ssl".into() });
    let (local, bin) = (upper_dir("/oldroot/usr/local"), upper_dir("/oldroot/usr/local/bin"));
    assert!(local < bin && bin < usr, "{ops:#?}");
    assert_eq!(ops.iter().filter(|op| matches!(op, Op::UpperDir { .. })).count(), 3, "{ops:#?}");
    // As host root the one overlay of `/` is made in the host's root's name:
    // nothing is needed.
    let config = SandboxConfig { rootless: false, ..config };
    assert!(!plan(&config, &host()).iter().any(|op| matches!(op, Op::UpperDir { .. })));
}

/// The overlays of kept paths that lie on host mounts shown read-only.
fn kept_overlays(cfg: &SandboxConfig, host: &HostView) -> Vec<PathBuf> {
    plan(cfg, host)
        .iter()
        .filter_map(|op| match op {
            Op::Overlay { lowers, target, .. } if lowers.len() == 1 && lowers[0].starts_with("/oldroot/mnt") => {
                assert_eq!(target, &under(NEW_ROOT, lowers[0].strip_prefix("/oldroot").unwrap()));
                Some(lowers[0].clone())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_crate_directory_on_a_read_only_host_mount_is_copy_on_write() {
    // `/mnt/data` is a mount below a top-level directory: read-only as
    // host root (bound on top of the overlay of `/`), and rootless (`/mnt`
    // carries it, so it is bound read-only whole).
    let keep = vec![PathBuf::from("/mnt/data/proj"), "/mnt/data/proj/target/debug".into(), "/usr/src".into()];
    for base in [config(), rootless()] {
        let cfg = SandboxConfig { keep: keep.clone(), ..base };
        let ops = plan(&cfg, &host());
        assert_eq!(kept_overlays(&cfg, &host()), [PathBuf::from("/oldroot/mnt/data/proj")], "{ops:#?}");
        // After what shows `/mnt/data` read-only.
        let overlay =
            position(&ops, |op| matches!(op, Op::Overlay { target, .. } if target.ends_with("mnt/data/proj")));
        let read_only = position(&ops, |op| {
            matches!(op, Op::Bind { target, readonly: true, .. }
                if *target == under(NEW_ROOT, Path::new("/mnt/data")) || *target == under(NEW_ROOT, Path::new("/mnt")))
        });
        assert!(read_only < overlay, "{ops:#?}");
    }
    // Not one with mounts below it (the kept directory below that mount
    // is), nor on the read-only host root, nor where the host's files are
    // copy-on-write already.
    let mut host_with_target = host();
    host_with_target.mount_points.push("/mnt/data/proj/target".into());
    let cfg = SandboxConfig { keep: keep.clone(), ..config() };
    assert_eq!(kept_overlays(&cfg, &host_with_target), [PathBuf::from("/oldroot/mnt/data/proj/target/debug")]);
    let mut cfg = SandboxConfig { keep: keep.clone(), ..config() };
    cfg.rootfs.base = ResolvedBase::HostRo;
    assert!(kept_overlays(&cfg, &host()).is_empty());
    for base in [config(), rootless()] {
        let cfg = SandboxConfig { keep: vec!["/mnt/proj".into(), "/usr/src".into()], ..base };
        let expected: &[PathBuf] = if cfg.rootless { &[PathBuf::from("/oldroot/mnt/proj")] } else { &[] };
        assert_eq!(kept_overlays(&cfg, &host()), expected, "rootless {}", cfg.rootless);
    }
}
