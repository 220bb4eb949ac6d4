//! `/v2/auth/users[/<name>]`: v2 users over v3 users (bcrypt hashes made
//! here, roles granted one log entry each).

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use etcd_proto::authpb::UserAddOptions;
use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::AuthInfo;
use etcd_proto::etcdserverpb::{
    AuthUserAddRequest, AuthUserChangePasswordRequest, AuthUserDeleteRequest,
    AuthUserGrantRoleRequest, AuthUserRevokeRoleRequest,
};
use etcd_store::auth::{AuthState, ROOT};
use serde::{Deserialize, Serialize};

use crate::v2::V2;

use super::roles::{role_json, RoleJson};
use super::*;

/// A v2 user as sent and shown.
#[derive(Deserialize, Serialize, Default, Debug)]
pub(super) struct UserJson {
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

/// A user with its roles spelled out (the list and get answers).
#[derive(Serialize)]
pub(super) struct UserWithRoles {
    user: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    roles: Vec<RoleJson>,
}

pub(super) fn user_with_roles(a: &AuthState, name: &str) -> Option<UserWithRoles> {
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

/// The users, as `/v2/auth/users` serves them.
pub(super) struct Users;

#[derive(Serialize)]
pub(super) struct UserList {
    users: Option<Vec<UserWithRoles>>,
}

impl Collection for Users {
    const KIND: &'static str = "User";
    type Item = UserWithRoles;
    type List = UserList;

    fn list(a: &AuthState) -> UserList {
        let users: Vec<UserWithRoles> = a
            .users
            .keys()
            .filter_map(|n| user_with_roles(a, n))
            .collect();
        UserList {
            users: (!users.is_empty()).then_some(users),
        }
    }

    fn get(a: &AuthState, name: &str) -> Option<UserWithRoles> {
        user_with_roles(a, name)
    }

    async fn put(v2: &V2, who: &AuthInfo, name: &str, body: &[u8]) -> Outcome {
        put_user(v2, who, name, body).await
    }

    async fn delete(v2: &V2, who: &AuthInfo, name: &str) -> Outcome {
        delete_user(v2, who, name).await
    }
}

/// `/v2/auth/users`: GET lists every user with its roles.
pub async fn users(State(v2): State<Arc<V2>>, method: Method, headers: HeaderMap) -> Response {
    list::<Users>(&v2, &method, &headers).await
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
    one::<Users>(&v2, &raw, method, headers, body).await
}

/// The v2 view of a user's roles (root always holds root).
pub(super) fn current_roles(v2: &V2, name: &str) -> Option<BTreeSet<String>> {
    v2.server.with_auth_state(|a| {
        a.users.get(name).map(|u| {
            let mut r = u.roles.clone();
            if name == ROOT {
                r.insert(ROOT.into());
            }
            r
        })
    })
}

pub(super) fn missing_role(v2: &V2, roles: &[String]) -> Option<String> {
    v2.server.with_auth_state(|a| {
        roles
            .iter()
            .find(|r| r.as_str() != ROOT && !a.roles.contains_key(*r))
            .cloned()
    })
}

pub(super) fn role_missing(role: &str) -> Answer {
    auth_fail(
        StatusCode::NOT_FOUND,
        format!("Role {role} does not exist."),
    )
}

pub(super) async fn put_user(v2: &V2, who: &AuthInfo, name: &str, body: &[u8]) -> Outcome {
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

pub(super) async fn create_user(
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

pub(super) async fn grant_role(
    v2: &V2,
    who: &AuthInfo,
    name: &str,
    role: &str,
) -> Result<(), Answer> {
    let op = Op::UserGrantRole(AuthUserGrantRoleRequest {
        user: name.to_string(),
        role: role.to_string(),
    });
    v2.change(who, op).await
}

pub(super) async fn update_user(
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

pub(super) async fn delete_user(v2: &V2, who: &AuthInfo, name: &str) -> Outcome {
    if name == ROOT && v2.server.auth_enabled_and_revision().0 {
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
