//! etcd's v2 HTTP API (`--enable-v2`), emulated on the v3 MVCC store.
//!
//! There is one source of truth: v2 nodes are ordinary v3 keys, written by
//! v3 transactions proposed through [`crate::server::EtcdServer::propose`]
//! (the same raft write path as the KV service), so they are replicated,
//! snapshotted, compacted and restored like everything else.
//!
//! - Layout: the node at v2 path `/a/b` is the v3 key `\0v2/a/b`
//!   ([`node`]); directories are marker rows. All v2 rows live in the v3
//!   range `[\0v2, \0v3)`; `\0v2!event` is rewritten by every v2 write with
//!   the write's action and path, so that watchers can tell `set` from
//!   `update` or `compareAndSwap` (a revision without it that deletes v2
//!   rows is a lease expiry: `expire`).
//! - Indexes: createdIndex/modifiedIndex and `X-Etcd-Index` are v3
//!   revisions. v2's `set` makes a new node, so the row records "created at
//!   this revision" rather than the key's v3 create revision.
//! - TTL: a v3 lease per TTL write (expiry decided by the leader's lessor,
//!   as for v3 leases); the expiry time shown is kept in the row. Nodes
//!   created below a directory with a TTL join its lease, so the directory
//!   expires with its contents.
//! - Writes are optimistic: read locally after a read barrier, decide as
//!   etcd's v2 store would (errors included), and propose a txn whose
//!   compares guard every row the decision read; if another write got in
//!   between, read again and retry.
//! - Watches (`wait=true`) read the store's event history from `waitIndex`
//!   and then follow new revisions; an index below the compacted revision
//!   gives error 401.
//!
//! - Auth: there is one auth state, v3's. `/v2/auth/*` ([`auth`]) shows
//!   and changes v3 users and roles through the same log operations as the
//!   v3 Auth service; a v2 path pattern is a v3 permission on the emulated
//!   keys (`/foo` the key `\0v2/foo`, `/foo/*` the prefix `\0v2/foo/`).
//!   While auth is on, a v2 request's HTTP Basic credentials name a v3 user
//!   ([`credentials`]): reads need v3 read permission on the node's key,
//!   writes write permission; recursive reads, waits and deletes, and
//!   listing a directory, also need the subtree range; POST needs write
//!   below the directory; compare-and-swap/delete also need read; the
//!   previous value in a write's answer is left out for a user who may not
//!   read it; membership changes need the root role (listing members and
//!   stats stay open, as in etcd v2). The check happens before the write
//!   is proposed; the proposal itself is the cluster's (its bookkeeping
//!   rows, parent directories and the event key, are the emulation's, not
//!   the user's).
//!   Where etcd v2 and v3 differ, v3's rules win so that v2 opens no side
//!   door: a request without credentials is refused (etcd v2 would use
//!   its `guest` role, which enabling auth creates with full access; here
//!   `guest` is an ordinary role and is not created); roles granted to a
//!   user must exist; deleting a role revokes it from its users; a
//!   recursive operation is allowed when the node and its subtree are
//!   (etcd v2 wants one `/foo*` pattern). The `root` role is shown with
//!   v2's fixed `/*` permissions and a v2 user named `root` gets it.
//!
//! [`keys`] serves `/v2/keys`, [`watch`] waits, [`members`] serves
//! `/v2/members`, `/v2/stats/*` and `/v2/machines`, [`auth`] serves
//! `/v2/auth`; [`form`] parses parameters, [`error`] holds the error
//! table.

pub mod auth;
pub mod credentials;
pub mod error;
pub mod form;
pub mod keys;
pub mod members;
pub mod node;
pub mod watch;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;
use serde::Serialize;

use crate::api::Shared;
use error::V2Error;

/// State shared by the v2 handlers.
pub struct V2 {
    pub server: Shared,
    pub stats: StoreStats,
    /// Recently verified Basic-auth passwords.
    pub verified: credentials::VerifiedPasswords,
    /// When this member started serving, Unix nanoseconds.
    pub started: i64,
}

/// The v2 routes, mounted on the client router when `--enable-v2` is set.
pub fn router(server: Shared) -> Router {
    let v2 = Arc::new(V2 {
        server,
        stats: StoreStats::default(),
        verified: Default::default(),
        started: node::now_nanos(),
    });
    Router::new()
        .route("/v2/keys", any(keys::handle))
        .route("/v2/keys/", any(keys::handle))
        .route("/v2/keys/{*path}", any(keys::handle))
        .route("/v2/members", any(members::members))
        .route("/v2/members/", any(members::members))
        .route("/v2/members/{id}", any(members::member))
        .route("/v2/stats/self", get(members::stats_self))
        .route("/v2/stats/leader", get(members::stats_leader))
        .route("/v2/stats/store", get(members::stats_store))
        .route("/v2/machines", get(members::machines))
        .route("/v2/auth/enable", any(auth::enable))
        .route("/v2/auth/users", any(auth::users))
        .route("/v2/auth/users/", any(auth::users))
        .route("/v2/auth/users/{*name}", any(auth::user))
        .route("/v2/auth/roles", any(auth::roles))
        .route("/v2/auth/roles/", any(auth::roles))
        .route("/v2/auth/roles/{*name}", any(auth::role))
        .with_state(v2)
}

