//! [`NetError`]: what can go wrong building or changing a [`super::Network`].

use std::io;

/// A kernel feature a network needs, with the module and the kernel option
/// that provide it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelFeature {
    /// What it is for (`netem qdisc (delay, jitter, loss)`).
    pub what: &'static str,
    /// The module (`sch_netem`).
    pub module: &'static str,
    /// The kernel option (`CONFIG_NET_SCH_NETEM`).
    pub config: &'static str,
}

/// Delay, jitter and loss.
pub const NETEM: KernelFeature = KernelFeature {
    what: "the netem qdisc (delay, jitter, loss)",
    module: "sch_netem",
    config: "CONFIG_NET_SCH_NETEM",
};
/// Rate limits.
pub const TBF: KernelFeature =
    KernelFeature { what: "the tbf qdisc (rate limits)", module: "sch_tbf", config: "CONFIG_NET_SCH_TBF" };
/// Links.
pub const VETH: KernelFeature =
    KernelFeature { what: "veth pairs (links between nodes)", module: "veth", config: "CONFIG_VETH" };
/// Switches.
pub const BRIDGE: KernelFeature =
    KernelFeature { what: "bridges (switches)", module: "bridge", config: "CONFIG_BRIDGE" };

/// What `/proc/config.gz` says of a kernel option: `Some(true)` built in
/// or a module, `Some(false)` not set, `None` unknown (no such file, or no
/// `gzip` to read it with).
///
/// `gzip -dc` reads it rather than a decompressor linked into every test
/// binary: this runs only to explain a failure, and gzip is on every
/// distribution (and in busybox). Without it the answer is unknown, as on a
/// kernel without `/proc/config.gz`, and the message relies on
/// `/sys/module` and `/lib/modules`.
fn kernel_config(option: &str) -> Option<bool> {
    if !std::path::Path::new("/proc/config.gz").is_file() {
        return None;
    }
    let out = std::process::Command::new("gzip")
        .args(["-dc", "/proc/config.gz"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let set = text.lines().any(|l| l.strip_prefix(option).is_some_and(|rest| rest == "=y" || rest == "=m"));
    Some(set)
}

impl KernelFeature {
    /// Whether the kernel can have it: built in, loaded, or a module there
    /// is to load (`None`: cannot tell).
    pub fn available(&self) -> Option<bool> {
        if std::path::Path::new("/sys/module").join(self.module).exists() {
            return Some(true);
        }
        kernel_config(self.config)
    }

    /// Why it is missing and how to get it, in two lines (`cause: ...`,
    /// `fix: ...`).
    pub fn cause_and_fix(&self) -> String {
        let (what, module, config) = (self.what, self.module, self.config);
        let loaded = std::path::Path::new("/sys/module").join(module).exists();
        let release = rustix::system::uname().release().to_string_lossy().into_owned();
        let modules_dir = std::path::Path::new("/lib/modules").join(&release);
        let load = format!(
            "load it on the host (sudo modprobe {module}; on Ubuntu's cloud kernels it ships in \
             linux-modules-extra-$(uname -r))"
        );
        let (cause, fix) = match kernel_config(config) {
            Some(false) => (
                format!("this kernel ({release}) was built without {what}: {config} is not set in /proc/config.gz"),
                format!("run the tests on a kernel built with {config}=m or =y"),
            ),
            _ if loaded => (
                format!("the kernel refused {what} although `{module}` is loaded"),
                "see the error above; the module may be too old for these options".to_owned(),
            ),
            _ if modules_dir.exists() => (
                format!(
                    "{what} is the module `{module}`, which is not loaded, and the kernel could not load it on \
                     demand (a test cannot: only the host's root can)"
                ),
                format!("{load}, or use a kernel built with {config}=y"),
            ),
            _ => (
                format!(
                    "this kernel has no {what}: `{module}` is not built in and there is no {} to load it from",
                    modules_dir.display()
                ),
                format!("{load}, or use a kernel built with {config}=m or =y"),
            ),
        };
        format!("cause: {cause}\nfix: {fix}")
    }
}

/// Why a network could not be built or changed.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// A name used twice (nodes and switches share one namespace of names).
    #[error("the name `{name}` is used twice (node and switch names must all differ)")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// A name that cannot be a host name.
    #[error(
        "`{name}` cannot name a node or switch: use 1 to 63 letters, digits and `-`, not starting or ending \
         with `-` (it becomes a host name in /etc/hosts)"
    )]
    BadName {
        /// The name.
        name: String,
    },
    /// A link or switch names a node that was never added, or a lookup did.
    #[error("no node named `{name}` (nodes: {known})")]
    UnknownNode {
        /// The name asked for.
        name: String,
        /// The nodes there are, comma-separated.
        known: String,
    },
    /// A link from a node to itself.
    #[error("a link from `{name}` to itself: a link joins two different nodes")]
    SelfLink {
        /// The node.
        name: String,
    },
    /// Two links between the same nodes.
    #[error("`{a}` and `{b}` are linked twice (one link per pair of nodes; use a switch for more)")]
    DuplicateLink {
        /// One end.
        a: String,
        /// The other end.
        b: String,
    },
    /// A switch with a node twice, or with no node.
    #[error("switch `{name}`: {problem}")]
    BadSwitch {
        /// The switch.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// No link between these nodes.
    #[error("no link between `{a}` and `{b}`")]
    NoSuchLink {
        /// One end.
        a: String,
        /// The other end.
        b: String,
    },
    /// A [`super::LinkSpec`] value out of range.
    #[error("link {link}: {problem}")]
    BadSpec {
        /// `a-b`.
        link: String,
        /// What is wrong.
        problem: String,
    },
    /// `build()` outside an isolated test's body.
    #[error(
        "isolated_test::net builds networks only inside an #[isolated_test] body: it makes namespaces and \
         writes /etc/hosts, which must be the sandbox's own"
    )]
    NotInSandbox,
    /// More subnets or switch ports than the address plan has room for.
    #[error("{0}")]
    TooLarge(String),
    /// The kernel lacks a feature (a missing module).
    #[error("failed to {step}: {}\n{}", errno_text(.cause), .feature.cause_and_fix())]
    Missing {
        /// What was being done.
        step: String,
        /// The feature.
        feature: KernelFeature,
        /// What the kernel said.
        cause: io::Error,
    },
    /// Any other kernel or system error.
    #[error("failed to {step}: {}{hint}", errno_text(.cause))]
    System {
        /// What was being done.
        step: String,
        /// What the kernel said.
        cause: io::Error,
        /// A hint (starts with a newline), or empty.
        hint: String,
    },
}

