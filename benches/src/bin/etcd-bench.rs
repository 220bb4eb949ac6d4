//! `etcd-bench`: etcd's benchmark tool, for any etcd v3 endpoint.
//!
//! Thin entry point: the command line is parsed by clap and checked by
//! [`etcd_benches::BenchConfig`], the run is [`etcd_benches::run`], and
//! the report is printed on stdout (etcd's text, or JSON lines with
//! `--output json`); `--csv` and `--plot` files are written after it.
//! `etcd-bench compare ...` is the comparison mode instead
//! ([`etcd_benches::compare`]). Exit codes: 0 the run completed (the
//! report says how many requests failed), 1 the run could not be made
//! (connect or setup failed, or an output file could not be written), 2
//! bad flags.

use std::process::ExitCode;

use clap::Parser;
use etcd_benches::compare::{CompareCli, ComparePlan};
use etcd_benches::{BenchConfig, Cli};

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("compare") {
        return compare();
    }
    let cli = Cli::parse();
    let cfg = match BenchConfig::from_cli(&cli) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("etcd-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(runtime) = runtime() else {
        return ExitCode::from(1);
    };
    let outcome = match runtime.block_on(etcd_benches::run(&cfg)) {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("etcd-bench: {e}");
            return ExitCode::from(1);
        }
    };
    print!("{}", etcd_benches::run::stdout_text(&cfg, &outcome));
    if outcome.stopped_by_duration_limit() {
        eprintln!(
            "etcd-bench: stopped by --duration-limit ({}s) before the run finished",
            cfg.duration_limit.as_secs_f64()
        );
    }
    if let Err(e) = etcd_benches::run::write_files(&cfg, &outcome) {
        eprintln!("etcd-bench: {e}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// `etcd-bench compare [flags]`: two servers alternated.
fn compare() -> ExitCode {
    let cli = CompareCli::parse_from(std::env::args().skip(1));
    let plan = match ComparePlan::from_cli(&cli) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("etcd-bench compare: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(runtime) = runtime() else {
        return ExitCode::from(1);
    };
    match runtime.block_on(etcd_benches::compare::run_plan(&plan)) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("etcd-bench compare: {e}");
            ExitCode::from(1)
        }
    }
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("etcd-bench: starting the async runtime: {e}");
            None
        }
    }
}
