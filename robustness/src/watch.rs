//! Watch guarantees, checked over what watchers recorded, as etcd's robustness suite checks
//! them (the rules are etcd's documented watch guarantees):
//!
//! - **ordered**: event revisions never decrease within a response and strictly increase
//!   from one response to the next; no event is older than the watch's start revision;
//! - **unique**: no (revision, key) pair is delivered twice;
//! - **atomic**: all events of one revision arrive in one response, and it carries every
//!   event of that revision the log knows (within the watched prefix);
//! - **reliable**: no gap: every known event from the start revision up to the revision the
//!   watch is known to be complete at (its last event, or its last progress notification,
//!   which promises everything up to its revision was sent) is delivered;
//! - **bookmarkable**: after a progress notification at revision R, no event with revision
//!   <= R arrives;
//! - **consistent**: each event is a change the client history explains: the known change of
//!   that revision, or, where the log does not know the revision, a write of unknown outcome.
//!
//! Inputs are plain data ([`WatchRecord`]) so the runner can record them however it likes;
//! the truth to compare against is a [`KvLog`].

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::kvlog::{EventType, KvLog, LogEvent};

/// One event as the watcher received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    pub kind: EventType,
    pub key: String,
    /// Empty for deletes.
    pub value: String,
    /// The event's revision (the kv's mod_revision, also for deletes).
    pub revision: i64,
    pub create_revision: i64,
    pub version: i64,
}

impl WatchEvent {
    fn as_log_event(&self) -> LogEvent {
        LogEvent {
            key: self.key.clone(),
            kind: self.kind,
            value: self.value.clone(),
        }
    }
}

/// One response of a watch stream (the creation and cancellation responses are not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchResponse {
    Events {
        header_revision: i64,
        events: Vec<WatchEvent>,
    },
    /// A response without events: everything up to `revision` has been sent.
    Progress { revision: i64 },
}

/// Everything one watch stream delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchRecord {
    /// Keys watched: all keys starting with this prefix.
    pub prefix: String,
    pub start_revision: i64,
    pub responses: Vec<WatchResponse>,
}

impl WatchRecord {
    fn events(&self) -> impl Iterator<Item = (usize, &WatchEvent)> {
        self.responses
            .iter()
            .enumerate()
            .flat_map(|(i, r)| match r {
                WatchResponse::Events { events, .. } => {
                    events.iter().map(move |e| (i, e)).collect()
                }
                WatchResponse::Progress { .. } => Vec::new(),
            })
    }

