//! Distribution roots made by debootstrap: the builder and its cache
//! ([`Debootstrap`]), and the mirror it downloads from ([`ENV_MIRROR`],
//! else the host's apt sources, else [`DEBIAN_DEFAULT_MIRROR`]).

mod builder;
mod mirror;

pub use crate::config::ENV_MIRROR;
pub use builder::{Debootstrap, DebootstrapError};
pub use mirror::DEBIAN_DEFAULT_MIRROR;