impl V2 {
    fn cluster_id(&self) -> String {
        format!("{:x}", self.server.cluster_id())
    }

    /// A JSON response of the keys API with etcd's index headers.
    pub fn keys_response(&self, status: StatusCode, etcd_index: i64, body: Body) -> Response {
        let mut resp = Response::new(body);
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        self.cluster_header(h);
        h.insert("X-Etcd-Index", HeaderValue::from(etcd_index));
        h.insert(
            "X-Raft-Index",
            HeaderValue::from(self.server.applied_index()),
        );
        h.insert(
            "X-Raft-Term",
            HeaderValue::from(self.server.raft_info().term),
        );
        resp
    }

    fn cluster_header(&self, h: &mut axum::http::HeaderMap) {
        if let Ok(v) = HeaderValue::from_str(&self.cluster_id()) {
            h.insert("X-Etcd-Cluster-Id", v);
        }
    }

    /// A v2 error body with its status.
    pub fn error_response(&self, err: &V2Error) -> Response {
        let mut resp = Response::new(Body::from(err.body()));
        *resp.status_mut() = err.status();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        self.cluster_header(h);
        h.insert("X-Etcd-Index", HeaderValue::from(err.index));
        resp
    }

    /// A JSON body with the cluster header (members API). Bodies etcd
    /// writes with Go's `json.Encoder` end in `\n` ([`json_line`]); its
    /// `{"message": ...}` errors do not.
    pub fn json_response(&self, status: StatusCode, body: String) -> Response {
        let mut resp = Response::new(Body::from(body));
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        self.cluster_header(h);
        resp
    }
}

/// A value as etcd writes it (Go's `json.Encoder`: one line, `\n`-ended).
pub fn json_line<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default() + "\n"
}

/// etcd's `/v2/stats/store` counters (this member's own, as in etcd).
#[derive(Default)]
pub struct StoreStats {
    counters: [AtomicU64; 17],
}

/// Which counter; the order is etcd's JSON order.
#[derive(Clone, Copy)]
pub enum Stat {
    GetsSuccess,
    GetsFail,
    SetsSuccess,
    SetsFail,
    DeleteSuccess,
    DeleteFail,
    UpdateSuccess,
    UpdateFail,
    CreateSuccess,
    CreateFail,
    CasSuccess,
    CasFail,
    CadSuccess,
    CadFail,
    ExpireCount,
    Watchers,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StoreStatsJson {
    gets_success: u64,
    gets_fail: u64,
    sets_success: u64,
    sets_fail: u64,
    delete_success: u64,
    delete_fail: u64,
    update_success: u64,
    update_fail: u64,
    create_success: u64,
    create_fail: u64,
    compare_and_swap_success: u64,
    compare_and_swap_fail: u64,
    compare_and_delete_success: u64,
    compare_and_delete_fail: u64,
    expire_count: u64,
    watchers: u64,
}

impl StoreStats {
    pub fn inc(&self, s: Stat) {
        self.counters[s as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn dec(&self, s: Stat) {
        self.counters[s as usize].fetch_sub(1, Ordering::Relaxed);
    }

    /// Counts the outcome of a write or read with the given action.
    pub fn count(&self, action: &str, ok: bool) {
        let (success, fail) = match action {
            "get" => (Stat::GetsSuccess, Stat::GetsFail),
            "set" => (Stat::SetsSuccess, Stat::SetsFail),
            "delete" => (Stat::DeleteSuccess, Stat::DeleteFail),
            "update" => (Stat::UpdateSuccess, Stat::UpdateFail),
            "create" => (Stat::CreateSuccess, Stat::CreateFail),
            "compareAndSwap" => (Stat::CasSuccess, Stat::CasFail),
            "compareAndDelete" => (Stat::CadSuccess, Stat::CadFail),
            _ => return,
        };
        self.inc(if ok { success } else { fail });
    }

    fn json(&self) -> String {
        let g = |s: Stat| self.counters[s as usize].load(Ordering::Relaxed);
        serde_json::to_string(&StoreStatsJson {
            gets_success: g(Stat::GetsSuccess),
            gets_fail: g(Stat::GetsFail),
            sets_success: g(Stat::SetsSuccess),
            sets_fail: g(Stat::SetsFail),
            delete_success: g(Stat::DeleteSuccess),
            delete_fail: g(Stat::DeleteFail),
            update_success: g(Stat::UpdateSuccess),
            update_fail: g(Stat::UpdateFail),
            create_success: g(Stat::CreateSuccess),
            create_fail: g(Stat::CreateFail),
            compare_and_swap_success: g(Stat::CasSuccess),
            compare_and_swap_fail: g(Stat::CasFail),
            compare_and_delete_success: g(Stat::CadSuccess),
            compare_and_delete_fail: g(Stat::CadFail),
            expire_count: g(Stat::ExpireCount),
            watchers: g(Stat::Watchers),
        })
        .unwrap_or_default()
    }
}
