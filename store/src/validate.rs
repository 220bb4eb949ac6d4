//! Request validation that etcd performs before a request reaches consensus.
//!
//! The gRPC layer calls these on every incoming request; the store calls
//! [`check_txn_intervals`] again at apply time so that no request, however
//! it arrived, can change a key twice within one revision.

use std::collections::HashSet;

use etcd_proto::etcdserverpb::request_op::Request;
use etcd_proto::etcdserverpb::{
    DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};

use crate::error::StoreError;

pub fn check_range(r: &RangeRequest) -> Result<(), StoreError> {
    if r.key.is_empty() {
        return Err(StoreError::EmptyKey);
    }
    Ok(())
}

pub fn check_put(r: &PutRequest) -> Result<(), StoreError> {
    if r.key.is_empty() {
        return Err(StoreError::EmptyKey);
    }
    if r.ignore_value && !r.value.is_empty() {
        return Err(StoreError::ValueProvided);
    }
    if r.ignore_lease && r.lease != 0 {
        return Err(StoreError::LeaseProvided);
    }
    Ok(())
}

pub fn check_delete(r: &DeleteRangeRequest) -> Result<(), StoreError> {
    if r.key.is_empty() {
        return Err(StoreError::EmptyKey);
    }
    Ok(())
}

/// etcd's txn checks: op count, keys present, and no key written twice.
pub fn check_txn(r: &TxnRequest, max_txn_ops: usize) -> Result<(), StoreError> {
    check_txn_ops(r, max_txn_ops)?;
    check_txn_intervals(r)
}

fn check_txn_ops(r: &TxnRequest, max_ops: usize) -> Result<(), StoreError> {
    let ops = r.compare.len().max(r.success.len()).max(r.failure.len());
    if ops > max_ops {
        return Err(StoreError::TooManyOps);
    }
    if r.compare.iter().any(|c| c.key.is_empty()) {
        return Err(StoreError::EmptyKey);
    }
    for op in r.success.iter().chain(&r.failure) {
        check_op(op, max_ops - ops)?;
    }
    Ok(())
}

fn check_op(op: &RequestOp, max_ops: usize) -> Result<(), StoreError> {
    match &op.request {
        Some(Request::RequestRange(r)) => check_range(r),
        Some(Request::RequestPut(r)) => check_put(r),
        Some(Request::RequestDeleteRange(r)) => check_delete(r),
        Some(Request::RequestTxn(t)) => check_txn_ops(t, max_ops),
        None => Err(StoreError::KeyNotFound),
    }
}

/// True if the txn never writes, in either branch, at any depth.
pub fn txn_is_read_only(t: &TxnRequest) -> bool {
    fn ops_read_only(ops: &[RequestOp]) -> bool {
        ops.iter().all(|op| match &op.request {
            Some(Request::RequestRange(_)) | None => true,
            Some(Request::RequestTxn(t)) => txn_is_read_only(t),
            _ => false,
        })
    }
    ops_read_only(&t.success) && ops_read_only(&t.failure)
}

/// Both branches of a txn must not put a key twice, nor put a key that the
/// same branch deletes.
pub fn check_txn_intervals(r: &TxnRequest) -> Result<(), StoreError> {
    intervals(&r.success)?;
    intervals(&r.failure)?;
    Ok(())
}

/// A deleted range: `[key, end)`, a single key when `end` is empty, open
/// ended when `end` is `[0]`.
#[derive(Clone)]
struct Deleted {
    key: Vec<u8>,
    end: Vec<u8>,
}

impl Deleted {
    fn covers(&self, k: &[u8]) -> bool {
        crate::index::KeyRange::new(&self.key, &self.end).contains(k)
    }
}

/// The keys put and ranges deleted by `ops` (and their nested txns), or
/// DuplicateKey if they collide.
fn intervals(ops: &[RequestOp]) -> Result<(HashSet<Vec<u8>>, Vec<Deleted>), StoreError> {
    let mut dels: Vec<Deleted> = ops
        .iter()
        .filter_map(|op| match &op.request {
            Some(Request::RequestDeleteRange(d)) => Some(Deleted {
                key: d.key.clone(),
                end: d.range_end.clone(),
            }),
            _ => None,
        })
        .collect();
    let mut puts: HashSet<Vec<u8>> = HashSet::new();
    for op in ops {
        let Some(Request::RequestTxn(t)) = &op.request else {
            continue;
        };
        let (puts_then, dels_then) = intervals(&t.success)?;
        let (puts_else, dels_else) = intervals(&t.failure)?;
        for k in &puts_then {
            if puts.contains(k) || dels.iter().any(|d| d.covers(k)) {
                return Err(StoreError::DuplicateKey);
            }
            puts.insert(k.clone());
        }
        for k in &puts_else {
            // then/else exclude each other, so the same key in both is fine.
            if (puts.contains(k) && !puts_then.contains(k)) || dels.iter().any(|d| d.covers(k)) {
                return Err(StoreError::DuplicateKey);
            }
            puts.insert(k.clone());
        }
        dels.extend(dels_then);
        dels.extend(dels_else);
    }
    for op in ops {
        let Some(Request::RequestPut(p)) = &op.request else {
            continue;
        };
        if puts.contains(&p.key) || dels.iter().any(|d| d.covers(&p.key)) {
            return Err(StoreError::DuplicateKey);
        }
        puts.insert(p.key.clone());
    }
    Ok((puts, dels))
}
