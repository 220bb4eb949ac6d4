//! `etcdctl user add|delete|get|list|passwd|grant-role|revoke-role`.

use etcd_proto::authpb::UserAddOptions;
use etcd_proto::etcdserverpb::{
    AuthRoleGetRequest, AuthUserAddRequest, AuthUserChangePasswordRequest, AuthUserDeleteRequest,
    AuthUserGetRequest, AuthUserGrantRoleRequest, AuthUserListRequest, AuthUserRevokeRoleRequest,
};

use super::auth::auth_command;
use super::client::{auth_stub, Client};
use super::error::{CtlError, CtlResult, EXIT_BAD_ARGS};
use super::printer::AuthResult;
use super::util::{print, rpc};
use super::{global, password, Invocation};

fn bad_args(msg: &str) -> CtlError {
    CtlError::new(EXIT_BAD_ARGS, msg)
}

/// etcdctl's `readPasswordInteractive`: asked twice, must match.
fn ask_password(name: &str) -> CtlResult<String> {
    let failed = |e: std::io::Error| bad_args(&format!("failed to ask password: {e}"));
    let first = password::ask(&format!("Password of {name}: ")).map_err(failed)?;
    if first.is_empty() {
        return Err(bad_args("empty password"));
    }
    let second = password::ask(&format!("Type password of {name} again for confirmation: "))
        .map_err(failed)?;
    if first != second {
        return Err(bad_args("given passwords are different"));
    }
    Ok(first)
}

/// The new password: one word of stdin with `--interactive=false`, else asked.
fn new_password(inv: &Invocation, name: &str) -> CtlResult<String> {
    if inv.flags.get_bool("interactive") {
        ask_password(name)
    } else {
        Ok(password::scan_word())
    }
}

pub fn add(inv: &Invocation) -> CtlResult {
    let str_args = inv.str_args();
    let [arg] = str_args.as_slice() else {
        return Err(bad_args(
            "user add command requires user name as its argument",
        ));
    };
    let no_password = inv.flags.get_bool("no-password");
    let from_flag = inv.flags.get_string("new-user-password");
    let (name, pw) = if no_password {
        (arg.clone(), String::new())
    } else if !from_flag.is_empty() {
        (arg.clone(), from_flag)
    } else if let Some((name, pw)) = arg.split_once(':') {
        if name.is_empty() {
            return Err(bad_args("empty user name is not allowed"));
        }
        (name.to_string(), pw.to_string())
    } else {
        (arg.clone(), new_password(inv, arg)?)
    };
    let req = AuthUserAddRequest {
        name: name.clone(),
        password: pw,
        options: Some(UserAddOptions { no_password }),
        ..Default::default()
    };
    auth_command(
        inv,
        false,
        req,
        |mut c, r| async move { c.user_add(r).await },
        |resp| AuthResult::UserAdd(&name, resp),
    )
}

pub fn delete(inv: &Invocation) -> CtlResult {
    let str_args = inv.str_args();
    let [name] = str_args.as_slice() else {
        return Err(bad_args(
            "user delete command requires user name as its argument",
        ));
    };
    let req = AuthUserDeleteRequest { name: name.clone() };
    auth_command(
        inv,
        false,
        req,
        |mut c, r| async move { c.user_delete(r).await },
        |resp| AuthResult::UserDelete(name, resp),
    )
}

pub fn get(inv: &Invocation) -> CtlResult {
    let str_args = inv.str_args();
    let [name] = str_args.as_slice() else {
        return Err(bad_args(
            "user get command requires user name as its argument",
        ));
    };
    let setup = global::setup(inv)?;
    let mut client = Client::new(setup.conn);
    let req = AuthUserGetRequest { name: name.clone() };
    let resp = rpc(
        inv,
        &mut client,
        auth_stub,
        true,
        req,
        |mut c, r| async move { c.user_get(r).await },
    )?;
    if !inv.flags.get_bool("detail") {
        return print(|o| setup.printer.auth(o, &AuthResult::UserGet(name, resp)));
    }
    print(|o| {
        o.println(&format!("User: {name}"));
        Ok(())
    })?;
    for role in &resp.roles {
        print(|o| {
            o.print("\n");
            Ok(())
        })?;
        let req = AuthRoleGetRequest { role: role.clone() };
        let role_resp = rpc(
            inv,
            &mut client,
            auth_stub,
            true,
            req,
            |mut c, r| async move { c.role_get(r).await },
        )?;
        print(|o| setup.printer.auth(o, &AuthResult::RoleGet(role, role_resp)))?;
    }
    Ok(())
}

pub fn list(inv: &Invocation) -> CtlResult {
    if !inv.args().is_empty() {
        return Err(bad_args("user list command requires no arguments"));
    }
    auth_command(
        inv,
        true,
        AuthUserListRequest {},
        |mut c, r| async move { c.user_list(r).await },
        AuthResult::UserList,
    )
}

pub fn passwd(inv: &Invocation) -> CtlResult {
    let str_args = inv.str_args();
    let [name] = str_args.as_slice() else {
        return Err(bad_args(
            "user passwd command requires user name as its argument",
        ));
    };
    let pw = new_password(inv, name)?;
    let req = AuthUserChangePasswordRequest {
        name: name.clone(),
        password: pw,
        ..Default::default()
    };
    auth_command(
        inv,
        false,
        req,
        |mut c, r| async move { c.user_change_password(r).await },
        AuthResult::UserChangePassword,
    )
}

pub fn grant_role(inv: &Invocation) -> CtlResult {
    let str_args = inv.str_args();
    let [user, role] = str_args.as_slice() else {
        return Err(bad_args(
            "user grant command requires user name and role name as its argument",
        ));
    };
    let req = AuthUserGrantRoleRequest {
        user: user.clone(),
        role: role.clone(),
    };
    auth_command(
        inv,
        false,
        req,
        |mut c, r| async move { c.user_grant_role(r).await },
        |resp| AuthResult::UserGrantRole(user, role, resp),
    )
}

pub fn revoke_role(inv: &Invocation) -> CtlResult {
    let str_args = inv.str_args();
    let [user, role] = str_args.as_slice() else {
        return Err(bad_args(
            "user revoke-role requires user name and role name as its argument",
        ));
    };
    let req = AuthUserRevokeRoleRequest {
        name: user.clone(),
        role: role.clone(),
    };
    auth_command(
        inv,
        false,
        req,
        |mut c, r| async move { c.user_revoke_role(r).await },
        |resp| AuthResult::UserRevokeRole(user, role, resp),
    )
}
