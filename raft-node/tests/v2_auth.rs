//! v2 auth (`/v2/auth/*`, and credentials on `/v2/keys` and
//! `/v2/members`) of a real `etcd-rs --enable-v2` process, over plain
//! HTTP/1.1: users and roles made through v2 are v3 users and roles and
//! the other way round; with auth on, HTTP Basic credentials name a v3
//! user whose v3 permissions on the emulated keys decide every read,
//! write, recursive operation and wait.

mod common;

use common::http::{exchange, Reply};
use common::{free_port, Member};
use etcd_proto::authpb::permission::Type as PermType;
use etcd_proto::authpb::Permission;
use etcd_proto::etcdserverpb::auth_client::AuthClient;
use etcd_proto::etcdserverpb::{
    AuthRoleAddRequest, AuthRoleGetRequest, AuthRoleGrantPermissionRequest, AuthUserAddRequest,
    AuthUserGetRequest, AuthUserGrantRoleRequest, AuthenticateRequest,
};

/// One HTTP/1.1 exchange, with Basic credentials `user:pass` if given.
fn http(port: u16, method: &str, target: &str, body: &str, creds: Option<&str>) -> Reply {
    let ctype = if body.starts_with('{') {
        "application/json"
    } else {
        "application/x-www-form-urlencoded"
    };
    exchange(port, method, target, body, ctype, creds)
}

async fn start_v2(dir: &std::path::Path) -> Member {
    let m = Member::start(dir, free_port(), &["--enable-v2", "--bcrypt-cost", "4"]);
    m.client().await;
    m
}

const KEYS_401: &str = concat!(
    r#"{"errorCode":110,"message":"The request requires user authentication","cause":"Insufficient credentials","index":0}"#,
    "\n"
);

