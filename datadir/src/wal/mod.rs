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
//! # What a crash can leave, and what is repaired
//!
//! Opening replays every segment, and must tell an unfinished write (never
//! acknowledged: safe to drop) from damage to acknowledged data (must not be
//! dropped silently). What a crash can leave follows from how we write:
//!
//! - One writer appends with one `write` then one `fdatasync`, and starts
//!   the next write only after that returned. So at most one write is not
//!   durable at a crash: the last one, in the last segment. Everything before
//!   its start was fsynced; every earlier segment is complete.
//! - Segments are preallocated with zeros (created with `fallocate` and
//!   fsynced, re-extended with zeros after a repair), so bytes past the
//!   durable end read as zeros, and an unfinished write can leave only its
//!   own bytes or those zeros. A record crossing `segment_bytes` grows the
//!   file, and the grown size may survive without all the data or the data
//!   without the size: the file may end inside the last record.
//! - A process crash leaves a prefix of the write (the page cache keeps
//!   what was copied); a power loss leaves whole sectors of it. Record
//!   headers and trailers are 8 bytes, 8-aligned, so they never straddle a
//!   sector: each is either there in full or zeros.
//!
//! Hence the rule. The records read in order; at the first offset that does
//! not hold a good record, the rest of the file is judged
//! ([`record::decode`]):
//!
//! - all zeros: the clean end of the log;
//! - only in the last segment, a repairable torn tail: the file ends inside
//!   the record (partial header or frame), or the record's trailer is zeros
//!   and so is everything after it. The tail is cut off with a warning
//!   naming file and offset, and the cut is fsynced, so the next open is
//!   clean. Records that landed whole before it are kept (they may not have
//!   been acknowledged; raft tolerates an entry that became durable anyway);
//! - anything else is [`WalError::Corrupt`], naming the file and offset: a
//!   complete frame with a bad checksum (the trailer proves it was written
//!   to its end), a header failing its own check (so a flipped length is
//!   never taken for "the record runs past the end"), zeros followed by
//!   non-zero bytes, an unfinished record in a segment that later segments
//!   follow. The member then refuses to start.
//!
//! The limits of the rule, chosen on the side of refusing: a power loss that
//! persisted a later sector of the last write but not an earlier one (disks
//! may reorder unflushed sectors) shows as zeros followed by data, or a
//! complete frame with a bad checksum, and is refused although it was never
//! acknowledged; the operator decides (the offset is in the error). And
//! damage that zeroes the end of the very last record and nothing else is
//! indistinguishable from a crash during its write and is repaired.
//!
//! A crash while rolling to a new segment can leave that segment without its
//! leading copies of the snapshot mark and hard state; opening writes them
//! again before anything could release the older segments that hold them.
//! After a failed write or fsync the log takes no more appends: what reached
//! the file is unknown.
//!
//! Lengths read from disk are used only after the header check vouches for
//! them, and only up to what is left of the file and [`record::MAX_PAYLOAD`].
//!
//! # Testing the fsync rule
//!
//! A `kill -9` keeps the page cache, so it cannot show a write acknowledged
//! before its fsync. The simulation can: [`Wal::lose_unsynced_writes`] zeroes
//! what was written but not yet fsynced, as a power loss would. It is a
//! no-op here, since every write is fsynced before `append` returns, except
//! with the planted bug `wal_ack_before_fsync` (feature `failpoints`), which
//! defers each write's fsync to the start of the next write, so that the
//! suite can show it catches the bug.

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
    /// Damage that an unfinished final write cannot explain: acknowledged
    /// data may be lost, so the WAL refuses to open.
    #[error(
        "wal: {path} is damaged at byte offset {offset}: {reason} \
         (refusing to start: only an unfinished final write may be cut off)"
    )]
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
    /// A write or fsync failed: what reached the file is unknown, so
    /// nothing more is appended (etcd panics in the same place).
    failed: bool,
    /// Where bytes written to the current segment but not yet fsynced
    /// start. Always `None` between calls, except with the planted bug
    /// `wal_ack_before_fsync`.
    unsynced_from: Option<u64>,
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
        let mut tail = Scan {
            crc: 0,
            size: 0,
            self_describing: true,
        };
        for (i, seg) in segments.iter().enumerate() {
            tail = replay_segment(seg, i + 1 == count, &mut rec)?;
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
                file.seek(SeekFrom::Start(tail.size))
                    .map_err(io_err("seek", &seg.path))?;
                (file, tail.size, tail.crc)
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
            failed: false,
            unsynced_from: None,
        };
        let mut wal = wal;
        if !tail.self_describing && wal.segments.last().is_some_and(|s| s.seq > 0) {
            // A crash while rolling left the new segment without (all of)
            // its leading copies; write them now, before older segments
            // holding the originals can be released.
            wal.write_header()?;
        }
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
        let mut crc = self.crc;
        let mut buf = Vec::new();
        for e in entries {
            frame(&mut buf, &mut crc, RecordType::Entry, e)?;
        }
        if let Some(hs) = hard_state {
            frame(&mut buf, &mut crc, RecordType::HardState, hs)?;
        }
        self.write_durably(&buf, crc)?;
        if let Some(last) = entries.last() {
            self.last_index = last.index;
        }
        if let Some(hs) = hard_state {
            self.hard_state = hs.clone();
        }
        Ok(())
    }

    /// Records that everything up to `meta.index` is held in a store snapshot
    /// (already durable elsewhere), then deletes the segments it covers.
    pub fn save_snapshot(&mut self, meta: &SnapshotMetadata) -> Result<(), WalError> {
        let mut crc = self.crc;
        let mut buf = Vec::new();
        frame(&mut buf, &mut crc, RecordType::Snapshot, meta)?;
        self.write_durably(&buf, crc)?;
        self.snapshot = meta.clone();
        if self.last_index < meta.index {
            self.last_index = meta.index;
        }
        self.release(meta.index)
    }

    /// Writes `buf` (framed records ending with rolling crc `crc`) with one
    /// write and one fsync.
    fn write_durably(&mut self, buf: &[u8], crc: u32) -> Result<(), WalError> {
        if self.failed {
            return Err(WalError::Invalid(
                "an earlier write failed; the log accepts no more appends".into(),
            ));
        }
        let defer_fsync = ack_before_fsync_planted();
        let result = self.sync_unsynced().and_then(|()| {
            let path = &self.segments.last().expect("current segment").path;
            self.file.write_all(buf).map_err(io_err("write", path))?;
            if !defer_fsync {
                self.file.sync_data().map_err(io_err("fsync", path))?;
            }
            Ok(())
        });
        if result.is_err() {
            self.failed = true;
        }
        result?;
        if defer_fsync {
            self.unsynced_from = Some(self.size);
        }
        self.size += buf.len() as u64;
        self.crc = crc;
        Ok(())
    }

    /// Fsyncs what an earlier write left unsynced (only the planted bug
    /// leaves anything).
    fn sync_unsynced(&mut self) -> Result<(), WalError> {
        if self.unsynced_from.is_some() {
            let path = &self.segments.last().expect("current segment").path;
            self.file.sync_data().map_err(io_err("fsync", path))?;
            self.unsynced_from = None;
        }
        Ok(())
    }

    /// Zeroes whatever was written but not fsynced, as a power loss would
    /// lose it (for the simulation; see the module notes). The log takes no
    /// more appends afterwards: the member is to be dropped and reopened.
    pub fn lose_unsynced_writes(&mut self) -> Result<(), WalError> {
        self.failed = true;
        let Some(from) = self.unsynced_from.take() else {
            return Ok(());
        };
        let path = &self.segments.last().expect("current segment").path;
        let zeros = vec![0u8; (self.size - from) as usize];
        self.file
            .seek(SeekFrom::Start(from))
            .and_then(|_| self.file.write_all(&zeros))
            .and_then(|()| self.file.sync_data())
            .map_err(io_err("zero unsynced", path))
    }

    /// Closes the current segment and starts the next at `first_index`.
    fn roll(&mut self, first_index: u64) -> Result<(), WalError> {
        self.sync_unsynced()?;
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
        self.write_header()
    }

    /// Writes copies of the snapshot mark and hard state: each segment
    /// starts self-describing, so older ones can go.
    fn write_header(&mut self) -> Result<(), WalError> {
        let mut crc = self.crc;
        let mut buf = Vec::new();
        frame(&mut buf, &mut crc, RecordType::Snapshot, &self.snapshot)?;
        frame(&mut buf, &mut crc, RecordType::HardState, &self.hard_state)?;
        self.write_durably(&buf, crc)
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

/// The planted bug `wal_ack_before_fsync` (feature `failpoints`): each
/// write's fsync waits for the next write, so `append` returns, and the
/// entries are acknowledged, before they are durable.
fn ack_before_fsync_planted() -> bool {
    fail::fail_point!("wal_ack_before_fsync", |_| true);
    false
}

/// Frames `msg` as one record of `kind` onto `buf`, advancing `crc`.
fn frame(
    buf: &mut Vec<u8>,
    crc: &mut u32,
    kind: RecordType,
    msg: &impl protobuf::Message,
) -> Result<(), WalError> {
    let payload = msg
        .write_to_bytes()
        .map_err(|e| WalError::Invalid(format!("encode {kind:?}: {e}")))?;
    if payload.len() > record::MAX_PAYLOAD {
        return Err(WalError::Invalid(format!(
            "{kind:?} record of {} bytes is over the limit of {}",
            payload.len(),
            record::MAX_PAYLOAD
        )));
    }
    *crc = record::encode(buf, *crc, kind, &payload);
    Ok(())
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

/// What replaying one segment found.
struct Scan {
    /// The rolling crc after the last good record.
    crc: u32,
    /// Where the last good record ends (the file is cut there if its tail
    /// was torn).
    size: u64,
    /// Whether the segment holds a snapshot mark and a hard state record
    /// (every segment after the first starts with both).
    self_describing: bool,
}

/// Replays one segment into `rec`. Only the last segment may end with an
/// unfinished write; that tail is cut off (and the cut made durable) so the
/// next open finds a clean end. Anything else that is not a good record or
/// zeros to the end of the file is an error naming the file and offset.
fn replay_segment(seg: &Segment, is_last: bool, rec: &mut Recovered) -> Result<Scan, WalError> {
    let buf = fs::read(&seg.path).map_err(io_err("read", &seg.path))?;
    let mut offset = 0;
    let mut crc = 0;
    let (mut has_snapshot, mut has_hard_state) = (false, false);
    loop {
        let reason = match record::decode(&buf, offset, crc) {
            Decoded::Record {
                kind,
                payload,
                crc: c,
                next,
            } => {
                apply_record(seg, offset, kind, payload, rec)?;
                has_snapshot |= kind == RecordType::Snapshot;
                has_hard_state |= kind == RecordType::HardState;
                crc = c;
                offset = next;
                continue;
            }
            Decoded::End => break,
            Decoded::Torn(reason) if is_last => reason,
            Decoded::Torn(reason) => {
                return Err(corrupt(
                    seg,
                    offset,
                    format!("{reason}, in a segment that later segments follow"),
                ))
            }
            Decoded::Corrupt(reason) => return Err(corrupt(seg, offset, reason.to_string())),
        };
        tracing::warn!(
            segment = %seg.path.display(), offset, reason,
            "cutting an unfinished write off the end of the WAL (it was never acknowledged)"
        );
        let f = OpenOptions::new()
            .write(true)
            .open(&seg.path)
            .map_err(io_err("open", &seg.path))?;
        f.set_len(offset as u64)
            .map_err(io_err("truncate", &seg.path))?;
        f.sync_all().map_err(io_err("fsync", &seg.path))?;
        break;
    }
    Ok(Scan {
        crc,
        size: offset as u64,
        self_describing: has_snapshot && has_hard_state,
    })
}

fn corrupt(seg: &Segment, offset: usize, reason: String) -> WalError {
    WalError::Corrupt {
        path: seg.path.clone(),
        offset,
        reason,
    }
}

fn apply_record(
    seg: &Segment,
    offset: usize,
    kind: RecordType,
    payload: &[u8],
    rec: &mut Recovered,
) -> Result<(), WalError> {
    let bad = |e: protobuf::ProtobufError| corrupt(seg, offset, format!("bad payload: {e}"));
    match kind {
        RecordType::Entry => {
            let e = Entry::parse_from_bytes(payload).map_err(bad)?;
            if e.index <= rec.snapshot.index {
                return Ok(());
            }
            // A later record at an existing index overwrites that suffix
            // (a new leader replaced uncommitted entries). The entries are
            // contiguous, so the position follows from the first index.
            if let Some(first) = rec.entries.first().map(|x| x.index) {
                rec.entries.truncate(
                    e.index
                        .saturating_sub(first)
                        .try_into()
                        .unwrap_or(usize::MAX),
                );
            }
            if let Some(last) = rec.entries.last() {
                if e.index != last.index + 1 {
                    return Err(corrupt(
                        seg,
                        offset,
                        format!("entry {} does not follow {}", e.index, last.index),
                    ));
                }
            }
            rec.entries.push(e);
        }
        RecordType::HardState => {
            rec.hard_state = HardState::parse_from_bytes(payload).map_err(bad)?
        }
        RecordType::Snapshot => {
            let meta = SnapshotMetadata::parse_from_bytes(payload).map_err(bad)?;
            if meta.index >= rec.snapshot.index {
                rec.entries.retain(|e| e.index > meta.index);
                rec.snapshot = meta;
            }
        }
    }
    Ok(())
}
