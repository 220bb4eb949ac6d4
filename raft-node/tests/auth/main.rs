//! Auth end to end, at the gRPC level: the checks that etcd's security
//! advisories showed can be got around, tokens (simple and JWT) and their
//! life cycle, passwords kept out of the data dir, client certificate
//! common names as users, and tokens usable on every member of a cluster.

#[path = "../common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;

use common::{eventually, free_port, Member, MemberSpec};
use etcd_proto::authpb::permission::Type as PermType;
use etcd_proto::authpb::Permission;
use etcd_proto::etcdserverpb::alarm_request::AlarmAction;
use etcd_proto::etcdserverpb::auth_client::AuthClient;
use etcd_proto::etcdserverpb::cluster_client::ClusterClient;
use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::lease_client::LeaseClient;
use etcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use etcd_proto::etcdserverpb::request_op::Request as ReqOp;
use etcd_proto::etcdserverpb::watch_client::WatchClient;
use etcd_proto::etcdserverpb::watch_request::RequestUnion;
use etcd_proto::etcdserverpb::{
    AlarmRequest, AlarmType, AuthEnableRequest, AuthRoleAddRequest, AuthRoleGrantPermissionRequest,
    AuthUserAddRequest, AuthUserGrantRoleRequest, AuthUserRevokeRoleRequest, AuthenticateRequest,
    CompactionRequest, Compare, DeleteRangeRequest, LeaseGrantRequest, LeaseLeasesRequest,
    LeaseTimeToLiveRequest, MemberListRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
    WatchCreateRequest, WatchRequest,
};
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tonic::{Code, Request};

mod tokens;

/// Fast password hashing for tests.
const FAST: &[&str] = &["--bcrypt-cost", "4"];

fn as_user<T>(msg: T, token: &str) -> Request<T> {
    let mut req = Request::new(msg);
    req.metadata_mut()
        .insert("token", token.parse().expect("ascii token"));
    req
}

async fn login(ch: &Channel, name: &str, password: &str) -> Result<String, tonic::Status> {
    Ok(AuthClient::new(ch.clone())
        .authenticate(AuthenticateRequest {
            name: name.into(),
            password: password.into(),
        })
        .await?
        .into_inner()
        .token)
}

fn put_req(key: &str, value: &str) -> PutRequest {
    PutRequest {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    }
}

async fn get(ch: &Channel, token: &str, key: &str) -> Result<Option<String>, tonic::Status> {
    let resp = KvClient::new(ch.clone())
        .range(as_user(
            RangeRequest {
                key: key.into(),
                ..Default::default()
            },
            token,
        ))
        .await?
        .into_inner();
    Ok(resp
        .kvs
        .first()
        .map(|kv| String::from_utf8_lossy(&kv.value).into_owned()))
}

/// root (root role) and alice (readwrite on the prefix `a/`), some keys,
/// auth on. Returns (root token, alice token).
async fn setup(ch: &Channel) -> (String, String) {
    let mut auth = AuthClient::new(ch.clone());
    for (name, password) in [("root", "rootpw"), ("alice", "alicepw")] {
        auth.user_add(AuthUserAddRequest {
            name: name.into(),
            password: password.into(),
            ..Default::default()
        })
        .await
        .expect("user add");
    }
    auth.user_grant_role(AuthUserGrantRoleRequest {
        user: "root".into(),
        role: "root".into(),
    })
    .await
    .expect("grant root");
    auth.role_add(AuthRoleAddRequest { name: "a".into() })
        .await
        .expect("role add");
    auth.role_grant_permission(AuthRoleGrantPermissionRequest {
        name: "a".into(),
        perm: Some(Permission {
            perm_type: PermType::Readwrite as i32,
            key: b"a/".to_vec(),
            range_end: b"a0".to_vec(),
        }),
    })
    .await
    .expect("grant permission");
    auth.user_grant_role(AuthUserGrantRoleRequest {
        user: "alice".into(),
        role: "a".into(),
    })
    .await
    .expect("grant role");
    let mut kv = KvClient::new(ch.clone());
    for (k, v) in [("a/1", "one"), ("secret", "s"), ("b", "bee")] {
        kv.put(put_req(k, v)).await.expect("seed");
    }
    auth.auth_enable(AuthEnableRequest {})
        .await
        .expect("enable");
    let root = login(ch, "root", "rootpw").await.expect("root login");
    let alice = login(ch, "alice", "alicepw").await.expect("alice login");
    (root, alice)
}

