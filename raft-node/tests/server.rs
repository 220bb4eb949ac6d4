//! End-to-end tests of the real `etcd-rs` binary over gRPC on loopback:
//! durability across SIGTERM and kill -9 restarts, and etcd's error codes
//! for bad requests. (The Go etcdctl differential suite lives in `interop/`.)

mod common;

use std::time::Duration;

use common::{free_port, Member};

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::lease_client::LeaseClient;
use etcd_proto::etcdserverpb::watch_client::WatchClient;
use etcd_proto::etcdserverpb::watch_request::RequestUnion;
use etcd_proto::etcdserverpb::{
    LeaseGrantRequest, PutRequest, RangeRequest, WatchCreateRequest, WatchProgressRequest,
    WatchRequest,
};
use etcd_proto::mvccpb::event::EventType;
use tonic::transport::Channel;

async fn put(kv: &mut KvClient<Channel>, key: &str, value: &str) -> i64 {
    kv.put(PutRequest {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    })
    .await
    .expect("put")
    .into_inner()
    .header
    .expect("header")
    .revision
}

async fn all_keys(kv: &mut KvClient<Channel>) -> (Vec<(String, String)>, i64) {
    let resp = kv
        .range(RangeRequest {
            key: vec![0],
            range_end: vec![0],
            ..Default::default()
        })
        .await
        .expect("range")
        .into_inner();
    let kvs = resp
        .kvs
        .iter()
        .map(|kv| {
            (
                String::from_utf8_lossy(&kv.key).into_owned(),
                String::from_utf8_lossy(&kv.value).into_owned(),
            )
        })
        .collect();
    (kvs, resp.header.expect("header").revision)
}

async fn restart_keeps_writes(signal: &str, writes: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut member = Member::start(dir.path(), port, &["--snapshot-count", "25"]);
    let mut kv = KvClient::new(member.client().await);
    let mut expected = Vec::new();
    let mut last_rev = 0;
    for i in 0..writes {
        let (k, v) = (format!("key/{i:04}"), format!("value-{i}"));
        last_rev = put(&mut kv, &k, &v).await;
        expected.push((k, v));
    }
    assert_eq!(last_rev, writes as i64 + 1, "one revision per put");
    member.signal(signal);
    drop(member);

    let member = Member::start(dir.path(), port, &["--snapshot-count", "25"]);
    let mut kv = KvClient::new(member.client().await);
    let (got, rev) = all_keys(&mut kv).await;
    assert_eq!(got, expected, "every acknowledged write survives {signal}");
    assert_eq!(rev, last_rev, "revision survives {signal}");
    assert_eq!(put(&mut kv, "after", "restart").await, last_rev + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_restart_keeps_every_write() {
    restart_keeps_writes("-TERM", 120).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_restart_keeps_every_acknowledged_write() {
    restart_keeps_writes("-KILL", 120).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_etcd_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let member = Member::start(dir.path(), free_port(), &["--max-request-bytes", "4096"]);
    let mut kv = KvClient::new(member.client().await);
    let err = kv.put(PutRequest::default()).await.expect_err("empty key");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert_eq!(err.message(), "etcdserver: key is not provided");

    let err = kv
        .put(PutRequest {
            key: b"big".to_vec(),
            value: vec![b'x'; 8192],
            ..Default::default()
        })
        .await
        .expect_err("too large");
    assert_eq!(err.message(), "etcdserver: request is too large");

    let err = kv
        .range(RangeRequest {
            key: b"a".to_vec(),
            revision: 100,
            ..Default::default()
        })
        .await
        .expect_err("future revision");
    assert_eq!(err.code(), tonic::Code::OutOfRange);
    assert_eq!(
        err.message(),
        "etcdserver: mvcc: required revision is a future revision"
    );

    let err = kv
        .put(PutRequest {
            key: b"k".to_vec(),
            lease: 12345,
            ..Default::default()
        })
        .await
        .expect_err("no such lease");
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert_eq!(err.message(), "etcdserver: requested lease not found");
    // None of the failures made a revision.
    assert_eq!(put(&mut kv, "ok", "1").await, 2);
}

fn watch_create(key: &str, end: &str, start_revision: i64) -> WatchRequest {
    WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
            key: key.into(),
            range_end: end.into(),
            start_revision,
            ..Default::default()
        })),
    }
}