    /// The revision up to which this watch promised to have delivered every event.
    pub fn complete_until(&self) -> i64 {
        let last_event = self.events().map(|(_, e)| e.revision).max().unwrap_or(0);
        let last_progress = self
            .responses
            .iter()
            .filter_map(|r| match r {
                WatchResponse::Progress { revision } => Some(*revision),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        last_event.max(last_progress)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatchRule {
    Ordered,
    Unique,
    Atomic,
    Reliable,
    Bookmarkable,
    Consistent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchViolation {
    /// Index of the watch in the input.
    pub watch: usize,
    pub rule: WatchRule,
    pub detail: String,
}

impl fmt::Display for WatchViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "watch {}: {:?}: {}", self.watch, self.rule, self.detail)
    }
}

/// All rules over all watches; at most `limit` violations are returned.
pub fn validate(watches: &[WatchRecord], log: &KvLog, limit: usize) -> Vec<WatchViolation> {
    let mut out = Vec::new();
    for (i, w) in watches.iter().enumerate() {
        let found = [
            ordered(w),
            unique(w),
            atomic(w, log),
            reliable(w, log),
            bookmarkable(w),
            consistent(w, log),
        ];
        for (rule, details) in found {
            out.extend(details.into_iter().map(|detail| WatchViolation {
                watch: i,
                rule,
                detail,
            }));
        }
        if out.len() >= limit {
            break;
        }
    }
    out.truncate(limit);
    out
}

type Found = (WatchRule, Vec<String>);

pub fn ordered(w: &WatchRecord) -> Found {
    let mut bad = Vec::new();
    let mut last: Option<(usize, i64)> = None;
    for (resp, e) in w.events() {
        if e.revision < w.start_revision {
            bad.push(format!(
                "event at revision {} before the start revision {}",
                e.revision, w.start_revision
            ));
        }
        if let Some((last_resp, last_rev)) = last {
            let ok = if last_resp == resp {
                e.revision >= last_rev
            } else {
                e.revision > last_rev
            };
            if !ok {
                bad.push(format!(
                    "revision {} (response {resp}) after revision {last_rev} (response {last_resp})",
                    e.revision
                ));
            }
        }
        last = Some((resp, e.revision));
    }
    (WatchRule::Ordered, bad)
}

pub fn unique(w: &WatchRecord) -> Found {
    let mut seen = HashSet::new();
    let bad = w
        .events()
        .filter(|(_, e)| !seen.insert((e.revision, e.key.clone())))
        .map(|(resp, e)| {
            format!(
                "({}, {:?}) delivered again in response {resp}",
                e.revision, e.key
            )
        })
        .collect();
    (WatchRule::Unique, bad)
}

pub fn atomic(w: &WatchRecord, log: &KvLog) -> Found {
    let mut bad = Vec::new();
    let mut response_of: HashMap<i64, usize> = HashMap::new();
    let mut delivered: HashMap<i64, Vec<LogEvent>> = HashMap::new();
    for (resp, e) in w.events() {
        let first = *response_of.entry(e.revision).or_insert(resp);
        if first != resp {
            bad.push(format!(
                "revision {} split over responses {first} and {resp}",
                e.revision
            ));
        }
        delivered
            .entry(e.revision)
            .or_default()
            .push(e.as_log_event());
    }
    for (rev, got) in &delivered {
        for expected in log.at(*rev).iter().filter(|e| e.key.starts_with(&w.prefix)) {
            if !got.contains(expected) && got.iter().all(|g| g.key != expected.key) {
                bad.push(format!(
                    "revision {rev} delivered without its change of {:?}",
                    expected.key
                ));
            }
        }
    }
    (WatchRule::Atomic, bad)
}

pub fn reliable(w: &WatchRecord, log: &KvLog) -> Found {
    let delivered: HashSet<(i64, String)> = w
        .events()
        .map(|(_, e)| (e.revision, e.key.clone()))
        .collect();
    let bad = log
        .range(w.start_revision, w.complete_until())
        .filter(|(rev, e)| {
            e.key.starts_with(&w.prefix) && !delivered.contains(&(*rev, e.key.clone()))
        })
        .map(|(rev, e)| {
            format!(
                "missed {:?} of {:?} at revision {rev} (complete until {})",
                e.kind,
                e.key,
                w.complete_until()
            )
        })
        .collect();
    (WatchRule::Reliable, bad)
}

pub fn bookmarkable(w: &WatchRecord) -> Found {
    let mut bad = Vec::new();
    let mut bookmark: Option<(usize, i64)> = None;
    for (i, r) in w.responses.iter().enumerate() {
        match r {
            WatchResponse::Progress { revision } => {
                bookmark = Some((i, bookmark.map_or(*revision, |(_, b)| b.max(*revision))));
            }
            WatchResponse::Events { events, .. } => {
                let Some((at, b)) = bookmark else { continue };
                for e in events.iter().filter(|e| e.revision <= b) {
                    bad.push(format!(
                        "revision {} in response {i} after progress notification {b} (response {at})",
                        e.revision
                    ));
                }
            }
        }
    }
    (WatchRule::Bookmarkable, bad)
}

pub fn consistent(w: &WatchRecord, log: &KvLog) -> Found {
    let mut bad = Vec::new();
    for (resp, e) in w.events() {
        let got = e.as_log_event();
        if !e.key.starts_with(&w.prefix) {
            bad.push(format!("{:?} is outside the watched prefix", e.key));
            continue;
        }
        let known = log.at(e.revision);
        let explained = if known.is_empty() {
            log.could_be_unplaced(&got, e.revision)
        } else {
            known.contains(&got)
        };
        if !explained {
            bad.push(format!(
                "response {resp}: {:?} {:?}={:?} at revision {} matches no write (log has {known:?})",
                e.kind, e.key, e.value, e.revision
            ));
        }
        if e.kind == EventType::Put && (e.version < 1 || e.create_revision > e.revision) {
            bad.push(format!(
                "response {resp}: put of {:?} at {} has version {} create_revision {}",
                e.key, e.revision, e.version, e.create_revision
            ));
        }
    }
    (WatchRule::Consistent, bad)
}
