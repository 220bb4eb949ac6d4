//! Auth end to end, at the gRPC level: the checks that etcd's security
//! advisories showed can be got around, tokens (simple and JWT) and their
//! life cycle, passwords kept out of the data dir, client certificate
//! common names as users, and tokens usable on every member of a cluster.

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

/// Recursively true if any file under `dir` contains `needle`.
fn any_file_contains(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).expect("read dir").any(|e| {
        let path = e.expect("entry").path();
        if path.is_dir() {
            any_file_contains(&path, needle)
        } else {
            std::fs::read(&path)
                .map(|b| b.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_stay_out_of_the_data_dir_and_auth_survives_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let port = free_port();
    let mut member = Member::start(&data, port, FAST);
    let ch = member.client().await;
    let (root, _) = setup(&ch).await;
    let mut auth = AuthClient::new(ch.clone());
    auth.user_add(as_user(
        AuthUserAddRequest {
            name: "carol".into(),
            password: "Plain-Text-Password-42".into(),
            ..Default::default()
        },
        &root,
    ))
    .await
    .unwrap();
    assert_code(
        login(&ch, "carol", "wrong").await,
        Code::InvalidArgument,
        "etcdserver: authentication failed, invalid user ID or password",
    );
    login(&ch, "carol", "Plain-Text-Password-42").await.unwrap();
    member.signal("-TERM");
    assert!(
        !any_file_contains(&data, b"Plain-Text-Password-42"),
        "a password reached the WAL or the store"
    );

    let spec = member.spec.clone();
    drop(member);
    let member = Member::launch(spec);
    let ch = member.client().await;
    // Simple tokens live in memory: the old one is gone, auth is not.
    assert_code(
        get(&ch, &root, "a/1").await,
        Code::Unauthenticated,
        "etcdserver: invalid auth token",
    );
    let root = login(&ch, "root", "rootpw").await.expect("login again");
    assert_eq!(
        get(&ch, &root, "secret").await.unwrap().as_deref(),
        Some("s")
    );
    let carol = login(&ch, "carol", "Plain-Text-Password-42").await.unwrap();
    assert_code(
        get(&ch, &carol, "secret").await,
        Code::PermissionDenied,
        DENIED,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_tokens_are_signed_and_carry_the_auth_revision() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = rcgen::KeyPair::generate().expect("ES256 key");
    let private = dir.path().join("jwt.key");
    let public = dir.path().join("jwt.pub");
    std::fs::write(&private, key.serialize_pem()).unwrap();
    std::fs::write(&public, key.public_key_pem()).unwrap();
    let spec = format!(
        "jwt,pub-key={},priv-key={},sign-method=ES256,ttl=5m",
        public.display(),
        private.display()
    );
    let member = Member::start(
        &dir.path().join("data"),
        free_port(),
        &["--auth-token", &spec, "--bcrypt-cost", "4"],
    );
    let ch = member.client().await;
    let (root, alice) = setup(&ch).await;
    assert_eq!(alice.split('.').count(), 3, "a JWT: {alice}");
    assert_eq!(
        get(&ch, &alice, "a/1").await.unwrap().as_deref(),
        Some("one")
    );
    let mut forged = alice.clone();
    forged.push('x');
    assert_code(
        get(&ch, &forged, "a/1").await,
        Code::Unauthenticated,
        "etcdserver: invalid auth token",
    );
    // Any auth change makes earlier tokens old; logging in again helps.
    AuthClient::new(ch.clone())
        .role_add(as_user(
            AuthRoleAddRequest {
                name: "other".into(),
            },
            &root,
        ))
        .await
        .unwrap();
    assert_code(
        get(&ch, &alice, "a/1").await,
        Code::InvalidArgument,
        "etcdserver: revision of auth store is old",
    );
    let fresh = login(&ch, "alice", "alicepw").await.unwrap();
    assert_eq!(
        get(&ch, &fresh, "a/1").await.unwrap().as_deref(),
        Some("one")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_tokens_work_on_every_member() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let initial = ports
        .iter()
        .enumerate()
        .map(|(i, (_, p))| format!("m{i}=http://127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    let members: Vec<Member> = ports
        .iter()
        .enumerate()
        .map(|(i, (c, p))| {
            Member::launch(MemberSpec {
                name: format!("m{i}"),
                data_dir: dir.path().join(format!("m{i}")),
                client_port: *c,
                peer_port: *p,
                initial_cluster: initial.clone(),
                state: "new",
                extra: FAST.iter().map(|s| s.to_string()).collect(),
                tls: false,
                peer_scheme_https: false,
            })
        })
        .collect();
    let mut channels = Vec::new();
    for m in &members {
        channels.push(m.client().await);
    }
    let (root, _) = setup(&channels[0]).await;
    for (i, ch) in channels.iter().enumerate() {
        // Issued on m0, accepted at once on the others (they wait for the
        // login entry to apply if they have not yet).
        let token = login(&channels[0], "alice", "alicepw").await.unwrap();
        assert_eq!(
            get(ch, &token, "a/1").await.unwrap().as_deref(),
            Some("one"),
            "member m{i}"
        );
        assert_code(
            get(ch, &token, "secret").await,
            Code::PermissionDenied,
            DENIED,
        );
        KvClient::new(ch.clone())
            .put(as_user(put_req("a/from", &format!("m{i}")), &root))
            .await
            .unwrap();
    }
}

/// The Go etcdctl with a client certificate and no password.
fn etcdctl_with_cert(endpoint: &str, pki: &Path, cert: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoint}"))
        .arg(format!("--cacert={}", pki.join("ca.pem").display()))
        .arg(format!(
            "--cert={}",
            pki.join(format!("{cert}.pem")).display()
        ))
        .arg(format!(
            "--key={}",
            pki.join(format!("{cert}-key.pem")).display()
        ))
        .args(["--dial-timeout=2s", "--command-timeout=5s"])
        .args(args)
        .output()
        .expect("run the Go etcdctl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificate_common_name_is_the_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = dir.path().join("pki");
    etcd_certs::generate(&pki, &etcd_certs::PkiSpec::default()).expect("generate PKI");
    let mut spec = MemberSpec::single(&dir.path().join("data"), free_port(), FAST);
    for (flag, file) in [
        ("--cert-file", "server.pem"),
        ("--key-file", "server-key.pem"),
        ("--trusted-ca-file", "ca.pem"),
    ] {
        spec.extra.push(flag.into());
        spec.extra.push(pki.join(file).display().to_string());
    }
    spec.extra.push("--client-cert-auth".into());
    spec.tls = true;
    let endpoint = spec.client_url();
    let _member = Member::launch(spec);
    let as_root = |args: &[&str]| etcdctl_with_cert(&endpoint, &pki, "client-root", args);
    eventually(20, "etcd-rs serving TLS", || {
        let (ok, _) = as_root(&["put", "u/seed", "1"]);
        async move { ok.then_some(()) }
    })
    .await;
    for args in [
        &["user", "add", "root:rootpw"][..],
        &["user", "grant-role", "root", "root"],
        &["user", "add", "user:userpw"],
        &["role", "add", "u"],
        &[
            "role",
            "grant-permission",
            "u",
            "readwrite",
            "u/",
            "--prefix",
        ],
        &["user", "grant-role", "user", "u"],
        &["put", "secret", "s"],
        &["auth", "enable"],
    ] {
        let (ok, out) = as_root(args);
        assert!(ok, "{args:?}: {out}");
    }
    // No token: the certificate's CN is the user.
    let as_user = |args: &[&str]| etcdctl_with_cert(&endpoint, &pki, "client-user", args);
    let (ok, out) = as_user(&["put", "u/mine", "yes"]);
    assert!(ok, "{out}");
    let (ok, out) = as_user(&["get", "secret"]);
    assert!(!ok && out.contains(DENIED), "{out}");
    let (ok, out) = as_root(&["get", "secret"]);
    assert!(ok && out == "secret\ns\n", "{out}");
    // A token wins over the certificate.
    let (ok, out) = as_root(&["--user", "user:userpw", "get", "secret"]);
    assert!(!ok && out.contains(DENIED), "{out}");
}