/// A watcher that reads nothing while 2000 writes happen neither blocks the
/// writers nor loses, duplicates or reorders events when it finally reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_watcher_catches_up_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let member = Member::start(dir.path(), free_port(), &[]);
    let ch = member.client().await;
    let mut kv = KvClient::new(ch.clone());
    let mut watch = WatchClient::new(ch);
    let (req_tx, req_rx) = tokio::sync::mpsc::channel(4);
    req_tx
        .send(watch_create("w/", "w0", 0))
        .await
        .expect("send create");
    let mut events = watch
        .watch(tokio_stream::wrappers::ReceiverStream::new(req_rx))
        .await
        .expect("watch")
        .into_inner();
    let created = events.message().await.expect("stream").expect("created");
    assert!(created.created);

    // Write while nobody reads the watch stream.
    const WRITES: i64 = 2000;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let mut kv = kv.clone();
            tokio::spawn(async move {
                for i in 0..WRITES / 4 {
                    put(&mut kv, &format!("w/{w}/{i}"), "v").await;
                }
            })
        })
        .collect();
    for w in writers {
        tokio::time::timeout(Duration::from_secs(60), w)
            .await
            .expect("writers are not blocked by the idle watcher")
            .expect("writer task");
    }
    let last_rev = put(&mut kv, "other", "x").await - 1;

    let mut seen = Vec::new();
    while (seen.len() as i64) < WRITES {
        let resp = tokio::time::timeout(Duration::from_secs(20), events.message())
            .await
            .expect("events arrive")
            .expect("stream ok")
            .expect("stream open");
        for ev in resp.events {
            assert_eq!(ev.r#type, EventType::Put as i32);
            seen.push(ev.kv.expect("kv").mod_revision);
        }
    }
    let expected: Vec<i64> = (2..=last_rev).collect();
    assert_eq!(seen, expected, "every revision once, in order");

    // A progress request is answered with the current revision.
    req_tx
        .send(WatchRequest {
            request_union: Some(RequestUnion::ProgressRequest(WatchProgressRequest {})),
        })
        .await
        .expect("send progress request");
    let progress = events.message().await.expect("stream").expect("progress");
    assert_eq!(progress.watch_id, -1);
    assert_eq!(progress.header.expect("header").revision, last_rev + 1);
}

/// An expired lease deletes its keys through the log: a watcher sees the
/// DELETE events and the keys are gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_lease_deletes_keys_and_watchers_see_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let member = Member::start(dir.path(), free_port(), &[]);
    let ch = member.client().await;
    let mut kv = KvClient::new(ch.clone());
    let mut lease = LeaseClient::new(ch.clone());
    let granted = lease
        .lease_grant(LeaseGrantRequest { ttl: 2, id: 0 })
        .await
        .expect("grant")
        .into_inner();
    assert_eq!(granted.ttl, 2);
    for k in ["l/a", "l/b"] {
        kv.put(PutRequest {
            key: k.into(),
            value: b"v".to_vec(),
            lease: granted.id,
            ..Default::default()
        })
        .await
        .expect("put with lease");
    }
    let (req_tx, req_rx) = tokio::sync::mpsc::channel(1);
    req_tx
        .send(watch_create("l/", "l0", 0))
        .await
        .expect("send create");
    let mut events = WatchClient::new(ch)
        .watch(tokio_stream::wrappers::ReceiverStream::new(req_rx))
        .await
        .expect("watch")
        .into_inner();
    assert!(
        events
            .message()
            .await
            .expect("stream")
            .expect("created")
            .created
    );
    let resp = tokio::time::timeout(Duration::from_secs(15), events.message())
        .await
        .expect("lease expires within its TTL plus a margin")
        .expect("stream ok")
        .expect("stream open");
    let deleted: Vec<(i32, Vec<u8>, i64)> = resp
        .events
        .iter()
        .map(|e| {
            let kv = e.kv.as_ref().expect("kv");
            (e.r#type, kv.key.clone(), kv.mod_revision)
        })
        .collect();
    let del = EventType::Delete as i32;
    assert_eq!(
        deleted,
        vec![(del, b"l/a".to_vec(), 4), (del, b"l/b".to_vec(), 4)],
        "both keys deleted in one revision"
    );
    let (left, _) = all_keys(&mut kv).await;
    assert!(left.is_empty(), "keys gone: {left:?}");
}

