//! Backing up a stopped member's data dir into a new data dir that
//! `etcd-rs` can start from as a new one-member cluster (`etcdctl backup`).
//!
//! The copy must be consistent: the store may lag the WAL by the entries
//! applied since its last flush, so the store and the WAL are copied to a
//! scratch directory (the source stays untouched), the WAL entries after the
//! store's applied index are applied to the copy (as with
//! `--force-new-cluster`, every entry the log holds counts as committed), and
//! the result is written by [`crate::restore`] into the backup dir: the same
//! member name and peer URLs, a new cluster.
//!
//! As etcd's, a backup keeps v3 data only when asked; otherwise only the v2
//! nodes (v3 keys under `\0v2`) survive.

use std::path::{Path, PathBuf};

use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::RaftRequest;
use etcd_proto::etcdserverpb::DeleteRangeRequest;
use etcd_store::{SledBackend, Store, StoreConfig};
use prost::Message as _;
use raft::eraftpb::{Entry, EntryType};

use crate::membership::Membership;
use crate::restore::{restore, RestoreOptions};
use crate::wal::{Wal, DEFAULT_SEGMENT_BYTES};
use crate::{identity, DataDirError, NewCluster};

/// Where v2 nodes live in the v3 keyspace, and the first key after them.
const V2_PREFIX: &[u8] = b"\0v2";
const V2_END: &[u8] = b"\0v3";

/// What to back up, and where to.
#[derive(Debug, Clone)]
pub struct BackupOptions {
    pub data_dir: PathBuf,
    pub wal_dir: PathBuf,
    pub backup_dir: PathBuf,
    pub backup_wal_dir: PathBuf,
    /// Keep the v3 keys too (etcd's `--with-v3`).
    pub with_v3: bool,
}

/// Whether `data_dir` looks like an etcd-rs data dir (an identity and a
/// store).
pub fn is_data_dir(data_dir: &Path) -> bool {
    let member = data_dir.join("member");
    member.join(identity::FILE).is_file() && member.join("db").is_dir()
}

/// Backs up the stopped member whose data dir `options` names.
pub fn backup(options: &BackupOptions) -> Result<(), DataDirError> {
    let member = options.data_dir.join("member");
    let identity = identity::read(&member)?
        .ok_or_else(|| DataDirError::Invalid(format!("{}: no identity file", member.display())))?;
    let scratch = tempfile::Builder::new()
        .prefix("etcdctl-rs-backup-")
        .tempdir()?;
    copy_tree(&member.join("db"), &scratch.path().join("db"))?;
    if options.wal_dir.is_dir() {
        copy_tree(&options.wal_dir, &scratch.path().join("wal"))?;
    }
    let store = Store::open(
        Box::new(SledBackend::open(&scratch.path().join("db"))?),
        StoreConfig::default(),
    )?;
    let (_wal, recovered) = Wal::open(&scratch.path().join("wal"), DEFAULT_SEGMENT_BYTES)?;
    let last = catch_up(&store, &recovered.entries)?;

    let members = Membership::load(&store)?;
    let me = members.get(identity.member_id).ok_or_else(|| {
        DataDirError::Invalid(format!(
            "member {:x} is not in its own member list",
            identity.member_id
        ))
    })?;
    if me.peer_urls.is_empty() {
        return Err(DataDirError::Invalid(format!(
            "member {:x} has no peer URLs",
            identity.member_id
        )));
    }
    if !options.with_v3 {
        keep_only_v2(&store, last)?;
    }
    let mut body = store.snapshot()?;
    etcd_store::snapshot::append_sha256(&mut body);
    drop(store);

    let to = RestoreOptions {
        name: identity.name.clone(),
        data_dir: options.backup_dir.clone(),
        wal_dir: options.backup_wal_dir.clone(),
        cluster: NewCluster {
            members: vec![(identity.name, me.peer_urls)],
            token: "etcd-cluster".into(),
        },
    };
    restore(&body, &to)
}

/// Copies a directory tree (files and subdirectories).
fn copy_tree(from: &Path, to: &Path) -> Result<(), DataDirError> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Applies the WAL entries the store has not applied yet; the last index
/// (and its term) the store then reflects.
fn catch_up(store: &Store, entries: &[Entry]) -> Result<(u64, u64), DataDirError> {
    let applied = store.applied_index();
    let mut last = (applied, store.status().applied_term);
    for e in entries.iter().filter(|e| e.index > applied) {
        last = (e.index, e.term);
        let req = if e.get_entry_type() == EntryType::EntryNormal && !e.data.is_empty() {
            Some(RaftRequest::decode(e.data.as_ref()).map_err(|err| {
                DataDirError::Invalid(format!(
                    "undecodable raft entry at index {}: {err}",
                    e.index
                ))
            })?)
        } else {
            None
        };
        match req {
            // Membership is rebuilt for the new cluster: only the index counts.
            None
            | Some(RaftRequest {
                op: Some(Op::MemberAttributes(_) | Op::MemberUpdate(_)),
                ..
            }) => store.apply_cluster_rows(e.index, e.term, &[])?,
            Some(req) => match store.apply(e.index, e.term, &req) {
                Ok(_) => {}
                Err(err) if err.is_deterministic() => {}
                Err(err) => return Err(err.into()),
            },
        }
    }
    Ok(last)
}

/// Deletes every v3 key outside the v2 namespace (as entries after `last`).
fn keep_only_v2(store: &Store, last: (u64, u64)) -> Result<(), DataDirError> {
    let mut next = last;
    for (key, range_end) in [
        (vec![0u8], V2_PREFIX.to_vec()),
        (V2_END.to_vec(), vec![0u8]),
    ] {
        next.0 += 1;
        let req = RaftRequest {
            op: Some(Op::DeleteRange(DeleteRangeRequest {
                key,
                range_end,
                ..Default::default()
            })),
            ..Default::default()
        };
        store.apply(next.0, next.1, &req)?;
    }
    Ok(())
}
