//! etcd's limits and request checks, differentially: the same bad requests
//! go to a fresh real etcd 3.4 (Debian's `etcd`) and a fresh etcd-rs, and
//! both must refuse each with the same gRPC code and message.

mod common;

use common::{free_port, Member, MemberSpec};
use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::lease_client::LeaseClient;
use etcd_proto::etcdserverpb::request_op::Request as ReqOp;
use etcd_proto::etcdserverpb::{
    CompactionRequest, Compare, DeleteRangeRequest, LeaseGrantRequest, LeaseRevokeRequest,
    PutRequest, RangeRequest, RequestOp, TxnRequest,
};
use tonic::transport::Channel;

fn put_op(key: &str) -> RequestOp {
    RequestOp {
        request: Some(ReqOp::RequestPut(PutRequest {
            key: key.into(),
            value: b"v".to_vec(),
            ..Default::default()
        })),
    }
}

/// Runs every bad request against one server; returns one line per request:
/// its name and the (code, message) it was refused with, or "accepted".
async fn refusals(ch: Channel) -> Vec<String> {
    let mut kv = KvClient::new(ch.clone());
    let mut lease = LeaseClient::new(ch);
    let mut out = Vec::new();
    let mut record = |name: &str, result: Result<(), tonic::Status>| {
        out.push(match result {
            Ok(()) => format!("{name}: accepted"),
            Err(s) => format!("{name}: {:?} {}", s.code(), s.message()),
        });
    };
    // A few revisions to compact and read around.
    for i in 0..5 {
        kv.put(PutRequest {
            key: format!("k{i}").into_bytes(),
            value: b"v".to_vec(),
            ..Default::default()
        })
        .await
        .expect("put");
    }
    let put = |req: PutRequest| {
        let mut kv = kv.clone();
        async move { kv.put(req).await.map(|_| ()) }
    };
    record(
        "put with an empty key",
        put(PutRequest {
            value: b"v".to_vec(),
            ..Default::default()
        })
        .await,
    );
    record(
        "put over --max-request-bytes",
        put(PutRequest {
            key: b"big".to_vec(),
            value: vec![b'x'; 2 * 1024 * 1024],
            ..Default::default()
        })
        .await,
    );
    record(
        "put with a lease that does not exist",
        put(PutRequest {
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            lease: 12345,
            ..Default::default()
        })
        .await,
    );
    record(
        "put with ignore_value and a value",
        put(PutRequest {
            key: b"k0".to_vec(),
            value: b"v".to_vec(),
            ignore_value: true,
            ..Default::default()
        })
        .await,
    );
    record(
        "put with ignore_lease and a lease",
        put(PutRequest {
            key: b"k0".to_vec(),
            lease: 1,
            ignore_lease: true,
            ..Default::default()
        })
        .await,
    );
    record(
        "delete with an empty key",
        kv.delete_range(DeleteRangeRequest::default())
            .await
            .map(|_| ()),
    );
    record(
        "range at a future revision",
        kv.range(RangeRequest {
            key: b"k0".to_vec(),
            revision: 1_000,
            ..Default::default()
        })
        .await
        .map(|_| ()),
    );
    record(
        "compaction at a future revision",
        kv.compact(CompactionRequest {
            revision: 1_000,
            ..Default::default()
        })
        .await
        .map(|_| ()),
    );
    record(
        "compaction",
        kv.compact(CompactionRequest {
            revision: 4,
            physical: true,
        })
        .await
        .map(|_| ()),
    );
    record(
        "range at a compacted revision",
        kv.range(RangeRequest {
            key: b"k0".to_vec(),
            revision: 2,
            ..Default::default()
        })
        .await
        .map(|_| ()),
    );
    record(
        "compaction at a compacted revision",
        kv.compact(CompactionRequest {
            revision: 3,
            ..Default::default()
        })
        .await
        .map(|_| ()),
    );
    record(
        "txn over --max-txn-ops",
        kv.txn(TxnRequest {
            success: (0..129).map(|i| put_op(&format!("t{i}"))).collect(),
            ..Default::default()
        })
        .await
        .map(|_| ()),
    );
    record(
        "txn with a duplicate key",
        kv.txn(TxnRequest {
            success: vec![put_op("dup"), put_op("dup")],
            ..Default::default()
        })
        .await
        .map(|_| ()),
    );
    record(
        "txn with a duplicate key in a nested txn",
        kv.txn(TxnRequest {
            success: vec![
                put_op("nest"),
                RequestOp {
                    request: Some(ReqOp::RequestTxn(TxnRequest {
                        success: vec![put_op("nest")],
                        ..Default::default()
                    })),
                },
            ],
            ..Default::default()
        })
        .await
        .map(|_| ()),
    );
    record(
        "txn compare with an empty key",
        kv.txn(TxnRequest {
            compare: vec![Compare {
                result: CompareResult::Equal as i32,
                target: CompareTarget::Version as i32,
                target_union: Some(TargetUnion::Version(0)),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .map(|_| ()),
    );
    record(
        "lease grant with a TTL over the maximum",
        lease
            .lease_grant(LeaseGrantRequest {
                ttl: 9_000_000_001,
                id: 0,
            })
            .await
            .map(|_| ()),
    );
    record(
        "lease revoke of a lease that does not exist",
        lease
            .lease_revoke(LeaseRevokeRequest { id: 777 })
            .await
            .map(|_| ()),
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_rs_refuses_what_etcd_refuses_with_the_same_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let etcd = Member::launch_real_etcd(MemberSpec::single(
        &dir.path().join("etcd"),
        free_port(),
        &[],
    ));
    let ours = Member::start(&dir.path().join("etcd-rs"), free_port(), &[]);
    let want = refusals(etcd.client().await).await;
    let got = refusals(ours.client().await).await;
    assert!(
        want.iter().filter(|l| !l.ends_with("accepted")).count() >= 15,
        "the real etcd refused these:\n{}",
        want.join("\n")
    );
    assert_eq!(
        got.join("\n"),
        want.join("\n"),
        "etcd-rs (left) vs etcd 3.4 (right)"
    );
}
