//! The write-ahead log: raft entries and hard state, durable before anyone
//! acts on them.
//!
//! The raft loop calls [`Wal::append`] once per `Ready` with every new entry
//! and the new hard state; they are framed (see [`record`]), written with one
//! `write` and made durable with one `fdatasync` (group commit). Only after
//! that does the loop send the messages that acknowledge them.
//!
//! A WAL is a directory of segment files `{seq:016x}-{first_index:016x}.wal`.
//! A segment is closed once it passes `segment_bytes`; the next one starts
//! with copies of the latest snapshot mark and hard state, so every segment
//! can be read on its own and old segments can be deleted
//! ([`Wal::save_snapshot`] releases those wholly covered by a snapshot).
//!
//! Opening replays every segment. A torn record at the very end of the last
//! segment (a crash mid-write) is cut off with a warning: it was never
//! fsynced, so never acknowledged. Damage anywhere else stops the open with
//! an error naming the file and offset: that data was acknowledged, and
//! silently dropping it would lose writes.

pub mod record;

use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use protobuf::Message as _;
use raft::eraftpb::{Entry, HardState, SnapshotMetadata};

use record::{Decoded, RecordType};

/// Default size after which a segment is closed.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("wal: {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("wal: corrupt record in {path} at offset {offset}: {reason}")]
    Corrupt {
        path: PathBuf,
        offset: usize,
        reason: String,
    },
    #[error("wal: {0}")]
    Invalid(String),
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> WalError + 'a {
    move |source| WalError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// What the log held when it was opened.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Recovered {
    /// The latest snapshot mark (index 0 if none): entries up to it are gone.
    pub snapshot: SnapshotMetadata,
    pub hard_state: HardState,
    /// Entries after the snapshot mark, contiguous, in index order.
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Segment {
    seq: u64,
    first_index: u64,
    path: PathBuf,
}

/// An open write-ahead log.
pub struct Wal {
    dir: PathBuf,
    segments: Vec<Segment>,
    file: File,
    size: u64,
    crc: u32,
    segment_bytes: u64,
    last_index: u64,
    hard_state: HardState,
    snapshot: SnapshotMetadata,
}

fn segment_name(seq: u64, first_index: u64) -> String {
    format!("{seq:016x}-{first_index:016x}.wal")
}

fn parse_segment_name(name: &str) -> Option<(u64, u64)> {
    let stem = name.strip_suffix(".wal")?;
    let (seq, index) = stem.split_once('-')?;
    Some((
        u64::from_str_radix(seq, 16).ok()?,
        u64::from_str_radix(index, 16).ok()?,
    ))
}

impl Wal {
    /// Opens (or creates) the WAL in `dir` and replays it.
    pub fn open(dir: &Path, segment_bytes: u64) -> Result<(Wal, Recovered), WalError> {
        fs::create_dir_all(dir).map_err(io_err("create dir", dir))?;
        let mut segments = list_segments(dir)?;
        let mut rec = Recovered::default();
        let count = segments.len();
        let mut tail_crc = 0;
        let mut tail_size = 0;
        for (i, seg) in segments.iter().enumerate() {
            let (crc, size) = replay_segment(seg, i + 1 == count, &mut rec)?;
            tail_crc = crc;
            tail_size = size;
        }
        if let (Some(first), Some(_)) = (rec.entries.first(), segments.first()) {
            if first.index != rec.snapshot.index + 1 {
                return Err(WalError::Invalid(format!(
                    "log starts at index {} but the snapshot mark is at {}",
                    first.index, rec.snapshot.index
                )));
            }
        }
        let last_index = rec.entries.last().map_or(rec.snapshot.index, |e| e.index);
        let (file, size, crc) = match segments.last() {
            Some(seg) => {
                let mut file = OpenOptions::new()
                    .write(true)
                    .open(&seg.path)
                    .map_err(io_err("open", &seg.path))?;
                preallocate(&file, &seg.path, segment_bytes)?;
                file.seek(SeekFrom::Start(tail_size))
                    .map_err(io_err("seek", &seg.path))?;
                (file, tail_size, tail_crc)
            }
            None => {
                let seg = Segment {
                    seq: 0,
                    first_index: 0,
                    path: dir.join(segment_name(0, 0)),
                };
                let file = create_segment(dir, &seg.path, segment_bytes)?;
                segments.push(seg);
                (file, 0, 0)
            }
        };
        let wal = Wal {
            dir: dir.to_path_buf(),
            segments,
            file,
            size,
            crc,
            segment_bytes,
            last_index,
            hard_state: rec.hard_state.clone(),
            snapshot: rec.snapshot.clone(),
        };
        Ok((wal, rec))
    }

