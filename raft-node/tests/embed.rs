//! The in-process client of an embedded member (`RunningServer::client`):
//! requests go straight to the server API, as root or as a named user.

mod common;

use common::free_port;
use etcd_proto::authpb::permission::Type as PermType;
use etcd_proto::authpb::Permission;
use etcd_proto::etcdrs::AuthInfo;
use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::request_op::Request as ReqOp;
use etcd_proto::etcdserverpb::{
    AuthRoleAddRequest, AuthRoleGrantPermissionRequest, AuthUserAddRequest,
    AuthUserGrantRoleRequest, Compare, PutRequest, RequestOp, TxnRequest,
};
use etcd_store::auth::AuthError;
use etcd_store::StoreError;
use raft_node::{Config, RunningServer, ServerError};

async fn start(dir: &std::path::Path) -> RunningServer {
    let (client, peer) = (free_port(), free_port());
    let config = Config::from_flags([
        format!("--data-dir={}", dir.join("member").display()),
        format!("--listen-client-urls=http://127.0.0.1:{client}"),
        format!("--advertise-client-urls=http://127.0.0.1:{client}"),
        format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
        format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
        format!("--initial-cluster=default=http://127.0.0.1:{peer}"),
    ])
    .expect("flags");
    raft_node::start(config).await.expect("start")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_process_client_reads_writes_watches_and_leases() {
    let dir = tempfile::tempdir().expect("tempdir");
    let member = start(dir.path()).await;
    let kv = member.client();

    let first = kv.put("a", "1").await.expect("put");
    let rev = first.header.expect("header").revision;
    // A compare-and-swap on the key's mod revision, as a control plane does.
    let cas = |expected: i64, value: &str| TxnRequest {
        compare: vec![Compare {
            result: CompareResult::Equal as i32,
            target: CompareTarget::Mod as i32,
            key: b"a".to_vec(),
            target_union: Some(TargetUnion::ModRevision(expected)),
            ..Default::default()
        }],
        success: vec![RequestOp {
            request: Some(ReqOp::RequestPut(PutRequest {
                key: b"a".to_vec(),
                value: value.as_bytes().to_vec(),
                ..Default::default()
            })),
        }],
        failure: Vec::new(),
    };
    assert!(kv.txn(cas(rev, "2")).await.expect("txn").succeeded);
    assert!(!kv.txn(cas(rev, "3")).await.expect("txn").succeeded);
    assert_eq!(kv.get("a").await.expect("get"), Some(b"2".to_vec()));

    let mut watch = kv.watch_key("b").await.expect("watch");
    kv.put("b", "x").await.expect("put");
    assert_eq!(kv.delete("b").await.expect("delete"), 1);
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        let resp = watch.next().await.expect("open").expect("events");
        kinds.extend(resp.events.iter().map(|e| e.r#type));
    }
    assert_eq!(kinds, vec![0, 1], "a put, then a delete");
    watch.cancel().await.expect("cancel");
    let last = watch.next().await.expect("open").expect("response");
    assert!(last.canceled);

    let lease = kv.lease_grant(30).await.expect("grant");
    let renewed = kv.lease_keep_alive(lease.id).await.expect("keep-alive");
    assert_eq!(renewed.ttl, 30);
    kv.lease_revoke(lease.id).await.expect("revoke");
    let gone = kv.lease_time_to_live(lease.id, false).await.expect("ttl");
    assert_eq!(gone.ttl, -1);
    assert_eq!(
        kv.lease_keep_alive(lease.id).await.expect("keep-alive").ttl,
        0
    );

    assert_eq!(kv.member_list().await.expect("members").members.len(), 1);
    member.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_user_gets_that_users_permissions_and_root_gets_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let member = start(dir.path()).await;
    let server = &member.server;
    let nobody = AuthInfo::default();
    for (name, password) in [("root", "rootpw"), ("alice", "alicepw")] {
        let add = AuthUserAddRequest {
            name: name.into(),
            password: password.into(),
            ..Default::default()
        };
        server
            .user_add(nobody.clone(), add)
            .await
            .expect("user add");
    }
    let role = |role: &str| AuthRoleAddRequest { name: role.into() };
    server
        .role_add(nobody.clone(), role("root"))
        .await
        .expect("role");
    server
        .role_add(nobody.clone(), role("reader"))
        .await
        .expect("role");
    let grant = |user: &str, role: &str| AuthUserGrantRoleRequest {
        user: user.into(),
        role: role.into(),
    };
    for (user, role) in [("root", "root"), ("alice", "reader")] {
        server
            .user_grant_role(nobody.clone(), grant(user, role))
            .await
            .expect("grant role");
    }
    // The reader role on the keys under public/.
    let on_public = |kind: PermType| AuthRoleGrantPermissionRequest {
        name: "reader".into(),
        perm: Some(Permission {
            perm_type: kind as i32,
            key: b"public/".to_vec(),
            range_end: b"public0".to_vec(),
        }),
    };
    server
        .role_grant_permission(nobody.clone(), on_public(PermType::Read))
        .await
        .expect("grant permission");
    server.auth_enable(nobody).await.expect("auth enable");

    let root = member.client();
    let alice = member.client_as("alice");
    root.put("public/x", "1")
        .await
        .expect("root writes anywhere");
    assert_eq!(
        alice.get("public/x").await.expect("alice reads public/"),
        Some(b"1".to_vec())
    );
    let denied = ServerError::Store(StoreError::Auth(AuthError::PermissionDenied));
    assert_eq!(alice.put("public/x", "2").await.unwrap_err(), denied);
    assert_eq!(alice.get("secret").await.unwrap_err(), denied);
    // Roles changed after the client was made count at once.
    let root_info = AuthInfo {
        username: "root".into(),
        revision: server.auth_status().auth_revision,
    };
    server
        .role_grant_permission(root_info, on_public(PermType::Readwrite))
        .await
        .expect("grant write");
    alice.put("public/x", "2").await.expect("alice writes now");
    member.stop().await;
}
