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
//! ([`pattern_range`]): `/foo` is the key `\0v2/foo`, `/foo*` the prefix
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

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use etcd_proto::authpb::permission::Type as PermType;
use etcd_proto::authpb::{Permission, UserAddOptions};
use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::AuthInfo;
use etcd_proto::etcdserverpb::{
    AuthDisableRequest, AuthEnableRequest, AuthRoleAddRequest, AuthRoleDeleteRequest,
    AuthRoleGrantPermissionRequest, AuthRoleRevokePermissionRequest, AuthUserAddRequest,
    AuthUserChangePasswordRequest, AuthUserDeleteRequest, AuthUserGrantRoleRequest,
    AuthUserRevokeRoleRequest,
};
use etcd_store::auth::{AuthState, ROOT};
use serde::{Deserialize, Serialize};

use super::credentials::Caller;
use super::node::NODE_PREFIX;
use super::V2;
use crate::error::ServerError;

/// A v2 user as sent and shown.
#[derive(Deserialize, Serialize, Default, Debug)]
struct UserJson {
    user: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    password: String,
    #[serde(default)]
    roles: Option<Vec<String>>,
    #[serde(default, skip_serializing)]
    grant: Option<Vec<String>>,
    #[serde(default, skip_serializing)]
    revoke: Option<Vec<String>>,
}

/// A v2 role as sent and shown.
#[derive(Deserialize, Serialize, Default, Debug, Clone)]
struct RoleJson {
    role: String,
    #[serde(default)]
    permissions: PermissionsJson,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grant: Option<PermissionsJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revoke: Option<PermissionsJson>,
}

#[derive(Deserialize, Serialize, Default, Debug, Clone, PartialEq)]
struct PermissionsJson {
    #[serde(default)]
    kv: ReadWrite,
}

#[derive(Deserialize, Serialize, Default, Debug, Clone, PartialEq)]
struct ReadWrite {
    #[serde(default)]
    read: Option<Vec<String>>,
    #[serde(default)]
    write: Option<Vec<String>>,
}

impl PermissionsJson {
    fn is_empty(p: &Option<PermissionsJson>) -> bool {
        p.as_ref().is_none_or(|p| {
            p.kv.read.as_ref().is_none_or(Vec::is_empty)
                && p.kv.write.as_ref().is_none_or(Vec::is_empty)
        })
    }
}

/// A user with its roles spelled out (the list and get answers).
#[derive(Serialize)]
struct UserWithRoles {
    user: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    roles: Vec<RoleJson>,
}

/// An answer of the auth API: `{"message": ...}` on failure.
struct Answer(StatusCode, String);

type Outcome = Result<Answer, Answer>;

fn fail(status: StatusCode, msg: impl Into<String>) -> Answer {
    let body = serde_json::json!({ "message": msg.into() }).to_string();
    Answer(status, body)
}

fn auth_fail(status: StatusCode, msg: impl std::fmt::Display) -> Answer {
    fail(status, format!("auth: {msg}"))
}

