//! Whole-state comparison of two stores, and the snapshot round trip.

use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::RaftRequest;
use etcd_proto::etcdserverpb::alarm_request::AlarmAction;
use etcd_proto::etcdserverpb::{
    AlarmRequest, AlarmType, LeaseGrantRequest, PutRequest, RangeRequest, RangeResponse,
};
use etcd_store::{snapshot, LeaseEntry, RevisionEvents, Store, StoreError};

use crate::harness::*;

// ---------------------------------------------------------------------------
// Whole-state comparison
// ---------------------------------------------------------------------------

/// Everything observable about a store.
#[derive(Debug, PartialEq)]
pub(crate) struct Fingerprint {
    pub(crate) revision: i64,
    pub(crate) compacted: i64,
    pub(crate) applied_index: u64,
    pub(crate) applied_term: u64,
    pub(crate) leases: Vec<(i64, Option<LeaseEntry>)>,
    pub(crate) alarms: Vec<(u64, i32)>,
    pub(crate) hash_kv: Result<(u32, i64, i64), StoreError>,
    pub(crate) hash_all: u32,
    /// All keys at every revision that is still readable.
    pub(crate) reads: Vec<(i64, Result<RangeResponse, StoreError>)>,
    /// Watch history after the compacted revision.
    pub(crate) events: Result<Vec<RevisionEvents>, i64>,
}

impl Fingerprint {
    pub(crate) fn of(store: &Store) -> Self {
        let s = store.status();
        let leases = store
            .leases()
            .into_iter()
            .map(|(id, _)| (id, store.lease(id)))
            .collect();
        let reads = (s.compacted_revision.max(1)..=s.revision)
            .map(|rev| {
                let req = RangeRequest {
                    key: vec![0],
                    range_end: vec![0],
                    revision: rev,
                    ..Default::default()
                };
                (rev, store.range(&req))
            })
            .collect();
        Fingerprint {
            revision: s.revision,
            compacted: s.compacted_revision,
            applied_index: s.applied_index,
            applied_term: s.applied_term,
            leases,
            alarms: store.alarms(),
            hash_kv: store.hash_kv(0),
            hash_all: store.hash_all().expect("hash_all"),
            reads,
            events: events(store, s.compacted_revision + 1, usize::MAX),
        }
    }
}

pub(crate) fn events(store: &Store, from: i64, max: usize) -> Result<Vec<RevisionEvents>, i64> {
    store
        .events_since(from, max)
        .map(|evs| evs.iter().map(|e| (**e).clone()).collect())
        .map_err(|e| {
            e.compacted_revision()
                .expect("in-memory history is readable")
        })
}

/// Installs a snapshot of `store` into a fresh store and into one holding
/// other data; both must become indistinguishable from `store`.
pub(crate) fn check_snapshot(store: &Store) -> Vec<String> {
    let want = Fingerprint::of(store);
    let body = store.snapshot().expect("snapshot");

    let fresh = open_mem();
    fresh
        .install_snapshot(&body)
        .expect("install into fresh store");
    assert_eq!(Fingerprint::of(&fresh), want, "fresh store after install");
    assert_eq!(*fresh.subscribe().borrow(), want.revision);

    let busy = open_mem();
    let junk = [
        Op::Put(PutRequest {
            key: b"junk".to_vec(),
            value: b"x".to_vec(),
            ..Default::default()
        }),
        Op::LeaseGrant(LeaseGrantRequest { id: 4242, ttl: 60 }),
        Op::Alarm(AlarmRequest {
            action: AlarmAction::Activate as i32,
            member_id: 9,
            alarm: AlarmType::Corrupt as i32,
        }),
    ];
    for (i, op) in junk.into_iter().enumerate() {
        let req = RaftRequest {
            id: 0,
            op: Some(op),
            proposed_at_ms: 0,
            ..Default::default()
        };
        busy.apply(1000 + i as u64, 7, &req).expect("junk apply");
    }
    busy.install_snapshot(&body).expect("install over data");
    assert_eq!(Fingerprint::of(&busy), want, "busy store after install");

    // A damaged body is refused and leaves the target alone.
    let truncated = &body[..body.len() - 1];
    assert!(matches!(
        busy.install_snapshot(truncated),
        Err(StoreError::Corrupt(_))
    ));
    assert_eq!(
        Fingerprint::of(&busy),
        want,
        "refused snapshot changed the store"
    );

    // Backups are padded to 512 bytes and carry a sha256 trailer; the padded
    // body still installs.
    let mut file = body.clone();
    snapshot::append_sha256(&mut file);
    assert_eq!(file.len() % 512, 32);
    let padded = snapshot::verify_sha256(&file).expect("verify");
    assert!(padded.starts_with(&body) && padded[body.len()..].iter().all(|&b| b == 0));
    let restored = open_mem();
    restored
        .install_snapshot(padded)
        .expect("install padded body");
    assert_eq!(
        Fingerprint::of(&restored),
        want,
        "store restored from backup"
    );
    let last = file.len() - 1;
    file[last] ^= 1;
    assert!(snapshot::verify_sha256(&file).is_err());

    vec![format!(
        "installed: rev={} compacted={} applied_index={}",
        want.revision, want.compacted, want.applied_index
    )]
}
