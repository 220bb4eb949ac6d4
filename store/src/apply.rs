//! The write path: applying committed raft entries to the store.
//!
//! Entries are applied in groups ([`ApplyGroup`], from [`Store::begin_group`]):
//! a run of consecutive committed entries shares one exclusive lock and ONE
//! backend batch, so the per-batch cost of the backend is paid once per
//! group rather than once per request (etcd's backend does the same with its
//! batch transaction). Inside a group each request runs in a [`WriteTxn`]:
//! every change of the request gets the same main revision (`begin + 1`) and
//! its own sub revision, and reads inside the request see the changes made
//! before them, in this request and in earlier ones of the group (rows not
//! yet written are read from the group's overlay). The rows, the new current
//! revision and the raft index of the last entry are written together, so
//! after a crash the store is at a group boundary, never inside a request,
//! and the WAL replays from the stored index. [`Store::apply`] is a group of
//! one.
//!
//! Readers take the shared lock, so they see the store before or after a
//! group, never in between. The group's events enter the watch history
//! before the lock is released (a reader that sees a revision finds its
//! events), and subscribers are woken after.
//!
//! Errors a client can see (compacted, lease not found, ...) are decided
//! before anything changes, so a failing request leaves no trace except the
//! applied index; they are deterministic and every member returns the same.
//! Backend failures are not deterministic: the caller must stop the member.

use std::collections::HashMap;
use std::sync::RwLockWriteGuard;

use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::RaftRequest;
use etcd_proto::etcdserverpb::{
    AlarmResponse, CompactionResponse, DeleteRangeResponse, LeaseGrantResponse,
    LeaseRevokeResponse, PutResponse, TxnRequest, TxnResponse,
};
use etcd_proto::mvccpb::KeyValue;

use crate::backend::WriteBatch;
use crate::error::StoreError;
use crate::history::RevisionEvents;
use crate::revision::Revision;
use crate::rows;
use crate::store::{State, Store};
use crate::write_txn::WriteTxn;

/// What applying an entry produced, for the client that proposed it.
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    Put(PutResponse),
    DeleteRange(DeleteRangeResponse),
    Txn(TxnResponse),
    Compaction(CompactionResponse),
    LeaseGrant(LeaseGrantResponse),
    LeaseRevoke(LeaseRevokeResponse),
    Alarm(AlarmResponse),
    /// An auth management request succeeded; the auth revision after it.
    Auth {
        auth_revision: u64,
    },
    /// A password check was replicated: the user and its simple token
    /// (`<prefix>.<raft index>`, empty when no prefix was proposed).
    Authenticated {
        user: String,
        token: String,
    },
    /// The entry carried nothing for the store (or was applied before).
    Nothing,
}

impl Store {
    /// Starts a group of entries applied under one lock and written as one
    /// backend batch (see the module notes). Other writers wait; readers
    /// see the store as it was until [`ApplyGroup::commit`].
    pub fn begin_group(&self) -> ApplyGroup<'_> {
        ApplyGroup {
            st: self.state.write().expect("store lock poisoned"),
            store: self,
            overlay: HashMap::new(),
            batch: WriteBatch::default(),
            revisions: Vec::new(),
            entries: 0,
            overlay_bytes: 0,
        }
    }

    /// Applies the request of raft entry `index` as a group of one.
    /// Entries at or below the applied index were applied before a restart
    /// and are skipped.
    pub fn apply(&self, index: u64, term: u64, req: &RaftRequest) -> Result<Applied, StoreError> {
        let mut group = self.begin_group();
        let result = group.apply(index, term, req);
        group.commit()?;
        result
    }

    /// Evaluates a txn that never writes (in either branch, at any depth)
    /// against the current state, without the log: etcd's read path for
    /// read-only txns. Returns `None` for a txn that could write: those must
    /// go through the log.
    pub fn txn_read_only(&self, req: &TxnRequest) -> Option<Result<TxnResponse, StoreError>> {
        if !crate::validate::txn_is_read_only(req) {
            return None;
        }
        let mut st = self.state.write().expect("store lock poisoned");
        let (mut overlay, mut batch) = (HashMap::new(), WriteBatch::default());
        let mut txn = WriteTxn::begin(
            &mut st,
            self.backend.as_ref(),
            self.config.min_lease_ttl,
            &mut overlay,
            &mut batch,
        );
        let result = txn.txn_request(req);
        debug_assert!(!txn.changed(), "a read-only txn changed state");
        Some(result)
    }

    /// Records that entry `index` (empty, or a configuration change) was
    /// applied, together with cluster rows owned by the layer above, as a
    /// group of one.
    pub fn apply_cluster_rows(
        &self,
        index: u64,
        term: u64,
        cluster_rows: &[(String, Option<Vec<u8>>)],
    ) -> Result<(), StoreError> {
        let mut group = self.begin_group();
        group.apply_cluster_rows(index, term, cluster_rows);
        group.commit()
    }
}

/// Committed entries applied under one exclusive lock and written as one
/// backend batch by [`ApplyGroup::commit`]. Dropping a group without
/// committing it would leave memory ahead of the backend: the caller must
/// stop the member then (as after any backend failure).
pub struct ApplyGroup<'a> {
    store: &'a Store,
    st: RwLockWriteGuard<'a, State>,
    /// Revision rows written by the group so far, readable before commit.
    overlay: HashMap<Revision, KeyValue>,
    batch: WriteBatch,
    /// Each new revision's events, in order, for the watch history.
    revisions: Vec<RevisionEvents>,
    entries: usize,
    overlay_bytes: usize,
}

