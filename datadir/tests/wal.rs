//! WAL durability properties: what was appended comes back after reopening;
//! a torn final record (crash mid-write) is cut off; damage anywhere else
//! refuses to start, naming the file and offset; snapshot marks release old
//! segments without losing what follows them.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use etcd_datadir::wal::{Wal, WalError};
use raft::eraftpb::{ConfState, Entry, HardState, SnapshotMetadata};

fn entry(index: u64, term: u64, data: &str) -> Entry {
    Entry {
        index,
        term,
        data: data.as_bytes().to_vec().into(),
        ..Default::default()
    }
}

fn hard_state(term: u64, commit: u64) -> HardState {
    HardState {
        term,
        commit,
        vote: 1,
        ..Default::default()
    }
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read wal dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    v.sort();
    v
}

/// Where the written data of a (preallocated, zero-filled) segment ends.
fn data_end(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| i + 1)
        .div_ceil(8)
        * 8
}

#[test]
fn round_trip_with_overwrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (mut wal, rec) = Wal::open(dir.path(), 1 << 20).expect("open new");
        assert!(rec.entries.is_empty());
        wal.append(
            &[entry(1, 1, "a"), entry(2, 1, "b"), entry(3, 1, "c")],
            Some(&hard_state(1, 1)),
        )
        .expect("append");
        // A new leader overwrites index 3 onwards.
        wal.append(
            &[entry(3, 2, "C"), entry(4, 2, "d")],
            Some(&hard_state(2, 3)),
        )
        .expect("append overwrite");
    }
    let (_, rec) = Wal::open(dir.path(), 1 << 20).expect("reopen");
    let got: Vec<(u64, u64, Vec<u8>)> = rec
        .entries
        .iter()
        .map(|e| (e.index, e.term, e.data.to_vec()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 1, b"a".to_vec()),
            (2, 1, b"b".to_vec()),
            (3, 2, b"C".to_vec()),
            (4, 2, b"d".to_vec())
        ]
    );
    assert_eq!(rec.hard_state, hard_state(2, 3));
}

#[test]
fn torn_tail_is_truncated_and_appending_continues() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (mut wal, _) = Wal::open(dir.path(), 1 << 20).expect("open");
        wal.append(&[entry(1, 1, "one")], None).expect("append 1");
        wal.append(&[entry(2, 1, "two-two-two")], None)
            .expect("append 2");
    }
    let seg = segments(dir.path()).pop().expect("one segment");
    // Segments are preallocated with zeros: the written data ends at the
    // last non-zero byte. Zero the end of the last record, as a crash
    // during its write would leave it.
    let mut bytes = fs::read(&seg).expect("read segment");
    let end = data_end(&bytes);
    bytes[end - 9..end].fill(0);
    fs::write(&seg, &bytes).expect("write segment");
    {
        let (mut wal, rec) = Wal::open(dir.path(), 1 << 20).expect("reopen after tear");
        assert_eq!(rec.entries.len(), 1, "only the intact record survives");
        assert_eq!(rec.entries[0].index, 1);
        wal.append(&[entry(2, 1, "again")], None)
            .expect("append after tear");
    }
    let (_, rec) = Wal::open(dir.path(), 1 << 20).expect("reopen again");
    assert_eq!(rec.entries.len(), 2);
    assert_eq!(rec.entries[1].data.as_ref(), b"again");
}

#[test]
fn corruption_in_the_middle_refuses_to_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (mut wal, _) = Wal::open(dir.path(), 1 << 20).expect("open");
        for i in 1..=5 {
            wal.append(&[entry(i, 1, "some payload")], None)
                .expect("append");
        }
    }
    let seg = segments(dir.path()).pop().expect("segment");
    let mut bytes = fs::read(&seg).expect("read");
    // Flip a payload byte of the second record.
    let second = data_end(&bytes) / 5 + 14;
    bytes[second] ^= 0xff;
    fs::write(&seg, &bytes).expect("write");
    match Wal::open(dir.path(), 1 << 20) {
        Err(WalError::Corrupt { path, offset, .. }) => {
            assert_eq!(path, seg);
            assert!(offset > 0 && offset < data_end(&bytes), "offset {offset}");
            let msg = Wal::open(dir.path(), 1 << 20)
                .err()
                .expect("still corrupt")
                .to_string();
            assert!(msg.contains(&seg.display().to_string()), "{msg}");
            assert!(msg.contains("offset"), "{msg}");
        }
        Err(e) => panic!("expected corruption error, got {e}"),
        Ok(_) => panic!("a corrupt WAL must not open"),
    }
}

