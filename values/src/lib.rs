//! The grammar of the values `isolated-test` reads, in one place: a
//! test's attribute (`#[isolated_test(timeout = "30s", memory = "256M")]`,
//! checked at compile time), the environment (`ISOLATED_TEST_TIMEOUT`,
//! `ISOLATED_TEST_MEMORY`, ...) and the command line (`isolated-test run
//! --timeout 30s --memory 256M`) all call the functions here, so a value
//! means the same wherever it is written and a bad one is refused with the
//! same message.
//!
//! | value | function | gives | e.g. |
//! |---|---|---|---|
//! | a timeout | [`parse_timeout`] | a [`Duration`](std::time::Duration) in whole milliseconds | `30s`, `1m 30s`, `500ms` |
//! | a memory limit | [`parse_memory`] | bytes, at least [`MIN_MEMORY`] | `256M`, `1G`, `512MiB` |
//! | a CPU limit | [`parse_cpu`] | thousandths of a core, [`MIN_CPU_MILLIS`] to [`MAX_CPU_MILLIS`] | `1.5`, `0.25`, `2` |
//! | a process limit | [`parse_pids`] | processes and threads, at least [`MIN_PIDS`] | `128` |
//! | a hostname | [`check_hostname`] | nothing: the text is the hostname | `box`, `my-box.local` |
//!
//! Each returns a [`ValueError`] on a text it refuses: the text as written,
//! what is wrong with it and what is expected. The message starts with the
//! text, so a caller can put the place in front of it:
//!
//! ```
//! let error = isolated_test_values::parse_memory("256X").unwrap_err();
//! assert!(error.to_string().starts_with("`256X` is not a memory size: unknown unit `X`; expected"));
//! let message = format!("ISOLATED_TEST_MEMORY={error}");
//! ```
//!
//! This crate is an implementation detail of `isolated-test` (a proc-macro
//! crate cannot export functions, so the attribute and the runtime share
//! them through this one); use it through `isolated-test`.
#![deny(missing_docs)]

mod cpu;
mod error;
mod hostname;
mod memory;
mod pids;
mod timeout;

pub use cpu::{MAX_CPU_MILLIS, MIN_CPU_MILLIS, parse_cpu};
pub use error::ValueError;
pub use hostname::{MAX_HOSTNAME_LEN, check_hostname};
pub use memory::{MIN_MEMORY, parse_memory};
pub use pids::{MIN_PIDS, parse_pids};
pub use timeout::{MAX_TIMEOUT, parse_timeout};
