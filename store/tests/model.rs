//! Model-based property test of the MVCC store.
//!
//! Random sequences of puts (with leases, prev_kv, ignore_value/lease),
//! range deletes, flat txns (compares on every target, puts, deletes and
//! historical reads in both branches), compactions, lease grants and revokes,
//! historical range reads (limit, sort, filters, keys_only, count_only),
//! watch-history reads and restarts are run against the store and against a
//! naive model that keeps a full copy of the key space for every revision.
//! Every response must be identical: values, versions, create/mod revisions,
//! header revisions, counts, `more`, errors (compacted, future revision,
//! lease/key not found, duplicate key) and the events of every revision.
//! After each sequence the whole history is compared once more, and a second
//! store fed the same entries (without restarts) must report the same hash
//! and history. The second store applies them in groups
//! (`Store::begin_group`: runs of writes under one lock and one backend
//! batch, each run ending where the sequence reads or restarts), and must
//! answer every entry as the first store, which applies them one by one.
//!
//! The model knows nothing of generations, key indexes or rows: versions and
//! create revisions follow from "previous value in the snapshot or not", so
//! the store's bookkeeping is checked against the definition.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use etcd_proto::etcdrs::raft_request::Op as RaftOp;
use etcd_proto::etcdrs::RaftRequest;
use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use etcd_proto::etcdserverpb::request_op::Request;
use etcd_proto::etcdserverpb::response_op::Response;
use etcd_proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, Compare, DeleteRangeRequest, DeleteRangeResponse,
    LeaseGrantRequest, LeaseGrantResponse, LeaseRevokeRequest, LeaseRevokeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, RequestOp, ResponseHeader, ResponseOp, TxnRequest,
    TxnResponse,
};
use etcd_proto::mvccpb::event::EventType;
use etcd_proto::mvccpb::{Event, KeyValue};
use etcd_store::backend::WriteBatch;
use etcd_store::{
    validate, Applied, Backend, MemBackend, RevisionEvents, SledBackend, Store, StoreConfig,
    StoreError, WriteBuffer,
};
use proptest::prelude::*;

const KEYS: [&str; 6] = ["a", "aa", "ab", "b", "ba", "c"];
const VALUES: [&str; 4] = ["", "v1", "v2", "zz"];
const LEASE_TTL: i64 = 10;

// ---------------------------------------------------------------------------
// Operations, as generated. Revisions are chosen when the op runs, from
// selectors, so that they land near the store's current revision.
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum KeySel {
    Single(usize),
    Prefix(usize),
    FromKey(usize),
    Between(usize, usize),
    All,
}

#[derive(Clone, Debug)]
struct PutOp {
    key: usize,
    value: usize,
    /// 0: no lease, else lease id 1..=3.
    lease: i64,
    prev_kv: bool,
    ignore_value: bool,
    ignore_lease: bool,
}

#[derive(Clone, Debug)]
struct GetOp {
    range: KeySel,
    rev: u8,
    limit: i64,
    sort: (i32, i32),
    keys_only: bool,
    count_only: bool,
    /// (min_mod, max_mod, min_create, max_create) selectors; 0 = unset.
    filters: [u8; 4],
}

#[derive(Clone, Debug)]
enum TxnOp {
    Put(PutOp),
    Del(KeySel, bool),
    Get(GetOp),
}

#[derive(Clone, Debug)]
struct CmpOp {
    target: i32,
    result: i32,
    range: KeySel,
    operand: u8,
}

#[derive(Clone, Debug)]
enum Op {
    Put(PutOp),
    Del(KeySel, bool),
    Txn(Vec<CmpOp>, Vec<TxnOp>, Vec<TxnOp>),
    Compact(u8),
    Get(GetOp),
    Events(u8, usize),
    LeaseGrant(i64),
    LeaseRevoke(i64),
    Restart,
}

fn key_sel() -> impl Strategy<Value = KeySel> {
    let k = 0..KEYS.len();
    prop_oneof![
        4 => k.clone().prop_map(KeySel::Single),
        1 => k.clone().prop_map(KeySel::Prefix),
        1 => k.clone().prop_map(KeySel::FromKey),
        1 => (k.clone(), k).prop_map(|(a, b)| KeySel::Between(a, b)),
        1 => Just(KeySel::All),
    ]
}

