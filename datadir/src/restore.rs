//! Restoring a backup into a new data dir (`etcdctl snapshot restore`).
//!
//! A backup (from `Maintenance.Snapshot`, i.e. `etcdctl snapshot save`) holds
//! every row of the store. Restoring writes those rows into a fresh store,
//! drops what belonged to the old cluster (members, raft configuration,
//! alarms, raft position), and bootstraps a NEW cluster from the options,
//! exactly as a new member with `--initial-cluster-state new` would: its log
//! starts with one ConfChange per member and its identity file is written.
//! Starting `etcd-rs` on the directory then serves every key, with the
//! revisions the backup had.

use std::path::{Path, PathBuf};

use etcd_store::snapshot::{parse_snapshot, verify_sha256};
use etcd_store::{SledBackend, Store, StoreConfig};

use crate::wal::{Wal, DEFAULT_SEGMENT_BYTES};
use crate::{bootstrap, identity, DataDirError, NewCluster};

/// Where to restore, and the new cluster the restored member belongs to
/// (etcd's `--name`, `--data-dir`, `--wal-dir`, `--initial-cluster` and
/// `--initial-cluster-token`).
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    pub name: String,
    pub data_dir: PathBuf,
    /// The WAL's directory (etcd's default: `<data_dir>/member/wal`).
    pub wal_dir: PathBuf,
    pub cluster: NewCluster,
}

impl RestoreOptions {
    /// Options with the WAL in its default place.
    pub fn new(name: &str, data_dir: &Path, cluster: NewCluster) -> RestoreOptions {
        RestoreOptions {
            name: name.to_string(),
            data_dir: data_dir.to_path_buf(),
            wal_dir: data_dir.join("member").join("wal"),
            cluster,
        }
    }
}

/// Restores `backup` (the bytes of a backup file, with its sha256 trailer)
/// into `options.data_dir`, which must not exist yet.
pub fn restore(backup: &[u8], options: &RestoreOptions) -> Result<(), DataDirError> {
    let data_dir = &options.data_dir;
    if data_dir.exists() {
        return Err(DataDirError::Invalid(format!(
            "data-dir {:?} exists",
            data_dir.display().to_string()
        )));
    }
    let body = verify_sha256(backup)?;
    parse_snapshot(body)?;
    // Checked before anything is written.
    let (identity, members) = identity::new_cluster_identity(&options.name, &options.cluster)?;
    let member_dir = data_dir.join("member");
    std::fs::create_dir_all(&member_dir)?;

    let store = Store::open(
        Box::new(SledBackend::open(&member_dir.join("db"))?),
        StoreConfig::default(),
    )?;
    store.install_snapshot(body)?;
    store.reset_for_new_cluster()?;
    store.flush()?;
    drop(store);

    let (mut wal, _) = Wal::open(&options.wal_dir, DEFAULT_SEGMENT_BYTES)?;
    bootstrap::write_initial_log(&mut wal, &members)?;
    identity::write(&member_dir, &identity)?;
    Ok(())
}

/// Reads a backup file and restores it (see [`restore`]).
pub fn restore_file(path: &Path, options: &RestoreOptions) -> Result<(), DataDirError> {
    let bytes = std::fs::read(path)?;
    restore(&bytes, options)
}
