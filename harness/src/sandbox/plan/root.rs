//! Step 4 of the plan: the root filesystem on `/newroot`: the host's
//! files (one overlay of `/` as host root, one per top-level directory
//! rootless, read-only binds where overlayfs refuses), a busybox root, or
//! an image's layers, each with the sandbox's own `/etc` files.

use std::path::{Path, PathBuf};

use super::{
    EntryKind, HostView, LAYERS, NEW_ROOT, NOT_OVERLAID, OLD_ROOT, Op, OverlayFallback, ResolvedBase, SandboxConfig,
    outermost, under,
};

/// Numbers the overlays of a plan (each gets `/layers/<n>` for its upper
/// and work directories) and adds them with what they need.
pub(super) struct Overlays<'a> {
    next: usize,
    config: &'a SandboxConfig,
    host: &'a HostView,
    hosts: Hosts,
}

impl<'a> Overlays<'a> {
    pub(super) fn new(config: &'a SandboxConfig, host: &'a HostView) -> Self {
        Self { next: 0, config, host, hosts: Hosts::for_base(&config.rootfs.base) }
    }

    /// The upper directory the next overlay [`Overlays::add`]s will have.
    fn next_upper(&self) -> PathBuf {
        PathBuf::from(LAYERS).join(self.next.to_string()).join("upper")
    }

    /// An overlay of `lowers` (bottom first, as in `Rootfs::layers`) on
    /// `target`. `own_etc`: where in the upper layer `/etc` is (`""` for an
    /// overlay of `/etc` itself, `"etc"` for one of `/`); the sandbox's own
    /// `/etc` files go there before the overlay is mounted.
    pub(super) fn add(&mut self, ops: &mut Vec<Op>, lowers: Vec<PathBuf>, target: PathBuf, own_etc: Option<&str>) {
        let dir = PathBuf::from(LAYERS).join(self.next.to_string());
        self.next += 1;
        ops.push(Op::Mkdir(dir.join("upper")));
        ops.push(Op::Mkdir(dir.join("work")));
        if let Some(etc) = own_etc {
            let etc = dir.join("upper").join(etc);
            if etc != dir.join("upper") {
                ops.push(Op::Mkdir(etc.clone()));
            }
            ops.extend(own_etc_files(&etc, &self.config.hostname, self.hosts));
        }
        let fallback = if target != Path::new(NEW_ROOT) {
            OverlayFallback::ReadonlyBind
        } else if lowers == [PathBuf::from(OLD_ROOT)] {
            OverlayFallback::Ops(readonly_host_root(self.config, self.host))
        } else {
            OverlayFallback::Fail
        };
        ops.push(Op::Overlay {
            lowers,
            upper: dir.join("upper"),
            work: dir.join("work"),
            target,
            fallback,
            in_user_namespace: self.config.rootless,
        });
    }
}

