//! raft-rs's view of the log: the in-memory `MemStorage` (filled from the
//! WAL at start, appended to by the raft loop) plus snapshots cut from the
//! store on demand.
//!
//! raft-rs asks for a snapshot when a follower needs entries that were
//! already released. The store's own state is that snapshot: its rows,
//! taken under one lock together with the index, term and ConfState they
//! reflect, so the metadata always describes exactly the data.

use std::sync::Arc;

use etcd_store::Store;
use protobuf::Message as _;
use raft::eraftpb::{ConfState, Entry, Snapshot};
use raft::storage::MemStorage;
use raft::{GetEntriesContext, RaftState, Storage, StorageError};

use etcd_datadir::membership::CONF_STATE_ROW;

pub struct RaftStorage {
    pub mem: MemStorage,
    pub store: Arc<Store>,
}

impl Storage for RaftStorage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        self.mem.initial_state()
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        self.mem.entries(low, high, max_size, context)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        self.mem.term(idx)
    }

    fn first_index(&self) -> raft::Result<u64> {
        self.mem.first_index()
    }

    fn last_index(&self) -> raft::Result<u64> {
        self.mem.last_index()
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        let image = self
            .store
            .snapshot_with_meta(CONF_STATE_ROW)
            .map_err(|e| raft::Error::Store(StorageError::Other(Box::new(e))))?;
        if image.applied_index < request_index {
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        let conf_state = match image.row {
            Some(bytes) => ConfState::parse_from_bytes(&bytes)
                .map_err(|e| raft::Error::Store(StorageError::Other(Box::new(e))))?,
            None => self.mem.initial_state()?.conf_state,
        };
        let mut snap = Snapshot::default();
        snap.set_data(image.body.into());
        let meta = snap.mut_metadata();
        meta.index = image.applied_index;
        meta.term = image.applied_term;
        meta.set_conf_state(conf_state);
        Ok(snap)
    }
}
