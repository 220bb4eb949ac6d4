//! `/v2/auth/{enable,users,roles}`: etcd v2's auth API, with its JSON
//! shapes, statuses and messages, served from the one v3 auth state.
//!
//! Every change is proposed through the log as the same v3 operation the
//! v3 Auth service proposes (`UserAdd` with a bcrypt hash made here,
//! `UserGrantRole`, `RoleGrantPermission`, `AuthEnable`, ...), as the
//! verified caller, so the apply path checks it again. A v2 request that
//! changes several things (a user created with roles, a role granted
//! several paths) becomes several log entries, checked up front so that
//! the usual failures are answered before the first one.
//!
//! Permissions: a v2 path pattern is a v3 permission on the emulated keys
//! ([`patterns::pattern_range`]): `/foo` is the key `\0v2/foo`, `/foo*` the prefix
//! `\0v2/foo`, `/foo/*` the prefix `\0v2/foo/`. A v2 read and write on the
//! same pattern are one v3 `READWRITE` permission. v3 permissions that are
//! not on v2 keys, or not a single key or prefix, have no v2 form and are
//! not shown (nor touched) here.
//!
//! The `root` role is shown as etcd v2 shows it (read and write `/*`,
//! unchangeable), whether or not the v3 state holds a role of that name:
//! v3's root role may do anything too. A v2 user named `root` gets the
//! root role when created, as in etcd v2. Unlike etcd v2, roles granted to
//! a user must exist (v3 refuses unknown roles: 404), and enabling auth
//! does not create a `guest` role (anonymous v2 requests are refused, as
//! anonymous v3 requests are).

mod patterns;
mod roles;
mod users;

pub use roles::{role, roles};
use std::sync::Arc;
pub use users::{user, users};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::AuthInfo;
use etcd_proto::etcdserverpb::{AuthDisableRequest, AuthEnableRequest};
use etcd_store::auth::{AuthState, ROOT};
use serde::Serialize;

use super::credentials::Caller;
use super::V2;
use crate::error::ServerError;

/// An answer of the auth API: `{"message": ...}` on failure.
pub(super) struct Answer(StatusCode, String);

pub(super) type Outcome = Result<Answer, Answer>;

pub(super) fn fail(status: StatusCode, msg: impl Into<String>) -> Answer {
    let body = serde_json::json!({ "message": msg.into() }).to_string();
    Answer(status, body)
}

pub(super) fn auth_fail(status: StatusCode, msg: impl std::fmt::Display) -> Answer {
    fail(status, format!("auth: {msg}"))
}

pub(super) fn ok_json<T: Serialize>(status: StatusCode, v: &T) -> Answer {
    Answer(status, serde_json::to_string(v).unwrap_or_default() + "\n")
}

