//! Differential test: every case file in `interop/cases/` is replayed with the
//! real Go `etcdctl` against a fresh real etcd and a fresh server under test
//! (`ETCD_RS_BIN`), and their normalised outputs and exit codes must match.
//!
//! Run with `cargo test -p interop -- --nocapture`; see `interop::suite` for
//! the environment variables (`ETCD_RS_BIN`, `INTEROP_FILTER`, ...).

use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use interop::suite::{run_case, Config};

/// Writes straight to stderr so progress is visible even when the test
/// harness captures `println!` output.
fn say(message: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{message}");
}

#[test]
fn etcdctl_output_matches_reference_etcd() {
    let config = Config::from_env(Path::new(env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("interop: cannot run the differential suite: {e}"));
    let cases = config
        .case_files()
        .unwrap_or_else(|e| panic!("interop: {e}"));
    assert!(
        !cases.is_empty(),
        "interop: no case files in {} match INTEROP_FILTER={:?}",
        config.cases_dir.display(),
        config.filter
    );
    say(&format!(
        "interop: comparing {} against {} with {} ({} case files)",
        config.under_test.display(),
        config.reference.display(),
        config.etcdctl.display(),
        cases.len()
    ));

    let (mut compared, mut mismatches, mut errors) = (0, 0, 0);
    let mut failures = Vec::new();
    for case in &cases {
        let started = Instant::now();
        let result = run_case(&config, case);
        say(&format!(
            "interop: {:<24} {:>3} command lines, {} mismatches, {} errors ({:.1}s)",
            result.name,
            result.compared,
            result.mismatches.len(),
            result.errors.len(),
            started.elapsed().as_secs_f64()
        ));
        compared += result.compared;
        mismatches += result.mismatches.len();
        errors += result.errors.len();
        failures.extend(result.mismatches);
        failures.extend(result.errors.into_iter().map(|e| format!("ERROR: {e}\n")));
        failures.extend(result.notes.into_iter().map(|n| format!("note: {n}\n")));
    }

    say(&format!(
        "interop: {compared} command lines compared, {mismatches} mismatches"
    ));
    assert!(
        failures.is_empty(),
        "interop: {} against etcd: {mismatches} mismatching command lines, {errors} errors\n\n{}",
        config.under_test.display(),
        failures.join("\n")
    );
}