/// Adds the root filesystem. `new_root_tmpfs` is the `/newroot` tmpfs,
/// already mounted unless the base is the host's files.
pub(super) fn root(
    ops: &mut Vec<Op>,
    overlays: &mut Overlays<'_>,
    config: &SandboxConfig,
    host: &HostView,
    new_root_tmpfs: Op,
) {
    let base = &config.rootfs.base;
    match base {
        ResolvedBase::Host if !config.rootless => {
            // As host root the setup runs outside any user namespace, so
            // the host's root filesystem can be one overlay: a single mount
            // where one per top-level directory cost a dozen or more. An
            // overlay shows only its lower directory's own filesystem; the
            // other host filesystems come back on top, each tree once at
            // its topmost mount point: copy-on-write too when it is a
            // top-level directory (a separate `/home`, `/boot` or `/var`),
            // read-only binds deeper down (as for the per-directory plan).
            let etc_is_mount = host.mount_points.iter().any(|m| m == Path::new("/etc"));
            overlays.add(ops, vec![OLD_ROOT.into()], NEW_ROOT.into(), (!etc_is_mount).then_some("etc"));
            for sub in topmost_submounts(Path::new("/"), &host.mount_points) {
                if NOT_OVERLAID.iter().any(|dir| sub.starts_with(Path::new("/").join(dir))) || is_own_etc_file(&sub) {
                    continue;
                }
                let target = under(NEW_ROOT, &sub);
                let source = under(OLD_ROOT, &sub);
                let name = sub.strip_prefix("/").unwrap_or(&sub).to_string_lossy().into_owned();
                let top_level_dir = host.root_entries.iter().any(|(n, kind)| *n == name && *kind == EntryKind::Dir);
                if top_level_dir {
                    overlays.add(ops, vec![source], target, (name == "etc").then_some(""));
                    for deeper in topmost_submounts(&sub, &host.mount_points) {
                        if !is_own_etc_file(&deeper) {
                            ops.push(Op::Bind {
                                source: under(OLD_ROOT, &deeper),
                                target: under(NEW_ROOT, &deeper),
                                recursive: true,
                                readonly: true,
                            });
                        }
                    }
                } else {
                    // The mount point exists in the lower filesystem (a
                    // directory or file there), so nothing is created: a
                    // `Touch` would copy a file up.
                    ops.push(Op::Bind { source, target, recursive: true, readonly: true });
                }
            }
        }
        ResolvedBase::HostRo => ops.extend(readonly_host_root(config, host)),
        ResolvedBase::Host => {
            // Rootless: the host's files one top-level directory at a time,
            // since inside a user namespace an overlay of `/` is refused
            // (`/` has locked submounts), per-directory overlays are not.
            ops.push(new_root_tmpfs);
            host_top_level(host, ops, |ops, name, source, target| {
                if has_submounts(&Path::new("/").join(name), &host.mount_points) {
                    // The kernel refuses to overlay a directory with
                    // locked submounts: it is bound read-only whole
                    // (`/etc` with the sandbox's own files over it).
                    if name == "etc" {
                        readonly_etc(ops, config, host);
                    } else {
                        ops.push(Op::Bind { source, target, recursive: true, readonly: true });
                    }
                } else {
                    // No submounts: the overlay shows all. The directories
                    // the rootfs entries go in are made in its upper layer
                    // first: the host's are root's, which the sandbox's
                    // root is not, so the entry could not be made there.
                    for dir in entry_dirs_below(config, Path::new("/").join(name).as_path()) {
                        let upper = overlays.next_upper().join(&dir);
                        ops.push(Op::UpperDir { path: upper, like: source.join(&dir) });
                    }
                    overlays.add(ops, vec![source], target, (name == "etc").then_some(""));
                }
            });
        }
        ResolvedBase::Busybox { binary, applets } => {
            // A throw-away root on the /newroot tmpfs: the binary, a link per
            // applet, and just enough /etc for `id` and `ls -l`.
            for dir in ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "var"] {
                ops.push(Op::Mkdir(Path::new(NEW_ROOT).join(dir)));
            }
            let target = under(NEW_ROOT, Path::new("/bin/busybox"));
            ops.push(Op::Touch(target.clone()));
            ops.push(Op::Bind { source: under(OLD_ROOT, binary), target, recursive: false, readonly: true });
            for applet in applets {
                let link = under(NEW_ROOT, &Path::new("/").join(applet));
                if link != Path::new(NEW_ROOT).join("bin/busybox") {
                    ops.push(Op::Symlink { target: "/bin/busybox".into(), link });
                }
            }
            ops.push(Op::WriteFile {
                path: Path::new(NEW_ROOT).join("etc/passwd"),
                contents: b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n".to_vec(),
            });
            ops.push(Op::WriteFile {
                path: Path::new(NEW_ROOT).join("etc/group"),
                contents: b"root:x:0:\ntty:x:5:\nnogroup:x:65534:\n".to_vec(),
            });
            ops.extend(own_etc_files(&Path::new(NEW_ROOT).join("etc"), &config.hostname, Hosts::for_base(base)));
        }
        ResolvedBase::Layers(layers) => {
            // The image under a throw-away upper layer; the image is never
            // modified. Its `/etc` gets the sandbox's own files, as a host
            // root's does (a debootstrap root carries the build host's
            // `hostname` and `resolv.conf`, and no `hosts`).
            let lowers = layers.iter().map(|l| under(OLD_ROOT, l)).collect();
            overlays.add(ops, lowers, NEW_ROOT.into(), Some("etc"));
        }
    }
}

/// The directories (relative to `top`, outermost first, each once) that
/// hold a rootfs entry's destination below the top-level directory `top`:
/// `/etc/ssl/app.conf` gives `ssl`; `/etc/app.conf` none.
fn entry_dirs_below(config: &SandboxConfig, top: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for entry in &config.rootfs.entries {
        let Ok(rel) = entry.destination().strip_prefix(top) else { continue };
        for dir in rel.ancestors().skip(1).filter(|d| !d.as_os_str().is_empty()) {
            if !dirs.iter().any(|have| have == dir) {
                dirs.push(dir.to_path_buf());
            }
        }
    }
    dirs.sort_by_key(|d| d.components().count());
    dirs
}

/// Whether some mount point lies strictly below `dir`.
pub(super) fn has_submounts(dir: &Path, mount_points: &[PathBuf]) -> bool {
    mount_points.iter().any(|m| m != dir && m.starts_with(dir))
}

/// Where a sandbox's `/etc/hosts` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hosts {
    /// The host's (roots on the host's files).
    FromHost,
    /// Made for the sandbox: localhost and its hostname (busybox, images).
    Generated,
}