fn ok_json<T: Serialize>(status: StatusCode, v: &T) -> Answer {
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

fn not_allowed(allow: &'static str) -> Response {
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

fn invalid_path() -> Response {
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
fn refusal(e: ServerError) -> Answer {
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
    let (enabled, _) = v2.server.store.auth_status();
    let outcome = match method {
        Method::GET => Ok(ok_json(
            StatusCode::OK,
            &serde_json::json!({ "enabled": enabled }),
        )),
        Method::PUT if enabled => Err(auth_fail(StatusCode::CONFLICT, "already enabled")),
        Method::PUT => {
            let root = v2.server.store.with_auth(|a| a.users.get(ROOT).cloned());
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

// ---------------------------------------------------------------- roles

/// The v3 range of a v2 path pattern (`*` at the end: a prefix).
pub fn pattern_range(pattern: &str) -> (Vec<u8>, Vec<u8>) {
    let mut key = NODE_PREFIX.to_vec();
    match pattern.strip_suffix('*') {
        Some(prefix) => {
            key.extend_from_slice(prefix.as_bytes());
            let end = prefix_end(&key);
            (key, end)
        }
        None => {
            key.extend_from_slice(pattern.as_bytes());
            (key, Vec::new())
        }
    }
}

fn prefix_end(key: &[u8]) -> Vec<u8> {
    let mut end = key.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// The v2 pattern of a v3 permission range, if it has one.
pub fn range_pattern(key: &[u8], range_end: &[u8]) -> Option<String> {
    let rest = std::str::from_utf8(key.strip_prefix(NODE_PREFIX)?).ok()?;
    if range_end.is_empty() {
        return (!rest.is_empty()).then(|| rest.to_string());
    }
    (range_end == prefix_end(key).as_slice()).then(|| format!("{rest}*"))
}

/// v2 read and write patterns, sorted.
#[derive(Default, Clone, PartialEq, Debug)]
struct Patterns {
    read: BTreeSet<String>,
    write: BTreeSet<String>,
}

impl Patterns {
    fn of_v3(perms: &[Permission]) -> Patterns {
        let mut out = Patterns::default();
        for p in perms {
            let Some(pat) = range_pattern(&p.key, &p.range_end) else {
                continue;
            };
            let t = p.perm_type;
            if t == PermType::Read as i32 || t == PermType::Readwrite as i32 {
                out.read.insert(pat.clone());
            }
            if t == PermType::Write as i32 || t == PermType::Readwrite as i32 {
                out.write.insert(pat);
            }
        }
        out
    }

    fn of_json(p: &PermissionsJson) -> Patterns {
        Patterns {
            read: p.kv.read.iter().flatten().cloned().collect(),
            write: p.kv.write.iter().flatten().cloned().collect(),
        }
    }

    fn json(&self) -> PermissionsJson {
        let list = |s: &BTreeSet<String>| (!s.is_empty()).then(|| s.iter().cloned().collect());
        PermissionsJson {
            kv: ReadWrite {
                read: list(&self.read),
                write: list(&self.write),
            },
        }
    }

    /// The v3 permission type of each pattern.
    fn v3(&self) -> BTreeMap<String, PermType> {
        let mut out = BTreeMap::new();
        for p in &self.read {
            out.insert(p.clone(), PermType::Read);
        }
        for p in &self.write {
            let t = if self.read.contains(p) {
                PermType::Readwrite
            } else {
                PermType::Write
            };
            out.insert(p.clone(), t);
        }
        out
    }
}

fn root_role() -> RoleJson {
    let all = Some(vec!["/*".to_string()]);
    RoleJson {
        role: ROOT.into(),
        permissions: PermissionsJson {
            kv: ReadWrite {
                read: all.clone(),
                write: all,
            },
        },
        grant: None,
        revoke: None,
    }
}

fn role_json(a: &AuthState, name: &str) -> Option<RoleJson> {
    if name == ROOT {
        return Some(root_role());
    }
    let perms = a.roles.get(name)?;
    Some(RoleJson {
        role: name.to_string(),
        permissions: Patterns::of_v3(perms).json(),
        grant: None,
        revoke: None,
    })
}

/// Role names as v2 lists them: always with `root`.
fn role_names(a: &AuthState) -> Vec<String> {
    let mut names: BTreeSet<String> = a.roles.keys().cloned().collect();
    names.insert(ROOT.into());
    names.into_iter().collect()
}

/// `/v2/auth/roles`: GET lists every role with its permissions.
pub async fn roles(State(v2): State<Arc<V2>>, method: Method, headers: HeaderMap) -> Response {
    if method != Method::GET {
        return not_allowed("GET");
    }
    if v2.auth_admin(&headers).await.is_none() {
        return no_credentials();
    }
    let list: Vec<RoleJson> = v2.server.store.with_auth(|a| {
        role_names(a)
            .iter()
            .filter_map(|n| role_json(a, n))
            .collect()
    });
    #[derive(Serialize)]
    struct Roles {
        roles: Vec<RoleJson>,
    }
    v2.reply(Ok(ok_json(StatusCode::OK, &Roles { roles: list })))
}

/// One name below `/v2/auth/{users,roles}/`, or `None` for a deeper path.
fn single_name(raw: &str) -> Option<Option<String>> {
    let parts: Vec<&str> = raw.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        [] => Some(None),
        [one] if *one != "." && *one != ".." => Some(Some(one.to_string())),
        _ => None,
    }
}

/// `/v2/auth/roles/<name>`: GET, PUT (create, or grant/revoke), DELETE.
pub async fn role(
    State(v2): State<Arc<V2>>,
    Path(raw): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (name, who) = match target(&v2, &raw, &method, &headers).await {
        Ok(Target::One(name, who)) => (name, who),
        Ok(Target::List) => return roles(State(v2), method, headers).await,
        Err(resp) => return resp,
    };
    let outcome = match method {
        Method::GET => found(
            v2.server.store.with_auth(|a| role_json(a, &name)),
            "Role",
            &name,
        ),
        Method::PUT => put_role(&v2, &who, &name, &body).await,
        _ => delete_role(&v2, &who, &name).await,
    };
    v2.reply(outcome)
}

/// What `/v2/auth/users/<name>` and `/v2/auth/roles/<name>` ask for.
enum Target {
    /// No name: the list.
    List,
    /// One user or role, asked for by an admin.
    One(String, AuthInfo),
}

/// What the user and role endpoints share: the name from the path, the
/// methods they take, and the admin check.
async fn target(
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
fn found<T: Serialize>(item: Option<T>, kind: &str, name: &str) -> Outcome {
    item.map(|it| ok_json(StatusCode::OK, &it)).ok_or_else(|| {
        auth_fail(
            StatusCode::NOT_FOUND,
            format!("{kind} {name} does not exist."),
        )
    })
}

fn root_role_refused() -> Answer {
    auth_fail(
        StatusCode::FORBIDDEN,
        "Cannot modify role root: is root role.",
    )
}

async fn put_role(v2: &V2, who: &AuthInfo, name: &str, body: &[u8]) -> Outcome {
    let input: RoleJson = serde_json::from_slice(body)
        .map_err(|_| fail(StatusCode::BAD_REQUEST, "Invalid JSON in request body."))?;
    if input.role != name {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "Role JSON name does not match the name in the URL",
        ));
    }
    let updating =
        !PermissionsJson::is_empty(&input.grant) || !PermissionsJson::is_empty(&input.revoke);
    if !updating {
        if name == ROOT {
            return Err(root_role_refused());
        }
        if v2.server.store.with_auth(|a| a.roles.contains_key(name)) {
            return Err(auth_fail(
                StatusCode::CONFLICT,
                format!("Role {name} already exists."),
            ));
        }
        v2.change(
            who,
            Op::RoleAdd(AuthRoleAddRequest {
                name: name.to_string(),
            }),
        )
        .await?;
        let wanted = Patterns::of_json(&input.permissions);
        set_permissions(v2, who, name, &Patterns::default(), &wanted).await?;
        let mut out = input;
        out.grant = None;
        out.revoke = None;
        return Ok(ok_json(StatusCode::CREATED, &out));
    }
    if !PermissionsJson::is_empty(&Some(input.permissions.clone())) {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "Role JSON contains both permissions and grant/revoke",
        ));
    }
    if name == ROOT {
        return Err(root_role_refused());
    }
    let old = v2
        .server
        .store
        .with_auth(|a| a.roles.get(name).map(|p| Patterns::of_v3(p)))
        .ok_or_else(|| {
            auth_fail(
                StatusCode::NOT_FOUND,
                format!("Role {name} does not exist."),
            )
        })?;
    let mut new = old.clone();
    let grant = input
        .grant
        .as_ref()
        .map(Patterns::of_json)
        .unwrap_or_default();
    let revoke = input
        .revoke
        .as_ref()
        .map(Patterns::of_json)
        .unwrap_or_default();
    for (kind, wanted, have) in [
        ("read", &grant.read, &mut new.read),
        ("write", &grant.write, &mut new.write),
    ] {
        for p in wanted {
            if !have.insert(p.clone()) {
                return Err(auth_fail(
                    StatusCode::CONFLICT,
                    format!("Granting duplicate {kind} permission {p}"),
                ));
            }
        }
    }
    for p in &revoke.read {
        new.read.remove(p);
    }
    for p in &revoke.write {
        new.write.remove(p);
    }
    if new == old {
        return Err(auth_fail(
            StatusCode::BAD_REQUEST,
            "Role not updated. Use grant/revoke to update the role.",
        ));
    }
    set_permissions(v2, who, name, &old, &new).await?;
    let out = RoleJson {
        role: name.to_string(),
        permissions: new.json(),
        grant: None,
        revoke: None,
    };
    Ok(ok_json(StatusCode::OK, &out))
}

/// Proposes the v3 grants and revokes that turn `old` into `new`.
async fn set_permissions(
    v2: &V2,
    who: &AuthInfo,
    role: &str,
    old: &Patterns,
    new: &Patterns,
) -> Result<(), Answer> {
    let (before, after) = (old.v3(), new.v3());
    for (pattern, t) in &after {
        if before.get(pattern) == Some(t) {
            continue;
        }
        let (key, range_end) = pattern_range(pattern);
        let perm = Permission {
            perm_type: *t as i32,
            key,
            range_end,
        };
        let op = Op::RoleGrantPermission(AuthRoleGrantPermissionRequest {
            name: role.to_string(),
            perm: Some(perm),
        });
        v2.change(who, op).await?;
    }
    for pattern in before.keys().filter(|p| !after.contains_key(*p)) {
        let (key, range_end) = pattern_range(pattern);
        let op = Op::RoleRevokePermission(AuthRoleRevokePermissionRequest {
            role: role.to_string(),
            key,
            range_end,
        });
        v2.change(who, op).await?;
    }
    Ok(())
}

async fn delete_role(v2: &V2, who: &AuthInfo, name: &str) -> Outcome {
    if name == ROOT {
        return Err(root_role_refused());
    }
    if !v2.server.store.with_auth(|a| a.roles.contains_key(name)) {
        return Err(auth_fail(
            StatusCode::NOT_FOUND,
            format!("Role {name} doesn't exist."),
        ));
    }
    v2.change(
        who,
        Op::RoleDelete(AuthRoleDeleteRequest {
            role: name.to_string(),
        }),
    )
    .await?;
    Ok(Answer(StatusCode::OK, String::new()))
}

// ---------------------------------------------------------------- users

fn user_with_roles(a: &AuthState, name: &str) -> Option<UserWithRoles> {
    let u = a.users.get(name)?;
    let mut names: BTreeSet<String> = u.roles.clone();
    if name == ROOT {
        names.insert(ROOT.into());
    }
    Some(UserWithRoles {
        user: name.to_string(),
        roles: names.iter().filter_map(|r| role_json(a, r)).collect(),
    })
}

/// `/v2/auth/users`: GET lists every user with its roles.
pub async fn users(State(v2): State<Arc<V2>>, method: Method, headers: HeaderMap) -> Response {
    if method != Method::GET {
        return not_allowed("GET");
    }
    if v2.auth_admin(&headers).await.is_none() {
        return no_credentials();
    }
    let list: Vec<UserWithRoles> = v2.server.store.with_auth(|a| {
        a.users
            .keys()
            .filter_map(|n| user_with_roles(a, n))
            .collect()
    });
    let list = (!list.is_empty()).then_some(list);
    #[derive(Serialize)]
    struct Users {
        users: Option<Vec<UserWithRoles>>,
    }
    v2.reply(Ok(ok_json(StatusCode::OK, &Users { users: list })))
}

/// `/v2/auth/users/<name>`: GET, PUT (create, password, grant/revoke),
/// DELETE.
pub async fn user(
    State(v2): State<Arc<V2>>,
    Path(raw): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (name, who) = match target(&v2, &raw, &method, &headers).await {
        Ok(Target::One(name, who)) => (name, who),
        Ok(Target::List) => return users(State(v2), method, headers).await,
        Err(resp) => return resp,
    };
    let outcome = match method {
        Method::GET => found(
            v2.server.store.with_auth(|a| user_with_roles(a, &name)),
            "User",
            &name,
        ),
        Method::PUT => put_user(&v2, &who, &name, &body).await,
        _ => delete_user(&v2, &who, &name).await,
    };
    v2.reply(outcome)
}

/// The v2 view of a user's roles (root always holds root).
fn current_roles(v2: &V2, name: &str) -> Option<BTreeSet<String>> {
    v2.server.store.with_auth(|a| {
        a.users.get(name).map(|u| {
            let mut r = u.roles.clone();
            if name == ROOT {
                r.insert(ROOT.into());
            }
            r
        })
    })
}

fn missing_role(v2: &V2, roles: &[String]) -> Option<String> {
    v2.server.store.with_auth(|a| {
        roles
            .iter()
            .find(|r| r.as_str() != ROOT && !a.roles.contains_key(*r))
            .cloned()
    })
}

fn role_missing(role: &str) -> Answer {
    auth_fail(
        StatusCode::NOT_FOUND,
        format!("Role {role} does not exist."),
    )
}

async fn put_user(v2: &V2, who: &AuthInfo, name: &str, body: &[u8]) -> Outcome {
    let input: UserJson = serde_json::from_slice(body)
        .map_err(|_| fail(StatusCode::BAD_REQUEST, "Invalid JSON in request body."))?;
    if input.user != name {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "User JSON name does not match the name in the URL",
        ));
    }
    let grant = input.grant.clone().unwrap_or_default();
    let revoke = input.revoke.clone().unwrap_or_default();
    let roles = input.roles.clone().unwrap_or_default();
    let existing = current_roles(v2, name);
    if grant.is_empty() && revoke.is_empty() {
        match existing {
            Some(_) if !roles.is_empty() => Err(auth_fail(
                StatusCode::CONFLICT,
                format!("User {name} already exists."),
            )),
            Some(have) => update_user(v2, who, name, &input.password, &[], &[], have).await,
            None => create_user(v2, who, name, &input.password, roles).await,
        }
    } else {
        if !roles.is_empty() {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "User JSON contains both roles and grant/revoke",
            ));
        }
        let have = existing.ok_or_else(|| {
            auth_fail(
                StatusCode::NOT_FOUND,
                format!("User {name} does not exist."),
            )
        })?;
        update_user(v2, who, name, &input.password, &grant, &revoke, have).await
    }
}

