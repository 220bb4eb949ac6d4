//! The system under test: the store on a memory or sled backend, with a
//! twin fed the same entries in apply groups.

use std::path::Path;
use std::sync::Arc;

use etcd_proto::etcdrs::raft_request::Op as RaftOp;
use etcd_proto::etcdrs::RaftRequest;
use etcd_store::backend::WriteBatch;
use etcd_store::{
    Applied, Backend, MemBackend, SledBackend, Store, StoreConfig, StoreError, WriteBuffer,
};

// ---------------------------------------------------------------------------
// The system under test
// ---------------------------------------------------------------------------

/// A memory backend that outlives the store on it, so that a "restart"
/// reopens the store on the same rows.
#[derive(Clone, Default)]
pub(crate) struct SharedMem(Arc<MemBackend>);

impl Backend for SharedMem {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(key)
    }
    fn scan_each(
        &self,
        start: &[u8],
        end: &[u8],
        f: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.0.scan_each(start, end, f)
    }
    fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.0.write(batch)
    }
    fn flush(&self) -> Result<(), StoreError> {
        self.0.flush()
    }
    fn size_bytes(&self) -> u64 {
        self.0.size_bytes()
    }
    fn defragment(&self) -> Result<(), StoreError> {
        self.0.defragment()
    }
}

pub(crate) enum Disk {
    Mem(SharedMem),
    Sled(tempfile::TempDir),
}

pub(crate) fn config() -> StoreConfig {
    StoreConfig {
        min_lease_ttl: 1,
        // A small ring, so that the history is read from the rows often.
        history_revisions: 4,
    }
}

/// Opens sled in `dir`, waiting for a just-dropped instance's background
/// writes to let go of the directory lock.
pub(crate) fn open_sled(dir: &Path) -> SledBackend {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match SledBackend::open(dir) {
            Ok(b) => return b,
            Err(e) if e.to_string().contains("could not acquire lock") => {
                assert!(std::time::Instant::now() < deadline, "sled lock held: {e}");
                std::thread::yield_now();
            }
            Err(e) => panic!("open sled: {e}"),
        }
    }
}

impl Disk {
    pub(crate) fn open(&self) -> Store {
        let backend: Box<dyn Backend> = match self {
            Disk::Mem(m) => Box::new(m.clone()),
            // Through a write buffer handing over every few rows, as the
            // server runs it (it flushes before every restart).
            Disk::Sled(dir) => Box::new(WriteBuffer::with_limits(
                open_sled(dir.path()),
                5,
                std::time::Duration::from_secs(3600),
            )),
        };
        Store::open(backend, config()).expect("open store")
    }
}

pub(crate) struct Sut {
    pub(crate) disk: Disk,
    pub(crate) store: Option<Store>,
    /// Fed the same entries in groups, never restarted: must answer and
    /// hash the same.
    pub(crate) twin: Store,
    /// Entries for the twin's next group, with the answer of `store`.
    pub(crate) twin_pending: Vec<(u64, RaftRequest, Result<Applied, StoreError>)>,
    pub(crate) index: u64,
}

impl Sut {
    pub(crate) fn new(sled: bool) -> Self {
        let disk = if sled {
            Disk::Sled(tempfile::tempdir().expect("tempdir"))
        } else {
            Disk::Mem(SharedMem::default())
        };
        let store = disk.open();
        Sut {
            disk,
            store: Some(store),
            // Behind a write buffer that hands over every few rows, so
            // reads and compactions also meet rows on both sides of it.
            twin: Store::open(
                Box::new(WriteBuffer::with_limits(
                    MemBackend::default(),
                    7,
                    std::time::Duration::from_secs(3600),
                )),
                config(),
            )
            .unwrap(),
            twin_pending: Vec::new(),
            index: 0,
        }
    }

    pub(crate) fn store(&self) -> &Store {
        self.store.as_ref().unwrap()
    }

    pub(crate) fn apply(&mut self, op: RaftOp) -> Result<Applied, StoreError> {
        self.index += 1;
        let req = RaftRequest {
            id: self.index,
            op: Some(op),
            proposed_at_ms: 0,
            ..Default::default()
        };
        let got = self.store().apply(self.index, 3, &req);
        self.twin_pending.push((self.index, req, got.clone()));
        got
    }

    /// Applies the entries since the last call to the twin, as one group.
    pub(crate) fn apply_twin_group(&mut self) {
        let mut group = self.twin.begin_group();
        for (index, req, want) in self.twin_pending.drain(..) {
            assert_eq!(group.apply(index, 3, &req), want, "twin (grouped) differs");
        }
        group.commit().expect("commit group");
    }

    pub(crate) fn restart(&mut self) {
        self.store().flush().unwrap();
        drop(self.store.take());
        self.store = Some(self.disk.open());
    }
}
