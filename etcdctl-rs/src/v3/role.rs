//! `etcdctl role add|delete|get|list|grant-permission|revoke-permission`.
//! A permission covers one key, a range `[key, end)`, a prefix
//! (`--prefix`) or every key from `key` on (`--from-key`, range end `\0`).

use etcd_proto::authpb::permission::Type;
use etcd_proto::authpb::Permission;
use etcd_proto::etcdserverpb::{
    AuthRoleAddRequest, AuthRoleDeleteRequest, AuthRoleGetRequest, AuthRoleGrantPermissionRequest,
    AuthRoleListRequest, AuthRoleRevokePermissionRequest,
};

use super::auth::auth_command;
use super::error::{CtlError, CtlResult, EXIT_BAD_ARGS};
use super::printer::AuthResult;
use super::util::prefix_end;
use super::Invocation;

fn bad_args(msg: &str) -> CtlError {
    CtlError::new(EXIT_BAD_ARGS, msg)
}

/// The single role name argument of add, delete and get.
fn role_arg(inv: &Invocation, cmd: &str) -> CtlResult<String> {
    match inv.str_args().as_slice() {
        [name] => Ok(name.clone()),
        _ => Err(bad_args(&format!(
            "role {cmd} command requires role name as its argument"
        ))),
    }
}

/// clientv3's `StrToPermissionType` (case-insensitive).
fn perm_type(s: &str) -> CtlResult<Type> {
    match s.to_uppercase().as_str() {
        "READ" => Ok(Type::Read),
        "WRITE" => Ok(Type::Write),
        "READWRITE" => Ok(Type::Readwrite),
        _ => Err(bad_args(&format!("invalid permission type: {s}"))),
    }
}

/// etcdctl's `permRange`: the key and range end of `<key> [endkey]` under
/// `--prefix` / `--from-key`.
fn perm_range(inv: &Invocation, args: &[Vec<u8>]) -> CtlResult<(Vec<u8>, Vec<u8>)> {
    let prefix = inv.flags.get_bool("prefix");
    let from_key = inv.flags.get_bool("from-key");
    let key = &args[0][..];
    if key.is_empty() {
        if prefix && from_key {
            return Err(bad_args(
                "--from-key and --prefix flags are mutually exclusive",
            ));
        }
        // The empty key stands for the whole key space.
        let end = if prefix || from_key {
            vec![0]
        } else {
            Vec::new()
        };
        return Ok((vec![0], end));
    }
    let end = match args {
        [_] if prefix && from_key => {
            return Err(bad_args(
                "--from-key and --prefix flags are mutually exclusive",
            ))
        }
        [_] if prefix => prefix_end(key),
        [_] if from_key => vec![0],
        [_] => Vec::new(),
        _ if prefix => return Err(bad_args("unexpected endkey argument with --prefix flag")),
        _ if from_key => return Err(bad_args("unexpected endkey argument with --from-key flag")),
        _ => args[1].clone(),
    };
    Ok((key.to_vec(), end))
}

pub fn add(inv: &Invocation) -> CtlResult {
    let name = role_arg(inv, "add")?;
    let req = AuthRoleAddRequest { name: name.clone() };
    auth_command(
        inv,
        false,
        req,
        |mut c, r| async move { c.role_add(r).await },
        |resp| AuthResult::RoleAdd(&name, resp),
    )
}

pub fn delete(inv: &Invocation) -> CtlResult {
    let name = role_arg(inv, "delete")?;
    let req = AuthRoleDeleteRequest { role: name.clone() };
    auth_command(
        inv,
        false,
        req,
        |mut c, r| async move { c.role_delete(r).await },
        |resp| AuthResult::RoleDelete(&name, resp),
    )
}

pub fn get(inv: &Invocation) -> CtlResult {
    let name = role_arg(inv, "get")?;
    let req = AuthRoleGetRequest { role: name.clone() };
    auth_command(
        inv,
        true,
        req,
        |mut c, r| async move { c.role_get(r).await },
        |resp| AuthResult::RoleGet(&name, resp),
    )
}

pub fn list(inv: &Invocation) -> CtlResult {
    if !inv.args().is_empty() {
        return Err(bad_args("role list command requires no arguments"));
    }
    auth_command(
        inv,
        true,
        AuthRoleListRequest {},
        |mut c, r| async move { c.role_list(r).await },
        AuthResult::RoleList,
    )
}

pub fn grant_permission(inv: &Invocation) -> CtlResult {
    let args = inv.str_args();
    if args.len() < 3 {
        return Err(bad_args(
            "role grant command requires role name, permission type, and key [endkey] as its argument",
        ));
    }
    let perm_type = perm_type(&args[1])?;
    let (key, range_end) = perm_range(inv, &inv.args()[2..])?;
    let req = AuthRoleGrantPermissionRequest {
        name: args[0].clone(),
        perm: Some(Permission {
            perm_type: perm_type as i32,
            key,
            range_end,
        }),
    };
    auth_command(
        inv,
        false,
        req,
        |mut c, r| async move { c.role_grant_permission(r).await },
        |resp| AuthResult::RoleGrantPermission(&args[0], resp),
    )
}

pub fn revoke_permission(inv: &Invocation) -> CtlResult {
    let args = inv.str_args();
    if args.len() < 2 {
        return Err(bad_args(
            "role revoke-permission command requires role name and key [endkey] as its argument",
        ));
    }
    let (key, range_end) = perm_range(inv, &inv.args()[1..])?;
    let req = AuthRoleRevokePermissionRequest {
        role: args[0].clone(),
        key,
        range_end: range_end.clone(),
    };
    auth_command(
        inv,
        false,
        req,
        |mut c, r| async move { c.role_revoke_permission(r).await },
        |resp| AuthResult::RoleRevokePermission(&args[0], &inv.args()[1], &range_end, resp),
    )
}
