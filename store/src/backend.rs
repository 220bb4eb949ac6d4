//! Durable storage under the MVCC store: one ordered keyspace of byte rows.
//!
//! The store keeps everything (revision rows, metadata such as the applied
//! raft index, leases, alarms) in one keyspace with a one-byte prefix per
//! kind, so that one [`WriteBatch`] covers all of an apply step and is atomic:
//! the data an entry produced and the index of that entry land together or
//! not at all. That is what makes replaying the WAL after a crash safe.
//!
//! [`SledBackend`] is the on-disk engine; [`MemBackend`] is a map for tests.
//! Only one thread writes (the apply task); reads come from any thread.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::error::StoreError;

/// Rows to write atomically; `None` deletes the row.
#[derive(Debug, Default)]
pub struct WriteBatch {
    pub ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl WriteBatch {
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push((key, Some(value)));
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.ops.push((key, None));
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// A row as returned by a scan.
pub type Row = (Vec<u8>, Vec<u8>);

/// Rows to write, in key order; `None` deletes the row.
pub type Rows = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Bytes of a row's key and value (a deletion has none of its own).
pub fn row_bytes(key: &[u8], value: &Option<Vec<u8>>) -> u64 {
    (key.len() + value.as_ref().map_or(0, Vec::len)) as u64
}

/// An ordered, durable byte keyspace with atomic batches.
pub trait Backend: Send + Sync {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Rows with `start <= key < end`, ascending.
    fn scan(&self, start: &[u8], end: &[u8]) -> Result<Vec<Row>, StoreError> {
        let mut out = Vec::new();
        self.scan_each(start, end, &mut |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            true
        })?;
        Ok(out)
    }
    /// Calls `f` on rows with `start <= key < end` in order until it returns false.
    fn scan_each(
        &self,
        start: &[u8],
        end: &[u8],
        f: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError>;
    /// Applies every op of `batch`, all or nothing.
    fn write(&self, batch: WriteBatch) -> Result<(), StoreError>;
    /// Applies every row of `rows`, all or nothing (a buffer handing its
    /// rows over; engines may write them without copying first).
    fn write_rows(&self, rows: &Rows) -> Result<(), StoreError> {
        self.write(WriteBatch {
            ops: rows.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        })
    }
    /// Writes buffered rows on to the engine if they have waited long
    /// enough (see `write_buffer.rs`); nothing to do for an engine itself.
    fn commit_if_due(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Makes every write so far durable.
    fn flush(&self) -> Result<(), StoreError>;
    /// Bytes the engine occupies on disk (or in memory).
    fn size_bytes(&self) -> u64;
    /// Reclaims space left by deleted rows (nothing to do by default).
    fn defragment(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The on-disk backend on sled.
///
/// sled flushes when its last handle is dropped, and after a failed write
/// (a full disk) that flush waits forever for a write that will never
/// finish. A member stopping after such a failure would hang there, so a
/// backend that saw a write or flush fail is not dropped but left to the
/// process exit; there is nothing more it could make durable anyway.
pub struct SledBackend {
    /// The database and its tree; `None` only while being dropped.
    handles: Option<(sled::Db, sled::Tree)>,
    failed: AtomicBool,
    /// sled measures its size by walking its files: remember the last
    /// answer briefly, since quota checks ask on every write.
    size: Mutex<Option<(Instant, u64)>>,
    dir: std::path::PathBuf,
    /// Free space kept in reserve, and when there was last enough of it.
    reserve: u64,
    room: Mutex<Option<Instant>>,
}

/// sled's page cache (its default is 1 GiB, which it fills and keeps).
/// Reads of hot keys come from the key index and this cache; colder pages
/// come from the kernel's page cache, as bbolt's do through its mmap.
const CACHE_BYTES: u64 = 32 << 20;

/// How long a measured size is reused.
const SIZE_CACHE: Duration = Duration::from_millis(100);

/// Free disk space the store keeps in reserve. sled must never meet a full
/// disk: the robustness runner saw a member whose store recovered on a
/// full disk leave an empty sled snapshot file behind, after which the
/// store never opened again. Below this much free space the store refuses
/// to open and refuses writes (the member stops, as etcd does on a full
/// disk), and opens again once there is room.
pub const FREE_SPACE_RESERVE: u64 = 8 << 20;

/// How long a measured amount of free space is trusted (for small batches).
const FREE_SPACE_CACHE: Duration = Duration::from_millis(50);

/// Batches below this many bytes may rely on a recent free-space measure;
/// the space kept above the reserve covers them.
const SMALL_BATCH: u64 = 1 << 20;

/// Fails unless the file system holding `dir` has at least `reserve` bytes
/// free.
fn check_free_space(dir: &Path, reserve: u64) -> Result<u64, StoreError> {
    let free = fs2::available_space(dir)
        .map_err(|e| StoreError::Backend(format!("free space of {}: {e}", dir.display())))?;
    if free < reserve {
        return Err(StoreError::Backend(format!(
            "No space left on device: {free} bytes free in {}, the store keeps {reserve} in reserve",
            dir.display()
        )));
    }
    Ok(free)
}

impl SledBackend {
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_reserve(dir, FREE_SPACE_RESERVE)
    }

    /// Opens with `reserve` bytes of free space kept (tests use small disks).
    pub fn open_with_reserve(dir: &Path, reserve: u64) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Backend(format!("{}: {e}", dir.display())))?;
        check_free_space(dir, reserve)?;
        // No periodic flushes: the raft WAL is the durable log. The store is
        // flushed before the WAL is released past it (and on shutdown); after
        // a crash, entries since the last flush are replayed from the WAL.
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            .cache_capacity(CACHE_BYTES)
            .flush_every_ms(None)
            .open()?;
        let tree = db.open_tree("etcd")?;
        Ok(SledBackend {
            handles: Some((db, tree)),
            failed: AtomicBool::new(false),
            size: Mutex::new(None),
            dir: dir.to_path_buf(),
            reserve,
            room: Mutex::new(None),
        })
    }

    fn db(&self) -> &sled::Db {
        &self.handles.as_ref().expect("open backend").0
    }

    fn tree(&self) -> &sled::Tree {
        &self.handles.as_ref().expect("open backend").1
    }

    /// Refuses to go on unless the batch about to be written, twice over
    /// (sled logs a row and may write a large value once more as a blob),
    /// fits above the free-space reserve. Free space is measured at most
    /// every 50 ms for small batches and before every large one: a write
    /// buffer's batch can be megabytes, and sled meeting a full disk in the
    /// middle of one recovered the batch's index row without the rows whose
    /// values it had put in blob files (the full-disk test caught it). A
    /// refusal counts as a failed write: nothing more is written, not even
    /// on drop.
    fn ensure_room(&self, batch_bytes: u64) -> Result<(), StoreError> {
        let mut room = self.room.lock().expect("room lock");
        if batch_bytes < SMALL_BATCH && room.is_some_and(|at| at.elapsed() < FREE_SPACE_CACHE) {
            return Ok(());
        }
        match check_free_space(&self.dir, self.reserve + SMALL_BATCH.max(2 * batch_bytes)) {
            Ok(_) => {
                *room = Some(Instant::now());
                Ok(())
            }
            Err(e) => {
                self.failed.store(true, Ordering::SeqCst);
                Err(e)
            }
        }
    }

    /// Notes a failed write or flush (see the type's notes).
    fn check<T>(&self, result: sled::Result<T>) -> Result<T, StoreError> {
        if result.is_err() {
            self.failed.store(true, Ordering::SeqCst);
        }
        Ok(result?)
    }
}

impl Drop for SledBackend {
    fn drop(&mut self) {
        if self.failed.load(Ordering::SeqCst) {
            tracing::warn!("not flushing the store on close: an earlier write failed");
            std::mem::forget(self.handles.take());
        }
    }
}

impl Backend for SledBackend {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree().get(key)?.map(|v| v.to_vec()))
    }