/// `ENOENT: No such file or directory (os error 2)`, or the message.
fn errno_text(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => crate::error::IoCause(io::Error::from_raw_os_error(code)).to_string(),
        None => err.to_string(),
    }
}

/// As its message: `build().unwrap()` then shows the cause and the fix.
impl std::fmt::Debug for NetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl NetError {
    /// A system error while doing `step`; EPERM gets a hint.
    pub(crate) fn system(step: impl Into<String>, cause: io::Error) -> Self {
        let hint = if cause.raw_os_error() == Some(libc::EPERM) {
            "\nhint: a network needs CAP_NET_ADMIN and CAP_SYS_ADMIN over its namespaces: build it inside an \
             #[isolated_test] (root inside the sandbox), or as root"
                .to_owned()
        } else {
            String::new()
        };
        Self::System { step: step.into(), cause, hint }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_module_names_the_cause_and_the_fix() {
        let err = NetError::Missing {
            step: "add the netem qdisc on `server` in node `client`".into(),
            feature: NETEM,
            cause: io::Error::from_raw_os_error(libc::ENOENT),
        };
        let text = err.to_string();
        assert!(text.starts_with("failed to add the netem qdisc on `server` in node `client`: ENOENT"), "{text}");
        assert!(text.contains("\ncause: ") && text.contains("netem qdisc"), "{text}");
        let fix = text.split("\nfix: ").nth(1).unwrap_or_default();
        // Which fix depends on this kernel: a module to load, or another kernel.
        assert!(
            fix.contains("sudo modprobe sch_netem") || fix.contains("a kernel built with CONFIG_NET_SCH_NETEM=m or =y"),
            "{text}"
        );
    }

    #[test]
    fn the_kernel_config_is_read_where_the_kernel_has_one() {
        let has_config = std::path::Path::new("/proc/config.gz").is_file();
        assert_eq!(kernel_config("CONFIG_NET"), has_config.then_some(true));
        assert_eq!(kernel_config("CONFIG_ISOLATED_TEST_NO_SUCH_OPTION"), has_config.then_some(false));
    }
}
