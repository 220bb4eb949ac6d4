//! [`Store`]: the MVCC state machine as one value: open, read, apply, watch.
//!
//! The store owns the backend rows, the in-memory key index, the lease table
//! and the recent event history. Reads take a shared lock and see a
//! consistent revision; [`Store::apply`] (in `apply.rs`) is called by exactly
//! one task, in raft log order, and takes the exclusive lock for the length of
//! one request. After every apply that made a new revision, the events go into
//! the history and subscribers of [`Store::subscribe`] are woken.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use etcd_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use etcd_proto::etcdserverpb::{RangeRequest, RangeResponse, ResponseHeader};
use etcd_proto::mvccpb::KeyValue;
use prost::Message;
use tokio::sync::watch;

use etcd_proto::etcdrs::{AuthInfo, AuthStateRecord};

use crate::auth::AuthState;
use crate::backend::Backend;
use crate::error::StoreError;
use crate::history::{EventHistory, RevisionEvents};
use crate::index::{IndexBuilder, KeyRange, TreeIndex};
use crate::revision::Revision;
use crate::rows;

/// Largest TTL a lease may have, as etcd (`MaxLeaseTTL`).
pub const MAX_LEASE_TTL: i64 = 9_000_000_000;

/// Settings that every member must share, since they shape applied state.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Leases granted with a shorter TTL get this one (etcd derives it from
    /// the election timeout).
    pub min_lease_ttl: i64,
    /// How many recent revisions of events to keep in memory for watchers.
    pub history_revisions: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            min_lease_ttl: 2,
            history_revisions: 8192,
        }
    }
}

/// A lease as the state machine knows it: its TTL and the keys on it.
/// When it expires is the leader's business (raft-node), not the store's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseEntry {
    pub ttl: i64,
    pub keys: BTreeSet<Vec<u8>>,
}

/// Everything the exclusive lock protects.
pub(crate) struct State {
    pub index: TreeIndex,
    pub current_rev: i64,
    pub compacted_rev: i64,
    pub applied_index: u64,
    pub applied_term: u64,
    pub leases: BTreeMap<i64, LeaseEntry>,
    pub alarms: BTreeSet<(u64, i32)>,
    pub auth: AuthState,
}

/// The MVCC key-value state machine.
pub struct Store {
    pub(crate) backend: Box<dyn Backend>,
    pub(crate) state: RwLock<State>,
    pub(crate) history: EventHistory,
    pub(crate) config: StoreConfig,
    rev_tx: watch::Sender<i64>,
}

/// Why [`Store::events_since`] has no events to give.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// The revisions asked for were compacted away; this is the compacted
    /// revision.
    #[error("mvcc: required revision has been compacted")]
    Compacted(i64),
    /// The revision rows could not be read (the disk failed).
    #[error("reading the event history failed: {0}")]
    Unreadable(String),
}

impl HistoryError {
    /// The compacted revision, if that is why there are no events.
    pub fn compacted_revision(&self) -> Option<i64> {
        match self {
            HistoryError::Compacted(rev) => Some(*rev),
            HistoryError::Unreadable(_) => None,
        }
    }
}

/// Where the store stands, for status reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreStatus {
    pub revision: i64,
    pub compacted_revision: i64,
    pub applied_index: u64,
    pub applied_term: u64,
    pub db_size: u64,
}

impl Store {
    /// Opens the store on `backend`, rebuilding the key index and lease
    /// table from the rows.
    pub fn open(backend: Box<dyn Backend>, config: StoreConfig) -> Result<Store, StoreError> {
        let state = load_state(backend.as_ref())?;
        let (rev_tx, _) = watch::channel(state.current_rev);
        Ok(Store {
            backend,
            history: EventHistory::new(config.history_revisions),
            state: RwLock::new(state),
            config,
            rev_tx,
        })
    }

