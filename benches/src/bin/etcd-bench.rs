//! `etcd-bench`: a gRPC load generator for any etcd v3 endpoint.
//!
//! Thin entry point: flags are parsed and checked by
//! [`etcd_benches::BenchConfig`], the run is [`etcd_benches::run`], and the
//! report is printed in text (or JSON with `--json`) on stdout. Exit codes:
//! 0 the run completed (the report says how many requests failed), 1 the
//! run could not be made (connect or preload failed), 2 bad flags.

use std::process::ExitCode;

use clap::Parser;
use etcd_benches::{Args, BenchConfig};

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = match BenchConfig::from_args(&args) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("etcd-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("etcd-bench: starting the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(etcd_benches::run(&cfg)) {
        Ok(report) => {
            if cfg.json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.to_text());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("etcd-bench: {e}");
            ExitCode::from(1)
        }
    }
}
