//! Whole-store snapshots: one consistent copy of every backend row.
//!
//! The same body serves three purposes: raft snapshots (a follower far behind
//! installs it), `Maintenance.Snapshot` (a client backs the store up), and
//! restore (a new data dir starts from it). Format, all integers big-endian:
//!
//! ```text
//! MAGIC, then per row: u32 key length, u32 value length, key, value,
//! then u32 0xFFFF_FFFF as the end mark.
//! ```
//!
//! Backups pad the body with zeros to a multiple of 512 bytes and add a
//! sha256 of it as a 32-byte trailer, as etcd does for its snapshot stream
//! (etcd clients check `size % 512 == 32` before accepting a download), so a
//! truncated or altered file is detected.

use sha2::{Digest, Sha256};

use crate::backend::{Row, WriteBatch};
use crate::error::StoreError;
use crate::store::Store;

/// A snapshot body and the raft position it reflects.
#[derive(Clone, Debug)]
pub struct SnapshotImage {
    pub body: Vec<u8>,
    pub applied_index: u64,
    pub applied_term: u64,
    /// The cluster row asked for, as of the same instant.
    pub row: Option<Vec<u8>>,
}

pub const SNAPSHOT_MAGIC: &[u8] = b"etcd-rs snapshot v1\n";
const END_MARK: u32 = u32::MAX;
const SHA256_LEN: usize = 32;

impl Store {
    /// A consistent copy of the whole store.
    pub fn snapshot(&self) -> Result<Vec<u8>, StoreError> {
        Ok(self.snapshot_with_meta("")?.body)
    }

    /// A consistent copy of the whole store, with the raft index and term
    /// it reflects and the cluster row `row` read at the same instant (for
    /// raft snapshots, which must describe exactly the data they carry).
    pub fn snapshot_with_meta(&self, row: &str) -> Result<SnapshotImage, StoreError> {
        let s = self.read_state();
        let mut body = SNAPSHOT_MAGIC.to_vec();
        self.backend.scan_each(&[], &[0xff, 0xff], &mut |k, v| {
            body.extend_from_slice(&(k.len() as u32).to_be_bytes());
            body.extend_from_slice(&(v.len() as u32).to_be_bytes());
            body.extend_from_slice(k);
            body.extend_from_slice(v);
            true
        })?;
        body.extend_from_slice(&END_MARK.to_be_bytes());
        Ok(SnapshotImage {
            body,
            applied_index: s.applied_index,
            applied_term: s.applied_term,
            row: self.backend.get(&crate::rows::cluster_key(row))?,
        })
    }

    /// Replaces the whole store with a snapshot body (atomically).
    pub fn install_snapshot(&self, body: &[u8]) -> Result<(), StoreError> {
        let rows = parse_snapshot(body)?;
        self.replace_rows(|backend| {
            let mut batch = WriteBatch::default();
            backend.scan_each(&[], &[0xff, 0xff], &mut |k, _| {
                batch.delete(k.to_vec());
                true
            })?;
            for (k, v) in rows {
                batch.put(k, v);
            }
            backend.write(batch)
        })
    }
}

/// What a backup file holds, for `snapshot status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotSummary {
    /// CRC-32 of the snapshot body (without padding and trailer).
    pub hash: u32,
    /// The store's revision in the snapshot.
    pub revision: i64,
    /// Number of rows (keys of every kind).
    pub total_keys: usize,
    /// Size of the file in bytes.
    pub total_size: usize,
}

/// Checks a backup file (sha256 trailer, format) and summarises it.
pub fn summarize_backup(file: &[u8]) -> Result<SnapshotSummary, StoreError> {
    let padded = verify_sha256(file)?;
    let rows = parse_snapshot(padded)?;
    let revision = rows
        .iter()
        .find(|(k, _)| k.as_slice() == crate::rows::META_CURRENT_REV)
        .and_then(|(_, v)| crate::rows::read_u64(v))
        .map_or(1, |r| r as i64);
    Ok(SnapshotSummary {
        hash: crc32fast::hash(padded),
        revision,
        total_keys: rows.len(),
        total_size: file.len(),
    })
}

impl Store {
    /// Prepares a store restored from a backup to start a NEW cluster: keeps
    /// the key-value data, revisions and leases, forgets the old cluster
    /// (members, raft configuration, alarms) and the raft position, so the new
    /// cluster's log starts from index 1.
    pub fn reset_for_new_cluster(&self) -> Result<(), StoreError> {
        self.replace_rows(|backend| {
            let mut batch = WriteBatch::default();
            for prefix in [crate::rows::CLUSTER, crate::rows::ALARM] {
                let (start, end) = crate::rows::prefix_range(prefix);
                backend.scan_each(&start, &end, &mut |k, _| {
                    batch.delete(k.to_vec());
                    true
                })?;
            }
            batch.delete(crate::rows::META_APPLIED_INDEX.to_vec());
            batch.delete(crate::rows::META_APPLIED_TERM.to_vec());
            backend.write(batch)
        })
    }
}

