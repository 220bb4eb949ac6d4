//! A write buffer in front of the storage engine: many apply groups, one
//! engine batch.
//!
//! Every apply group ends in one backend batch, and sled pays for each
//! batch on its own: it seals its log buffer at the end of every batch (so
//! the batch is recovered whole or not at all) and hands it to an IO
//! thread for a `pwrite`. Under load that was a third of the server's CPU
//! for a put: the apply thread's batch bookkeeping plus sled's IO threads.
//! None of it buys durability: the raft WAL is the durable log, the store
//! is flushed only before the WAL is released past it, and after a crash
//! the entries above the store's applied index are replayed.
//!
//! So, as etcd's backend does with its batch transaction (committed every
//! 100 ms or 10 000 writes, with a read buffer so readers see what is not
//! committed yet), [`WriteBuffer`] keeps the rows written since the last
//! engine batch in an ordered map and hands them to the engine in one batch
//! when there are [`MAX_ROWS`] of them ([`MAX_BYTES`] of keys and values)
//! or the oldest has waited
//! [`MAX_AGE`] ([`Backend::commit_if_due`], called after each group has
//! released the store's lock), and always before a flush. Each engine batch
//! is a union of whole apply groups, so the engine on disk is still always
//! at a group boundary with its applied index.
//!
//! Reads see the buffer first: the rows being handed over stay readable in
//! a second layer until the engine holds them, so no read ever misses a
//! row in between. Scans merge the buffer's rows (in chunks, never the
//! whole buffer under the lock) with the engine's, the buffer winning and
//! its deletions hiding the engine's rows.

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::backend::{row_bytes, Backend, Rows, WriteBatch};
use crate::error::StoreError;

/// Rows buffered before they are handed to the engine. etcd's batch limit
/// is 10 000, but sled keeps the pages a batch replaces until the batch
/// ends, so its memory grows with the batch: loading 200 000 keys left a
/// member at 271 MiB with 10 000-row batches, 204 MiB with 3 000 and
/// 151 MiB with 1 000 (139 MiB with one batch per apply group), while the
/// CPU per put barely differed between 1 000 and 10 000.
pub const MAX_ROWS: usize = 1_000;

/// Bytes of keys and values buffered before they are handed over: bounds
/// the buffer's memory with large values (a thousand 1.5 MiB values would
/// be 1.5 GB), and the size of one engine batch, which must fit on the
/// disk whole (see `SledBackend`'s free-space reserve).
pub const MAX_BYTES: u64 = 4 << 20;

/// How long a buffered row waits at most for the next engine batch
/// (etcd's batch interval).
pub const MAX_AGE: Duration = Duration::from_millis(100);

/// Buffer rows a scan takes at a time.
const SCAN_CHUNK: usize = 256;

/// The engine behind a buffer of recent writes (see the module notes).
pub struct WriteBuffer<B> {
    engine: B,
    layers: RwLock<Layers>,
    /// Held while a batch is handed over, so hand-overs never interleave.
    handover: Mutex<()>,
    max_rows: usize,
    max_age: Duration,
}

#[derive(Default)]
struct Layers {
    /// Rows written since the last hand-over; `None` is a deletion.
    fresh: Rows,
    /// When the oldest row of `fresh` was written.
    since: Option<Instant>,
    /// Bytes of keys and values in `fresh`, and in `handing_over`: the
    /// store's size counts them before the engine holds them (a new
    /// member's status shows a size, quota checks see recent writes).
    fresh_bytes: u64,
    handing_over_bytes: u64,
    /// Rows being handed to the engine right now, readable until it holds
    /// them (and kept if the hand-over failed: the member stops anyway).
    handing_over: Option<Arc<Rows>>,
}

impl Layers {
    /// The newest buffered state of `key`: `Some(None)` is a deletion,
    /// `None` means the buffer does not know the key.
    fn get(&self, key: &[u8]) -> Option<Option<&Vec<u8>>> {
        if let Some(v) = self.fresh.get(key) {
            return Some(v.as_ref());
        }
        self.handing_over
            .as_ref()
            .and_then(|h| h.get(key))
            .map(Option::as_ref)
    }

    /// Up to `limit` buffered rows with keys in `(from, end)` (from
    /// included when `inclusive`), newest layer winning, ascending.
    fn chunk(
        &self,
        from: &[u8],
        inclusive: bool,
        end: &[u8],
        limit: usize,
    ) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let lower = if inclusive {
            Bound::Included(from)
        } else {
            Bound::Excluded(from)
        };
        let range = (lower, Bound::Excluded(end));
        let mut fresh = self.fresh.range::<[u8], _>(range).peekable();
        let empty = Rows::new();
        let older = self.handing_over.as_deref().unwrap_or(&empty);
        let mut older = older.range::<[u8], _>(range).peekable();
        let mut out = Vec::new();
        while out.len() < limit {
            let (take_fresh, same_key) = match (fresh.peek(), older.peek()) {
                (None, None) => break,
                (Some(_), None) => (true, false),
                (None, Some(_)) => (false, false),
                (Some((fk, _)), Some((ok, _))) => (fk <= ok, fk == ok),
            };
            if same_key {
                // The older layer's version is superseded.
                older.next();
            }
            let (k, v) = if take_fresh {
                fresh.next()
            } else {
                older.next()
            }
            .expect("peeked");
            out.push((k.clone(), v.clone()));
        }
        out
    }
}

impl<B: Backend> WriteBuffer<B> {
    pub fn new(engine: B) -> WriteBuffer<B> {
        Self::with_limits(engine, MAX_ROWS, MAX_AGE)
    }

