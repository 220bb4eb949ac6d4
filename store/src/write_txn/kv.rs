//! Put, delete range and txn requests (with their compares) as one
//! [`WriteTxn`]'s changes.

use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::request_op::Request;
use etcd_proto::etcdserverpb::response_op::Response as OpResponse;
use etcd_proto::etcdserverpb::{
    Compare, DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, RangeRequest,
    ResponseHeader, ResponseOp, TxnRequest, TxnResponse,
};
use etcd_proto::mvccpb::KeyValue;

use crate::error::StoreError;

use super::*;

impl WriteTxn<'_> {
    pub(crate) fn check_put(&self, p: &PutRequest) -> Result<(), StoreError> {
        if (p.ignore_value || p.ignore_lease) && self.get(&p.key)?.is_none() {
            return Err(StoreError::KeyNotFound);
        }
        if p.lease != 0 && !self.st.leases.contains_key(&p.lease) {
            return Err(StoreError::LeaseNotFound);
        }
        Ok(())
    }

    pub(crate) fn check_range(&self, r: &RangeRequest) -> Result<(), StoreError> {
        if r.revision > self.read_rev() {
            return Err(StoreError::FutureRevision);
        }
        if r.revision > 0 && r.revision < self.st.compacted_rev {
            return Err(StoreError::Compacted);
        }
        Ok(())
    }

    pub(crate) fn put_request(&mut self, p: &PutRequest) -> Result<PutResponse, StoreError> {
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

    pub(crate) fn delete_range_request(
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

    pub(crate) fn txn_request(&mut self, t: &TxnRequest) -> Result<TxnResponse, StoreError> {
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
    pub(crate) fn txn_path(&self, t: &TxnRequest, path: &mut Vec<bool>) -> Result<(), StoreError> {
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

    pub(crate) fn compare(&self, c: &Compare) -> Result<bool, StoreError> {
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
    pub(crate) fn check_txn(
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

    pub(crate) fn apply_txn(
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
