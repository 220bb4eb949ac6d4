//! WAL durability properties: what was appended comes back after reopening;
//! a torn final record (crash mid-write) is cut off; damage anywhere else
//! refuses to start, naming the file and offset; snapshot marks release old
//! segments without losing what follows them.

use std::fs;
use std::path::{Path, PathBuf};

use raft::eraftpb::{ConfState, Entry, HardState, SnapshotMetadata};
use raft_node::wal::{Wal, WalError};

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
