//! `auth enable|disable` over `/v2/auth/enable`, plus the request helper
//! shared by the user and role commands (auth API errors carry a
//! `message`).

use serde_json::Value;

use super::cli::Command;
use super::client::{Client, Request};
use super::context::{call, fail, Ctx, Exit};

pub const COMMAND: Command = Command::group(
    "auth",
    "overall auth controls",
    &[
        Command::leaf("enable", "enable auth access controls", " ", &[]),
        Command::leaf("disable", "disable auth access controls", " ", &[]),
    ],
);

/// Sends an auth API request; statuses outside `ok` become the server's
/// message (or the JSON decoding error, as Go's client reports it).
pub async fn auth_call(
    ctx: &Ctx,
    c: &mut Client,
    method: &'static str,
    path: String,
    body: Option<String>,
    ok: &[u16],
) -> Result<Value, String> {
    let mut req = Request::new(method, path);
    if let Some(b) = body {
        req = req.with_body(b, "application/json");
    }
    let a = call(ctx, c, req).await.map_err(|e| e.to_string())?;
    let parsed = serde_json::from_slice::<Value>(&a.body);
    if !ok.contains(&a.status) {
        let v = parsed.map_err(|e| json_error(&e))?;
        return Err(v
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string());
    }
    Ok(parsed.unwrap_or(Value::Null))
}

/// `user list` and `role list`: the names under `/v2/auth/<collection>`,
/// one per line (an entry is a name, or an object whose `field` is one).
pub async fn list_names(ctx: &mut Ctx, collection: &str, field: &str) -> Result<(), Exit> {
    if !ctx.args().is_empty() {
        return Err(fail("No arguments accepted"));
    }
    let mut c = ctx.auth_client().await?;
    let path = format!("/v2/auth/{collection}");
    let v = auth_call(ctx, &mut c, "GET", path, None, &[200])
        .await
        .map_err(fail)?;
    for entry in v
        .get(collection)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = entry
            .as_str()
            .or_else(|| entry.get(field).and_then(Value::as_str));
        println!("{}", name.unwrap_or(""));
    }
    Ok(())
}

/// A JSON decoding error in the words of Go's `encoding/json`.
fn json_error(e: &serde_json::Error) -> String {
    if e.is_eof() {
        "unexpected end of JSON input".into()
    } else {
        e.to_string()
    }
}

pub async fn enable(ctx: &mut Ctx, on: bool) -> Result<(), Exit> {
    if !ctx.args().is_empty() {
        return Err(fail("No arguments accepted"));
    }
    let mut c = ctx.auth_client().await?;
    let method = if on { "PUT" } else { "DELETE" };
    auth_call(
        ctx,
        &mut c,
        method,
        "/v2/auth/enable".into(),
        None,
        &[200, 201],
    )
    .await
    .map_err(fail)?;
    println!("Authentication {}", if on { "Enabled" } else { "Disabled" });
    Ok(())
}
