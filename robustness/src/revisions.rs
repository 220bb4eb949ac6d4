//! Revision monotonicity across the whole history, all keys together.
//!
//! The per-key linearizability check cannot see cross-key order: etcd's revision is one
//! counter for the whole store, and a client must never see it go backwards. Two rules:
//!
//! - per client: along one client's successive operations (including serializable reads,
//!   which a client sends to one member), the header revision never decreases;
//! - real time, for linearizable operations of any clients: if A completed before B was
//!   invoked then B's revision >= A's, and > A's if B changed the store (a write creates a new
//!   revision above every revision that existed when it started).
//!
//! Both are checked in O(n log n): the second by sweeping operations in invocation order while
//! folding in, from a completion-ordered list, every operation that completed strictly before.

use std::fmt;

use crate::history::{History, Operation};

/// A pair of operations whose revisions contradict their order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionViolation {
    pub rule: Rule,
    /// History id of the earlier operation.
    pub earlier: usize,
    /// History id of the later operation, whose revision is too small.
    pub later: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    PerClient,
    RealTime,
}

impl RevisionViolation {
    pub fn explain(&self, history: &History) -> String {
        format!(
            "revision went backwards ({:?}):\n  {}\n  {}",
            self.rule,
            history.ops()[self.earlier],
            history.ops()[self.later]
        )
    }
}

impl fmt::Display for RevisionViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "revision went backwards ({:?}) from op #{} to op #{}",
            self.rule, self.earlier, self.later
        )
    }
}

fn revision(op: &Operation) -> Option<i64> {
    op.response().and_then(|r| r.revision())
}

/// Every violation found (empty when the history is fine), at most `limit` of them.
pub fn check(history: &History, limit: usize) -> Vec<RevisionViolation> {
    let mut found = Vec::new();
    per_client(history, limit, &mut found);
    real_time(history, limit, &mut found);
    found.truncate(limit);
    found
}

fn per_client(history: &History, limit: usize, found: &mut Vec<RevisionViolation>) {
    let mut ops: Vec<&Operation> = history
        .ops()
        .iter()
        .filter(|op| revision(op).is_some())
        .collect();
    ops.sort_by_key(|op| (op.client, op.invoke));
    for pair in ops.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if a.client == b.client && revision(b) < revision(a) && found.len() < limit {
            found.push(RevisionViolation {
                rule: Rule::PerClient,
                earlier: a.id,
                later: b.id,
            });
        }
    }
}

fn real_time(history: &History, limit: usize, found: &mut Vec<RevisionViolation>) {
    let ops: Vec<&Operation> = history
        .ops()
        .iter()
        .filter(|op| op.request.is_linearizable() && revision(op).is_some())
        .collect();
    let mut by_invoke = ops.clone();
    by_invoke.sort_by_key(|op| op.invoke);
    let mut by_complete = ops;
    by_complete.sort_by_key(|op| op.complete);
    let mut done = by_complete.iter().peekable();
    // The completed operation with the highest revision so far.
    let mut max: Option<&Operation> = None;
    for b in by_invoke {
        while let Some(a) = done.next_if(|a| a.complete.is_some_and(|c| c < b.invoke)) {
            if max.is_none_or(|m| revision(a) > revision(m)) {
                max = Some(a);
            }
        }
        let Some(a) = max else { continue };
        let (ra, rb) = (revision(a), revision(b));
        let changed = b.response().is_some_and(|r| r.changed_store());
        let bad = if changed { rb <= ra } else { rb < ra };
        if bad && found.len() < limit {
            found.push(RevisionViolation {
                rule: Rule::RealTime,
                earlier: a.id,
                later: b.id,
            });
        }
    }
}