    /// Durably appends `entries` (which may overwrite a suffix of the log)
    /// and `hard_state`, with one write and one fsync.
    pub fn append(
        &mut self,
        entries: &[Entry],
        hard_state: Option<&HardState>,
    ) -> Result<(), WalError> {
        if entries.is_empty() && hard_state.is_none() {
            return Ok(());
        }
        if self.size >= self.segment_bytes {
            let next = entries.first().map_or(self.last_index + 1, |e| e.index);
            self.roll(next)?;
        }
        let mut buf = Vec::new();
        for e in entries {
            let payload = e
                .write_to_bytes()
                .map_err(|e| WalError::Invalid(format!("encode entry: {e}")))?;
            self.crc = record::encode(&mut buf, self.crc, RecordType::Entry, &payload);
            self.last_index = e.index;
        }
        if let Some(hs) = hard_state {
            let payload = hs
                .write_to_bytes()
                .map_err(|e| WalError::Invalid(format!("encode hard state: {e}")))?;
            self.crc = record::encode(&mut buf, self.crc, RecordType::HardState, &payload);
            self.hard_state = hs.clone();
        }
        self.write_durably(&buf)
    }

    /// Records that everything up to `meta.index` is held in a store snapshot
    /// (already durable elsewhere), then deletes the segments it covers.
    pub fn save_snapshot(&mut self, meta: &SnapshotMetadata) -> Result<(), WalError> {
        let payload = meta
            .write_to_bytes()
            .map_err(|e| WalError::Invalid(format!("encode snapshot mark: {e}")))?;
        let mut buf = Vec::new();
        self.crc = record::encode(&mut buf, self.crc, RecordType::Snapshot, &payload);
        self.write_durably(&buf)?;
        self.snapshot = meta.clone();
        if self.last_index < meta.index {
            self.last_index = meta.index;
        }
        self.release(meta.index)
    }

    fn write_durably(&mut self, buf: &[u8]) -> Result<(), WalError> {
        let path = &self.segments.last().expect("current segment").path;
        self.file.write_all(buf).map_err(io_err("write", path))?;
        self.file.sync_data().map_err(io_err("fsync", path))?;
        self.size += buf.len() as u64;
        Ok(())
    }

    /// Closes the current segment and starts the next at `first_index`.
    fn roll(&mut self, first_index: u64) -> Result<(), WalError> {
        let seq = self.segments.last().map_or(0, |s| s.seq + 1);
        let path = self.dir.join(segment_name(seq, first_index));
        self.file = create_segment(&self.dir, &path, self.segment_bytes)?;
        self.segments.push(Segment {
            seq,
            first_index,
            path,
        });
        self.size = 0;
        self.crc = 0;
        // Each segment starts self-describing, so older ones can go.
        let mut buf = Vec::new();
        let snap = self
            .snapshot
            .write_to_bytes()
            .map_err(|e| WalError::Invalid(format!("encode snapshot mark: {e}")))?;
        self.crc = record::encode(&mut buf, self.crc, RecordType::Snapshot, &snap);
        let hs = self
            .hard_state
            .write_to_bytes()
            .map_err(|e| WalError::Invalid(format!("encode hard state: {e}")))?;
        self.crc = record::encode(&mut buf, self.crc, RecordType::HardState, &hs);
        self.write_durably(&buf)
    }

    /// Deletes closed segments whose entries are all at or below `index`.
    fn release(&mut self, index: u64) -> Result<(), WalError> {
        while self.segments.len() > 1 && self.segments[1].first_index <= index + 1 {
            let old = self.segments.remove(0);
            fs::remove_file(&old.path).map_err(io_err("remove", &old.path))?;
            tracing::debug!(segment = %old.path.display(), "released wal segment");
        }
        Ok(())
    }

    /// Number of segment files (for tests and status).
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    pub fn last_index(&self) -> u64 {
        self.last_index
    }
}

/// Reserves a segment's full size up front (zeros): appends then change no
/// file size, so each `fdatasync` flushes data only, not metadata (etcd
/// preallocates its WAL segments for the same reason). Zeros read as "end
/// of written data".
fn preallocate(file: &File, path: &Path, bytes: u64) -> Result<(), WalError> {
    let len = file.metadata().map_err(io_err("stat", path))?.len();
    if len < bytes {
        fs4::FileExt::allocate(file, bytes).map_err(io_err("preallocate", path))?;
    }
    Ok(())
}

