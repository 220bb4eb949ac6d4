//! What one run reports: its shape, the traffic it checked, the faults it
//! injected, and the problems found (none: passed).

use std::collections::BTreeMap;
use std::path::PathBuf;

/// What a run found. `problems` is empty iff the run passed.
#[derive(Debug, Default)]
pub struct Report {
    pub seed: u64,
    pub operations: usize,
    pub acknowledged: usize,
    pub unknown: usize,
    pub watch_events: usize,
    pub members: usize,
    pub snapshot_count: u64,
    pub faults: Vec<String>,
    /// Faults injected, by kind.
    pub fault_kinds: BTreeMap<&'static str, usize>,
    pub leases_granted: usize,
    pub keepalives: usize,
    /// Revokes of key leases answered (deleting or not), and expiries recorded.
    pub revokes: usize,
    pub expiries: usize,
    /// Puts and revokes answered "lease not found".
    pub lease_refusals: usize,
    pub compactions: usize,
    pub final_revision: i64,
    pub problems: Vec<String>,
    /// Anomalies that are not safety violations (a stream ended by a server error, a
    /// nemesis that could not do its job); they do not fail the run.
    pub notes: Vec<String>,
    /// Where the member logs of a failed run were kept.
    pub logs: Option<PathBuf>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "seed {}: {} members, snapshot-count {}, {} ops ({} acknowledged, {} unknown), {} watch events, {} leases ({} keep-alives), key leases: {} revokes, {} expiries, {} lease-not-found answers, {} compactions, final revision {}",
            self.seed,
            self.members,
            self.snapshot_count,
            self.operations,
            self.acknowledged,
            self.unknown,
            self.watch_events,
            self.leases_granted,
            self.keepalives,
            self.revokes,
            self.expiries,
            self.lease_refusals,
            self.compactions,
            self.final_revision
        )?;
        writeln!(f, "faults: {}", self.faults.join("; "))?;
        writeln!(f, "by kind: {:?}", self.fault_kinds)?;
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        if self.passed() {
            write!(f, "PASSED")
        } else {
            writeln!(f, "FAILED:")?;
            for p in &self.problems {
                writeln!(f, "- {p}")?;
            }
            if let Some(dir) = &self.logs {
                writeln!(f, "member logs: {}", dir.display())?;
            }
            Ok(())
        }
    }
}
