//! `/v2/auth/roles[/<name>]`: v2 roles over v3 roles, the v2 path
//! patterns of their permissions (see `patterns`), and the unchangeable
//! `root` role.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use etcd_proto::authpb::Permission;
use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdrs::AuthInfo;
use etcd_proto::etcdserverpb::{
    AuthRoleAddRequest, AuthRoleDeleteRequest, AuthRoleGrantPermissionRequest,
    AuthRoleRevokePermissionRequest,
};
use etcd_store::auth::{AuthState, ROOT};
use serde::{Deserialize, Serialize};

use crate::v2::V2;

use super::patterns::{pattern_range, Patterns};
use super::*;

/// A v2 role as sent and shown.
#[derive(Deserialize, Serialize, Default, Debug, Clone)]
pub(super) struct RoleJson {
    pub(super) role: String,
    #[serde(default)]
    pub(super) permissions: PermissionsJson,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) grant: Option<PermissionsJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) revoke: Option<PermissionsJson>,
}

#[derive(Deserialize, Serialize, Default, Debug, Clone, PartialEq)]
pub(super) struct PermissionsJson {
    #[serde(default)]
    pub(super) kv: ReadWrite,
}

#[derive(Deserialize, Serialize, Default, Debug, Clone, PartialEq)]
pub(super) struct ReadWrite {
    #[serde(default)]
    pub(super) read: Option<Vec<String>>,
    #[serde(default)]
    pub(super) write: Option<Vec<String>>,
}

impl PermissionsJson {
    pub(super) fn is_empty(p: &Option<PermissionsJson>) -> bool {
        p.as_ref().is_none_or(|p| {
            p.kv.read.as_ref().is_none_or(Vec::is_empty)
                && p.kv.write.as_ref().is_none_or(Vec::is_empty)
        })
    }
}

pub(super) fn root_role() -> RoleJson {
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

pub(super) fn role_json(a: &AuthState, name: &str) -> Option<RoleJson> {
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
pub(super) fn role_names(a: &AuthState) -> Vec<String> {
    let mut names: BTreeSet<String> = a.roles.keys().cloned().collect();
    names.insert(ROOT.into());
    names.into_iter().collect()
}

/// The roles, as `/v2/auth/roles` serves them.
pub(super) struct Roles;

#[derive(Serialize)]
pub(super) struct RoleList {
    roles: Vec<RoleJson>,
}

impl Collection for Roles {
    const KIND: &'static str = "Role";
    type Item = RoleJson;
    type List = RoleList;

    fn list(a: &AuthState) -> RoleList {
        let roles = role_names(a)
            .iter()
            .filter_map(|n| role_json(a, n))
            .collect();
        RoleList { roles }
    }

    fn get(a: &AuthState, name: &str) -> Option<RoleJson> {
        role_json(a, name)
    }

    async fn put(v2: &V2, who: &AuthInfo, name: &str, body: &[u8]) -> Outcome {
        put_role(v2, who, name, body).await
    }

    async fn delete(v2: &V2, who: &AuthInfo, name: &str) -> Outcome {
        delete_role(v2, who, name).await
    }
}

/// `/v2/auth/roles`: GET lists every role with its permissions.
pub async fn roles(State(v2): State<Arc<V2>>, method: Method, headers: HeaderMap) -> Response {
    list::<Roles>(&v2, &method, &headers).await
}

/// `/v2/auth/roles/<name>`: GET, PUT (create, or grant/revoke), DELETE.
pub async fn role(
    State(v2): State<Arc<V2>>,
    Path(raw): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    one::<Roles>(&v2, &raw, method, headers, body).await
}

pub(super) fn root_role_refused() -> Answer {
    auth_fail(
        StatusCode::FORBIDDEN,
        "Cannot modify role root: is root role.",
    )
}

pub(super) async fn put_role(v2: &V2, who: &AuthInfo, name: &str, body: &[u8]) -> Outcome {
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
        if v2.server.with_auth_state(|a| a.roles.contains_key(name)) {
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
        .with_auth_state(|a| a.roles.get(name).map(|p| Patterns::of_v3(p)))
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
pub(super) async fn set_permissions(
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

pub(super) async fn delete_role(v2: &V2, who: &AuthInfo, name: &str) -> Outcome {
    if name == ROOT {
        return Err(root_role_refused());
    }
    if !v2.server.with_auth_state(|a| a.roles.contains_key(name)) {
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