    pub(crate) fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().expect("store lock poisoned")
    }

    /// Replaces the rows by what `rewrite` writes and reloads all in-memory
    /// state from them, under one write lock: no reader ever sees the new
    /// rows with the old state. (A watch catching up between the two once
    /// read a new snapshot's rows, compacted past its position, with the
    /// old compaction revision: it skipped the compacted revisions without
    /// being told, a gap the robustness runner caught.)
    pub(crate) fn replace_rows(
        &self,
        rewrite: impl FnOnce(&dyn Backend) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let rev = {
            let mut state = self.state.write().expect("store lock poisoned");
            rewrite(self.backend.as_ref())?;
            self.backend.flush()?;
            let fresh = load_state(self.backend.as_ref())?;
            let rev = fresh.current_rev;
            *state = fresh;
            self.history.clear();
            rev
        };
        self.rev_tx.send_replace(rev);
        Ok(())
    }

    pub(crate) fn notify_revision(&self, rev: i64) {
        self.rev_tx.send_replace(rev);
    }

    /// Runs `f` on the current auth state (users, roles, permissions).
    pub fn with_auth<T>(&self, f: impl FnOnce(&AuthState) -> T) -> T {
        f(&self.read_state().auth)
    }

    /// Whether auth is on, and its revision.
    pub fn auth_status(&self) -> (bool, u64) {
        let st = self.read_state();
        (st.auth.enabled, st.auth.revision)
    }

    /// Checks a request as the API layer receives it, against the current
    /// state (the apply path checks again at the request's log position).
    pub fn authorize(
        &self,
        info: &AuthInfo,
        op: &etcd_proto::etcdrs::raft_request::Op,
    ) -> Result<(), StoreError> {
        let st = self.read_state();
        st.auth
            .authorize(info, op, &|id| lease_keys(&st, id))
            .map_err(StoreError::Auth)
    }

    /// Checks a read of `[key, range_end)` against the current state.
    pub fn authorize_read(
        &self,
        info: &AuthInfo,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<(), StoreError> {
        self.read_state()
            .auth
            .check_op(info, key, range_end, false)
            .map_err(StoreError::Auth)
    }

    /// A receiver that changes whenever a new revision is applied.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.rev_tx.subscribe()
    }

    pub fn current_revision(&self) -> i64 {
        self.read_state().current_rev
    }

    pub fn compacted_revision(&self) -> i64 {
        self.read_state().compacted_rev
    }

    pub fn applied_index(&self) -> u64 {
        self.read_state().applied_index
    }

    pub fn status(&self) -> StoreStatus {
        let s = self.read_state();
        StoreStatus {
            revision: s.current_rev,
            compacted_revision: s.compacted_rev,
            applied_index: s.applied_index,
            applied_term: s.applied_term,
            db_size: self.backend.size_bytes(),
        }
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Serves a range request from the local state (no consensus involved).
    pub fn range(&self, req: &RangeRequest) -> Result<RangeResponse, StoreError> {
        let s = self.read_state();
        let reader = RowReader {
            backend: self.backend.as_ref(),
            pending: None,
        };
        range(&s.index, &reader, req, s.current_rev, s.compacted_rev)
    }

    /// The TTL and attached keys of lease `id`.
    pub fn lease(&self, id: i64) -> Option<LeaseEntry> {
        self.read_state().leases.get(&id).cloned()
    }

    /// All leases, ascending by id.
    pub fn leases(&self) -> Vec<(i64, i64)> {
        let s = self.read_state();
        s.leases.iter().map(|(id, l)| (*id, l.ttl)).collect()
    }

    /// Raised alarms as (member id, alarm type).
    pub fn alarms(&self) -> Vec<(u64, i32)> {
        self.read_state().alarms.iter().copied().collect()
    }

    /// Events of revisions `from..=current`, oldest first; at most
    /// `max_revisions` revisions. Fails with the compacted revision if
    /// `from` is below it, or if the rows cannot be read.
    pub fn events_since(
        &self,
        from: i64,
        max_revisions: usize,
    ) -> Result<Vec<Arc<RevisionEvents>>, HistoryError> {
        let s = self.read_state();
        if from < s.compacted_rev {
            return Err(HistoryError::Compacted(s.compacted_rev));
        }
        if from > s.current_rev {
            return Ok(Vec::new());
        }
        // At the compacted revision itself the rows lack what compaction
        // removed (tombstones, previous values); answer from the rows there
        // so that the answer does not depend on what the ring still holds.
        if from > s.compacted_rev {
            if let Some(evs) = self.history.since(from, max_revisions) {
                return Ok(evs);
            }
        }
        crate::history::read_from_rows(self.backend.as_ref(), &s.index, from, max_revisions)
            .map_err(|e| HistoryError::Unreadable(e.to_string()))
    }

    /// Hash of every revision row up to `rev` (0 = current), the same on every
    /// member that applied the same log: (hash, compacted revision, hashed
    /// revision).
    pub fn hash_kv(&self, rev: i64) -> Result<(u32, i64, i64), StoreError> {
        let s = self.read_state();
        let rev = if rev <= 0 { s.current_rev } else { rev };
        if rev > s.current_rev {
            return Err(StoreError::FutureRevision);
        }
        if rev < s.compacted_rev {
            return Err(StoreError::Compacted);
        }
        let mut h = crc32fast::Hasher::new();
        h.update(b"key");
        let (start, _) = rows::prefix_range(rows::KV);
        self.backend
            .scan_each(&start, &rows::kv_main_start(rev + 1), &mut |k, v| {
                h.update(k);
                h.update(v);
                true
            })?;
        // etcd reports -1 when nothing was ever compacted.
        let compacted = if s.compacted_rev == 0 {
            -1
        } else {
            s.compacted_rev
        };
        Ok((h.finalize(), compacted, rev))
    }

    /// Hash of the whole backend keyspace.
    pub fn hash_all(&self) -> Result<u32, StoreError> {
        let _s = self.read_state();
        let mut h = crc32fast::Hasher::new();
        self.backend.scan_each(&[], &[0xff; 2], &mut |k, v| {
            h.update(k);
            h.update(v);
            true
        })?;
        Ok(h.finalize())
    }

    pub fn db_size(&self) -> u64 {
        self.backend.size_bytes()
    }

    pub fn defragment(&self) -> Result<(), StoreError> {
        let _s = self.read_state();
        self.backend.defragment()
    }

    /// Makes everything applied so far durable in the backend.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.backend.flush()
    }

    /// Cluster-data rows whose names start with `prefix`, in name order.
    pub fn cluster_scan(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let start = rows::cluster_key(prefix);
        let mut end = start.clone();
        end.push(0xff);
        Ok(self
            .backend
            .scan(&start, &end)?
            .into_iter()
            .map(|(k, v)| (String::from_utf8_lossy(&k[1..]).into_owned(), v))
            .collect())
    }

    /// A cluster-data row owned by the layer above (member list and such).
    pub fn cluster_get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.backend.get(&rows::cluster_key(name))
    }
}

