//! Orchestration: configuration from the environment, case discovery, and
//! running one case file against a fresh reference etcd and a fresh server
//! under test (each a single member, or a cluster for `@cluster` files)
//! side by side.
//!
//! Environment variables:
//! * `ETCD_RS_BIN` - server under test (default `$CARGO_TARGET_DIR/debug/etcd-rs`, or
//!   `<workspace>/target/debug/etcd-rs`).
//! * `ETCD_BIN` / `ETCDCTL_BIN` - reference etcd and the etcdctl client
//!   (default: `etcd` / `etcdctl` from `PATH`).
//! * `INTEROP_FILTER` - only run case files whose name contains this.
//! * `INTEROP_TRANSCRIPTS` - directory to write normalised transcripts to.

use std::path::{Path, PathBuf};

use crate::report;
use crate::runner::{run_script, Transcript};
use crate::script::{self, Script};
use crate::server::Cluster;

/// Where everything lives.
#[derive(Debug, Clone)]
pub struct Config {
    pub reference: PathBuf,
    pub under_test: PathBuf,
    pub etcdctl: PathBuf,
    pub cases_dir: PathBuf,
    pub filter: Option<String>,
    pub transcripts: Option<PathBuf>,
}

impl Config {
    /// Reads the configuration; `manifest_dir` is the interop crate's directory.
    /// Fails if any binary is missing, so a missing server is never skipped.
    pub fn from_env(manifest_dir: &Path) -> Result<Self, String> {
        let workspace = manifest_dir
            .parent()
            .ok_or("the interop crate has no parent directory")?;
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join("target"));
        let under_test = std::env::var_os("ETCD_RS_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| target_dir.join("debug/etcd-rs"));
        if !under_test.is_file() {
            return Err(format!(
                "server under test `{}` does not exist: build it (cargo build -p <server crate>) \
                 or point ETCD_RS_BIN at it (ETCD_RS_BIN=/usr/bin/etcd checks the harness itself)",
                under_test.display()
            ));
        }
        let reference = find_binary("ETCD_BIN", "etcd", "the Debian package etcd-server")?;
        let etcdctl = find_binary("ETCDCTL_BIN", "etcdctl", "the Debian package etcd-client")?;
        Ok(Self {
            reference,
            under_test,
            etcdctl,
            cases_dir: manifest_dir.join("cases"),
            filter: std::env::var("INTEROP_FILTER")
                .ok()
                .filter(|f| !f.is_empty()),
            transcripts: std::env::var_os("INTEROP_TRANSCRIPTS").map(PathBuf::from),
        })
    }

    /// The case files to run, sorted by name and filtered by `INTEROP_FILTER`.
    pub fn case_files(&self) -> Result<Vec<PathBuf>, String> {
        let entries = std::fs::read_dir(&self.cases_dir)
            .map_err(|e| format!("cannot list {}: {e}", self.cases_dir.display()))?;
        let mut files = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|e| format!("cannot list {}: {e}", self.cases_dir.display()))?
                .path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let Some(name) = name.filter(|n| n.ends_with(".txt")) else {
                continue;
            };
            if self
                .filter
                .as_ref()
                .is_none_or(|f| name.contains(f.as_str()))
            {
                files.push(path);
            }
        }
        files.sort();
        Ok(files)
    }
}

/// Resolves a binary from an override variable or `PATH`.
fn find_binary(var: &str, default: &str, hint: &str) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(var).map(PathBuf::from) {
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("{var}={} does not exist", path.display()))
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(default))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("`{default}` not found in PATH (install {hint} or set {var})"))
}

/// Result of one case file.
#[derive(Debug, Default)]
pub struct CaseResult {
    pub name: String,
    /// Command lines whose outputs were compared.
    pub compared: usize,
    /// Formatted mismatches between etcd and the server under test.
    pub mismatches: Vec<String>,
    /// Problems that prevented a meaningful comparison.
    pub errors: Vec<String>,
    /// Harness notes about the server under test (e.g. a wait that timed
    /// out), shown alongside mismatches.
    pub notes: Vec<String>,
}

/// Runs one case file against fresh servers and compares the transcripts.
pub fn run_case(config: &Config, path: &Path) -> CaseResult {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut result = CaseResult {
        name: name.clone(),
        ..CaseResult::default()
    };
    let script = match script::load(path) {
        Ok(script) => script,
        Err(e) => {
            result.errors.push(e);
            return result;
        }
    };

    // The two servers are independent, so run them concurrently.
    let (expected, got) = std::thread::scope(|s| {
        let reference = s.spawn(|| run_on("reference etcd", &config.reference, config, &script));
        let under_test =
            s.spawn(|| run_on("server under test", &config.under_test, config, &script));
        (
            reference.join().expect("reference runner panicked"),
            under_test
                .join()
                .expect("server-under-test runner panicked"),
        )
    });

    if let Some(dir) = &config.transcripts {
        for (suffix, transcript) in [("etcd", &expected), ("under-test", &got)] {
            if let Ok(t) = transcript {
                let file = dir.join(format!("{name}.{suffix}.txt"));
                if let Err(e) =
                    std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&file, t.render()))
                {
                    result
                        .errors
                        .push(format!("cannot write transcript {}: {e}", file.display()));
                }
            }
        }
    }

    let (expected, got) = match (expected, got) {
        (Ok(e), Ok(g)) => (e, g),
        (e, g) => {
            let failed = e.err().into_iter().chain(g.err());
            result.errors.extend(failed.map(|e| format!("{name}: {e}")));
            return result;
        }
    };
    let died = expected.server_died.iter().chain(&got.server_died);
    result.errors.extend(died.map(|d| format!("{name}: {d}")));
    for problem in &expected.problems {
        result.errors.push(format!(
            "{name}: case file misbehaves even on the reference etcd: {problem}"
        ));
    }
    if expected.observations.len() != got.observations.len() && got.server_died.is_none() {
        result.errors.push(format!(
            "{name}: {} observations from etcd but {} from the server under test",
            expected.observations.len(),
            got.observations.len()
        ));
    }
    result.compared = expected.observations.len().min(got.observations.len());
    for mismatch in report::compare(&expected, &got) {
        result.mismatches.push(report::describe(&name, &mismatch));
    }
    if !result.mismatches.is_empty() {
        result
            .notes
            .extend(got.problems.iter().map(|p| format!("{name}: {p}")));
    }
    result
}

fn run_on(
    label: &str,
    binary: &Path,
    config: &Config,
    script: &Script,
) -> Result<Transcript, String> {
    let mut cluster = Cluster::start(
        label,
        binary,
        &config.etcdctl,
        script.cluster.as_ref(),
        &script.server_flags,
    )?;
    let transcript = run_script(script, &mut cluster, &config.etcdctl);
    // Dropping `cluster` kills its members and removes their data directories.
    drop(cluster);
    Ok(transcript)
}