/// Decodes a snapshot body into its rows.
pub fn parse_snapshot(body: &[u8]) -> Result<Vec<Row>, StoreError> {
    let bad = |what: &str| StoreError::Corrupt(format!("snapshot: {what}"));
    let mut rest = body
        .strip_prefix(SNAPSHOT_MAGIC)
        .ok_or_else(|| bad("not an etcd-rs snapshot (bad magic)"))?;
    let mut rows = Vec::new();
    loop {
        let (klen, r) = take_u32(rest).ok_or_else(|| bad("truncated"))?;
        if klen == END_MARK {
            if r.iter().any(|&b| b != 0) {
                return Err(bad("trailing bytes after end mark"));
            }
            return Ok(rows);
        }
        let (vlen, r) = take_u32(r).ok_or_else(|| bad("truncated"))?;
        let (klen, vlen) = (klen as usize, vlen as usize);
        if r.len() < klen + vlen {
            return Err(bad("truncated row"));
        }
        rows.push((r[..klen].to_vec(), r[klen..klen + vlen].to_vec()));
        rest = &r[klen + vlen..];
    }
}

fn take_u32(b: &[u8]) -> Option<(u32, &[u8])> {
    let head: [u8; 4] = b.get(..4)?.try_into().ok()?;
    Some((u32::from_be_bytes(head), &b[4..]))
}

/// Pads `body` to a multiple of 512 bytes and appends the sha256 trailer
/// that backups carry.
pub fn append_sha256(body: &mut Vec<u8>) {
    body.resize(body.len().div_ceil(512) * 512, 0);
    let digest = Sha256::digest(&body[..]);
    body.extend_from_slice(&digest);
}

/// Checks and strips the sha256 trailer of a backup file.
pub fn verify_sha256(file: &[u8]) -> Result<&[u8], StoreError> {
    if file.len() < SHA256_LEN {
        return Err(StoreError::Corrupt("snapshot: too short for sha256".into()));
    }
    let (body, trailer) = file.split_at(file.len() - SHA256_LEN);
    if Sha256::digest(body).as_slice() != trailer {
        return Err(StoreError::Corrupt("snapshot: sha256 mismatch".into()));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::MemBackend;
    use crate::revision::Revision;
    use crate::store::StoreConfig;
    use etcd_proto::etcdrs::RaftRequest;
    use etcd_proto::etcdserverpb::PutRequest;

    fn body_of(rows: &[Row]) -> Vec<u8> {
        let mut body = SNAPSHOT_MAGIC.to_vec();
        for (k, v) in rows {
            body.extend_from_slice(&(k.len() as u32).to_be_bytes());
            body.extend_from_slice(&(v.len() as u32).to_be_bytes());
            body.extend_from_slice(k);
            body.extend_from_slice(v);
        }
        body.extend_from_slice(&END_MARK.to_be_bytes());
        body
    }

    /// Found by the `store_snapshot` fuzz target: revision rows out of
    /// revision order (a negative revision sorts after the others) made the
    /// index rebuild panic instead of refusing the snapshot.
    #[test]
    fn revision_rows_out_of_order_are_refused() {
        let store = || Store::open(Box::new(MemBackend::default()), StoreConfig::default());
        let source = store().expect("store");
        let put = RaftRequest {
            op: Some(etcd_proto::etcdrs::raft_request::Op::Put(PutRequest {
                key: b"a".to_vec(),
                value: b"1".to_vec(),
                ..Default::default()
            })),
            ..Default::default()
        };
        source.apply(1, 1, &put).expect("apply");
        let rows = parse_snapshot(&source.snapshot().expect("snapshot")).expect("parse");
        let (_, kv) = rows
            .iter()
            .find(|(k, _)| k.first() == Some(&crate::rows::KV))
            .cloned()
            .expect("a revision row");
        let row = |rev: Revision, tombstone: bool| {
            let mut k = vec![crate::rows::KV];
            k.extend_from_slice(&rev.to_bytes(tombstone));
            (k, kv.clone())
        };
        for extra in [
            row(Revision::new(-5, 0), true),
            row(Revision::new(2, 0), true),
        ] {
            let mut damaged = rows.clone();
            damaged.push(extra);
            damaged.sort();
            let target = store().expect("store");
            let err = target
                .install_snapshot(&body_of(&damaged))
                .expect_err("a damaged snapshot must be refused");
            assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
        }
        // The undamaged body installs.
        store()
            .expect("store")
            .install_snapshot(&body_of(&rows))
            .expect("install");
    }
}
