//! Start-up recovery (`raft_node::recovery::reconcile`): whatever state a
//! crash left the store and the WAL in, the member starts, and the data dir
//! it leaves behind opens again.

use etcd_datadir::membership::Membership;
use etcd_datadir::snap_files::SnapFiles;
use etcd_datadir::wal::Wal;
use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::RaftRequest;
use etcd_proto::etcdserverpb::PutRequest;
use etcd_store::{MemBackend, Store, StoreConfig};
use raft::eraftpb::{Entry, SnapshotMetadata};
use raft_node::recovery::reconcile;

fn entry(index: u64) -> Entry {
    Entry {
        index,
        term: 1,
        ..Default::default()
    }
}

/// A store that has applied puts at raft indexes `1..=applied`.
fn store_at(applied: u64) -> Store {
    let store = Store::open(Box::<MemBackend>::default(), StoreConfig::default()).unwrap();
    for index in 1..=applied {
        let req = RaftRequest {
            id: index,
            op: Some(Op::Put(PutRequest {
                key: format!("k{index}").into_bytes(),
                value: b"v".to_vec(),
                ..Default::default()
            })),
            ..Default::default()
        };
        store.apply(index, 1, &req).unwrap();
    }
    store
}

/// A store ahead of the WAL (older versions installed a leader's snapshot
/// before marking it): the start marks the WAL at the store's index, so
/// the entries that follow are accepted when the WAL is opened again.
#[test]
fn a_store_ahead_of_the_wal_leaves_a_wal_that_opens() {
    let dir = tempfile::tempdir().unwrap();
    let wal_dir = dir.path().join("wal");
    {
        let (mut wal, _) = Wal::open(&wal_dir, 1 << 20).unwrap();
        wal.append(&[entry(1), entry(2), entry(3)], None).unwrap();
    }
    let store = store_at(10);
    let membership = Membership::load(&store).unwrap();
    let snaps = SnapFiles::new(&dir.path().join("snap")).unwrap();
    let (mut wal, mut recovered) = Wal::open(&wal_dir, 1 << 20).unwrap();
    reconcile(&store, &membership, &mut wal, &mut recovered, &snaps).unwrap();
    assert_eq!(recovered.snapshot.index, 10);
    assert!(recovered.entries.is_empty());
    // The member carries on from the store's index.
    wal.append(&[entry(11), entry(12)], None).unwrap();
    drop(wal);
    let (_, reopened) = Wal::open(&wal_dir, 1 << 20).unwrap();
    assert_eq!(reopened.snapshot.index, 10);
    let indexes: Vec<u64> = reopened.entries.iter().map(|e| e.index).collect();
    assert_eq!(indexes, vec![11, 12]);
}

/// Without the mark, the same entries make the WAL unreadable: this is the
/// failure the mark prevents (the recovery used to drop the old entries in
/// memory only).
#[test]
fn entries_after_a_gap_without_a_mark_do_not_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut wal, _) = Wal::open(dir.path(), 1 << 20).unwrap();
        wal.append(&[entry(1), entry(2), entry(3)], None).unwrap();
        wal.append(&[entry(11), entry(12)], None).unwrap();
    }
    let Err(err) = Wal::open(dir.path(), 1 << 20) else {
        panic!("a WAL with a gap opened");
    };
    assert!(err.to_string().contains("does not follow"), "{err}");
}

/// A store behind the WAL's snapshot mark (the member died after marking a
/// leader's snapshot, before installing it) is brought up to the mark from
/// the saved snapshot file; without the file the start refuses, naming both
/// indexes.
#[test]
fn a_store_behind_the_snapshot_mark_installs_the_saved_file() {
    let dir = tempfile::tempdir().unwrap();
    let wal_dir = dir.path().join("wal");
    let leader = store_at(20);
    let image = leader.snapshot().unwrap();
    {
        let (mut wal, _) = Wal::open(&wal_dir, 1 << 20).unwrap();
        wal.append(&[entry(1), entry(2), entry(3)], None).unwrap();
        wal.save_snapshot(&SnapshotMetadata {
            index: 20,
            term: 1,
            ..Default::default()
        })
        .unwrap();
    }
    let snaps = SnapFiles::new(&dir.path().join("snap")).unwrap();

    // No file: refused.
    let store = store_at(3);
    let membership = Membership::load(&store).unwrap();
    let (mut wal, mut recovered) = Wal::open(&wal_dir, 1 << 20).unwrap();
    let err = reconcile(&store, &membership, &mut wal, &mut recovered, &snaps).unwrap_err();
    assert!(
        err.to_string().contains("index 3") && err.to_string().contains("index 20"),
        "{err}"
    );
    drop(wal);

    // With the file: installed, then the file is gone.
    snaps.save(20, &image).unwrap();
    let (mut wal, mut recovered) = Wal::open(&wal_dir, 1 << 20).unwrap();
    reconcile(&store, &membership, &mut wal, &mut recovered, &snaps).unwrap();
    assert_eq!(store.applied_index(), 20);
    assert_eq!(store.hash_kv(0).unwrap(), leader.hash_kv(0).unwrap());
    assert_eq!(snaps.load(20).unwrap(), None);
}