#[test]
fn snapshot_mark_releases_old_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = "x".repeat(300);
    {
        // Tiny segments: every append after the first rolls a new one.
        let (mut wal, _) = Wal::open(dir.path(), 256).expect("open");
        for i in 1..=20 {
            wal.append(&[entry(i, 1, &big)], Some(&hard_state(1, i)))
                .expect("append");
        }
        assert!(
            wal.segment_count() >= 10,
            "segments: {}",
            wal.segment_count()
        );
        let mut meta = SnapshotMetadata {
            index: 15,
            term: 1,
            ..Default::default()
        };
        meta.set_conf_state(ConfState {
            voters: vec![7],
            ..Default::default()
        });
        wal.save_snapshot(&meta).expect("snapshot mark");
        assert!(
            wal.segment_count() <= 6,
            "segments after release: {}",
            wal.segment_count()
        );
    }
    let (_, rec) = Wal::open(dir.path(), 256).expect("reopen");
    assert_eq!(rec.snapshot.index, 15);
    assert_eq!(rec.snapshot.get_conf_state().voters, vec![7]);
    let indexes: Vec<u64> = rec.entries.iter().map(|e| e.index).collect();
    assert_eq!(indexes, (16..=20).collect::<Vec<_>>());
    assert_eq!(rec.hard_state.commit, 20);
}

const SEG: u64 = 1 << 20;

/// Five appends, each an entry and the hard state voting for `index`; returns
/// the segment and the offset at which each append's records start.
fn five_appends(dir: &Path) -> (PathBuf, Vec<usize>) {
    let mut starts = Vec::new();
    let (mut wal, _) = Wal::open(dir, SEG).expect("open");
    for i in 1..=5 {
        let seg = segments(dir).pop().expect("segment");
        starts.push(data_end(&fs::read(&seg).expect("read")));
        let hs = HardState {
            term: 1,
            vote: i,
            commit: i,
            ..Default::default()
        };
        wal.append(&[entry(i, 1, "payload of some length")], Some(&hs))
            .expect("append");
    }
    (segments(dir).pop().expect("segment"), starts)
}

fn edit(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = fs::read(path).expect("read segment");
    f(&mut bytes);
    fs::write(path, &bytes).expect("write segment");
}

/// Opens `dir`, expecting the corruption error for `seg` at `offset`.
fn expect_corrupt(dir: &Path, seg: &Path, offset: usize) -> String {
    match Wal::open(dir, SEG) {
        Err(e @ WalError::Corrupt { .. }) => {
            let WalError::Corrupt {
                path, offset: at, ..
            } = &e
            else {
                unreachable!()
            };
            assert_eq!((path.as_path(), *at), (seg, offset), "{e}");
            let msg = e.to_string();
            assert!(msg.contains(&seg.display().to_string()), "{msg}");
            assert!(msg.contains(&format!("offset {offset}")), "{msg}");
            msg
        }
        Err(e) => panic!("expected a corruption error, got {e}"),
        Ok((_, rec)) => panic!(
            "a damaged WAL opened, recovering {} entries",
            rec.entries.len()
        ),
    }
}

#[test]
fn bit_flip_in_the_middle_record_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (seg, starts) = five_appends(dir.path());
    edit(&seg, |b| b[starts[2] + 20] ^= 0x04);
    expect_corrupt(dir.path(), &seg, starts[2]);
}

#[test]
fn bit_flip_in_the_last_complete_record_is_refused() {
    // The last record is followed only by preallocated zeros: it looks like
    // the end of the log, but its frame is complete, so it was written
    // whole (and acknowledged) and then damaged.
    let dir = tempfile::tempdir().expect("tempdir");
    let (seg, _) = five_appends(dir.path());
    let bytes = fs::read(&seg).expect("read");
    let end = data_end(&bytes);
    // The last record is the hard state of the last append; find its start
    // by reading the log up to it.
    let (_, rec) = Wal::open(dir.path(), SEG).expect("intact log opens");
    assert_eq!(rec.hard_state.vote, 5);
    let last_start = last_record_start(&bytes[..end]);
    edit(&seg, |b| b[last_start + 9] ^= 0x80);
    let msg = expect_corrupt(dir.path(), &seg, last_start);
    assert!(msg.contains("checksum"), "{msg}");
}