fn put_op() -> impl Strategy<Value = PutOp> {
    (
        0..KEYS.len(),
        0..VALUES.len(),
        prop_oneof![3 => Just(0i64), 2 => 1..=3i64],
        any::<bool>(),
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.15),
    )
        .prop_map(
            |(key, value, lease, prev_kv, ignore_value, ignore_lease)| PutOp {
                key,
                // Requests the gRPC layer would refuse are not generated.
                value: if ignore_value { 0 } else { value },
                lease: if ignore_lease { 0 } else { lease },
                prev_kv,
                ignore_value,
                ignore_lease,
            },
        )
}

fn get_op() -> impl Strategy<Value = GetOp> {
    let filter = prop_oneof![3 => Just(0u8), 1 => 1..=255u8];
    (
        key_sel(),
        any::<u8>(),
        prop_oneof![2 => Just(0i64), 1 => 1..4i64],
        (0..5i32, 0..3i32),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.1),
        [filter.clone(), filter.clone(), filter.clone(), filter],
    )
        .prop_map(
            |(range, rev, limit, sort, keys_only, count_only, filters)| GetOp {
                range,
                rev,
                limit,
                sort,
                keys_only,
                count_only,
                filters,
            },
        )
}

fn txn_op() -> impl Strategy<Value = TxnOp> {
    prop_oneof![
        3 => put_op().prop_map(TxnOp::Put),
        1 => (key_sel(), any::<bool>()).prop_map(|(r, p)| TxnOp::Del(r, p)),
        2 => get_op().prop_map(TxnOp::Get),
    ]
}

fn cmp_op() -> impl Strategy<Value = CmpOp> {
    (0..5i32, 0..4i32, key_sel(), any::<u8>()).prop_map(|(target, result, range, operand)| CmpOp {
        target,
        result,
        range,
        operand,
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => put_op().prop_map(Op::Put),
        3 => (key_sel(), any::<bool>()).prop_map(|(r, p)| Op::Del(r, p)),
        5 => (
            prop::collection::vec(cmp_op(), 0..3),
            prop::collection::vec(txn_op(), 0..4),
            prop::collection::vec(txn_op(), 0..4),
        )
            .prop_map(|(c, s, f)| Op::Txn(c, s, f)),
        2 => any::<u8>().prop_map(Op::Compact),
        6 => get_op().prop_map(Op::Get),
        2 => (any::<u8>(), prop_oneof![Just(1usize), Just(2), Just(usize::MAX)])
            .prop_map(|(f, m)| Op::Events(f, m)),
        2 => (1..=3i64).prop_map(Op::LeaseGrant),
        1 => (1..=3i64).prop_map(Op::LeaseRevoke),
        1 => Just(Op::Restart),
    ]
}

// ---------------------------------------------------------------------------
// Turning selectors into requests
// ---------------------------------------------------------------------------

fn key(i: usize) -> Vec<u8> {
    KEYS[i].as_bytes().to_vec()
}

fn bounds(sel: &KeySel) -> (Vec<u8>, Vec<u8>) {
    match *sel {
        KeySel::Single(k) => (key(k), Vec::new()),
        KeySel::Prefix(k) => {
            let mut end = key(k);
            *end.last_mut().unwrap() += 1;
            (key(k), end)
        }
        KeySel::FromKey(k) => (key(k), vec![0]),
        KeySel::Between(a, b) => (key(a), key(b)),
        KeySel::All => (vec![0], vec![0]),
    }
}

/// A revision selector: 0 (current), 1..=current, or current + 1 (future).
fn pick_rev(sel: u8, current: i64) -> i64 {
    i64::from(sel) % (current + 2)
}

fn put_request(p: &PutOp) -> PutRequest {
    PutRequest {
        key: key(p.key),
        value: VALUES[p.value].as_bytes().to_vec(),
        lease: p.lease,
        prev_kv: p.prev_kv,
        ignore_value: p.ignore_value,
        ignore_lease: p.ignore_lease,
    }
}

fn del_request(sel: &KeySel, prev_kv: bool) -> DeleteRangeRequest {
    let (key, range_end) = bounds(sel);
    DeleteRangeRequest {
        key,
        range_end,
        prev_kv,
    }
}

fn range_request(g: &GetOp, current: i64) -> RangeRequest {
    let (key, range_end) = bounds(&g.range);
    let f = |i: usize| {
        if g.filters[i] == 0 {
            0
        } else {
            1 + i64::from(g.filters[i]) % (current + 1)
        }
    };
    RangeRequest {
        key,
        range_end,
        limit: g.limit,
        revision: pick_rev(g.rev, current),
        sort_order: g.sort.1,
        sort_target: g.sort.0,
        serializable: false,
        keys_only: g.keys_only,
        count_only: g.count_only,
        min_mod_revision: f(0),
        max_mod_revision: f(1),
        min_create_revision: f(2),
        max_create_revision: f(3),
    }
}

fn compare(c: &CmpOp, current: i64) -> Compare {
    let (key, range_end) = bounds(&c.range);
    let target = CompareTarget::try_from(c.target).unwrap();
    let n = i64::from(c.operand);
    let union = match target {
        CompareTarget::Value => TargetUnion::Value(VALUES[c.operand as usize % 4].into()),
        CompareTarget::Version => TargetUnion::Version(n % 5),
        CompareTarget::Create => TargetUnion::CreateRevision(n % (current + 2)),
        CompareTarget::Mod => TargetUnion::ModRevision(n % (current + 2)),
        CompareTarget::Lease => TargetUnion::Lease(n % 4),
    };
    Compare {
        result: c.result,
        target: c.target,
        key,
        range_end,
        target_union: Some(union),
    }
}

fn txn_request(cmps: &[CmpOp], succ: &[TxnOp], fail: &[TxnOp], current: i64) -> TxnRequest {
    let ops = |ops: &[TxnOp]| {
        ops.iter()
            .map(|o| RequestOp {
                request: Some(match o {
                    TxnOp::Put(p) => Request::RequestPut(put_request(p)),
                    TxnOp::Del(r, p) => Request::RequestDeleteRange(del_request(r, *p)),
                    TxnOp::Get(g) => Request::RequestRange(range_request(g, current)),
                }),
            })
            .collect()
    };
    TxnRequest {
        compare: cmps.iter().map(|c| compare(c, current)).collect(),
        success: ops(succ),
        failure: ops(fail),
    }
}

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

type Snap = BTreeMap<Vec<u8>, KeyValue>;

struct Model {
    /// `revs[r]` is the key space at revision r (`revs[0]` is unused).
    revs: Vec<Snap>,
    /// `events[r]` are the changes revision r made.
    events: Vec<Vec<Event>>,
    compacted: i64,
    leases: BTreeSet<i64>,
}

fn header(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        revision,
        ..Default::default()
    })
}