impl Hosts {
    /// The host's on the host's files; made for the sandbox on any other
    /// root, which shows nothing of the host: the host's would name the
    /// host and its network, and not the sandbox's hostname.
    fn for_base(base: &ResolvedBase) -> Self {
        match base {
            ResolvedBase::Host | ResolvedBase::HostRo => Hosts::FromHost,
            ResolvedBase::Busybox { .. } | ResolvedBase::Layers(_) => Hosts::Generated,
        }
    }
}

/// The names of the files of `/etc` every sandbox has as its own.
const OWN_ETC_FILES: [&str; 3] = ["hosts", "hostname", "resolv.conf"];

/// Where the sandbox's own `/etc` files are staged when `/etc` is the
/// host's, read-only: on the setup's tmpfs, bound over `/etc` one by one.
const OWN_ETC: &str = "/layers/etc";

/// The top layer of a read-only overlay of the host's `/etc`: a copy of
/// each own file staged in [`OWN_ETC`], so that each is a regular file
/// there to bind over, whatever the host has (none, or a link such as
/// `resolv.conf -> ../run/systemd/resolve/stub-resolv.conf`, into a `/run`
/// that is a fresh tmpfs here). Apart from the bound files, so that no
/// layer of the overlay changes under it.
const OWN_ETC_MOUNT_POINTS: &str = "/layers/etc-mount-points";

/// The files of `/etc` every sandbox gets as its own, as container engines
/// provide them: `hosts`, `hostname` (the sandbox's) and `resolv.conf`,
/// made in `dir`: the upper layer of the `/etc` overlay before it is
/// mounted, a busybox root's `/etc`, or [`OWN_ETC`] where `/etc` is the
/// host's, read-only. So they are regular files owned by root inside,
/// mode 0644 whatever the host's mode, writable in every mode (rootless
/// too, where a copy-up of the host's root-owned files is refused), and
/// not reported as changes unless the test changes them; the pollution
/// report compares them with what they held after the setup, not with
/// the host's files.
fn own_etc_files(dir: &Path, hostname: &str, hosts: Hosts) -> Vec<Op> {
    let from = |name: &str| under(OLD_ROOT, &Path::new("/etc").join(name));
    let generated = format!(
        "127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
    );
    let hosts = match hosts {
        Hosts::FromHost => Op::CopyFile {
            from: from("hosts"),
            to: dir.join("hosts"),
            fallback: Some(format!("127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost\n").into_bytes()),
        },
        Hosts::Generated => Op::WriteFile { path: dir.join("hosts"), contents: generated.into_bytes() },
    };
    vec![
        hosts,
        Op::WriteFile { path: dir.join("hostname"), contents: format!("{hostname}\n").into_bytes() },
        Op::CopyFile { from: from("resolv.conf"), to: dir.join("resolv.conf"), fallback: None },
    ]
}

/// The host's root as a tmpfs with each top-level entry bound read-only
/// (directories recursively), the kernel's and the scratch directories
/// only created, `/etc` with the sandbox's own files over it: `host_ro`,
/// and what a host whose root filesystem overlayfs refuses gets.
fn readonly_host_root(config: &SandboxConfig, host: &HostView) -> Vec<Op> {
    let mut ops = vec![Op::Tmpfs { target: NEW_ROOT.into(), mode: 0o755, size: config.tmpfs_bytes }];
    host_top_level(host, &mut ops, |ops, name, source, target| {
        if name == "etc" {
            readonly_etc(ops, config, host);
        } else {
            ops.push(Op::Bind { source, target, recursive: true, readonly: true });
        }
    });
    ops
}

