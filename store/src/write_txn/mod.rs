//! One request's write inside an apply group ([`WriteTxn`]): every change
//! of the request gets the same main revision and its own sub revision,
//! reads inside the request see the changes made before them (in this
//! request and in earlier ones of the group, from the group's overlay), and
//! the changes become rows in the group's batch and events for watchers.
//!
//! The request kinds live beside it: [`kv`] (put, delete range, txn and its
//! compares) and [`admin`] (compaction, leases, alarms, auth).

mod admin;
mod kv;

use std::collections::HashMap;

use etcd_proto::etcdserverpb::{RangeRequest, RangeResponse, ResponseHeader};
use etcd_proto::mvccpb::event::EventType;
use etcd_proto::mvccpb::{Event, KeyValue};
use prost::Message;

use crate::backend::{Backend, WriteBatch};
use crate::error::StoreError;
use crate::history::RevisionEvents;
use crate::index::KeyRange;
use crate::revision::Revision;
use crate::rows;
use crate::store::{range, RowReader, State};

use crate::apply::Applied;

/// A response header at `revision` (the server fills in the rest).
pub(crate) fn header(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        revision,
        ..Default::default()
    })
}

/// One request's worth of changes, staged into its group's overlay and
/// batch.
pub(crate) struct WriteTxn<'a> {
    st: &'a mut State,
    backend: &'a dyn Backend,
    min_lease_ttl: i64,
    begin_rev: i64,
    /// Rows written by the group (this request included), readable before
    /// the group is written.
    pending: &'a mut HashMap<Revision, KeyValue>,
    /// One event per change, with the key's previous value.
    changes: Vec<Event>,
    batch: &'a mut WriteBatch,
    /// Ops in `batch` before this request began.
    batch_start: usize,
    /// Bytes of rows this request added to `pending`.
    pending_bytes: usize,
}

impl<'a> WriteTxn<'a> {
    pub(crate) fn begin(
        st: &'a mut State,
        backend: &'a dyn Backend,
        min_lease_ttl: i64,
        pending: &'a mut HashMap<Revision, KeyValue>,
        batch: &'a mut WriteBatch,
    ) -> Self {
        let begin_rev = st.current_rev;
        let batch_start = batch.ops.len();
        WriteTxn {
            st,
            backend,
            min_lease_ttl,
            begin_rev,
            pending,
            changes: Vec::new(),
            batch,
            batch_start,
            pending_bytes: 0,
        }
    }

    /// The revision this request's changes get.
    pub(crate) fn write_rev(&self) -> i64 {
        self.begin_rev + 1
    }

    /// The revision reads inside this request see.
    pub(crate) fn read_rev(&self) -> i64 {
        if self.changes.is_empty() {
            self.begin_rev
        } else {
            self.begin_rev + 1
        }
    }

    pub(crate) fn reader(&self) -> RowReader<'_> {
        RowReader {
            backend: self.backend,
            pending: Some(self.pending),
        }
    }

    pub(crate) fn range(&self, req: &RangeRequest) -> Result<RangeResponse, StoreError> {
        range(
            &self.st.index,
            &self.reader(),
            req,
            self.read_rev(),
            self.st.compacted_rev,
        )
    }

    /// The live value of `key` as this request sees it.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, StoreError> {
        match self.st.index.get(key, self.write_rev()) {
            Some(at) => Ok(Some(self.reader().kv_at(at.modified)?)),
            None => Ok(None),
        }
    }

    pub(crate) fn next_revision(&self) -> Revision {
        Revision::new(self.write_rev(), self.changes.len() as i64)
    }

    /// Writes `key` at the next revision over `prev`, its current value
    /// (which the caller has read already).
    pub(crate) fn put(
        &mut self,
        key: &[u8],
        value: Vec<u8>,
        lease: i64,
        prev: Option<KeyValue>,
    ) -> Result<(), StoreError> {
        let rev = self.next_revision();
        let kv = KeyValue {
            key: key.to_vec(),
            create_revision: prev.as_ref().map_or(rev.main, |p| p.create_revision),
            mod_revision: rev.main,
            version: prev.as_ref().map_or(0, |p| p.version) + 1,
            value,
            lease,
        };
        if let Some(old) = prev.as_ref().filter(|p| p.lease != 0) {
            self.detach(old.lease, key);
        }
        if lease != 0 {
            if let Some(l) = self.st.leases.get_mut(&lease) {
                l.keys.insert(key.to_vec());
            }
        }
        self.st.index.put(key, rev);
        self.batch.put(rows::kv_key(rev, false), kv.encode_to_vec());
        self.pending_bytes += kv.key.len() + kv.value.len();
        self.pending.insert(rev, kv.clone());
        self.changes.push(Event {
            r#type: EventType::Put as i32,
            kv: Some(kv),
            prev_kv: prev,
        });
        Ok(())
    }

    pub(crate) fn detach(&mut self, lease: i64, key: &[u8]) {
        if let Some(l) = self.st.leases.get_mut(&lease) {
            l.keys.remove(key);
        }
    }

    /// Deletes every live key in the range; returns their previous values.
    pub(crate) fn delete_range(
        &mut self,
        key: &[u8],
        end: &[u8],
    ) -> Result<Vec<KeyValue>, StoreError> {
        let keys = self.st.index.live_in(KeyRange::new(key, end));
        let mut deleted = Vec::with_capacity(keys.len());
        for k in keys {
            let Some(prev) = self.get(&k)? else { continue };
            let rev = self.next_revision();
            self.st.index.tombstone(&k, rev);
            if prev.lease != 0 {
                self.detach(prev.lease, &k);
            }
            let tomb = KeyValue {
                key: k.clone(),
                ..Default::default()
            };
            self.batch
                .put(rows::kv_key(rev, true), tomb.encode_to_vec());
            self.changes.push(Event {
                r#type: EventType::Delete as i32,
                kv: Some(KeyValue {
                    key: k,
                    mod_revision: rev.main,
                    ..Default::default()
                }),
                prev_kv: Some(prev.clone()),
            });
            deleted.push(prev);
        }
        Ok(deleted)
    }

    // ---- requests ----

    /// True once the request has changed any state.
    pub(crate) fn changed(&self) -> bool {
        !self.changes.is_empty() || self.batch.ops.len() > self.batch_start
    }

    /// Stages the new revision and applied index; returns the events of the
    /// new revision, if the request made one, and the bytes it added to the
    /// group's overlay.
    pub(crate) fn commit(self, index: u64, term: u64) -> (Option<RevisionEvents>, usize) {
        let events = if self.changes.is_empty() {
            None
        } else {
            let rev = self.write_rev();
            self.st.current_rev = rev;
            self.batch
                .put(rows::META_CURRENT_REV.to_vec(), rows::u64_bytes(rev as u64));
            Some(RevisionEvents {
                revision: rev,
                events: self.changes,
            })
        };
        self.batch
            .put(rows::META_APPLIED_INDEX.to_vec(), rows::u64_bytes(index));
        self.batch
            .put(rows::META_APPLIED_TERM.to_vec(), rows::u64_bytes(term));
        self.st.applied_index = index;
        self.st.applied_term = term;
        (events, self.pending_bytes)
    }
}
