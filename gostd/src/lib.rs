//! Go standard-library behaviour that etcd's tools print and parse:
//! `strconv` quoting and number parsing (with Go's exact error texts),
//! `time.Duration` parsing and printing, `%g` of floats, and go-humanize
//! byte sizes.
//!
//! Written by hand because what matters is Go's exact output and error
//! texts, byte for byte (etcdctl's output, etcd's flags and the v2 stats),
//! and no crate reproduces them: `humantime` and the like parse and print
//! durations in formats of their own. Shared by the server (flags, v2
//! stats), etcdctl-rs and the benchmark harness, so there is one parser and
//! one formatter of each.

mod duration;
mod numbers;
mod strings;

pub use duration::*;
pub use numbers::*;
pub use strings::*;
