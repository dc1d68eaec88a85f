//! What a test or command changed in its own world: files (from the
//! overlay upper layers), what is left in the scratch directories (`/tmp`,
//! `/run`, `/var/tmp`, `/dev/shm`: a fresh tmpfs each, so a walk of their
//! own), mounts, hostname, network links, addresses and routes, namespaced
//! sysctls, processes left running.
//!
//! PID 2 takes a [`Snapshot`] after setup and another at the end
//! (`snapshot`, with `network`); their difference is the [`Report`]
//! (`report`). Whether a written file was added or modified is decided in
//! the parent (`classify`), which can look at the host (the sandbox keeps
//! no handle on the host tree), unless the setup had put the file there
//! (the sandbox's own `/etc` files, seed files): then it is compared with
//! what it held after the setup, in the sandbox. An allow-list of path
//! patterns (`pattern`) tells which changes a test may make.

mod classify;
mod network;
mod pattern;
mod report;
mod snapshot;

pub(crate) use classify::from_messages;
pub use network::{Delta, NetworkChange, NetworkItem};
pub(crate) use pattern::compile as compile_patterns;
pub use report::{
    Change, FileChange, FileKind, MountEntry, NameChange, ProcessLeft, REPORT_SCHEMA, Report, SysctlChange,
};
pub(crate) use snapshot::{Layers, Snapshot};
