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
use etcd_proto::etcdrs::{AuthenticateApply, RaftRequest};
use etcd_proto::etcdserverpb::alarm_request::AlarmAction;
use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::request_op::Request;
use etcd_proto::etcdserverpb::response_op::Response as OpResponse;
use etcd_proto::etcdserverpb::{
    AlarmMember, AlarmRequest, AlarmResponse, CompactionResponse, Compare, DeleteRangeRequest,
    DeleteRangeResponse, LeaseGrantRequest, LeaseGrantResponse, LeaseRevokeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, ResponseHeader, ResponseOp, TxnRequest, TxnResponse,
};
use etcd_proto::mvccpb::event::EventType;
use etcd_proto::mvccpb::{Event, KeyValue};
use prost::Message;

use crate::auth::AuthError;
use crate::backend::{Backend, WriteBatch};
use crate::error::StoreError;
use crate::history::RevisionEvents;
use crate::index::KeyRange;
use crate::revision::Revision;
use crate::rows;
use crate::store::{range, LeaseEntry, RowReader, State, Store, MAX_LEASE_TTL};

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

fn header(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        revision,
        ..Default::default()
    })
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

/// One request's worth of changes, staged into its group's overlay and
/// batch.
struct WriteTxn<'a> {
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
    fn begin(
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
    fn write_rev(&self) -> i64 {
        self.begin_rev + 1
    }

    /// The revision reads inside this request see.
    fn read_rev(&self) -> i64 {
        if self.changes.is_empty() {
            self.begin_rev
        } else {
            self.begin_rev + 1
        }
    }

    fn reader(&self) -> RowReader<'_> {
        RowReader {
            backend: self.backend,
            pending: Some(self.pending),
        }
    }

    fn range(&self, req: &RangeRequest) -> Result<RangeResponse, StoreError> {
        range(
            &self.st.index,
            &self.reader(),
            req,
            self.read_rev(),
            self.st.compacted_rev,
        )
    }

    /// The live value of `key` as this request sees it.
    fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, StoreError> {
        match self.st.index.get(key, self.write_rev()) {
            Some(at) => Ok(Some(self.reader().kv_at(at.modified)?)),
            None => Ok(None),
        }
    }

    fn next_revision(&self) -> Revision {
        Revision::new(self.write_rev(), self.changes.len() as i64)
    }

    /// Writes `key` at the next revision over `prev`, its current value
    /// (which the caller has read already).
    fn put(
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

    fn detach(&mut self, lease: i64, key: &[u8]) {
        if let Some(l) = self.st.leases.get_mut(&lease) {
            l.keys.remove(key);
        }
    }

    /// Deletes every live key in the range; returns their previous values.
    fn delete_range(&mut self, key: &[u8], end: &[u8]) -> Result<Vec<KeyValue>, StoreError> {
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

    fn check_put(&self, p: &PutRequest) -> Result<(), StoreError> {
        if (p.ignore_value || p.ignore_lease) && self.get(&p.key)?.is_none() {
            return Err(StoreError::KeyNotFound);
        }
        if p.lease != 0 && !self.st.leases.contains_key(&p.lease) {
            return Err(StoreError::LeaseNotFound);
        }
        Ok(())
    }

    fn check_range(&self, r: &RangeRequest) -> Result<(), StoreError> {
        if r.revision > self.read_rev() {
            return Err(StoreError::FutureRevision);
        }
        if r.revision > 0 && r.revision < self.st.compacted_rev {
            return Err(StoreError::Compacted);
        }
        Ok(())
    }

    fn put_request(&mut self, p: &PutRequest) -> Result<PutResponse, StoreError> {
        if p.lease != 0 && !self.st.leases.contains_key(&p.lease) {
            return Err(StoreError::LeaseNotFound);
        }
        let prev = self.get(&p.key)?;
        if (p.ignore_value || p.ignore_lease) && prev.is_none() {
            return Err(StoreError::KeyNotFound);
        }
        let value = match (&prev, p.ignore_value) {
            (Some(prev), true) => prev.value.clone(),
            _ => p.value.clone(),
        };
        let lease = match (&prev, p.ignore_lease) {
            (Some(prev), true) => prev.lease,
            _ => p.lease,
        };
        let prev_kv = if p.prev_kv { prev.clone() } else { None };
        self.put(&p.key, value, lease, prev)?;
        Ok(PutResponse {
            header: header(self.write_rev()),
            prev_kv,
        })
    }

    fn delete_range_request(
        &mut self,
        d: &DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, StoreError> {
        let deleted = self.delete_range(&d.key, &d.range_end)?;
        Ok(DeleteRangeResponse {
            header: header(self.read_rev()),
            deleted: deleted.len() as i64,
            prev_kvs: if d.prev_kv { deleted } else { Vec::new() },
        })
    }

    fn txn_request(&mut self, t: &TxnRequest) -> Result<TxnResponse, StoreError> {
        crate::validate::check_txn_intervals(t)?;
        let mut path = Vec::new();
        self.txn_path(t, &mut path)?;
        // As etcd: every put on the taken path is checked, then every range.
        for puts in [true, false] {
            let mut cursor = 0;
            self.check_txn(t, &path, &mut cursor, puts)?;
        }
        let mut cursor = 0;
        let mut resp = self.apply_txn(t, &path, &mut cursor)?;
        resp.header = header(self.read_rev());
        Ok(resp)
    }

    /// Evaluates the compares of `t` and of every nested txn on the chosen
    /// branches, depth first, all against the state before any change.
    fn txn_path(&self, t: &TxnRequest, path: &mut Vec<bool>) -> Result<(), StoreError> {
        let mut ok = true;
        for c in &t.compare {
            if !self.compare(c)? {
                ok = false;
                break;
            }
        }
        path.push(ok);
        let ops = if ok { &t.success } else { &t.failure };
        for op in ops {
            if let Some(Request::RequestTxn(nested)) = &op.request {
                self.txn_path(nested, path)?;
            }
        }
        Ok(())
    }

    fn compare(&self, c: &Compare) -> Result<bool, StoreError> {
        let req = RangeRequest {
            key: c.key.clone(),
            range_end: c.range_end.clone(),
            ..Default::default()
        };
        let kvs = self.range(&req)?.kvs;
        let target = CompareTarget::try_from(c.target).unwrap_or(CompareTarget::Version);
        if kvs.is_empty() {
            if target == CompareTarget::Value {
                return Ok(false);
            }
            return Ok(compare_kv(c, target, &KeyValue::default()));
        }
        Ok(kvs.iter().all(|kv| compare_kv(c, target, kv)))
    }

    /// Checks the puts (`puts`) or the ranges (`!puts`) on the taken path.
    fn check_txn(
        &self,
        t: &TxnRequest,
        path: &[bool],
        cursor: &mut usize,
        puts: bool,
    ) -> Result<(), StoreError> {
        let ok = path[*cursor];
        *cursor += 1;
        for op in if ok { &t.success } else { &t.failure } {
            match &op.request {
                Some(Request::RequestPut(p)) if puts => self.check_put(p)?,
                Some(Request::RequestRange(r)) if !puts => self.check_range(r)?,
                Some(Request::RequestTxn(nested)) => self.check_txn(nested, path, cursor, puts)?,
                _ => {}
            }
        }
        Ok(())
    }

    fn apply_txn(
        &mut self,
        t: &TxnRequest,
        path: &[bool],
        cursor: &mut usize,
    ) -> Result<TxnResponse, StoreError> {
        let ok = path[*cursor];
        *cursor += 1;
        let ops = if ok { &t.success } else { &t.failure };
        let mut responses = Vec::with_capacity(ops.len());
        for op in ops {
            let r = match &op.request {
                Some(Request::RequestRange(r)) => OpResponse::ResponseRange(self.range(r)?),
                Some(Request::RequestPut(p)) => OpResponse::ResponsePut(self.put_request(p)?),
                Some(Request::RequestDeleteRange(d)) => {
                    OpResponse::ResponseDeleteRange(self.delete_range_request(d)?)
                }
                Some(Request::RequestTxn(nested)) => {
                    let mut r = self.apply_txn(nested, path, cursor)?;
                    r.header = Some(ResponseHeader::default());
                    OpResponse::ResponseTxn(r)
                }
                None => continue,
            };
            responses.push(ResponseOp { response: Some(r) });
        }
        Ok(TxnResponse {
            header: None,
            succeeded: ok,
            responses,
        })
    }

    fn compact(&mut self, rev: i64) -> Result<CompactionResponse, StoreError> {
        if rev <= self.st.compacted_rev {
            return Err(StoreError::Compacted);
        }
        if rev > self.st.current_rev {
            return Err(StoreError::FutureRevision);
        }
        let keep = self.st.index.compact(rev);
        let (start, _) = rows::prefix_range(rows::KV);
        let batch = &mut *self.batch;
        self.backend
            .scan_each(&start, &rows::kv_main_start(rev + 1), &mut |k, _| {
                if let Some((r, _)) = Revision::from_bytes(&k[1..]) {
                    if !keep.contains(&r) {
                        batch.delete(k.to_vec());
                    }
                }
                true
            })?;
        self.st.compacted_rev = rev;
        self.batch.put(
            rows::META_COMPACTED_REV.to_vec(),
            rows::u64_bytes(rev as u64),
        );
        Ok(CompactionResponse {
            header: header(self.st.current_rev),
        })
    }

    fn lease_grant(&mut self, g: &LeaseGrantRequest) -> Result<LeaseGrantResponse, StoreError> {
        if g.id == 0 {
            return Err(StoreError::LeaseNotFound);
        }
        if g.ttl > MAX_LEASE_TTL {
            return Err(StoreError::LeaseTtlTooLarge);
        }
        if self.st.leases.contains_key(&g.id) {
            return Err(StoreError::LeaseExists);
        }
        let ttl = g.ttl.max(self.min_lease_ttl);
        self.st.leases.insert(
            g.id,
            LeaseEntry {
                ttl,
                keys: Default::default(),
            },
        );
        self.batch.put(rows::lease_key(g.id), rows::i64_bytes(ttl));
        Ok(LeaseGrantResponse {
            header: header(self.st.current_rev),
            id: g.id,
            ttl,
            error: String::new(),
        })
    }

    fn lease_revoke(&mut self, id: i64) -> Result<LeaseRevokeResponse, StoreError> {
        let Some(lease) = self.st.leases.get(&id) else {
            return Err(StoreError::LeaseNotFound);
        };
        let keys: Vec<Vec<u8>> = lease.keys.iter().cloned().collect();
        // A planted bug, to prove the fault-injection suite catches it: the revoke
        // forgets the lease's keys.
        let keep_keys = || -> bool {
            fail::fail_point!("plant_revoke_keeps_keys", |_| true);
            false
        };
        if !keep_keys() {
            for k in keys {
                self.delete_range(&k, &[])?;
            }
        }
        self.st.leases.remove(&id);
        self.batch.delete(rows::lease_key(id));
        Ok(LeaseRevokeResponse {
            header: header(self.read_rev()),
        })
    }

    fn alarm(&mut self, a: &AlarmRequest) -> AlarmResponse {
        let action = AlarmAction::try_from(a.action).unwrap_or(AlarmAction::Get);
        let member = AlarmMember {
            member_id: a.member_id,
            alarm: a.alarm,
        };
        let mut alarms = Vec::new();
        match action {
            AlarmAction::Get => {
                alarms = self
                    .st
                    .alarms
                    .iter()
                    .filter(|(_, t)| a.alarm == 0 || *t == a.alarm)
                    .map(|(m, t)| AlarmMember {
                        member_id: *m,
                        alarm: *t,
                    })
                    .collect();
            }
            AlarmAction::Activate => {
                if a.alarm != 0 {
                    if self.st.alarms.insert((a.member_id, a.alarm)) {
                        self.batch
                            .put(rows::alarm_key(a.member_id, a.alarm), Vec::new());
                    }
                    // An alarm already raised is answered too, as etcd does.
                    alarms.push(member);
                }
            }
            AlarmAction::Deactivate => {
                if self.st.alarms.remove(&(a.member_id, a.alarm)) {
                    self.batch.delete(rows::alarm_key(a.member_id, a.alarm));
                    alarms.push(member);
                }
            }
        }
        AlarmResponse {
            header: header(self.st.current_rev),
            alarms,
        }
    }

    /// Applies one auth management request to a copy of the auth state and
    /// stages the new state row; the copy replaces the state only if the
    /// request succeeded.
    fn auth_change(&mut self, op: &Op) -> Result<Applied, StoreError> {
        let mut auth = self.st.auth.clone();
        match op {
            Op::AuthEnable(_) => auth.enable()?,
            Op::AuthDisable(_) => auth.disable(),
            Op::UserAdd(u) => {
                let no_password = u.options.as_ref().is_some_and(|o| o.no_password);
                auth.user_add(&u.name, &u.hashed_password, no_password)?
            }
            Op::UserDelete(u) => auth.user_delete(&u.name)?,
            Op::UserChangePassword(u) => auth.user_change_password(&u.name, &u.hashed_password)?,
            Op::UserGrantRole(g) => auth.user_grant_role(&g.user, &g.role)?,
            Op::UserRevokeRole(r) => auth.user_revoke_role(&r.name, &r.role)?,
            Op::RoleAdd(r) => auth.role_add(&r.name)?,
            Op::RoleDelete(r) => auth.role_delete(&r.role)?,
            Op::RoleGrantPermission(g) => {
                let perm = g.perm.clone().ok_or(AuthError::PermissionNotGiven)?;
                auth.role_grant_permission(&g.name, perm)?
            }
            Op::RoleRevokePermission(r) => {
                auth.role_revoke_permission(&r.role, &r.key, &r.range_end)?
            }
            _ => return Ok(Applied::Nothing),
        }
        if auth != self.st.auth {
            self.batch
                .put(rows::AUTH_STATE.to_vec(), auth.to_record().encode_to_vec());
        }
        let auth_revision = auth.revision;
        self.st.auth = auth;
        Ok(Applied::Auth { auth_revision })
    }

    /// A replicated successful login: the user must still exist (it may
    /// have been deleted between the password check and this entry).
    fn authenticate(&mut self, index: u64, a: &AuthenticateApply) -> Result<Applied, StoreError> {
        if !self.st.auth.enabled {
            return Err(AuthError::AuthNotEnabled.into());
        }
        if !self.st.auth.users.contains_key(&a.name) {
            return Err(AuthError::AuthFailed.into());
        }
        let token = if a.token_prefix.is_empty() {
            String::new()
        } else {
            format!("{}.{index}", a.token_prefix)
        };
        Ok(Applied::Authenticated {
            user: a.name.clone(),
            token,
        })
    }

    /// True once the request has changed any state.
    fn changed(&self) -> bool {
        !self.changes.is_empty() || self.batch.ops.len() > self.batch_start
    }

    /// Stages the new revision and applied index; returns the events of the
    /// new revision, if the request made one, and the bytes it added to the
    /// group's overlay.
    fn commit(self, index: u64, term: u64) -> (Option<RevisionEvents>, usize) {
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

fn compare_kv(c: &Compare, target: CompareTarget, kv: &KeyValue) -> bool {
    let ord = match target {
        CompareTarget::Value => {
            let v: &[u8] = match &c.target_union {
                Some(TargetUnion::Value(v)) => v,
                _ => &[],
            };
            kv.value.as_slice().cmp(v)
        }
        CompareTarget::Version => kv.version.cmp(&int_target(c, target)),
        CompareTarget::Create => kv.create_revision.cmp(&int_target(c, target)),
        CompareTarget::Mod => kv.mod_revision.cmp(&int_target(c, target)),
        CompareTarget::Lease => kv.lease.cmp(&int_target(c, target)),
    };
    match CompareResult::try_from(c.result).unwrap_or(CompareResult::Equal) {
        CompareResult::Equal => ord.is_eq(),
        CompareResult::NotEqual => ord.is_ne(),
        CompareResult::Greater => ord.is_gt(),
        CompareResult::Less => ord.is_lt(),
    }
}

/// The integer a compare targets; 0 when the union holds another variant.
fn int_target(c: &Compare, target: CompareTarget) -> i64 {
    match (&c.target_union, target) {
        (Some(TargetUnion::Version(v)), CompareTarget::Version)
        | (Some(TargetUnion::CreateRevision(v)), CompareTarget::Create)
        | (Some(TargetUnion::ModRevision(v)), CompareTarget::Mod)
        | (Some(TargetUnion::Lease(v)), CompareTarget::Lease) => *v,
        _ => 0,
    }
}
