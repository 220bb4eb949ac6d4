//! Load generation and reporting for benchmarking etcd-compatible servers.
//!
//! This library is the body of the `etcd-bench` binary, a Rust take on
//! etcd's `tools/benchmark`: the same subcommands, flags and report, so
//! an etcd user's command lines and scripts work on it. It exists as a
//! library so that the pieces that decide what a run *means* (the command
//! line, the keys, the statistics and the report formats) can be tested
//! without any server running.
//!
//! - [`cli`]: the command line (global flags, subcommands) as clap parses it.
//! - [`config`]: its checks, into the configuration of a run.
//! - [`keys`]: etcd's key layout, values and the seeded random numbers.
//! - [`connect`]: channels, TLS, the auth token and `--target-leader`.
//! - [`load`]: the shared request loop (pacing, timing, deadlines).
//! - [`workloads`]: etcd's subcommands (put, range, txn, lease, watch, stm).
//! - [`report`]: etcd's statistics, text report and JSON form.
//! - [`outcome`]: a run's reports and the text etcd frames them with.
//! - [`csv_out`], [`plot`], [`progress`]: the CSV file, the SVG plot, the bar.
//! - [`run`]: one run from configuration to outputs.
//! - [`compare`]: `etcd-bench compare`, two servers alternated, ratios.
//!
//! The criterion micro-benchmarks of the store live in `benches/store.rs`
//! and `compare.sh` runs `etcd-bench compare` on real etcd and etcd-rs.

pub mod cli;
pub mod compare;
pub mod config;
pub mod connect;
pub mod csv_out;
pub mod keys;
pub mod load;
pub mod outcome;
pub mod plot;
pub mod progress;
pub mod report;
pub mod run;
pub mod workloads;

pub use config::{BenchConfig, Cli, Command};
pub use outcome::Outcome;
pub use report::Stats;
pub use run::run;