/// The host's `/etc` read-only, with the sandbox's own files (as
/// [`own_etc_files`] makes them) staged in [`OWN_ETC`] and bound writable
/// over it: `/etc/hosts`, `hostname` and `resolv.conf` are the sandbox's
/// in every mode, and a test can name hosts in its `/etc/hosts`
/// (`isolated_test::net`) on a read-only root too.
///
/// `/etc` is a read-only overlay of the host's under a layer holding those
/// names (see [`OWN_ETC_MOUNT_POINTS`]), with the host's other filesystems
/// below `/etc` bound read-only on top, as an overlay shows only its lower
/// directory's own filesystem. Rootless, the kernel refuses to overlay a
/// directory with locked submounts (a container's bound `/etc/hosts`):
/// `/etc` is then bound read-only whole, and the own files go over those
/// of the host's that are regular files, as do they when the kernel
/// refuses the overlay for another reason.
fn readonly_etc(ops: &mut Vec<Op>, config: &SandboxConfig, host: &HostView) {
    let etc = Path::new("/etc");
    let (source, target) = (under(OLD_ROOT, etc), under(NEW_ROOT, etc));
    let own = PathBuf::from(OWN_ETC);
    ops.push(Op::Mkdir(own.clone()));
    ops.extend(own_etc_files(&own, &config.hostname, Hosts::FromHost));
    let bind_whole = Op::Bind { source: source.clone(), target: target.clone(), recursive: true, readonly: true };
    if config.rootless && has_submounts(etc, &host.mount_points) {
        ops.push(bind_whole);
    } else {
        let mount_points = PathBuf::from(OWN_ETC_MOUNT_POINTS);
        ops.push(Op::Mkdir(mount_points.clone()));
        for name in OWN_ETC_FILES {
            ops.push(Op::CopyFile { from: own.join(name), to: mount_points.join(name), fallback: None });
        }
        let fallback = OverlayFallback::Ops(vec![bind_whole]);
        ops.push(Op::ReadonlyOverlay { lowers: vec![source, mount_points], target: target.clone(), fallback });
        for sub in topmost_submounts(etc, &host.mount_points).into_iter().filter(|sub| !is_own_etc_file(sub)) {
            ops.push(Op::Bind {
                source: under(OLD_ROOT, &sub),
                target: under(NEW_ROOT, &sub),
                recursive: true,
                readonly: true,
            });
        }
    }
    for name in OWN_ETC_FILES {
        ops.push(Op::BindOwnFile { source: own.join(name), target: target.join(name) });
    }
}

/// Whether the host's files put the host directory `path` in the sandbox
/// read-only, where the rest is copy-on-write: as host root, below a mount
/// deeper than a top-level directory (bound read-only on top of the
/// overlays); rootless, below a top-level directory with mounts of its
/// own (bound read-only whole). Not for the kernel's and the scratch
/// directories, which get their own.
pub(super) fn read_only_on_host(path: &Path, config: &SandboxConfig, host: &HostView) -> bool {
    let Some(top) = path.components().nth(1).map(|c| c.as_os_str().to_string_lossy().into_owned()) else {
        return false;
    };
    let top_is_dir = host.root_entries.iter().any(|(n, kind)| *n == top && *kind == EntryKind::Dir);
    if NOT_OVERLAID.contains(&top.as_str()) || !top_is_dir {
        return false;
    }
    let top_dir = Path::new("/").join(&top);
    if config.rootless {
        return has_submounts(&top_dir, &host.mount_points);
    }
    // The deepest mount holding `path`: `/` and top-level ones are overlaid.
    host.mount_points
        .iter()
        .filter(|m| path.starts_with(m))
        .max_by_key(|m| m.components().count())
        .is_some_and(|m| m.components().count() > 2 && m.starts_with(&top_dir))
}

/// The host's top-level entries on the `/newroot` tmpfs: symlinks copied,
/// files bound read-only, the kernel's and the scratch directories only
/// created, and every other directory created and handed to `dir` (with
/// its name, host source and target) to be filled.
fn host_top_level(host: &HostView, ops: &mut Vec<Op>, mut dir: impl FnMut(&mut Vec<Op>, &str, PathBuf, PathBuf)) {
    for (name, kind) in &host.root_entries {
        let host_path = Path::new("/").join(name);
        let (source, target) = (under(OLD_ROOT, &host_path), under(NEW_ROOT, &host_path));
        match kind {
            EntryKind::Dir if NOT_OVERLAID.contains(&name.as_str()) => ops.push(Op::Mkdir(target)),
            EntryKind::Dir => {
                ops.push(Op::Mkdir(target.clone()));
                dir(ops, name, source, target);
            }
            EntryKind::Symlink(link_target) => ops.push(Op::Symlink { target: link_target.clone(), link: target }),
            EntryKind::File => {
                ops.push(Op::Touch(target.clone()));
                ops.push(Op::Bind { source, target, recursive: false, readonly: true });
            }
            EntryKind::Other => {}
        }
    }
}

/// Whether `path` is one of the `/etc` files every sandbox has as its own
/// (see [`own_etc_files`]): a host that bind-mounts them (a container's
/// `/etc/resolv.conf`) must not put its read-only copy back on top.
fn is_own_etc_file(path: &Path) -> bool {
    OWN_ETC_FILES.iter().any(|own| path == Path::new("/etc").join(own))
}

/// The mount points strictly below `dir` that are not below another one
/// of them: binding each recursively brings back the whole tree once.
fn topmost_submounts(dir: &Path, mount_points: &[PathBuf]) -> Vec<PathBuf> {
    let below: Vec<PathBuf> =
        mount_points.iter().filter(|m| m.as_path() != dir && m.starts_with(dir)).cloned().collect();
    outermost(&below)
}