fn create_segment(dir: &Path, path: &Path, bytes: u64) -> Result<File, WalError> {
    let file = OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(path)
        .map_err(io_err("create", path))?;
    preallocate(&file, path, bytes)?;
    file.sync_all().map_err(io_err("fsync", path))?;
    // The new name must survive a crash too.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync dir", dir))?;
    Ok(file)
}

fn list_segments(dir: &Path) -> Result<Vec<Segment>, WalError> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("read dir", dir))? {
        let entry = entry.map_err(io_err("read dir", dir))?;
        let name = entry.file_name();
        let Some((seq, first_index)) = name.to_str().and_then(parse_segment_name) else {
            continue;
        };
        segments.push(Segment {
            seq,
            first_index,
            path: entry.path(),
        });
    }
    segments.sort_by_key(|s| s.seq);
    for pair in segments.windows(2) {
        if pair[1].seq != pair[0].seq + 1 {
            return Err(WalError::Invalid(format!(
                "missing segment between {} and {}",
                pair[0].path.display(),
                pair[1].path.display()
            )));
        }
    }
    Ok(segments)
}

/// Replays one segment into `rec`; returns the rolling crc and the size of
/// the valid data (the file is cut there if its tail was torn).
fn replay_segment(
    seg: &Segment,
    is_last: bool,
    rec: &mut Recovered,
) -> Result<(u32, u64), WalError> {
    let buf = fs::read(&seg.path).map_err(io_err("read", &seg.path))?;
    let mut offset = 0;
    let mut crc = 0;
    loop {
        match record::decode(&buf, offset, crc) {
            Decoded::End => return Ok((crc, offset as u64)),
            Decoded::Record {
                kind,
                payload,
                crc: c,
                next,
            } => {
                apply_record(seg, offset, kind, payload, rec)?;
                crc = c;
                offset = next;
            }
            Decoded::Bad(reason) => {
                let after = (offset + record::padded_len(claimed_len(&buf, offset))).min(buf.len());
                let torn_tail = is_last && buf[after..].iter().all(|&b| b == 0);
                if !torn_tail {
                    return Err(WalError::Corrupt {
                        path: seg.path.clone(),
                        offset,
                        reason: reason.to_string(),
                    });
                }
                tracing::warn!(
                    segment = %seg.path.display(), offset, reason,
                    "cutting torn record at the end of the WAL (never acknowledged)"
                );
                let f = OpenOptions::new()
                    .write(true)
                    .open(&seg.path)
                    .map_err(io_err("open", &seg.path))?;
                f.set_len(offset as u64)
                    .map_err(io_err("truncate", &seg.path))?;
                f.sync_all().map_err(io_err("fsync", &seg.path))?;
                return Ok((crc, offset as u64));
            }
        }
    }
}

fn claimed_len(buf: &[u8], offset: usize) -> usize {
    buf.get(offset..offset + 4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
        .unwrap_or(0)
        .min(record::MAX_PAYLOAD)
}

fn apply_record(
    seg: &Segment,
    offset: usize,
    kind: RecordType,
    payload: &[u8],
    rec: &mut Recovered,
) -> Result<(), WalError> {
    let corrupt = |e: protobuf::ProtobufError| WalError::Corrupt {
        path: seg.path.clone(),
        offset,
        reason: e.to_string(),
    };
    match kind {
        RecordType::Entry => {
            let e = Entry::parse_from_bytes(payload).map_err(corrupt)?;
            if e.index <= rec.snapshot.index {
                return Ok(());
            }
            // A later record at an existing index overwrites that suffix
            // (a new leader replaced uncommitted entries).
            if let Some(pos) = rec.entries.iter().position(|x| x.index >= e.index) {
                rec.entries.truncate(pos);
            }
            if let Some(last) = rec.entries.last() {
                if e.index != last.index + 1 {
                    return Err(WalError::Corrupt {
                        path: seg.path.clone(),
                        offset,
                        reason: format!("entry {} does not follow {}", e.index, last.index),
                    });
                }
            }
            rec.entries.push(e);
        }
        RecordType::HardState => {
            rec.hard_state = HardState::parse_from_bytes(payload).map_err(corrupt)?
        }
        RecordType::Snapshot => {
            let meta = SnapshotMetadata::parse_from_bytes(payload).map_err(corrupt)?;
            if meta.index >= rec.snapshot.index {
                rec.entries.retain(|e| e.index > meta.index);
                rec.snapshot = meta;
            }
        }
    }
    Ok(())
}
