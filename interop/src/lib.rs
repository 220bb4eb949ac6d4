//! Differential interop suite: replays scripts of real `etcdctl` command
//! lines against the reference Go etcd and against the server under test
//! (etcd-rs), normalises the outputs, and reports every difference.
//!
//! The suite lives in `tests/etcdctl_diff.rs`; the scripts in `cases/*.txt`
//! (format documented in [`script`]). This library holds the machinery:
//!
//! * [`script`] - case file parser,
//! * [`server`] - starting a single member or a cluster on free loopback
//!   ports, and the member actions of cluster scripts,
//! * [`process`] - child processes with kill-on-drop and deadlines,
//! * [`runner`] - replaying a script against one server,
//! * [`normalize`] - masking legitimately different output (IDs, sizes, ...),
//! * [`records`] - sorting the records of cluster listings into member order,
//! * [`report`] - comparing transcripts and printing diffs,
//! * [`suite`] - configuration and running one case file on both servers.

pub mod normalize;
pub mod process;
pub mod records;
pub mod report;
pub mod runner;
pub mod script;
pub mod server;
pub mod suite;