/// Reads revision rows, first from writes not yet committed (inside an
/// apply), then from the backend.
pub(crate) struct RowReader<'a> {
    pub backend: &'a dyn Backend,
    pub pending: Option<&'a std::collections::HashMap<Revision, KeyValue>>,
}

impl RowReader<'_> {
    pub fn kv_at(&self, rev: Revision) -> Result<KeyValue, StoreError> {
        if let Some(kv) = self.pending.and_then(|p| p.get(&rev)) {
            return Ok(kv.clone());
        }
        let row = self
            .backend
            .get(&rows::kv_key(rev, false))?
            .ok_or_else(|| StoreError::Corrupt(format!("missing revision row {rev}")))?;
        Ok(KeyValue::decode(row.as_slice())?)
    }
}

/// etcd's range semantics over an index and a row reader.
pub(crate) fn range(
    index: &TreeIndex,
    reader: &RowReader<'_>,
    req: &RangeRequest,
    current_rev: i64,
    compacted_rev: i64,
) -> Result<RangeResponse, StoreError> {
    let rev = if req.revision <= 0 {
        current_rev
    } else {
        req.revision
    };
    if rev > current_rev {
        return Err(StoreError::FutureRevision);
    }
    if rev < compacted_rev {
        return Err(StoreError::Compacted);
    }
    let key_range = KeyRange::new(&req.key, &req.range_end);
    let sort_order = SortOrder::try_from(req.sort_order).unwrap_or(SortOrder::None);
    let sort_target = SortTarget::try_from(req.sort_target).unwrap_or(SortTarget::Key);
    let filtered = req.min_mod_revision != 0
        || req.max_mod_revision != 0
        || req.min_create_revision != 0
        || req.max_create_revision != 0;
    // Without sorting or filtering, stop after limit + 1 rows (one more to
    // know whether there are more); otherwise everything must be read first.
    let fetch_limit = if sort_order != SortOrder::None || filtered || req.limit <= 0 {
        usize::MAX
    } else {
        req.limit as usize + 1
    };

    let mut count: i64 = 0;
    let mut hits = Vec::new();
    for (key, at) in index.range(key_range, rev) {
        count += 1;
        if hits.len() < fetch_limit && !req.count_only {
            hits.push((key, at));
        }
    }
    let mut kvs = Vec::with_capacity(hits.len());
    for (_, at) in hits {
        kvs.push(reader.kv_at(at.modified)?);
    }
    if filtered {
        kvs.retain(|kv| {
            (req.max_mod_revision == 0 || kv.mod_revision <= req.max_mod_revision)
                && (req.min_mod_revision == 0 || kv.mod_revision >= req.min_mod_revision)
                && (req.max_create_revision == 0 || kv.create_revision <= req.max_create_revision)
                && (req.min_create_revision == 0 || kv.create_revision >= req.min_create_revision)
        });
    }
    let order = if sort_target != SortTarget::Key && sort_order == SortOrder::None {
        SortOrder::Ascend
    } else {
        sort_order
    };
    if order != SortOrder::None {
        let cmp = |a: &KeyValue, b: &KeyValue| match sort_target {
            SortTarget::Key => a.key.cmp(&b.key),
            SortTarget::Version => a.version.cmp(&b.version),
            SortTarget::Create => a.create_revision.cmp(&b.create_revision),
            SortTarget::Mod => a.mod_revision.cmp(&b.mod_revision),
            SortTarget::Value => a.value.cmp(&b.value),
        };
        if order == SortOrder::Descend {
            kvs.sort_by(|a, b| cmp(b, a));
        } else {
            kvs.sort_by(cmp);
        }
    }
    let mut more = false;
    if req.limit > 0 && kvs.len() > req.limit as usize {
        kvs.truncate(req.limit as usize);
        more = true;
    }
    // Values go last, as in etcd: a sort by value still sees them.
    if req.keys_only {
        for kv in &mut kvs {
            kv.value.clear();
        }
    }
    Ok(RangeResponse {
        header: Some(ResponseHeader {
            revision: current_rev,
            ..Default::default()
        }),
        kvs,
        more,
        count,
    })
}

