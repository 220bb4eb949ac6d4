//! What a run produced, and how it is printed on stdout.
//!
//! A run yields one or more reports ([`Section`]s): `put` has one,
//! `txn-mixed` a read and a write report, `watch` one for watch creation
//! and one for the events. In text form each report is framed by the same
//! lines etcd prints around it (`bench with linearizable range`,
//! `Watch creation summary:`, `Total Read Ops: N` ...), so the whole
//! output reads like etcd's. In JSON form (`--output json`) each report is
//! one JSON object on its own line and the framing is left out.

use crate::report::{Sample, Stats};

/// One report of a run with the text etcd prints around it.
#[derive(Debug)]
pub struct Section {
    /// Printed before the report (e.g. `Watch creation summary:\n`).
    pub heading: String,
    pub stats: Stats,
    /// Every request of the report (for `--csv`).
    pub samples: Vec<Sample>,
    /// Printed after the report (etcd's `Println` adds a newline for some).
    pub trailer: String,
}

impl Section {
    /// A report with no framing.
    pub fn plain(stats: Stats, samples: Vec<Sample>) -> Section {
        Section {
            heading: String::new(),
            stats,
            samples,
            trailer: String::new(),
        }
    }
}

/// Everything a run prints.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Printed first (e.g. `bench with serializable range\n`).
    pub preamble: String,
    pub sections: Vec<Section>,
    /// Printed last (e.g. put's `--check-hashkv` summary).
    pub epilogue: String,
}

impl Outcome {
    /// etcd's text output of the run.
    pub fn to_text(&self, precise: bool) -> String {
        let mut s = self.preamble.clone();
        for section in &self.sections {
            s.push_str(&section.heading);
            s.push_str(&section.stats.to_text(precise));
            s.push_str(&section.trailer);
        }
        s.push_str(&self.epilogue);
        s
    }

    /// One JSON object per report, one per line.
    pub fn to_json_lines(&self) -> String {
        self.sections
            .iter()
            .map(|s| s.stats.to_json() + "\n")
            .collect()
    }

    /// Requests of every report that neither succeeded nor failed because
    /// the run hit `--duration-limit`.
    pub fn stopped_by_duration_limit(&self) -> bool {
        self.sections
            .iter()
            .any(|s| s.stats.stopped_by_duration_limit)
    }
}