/// `--auto-compaction-mode periodic` compacts history older than the
/// retention, through the log (a read below it then fails as compacted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_auto_compaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let member = Member::start(
        dir.path(),
        free_port(),
        &[
            "--auto-compaction-mode",
            "periodic",
            "--auto-compaction-retention",
            "2s",
        ],
    );
    let ch = member.client().await;
    let mut kv = KvClient::new(ch.clone());
    for i in 0..5 {
        put(&mut kv, &format!("c{i}"), "v").await;
    }
    let mut maint = etcd_proto::etcdserverpb::maintenance_client::MaintenanceClient::new(ch);
    let compacted = common::eventually(20, "an automatic compaction", || {
        let mut maint = maint.clone();
        let mut kv = kv.clone();
        async move {
            // Keep writing so there is always something newer than retention.
            put(&mut kv, "tick", "v").await;
            let resp = maint
                .hash_kv(etcd_proto::etcdserverpb::HashKvRequest { revision: 0 })
                .await
                .ok()?
                .into_inner();
            (resp.compact_revision > 0).then_some(resp.compact_revision)
        }
    })
    .await;
    assert!(compacted >= 2, "compacted at {compacted}");
    let err = kv
        .range(RangeRequest {
            key: b"c0".to_vec(),
            revision: 1,
            ..Default::default()
        })
        .await
        .expect_err("history below the compaction is gone");
    assert_eq!(
        err.message(),
        "etcdserver: mvcc: required revision has been compacted"
    );
    let _ = maint
        .status(etcd_proto::etcdserverpb::StatusRequest {})
        .await;
}

/// A watcher that asked for progress notifications gets empty responses
/// carrying the current revision while nothing happens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_notify_on_quiet_watch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let member = Member::start(
        dir.path(),
        free_port(),
        &["--experimental-watch-progress-notify-interval", "200ms"],
    );
    let ch = member.client().await;
    let rev = put(&mut KvClient::new(ch.clone()), "p", "1").await;
    let (req_tx, req_rx) = tokio::sync::mpsc::channel(1);
    let mut create = watch_create("q", "", 0);
    if let Some(RequestUnion::CreateRequest(c)) = create.request_union.as_mut() {
        c.progress_notify = true;
    }
    req_tx.send(create).await.expect("send create");
    let mut events = WatchClient::new(ch)
        .watch(tokio_stream::wrappers::ReceiverStream::new(req_rx))
        .await
        .expect("watch")
        .into_inner();
    let created = events.message().await.expect("stream").expect("created");
    assert!(created.created);
    let notify = tokio::time::timeout(Duration::from_secs(10), events.message())
        .await
        .expect("a progress notification arrives")
        .expect("stream ok")
        .expect("stream open");
    assert_eq!(notify.watch_id, created.watch_id);
    assert!(notify.events.is_empty());
    assert_eq!(notify.header.expect("header").revision, rev);
}

/// Backup and restore: a snapshot streamed from a running member restores
/// into a new data dir from which etcd-rs starts with every key and the same
/// revision (the restore story, without the CLI in between).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_save_and_restore_into_new_member() {
    let dir = tempfile::tempdir().expect("tempdir");
    let member = Member::start(&dir.path().join("orig"), free_port(), &[]);
    let ch = member.client().await;
    let mut kv = KvClient::new(ch.clone());
    for i in 0..50 {
        put(&mut kv, &format!("r/{i:02}"), &format!("v{i}")).await;
    }
    kv.delete_range(etcd_proto::etcdserverpb::DeleteRangeRequest {
        key: b"r/00".to_vec(),
        ..Default::default()
    })
    .await
    .expect("delete");
    let (before, rev) = all_keys(&mut kv).await;

    let mut stream = etcd_proto::etcdserverpb::maintenance_client::MaintenanceClient::new(ch)
        .snapshot(etcd_proto::etcdserverpb::SnapshotRequest {})
        .await
        .expect("snapshot")
        .into_inner();
    let mut backup = Vec::new();
    while let Some(chunk) = stream.message().await.expect("snapshot stream") {
        backup.extend_from_slice(&chunk.blob);
    }
    assert_eq!(
        backup.len() % 512,
        32,
        "etcd clients require size % 512 == 32"
    );
    drop(member);

    let restored = dir.path().join("restored");
    let peer = format!("http://127.0.0.1:{}", free_port());
    let options = etcd_datadir::restore::RestoreOptions::new(
        "default",
        &restored,
        etcd_datadir::NewCluster {
            members: vec![("default".into(), vec![peer])],
            token: "restored-cluster".into(),
        },
    );
    etcd_datadir::restore::restore(&backup, &options).expect("restore");
    assert!(
        etcd_datadir::restore::restore(&backup, &options).is_err(),
        "restoring over an existing data dir is refused"
    );

    let member = Member::start(&restored, free_port(), &[]);
    let mut kv = KvClient::new(member.client().await);
    let (after, after_rev) = all_keys(&mut kv).await;
    assert_eq!(after, before, "every key survives backup and restore");
    assert_eq!(after_rev, rev, "and the revision");
    assert_eq!(put(&mut kv, "new", "1").await, rev + 1);
}