/// etcd's answer to missing or insufficient credentials on the auth API
/// (no cluster header).
pub fn no_credentials() -> Response {
    let mut resp = Response::new(Body::from("{\"message\":\"Insufficient credentials\"}"));
    *resp.status_mut() = StatusCode::UNAUTHORIZED;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

pub(super) fn not_allowed(allow: &'static str) -> Response {
    let mut resp = Response::new(Body::from("Method Not Allowed\n"));
    *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    let h = resp.headers_mut();
    h.insert(header::ALLOW, HeaderValue::from_static(allow));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

pub(super) fn invalid_path() -> Response {
    let mut resp = Response::new(Body::from("{\"message\":\"Invalid path\"}"));
    *resp.status_mut() = StatusCode::BAD_REQUEST;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

impl V2 {
    /// The caller if it may manage auth (root, or anyone while auth is off).
    async fn auth_admin(&self, headers: &HeaderMap) -> Option<AuthInfo> {
        match self.caller(headers).await {
            Ok(Caller::Unchecked) => Some(AuthInfo::default()),
            Ok(c @ Caller::User(_)) if self.is_admin(&c) => match c {
                Caller::User(info) => Some(info),
                Caller::Unchecked => None,
            },
            _ => None,
        }
    }

    fn reply(&self, outcome: Outcome) -> Response {
        let (Ok(Answer(status, body)) | Err(Answer(status, body))) = outcome;
        self.json_response(status, body)
    }

    /// Proposes one auth change as `who`; failures become 500s, except
    /// the v3 refusals a v2 client can cause, answered as etcd v2 would.
    async fn change(&self, who: &AuthInfo, op: Op) -> Result<(), Answer> {
        self.server
            .propose_as(op, who.clone())
            .await
            .map(|_| ())
            .map_err(refusal)
    }
}

/// A v3 refusal a v2 client can cause, answered as etcd v2 would; any
/// other failure is a 500.
pub(super) fn refusal(e: ServerError) -> Answer {
    let msg = e.to_string();
    let msg = msg.trim_start_matches("etcdserver: ");
    let status = if msg.contains("permission denied") || msg.contains("old") {
        StatusCode::UNAUTHORIZED
    } else if msg.contains("not found") {
        StatusCode::NOT_FOUND
    } else if msg.contains("already exists") || msg.contains("root") {
        StatusCode::CONFLICT
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    auth_fail(status, msg)
}

/// `/v2/auth/enable`: GET tells, PUT enables, DELETE disables.
pub async fn enable(State(v2): State<Arc<V2>>, method: Method, headers: HeaderMap) -> Response {
    if !matches!(method, Method::GET | Method::PUT | Method::DELETE) {
        return not_allowed("GET,PUT,DELETE");
    }
    let who = if method == Method::GET {
        AuthInfo::default()
    } else {
        match v2.auth_admin(&headers).await {
            Some(w) => w,
            None => return no_credentials(),
        }
    };
    let (enabled, _) = v2.server.auth_enabled_and_revision();
    let outcome = match method {
        Method::GET => Ok(ok_json(
            StatusCode::OK,
            &serde_json::json!({ "enabled": enabled }),
        )),
        Method::PUT if enabled => Err(auth_fail(StatusCode::CONFLICT, "already enabled")),
        Method::PUT => {
            let root = v2.server.with_auth_state(|a| a.users.get(ROOT).cloned());
            match root {
                None => Err(auth_fail(
                    StatusCode::CONFLICT,
                    "No root user available, please create one",
                )),
                Some(_) => v2
                    .change(&who, Op::AuthEnable(AuthEnableRequest {}))
                    .await
                    .map(|()| Answer(StatusCode::OK, String::new())),
            }
        }
        _ if !enabled => Err(auth_fail(StatusCode::CONFLICT, "already disabled")),
        _ => v2
            .change(&who, Op::AuthDisable(AuthDisableRequest {}))
            .await
            .map(|()| Answer(StatusCode::OK, String::new())),
    };
    v2.reply(outcome)
}

/// One name below `/v2/auth/{users,roles}/`, or `None` for a deeper path.
pub(super) fn single_name(raw: &str) -> Option<Option<String>> {
    let parts: Vec<&str> = raw.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        [] => Some(None),
        [one] if *one != "." && *one != ".." => Some(Some(one.to_string())),
        _ => None,
    }
}

/// What the user and the role endpoints share: `/v2/auth/<kind>s` lists
/// them, `/v2/auth/<kind>s/<name>` gets, puts or deletes one; admins only.
pub(super) trait Collection {
    /// "User" or "Role", as etcd v2's messages name it.
    const KIND: &'static str;
    type Item: Serialize;
    type List: Serialize;
    fn list(a: &AuthState) -> Self::List;
    fn get(a: &AuthState, name: &str) -> Option<Self::Item>;
    async fn put(v2: &V2, who: &AuthInfo, name: &str, body: &[u8]) -> Outcome;
    async fn delete(v2: &V2, who: &AuthInfo, name: &str) -> Outcome;
}

/// `GET /v2/auth/<kind>s`.
pub(super) async fn list<C: Collection>(v2: &V2, method: &Method, headers: &HeaderMap) -> Response {
    if method != Method::GET {
        return not_allowed("GET");
    }
    if v2.auth_admin(headers).await.is_none() {
        return no_credentials();
    }
    let list = v2.server.with_auth_state(C::list);
    v2.reply(Ok(ok_json(StatusCode::OK, &list)))
}

/// `/v2/auth/<kind>s/<name>` (and the list, when the name is empty).
pub(super) async fn one<C: Collection>(
    v2: &V2,
    raw: &str,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (name, who) = match target(v2, raw, &method, &headers).await {
        Ok(Target::One(name, who)) => (name, who),
        Ok(Target::List) => return list::<C>(v2, &method, &headers).await,
        Err(resp) => return resp,
    };
    let outcome = match method {
        Method::GET => found(
            v2.server.with_auth_state(|a| C::get(a, &name)),
            C::KIND,
            &name,
        ),
        Method::PUT => C::put(v2, &who, &name, &body).await,
        _ => C::delete(v2, &who, &name).await,
    };
    v2.reply(outcome)
}

/// What `/v2/auth/users/<name>` and `/v2/auth/roles/<name>` ask for.
pub(super) enum Target {
    /// No name: the list.
    List,
    /// One user or role, asked for by an admin.
    One(String, AuthInfo),
}

/// What the user and role endpoints share: the name from the path, the
/// methods they take, and the admin check.
pub(super) async fn target(
    v2: &V2,
    raw: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Target, Response> {
    let name = match single_name(raw) {
        None => return Err(invalid_path()),
        Some(None) => return Ok(Target::List),
        Some(Some(n)) => n,
    };
    if !matches!(*method, Method::GET | Method::PUT | Method::DELETE) {
        return Err(not_allowed("GET,PUT,DELETE"));
    }
    match v2.auth_admin(headers).await {
        Some(who) => Ok(Target::One(name, who)),
        None => Err(no_credentials()),
    }
}

/// A GET's answer: the user or role as JSON, or etcd v2's 404.
pub(super) fn found<T: Serialize>(item: Option<T>, kind: &str, name: &str) -> Outcome {
    item.map(|it| ok_json(StatusCode::OK, &it)).ok_or_else(|| {
        auth_fail(
            StatusCode::NOT_FOUND,
            format!("{kind} {name} does not exist."),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_below_the_collection() {
        assert_eq!(single_name(""), Some(None));
        assert_eq!(single_name("bob"), Some(Some("bob".into())));
        assert_eq!(single_name("bob/"), Some(Some("bob".into())));
        assert_eq!(single_name("a/b"), None);
    }
}