fn in_range(key: &[u8], end: &[u8], k: &[u8]) -> bool {
    if end.is_empty() {
        k == key
    } else if end == [0] {
        k >= key
    } else {
        k >= key && k < end
    }
}

/// A write request in progress: the key space as it is being changed.
struct Pending<'m> {
    model: &'m Model,
    snap: Snap,
    events: Vec<Event>,
}

impl Pending<'_> {
    fn write_rev(&self) -> i64 {
        self.model.current() + 1
    }

    fn read_rev(&self) -> i64 {
        if self.events.is_empty() {
            self.model.current()
        } else {
            self.write_rev()
        }
    }

    fn put(&mut self, p: &PutRequest) -> PutResponse {
        let rev = self.write_rev();
        let prev = self.snap.get(&p.key).cloned();
        let kv = KeyValue {
            key: p.key.clone(),
            create_revision: prev.as_ref().map_or(rev, |kv| kv.create_revision),
            mod_revision: rev,
            version: prev.as_ref().map_or(0, |kv| kv.version) + 1,
            value: match (&prev, p.ignore_value) {
                (Some(prev), true) => prev.value.clone(),
                _ => p.value.clone(),
            },
            lease: match (&prev, p.ignore_lease) {
                (Some(prev), true) => prev.lease,
                _ => p.lease,
            },
        };
        self.snap.insert(p.key.clone(), kv.clone());
        self.events.push(Event {
            r#type: EventType::Put as i32,
            kv: Some(kv),
            prev_kv: prev.clone(),
        });
        PutResponse {
            header: header(rev),
            prev_kv: if p.prev_kv { prev } else { None },
        }
    }

    fn delete(&mut self, d: &DeleteRangeRequest) -> DeleteRangeResponse {
        let keys: Vec<Vec<u8>> = self
            .snap
            .keys()
            .filter(|k| in_range(&d.key, &d.range_end, k))
            .cloned()
            .collect();
        let mut prev_kvs = Vec::new();
        for k in &keys {
            let prev = self.snap.remove(k).expect("listed");
            self.events.push(Event {
                r#type: EventType::Delete as i32,
                kv: Some(KeyValue {
                    key: k.clone(),
                    mod_revision: self.write_rev(),
                    ..Default::default()
                }),
                prev_kv: Some(prev.clone()),
            });
            prev_kvs.push(prev);
        }
        DeleteRangeResponse {
            header: header(self.read_rev()),
            deleted: keys.len() as i64,
            prev_kvs: if d.prev_kv { prev_kvs } else { Vec::new() },
        }
    }

    fn range(&self, r: &RangeRequest) -> Result<RangeResponse, StoreError> {
        self.model.range(r, self.read_rev(), &self.snap)
    }

    fn commit(self) -> Option<(Snap, Vec<Event>)> {
        (!self.events.is_empty()).then_some((self.snap, self.events))
    }
}