async fn create_user(
    v2: &V2,
    who: &AuthInfo,
    name: &str,
    plain: &str,
    mut roles: Vec<String>,
) -> Outcome {
    if plain.is_empty() {
        return Err(auth_fail(
            StatusCode::BAD_REQUEST,
            format!("Cannot create user {name} with an empty password"),
        ));
    }
    if name == ROOT && !roles.iter().any(|r| r == ROOT) {
        roles.push(ROOT.into());
    }
    if let Some(r) = missing_role(v2, &roles) {
        return Err(role_missing(&r));
    }
    // The server API hashes the password before it reaches the log.
    let add = AuthUserAddRequest {
        name: name.to_string(),
        password: plain.to_string(),
        options: Some(UserAddOptions { no_password: false }),
        hashed_password: String::new(),
    };
    v2.server
        .user_add(who.clone(), add)
        .await
        .map_err(refusal)?;
    for role in &roles {
        grant_role(v2, who, name, role).await?;
    }
    let out = UserJson {
        user: name.to_string(),
        roles: (!roles.is_empty()).then_some(roles),
        ..Default::default()
    };
    Ok(ok_json(StatusCode::CREATED, &out))
}

async fn grant_role(v2: &V2, who: &AuthInfo, name: &str, role: &str) -> Result<(), Answer> {
    let op = Op::UserGrantRole(AuthUserGrantRoleRequest {
        user: name.to_string(),
        role: role.to_string(),
    });
    v2.change(who, op).await
}