#[tokio::test(flavor = "multi_thread")]
async fn v2_and_v3_share_users_and_roles() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let m = start_v2(&tmp.path().join("m")).await;
    let p = m.port;
    let mut auth = AuthClient::new(m.client().await);

    // Status, and enabling without a root user.
    let r = http(p, "GET", "/v2/auth/enable", "", None);
    assert_eq!((r.status, r.body.trim()), (200, r#"{"enabled":false}"#));
    let r = http(p, "PUT", "/v2/auth/enable", "", None);
    assert_eq!(r.status, 409);
    assert_eq!(
        r.body,
        r#"{"message":"auth: No root user available, please create one"}"#
    );
    let r = http(p, "GET", "/v2/auth/roles", "", None);
    assert_eq!(
        r.body.trim(),
        r#"{"roles":[{"role":"root","permissions":{"kv":{"read":["/*"],"write":["/*"]}}}]}"#
    );

    // A v2 user and role are v3 ones.
    let r = http(
        p,
        "PUT",
        "/v2/auth/users/root",
        r#"{"user":"root","password":"rootpw"}"#,
        None,
    );
    assert_eq!(
        (r.status, r.body.trim()),
        (201, r#"{"user":"root","roles":["root"]}"#)
    );
    assert!(r.header("x-etcd-cluster-id").is_some());
    let r = http(
        p,
        "PUT",
        "/v2/auth/roles/reader",
        r#"{"role":"reader","permissions":{"kv":{"read":["/pub","/pub/*"],"write":["/pub"]}}}"#,
        None,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let perms = auth
        .role_get(AuthRoleGetRequest {
            role: "reader".into(),
        })
        .await
        .expect("v3 role get")
        .into_inner()
        .perm;
    let expected = vec![
        Permission {
            perm_type: PermType::Readwrite as i32,
            key: b"\0v2/pub".to_vec(),
            range_end: Vec::new(),
        },
        Permission {
            perm_type: PermType::Read as i32,
            key: b"\0v2/pub/".to_vec(),
            range_end: b"\0v2/pub0".to_vec(),
        },
    ];
    assert_eq!(perms, expected);
    let r = http(
        p,
        "PUT",
        "/v2/auth/users/alice",
        r#"{"user":"alice","password":"apw","roles":["reader"]}"#,
        None,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let roles = auth
        .user_get(AuthUserGetRequest {
            name: "alice".into(),
        })
        .await
        .expect("v3 user get")
        .into_inner()
        .roles;
    assert_eq!(roles, vec!["reader".to_string()]);

    // Grant and revoke through v2; errors as etcd v2.
    let r = http(
        p,
        "PUT",
        "/v2/auth/roles/reader",
        r#"{"role":"reader","grant":{"kv":{"read":["/pub/*"]}}}"#,
        None,
    );
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            409,
            r#"{"message":"auth: Granting duplicate read permission /pub/*"}"#
        )
    );
    let r = http(
        p,
        "PUT",
        "/v2/auth/roles/reader",
        r#"{"role":"reader","revoke":{"kv":{"write":["/pub"]}}}"#,
        None,
    );
    assert_eq!(
        (r.status, r.body.trim()),
        (
            200,
            r#"{"role":"reader","permissions":{"kv":{"read":["/pub","/pub/*"],"write":null}}}"#
        )
    );
    let r = http(
        p,
        "PUT",
        "/v2/auth/users/alice",
        r#"{"user":"alice","grant":["nope"]}"#,
        None,
    );
    assert_eq!(r.status, 404, "v3 roles must exist: {}", r.body);
    let r = http(
        p,
        "PUT",
        "/v2/auth/users/alice",
        r#"{"user":"alice","revoke":["zz"]}"#,
        None,
    );
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            409,
            r#"{"message":"auth: Revoking ungranted role zz for user alice"}"#
        )
    );
    let r = http(p, "PUT", "/v2/auth/roles/root", r#"{"role":"root"}"#, None);
    assert_eq!(r.status, 403);
    let r = http(p, "POST", "/v2/auth/roles/reader", "", None);
    assert_eq!((r.status, r.header("allow")), (405, Some("GET,PUT,DELETE")));
    let r = http(p, "GET", "/v2/auth/users/a/b", "", None);
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, r#"{"message":"Invalid path"}"#)
    );

    // A v3 user and role show through v2, permissions in v2's glob form.
    auth.role_add(AuthRoleAddRequest {
        name: "writer".into(),
    })
    .await
    .expect("role add");
    auth.role_grant_permission(AuthRoleGrantPermissionRequest {
        name: "writer".into(),
        perm: Some(Permission {
            perm_type: PermType::Write as i32,
            key: b"\0v2/pub/".to_vec(),
            range_end: b"\0v2/pub0".to_vec(),
        }),
    })
    .await
    .expect("grant");
    auth.user_add(AuthUserAddRequest {
        name: "bob".into(),
        password: "bpw".into(),
        ..Default::default()
    })
    .await
    .expect("user add");
    auth.user_grant_role(AuthUserGrantRoleRequest {
        user: "bob".into(),
        role: "writer".into(),
    })
    .await
    .expect("grant role");
    let r = http(p, "GET", "/v2/auth/users/bob", "", None);
    assert_eq!(
        r.body.trim(),
        r#"{"user":"bob","roles":[{"role":"writer","permissions":{"kv":{"read":null,"write":["/pub/*"]}}}]}"#
    );
    let users = http(p, "GET", "/v2/auth/users", "", None).json();
    let names: Vec<&str> = users["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["user"].as_str())
        .collect();
    assert_eq!(names, ["alice", "bob", "root"]);

    // Enabled through v2: the v3 API is now closed to anonymous requests,
    // and a v2-made password logs in through v3.
    let r = http(p, "PUT", "/v2/auth/enable", "", None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(auth
        .role_get(AuthRoleGetRequest {
            role: "reader".into()
        })
        .await
        .is_err());
    auth.authenticate(AuthenticateRequest {
        name: "alice".into(),
        password: "apw".into(),
    })
    .await
    .expect("v2 password works for v3");
    let r = http(p, "GET", "/v2/auth/enable", "", None);
    assert_eq!(r.body.trim(), r#"{"enabled":true}"#);

    // Management now needs root; 401 has etcd's body and no cluster id.
    for creds in [None, Some("alice:apw"), Some("root:wrong")] {
        let r = http(p, "GET", "/v2/auth/users", "", creds);
        assert_eq!(
            (r.status, r.body.as_str()),
            (401, r#"{"message":"Insufficient credentials"}"#),
            "{creds:?}"
        );
        assert!(r.header("x-etcd-cluster-id").is_none());
    }
    let r = http(p, "DELETE", "/v2/auth/users/root", "", Some("root:rootpw"));
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            403,
            r#"{"message":"auth: Cannot delete root user while auth is enabled."}"#
        )
    );
    let r = http(p, "PUT", "/v2/auth/enable", "", Some("root:rootpw"));
    assert_eq!(
        (r.status, r.body.as_str()),
        (409, r#"{"message":"auth: already enabled"}"#)
    );
    let r = http(p, "DELETE", "/v2/auth/enable", "", Some("alice:apw"));
    assert_eq!(r.status, 401);
    let r = http(p, "DELETE", "/v2/auth/enable", "", Some("root:rootpw"));
    assert_eq!(r.status, 200);
    let r = http(p, "DELETE", "/v2/auth/enable", "", None);
    assert_eq!(
        (r.status, r.body.as_str()),
        (409, r#"{"message":"auth: already disabled"}"#)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_need_v3_permissions_on_the_emulated_keys() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let m = start_v2(&tmp.path().join("m")).await;
    let p = m.port;
    let put = |path: &str, body: &str| {
        let r = http(p, "PUT", path, body, None);
        assert!(r.status < 300, "{path}: {}", r.body);
    };
    put(
        "/v2/auth/users/root",
        r#"{"user":"root","password":"rootpw"}"#,
    );
    // reader: /pub and everything below it; writer: write-only below /pub.
    put(
        "/v2/auth/roles/reader",
        r#"{"role":"reader","permissions":{"kv":{"read":["/pub","/pub/*"],"write":[]}}}"#,
    );
    put(
        "/v2/auth/roles/writer",
        r#"{"role":"writer","permissions":{"kv":{"read":[],"write":["/pub/*","/tmp*"]}}}"#,
    );
    put(
        "/v2/auth/users/alice",
        r#"{"user":"alice","password":"apw","roles":["reader"]}"#,
    );
    put(
        "/v2/auth/users/bob",
        r#"{"user":"bob","password":"bpw","roles":["writer"]}"#,
    );
    put("/v2/keys/pub/a", "value=1");
    put("/v2/keys/priv/x", "value=secret");
    put("/v2/keys/tmp/d/e", "value=deep");
    put("/v2/auth/enable", "");

    // No, unknown or wrong credentials: etcd's 401.
    let alice = Some("alice:apw");
    let bob = Some("bob:bpw");
    for creds in [None, Some("alice:nope"), Some("ghost:x")] {
        let r = http(p, "GET", "/v2/keys/pub/a", "", creds);
        assert_eq!((r.status, r.body.as_str()), (401, KEYS_401), "{creds:?}");
        assert_eq!(r.header("x-etcd-index"), Some("0"));
    }

    // Reads.
    let r = http(p, "GET", "/v2/keys/pub/a", "", alice);
    assert_eq!(
        (r.status, r.json()["node"]["value"].as_str()),
        (200, Some("1"))
    );
    assert_eq!(http(p, "GET", "/v2/keys/priv/x", "", alice).status, 401);
    let r = http(p, "GET", "/v2/keys/pub?recursive=true", "", alice);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        http(p, "GET", "/v2/keys/?recursive=true", "", alice).status,
        401
    );
    assert_eq!(http(p, "GET", "/v2/keys/pub/a", "", bob).status, 401);
    // Listing a directory shows its children: needs read below it.
    assert_eq!(http(p, "GET", "/v2/keys/tmp", "", bob).status, 401);

    // Writes: alice may not, bob may, but without seeing the old value.
    assert_eq!(
        http(p, "PUT", "/v2/keys/pub/a", "value=2", alice).status,
        401
    );
    let r = http(p, "PUT", "/v2/keys/pub/a", "value=2", bob);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json().get("prevNode").is_none(), "{}", r.body);
    let r = http(p, "PUT", "/v2/keys/pub/b", "value=3", bob);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        http(p, "PUT", "/v2/keys/priv/y", "value=1", bob).status,
        401
    );
    // Compare-and-swap reads what it compares.
    let r = http(p, "PUT", "/v2/keys/pub/a", "value=3&prevValue=2", bob);
    assert_eq!(r.status, 401, "{}", r.body);
    // In-order creation writes below the directory.
    assert_eq!(http(p, "POST", "/v2/keys/pub", "value=q", bob).status, 401);
    assert_eq!(http(p, "POST", "/v2/keys/tmp", "value=q", bob).status, 201);

    // Recursive delete needs the whole subtree.
    let r = http(p, "DELETE", "/v2/keys/pub?recursive=true", "", bob);
    assert_eq!(r.status, 401, "{}", r.body);
    let r = http(p, "DELETE", "/v2/keys/tmp?recursive=true", "", bob);
    assert_eq!(r.status, 200, "{}", r.body);

    // Waits: history answers at once when permitted.
    let r = http(p, "GET", "/v2/keys/pub/a?wait=true&waitIndex=1", "", alice);
    assert_eq!((r.status, r.json()["action"].as_str()), (200, Some("set")));
    let r = http(
        p,
        "GET",
        "/v2/keys/pub?wait=true&recursive=true&waitIndex=1",
        "",
        alice,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = http(p, "GET", "/v2/keys/?wait=true&recursive=true", "", alice);
    assert_eq!(r.status, 401);
    assert_eq!(
        http(p, "GET", "/v2/keys/priv/x?wait=true", "", alice).status,
        401
    );

    // Root may do anything; a revoked role takes effect at once.
    let root = Some("root:rootpw");
    assert_eq!(http(p, "GET", "/v2/keys/priv/x", "", root).status, 200);
    let r = http(
        p,
        "PUT",
        "/v2/auth/users/alice",
        r#"{"user":"alice","revoke":["reader"]}"#,
        root,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(http(p, "GET", "/v2/keys/pub/a", "", alice).status, 401);

    // Members: listing is open (as etcd v2), changes need root.
    assert_eq!(http(p, "GET", "/v2/members", "", None).status, 200);
    let add = r#"{"peerURLs":["http://127.0.0.1:9"]}"#;
    let r = http(p, "POST", "/v2/members", add, alice);
    assert_eq!(
        (r.status, r.body.as_str()),
        (401, r#"{"message":"Insufficient credentials"}"#)
    );
    let r = http(p, "DELETE", "/v2/members/1234", "", bob);
    assert_eq!(r.status, 401);
    let r = http(p, "DELETE", "/v2/members/1234", "", root);
    assert_eq!(r.status, 404, "root passes the check: {}", r.body);
}