#[test]
fn bit_flip_in_a_length_is_refused_not_taken_for_a_torn_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (seg, starts) = five_appends(dir.path());
    // A high length bit: the frame would run past the end of the file.
    edit(&seg, |b| b[starts[4] + 3] ^= 0x01);
    expect_corrupt(dir.path(), &seg, starts[4]);
}

#[test]
fn zeroed_region_in_the_middle_of_the_last_segment_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (seg, starts) = five_appends(dir.path());
    // A whole append zeroed (as a lost sector would read), data after it.
    edit(&seg, |b| b[starts[2]..starts[3]].fill(0));
    let msg = expect_corrupt(dir.path(), &seg, starts[2]);
    assert!(msg.contains("zeroed"), "{msg}");
    // Only part of a record zeroed.
    let dir = tempfile::tempdir().expect("tempdir");
    let (seg, starts) = five_appends(dir.path());
    edit(&seg, |b| b[starts[1] + 16..starts[1] + 40].fill(0));
    expect_corrupt(dir.path(), &seg, starts[1]);
}

/// Runs `f` with a subscriber that keeps every log line; returns them.
fn capture_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log buffer").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(buf.0.lock().expect("log buffer").clone()).expect("utf-8");
    (out, text)
}

#[test]
fn torn_final_append_is_cut_with_a_warning_and_the_vote_survives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (seg, starts) = five_appends(dir.path());
    let bytes = fs::read(&seg).expect("read");
    let end = data_end(&bytes);
    // Crash in the middle of the fifth append: its entry got to disk whole,
    // the hard state after it only in part (the rest reads as zeros).
    let hs_start = last_record_start(&bytes[..end]);
    assert!(hs_start > starts[4]);
    edit(&seg, |b| b[hs_start + 16..].fill(0));
    let (rec, logs) = capture_logs(|| Wal::open(dir.path(), SEG).expect("repaired").1);
    assert_eq!(
        rec.entries.iter().map(|e| e.index).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(rec.hard_state.vote, 4, "the previous append's vote stands");
    assert!(logs.contains("WARN"), "{logs}");
    assert!(logs.contains(&seg.display().to_string()), "{logs}");
    assert!(logs.contains(&format!("offset={hs_start}")), "{logs}");
    // The cut is durable: the next open is clean and finds the same.
    let bytes = fs::read(&seg).expect("read");
    assert!(bytes[hs_start..].iter().all(|&b| b == 0));
    let ((_, again), logs) = capture_logs(|| Wal::open(dir.path(), SEG).expect("clean"));
    assert!(logs.is_empty(), "{logs}");
    assert_eq!((again.entries.len(), again.hard_state.vote), (5, 4));
}

#[test]
fn file_ending_inside_the_final_record_is_repaired() {
    // A write that grew the file past its preallocated size and was cut.
    let dir = tempfile::tempdir().expect("tempdir");
    let (seg, starts) = five_appends(dir.path());
    let bytes = fs::read(&seg).expect("read");
    let cut = starts[4] + 24;
    fs::write(&seg, &bytes[..cut]).expect("shorten");
    let (mut wal, rec) = Wal::open(dir.path(), SEG).expect("repaired");
    assert_eq!(rec.entries.len(), 4);
    assert_eq!(rec.hard_state.vote, 4);
    wal.append(&[entry(5, 2, "again")], None).expect("append");
    drop(wal);
    let (_, rec) = Wal::open(dir.path(), SEG).expect("reopen");
    assert_eq!(rec.entries.len(), 5);
    assert_eq!(rec.entries[4].data.as_ref(), b"again");
}