impl Model {
    fn new() -> Self {
        Model {
            revs: vec![Snap::new(), Snap::new()],
            events: vec![Vec::new(), Vec::new()],
            compacted: 0,
            leases: BTreeSet::new(),
        }
    }

    fn current(&self) -> i64 {
        self.revs.len() as i64 - 1
    }

    fn state(&self) -> &Snap {
        self.revs.last().unwrap()
    }

    fn pending(&self) -> Pending<'_> {
        Pending {
            model: self,
            snap: self.state().clone(),
            events: Vec::new(),
        }
    }

    fn push(&mut self, done: Option<(Snap, Vec<Event>)>) {
        if let Some((snap, events)) = done {
            self.revs.push(snap);
            self.events.push(events);
        }
    }

    /// etcd's Range at `read_rev`, where `working` is the key space at it.
    fn range(
        &self,
        r: &RangeRequest,
        read_rev: i64,
        working: &Snap,
    ) -> Result<RangeResponse, StoreError> {
        let rev = if r.revision <= 0 {
            read_rev
        } else {
            r.revision
        };
        if rev > read_rev {
            return Err(StoreError::FutureRevision);
        }
        if rev < self.compacted {
            return Err(StoreError::Compacted);
        }
        let snap = if rev == read_rev {
            working
        } else {
            &self.revs[rev as usize]
        };
        let mut kvs: Vec<KeyValue> = snap
            .iter()
            .filter(|(k, _)| in_range(&r.key, &r.range_end, k))
            .map(|(_, kv)| kv.clone())
            .collect();
        let count = kvs.len() as i64;
        if r.count_only {
            kvs.clear();
        }
        kvs.retain(|kv| {
            (r.min_mod_revision == 0 || kv.mod_revision >= r.min_mod_revision)
                && (r.max_mod_revision == 0 || kv.mod_revision <= r.max_mod_revision)
                && (r.min_create_revision == 0 || kv.create_revision >= r.min_create_revision)
                && (r.max_create_revision == 0 || kv.create_revision <= r.max_create_revision)
        });
        let target = SortTarget::try_from(r.sort_target).unwrap();
        let mut order = SortOrder::try_from(r.sort_order).unwrap();
        let filtered = r.min_mod_revision != 0
            || r.max_mod_revision != 0
            || r.min_create_revision != 0
            || r.max_create_revision != 0;
        // etcd reads only limit + 1 keys (in key order) unless the request
        // names a sort order or a filter; a sort target with order NONE
        // then sorts just those.
        if order == SortOrder::None && !filtered && r.limit > 0 {
            kvs.truncate(r.limit as usize + 1);
        }
        if target != SortTarget::Key && order == SortOrder::None {
            order = SortOrder::Ascend;
        }
        let field = |kv: &KeyValue| -> (i64, Vec<u8>) {
            match target {
                SortTarget::Key => (0, kv.key.clone()),
                SortTarget::Version => (kv.version, Vec::new()),
                SortTarget::Create => (kv.create_revision, Vec::new()),
                SortTarget::Mod => (kv.mod_revision, Vec::new()),
                SortTarget::Value => (0, kv.value.clone()),
            }
        };
        match order {
            SortOrder::None => {}
            SortOrder::Ascend => kvs.sort_by_key(field),
            // Stable: equal elements keep ascending key order.
            SortOrder::Descend => kvs.sort_by_key(|kv| std::cmp::Reverse(field(kv))),
        }
        let mut more = false;
        if r.limit > 0 && kvs.len() as i64 > r.limit {
            kvs.truncate(r.limit as usize);
            more = true;
        }
        if r.keys_only {
            for kv in &mut kvs {
                kv.value.clear();
            }
        }
        Ok(RangeResponse {
            header: header(self.current().max(read_rev)),
            kvs,
            more,
            count,
        })
    }

    fn put(&mut self, p: &PutRequest) -> Result<Applied, StoreError> {
        if p.lease != 0 && !self.leases.contains(&p.lease) {
            return Err(StoreError::LeaseNotFound);
        }
        if (p.ignore_value || p.ignore_lease) && !self.state().contains_key(&p.key) {
            return Err(StoreError::KeyNotFound);
        }
        let mut w = self.pending();
        let resp = w.put(p);
        let done = w.commit();
        self.push(done);
        Ok(Applied::Put(resp))
    }

    fn delete(&mut self, d: &DeleteRangeRequest) -> Result<Applied, StoreError> {
        let mut w = self.pending();
        let resp = w.delete(d);
        let done = w.commit();
        self.push(done);
        Ok(Applied::DeleteRange(resp))
    }

    fn compare(&self, c: &Compare) -> bool {
        let kvs: Vec<&KeyValue> = self
            .state()
            .values()
            .filter(|kv| in_range(&c.key, &c.range_end, &kv.key))
            .collect();
        let target = CompareTarget::try_from(c.target).unwrap();
        let zero = KeyValue::default();
        let kvs = if kvs.is_empty() {
            if target == CompareTarget::Value {
                return false;
            }
            vec![&zero]
        } else {
            kvs
        };
        kvs.iter().all(|kv| {
            let ord = match c.target_union.as_ref().unwrap() {
                TargetUnion::Value(v) => kv.value.as_slice().cmp(v.as_slice()),
                TargetUnion::Version(v) => kv.version.cmp(v),
                TargetUnion::CreateRevision(v) => kv.create_revision.cmp(v),
                TargetUnion::ModRevision(v) => kv.mod_revision.cmp(v),
                TargetUnion::Lease(v) => kv.lease.cmp(v),
            };
            match CompareResult::try_from(c.result).unwrap() {
                CompareResult::Equal => ord.is_eq(),
                CompareResult::NotEqual => ord.is_ne(),
                CompareResult::Greater => ord.is_gt(),
                CompareResult::Less => ord.is_lt(),
            }
        })
    }

    /// The check etcd's gRPC layer (and the store) makes on each branch.
    fn duplicate_key(ops: &[RequestOp]) -> bool {
        let mut puts = BTreeSet::new();
        let dels: Vec<&DeleteRangeRequest> = ops
            .iter()
            .filter_map(|o| match &o.request {
                Some(Request::RequestDeleteRange(d)) => Some(d),
                _ => None,
            })
            .collect();
        for o in ops {
            if let Some(Request::RequestPut(p)) = &o.request {
                if !puts.insert(p.key.clone())
                    || dels.iter().any(|d| in_range(&d.key, &d.range_end, &p.key))
                {
                    return true;
                }
            }
        }
        false
    }

    fn txn(&mut self, t: &TxnRequest) -> Result<Applied, StoreError> {
        if Self::duplicate_key(&t.success) || Self::duplicate_key(&t.failure) {
            return Err(StoreError::DuplicateKey);
        }
        let ok = t.compare.iter().all(|c| self.compare(c));
        let ops = if ok { &t.success } else { &t.failure };
        let current = self.current();
        for o in ops {
            if let Some(Request::RequestPut(p)) = &o.request {
                if (p.ignore_value || p.ignore_lease) && !self.state().contains_key(&p.key) {
                    return Err(StoreError::KeyNotFound);
                }
                if p.lease != 0 && !self.leases.contains(&p.lease) {
                    return Err(StoreError::LeaseNotFound);
                }
            }
        }
        for o in ops {
            if let Some(Request::RequestRange(r)) = &o.request {
                if r.revision > current {
                    return Err(StoreError::FutureRevision);
                }
                if r.revision > 0 && r.revision < self.compacted {
                    return Err(StoreError::Compacted);
                }
            }
        }
        let mut w = self.pending();
        let mut responses = Vec::new();
        for o in ops {
            let r = match o.request.as_ref().unwrap() {
                Request::RequestPut(p) => Response::ResponsePut(w.put(p)),
                Request::RequestDeleteRange(d) => Response::ResponseDeleteRange(w.delete(d)),
                Request::RequestRange(r) => {
                    Response::ResponseRange(w.range(r).expect("checked above"))
                }
                Request::RequestTxn(_) => unreachable!("not generated"),
            };
            responses.push(ResponseOp { response: Some(r) });
        }
        let rev = w.read_rev();
        let done = w.commit();
        self.push(done);
        Ok(Applied::Txn(TxnResponse {
            header: header(rev),
            succeeded: ok,
            responses,
        }))
    }

    fn compact(&mut self, rev: i64) -> Result<Applied, StoreError> {
        if rev <= self.compacted {
            return Err(StoreError::Compacted);
        }
        if rev > self.current() {
            return Err(StoreError::FutureRevision);
        }
        self.compacted = rev;
        Ok(Applied::Compaction(CompactionResponse {
            header: header(self.current()),
        }))
    }

    fn lease_grant(&mut self, id: i64) -> Result<Applied, StoreError> {
        if !self.leases.insert(id) {
            return Err(StoreError::LeaseExists);
        }
        Ok(Applied::LeaseGrant(LeaseGrantResponse {
            header: header(self.current()),
            id,
            ttl: LEASE_TTL,
            error: String::new(),
        }))
    }

    fn lease_revoke(&mut self, id: i64) -> Result<Applied, StoreError> {
        if !self.leases.remove(&id) {
            return Err(StoreError::LeaseNotFound);
        }
        let keys: Vec<Vec<u8>> = self
            .state()
            .values()
            .filter(|kv| kv.lease == id)
            .map(|kv| kv.key.clone())
            .collect();
        let mut w = self.pending();
        for k in keys {
            w.delete(&DeleteRangeRequest {
                key: k,
                ..Default::default()
            });
        }
        let rev = w.read_rev();
        let done = w.commit();
        self.push(done);
        Ok(Applied::LeaseRevoke(LeaseRevokeResponse {
            header: header(rev),
        }))
    }

    /// The watch history from `from` (at most `max` revisions). At the
    /// compacted revision itself only what compaction kept is left: the
    /// puts, without previous values.
    fn events_since(&self, from: i64, max: usize) -> Result<Vec<RevisionEvents>, i64> {
        if from < self.compacted {
            return Err(self.compacted);
        }
        let mut out = Vec::new();
        for rev in from.max(1)..=self.current() {
            if out.len() == max {
                break;
            }
            let mut events = self.events[rev as usize].clone();
            if rev == self.compacted {
                events.retain(|e| e.r#type == EventType::Put as i32);
                for e in &mut events {
                    e.prev_kv = None;
                }
            }
            if !events.is_empty() {
                out.push(RevisionEvents {
                    revision: rev,
                    events,
                });
            }
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------
// The system under test
// ---------------------------------------------------------------------------

/// A memory backend that outlives the store on it, so that a "restart"
/// reopens the store on the same rows.
#[derive(Clone, Default)]
struct SharedMem(Arc<MemBackend>);

impl Backend for SharedMem {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(key)
    }
    fn scan_each(
        &self,
        start: &[u8],
        end: &[u8],
        f: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.0.scan_each(start, end, f)
    }
    fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.0.write(batch)
    }
    fn flush(&self) -> Result<(), StoreError> {
        self.0.flush()
    }
    fn size_bytes(&self) -> u64 {
        self.0.size_bytes()
    }
    fn defragment(&self) -> Result<(), StoreError> {
        self.0.defragment()
    }
}

enum Disk {
    Mem(SharedMem),
    Sled(tempfile::TempDir),
}

fn config() -> StoreConfig {
    StoreConfig {
        min_lease_ttl: 1,
        // A small ring, so that the history is read from the rows often.
        history_revisions: 4,
    }
}

/// Opens sled in `dir`, waiting for a just-dropped instance's background
/// writes to let go of the directory lock.
fn open_sled(dir: &Path) -> SledBackend {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match SledBackend::open(dir) {
            Ok(b) => return b,
            Err(e) if e.to_string().contains("could not acquire lock") => {
                assert!(std::time::Instant::now() < deadline, "sled lock held: {e}");
                std::thread::yield_now();
            }
            Err(e) => panic!("open sled: {e}"),
        }
    }
}

