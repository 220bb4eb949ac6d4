//! Restoring a backup into a new data dir (`etcdctl snapshot restore`).
//!
//! A backup (from `Maintenance.Snapshot`, i.e. `etcdctl snapshot save`) holds
//! every row of the store. Restoring writes those rows into a fresh store,
//! drops what belonged to the old cluster (members, raft configuration,
//! alarms, raft position), and bootstraps a NEW cluster from the restore
//! flags, exactly as a new member with `--initial-cluster-state new` would:
//! its log starts with one ConfChange per member and its identity file is
//! written. Starting `etcd-rs` on the directory then serves every key, with
//! the revisions the backup had.

use std::path::Path;

use etcd_store::snapshot::{parse_snapshot, verify_sha256};
use etcd_store::{SledBackend, Store, StoreConfig};

use crate::bootstrap;
use crate::config::Config;
use crate::wal::{Wal, DEFAULT_SEGMENT_BYTES};
use crate::StartError;

/// Restores `backup` (the bytes of a backup file) into `config.data_dir()`,
/// for the member `config.name` of the cluster `config.initial_cluster()`.
/// The data dir must not exist yet.
pub fn restore(backup: &[u8], config: &Config) -> Result<(), StartError> {
    let data_dir = config.data_dir();
    if data_dir.exists() {
        return Err(StartError::Config(format!(
            "data-dir {:?} exists",
            data_dir.display().to_string()
        )));
    }
    let body = verify_sha256(backup)?;
    parse_snapshot(body)?;
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

    let (identity, members) = crate::member_identity::new_cluster_identity(config)?;
    let (mut wal, _) = Wal::open(&config.wal_dir(), DEFAULT_SEGMENT_BYTES)?;
    bootstrap::write_initial_log(&mut wal, &members)?;
    crate::member_identity::write_identity(
        &member_dir.join("identity.json"),
        &member_dir,
        &identity,
    )?;
    Ok(())
}

/// Reads a backup file and restores it (see [`restore`]).
pub fn restore_file(path: &Path, config: &Config) -> Result<(), StartError> {
    let bytes = std::fs::read(path)?;
    restore(&bytes, config)
}