async fn update_user(
    v2: &V2,
    who: &AuthInfo,
    name: &str,
    plain: &str,
    grant: &[String],
    revoke: &[String],
    have: BTreeSet<String>,
) -> Outcome {
    let mut roles = have.clone();
    for g in grant {
        if !roles.insert(g.clone()) {
            return Err(auth_fail(
                StatusCode::CONFLICT,
                format!("Granting duplicate role {g} for user {name}"),
            ));
        }
    }
    for r in revoke {
        if !roles.remove(r) {
            return Err(auth_fail(
                StatusCode::CONFLICT,
                format!("Revoking ungranted role {r} for user {name}"),
            ));
        }
    }
    if plain.is_empty() && roles == have {
        return Err(auth_fail(
            StatusCode::BAD_REQUEST,
            "User not updated. Use grant/revoke/password to update the user.",
        ));
    }
    if let Some(r) = missing_role(v2, grant) {
        return Err(role_missing(&r));
    }
    if !plain.is_empty() {
        let change = AuthUserChangePasswordRequest {
            name: name.to_string(),
            password: plain.to_string(),
            hashed_password: String::new(),
        };
        v2.server
            .user_change_password(who.clone(), change)
            .await
            .map_err(refusal)?;
    }
    for g in grant {
        grant_role(v2, who, name, g).await?;
    }
    for r in revoke {
        let op = Op::UserRevokeRole(AuthUserRevokeRoleRequest {
            name: name.to_string(),
            role: r.clone(),
        });
        v2.change(who, op).await?;
    }
    let out = UserJson {
        user: name.to_string(),
        roles: Some(roles.into_iter().collect()),
        ..Default::default()
    };
    Ok(ok_json(StatusCode::OK, &out))
}