impl Disk {
    fn open(&self) -> Store {
        let backend: Box<dyn Backend> = match self {
            Disk::Mem(m) => Box::new(m.clone()),
            // Through a write buffer handing over every few rows, as the
            // server runs it (it flushes before every restart).
            Disk::Sled(dir) => Box::new(WriteBuffer::with_limits(
                open_sled(dir.path()),
                5,
                std::time::Duration::from_secs(3600),
            )),
        };
        Store::open(backend, config()).expect("open store")
    }
}

struct Sut {
    disk: Disk,
    store: Option<Store>,
    /// Fed the same entries in groups, never restarted: must answer and
    /// hash the same.
    twin: Store,
    /// Entries for the twin's next group, with the answer of `store`.
    twin_pending: Vec<(u64, RaftRequest, Result<Applied, StoreError>)>,
    index: u64,
}

impl Sut {
    fn new(sled: bool) -> Self {
        let disk = if sled {
            Disk::Sled(tempfile::tempdir().expect("tempdir"))
        } else {
            Disk::Mem(SharedMem::default())
        };
        let store = disk.open();
        Sut {
            disk,
            store: Some(store),
            // Behind a write buffer that hands over every few rows, so
            // reads and compactions also meet rows on both sides of it.
            twin: Store::open(
                Box::new(WriteBuffer::with_limits(
                    MemBackend::default(),
                    7,
                    std::time::Duration::from_secs(3600),
                )),
                config(),
            )
            .unwrap(),
            twin_pending: Vec::new(),
            index: 0,
        }
    }

