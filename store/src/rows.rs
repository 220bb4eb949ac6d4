//! Row keys of the single backend keyspace, one prefix byte per kind.
//!
//! | prefix | row key                    | value                              |
//! |--------|----------------------------|------------------------------------|
//! | `k`    | revision (+ `t` tombstone) | `mvccpb.KeyValue`, protobuf        |
//! | `m`    | metadata name              | fixed-width big-endian integer     |
//! | `l`    | lease id, big-endian       | granted TTL, big-endian i64        |
//! | `a`    | member id, alarm type      | empty                              |
//! | `c`    | name (cluster data)        | owned by raft-node                 |
//! | `u`    | `auth`                     | `etcdrs.AuthStateRecord`, protobuf |

use crate::revision::Revision;

pub const KV: u8 = b'k';
pub const META: u8 = b'm';
pub const LEASE: u8 = b'l';
pub const ALARM: u8 = b'a';
pub const CLUSTER: u8 = b'c';
pub const AUTH: u8 = b'u';

/// The single row holding users, roles and the auth flag and revision.
pub const AUTH_STATE: &[u8] = b"uauth";

pub const META_APPLIED_INDEX: &[u8] = b"mapplied_index";
pub const META_APPLIED_TERM: &[u8] = b"mapplied_term";
pub const META_CURRENT_REV: &[u8] = b"mcurrent_rev";
pub const META_COMPACTED_REV: &[u8] = b"mcompacted_rev";

pub fn kv_key(rev: Revision, tombstone: bool) -> Vec<u8> {
    let mut k = vec![KV];
    k.extend_from_slice(&rev.to_bytes(tombstone));
    k
}

/// First row key of main revision `main`.
pub fn kv_main_start(main: i64) -> Vec<u8> {
    kv_key(Revision::new(main, 0), false)
}

pub fn lease_key(id: i64) -> Vec<u8> {
    let mut k = vec![LEASE];
    k.extend_from_slice(&id.to_be_bytes());
    k
}

pub fn alarm_key(member: u64, alarm: i32) -> Vec<u8> {
    let mut k = vec![ALARM];
    k.extend_from_slice(&member.to_be_bytes());
    k.extend_from_slice(&alarm.to_be_bytes());
    k
}

pub fn cluster_key(name: &str) -> Vec<u8> {
    let mut k = vec![CLUSTER];
    k.extend_from_slice(name.as_bytes());
    k
}

/// The key range covering every row of one prefix.
pub fn prefix_range(prefix: u8) -> (Vec<u8>, Vec<u8>) {
    (vec![prefix], vec![prefix + 1])
}

pub fn u64_bytes(v: u64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

pub fn i64_bytes(v: i64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

pub fn read_u64(b: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(b.try_into().ok()?))
}

pub fn read_i64(b: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(b.try_into().ok()?))
}