async fn delete_user(v2: &V2, who: &AuthInfo, name: &str) -> Outcome {
    if name == ROOT && v2.server.store.auth_status().0 {
        return Err(auth_fail(
            StatusCode::FORBIDDEN,
            "Cannot delete root user while auth is enabled.",
        ));
    }
    if current_roles(v2, name).is_none() {
        return Err(auth_fail(
            StatusCode::NOT_FOUND,
            format!("User {name} does not exist"),
        ));
    }
    let op = Op::UserDelete(AuthUserDeleteRequest {
        name: name.to_string(),
    });
    v2.change(who, op).await?;
    Ok(Answer(StatusCode::OK, String::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_map_to_v3_ranges_and_back() {
        let (k, e) = pattern_range("/foo");
        assert_eq!(k, b"\x00v2/foo");
        assert!(e.is_empty());
        assert_eq!(range_pattern(&k, &e).as_deref(), Some("/foo"));
        let (k, e) = pattern_range("/foo/*");
        assert_eq!(k, b"\x00v2/foo/");
        assert_eq!(e, b"\x00v2/foo0");
        assert_eq!(range_pattern(&k, &e).as_deref(), Some("/foo/*"));
        let (k, e) = pattern_range("/*");
        assert_eq!(range_pattern(&k, &e).as_deref(), Some("/*"));
        assert_eq!(range_pattern(b"plain", b""), None);
        assert_eq!(range_pattern(b"\x00v2/a", b"\x00v2/c"), None);
    }

    #[test]
    fn read_and_write_on_one_pattern_is_readwrite() {
        let p = Patterns {
            read: ["/a".into(), "/b*".into()].into(),
            write: ["/a".into(), "/c".into()].into(),
        };
        let v3 = p.v3();
        assert_eq!(v3["/a"], PermType::Readwrite);
        assert_eq!(v3["/b*"], PermType::Read);
        assert_eq!(v3["/c"], PermType::Write);
        let perms: Vec<Permission> = v3
            .iter()
            .map(|(pat, t)| {
                let (key, range_end) = pattern_range(pat);
                Permission {
                    perm_type: *t as i32,
                    key,
                    range_end,
                }
            })
            .collect();
        assert_eq!(Patterns::of_v3(&perms), p);
    }

    #[test]
    fn names_below_the_collection() {
        assert_eq!(single_name(""), Some(None));
        assert_eq!(single_name("bob"), Some(Some("bob".into())));
        assert_eq!(single_name("bob/"), Some(Some("bob".into())));
        assert_eq!(single_name("a/b"), None);
    }
}