impl ApplyGroup<'_> {
    /// Applies the request of raft entry `index` (see [`Store::apply`]).
    pub fn apply(
        &mut self,
        index: u64,
        term: u64,
        req: &RaftRequest,
    ) -> Result<Applied, StoreError> {
        if index <= self.st.applied_index {
            return Ok(Applied::Nothing);
        }
        self.entries += 1;
        if matches!(req.op, Some(Op::Compaction(_))) {
            // Compaction scans the backend for the rows it removes: the
            // rows of this group must be there first.
            self.write_out()?;
        }
        let min_lease_ttl = self.store.config.min_lease_ttl;
        let backend = self.store.backend.as_ref();
        let (st, overlay, batch) = (&mut *self.st, &mut self.overlay, &mut self.batch);
        if let (Some(info), Some(op)) = (&req.auth, &req.op) {
            // Checked again here, against the auth state at this point of
            // the log: a permission revoked by an earlier entry holds.
            let refused = st
                .auth
                .authorize(info, op, &|id| crate::store::lease_keys(st, id))
                .err();
            if let Some(e) = refused {
                WriteTxn::begin(st, backend, min_lease_ttl, overlay, batch).commit(index, term);
                return Err(StoreError::Auth(e));
            }
        }
        let mut txn = WriteTxn::begin(st, backend, min_lease_ttl, overlay, batch);
        let result = match &req.op {
            Some(Op::Put(p)) => txn.put_request(p).map(Applied::Put),
            Some(Op::DeleteRange(d)) => txn.delete_range_request(d).map(Applied::DeleteRange),
            Some(Op::Txn(t)) => txn.txn_request(t).map(Applied::Txn),
            Some(Op::Compaction(c)) => txn.compact(c.revision).map(Applied::Compaction),
            Some(Op::LeaseGrant(g)) => txn.lease_grant(g).map(Applied::LeaseGrant),
            Some(Op::LeaseRevoke(r)) => txn.lease_revoke(r.id).map(Applied::LeaseRevoke),
            Some(Op::Alarm(a)) => Ok(Applied::Alarm(txn.alarm(a))),
            Some(Op::Authenticate(a)) => txn.authenticate(index, a),
            Some(
                op @ (Op::AuthEnable(_)
                | Op::AuthDisable(_)
                | Op::UserAdd(_)
                | Op::UserDelete(_)
                | Op::UserChangePassword(_)
                | Op::UserGrantRole(_)
                | Op::UserRevokeRole(_)
                | Op::RoleAdd(_)
                | Op::RoleDelete(_)
                | Op::RoleGrantPermission(_)
                | Op::RoleRevokePermission(_)),
            ) => txn.auth_change(op),
            Some(Op::LeaseCheckpoint(_))
            | Some(Op::MemberAttributes(_))
            | Some(Op::MemberUpdate(_))
            | None => Ok(Applied::Nothing),
        };
        let result = match result {
            Ok(applied) => applied,
            Err(e) if e.is_deterministic() && !txn.changed() => {
                // The request was refused before changing anything: only the
                // applied index moves.
                txn.commit(index, term);
                return Err(e);
            }
            Err(e) if e.is_deterministic() => {
                // Checks run before changes, and request validation rules out
                // the rest; reaching here would leave memory and disk apart.
                return Err(StoreError::Corrupt(format!(
                    "request at index {index} failed after changing state: {e}"
                )));
            }
            Err(e) => return Err(e),
        };
        let (events, added_bytes) = txn.commit(index, term);
        self.overlay_bytes += added_bytes;
        self.revisions.extend(events);
        Ok(result)
    }

    /// Records that entry `index` (empty, or a configuration change) was
    /// applied, with cluster rows owned by the layer above.
    pub fn apply_cluster_rows(
        &mut self,
        index: u64,
        term: u64,
        cluster_rows: &[(String, Option<Vec<u8>>)],
    ) {
        if index <= self.st.applied_index {
            return;
        }
        self.entries += 1;
        for (name, value) in cluster_rows {
            match value {
                Some(v) => self.batch.put(rows::cluster_key(name), v.clone()),
                None => self.batch.delete(rows::cluster_key(name)),
            }
        }
        WriteTxn::begin(
            &mut self.st,
            self.store.backend.as_ref(),
            self.store.config.min_lease_ttl,
            &mut self.overlay,
            &mut self.batch,
        )
        .commit(index, term);
    }

    /// Entries applied in this group so far.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether no entry was applied in this group yet.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Bytes of revision rows held in memory until the group is written.
    pub fn pending_bytes(&self) -> usize {
        self.overlay_bytes
    }

    /// Writes the rows so far to the backend (still under the lock, so no
    /// reader sees them before the group commits).
    fn write_out(&mut self) -> Result<(), StoreError> {
        if !self.batch.is_empty() {
            self.store.backend.write(std::mem::take(&mut self.batch))?;
        }
        self.overlay.clear();
        self.overlay_bytes = 0;
        Ok(())
    }

    /// Writes the group's rows in one backend batch, hands its events to the
    /// watch history, releases the lock and wakes the watchers.
    pub fn commit(mut self) -> Result<(), StoreError> {
        self.write_out()?;
        let last = self.revisions.last().map(|r| r.revision);
        for evs in std::mem::take(&mut self.revisions) {
            self.store.history.push(evs);
        }
        let store = self.store;
        drop(self);
        if let Some(rev) = last {
            store.notify_revision(rev);
        }
        // Outside the lock: readers go on while a buffer hands its rows to
        // the engine.
        store.backend.commit_if_due()
    }
}