    fn store(&self) -> &Store {
        self.store.as_ref().unwrap()
    }

    fn apply(&mut self, op: RaftOp) -> Result<Applied, StoreError> {
        self.index += 1;
        let req = RaftRequest {
            id: self.index,
            op: Some(op),
            proposed_at_ms: 0,
            ..Default::default()
        };
        let got = self.store().apply(self.index, 3, &req);
        self.twin_pending.push((self.index, req, got.clone()));
        got
    }

    /// Applies the entries since the last call to the twin, as one group.
    fn apply_twin_group(&mut self) {
        let mut group = self.twin.begin_group();
        for (index, req, want) in self.twin_pending.drain(..) {
            assert_eq!(group.apply(index, 3, &req), want, "twin (grouped) differs");
        }
        group.commit().expect("commit group");
    }

    fn restart(&mut self) {
        self.store().flush().unwrap();
        drop(self.store.take());
        self.store = Some(self.disk.open());
    }
}

// ---------------------------------------------------------------------------
// Running a sequence
// ---------------------------------------------------------------------------

fn full_range(rev: i64) -> RangeRequest {
    RangeRequest {
        key: vec![0],
        range_end: vec![0],
        revision: rev,
        ..Default::default()
    }
}

fn check_everything(m: &Model, s: &Sut) {
    let store = s.store();
    let st = store.status();
    assert_eq!(st.revision, m.current(), "current revision");
    assert_eq!(st.compacted_revision, m.compacted, "compacted revision");
    assert_eq!(st.applied_index, s.index, "applied index");
    for rev in m.compacted.max(1)..=m.current() {
        let want = m.range(&full_range(rev), m.current(), m.state());
        assert_eq!(store.range(&full_range(rev)), want, "all keys at {rev}");
    }
    if m.compacted > 1 {
        let r = store.range(&full_range(m.compacted - 1));
        assert_eq!(r, Err(StoreError::Compacted));
    }
    let got: Result<Vec<RevisionEvents>, i64> = store
        .events_since(m.compacted, usize::MAX)
        .map(|v| v.iter().map(|e| (**e).clone()).collect())
        .map_err(|e| {
            e.compacted_revision()
                .expect("in-memory history is readable")
        });
    assert_eq!(got, m.events_since(m.compacted, usize::MAX), "history");
    let leases: Vec<i64> = store.leases().iter().map(|(id, _)| *id).collect();
    assert_eq!(leases, m.leases.iter().copied().collect::<Vec<_>>());
    for id in &m.leases {
        let keys: BTreeSet<Vec<u8>> = m
            .state()
            .values()
            .filter(|kv| kv.lease == *id)
            .map(|kv| kv.key.clone())
            .collect();
        assert_eq!(store.lease(*id).unwrap().keys, keys, "keys of lease {id}");
    }
    assert_eq!(store.hash_kv(0), s.twin.hash_kv(0), "hash_kv of twin");
    assert_eq!(store.hash_all(), s.twin.hash_all(), "rows of twin");
    let twin_history: Result<Vec<RevisionEvents>, i64> = s
        .twin
        .events_since(m.compacted, usize::MAX)
        .map(|v| v.iter().map(|e| (**e).clone()).collect())
        .map_err(|e| e.compacted_revision().expect("readable"));
    assert_eq!(twin_history, got, "history of twin");
}

