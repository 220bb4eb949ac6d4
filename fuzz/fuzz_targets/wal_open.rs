//! Opening a WAL directory whose segment files hold arbitrary bytes. An open
//! either fails with an error or succeeds; after a success (which may have
//! cut a torn tail) the log must reopen to the same state, take an append,
//! and give back exactly what it held plus that entry.
#![no_main]

use std::fs;

use libfuzzer_sys::fuzz_target;
use raft::eraftpb::Entry;
use etcd_datadir::wal::Wal;

const SEGMENT_BYTES: u64 = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    // Up to three segments; the first byte picks how the input is split.
    let count = (first % 3) as usize + 1;
    let cut = rest.len() / count;
    for i in 0..count {
        let part = if i + 1 == count {
            &rest[i * cut..]
        } else {
            &rest[i * cut..(i + 1) * cut]
        };
        let name = format!("{:016x}-{:016x}.wal", i, if i == 0 { 0 } else { i * 3 });
        fs::write(dir.path().join(name), part).expect("write segment");
    }
    let Ok((mut wal, rec)) = Wal::open(dir.path(), SEGMENT_BYTES) else {
        return;
    };
    drop(wal);
    let (mut wal2, again) = Wal::open(dir.path(), SEGMENT_BYTES).expect("a repaired WAL reopens");
    assert_eq!(rec, again, "reopening changed what the log holds");
    let next = wal2.last_index() + 1;
    let entry = Entry {
        index: next,
        term: rec.hard_state.term.max(1),
        data: b"after".to_vec().into(),
        ..Default::default()
    };
    wal2.append(std::slice::from_ref(&entry), None)
        .expect("append");
    drop(wal2);
    let (_, after) = Wal::open(dir.path(), SEGMENT_BYTES).expect("reopen after append");
    let mut want = rec.entries.clone();
    want.push(entry);
    assert_eq!(after.entries, want);
    assert_eq!(after.hard_state, rec.hard_state);
    assert_eq!(after.snapshot, rec.snapshot);
    wal = Wal::open(dir.path(), SEGMENT_BYTES).expect("reopen").0;
    drop(wal);
});
