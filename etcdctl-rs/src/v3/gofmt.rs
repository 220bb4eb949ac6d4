//! Go standard-library behaviour etcdctl's output depends on: the shared
//! `gostd` crate.

pub use gostd::*;
