//! Store snapshot bodies, as a leader sends them to a follower far behind:
//! decoding, installing into a store (on a `MemBackend`), and reading the
//! installed store. Garbage must end in an error, never a panic.
//!
//! Half the inputs are a fuzzed body after the magic; the other half splice
//! fuzzed bytes into a real snapshot (keys, deletes, a lease, a compaction,
//! auth users and roles), so the rebuild paths see realistic rows.
#![no_main]

use std::sync::OnceLock;

use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::RaftRequest;
use etcd_proto::etcdserverpb::{
    AuthRoleAddRequest, AuthUserAddRequest, AuthUserGrantRoleRequest, CompactionRequest,
    DeleteRangeRequest, LeaseGrantRequest, PutRequest, RangeRequest,
};
use etcd_store::snapshot::{parse_snapshot, SNAPSHOT_MAGIC};
use etcd_store::{MemBackend, Store, StoreConfig};
use libfuzzer_sys::fuzz_target;

fn store() -> Store {
    Store::open(Box::new(MemBackend::default()), StoreConfig::default()).expect("open store")
}

fn canned() -> &'static [u8] {
    static BODY: OnceLock<Vec<u8>> = OnceLock::new();
    BODY.get_or_init(|| {
        let s = store();
        let ops = vec![
            Op::LeaseGrant(LeaseGrantRequest { ttl: 60, id: 7 }),
            Op::Put(PutRequest {
                key: b"a".to_vec(),
                value: b"1".to_vec(),
                lease: 7,
                ..Default::default()
            }),
            Op::Put(PutRequest {
                key: b"b".to_vec(),
                value: b"2".to_vec(),
                ..Default::default()
            }),
            Op::Put(PutRequest {
                key: b"a".to_vec(),
                value: b"3".to_vec(),
                ..Default::default()
            }),
            Op::DeleteRange(DeleteRangeRequest {
                key: b"b".to_vec(),
                ..Default::default()
            }),
            Op::Compaction(CompactionRequest {
                revision: 3,
                ..Default::default()
            }),
            Op::RoleAdd(AuthRoleAddRequest { name: "r".into() }),
            Op::UserAdd(AuthUserAddRequest {
                name: "u".into(),
                hashed_password: "x".into(),
                ..Default::default()
            }),
            Op::UserGrantRole(AuthUserGrantRoleRequest {
                user: "u".into(),
                role: "r".into(),
            }),
        ];
        for (i, op) in ops.into_iter().enumerate() {
            let req = RaftRequest {
                op: Some(op),
                ..Default::default()
            };
            s.apply(i as u64 + 1, 1, &req).expect("apply");
        }
        s.snapshot().expect("snapshot")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let body = if mode & 1 == 0 {
        [SNAPSHOT_MAGIC, rest].concat()
    } else {
        let base = canned();
        let at = match rest {
            [a, b, ..] => SNAPSHOT_MAGIC.len() + u16::from_le_bytes([*a, *b]) as usize,
            _ => base.len(),
        };
        let at = at.min(base.len());
        let mut body = base[..at].to_vec();
        body.extend_from_slice(rest.get(2..).unwrap_or_default());
        if mode & 2 != 0 {
            // Keep the original tail too (an overwrite rather than a cut).
            let skip = (at + rest.len().saturating_sub(2)).min(base.len());
            body.extend_from_slice(&base[skip..]);
        }
        body
    };
    let _ = parse_snapshot(&body);
    let s = store();
    if s.install_snapshot(&body).is_ok() {
        let _ = s.range(&RangeRequest {
            key: vec![0],
            range_end: vec![0],
            ..Default::default()
        });
        let _ = s.hash_kv(0);
        let _ = s.leases();
        let _ = s.status();
        let _ = s.events_since(1, 16);
    }
});