    fn scan_each(
        &self,
        start: &[u8],
        end: &[u8],
        f: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        if start >= end {
            return Ok(());
        }
        for row in self.tree().range(start..end) {
            let (k, v) = row?;
            if !f(&k, &v) {
                break;
            }
        }
        Ok(())
    }

    fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let bytes = batch.ops.iter().map(|(k, v)| row_bytes(k, v)).sum();
        self.ensure_room(bytes)?;
        let mut b = sled::Batch::default();
        for (k, v) in batch.ops {
            match v {
                Some(v) => b.insert(k, v),
                None => b.remove(k),
            }
        }
        self.check(self.tree().apply_batch(b))
    }

    fn write_rows(&self, rows: &Rows) -> Result<(), StoreError> {
        let bytes = rows.iter().map(|(k, v)| row_bytes(k, v)).sum();
        self.ensure_room(bytes)?;
        let mut b = sled::Batch::default();
        for (k, v) in rows {
            match v {
                Some(v) => b.insert(k.as_slice(), v.as_slice()),
                None => b.remove(k.as_slice()),
            }
        }
        self.check(self.tree().apply_batch(b))
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.check(self.db().flush())?;
        Ok(())
    }

    fn size_bytes(&self) -> u64 {
        let mut cached = self.size.lock().expect("size cache lock");
        if let Some((at, size)) = *cached {
            if at.elapsed() < SIZE_CACHE {
                return size;
            }
        }
        let size = self.db().size_on_disk().unwrap_or(0);
        *cached = Some((Instant::now(), size));
        size
    }

    fn defragment(&self) -> Result<(), StoreError> {
        // sled compacts its segments in the background; a flush makes the
        // current state durable and lets it reclaim freed segments.
        self.flush()
    }
}