#[test]
fn unfinished_record_in_an_earlier_segment_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = "x".repeat(300);
    {
        let (mut wal, _) = Wal::open(dir.path(), 256).expect("open");
        for i in 1..=4 {
            wal.append(&[entry(i, 1, &big)], Some(&hard_state(1, i)))
                .expect("append");
        }
    }
    let segs = segments(dir.path());
    assert!(segs.len() >= 3, "{segs:?}");
    let first = &segs[0];
    let len = fs::read(first).expect("read").len();
    // Cut the first segment's end: later segments prove it was complete.
    let f = fs::OpenOptions::new()
        .write(true)
        .open(first)
        .expect("open segment");
    f.set_len(len as u64 - 8).expect("truncate");
    drop(f);
    let start = last_record_start(&fs::read(first).expect("read")[..len - 8]);
    match Wal::open(dir.path(), 256) {
        Err(WalError::Corrupt { path, offset, .. }) => {
            assert_eq!((&path, offset), (first, start))
        }
        Err(e) => panic!("expected a corruption error, got {e}"),
        Ok(_) => panic!("a WAL with a damaged closed segment opened"),
    }
}

#[test]
fn crash_while_rolling_keeps_the_vote_after_old_segments_go() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = "x".repeat(300);
    {
        let (mut wal, _) = Wal::open(dir.path(), 256).expect("open");
        for i in 1..=3 {
            let hs = HardState {
                term: 4,
                vote: 9,
                commit: i,
                ..Default::default()
            };
            wal.append(&[entry(i, 4, &big)], Some(&hs)).expect("append");
        }
    }
    // The next roll created its segment, then crashed before its first
    // records (the copies of the snapshot mark and hard state) were durable.
    let last = segments(dir.path()).pop().expect("segment");
    let name = last.file_name().and_then(|n| n.to_str()).expect("name");
    let seq = u64::from_str_radix(&name[..16], 16).expect("seq");
    let next = dir.path().join(format!("{:016x}-{:016x}.wal", seq + 1, 4));
    fs::File::create(&next)
        .and_then(|mut f| f.write_all(&[0; 256]))
        .expect("empty segment");
    {
        let (mut wal, rec) = Wal::open(dir.path(), 256).expect("open");
        assert_eq!(rec.hard_state.vote, 9);
        wal.append(&[entry(4, 4, "d")], None).expect("append");
        wal.append(&[entry(5, 4, "e")], None).expect("append");
        let meta = SnapshotMetadata {
            index: 4,
            term: 4,
            ..Default::default()
        };
        wal.save_snapshot(&meta).expect("snapshot mark");
    }
    assert!(
        !segments(dir.path()).contains(&last),
        "old segments released"
    );
    let (_, rec) = Wal::open(dir.path(), 256).expect("reopen");
    assert_eq!(rec.hard_state.vote, 9, "the vote outlives its segment");
    assert_eq!(rec.hard_state.term, 4);
    assert_eq!(
        rec.entries.iter().map(|e| e.index).collect::<Vec<_>>(),
        vec![5]
    );
}

/// Offset of the last record in `written` (the data part of a segment),
/// found by walking the frames from the start.
fn last_record_start(written: &[u8]) -> usize {
    let mut at = 0;
    let mut last = 0;
    while at + 8 <= written.len() {
        let len = u32::from_le_bytes(written[at..at + 4].try_into().expect("4 bytes")) as usize;
        last = at;
        at += 8 + len.div_ceil(8) * 8 + 8;
    }
    last
}

/// A segment in the first WAL format (no header check) is refused with a
/// message that says what to do, not taken for damage.
#[test]
fn a_segment_in_the_old_format_is_refused_with_advice() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The old frame: len u32 LE, type u8, three zero bytes, crc u32 LE,
    // payload, zero padding to 8.
    let payload = protobuf::Message::write_to_bytes(&SnapshotMetadata::default()).expect("encode");
    let mut h = crc32fast::Hasher::new();
    h.update(&0u32.to_le_bytes());
    h.update(&[3]);
    h.update(&payload);
    let mut seg = Vec::new();
    seg.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    seg.extend_from_slice(&[3, 0, 0, 0]);
    seg.extend_from_slice(&h.finalize().to_le_bytes());
    seg.extend_from_slice(&payload);
    seg.resize(seg.len().div_ceil(8) * 8 + 4096, 0);
    fs::write(
        dir.path().join("0000000000000000-0000000000000000.wal"),
        seg,
    )
    .expect("write");
    let Err(err) = Wal::open(dir.path(), 1 << 20) else {
        panic!("an old-format segment opened");
    };
    assert!(
        err.to_string().contains("older etcd-rs WAL format"),
        "{err}"
    );
}