fn nested(success: Vec<RequestOp>, failure: Vec<RequestOp>) -> RequestOp {
    RequestOp {
        request: Some(ReqOp::RequestTxn(TxnRequest {
            compare: vec![],
            success,
            failure,
        })),
    }
}

fn put_op(key: &str, value: &str) -> RequestOp {
    RequestOp {
        request: Some(ReqOp::RequestPut(put_req(key, value))),
    }
}

fn assert_code<T: std::fmt::Debug>(r: Result<T, tonic::Status>, code: Code, msg: &str) {
    match r {
        Err(s) => assert_eq!((s.code(), s.message()), (code, msg), "{s:?}"),
        Ok(v) => panic!("expected {code:?} {msg:?}, got {v:?}"),
    }
}

const DENIED: &str = "etcdserver: permission denied";
const NO_USER: &str = "etcdserver: user name is empty";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_cannot_be_bypassed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let member = Member::start(&dir.path().join("data"), free_port(), FAST);
    let ch = member.client().await;
    let (root, alice) = setup(&ch).await;
    let mut kv = KvClient::new(ch.clone());

    // Permitted and refused plain requests.
    assert_eq!(
        get(&ch, &alice, "a/1").await.unwrap().as_deref(),
        Some("one")
    );
    assert_code(
        get(&ch, &alice, "secret").await,
        Code::PermissionDenied,
        DENIED,
    );
    assert_code(
        kv.range(RangeRequest {
            key: b"a/1".to_vec(),
            ..Default::default()
        })
        .await,
        Code::InvalidArgument,
        NO_USER,
    );
    assert_code(
        kv.put(as_user(put_req("a/1", "x"), "bogus.1")).await,
        Code::Unauthenticated,
        "etcdserver: invalid auth token",
    );

    // A nested txn cannot reach a key its user may not write, in either
    // branch, at any depth.
    for txn in [
        TxnRequest {
            success: vec![nested(vec![put_op("secret", "pwned")], vec![])],
            ..Default::default()
        },
        TxnRequest {
            success: vec![put_op("a/2", "ok")],
            failure: vec![nested(
                vec![],
                vec![nested(vec![put_op("secret", "pwned")], vec![])],
            )],
            ..Default::default()
        },
        TxnRequest {
            compare: vec![Compare {
                key: b"secret".to_vec(),
                ..Default::default()
            }],
            success: vec![put_op("a/2", "ok")],
            ..Default::default()
        },
    ] {
        assert_code(
            kv.txn(as_user(txn, &alice)).await,
            Code::PermissionDenied,
            DENIED,
        );
    }
    assert_eq!(
        get(&ch, &root, "secret").await.unwrap().as_deref(),
        Some("s")
    );
    assert_eq!(
        get(&ch, &root, "a/2").await.unwrap(),
        None,
        "nothing applied"
    );

    // Watches must be permitted on the whole range; from-key ranges that
    // start inside the permission are refused.
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let mut stream = WatchClient::new(ch.clone())
        .watch(as_user(
            tokio_stream::wrappers::ReceiverStream::new(rx),
            &alice,
        ))
        .await
        .expect("watch stream")
        .into_inner();
    let create = |key: &str, end: &[u8]| WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
            key: key.into(),
            range_end: end.to_vec(),
            ..Default::default()
        })),
    };
    tx.send(create("a/", b"\0")).await.unwrap();
    let refused = stream.next().await.expect("response").expect("ok");
    assert!(refused.created && refused.canceled, "{refused:?}");
    assert_eq!(refused.cancel_reason, DENIED);
    tx.send(create("secret", b"")).await.unwrap();
    let refused = stream.next().await.expect("response").expect("ok");
    assert!(refused.canceled, "{refused:?}");
    tx.send(create("a/", b"a0")).await.unwrap();
    let created = stream.next().await.expect("response").expect("ok");
    assert!(created.created && !created.canceled, "{created:?}");
    kv.put(as_user(put_req("b", "later"), &root)).await.unwrap();
    kv.put(as_user(put_req("a/3", "three"), &root))
        .await
        .unwrap();
    let events = stream.next().await.expect("event").expect("ok");
    let keys: Vec<_> = events
        .events
        .iter()
        .map(|e| String::from_utf8_lossy(&e.kv.as_ref().unwrap().key).into_owned())
        .collect();
    assert_eq!(keys, vec!["a/3"], "only keys inside the permission");

    // LeaseTimeToLive does not list keys the user may not read.
    let mut lease = LeaseClient::new(ch.clone());
    let id = lease
        .lease_grant(as_user(LeaseGrantRequest { ttl: 600, id: 0 }, &root))
        .await
        .unwrap()
        .into_inner()
        .id;
    kv.put(as_user(
        PutRequest {
            key: b"secret-with-lease".to_vec(),
            lease: id,
            ..Default::default()
        },
        &root,
    ))
    .await
    .unwrap();
    assert_code(
        lease
            .lease_time_to_live(as_user(LeaseTimeToLiveRequest { id, keys: true }, &alice))
            .await,
        Code::PermissionDenied,
        DENIED,
    );
    let no_keys = lease
        .lease_time_to_live(as_user(LeaseTimeToLiveRequest { id, keys: false }, &alice))
        .await
        .unwrap()
        .into_inner();
    assert!(no_keys.keys.is_empty());
    // Revoking would delete a key alice may not write.
    assert_code(
        lease
            .lease_revoke(as_user(
                etcd_proto::etcdserverpb::LeaseRevokeRequest { id },
                &alice,
            ))
            .await,
        Code::PermissionDenied,
        DENIED,
    );

    // Membership, alarms and leases need a user; changing alarms and
    // compacting need root.
    let mut cluster = ClusterClient::new(ch.clone());
    let mut maint = MaintenanceClient::new(ch.clone());
    assert_code(
        cluster.member_list(MemberListRequest::default()).await,
        Code::InvalidArgument,
        NO_USER,
    );
    assert_code(
        maint.alarm(AlarmRequest::default()).await,
        Code::InvalidArgument,
        NO_USER,
    );
    assert_code(
        lease
            .lease_grant(LeaseGrantRequest { ttl: 60, id: 0 })
            .await,
        Code::InvalidArgument,
        NO_USER,
    );
    assert_code(
        lease.lease_leases(LeaseLeasesRequest {}).await,
        Code::InvalidArgument,
        NO_USER,
    );
    cluster
        .member_list(as_user(MemberListRequest::default(), &alice))
        .await
        .expect("a user may list members");
    let raise = |token: &str| {
        as_user(
            AlarmRequest {
                action: AlarmAction::Activate as i32,
                member_id: 1,
                alarm: AlarmType::Nospace as i32,
            },
            token,
        )
    };
    assert_code(
        maint.alarm(raise(&alice)).await,
        Code::PermissionDenied,
        DENIED,
    );
    assert_code(
        kv.compact(as_user(
            CompactionRequest {
                revision: 2,
                physical: false,
            },
            &alice,
        ))
        .await,
        Code::PermissionDenied,
        DENIED,
    );

    // With the NOSPACE alarm raised, permissions still hold: deletes are
    // allowed by the alarm but not by alice's roles.
    maint
        .alarm(raise(&root))
        .await
        .expect("root raises NOSPACE");
    assert_code(
        kv.delete_range(as_user(
            DeleteRangeRequest {
                key: b"secret".to_vec(),
                ..Default::default()
            },
            &alice,
        ))
        .await,
        Code::PermissionDenied,
        DENIED,
    );
    assert_code(
        get(&ch, &alice, "secret").await,
        Code::PermissionDenied,
        DENIED,
    );
    assert_eq!(
        get(&ch, &alice, "a/1").await.unwrap().as_deref(),
        Some("one")
    );

    // A revoked role takes effect for tokens issued before.
    AuthClient::new(ch.clone())
        .user_revoke_role(as_user(
            AuthUserRevokeRoleRequest {
                name: "alice".into(),
                role: "a".into(),
            },
            &root,
        ))
        .await
        .unwrap();
    assert_code(
        get(&ch, &alice, "a/1").await,
        Code::PermissionDenied,
        DENIED,
    );
}
