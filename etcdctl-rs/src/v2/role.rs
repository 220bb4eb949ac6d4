//! `role add|get|list|remove|grant|revoke` over `/v2/auth/roles`.

use serde_json::Value;

use super::auth::{auth_call, list_names};
use super::cli::{Command, Flag, Kind};
use super::client::Client;
use super::context::{fail, Ctx, Exit};
use super::printer::go_string;
use super::url::{canonical_path, escape_path};

const GRANT_FLAGS: &[Flag] = &[
    Flag::new(
        &["path"],
        Kind::Str,
        "Path granted for the role to access",
        "",
    ),
    Flag::new(&["read"], Kind::Bool, "Grant read-only access", ""),
    Flag::new(&["write"], Kind::Bool, "Grant write-only access", ""),
    Flag::new(
        &["readwrite", "rw"],
        Kind::Bool,
        "Grant read-write access",
        "",
    ),
];

const REVOKE_FLAGS: &[Flag] = &[
    Flag::new(
        &["path"],
        Kind::Str,
        "Path revoked for the role to access",
        "",
    ),
    Flag::new(&["read"], Kind::Bool, "Revoke read access", ""),
    Flag::new(&["write"], Kind::Bool, "Revoke write access", ""),
    Flag::new(
        &["readwrite", "rw"],
        Kind::Bool,
        "Revoke read-write access",
        "",
    ),
];

pub const COMMAND: Command = Command::group(
    "role",
    "role add, grant and revoke subcommands",
    &[
        Command::leaf("add", "add a new role for the etcd cluster", "<role> ", &[]),
        Command::leaf("get", "get details for a role", "<role>", &[]),
        Command::leaf("list", "list all roles", " ", &[]),
        Command::leaf(
            "remove",
            "remove a role from the etcd cluster",
            "<role>",
            &[],
        ),
        Command::leaf(
            "grant",
            "grant path matches to an etcd role",
            "<role>",
            GRANT_FLAGS,
        ),
        Command::leaf(
            "revoke",
            "revoke path matches for an etcd role",
            "<role>",
            REVOKE_FLAGS,
        ),
    ],
);

fn role_path(name: &str) -> String {
    escape_path(&format!("/v2/auth/roles/{name}"))
}

fn name_arg(ctx: &Ctx) -> Result<String, Exit> {
    match ctx.args() {
        [name] => Ok(name.clone()),
        _ => Err(fail("Please provide a role name")),
    }
}

async fn get_role(ctx: &Ctx, c: &mut Client, name: &str) -> Result<Value, String> {
    auth_call(ctx, c, "GET", role_path(name), None, &[200]).await
}

fn perm_list(v: &Value, kind: &str) -> Vec<String> {
    v.pointer(&format!("/permissions/kv/{kind}"))
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The parts of a role Go compares to tell "unchanged".
fn comparable(v: &Value) -> (Value, Value) {
    (
        v.get("role").cloned().unwrap_or(Value::Null),
        v.get("permissions").cloned().unwrap_or(Value::Null),
    )
}

pub async fn run(ctx: &mut Ctx, verb: &str) -> Result<(), Exit> {
    match verb {
        "list" => list_names(ctx, "roles", "role").await,
        "add" => {
            let role = name_arg(ctx)?;
            let mut c = ctx.auth_client().await?;
            if get_role(ctx, &mut c, &role).await.is_ok() {
                return Err(fail(format!("Role {role} already exists")));
            }
            let body = format!("{{\"role\":{}}}", go_string(&role));
            auth_call(
                ctx,
                &mut c,
                "PUT",
                role_path(&role),
                Some(body),
                &[200, 201],
            )
            .await
            .map_err(fail)?;
            println!("Role {role} created");
            Ok(())
        }
        "remove" => {
            let role = name_arg(ctx)?;
            let mut c = ctx.auth_client().await?;
            auth_call(ctx, &mut c, "DELETE", role_path(&role), None, &[200, 201])
                .await
                .map_err(fail)?;
            println!("Role {role} removed");
            Ok(())
        }
        "get" => {
            let role = name_arg(ctx)?;
            let mut c = ctx.auth_client().await?;
            let v = get_role(ctx, &mut c, &role).await.map_err(fail)?;
            println!(
                "Role: {}",
                v.get("role").and_then(Value::as_str).unwrap_or("")
            );
            println!("KV Read:");
            for p in perm_list(&v, "read") {
                println!("\t{p}");
            }
            println!("KV Write:");
            for p in perm_list(&v, "write") {
                println!("\t{p}");
            }
            Ok(())
        }
        "grant" | "revoke" => grant_revoke(ctx, verb == "grant").await,
        _ => Ok(()),
    }
}

async fn grant_revoke(ctx: &mut Ctx, grant: bool) -> Result<(), Exit> {
    let path = ctx.flags.string("path");
    if path.is_empty() {
        return Err(fail("No path specified; please use `--path`"));
    }
    let canonical = canonical_path(&path);
    if canonical != path {
        return Err(fail(format!(
            "Not canonical path; please use `--path={canonical}`"
        )));
    }
    let (read, write, rw) = (
        ctx.flags.bool("read"),
        ctx.flags.bool("write"),
        ctx.flags.bool("readwrite"),
    );
    if [read, write, rw].iter().filter(|b| **b).count() != 1 {
        return Err(fail(
            "Please specify exactly one of --read, --write or --readwrite",
        ));
    }
    let role = name_arg(ctx)?;
    let mut c = ctx.auth_client().await?;
    let current = get_role(ctx, &mut c, &role).await.map_err(fail)?;
    let p = go_string(&path);
    let kv = match (read, write) {
        (true, _) => format!("{{\"read\":[{p}],\"write\":null}}"),
        (_, true) => format!("{{\"read\":null,\"write\":[{p}]}}"),
        _ => format!("{{\"read\":[{p}],\"write\":[{p}]}}"),
    };
    let field = if grant { "grant" } else { "revoke" };
    let body = format!(
        "{{\"role\":{},\"permissions\":{{\"kv\":{{\"read\":null,\"write\":null}}}},\"{field}\":{{\"kv\":{kv}}}}}",
        go_string(&role)
    );
    let updated = auth_call(ctx, &mut c, "PUT", role_path(&role), Some(body), &[200])
        .await
        .map_err(fail)?;
    if comparable(&updated) == comparable(&current) {
        print!(
            "Role unchanged; already {}",
            if grant { "granted" } else { "revoked" }
        );
    }
    println!("Role {role} updated");
    Ok(())
}
