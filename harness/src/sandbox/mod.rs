//! The sandbox engine: spawn, setup, supervision and verdict. Declarations
//! only; each step lives in its own file.

pub mod cgroup;
pub(crate) mod diagnose;
pub(crate) mod plan;
pub mod pollution;
pub(crate) mod proctree;
pub(crate) mod protocol;
pub(crate) mod reap;
pub mod resolve;
pub(crate) mod session;
pub(crate) mod setup;
pub(crate) mod spawn;
pub(crate) mod subid;
pub(crate) mod supervise;
pub(crate) mod teardown;
pub(crate) mod verdict;
