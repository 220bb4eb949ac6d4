//! Load generation and reporting for benchmarking etcd-compatible servers.
//!
//! This library is the body of the `etcd-bench` binary. It exists as a
//! library so that the pieces that decide what a benchmark run *means* (the
//! command line, the workload keys and values, the percentile maths and the
//! text/JSON report) can be unit-tested without any server running.
//!
//! - [`config`]: command-line flags and their validation.
//! - [`keys`]: the deterministic keys, values and random numbers workloads use.
//! - [`report`]: latency percentiles and the stable text / JSON report.
//! - [`connect`]: channels, TLS and the auth token.
//! - [`load`]: the gRPC workloads themselves (put, range, txn, watch, mixed).
//!
//! The criterion micro-benchmarks of the store live in `benches/store.rs`
//! and `compare.sh` runs this harness against real etcd and etcd-rs.

pub mod config;
pub mod connect;
pub mod keys;
pub mod load;
pub mod report;

pub use config::{Args, BenchConfig, Op};
pub use load::run;
pub use report::Report;
