//! The bookmark guarantee Kubernetes' watch cache relies on: a progress
//! notification at revision R means every event at or below R that the
//! stream wants has already been sent. Tried as a client would: writers
//! keep the store busy while a prefix watcher asks for progress every few
//! milliseconds; no event may arrive at or below a revision a progress
//! notification already announced. (etcd 3.4.23 breaks this too, etcd
//! #15220; fixed in 3.4.31 and 3.5.13.)

mod common;

use std::time::Duration;

use common::{free_port, Member};
use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::watch_client::WatchClient;
use etcd_proto::etcdserverpb::watch_request::RequestUnion;
use etcd_proto::etcdserverpb::{
    PutRequest, WatchCreateRequest, WatchProgressRequest, WatchRequest,
};

const WRITERS: usize = 8;

/// Opens a watch stream with one watcher; returns the request sender (the
/// stream lives while it does) and the responses after the created one.
async fn open_watch(
    ch: &tonic::transport::Channel,
    create: WatchCreateRequest,
) -> (
    tokio::sync::mpsc::Sender<WatchRequest>,
    tonic::Streaming<etcd_proto::etcdserverpb::WatchResponse>,
) {
    let (req_tx, req_rx) = tokio::sync::mpsc::channel(64);
    req_tx
        .send(WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(create)),
        })
        .await
        .expect("send create");
    let mut stream = WatchClient::new(ch.clone())
        .watch(tokio_stream::wrappers::ReceiverStream::new(req_rx))
        .await
        .expect("watch")
        .into_inner();
    let created = stream.message().await.expect("created").expect("response");
    assert!(created.created);
    (req_tx, stream)
}
const PUTS_PER_WRITER: usize = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_event_arrives_after_a_progress_notification_covering_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let member = Member::start(dir.path(), free_port(), &[]);
    let ch = member.client().await;

    let (req_tx, mut stream) = open_watch(
        &ch,
        WatchCreateRequest {
            key: b"b/".to_vec(),
            range_end: b"b0".to_vec(),
            ..Default::default()
        },
    )
    .await;

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let mut kv = KvClient::new(ch.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..PUTS_PER_WRITER {
                kv.put(PutRequest {
                    key: format!("b/{w}/{i}").into_bytes(),
                    value: b"v".to_vec(),
                    ..Default::default()
                })
                .await
                .expect("put");
            }
        }));
    }
    let progress = tokio::spawn(async move {
        // Ends when the watch stream is dropped (the receiver closes).
        let mut tick = tokio::time::interval(Duration::from_millis(3));
        loop {
            tick.tick().await;
            let req = WatchRequest {
                request_union: Some(RequestUnion::ProgressRequest(WatchProgressRequest {})),
            };
            if req_tx.send(req).await.is_err() {
                return;
            }
        }
    });

    let total = WRITERS * PUTS_PER_WRITER;
    let mut events = 0;
    let mut bookmark = 0;
    let mut progress_seen = 0;
    let mut late = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while events < total {
        let resp = tokio::time::timeout_at(deadline, stream.message())
            .await
            .expect("all events within the deadline")
            .expect("watch stream")
            .expect("stream open");
        let revision = resp.header.as_ref().map_or(0, |h| h.revision);
        if resp.events.is_empty() {
            assert!(revision >= bookmark, "progress went backwards");
            bookmark = revision;
            progress_seen += 1;
            continue;
        }
        for ev in &resp.events {
            let rev = ev.kv.as_ref().map_or(0, |kv| kv.mod_revision);
            if rev <= bookmark {
                late.push((rev, bookmark));
            }
        }
        events += resp.events.len();
    }
    for w in writers {
        w.await.expect("writer");
    }
    drop(stream);
    progress.abort();
    assert!(
        progress_seen > 0,
        "no progress notification arrived while writing"
    );
    assert!(
        late.is_empty(),
        "{} events arrived after a progress notification at or above their revision, \
         e.g. (event revision, bookmark) {:?}",
        late.len(),
        &late[..late.len().min(5)]
    );
}

/// A watch from revision 1 on a fresh store (which has no events at that
/// revision) is served, and sees the first write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_from_revision_one_on_a_fresh_store_sees_the_first_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let member = Member::start(dir.path(), free_port(), &[]);
    let ch = member.client().await;
    let (req_tx, mut stream) = open_watch(
        &ch,
        WatchCreateRequest {
            key: b"a".to_vec(),
            start_revision: 1,
            ..Default::default()
        },
    )
    .await;
    KvClient::new(ch)
        .put(PutRequest {
            key: b"a".to_vec(),
            value: b"1".to_vec(),
            ..Default::default()
        })
        .await
        .expect("put");
    let resp = tokio::time::timeout(Duration::from_secs(20), stream.message())
        .await
        .expect("an answer")
        .expect("the stream stays open")
        .expect("a response");
    assert_eq!(resp.events.len(), 1, "{resp:?}");
    drop(req_tx);
}
