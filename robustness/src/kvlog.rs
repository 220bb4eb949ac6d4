//! The store's write log as far as a run can know it: which key changed at which revision.
//!
//! Watch validation needs the truth to compare watch events against. A run cannot read the
//! server's log, but it knows a lot of it: every acknowledged write carries its revision, an
//! unknown-outcome write whose value was later observed was applied at the observed
//! revision, and a final read shows the last write of every surviving key. What stays
//! unknown is the revision of unknown-outcome writes nobody observed (most often deletes);
//! the log keeps those requests aside so an event they explain is not called a forgery.
//!
//! Every operation in a run touches one key, so a revision holds one event; the log still
//! stores a list per revision so runs with multi-key transactions could feed it too.

use std::collections::{BTreeMap, HashSet};

use crate::history::{History, KeyValue, Outcome, Request, Response};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Put,
    Delete,
}

/// One change of one key at one revision. `value` is empty for deletes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogEvent {
    pub key: String,
    pub kind: EventType,
    pub value: String,
}

/// Conflicting information fed to the log (two different changes claimed one revision):
/// that alone proves a bug, independent of any watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConflict {
    pub revision: i64,
    pub existing: Vec<LogEvent>,
    pub claimed: LogEvent,
}

#[derive(Debug, Clone, Default)]
pub struct KvLog {
    by_revision: BTreeMap<i64, Vec<LogEvent>>,
    /// (key, value) of unknown-outcome puts whose revision was never learned.
    unplaced_puts: HashSet<(String, String)>,
    /// Keys of unknown-outcome deletes and revokes (their revision is never learned).
    unplaced_deletes: HashSet<String>,
    /// (key, revision) of acknowledged revokes: a deletion there may have happened.
    possible_deletes: HashSet<(String, i64)>,
    conflicts: Vec<LogConflict>,
}

impl KvLog {
    /// The writes of a history: acknowledged ones at their header revision, unknown ones at
    /// their learned revision (see [`History::patch_unknown_writes`]) or set aside.
    pub fn from_history(history: &History) -> KvLog {
        let mut log = KvLog::default();
        for op in history.ops() {
            let key = op.request.key();
            match (&op.request, &op.outcome) {
                (_, Outcome::Ok(resp)) if resp.changed_store() => {
                    let event = match (&op.request, resp) {
                        (Request::Delete { .. }, Response::Delete { .. }) => LogEvent {
                            key: key.into(),
                            kind: EventType::Delete,
                            value: String::new(),
                        },
                        (req, _) => LogEvent {
                            key: key.into(),
                            kind: EventType::Put,
                            value: req.written_value().unwrap_or_default().into(),
                        },
                    };
                    if let Some(revision) = resp.revision() {
                        log.add(revision, event);
                    }
                }
                (Request::Revoke { .. }, Outcome::Ok(Response::Revoke { revision })) => {
                    log.possible_deletes.insert((key.into(), *revision));
                }
                (Request::Delete { .. } | Request::Revoke { .. }, Outcome::Unknown { .. }) => {
                    log.unplaced_deletes.insert(key.into());
                }
                (req, Outcome::Unknown { applied_at }) => {
                    if let Some(value) = req.written_value() {
                        match applied_at {
                            Some(rev) => log.add(
                                *rev,
                                LogEvent {
                                    key: key.into(),
                                    kind: EventType::Put,
                                    value: value.into(),
                                },
                            ),
                            None => {
                                log.unplaced_puts.insert((key.into(), value.into()));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        log
    }

    /// Records that `event` happened at `revision` (e.g. from a final read's key-values).
    /// Feeding the same fact twice is harmless; a contradicting one is kept as a conflict.
    pub fn add(&mut self, revision: i64, event: LogEvent) {
        let events = self.by_revision.entry(revision).or_default();
        if events.contains(&event) {
            return;
        }
        // Single-key operations: a second, different change at the same revision on the same
        // key is impossible.
        if events.iter().any(|e| e.key == event.key) {
            self.conflicts.push(LogConflict {
                revision,
                existing: events.clone(),
                claimed: event,
            });
            return;
        }
        events.push(event);
    }

    /// Adds the key-values a final read returned: each is a put at its mod_revision.
    pub fn add_final_read<'a>(&mut self, kvs: impl IntoIterator<Item = (&'a str, &'a KeyValue)>) {
        for (key, kv) in kvs {
            self.add(
                kv.mod_revision,
                LogEvent {
                    key: key.into(),
                    kind: EventType::Put,
                    value: kv.value.clone(),
                },
            );
        }
    }

    pub fn conflicts(&self) -> &[LogConflict] {
        &self.conflicts
    }

    /// The known events of `revision` (empty if the revision's change is not known).
    pub fn at(&self, revision: i64) -> &[LogEvent] {
        self.by_revision.get(&revision).map_or(&[], Vec::as_slice)
    }

    /// Known events with revision in `from..=to`, in revision order (none if `from > to`:
    /// a watch resumed at revision S may be complete only up to S - 1).
    pub fn range(&self, from: i64, to: i64) -> impl Iterator<Item = (i64, &LogEvent)> {
        self.by_revision
            .range(from..=to.max(from))
            .filter(move |(rev, _)| **rev <= to)
            .flat_map(|(rev, events)| events.iter().map(move |e| (*rev, e)))
    }

    /// Whether a request whose effect is not known could be the change `event` describes at
    /// `revision`: an unknown-outcome write, or a revoke that left the store at `revision`.
    pub fn could_be_unplaced(&self, event: &LogEvent, revision: i64) -> bool {
        match event.kind {
            EventType::Put => self
                .unplaced_puts
                .contains(&(event.key.clone(), event.value.clone())),
            EventType::Delete => {
                self.unplaced_deletes.contains(&event.key)
                    || self
                        .possible_deletes
                        .contains(&(event.key.clone(), revision))
            }
        }
    }
}
