//! The operations a sequence is made of, and their proptest strategies.

use proptest::prelude::*;

pub(crate) const KEYS: [&str; 6] = ["a", "aa", "ab", "b", "ba", "c"];
pub(crate) const VALUES: [&str; 4] = ["", "v1", "v2", "zz"];
pub(crate) const LEASE_TTL: i64 = 10;

// ---------------------------------------------------------------------------
// Operations, as generated. Revisions are chosen when the op runs, from
// selectors, so that they land near the store's current revision.
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub(crate) enum KeySel {
    Single(usize),
    Prefix(usize),
    FromKey(usize),
    Between(usize, usize),
    All,
}

#[derive(Clone, Debug)]
pub(crate) struct PutOp {
    pub(crate) key: usize,
    pub(crate) value: usize,
    /// 0: no lease, else lease id 1..=3.
    pub(crate) lease: i64,
    pub(crate) prev_kv: bool,
    pub(crate) ignore_value: bool,
    pub(crate) ignore_lease: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct GetOp {
    pub(crate) range: KeySel,
    pub(crate) rev: u8,
    pub(crate) limit: i64,
    pub(crate) sort: (i32, i32),
    pub(crate) keys_only: bool,
    pub(crate) count_only: bool,
    /// (min_mod, max_mod, min_create, max_create) selectors; 0 = unset.
    pub(crate) filters: [u8; 4],
}

#[derive(Clone, Debug)]
pub(crate) enum TxnOp {
    Put(PutOp),
    Del(KeySel, bool),
    Get(GetOp),
}

#[derive(Clone, Debug)]
pub(crate) struct CmpOp {
    pub(crate) target: i32,
    pub(crate) result: i32,
    pub(crate) range: KeySel,
    pub(crate) operand: u8,
}

#[derive(Clone, Debug)]
pub(crate) enum Op {
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

pub(crate) fn key_sel() -> impl Strategy<Value = KeySel> {
    let k = 0..KEYS.len();
    prop_oneof![
        4 => k.clone().prop_map(KeySel::Single),
        1 => k.clone().prop_map(KeySel::Prefix),
        1 => k.clone().prop_map(KeySel::FromKey),
        1 => (k.clone(), k).prop_map(|(a, b)| KeySel::Between(a, b)),
        1 => Just(KeySel::All),
    ]
}

pub(crate) fn put_op() -> impl Strategy<Value = PutOp> {
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

pub(crate) fn get_op() -> impl Strategy<Value = GetOp> {
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

pub(crate) fn txn_op() -> impl Strategy<Value = TxnOp> {
    prop_oneof![
        3 => put_op().prop_map(TxnOp::Put),
        1 => (key_sel(), any::<bool>()).prop_map(|(r, p)| TxnOp::Del(r, p)),
        2 => get_op().prop_map(TxnOp::Get),
    ]
}

pub(crate) fn cmp_op() -> impl Strategy<Value = CmpOp> {
    (0..5i32, 0..4i32, key_sel(), any::<u8>()).prop_map(|(target, result, range, operand)| CmpOp {
        target,
        result,
        range,
        operand,
    })
}

pub(crate) fn op() -> impl Strategy<Value = Op> {
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
