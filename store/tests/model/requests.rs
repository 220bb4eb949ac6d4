//! The store requests an operation becomes.

use etcd_proto::etcdserverpb::compare::{CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::request_op::Request;
use etcd_proto::etcdserverpb::{
    Compare, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};

use crate::ops::*;

// ---------------------------------------------------------------------------
// Turning selectors into requests
// ---------------------------------------------------------------------------

pub(crate) fn key(i: usize) -> Vec<u8> {
    KEYS[i].as_bytes().to_vec()
}

pub(crate) fn bounds(sel: &KeySel) -> (Vec<u8>, Vec<u8>) {
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
pub(crate) fn pick_rev(sel: u8, current: i64) -> i64 {
    i64::from(sel) % (current + 2)
}

pub(crate) fn put_request(p: &PutOp) -> PutRequest {
    PutRequest {
        key: key(p.key),
        value: VALUES[p.value].as_bytes().to_vec(),
        lease: p.lease,
        prev_kv: p.prev_kv,
        ignore_value: p.ignore_value,
        ignore_lease: p.ignore_lease,
    }
}

pub(crate) fn del_request(sel: &KeySel, prev_kv: bool) -> DeleteRangeRequest {
    let (key, range_end) = bounds(sel);
    DeleteRangeRequest {
        key,
        range_end,
        prev_kv,
    }
}

pub(crate) fn range_request(g: &GetOp, current: i64) -> RangeRequest {
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

pub(crate) fn compare(c: &CmpOp, current: i64) -> Compare {
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

pub(crate) fn txn_request(
    cmps: &[CmpOp],
    succ: &[TxnOp],
    fail: &[TxnOp],
    current: i64,
) -> TxnRequest {
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