fn run(ops: &[Op], sled: bool) {
    let mut m = Model::new();
    let mut s = Sut::new(sled);
    for op in ops {
        let current = m.current();
        match op {
            Op::Put(p) => {
                let req = put_request(p);
                validate::check_put(&req).expect("generated puts are valid");
                let got = s.apply(RaftOp::Put(req.clone()));
                assert_eq!(got, m.put(&req), "{op:?}");
            }
            Op::Del(r, prev_kv) => {
                let req = del_request(r, *prev_kv);
                let got = s.apply(RaftOp::DeleteRange(req.clone()));
                assert_eq!(got, m.delete(&req), "{op:?}");
            }
            Op::Txn(c, succ, fail) => {
                let req = txn_request(c, succ, fail, current);
                let want = m.txn(&req);
                let reads_only = succ.iter().chain(fail).all(|o| matches!(o, TxnOp::Get(_)));
                if reads_only {
                    // The read path for txns that cannot write.
                    let got = s.store().txn_read_only(&req).expect("read-only txn");
                    assert_eq!(got.map(Applied::Txn), want, "read-only {req:?}");
                }
                match validate::check_txn(&req, 128) {
                    Err(e) => assert_eq!(Err(e), want, "validation of {op:?}"),
                    Ok(()) => {
                        let got = s.apply(RaftOp::Txn(req.clone()));
                        assert_eq!(got, want, "{req:?}");
                    }
                }
            }
            Op::Compact(sel) => {
                let rev = 1 + i64::from(*sel) % (current + 1);
                let got = s.apply(RaftOp::Compaction(CompactionRequest {
                    revision: rev,
                    physical: false,
                }));
                assert_eq!(got, m.compact(rev), "compact {rev}");
            }
            Op::Get(g) => {
                s.apply_twin_group();
                let req = range_request(g, current);
                let got = s.store().range(&req);
                assert_eq!(got, m.range(&req, current, m.state()), "{req:?}");
            }
            Op::Events(sel, max) => {
                s.apply_twin_group();
                let from = pick_rev(*sel, current);
                let got: Result<Vec<RevisionEvents>, i64> = s
                    .store()
                    .events_since(from, *max)
                    .map(|v| v.iter().map(|e| (**e).clone()).collect())
                    .map_err(|e| {
                        e.compacted_revision()
                            .expect("in-memory history is readable")
                    });
                assert_eq!(got, m.events_since(from, *max), "events from {from}");
            }
            Op::LeaseGrant(id) => {
                let got = s.apply(RaftOp::LeaseGrant(LeaseGrantRequest {
                    id: *id,
                    ttl: LEASE_TTL,
                }));
                assert_eq!(got, m.lease_grant(*id), "{op:?}");
            }
            Op::LeaseRevoke(id) => {
                let got = s.apply(RaftOp::LeaseRevoke(LeaseRevokeRequest { id: *id }));
                assert_eq!(got, m.lease_revoke(*id), "{op:?}");
            }
            Op::Restart => {
                s.apply_twin_group();
                s.restart();
            }
        }
        let st = s.store().status();
        assert_eq!(
            (st.revision, st.compacted_revision, st.applied_index),
            (m.current(), m.compacted, s.index),
            "after {op:?}"
        );
    }
    s.apply_twin_group();
    check_everything(&m, &s);
    s.restart();
    check_everything(&m, &s);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    })]

    /// On a memory backend that survives restarts: many cases, long runs.
    #[test]
    fn store_matches_model(ops in prop::collection::vec(op(), 1..80)) {
        run(&ops, false);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        max_shrink_iters: 512,
        ..ProptestConfig::default()
    })]

    /// On sled, restarts reopening the data dir.
    #[test]
    fn sled_store_matches_model(ops in prop::collection::vec(op(), 1..60)) {
        run(&ops, true);
    }
}
