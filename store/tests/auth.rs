//! Auth applied from the log: persisted with the data, part of snapshots,
//! and enforced at the request's log position.

use etcd_proto::authpb::permission::Type as PermType;
use etcd_proto::authpb::Permission;
use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::{AuthInfo, AuthenticateApply, RaftRequest};
use etcd_proto::etcdserverpb::{
    AuthEnableRequest, AuthRoleAddRequest, AuthRoleGrantPermissionRequest, AuthUserAddRequest,
    AuthUserGrantRoleRequest, AuthUserRevokeRoleRequest, PutRequest, RangeRequest,
};
use etcd_store::auth::AuthError;
use etcd_store::{Applied, MemBackend, SledBackend, Store, StoreConfig, StoreError};

struct Log {
    store: Store,
    index: u64,
}

impl Log {
    fn apply(&mut self, op: Op, auth: Option<AuthInfo>) -> Result<Applied, StoreError> {
        self.index += 1;
        let req = RaftRequest {
            id: self.index,
            op: Some(op),
            auth,
            ..Default::default()
        };
        self.store.apply(self.index, 1, &req)
    }

    fn admin(&mut self, op: Op) {
        self.apply(op, None).expect("auth change");
    }

    fn as_user(&self, name: &str) -> AuthInfo {
        AuthInfo {
            username: name.into(),
            revision: self.store.auth_status().1,
        }
    }
}

fn put(key: &str) -> Op {
    Op::Put(PutRequest {
        key: key.into(),
        value: b"v".to_vec(),
        ..Default::default()
    })
}

/// root (with the root role), alice with readwrite on [a, b), auth on.
fn setup(log: &mut Log) {
    for name in ["root", "alice"] {
        log.admin(Op::UserAdd(AuthUserAddRequest {
            name: name.into(),
            hashed_password: format!("hash-of-{name}"),
            ..Default::default()
        }));
    }
    log.admin(Op::UserGrantRole(AuthUserGrantRoleRequest {
        user: "root".into(),
        role: "root".into(),
    }));
    log.admin(Op::RoleAdd(AuthRoleAddRequest { name: "rw".into() }));
    log.admin(Op::RoleGrantPermission(AuthRoleGrantPermissionRequest {
        name: "rw".into(),
        perm: Some(Permission {
            perm_type: PermType::Readwrite as i32,
            key: b"a".to_vec(),
            range_end: b"b".to_vec(),
        }),
    }));
    log.admin(Op::UserGrantRole(AuthUserGrantRoleRequest {
        user: "alice".into(),
        role: "rw".into(),
    }));
    log.admin(Op::AuthEnable(AuthEnableRequest {}));
}

#[test]
fn permissions_apply_at_the_log_position_and_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        Store::open(
            Box::new(SledBackend::open(dir.path()).unwrap()),
            StoreConfig::default(),
        )
        .unwrap()
    };
    let mut log = Log {
        store: open(),
        index: 0,
    };
    setup(&mut log);
    let alice = log.as_user("alice");
    assert!(matches!(
        log.apply(put("a1"), Some(alice.clone())),
        Ok(Applied::Put(_))
    ));
    assert_eq!(
        log.apply(put("zz"), Some(log.as_user("alice"))),
        Err(StoreError::Auth(AuthError::PermissionDenied))
    );
    assert_eq!(
        log.apply(put("a2"), Some(AuthInfo::default())),
        Err(StoreError::Auth(AuthError::UserEmpty))
    );
    // A request checked before a revocation that the log orders first is
    // refused when applied.
    let checked_before = log.as_user("alice");
    log.admin(Op::UserRevokeRole(AuthUserRevokeRoleRequest {
        name: "alice".into(),
        role: "rw".into(),
    }));
    assert_eq!(
        log.apply(put("a3"), Some(checked_before)),
        Err(StoreError::Auth(AuthError::AuthOldRevision))
    );
    assert_eq!(
        log.apply(put("a3"), Some(log.as_user("alice"))),
        Err(StoreError::Auth(AuthError::PermissionDenied))
    );
    // Requests of the cluster itself carry no user and pass.
    assert!(matches!(log.apply(put("zz"), None), Ok(Applied::Put(_))));
    let rev = log.store.current_revision();
    let auth_before = log.store.with_auth(|a| a.clone());
    let applied = log.store.applied_index();
    log.store.flush().unwrap();
    drop(log);

    let store = open();
    assert_eq!(store.current_revision(), rev, "refusals made no revision");
    assert_eq!(
        store.applied_index(),
        applied,
        "refusals still moved the index"
    );
    assert_eq!(store.with_auth(|a| a.clone()), auth_before);
    assert!(store.auth_status().0);
    // No password in the clear, only what the API layer hashed.
    assert_eq!(
        store.with_auth(|a| a.users["alice"].password_hash.clone()),
        "hash-of-alice"
    );
}

#[test]
fn snapshots_carry_auth_and_logins_need_a_live_user() {
    let mut log = Log {
        store: Store::open(Box::new(MemBackend::default()), StoreConfig::default()).unwrap(),
        index: 0,
    };
    let login = |name: &str| {
        Op::Authenticate(AuthenticateApply {
            name: name.into(),
            token_prefix: "abcdefghijklmnop".into(),
        })
    };
    assert_eq!(
        log.apply(login("alice"), None),
        Err(StoreError::Auth(AuthError::AuthNotEnabled))
    );
    setup(&mut log);
    let index = log.index + 1;
    assert_eq!(
        log.apply(login("alice"), None),
        Ok(Applied::Authenticated {
            user: "alice".into(),
            token: format!("abcdefghijklmnop.{index}"),
        })
    );
    assert_eq!(
        log.apply(login("ghost"), None),
        Err(StoreError::Auth(AuthError::AuthFailed))
    );

    let copy = Store::open(Box::new(MemBackend::default()), StoreConfig::default()).unwrap();
    copy.install_snapshot(&log.store.snapshot().unwrap())
        .unwrap();
    assert_eq!(
        copy.with_auth(|a| a.clone()),
        log.store.with_auth(|a| a.clone())
    );
    let range = RangeRequest {
        key: b"zz".to_vec(),
        ..Default::default()
    };
    assert_eq!(
        copy.authorize_read(&log.as_user("alice"), &range.key, &range.range_end),
        Err(StoreError::Auth(AuthError::PermissionDenied))
    );
    assert_eq!(
        copy.authorize_read(&log.as_user("alice"), b"a5", b""),
        Ok(())
    );
}
