//! etcd-rs's data dir, read and written offline: what etcd keeps in `etcdutl`
//! and its server's storage packages, as a library the server and the CLI
//! share.
//!
//! A data dir holds a member's durable state: `member/wal` (the raft log,
//! [`wal`]), `member/snap` (raft snapshot files, [`snap_files`]),
//! `member/db` (the sled store of `etcd_store`, with the member list in its
//! cluster rows, [`membership`]) and `member/identity.json` (the member's
//! name and IDs, [`identity`]). A new cluster's first log entries and IDs
//! come from [`bootstrap`] and [`ids`]; [`restore`] turns a backup into a
//! data dir for a new cluster, and [`backup`] copies a stopped member's data
//! dir into one.
//!
//! Nothing here runs raft or serves requests: the server (`raft-node`)
//! builds on these pieces, and `etcdctl-rs` uses them without linking the
//! server.

pub mod backup;
pub mod bootstrap;
pub mod identity;
pub mod ids;
pub mod membership;
pub mod restore;
pub mod snap_files;
pub mod wal;

use etcd_store::StoreError;

/// A new cluster as `--initial-cluster` and `--initial-cluster-token`
/// describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCluster {
    /// (member name, its peer URLs), in flag order.
    pub members: Vec<(String, Vec<String>)>,
    pub token: String,
}

/// Why data-dir work failed.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// The request cannot be carried out as asked (a wrong flag, a data dir
    /// that already exists); the text is for the operator.
    #[error("{0}")]
    Invalid(String),
    #[error("cannot open data dir: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Wal(#[from] wal::WalError),
}
