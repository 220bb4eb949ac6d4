//! Responses etcd sends without a header: Defragment and MoveLeader
//! (etcd returns the bare message; clients such as the Rust `etcd-client`
//! crate check for it). Before, etcd-rs filled one in.

mod common;

use common::{free_port, Member};
use etcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use etcd_proto::etcdserverpb::{DefragmentRequest, MoveLeaderRequest, StatusRequest};

#[tokio::test(flavor = "multi_thread")]
async fn defragment_and_move_leader_answer_without_a_header() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let member = Member::start(&tmp.path().join("m"), free_port(), &[]);
    let mut maintenance = MaintenanceClient::new(member.client().await);

    let defrag = maintenance
        .defragment(DefragmentRequest {})
        .await
        .expect("defragment")
        .into_inner();
    assert_eq!(defrag.header, None);

    // A single member leads; moving leadership to itself succeeds at once.
    let status = maintenance
        .status(StatusRequest {})
        .await
        .expect("status")
        .into_inner();
    assert!(status.header.is_some(), "Status keeps its header");
    let moved = maintenance
        .move_leader(MoveLeaderRequest {
            target_id: status.leader,
        })
        .await
        .expect("move leader")
        .into_inner();
    assert_eq!(moved.header, None);
}