    /// A buffer handing over at `max_rows` rows or `max_age` (tests).
    pub fn with_limits(engine: B, max_rows: usize, max_age: Duration) -> WriteBuffer<B> {
        WriteBuffer {
            engine,
            layers: RwLock::new(Layers::default()),
            handover: Mutex::new(()),
            max_rows,
            max_age,
        }
    }

    /// Rows waiting for the next hand-over.
    pub fn buffered_rows(&self) -> usize {
        self.layers.read().expect("buffer lock").fresh.len()
    }

    /// Hands every buffered row to the engine in one batch.
    fn hand_over(&self) -> Result<(), StoreError> {
        let _one_at_a_time = self.handover.lock().expect("hand-over lock");
        let rows = {
            let mut layers = self.layers.write().expect("buffer lock");
            if layers.fresh.is_empty() {
                return Ok(());
            }
            let rows = Arc::new(std::mem::take(&mut layers.fresh));
            layers.since = None;
            layers.handing_over = Some(rows.clone());
            layers.handing_over_bytes = std::mem::take(&mut layers.fresh_bytes);
            rows
        };
        self.engine.write_rows(&rows)?;
        let mut layers = self.layers.write().expect("buffer lock");
        layers.handing_over = None;
        layers.handing_over_bytes = 0;
        Ok(())
    }
}

impl<B: Backend> Backend for WriteBuffer<B> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(v) = self.layers.read().expect("buffer lock").get(key) {
            return Ok(v.cloned());
        }
        // Not buffered: a hand-over in between only moves rows into the
        // engine, so reading it now still finds them.
        self.engine.get(key)
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
        let mut merge = Merge {
            layers: &self.layers,
            end,
            chunk: VecDeque::new(),
            cursor: (start.to_vec(), true),
            exhausted: false,
        };
        let mut stopped = false;
        self.engine.scan_each(start, end, &mut |k, v| {
            // The buffer's rows before this one, then this one: the
            // buffer's version if it has one (nothing for a deletion).
            while let Some((bk, _)) = merge.peek() {
                if bk.as_slice() >= k {
                    break;
                }
                let (bk, bv) = merge.pop();
                if let Some(bv) = bv {
                    if !f(&bk, &bv) {
                        stopped = true;
                        return false;
                    }
                }
            }
            let go_on = match merge.peek() {
                Some((bk, _)) if bk.as_slice() == k => match merge.pop() {
                    (bk, Some(bv)) => f(&bk, &bv),
                    (_, None) => true,
                },
                _ => f(k, v),
            };
            stopped = !go_on;
            go_on
        })?;
        // The buffer's rows after the engine's last.
        while !stopped && merge.peek().is_some() {
            if let (bk, Some(bv)) = merge.pop() {
                stopped = !f(&bk, &bv);
            }
        }
        Ok(())
    }

    fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut layers = self.layers.write().expect("buffer lock");
        for (k, v) in batch.ops {
            let (added, key_len) = (row_bytes(&k, &v), k.len() as u64);
            if let Some(old) = layers.fresh.insert(k, v) {
                // The row replaced its own earlier version.
                layers.fresh_bytes -= key_len + old.map_or(0, |o| o.len() as u64);
            }
            layers.fresh_bytes += added;
        }
        if layers.since.is_none() {
            layers.since = Some(Instant::now());
        }
        Ok(())
    }

    fn commit_if_due(&self) -> Result<(), StoreError> {
        let due = {
            let layers = self.layers.read().expect("buffer lock");
            layers.fresh.len() >= self.max_rows
                || layers.fresh_bytes >= MAX_BYTES
                || layers.since.is_some_and(|t| t.elapsed() >= self.max_age)
        };
        if due {
            self.hand_over()?;
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.hand_over()?;
        self.engine.flush()
    }

    fn size_bytes(&self) -> u64 {
        let layers = self.layers.read().expect("buffer lock");
        self.engine.size_bytes() + layers.fresh_bytes + layers.handing_over_bytes
    }

    fn defragment(&self) -> Result<(), StoreError> {
        self.hand_over()?;
        self.engine.defragment()
    }
}

/// The buffer's side of one merged scan: its rows in chunks, each taken
/// under the read lock, so a long scan never holds the lock.
struct Merge<'a> {
    layers: &'a RwLock<Layers>,
    end: &'a [u8],
    chunk: VecDeque<(Vec<u8>, Option<Vec<u8>>)>,
    /// Where the next chunk starts (and whether that key is included).
    cursor: (Vec<u8>, bool),
    exhausted: bool,
}

impl Merge<'_> {
    /// The next buffered row, fetching a chunk when needed.
    fn peek(&mut self) -> Option<&(Vec<u8>, Option<Vec<u8>>)> {
        if self.chunk.is_empty() && !self.exhausted {
            let rows = self.layers.read().expect("buffer lock").chunk(
                &self.cursor.0,
                self.cursor.1,
                self.end,
                SCAN_CHUNK,
            );
            if rows.len() < SCAN_CHUNK {
                self.exhausted = true;
            }
            if let Some((k, _)) = rows.last() {
                self.cursor = (k.clone(), false);
            }
            self.chunk.extend(rows);
        }
        self.chunk.front()
    }

    /// Takes the row [`Merge::peek`] returned.
    fn pop(&mut self) -> (Vec<u8>, Option<Vec<u8>>) {
        self.chunk.pop_front().expect("peeked before")
    }
}
