//! Error types of each layer and the serialisable chain that carries a
//! setup error from PID 2 to the parent.

use std::fmt;
use std::io;

use serde::{Deserialize, Serialize};

/// A failed setup step inside the sandbox (PID 2).
#[derive(Debug, thiserror::Error)]
#[error("failed to {what}")]
pub struct SetupError {
    /// Short name of the step, e.g. `pivot_root`.
    pub step: &'static str,
    /// What the step did, with its objects, e.g. "pivot_root into `/newroot`".
    pub what: String,
    /// The kernel's answer.
    #[source]
    pub source: IoCause,
}

/// An `io::Error` whose message leads with the errno name (`EINVAL: ...`),
/// because that is what people search for.
#[derive(Debug)]
pub struct IoCause(pub io::Error);

impl fmt::Display for IoCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.raw_os_error().and_then(errno_name) {
            Some(name) => write!(f, "{name}: {}", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

impl std::error::Error for IoCause {}

/// Why the parent could not start or supervise a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// `clone3` with namespace flags failed.
    #[error("failed to create the sandbox namespaces with clone3 ({flags})")]
    Clone {
        /// The namespace flags, spelled out.
        flags: String,
        /// The kernel's answer.
        #[source]
        source: IoCause,
        /// Cause and fix found by probing the host, if any.
        diagnosis: Option<String>,
    },
    /// Writing `/proc/<pid>/uid_map`, `gid_map` or `setgroups` failed.
    #[error("failed to write `{path}` with `{content}`")]
    IdMap {
        /// The file written.
        path: String,
        /// What was written.
        content: String,
        /// The kernel's answer.
        #[source]
        source: IoCause,
    },
    /// `privileged = true` (`--privileged`) without real root.
    #[error("{}", not_root(*.euid))]
    NotRoot {
        /// The caller's effective uid.
        euid: u32,
    },
    /// A resource limit was asked for and no cgroup can enforce it.
    #[error("cannot enforce the resource limits asked for ({asked}): {cause}\nfix: {fix}")]
    Limits {
        /// The limits asked for, in words.
        asked: String,
        /// Why no cgroup could be had.
        cause: String,
        /// How to get one.
        fix: String,
    },
    /// Moving PID 1 into its cgroup failed.
    #[error("failed to move the sandbox into its cgroup")]
    Cgroup {
        /// The kernel's answer.
        #[source]
        source: IoCause,
    },
    /// Any other preparation step in the parent (pipes, runtime, paths).
    #[error("failed to {what}")]
    Prepare {
        /// The step.
        what: String,
        /// The cause.
        #[source]
        source: IoCause,
    },
}

impl SpawnError {
    /// The message, its `caused by:` chain and, for a refused `clone3`, the
    /// host's cause and fix: what the test's failure, `doctor` and `run` show.
    pub(crate) fn render(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(&format!("\n  caused by: {cause}"));
            source = cause.source();
        }
        if let SpawnError::Clone { diagnosis: Some(d), .. } = self {
            text.push('\n');
            text.push_str(d);
        }
        text
    }
}

/// An error and its causes as plain strings, to cross the process boundary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorChain {
    /// The step that failed (`pivot_root`, `mount`, ...).
    pub step: String,
    /// The top-level message.
    pub message: String,
    /// The `source()` chain, outermost first.
    pub causes: Vec<String>,
    /// The errno of the innermost system call error in the chain, for the
    /// hints that depend on it.
    #[serde(default)]
    pub errno: Option<i32>,
}

impl ErrorChain {
    /// Flattens `err` and its sources.
    pub fn from_error(step: &str, err: &(dyn std::error::Error + 'static)) -> Self {
        let mut causes = Vec::new();
        let mut errno = os_error(err);
        let mut next = err.source();
        while let Some(cause) = next {
            causes.push(cause.to_string());
            errno = os_error(cause).or(errno);
            next = cause.source();
        }
        Self { step: step.to_owned(), message: err.to_string(), causes, errno }
    }
}

/// The errno `err` carries itself, if it is a system call's error.
fn os_error(err: &(dyn std::error::Error + 'static)) -> Option<i32> {
    if let Some(io) = err.downcast_ref::<io::Error>() {
        return io.raw_os_error();
    }
    if let Some(cause) = err.downcast_ref::<IoCause>() {
        return cause.0.raw_os_error();
    }
    err.downcast_ref::<rustix::io::Errno>().map(|e| e.raw_os_error())
}

impl fmt::Display for ErrorChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        for cause in &self.causes {
            write!(f, "\n  caused by: {cause}")?;
        }
        Ok(())
    }
}

/// The symbolic name of common errno values.
pub(crate) fn errno_name(errno: i32) -> Option<&'static str> {
    Some(match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::EBADF => "EBADF",
        libc::ECHILD => "ECHILD",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EXDEV => "EXDEV",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::EMFILE => "EMFILE",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ENOSYS => "ENOSYS",
        libc::ELOOP => "ELOOP",
        libc::EUSERS => "EUSERS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        _ => return None,
    })
}

/// [`SpawnError::NotRoot`]'s message, in the words of what is run.
fn not_root(euid: u32) -> String {
    let (what, fix) = if crate::config::for_a_command() {
        ("`--privileged`", "run isolated-test with sudo, or drop `--privileged`")
    } else {
        ("`privileged = true`", "run the tests with sudo, or drop `privileged = true`")
    };
    format!(
        "{what} needs real root (this process runs as uid {euid}): it runs without a user namespace, \
         with the host's capabilities; {fix}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_cause_leads_with_errno_name() {
        let cause = IoCause(io::Error::from_raw_os_error(libc::EINVAL));
        assert!(cause.to_string().starts_with("EINVAL: "), "{cause}");
    }

    #[test]
    fn setup_error_chain_names_step_object_and_errno() {
        let err = SetupError {
            step: "pivot_root",
            what: "pivot_root into `/newroot`".into(),
            source: IoCause(io::Error::from_raw_os_error(libc::EINVAL)),
        };
        let chain = ErrorChain::from_error(err.step, &err);
        assert_eq!(chain.step, "pivot_root");
        assert_eq!(chain.message, "failed to pivot_root into `/newroot`");
        assert_eq!(chain.causes.len(), 1);
        assert!(chain.causes[0].starts_with("EINVAL"));
        assert_eq!(chain.errno, Some(libc::EINVAL), "the errno travels as a number, not in the text");
        let shown = chain.to_string();
        assert!(shown.contains("caused by: EINVAL"), "{shown}");
    }

    #[test]
    fn the_errno_is_the_innermost_one() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] SetupError);
        let inner =
            SetupError { step: "s", what: "w".into(), source: IoCause(io::Error::from_raw_os_error(libc::EPERM)) };
        assert_eq!(ErrorChain::from_error("s", &Outer(inner)).errno, Some(libc::EPERM));
        let plain = io::Error::other("no errno here");
        assert_eq!(ErrorChain::from_error("s", &plain).errno, None);
        // A chain from a child without the field still reads.
        let old: ErrorChain = serde_json::from_str(r#"{"step":"s","message":"m","causes":[]}"#).unwrap();
        assert_eq!(old.errno, None);
    }
}