/// A backend in memory, for tests and benchmarks of the MVCC logic alone.
#[derive(Default)]
pub struct MemBackend {
    rows: RwLock<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl Backend for MemBackend {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.rows.read().expect("lock").get(key).cloned())
    }

    fn scan_each(
        &self,
        start: &[u8],
        end: &[u8],
        f: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        if start >= end {
            return Ok(());
        }
        let rows = self.rows.read().expect("lock");
        for (k, v) in rows.range::<[u8], _>((Bound::Included(start), Bound::Excluded(end))) {
            if !f(k, v) {
                break;
            }
        }
        Ok(())
    }

    fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut rows = self.rows.write().expect("lock");
        for (k, v) in batch.ops {
            match v {
                Some(v) => rows.insert(k, v),
                None => rows.remove(&k),
            };
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn size_bytes(&self) -> u64 {
        let rows = self.rows.read().expect("lock");
        rows.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum()
    }
}

/// A backend in memory that fails like a broken disk on demand: once
/// `fail_writes` is set its writes return a backend error, once
/// `fail_scans` is set its scans do. For tests of how the layers above
/// meet a failing disk.
#[derive(Default)]
pub struct FaultyBackend {
    rows: MemBackend,
    pub fail_writes: std::sync::Arc<AtomicBool>,
    pub fail_scans: std::sync::Arc<AtomicBool>,
}

impl FaultyBackend {
    fn failed(flag: &AtomicBool) -> Result<(), StoreError> {
        if flag.load(Ordering::SeqCst) {
            return Err(StoreError::Backend("the disk failed".into()));
        }
        Ok(())
    }
}

impl Backend for FaultyBackend {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.rows.get(key)
    }

    fn scan_each(
        &self,
        start: &[u8],
        end: &[u8],
        f: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        Self::failed(&self.fail_scans)?;
        self.rows.scan_each(start, end, f)
    }

    fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        Self::failed(&self.fail_writes)?;
        self.rows.write(batch)
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn size_bytes(&self) -> u64 {
        self.rows.size_bytes()
    }
}
