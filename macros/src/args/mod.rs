//! Parsing of the attribute arguments: `timeout`, `hostname` and `crate`, each a
//! `key = "string"` pair, the resource limits `memory = "256M"`, `pids = 128` and
//! `cpu = "1.5"`, `privileged = true`, `teardown`, `forbid_pollution`, and the root
//! filesystem: a base (`rootfs`, `dir`, `layers`, `tar` or `debootstrap`) and entries
//! on top (`bind`, `bind_rw`, `tmpfs`, `file`, `symlink`, `seed_file`, `sysctl`, each
//! an array of strings). Every key is kept with its span, duplicates are rejected,
//! paths are checked here, and all errors are collected so a bad argument never
//! hides another.
//!
//! `parse` dispatches on the key; each kind of value has a module of its own.

mod entries;
mod flags;
mod limits;
mod names;
mod parse;
mod paths;
mod pollution;
mod rootfs;
#[cfg(test)]
pub(crate) mod testing;
mod timeout;
mod value;

pub(crate) use entries::Entry;
pub(crate) use parse::{Args, parse};
pub(crate) use rootfs::Base;
