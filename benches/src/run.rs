//! One run from a checked configuration to its outputs.
//!
//! Connects (bounded by `--duration-limit`, which covers the whole run),
//! runs the subcommand, then writes the outputs: the report on stdout
//! (etcd's text or JSON lines), and the `--csv` and `--plot` files.

use std::sync::Arc;
use std::time::Instant;

use crate::config::{BenchConfig, OutputFormat};
use crate::connect::connect_all;
use crate::load::RunCtx;
use crate::outcome::Outcome;

/// Connects and runs the benchmark `cfg` describes.
///
/// Fails (without a report) if connecting or the setup fails: numbers of
/// a run against an unreachable or broken server would mean nothing.
pub async fn run(cfg: &BenchConfig) -> Result<Outcome, String> {
    let deadline = Instant::now() + cfg.duration_limit;
    let conns = connect_all(&cfg.connect, deadline).await?;
    let ctx = RunCtx {
        cfg: Arc::new(cfg.clone()),
        conns,
        deadline,
    };
    crate::workloads::run(&ctx).await
}

/// What goes to stdout for `outcome`.
pub fn stdout_text(cfg: &BenchConfig, outcome: &Outcome) -> String {
    match cfg.output.format {
        OutputFormat::Text => outcome.to_text(cfg.output.precise),
        OutputFormat::Json => outcome.to_json_lines(),
    }
}

/// Writes the `--csv` and `--plot` files, if asked for.
pub fn write_files(cfg: &BenchConfig, outcome: &Outcome) -> Result<(), String> {
    if let Some(path) = &cfg.output.csv {
        let reports: Vec<(&str, &[crate::report::Sample])> = outcome
            .sections
            .iter()
            .map(|s| (s.stats.name.as_str(), s.samples.as_slice()))
            .collect();
        crate::csv_out::write_csv(path, &reports)?;
    }
    if let Some(path) = &cfg.output.plot {
        let stats: Vec<&crate::report::Stats> = outcome.sections.iter().map(|s| &s.stats).collect();
        crate::plot::write_plot(path, &stats)?;
    }
    Ok(())
}
