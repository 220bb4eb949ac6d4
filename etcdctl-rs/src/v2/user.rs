//! `user add|get|list|remove|grant|revoke|passwd` over `/v2/auth/users`.

use serde_json::Value;

use super::auth::{auth_call, list_names};
use super::cli::{Command, Flag, Kind};
use super::client::Client;
use super::context::{fail, username_password, Ctx, Exit};
use super::printer::go_string;
use super::url::escape_path;

const ROLES: Flag = Flag::new(
    &["roles"],
    Kind::StrSlice,
    "List of roles to grant or revoke",
    "",
);

pub const COMMAND: Command = Command::group(
    "user",
    "user add, grant and revoke subcommands",
    &[
        Command::leaf("add", "add a new user for the etcd cluster", "<user>", &[]),
        Command::leaf("get", "get details for a user", "<user>", &[]),
        Command::leaf("list", "list all current users", "<user>", &[]),
        Command::leaf(
            "remove",
            "remove a user for the etcd cluster",
            "<user>",
            &[],
        ),
        Command::leaf("grant", "grant roles to an etcd user", "<user>", &[ROLES]),
        Command::leaf(
            "revoke",
            "revoke roles for an etcd user",
            "<user>",
            &[ROLES],
        ),
        Command::leaf("passwd", "change password for a user", "<user>", &[]),
    ],
);

fn user_path(name: &str) -> String {
    escape_path(&format!("/v2/auth/users/{name}"))
}

fn name_arg(ctx: &Ctx) -> Result<String, Exit> {
    match ctx.args() {
        [name] => Ok(name.clone()),
        _ => Err(fail("Please provide a username")),
    }
}

fn string_list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| go_string(s)).collect();
    format!("[{}]", items.join(","))
}

/// A user's name and role names, from either answer shape. When the
/// roles come as objects, Go's client first decodes them as empty strings
/// and then appends the names, so the list starts with one "" per role.
fn user_roles(v: &Value) -> (String, Vec<String>) {
    let name = v
        .get("user")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let list = v
        .get("roles")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if list.iter().all(Value::is_string) {
        let roles = list
            .iter()
            .filter_map(|r| r.as_str().map(str::to_string))
            .collect();
        return (name, roles);
    }
    let mut roles = vec![String::new(); list.len()];
    roles.extend(list.iter().map(|r| {
        r.get("role")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    }));
    (name, roles)
}

async fn get_user(ctx: &Ctx, c: &mut Client, name: &str) -> Result<Value, String> {
    auth_call(ctx, c, "GET", user_path(name), None, &[200]).await
}

pub async fn run(ctx: &mut Ctx, verb: &str) -> Result<(), Exit> {
    match verb {
        "list" => list_names(ctx, "users", "user").await,
        "add" => {
            let arg = name_arg(ctx)?;
            let mut c = ctx.auth_client().await?;
            let user = arg.split(':').next().unwrap_or("").to_string();
            let (_, pass) = username_password("New password: ", &arg);
            let body = format!(
                "{{\"user\":{},\"password\":{},\"roles\":null}}",
                go_string(&user),
                go_string(&pass)
            );
            auth_call(
                ctx,
                &mut c,
                "PUT",
                user_path(&user),
                Some(body),
                &[200, 201],
            )
            .await
            .map_err(fail)?;
            println!("User {user} created");
            Ok(())
        }
        "remove" => {
            let user = name_arg(ctx)?;
            let mut c = ctx.auth_client().await?;
            auth_call(ctx, &mut c, "DELETE", user_path(&user), None, &[200, 201])
                .await
                .map_err(fail)?;
            println!("User {user} removed");
            Ok(())
        }
        "get" => {
            let user = name_arg(ctx)?;
            let mut c = ctx.auth_client().await?;
            let v = get_user(ctx, &mut c, &user).await.map_err(fail)?;
            let (name, roles) = user_roles(&v);
            println!("User: {name}");
            println!("Roles: {}", roles.join(" "));
            Ok(())
        }
        "passwd" => {
            let user = name_arg(ctx)?;
            let mut c = ctx.auth_client().await?;
            get_user(ctx, &mut c, &user).await.map_err(fail)?;
            let (_, pass) = username_password("New password: ", &user);
            let body = format!(
                "{{\"user\":{},\"password\":{},\"roles\":null}}",
                go_string(&user),
                go_string(&pass)
            );
            auth_call(ctx, &mut c, "PUT", user_path(&user), Some(body), &[200])
                .await
                .map_err(fail)?;
            println!("Password updated");
            Ok(())
        }
        "grant" | "revoke" => {
            let roles = ctx.flags.strings("roles");
            if roles.is_empty() {
                return Err(fail("No roles specified; please use `--roles`"));
            }
            let user = name_arg(ctx)?;
            let mut c = ctx.auth_client().await?;
            get_user(ctx, &mut c, &user).await.map_err(fail)?;
            let body = format!(
                "{{\"user\":{},\"roles\":null,\"{verb}\":{}}}",
                go_string(&user),
                string_list(&roles)
            );
            auth_call(ctx, &mut c, "PUT", user_path(&user), Some(body), &[200])
                .await
                .map_err(fail)?;
            println!("User {user} updated");
            Ok(())
        }
        _ => Ok(()),
    }
}
