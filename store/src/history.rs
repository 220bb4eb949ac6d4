//! Watch history: the events of each revision, for watchers to catch up on.
//!
//! Watchers never receive events pushed from the apply path; each watch
//! stream asks "what happened since revision N?" whenever the store's
//! revision moves. Recent revisions are answered from an in-memory ring
//! filled by apply (cheap, shared by all watchers); older ones are read back
//! from the revision rows. A slow watcher therefore never blocks a writer
//! and never loses or duplicates an event: it just reads further back.
//!
//! Every event carries `prev_kv` (the key's previous value when known);
//! watchers that did not ask for it strip it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use etcd_proto::mvccpb::event::EventType;
use etcd_proto::mvccpb::{Event, KeyValue};
use prost::Message;

use crate::backend::Backend;
use crate::error::StoreError;
use crate::index::TreeIndex;
use crate::revision::Revision;
use crate::rows;

/// All events of one main revision, in sub-revision order.
#[derive(Clone, Debug, PartialEq)]
pub struct RevisionEvents {
    pub revision: i64,
    pub events: Vec<Event>,
}

/// The ring of recent revisions' events.
pub(crate) struct EventHistory {
    capacity: usize,
    ring: Mutex<VecDeque<Arc<RevisionEvents>>>,
}

impl EventHistory {
    pub fn new(capacity: usize) -> Self {
        EventHistory {
            capacity: capacity.max(1),
            ring: Mutex::new(VecDeque::new()),
        }
    }

    /// Appends the events of a new revision; revisions must be consecutive
    /// (a gap empties the ring so it never answers with a hole).
    pub fn push(&self, evs: RevisionEvents) {
        let mut ring = self.ring.lock().expect("history lock");
        if ring.back().is_some_and(|b| b.revision + 1 != evs.revision) {
            ring.clear();
        }
        ring.push_back(Arc::new(evs));
        while ring.len() > self.capacity {
            ring.pop_front();
        }
    }

    pub fn clear(&self) {
        self.ring.lock().expect("history lock").clear();
    }

    /// Revisions `from..` if the ring still holds `from`; `None` otherwise.
    pub fn since(&self, from: i64, max: usize) -> Option<Vec<Arc<RevisionEvents>>> {
        let ring = self.ring.lock().expect("history lock");
        let first = ring.front()?.revision;
        if from < first {
            return None;
        }
        let skip = (from - first) as usize;
        Some(ring.iter().skip(skip).take(max).cloned().collect())
    }
}

/// Reads revisions `from..` (at most `max`) back from the revision rows.
pub(crate) fn read_from_rows(
    backend: &dyn Backend,
    index: &TreeIndex,
    from: i64,
    max: usize,
) -> Result<Vec<Arc<RevisionEvents>>, StoreError> {
    let mut out: Vec<RevisionEvents> = Vec::new();
    let mut failure = None;
    let (_, end) = rows::prefix_range(rows::KV);
    backend.scan_each(&rows::kv_main_start(from), &end, &mut |k, v| {
        let Some((rev, tombstone)) = Revision::from_bytes(&k[1..]) else {
            failure = Some(StoreError::Corrupt("bad revision row key".into()));
            return false;
        };
        let mut kv = match KeyValue::decode(v) {
            Ok(kv) => kv,
            Err(e) => {
                failure = Some(e.into());
                return false;
            }
        };
        if out.last().is_none_or(|last| last.revision != rev.main) {
            if out.len() == max {
                return false;
            }
            out.push(RevisionEvents {
                revision: rev.main,
                events: Vec::new(),
            });
        }
        let kind = if tombstone {
            kv.mod_revision = rev.main;
            EventType::Delete
        } else {
            EventType::Put
        };
        let prev_kv = index
            .get(&kv.key, rev.main - 1)
            .and_then(|at| {
                backend
                    .get(&rows::kv_key(at.modified, false))
                    .ok()
                    .flatten()
            })
            .and_then(|row| KeyValue::decode(row.as_slice()).ok());
        out.last_mut().expect("pushed above").events.push(Event {
            r#type: kind as i32,
            kv: Some(kv),
            prev_kv,
        });
        true
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(out.into_iter().map(Arc::new).collect())
}
