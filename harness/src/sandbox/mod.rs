//! The engine's parts that every role shares: the setup as data and its
//! execution (`plan`, `setup`), the root filesystem resolved on the host
//! (`resolve`), the cgroup (`cgroup`), the messages between PID 2 and the
//! parent (`protocol`) and what a test changed (`pollution`). The roles
//! themselves are `parent`, `sys::pid1` and `pid2`.

pub mod cgroup;
pub(crate) mod plan;
pub mod pollution;
pub(crate) mod protocol;
pub(crate) mod request;
pub mod resolve;
pub(crate) mod setup;
