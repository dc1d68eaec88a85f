//! Distribution roots made by debootstrap: the builder and its cache
//! ([`builder`]), and the mirror it downloads from ([`mirror`]).

mod builder;
mod mirror;

pub use crate::config::ENV_MIRROR;
pub use builder::{Debootstrap, DebootstrapError};
pub use mirror::DEBIAN_DEFAULT_MIRROR;