/// The keys attached to lease `id` (none if there is no such lease).
pub(crate) fn lease_keys(st: &State, id: i64) -> Vec<Vec<u8>> {
    st.leases
        .get(&id)
        .map(|l| l.keys.iter().cloned().collect())
        .unwrap_or_default()
}

/// The fields of a revision row (a `mvccpb.KeyValue`) that rebuilding the
/// index needs. The value is skipped, not copied: a start reads every row.
#[derive(Clone, PartialEq, prost::Message)]
struct RowHeader {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    #[prost(int64, tag = "2")]
    create_revision: i64,
    #[prost(int64, tag = "4")]
    version: i64,
    #[prost(int64, tag = "6")]
    lease: i64,
}

/// Rebuilds the in-memory state from the rows.
fn load_state(backend: &dyn Backend) -> Result<State, StoreError> {
    let meta_u64 = |name: &[u8]| -> Result<u64, StoreError> {
        Ok(backend
            .get(name)?
            .and_then(|v| rows::read_u64(&v))
            .unwrap_or(0))
    };
    let applied_index = meta_u64(rows::META_APPLIED_INDEX)?;
    let applied_term = meta_u64(rows::META_APPLIED_TERM)?;
    let current_rev = (meta_u64(rows::META_CURRENT_REV)? as i64).max(1);
    let compacted_rev = meta_u64(rows::META_COMPACTED_REV)? as i64;

    let mut leases = BTreeMap::new();
    let (ls, le) = rows::prefix_range(rows::LEASE);
    for (k, v) in backend.scan(&ls, &le)? {
        let id = rows::read_i64(&k[1..]).ok_or_else(|| StoreError::Corrupt("lease row".into()))?;
        let ttl = rows::read_i64(&v).ok_or_else(|| StoreError::Corrupt("lease ttl".into()))?;
        leases.insert(
            id,
            LeaseEntry {
                ttl,
                keys: BTreeSet::new(),
            },
        );
    }

    let mut alarms = BTreeSet::new();
    let (as_, ae) = rows::prefix_range(rows::ALARM);
    for (k, _) in backend.scan(&as_, &ae)? {
        if k.len() == 13 {
            let member = rows::read_u64(&k[1..9]).unwrap_or(0);
            let alarm = i32::from_be_bytes(k[9..13].try_into().expect("4 bytes"));
            alarms.insert((member, alarm));
        }
    }

    let auth = match backend.get(rows::AUTH_STATE)? {
        Some(row) => AuthState::from_record(AuthStateRecord::decode(row.as_slice())?),
        None => AuthState::default(),
    };

    let mut index = IndexBuilder::default();
    // key -> lease of its newest live row, to re-attach keys to leases.
    let mut key_leases: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
    let mut last_rev = 0;
    let mut last_row: Option<Revision> = None;
    let mut failure = None;
    let (ks, ke) = rows::prefix_range(rows::KV);
    backend.scan_each(&ks, &ke, &mut |k, v| {
        let Some((rev, tombstone)) = Revision::from_bytes(&k[1..]) else {
            failure = Some(StoreError::Corrupt(format!("bad revision row key {k:?}")));
            return false;
        };
        // Rows come in key order, which is revision order for the
        // revisions the store writes; anything else (a negative revision
        // sorting last, a row both put and tombstone) is damage, and would
        // break the index's invariants.
        if rev.main < 1 || rev.sub < 0 || last_row.is_some_and(|last| rev <= last) {
            failure = Some(StoreError::Corrupt(format!(
                "revision row {rev} out of order"
            )));
            return false;
        }
        last_row = Some(rev);
        let kv = match RowHeader::decode(v) {
            Ok(kv) => kv,
            Err(e) => {
                failure = Some(StoreError::Corrupt(format!("revision row {rev}: {e}")));
                return false;
            }
        };
        last_rev = rev.main;
        if tombstone {
            index.tombstone(&kv.key, rev);
            key_leases.remove(&kv.key);
        } else {
            index.restore_or_put(&kv.key, rev, kv.create_revision, kv.version);
            if kv.lease != 0 {
                key_leases.insert(kv.key.clone(), kv.lease);
            } else {
                key_leases.remove(&kv.key);
            }
        }
        true
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    for (key, lease) in key_leases {
        if let Some(l) = leases.get_mut(&lease) {
            l.keys.insert(key);
        }
    }
    Ok(State {
        index: index.finish(),
        current_rev: current_rev.max(last_rev).max(compacted_rev),
        compacted_rev,
        applied_index,
        applied_term,
        leases,
        alarms,
        auth,
    })
}
