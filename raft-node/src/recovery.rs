//! Bringing the store and the WAL into agreement before the raft loop starts.
//!
//! After a crash the two can disagree in two ways, and each has one repair:
//!
//! - **The store is behind the WAL's snapshot mark.** The member died after
//!   the raft loop marked a snapshot from the leader in the WAL but before
//!   the apply path installed it. The entries the mark released are gone, so
//!   the snapshot file saved before the mark (`snap_files.rs`) is installed
//!   now. Without that file the data dir cannot be trusted and the start
//!   fails, naming both indexes.
//! - **The store is ahead of the WAL's last entry.** Data dirs written by
//!   older versions could install a snapshot into the store before marking it
//!   in the WAL. The store is the truth then, and a mark at the store's index
//!   is written, so the entries that follow it are accepted by the next open:
//!   recovery never leaves a WAL that fails to open again.
//!
//! Snapshot files the store already holds are deleted, and so are
//! half-written ones a crash left behind.

use etcd_store::Store;
use raft::eraftpb::SnapshotMetadata;

use crate::error::ServerError;
use etcd_datadir::membership::{self, Membership};
use etcd_datadir::snap_files::SnapFiles;
use etcd_datadir::wal::{Recovered, Wal};

fn internal(e: &dyn std::fmt::Display) -> ServerError {
    ServerError::Internal(e.to_string())
}

/// Repairs whichever of the two disagreements the data dir has (see the
/// module docs); afterwards the store's applied index lies within the WAL.
pub fn reconcile(
    store: &Store,
    membership: &Membership,
    wal: &mut Wal,
    recovered: &mut Recovered,
    snaps: &SnapFiles,
) -> Result<(), ServerError> {
    let mark = recovered.snapshot.index;
    if store.applied_index() < mark {
        let Some(body) = snaps.load(mark).map_err(|e| internal(&e))? else {
            return Err(ServerError::Internal(format!(
                "the store has applied up to index {} but the WAL starts after a snapshot at \
                 index {mark} whose file is missing from member/snap",
                store.applied_index(),
            )));
        };
        tracing::warn!(
            applied = store.applied_index(),
            snapshot = mark,
            "store is behind the WAL's snapshot mark: installing the saved snapshot"
        );
        store.install_snapshot(&body).map_err(|e| internal(&e))?;
        membership.reload(store).map_err(|e| internal(&e))?;
        if store.applied_index() < mark {
            return Err(ServerError::Internal(format!(
                "snapshot file for index {mark} holds index {}",
                store.applied_index()
            )));
        }
    }
    let wal_last = recovered.entries.last().map_or(mark, |e| e.index);
    let status = store.status();
    if status.applied_index > wal_last {
        tracing::warn!(
            applied = status.applied_index,
            wal_last,
            "store is ahead of the WAL: marking the WAL at the store's index"
        );
        let mut meta = SnapshotMetadata {
            index: status.applied_index,
            term: status.applied_term,
            ..Default::default()
        };
        let conf_state = membership::stored_conf_state(store).map_err(|e| internal(&e))?;
        if let Some(cs) = conf_state {
            meta.set_conf_state(cs);
        }
        wal.save_snapshot(&meta).map_err(|e| internal(&e))?;
        recovered.entries.clear();
        recovered.snapshot = meta;
    }
    snaps
        .remove_up_to(store.applied_index())
        .and_then(|()| snaps.remove_half_written())
        .map_err(|e| internal(&e))
}
