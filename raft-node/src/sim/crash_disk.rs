//! The simulation's disk for stores: rows in memory, and a copy made at
//! each flush that is all a crash leaves.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use etcd_store::backend::WriteBatch;
use etcd_store::{Backend, MemBackend, StoreError};

/// What survives a crash of one member's store: the rows as of its last
/// flush.
pub type CrashDisk = Arc<Mutex<BTreeMap<Vec<u8>, Vec<u8>>>>;

/// A store backend in memory whose `flush` copies the rows to a
/// [`CrashDisk`]; a crash keeps only that copy.
pub(super) struct CrashBackend {
    live: MemBackend,
    disk: CrashDisk,
}

impl CrashBackend {
    pub(super) fn open(disk: CrashDisk) -> Result<CrashBackend, StoreError> {
        let live = MemBackend::default();
        let mut batch = WriteBatch::default();
        for (k, v) in disk.lock().expect("disk lock").iter() {
            batch.put(k.clone(), v.clone());
        }
        live.write(batch)?;
        Ok(CrashBackend { live, disk })
    }
}

impl Backend for CrashBackend {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.live.get(key)
    }

    fn scan_each(
        &self,
        start: &[u8],
        end: &[u8],
        f: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.live.scan_each(start, end, f)
    }

    fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.live.write(batch)
    }

    fn flush(&self) -> Result<(), StoreError> {
        let mut rows = BTreeMap::new();
        self.live.scan_each(&[], &[0xff; 8], &mut |k, v| {
            rows.insert(k.to_vec(), v.to_vec());
            true
        })?;
        *self.disk.lock().expect("disk lock") = rows;
        Ok(())
    }

    fn size_bytes(&self) -> u64 {
        self.live.size_bytes()
    }
}
