//! `--csv FILE`: every request of a run, one CSV row each.
//!
//! Columns: `report` (which report the request counts in, e.g. `put` or
//! `txn-mixed-read`), `seq` (the request's number in its phase), `start_secs` (when it started, from the start of its
//! measured phase), `latency_secs`, and `error` (empty when it succeeded).
//! Rows are in start order within each report, so the file can be loaded
//! as is into a spreadsheet or pandas to redo any statistic.

use std::path::Path;

use serde::Serialize;

use crate::report::Sample;

/// One CSV row.
#[derive(Debug, Serialize)]
struct Row<'a> {
    report: &'a str,
    seq: u64,
    start_secs: f64,
    latency_secs: f64,
    error: &'a str,
}

/// Writes the samples of every report (`(name, samples)`) to `path`.
pub fn write_csv(path: &Path, reports: &[(&str, &[Sample])]) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("writing {}: {e}", path.display());
    let mut w = csv::Writer::from_path(path).map_err(|e| fail(&e))?;
    for (name, samples) in reports {
        let mut ordered: Vec<&Sample> = samples.iter().collect();
        ordered.sort_by_key(|s| s.start);
        for s in ordered {
            w.serialize(Row {
                report: name,
                seq: s.seq,
                start_secs: s.start.as_secs_f64(),
                latency_secs: s.latency.as_secs_f64(),
                error: s.error.as_deref().unwrap_or(""),
            })
            .map_err(|e| fail(&e))?;
        }
    }
    w.flush().map_err(|e| fail(&e))
}
