//! The reference model: a full copy of the key space for every revision.

use std::collections::{BTreeMap, BTreeSet};

use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use etcd_proto::etcdserverpb::request_op::Request;
use etcd_proto::etcdserverpb::response_op::Response;
use etcd_proto::etcdserverpb::{
    CompactionResponse, Compare, DeleteRangeRequest, DeleteRangeResponse, LeaseGrantResponse,
    LeaseRevokeResponse, PutRequest, PutResponse, RangeRequest, RangeResponse, RequestOp,
    ResponseHeader, ResponseOp, TxnRequest, TxnResponse,
};
use etcd_proto::mvccpb::event::EventType;
use etcd_proto::mvccpb::{Event, KeyValue};
use etcd_store::{Applied, RevisionEvents, StoreError};

use crate::ops::LEASE_TTL;

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

type Snap = BTreeMap<Vec<u8>, KeyValue>;

pub(crate) struct Model {
    /// `revs[r]` is the key space at revision r (`revs[0]` is unused).
    pub(crate) revs: Vec<Snap>,
    /// `events[r]` are the changes revision r made.
    pub(crate) events: Vec<Vec<Event>>,
    pub(crate) compacted: i64,
    pub(crate) leases: BTreeSet<i64>,
}

pub(crate) fn header(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        revision,
        ..Default::default()
    })
}

pub(crate) fn in_range(key: &[u8], end: &[u8], k: &[u8]) -> bool {
    if end.is_empty() {
        k == key
    } else if end == [0] {
        k >= key
    } else {
        k >= key && k < end
    }
}

/// A write request in progress: the key space as it is being changed.
pub(crate) struct Pending<'m> {
    pub(crate) model: &'m Model,
    pub(crate) snap: Snap,
    pub(crate) events: Vec<Event>,
}

impl Pending<'_> {
    pub(crate) fn write_rev(&self) -> i64 {
        self.model.current() + 1
    }

    pub(crate) fn read_rev(&self) -> i64 {
        if self.events.is_empty() {
            self.model.current()
        } else {
            self.write_rev()
        }
    }

    pub(crate) fn put(&mut self, p: &PutRequest) -> PutResponse {
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

    pub(crate) fn delete(&mut self, d: &DeleteRangeRequest) -> DeleteRangeResponse {
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

    pub(crate) fn range(&self, r: &RangeRequest) -> Result<RangeResponse, StoreError> {
        self.model.range(r, self.read_rev(), &self.snap)
    }

    pub(crate) fn commit(self) -> Option<(Snap, Vec<Event>)> {
        (!self.events.is_empty()).then_some((self.snap, self.events))
    }
}

impl Model {
    pub(crate) fn new() -> Self {
        Model {
            revs: vec![Snap::new(), Snap::new()],
            events: vec![Vec::new(), Vec::new()],
            compacted: 0,
            leases: BTreeSet::new(),
        }
    }

    pub(crate) fn current(&self) -> i64 {
        self.revs.len() as i64 - 1
    }

    pub(crate) fn state(&self) -> &Snap {
        self.revs.last().unwrap()
    }

    pub(crate) fn pending(&self) -> Pending<'_> {
        Pending {
            model: self,
            snap: self.state().clone(),
            events: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, done: Option<(Snap, Vec<Event>)>) {
        if let Some((snap, events)) = done {
            self.revs.push(snap);
            self.events.push(events);
        }
    }

    /// etcd's Range at `read_rev`, where `working` is the key space at it.
    pub(crate) fn range(
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

    pub(crate) fn put(&mut self, p: &PutRequest) -> Result<Applied, StoreError> {
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

    pub(crate) fn delete(&mut self, d: &DeleteRangeRequest) -> Result<Applied, StoreError> {
        let mut w = self.pending();
        let resp = w.delete(d);
        let done = w.commit();
        self.push(done);
        Ok(Applied::DeleteRange(resp))
    }

    pub(crate) fn compare(&self, c: &Compare) -> bool {
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
    pub(crate) fn duplicate_key(ops: &[RequestOp]) -> bool {
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

    pub(crate) fn txn(&mut self, t: &TxnRequest) -> Result<Applied, StoreError> {
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

    pub(crate) fn compact(&mut self, rev: i64) -> Result<Applied, StoreError> {
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

    pub(crate) fn lease_grant(&mut self, id: i64) -> Result<Applied, StoreError> {
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

    pub(crate) fn lease_revoke(&mut self, id: i64) -> Result<Applied, StoreError> {
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
    pub(crate) fn events_since(&self, from: i64, max: usize) -> Result<Vec<RevisionEvents>, i64> {
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
