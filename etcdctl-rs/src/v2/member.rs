//! `member list|add|remove|update` over `/v2/members`, with the member
//! API's error handling (`unexpected status code N`, server messages).

use serde_json::Value;

use super::cli::{go_quote, Command};
use super::client::{Client, Request};
use super::context::{call, fail, Ctx, Exit};
use super::keys::ApiError;
use crate::v3::urls::new_urls;

pub const COMMAND: Command = Command::group(
    "member",
    "member add, remove and list subcommands",
    &[
        Command::leaf("list", "enumerate existing cluster members", " ", &[]),
        Command::leaf(
            "add",
            "add a new member to the etcd cluster",
            "<name> <peerURL>",
            &[],
        ),
        Command::leaf(
            "remove",
            "remove an existing member from the etcd cluster",
            "<memberID>",
            &[],
        ),
        Command::leaf(
            "update",
            "update an existing member in the etcd cluster",
            "<memberID> <peerURLs>",
            &[],
        ),
    ],
);

/// One member as `/v2/members` describes it.
pub struct Member {
    pub id: String,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
}

impl Member {
    fn from_json(v: &Value) -> Member {
        let list = |name: &str| -> Vec<String> {
            v.get(name)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let text = |name: &str| {
            v.get(name)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        Member {
            id: text("id"),
            name: text("name"),
            peer_urls: list("peerURLs"),
            client_urls: list("clientURLs"),
        }
    }
}

fn unexpected(status: u16) -> ApiError {
    ApiError::Other(format!("unexpected status code {status}"))
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::Other(e.to_string()))
}

/// `GET /v2/members` (the list used by sync and the verbs).
pub async fn fetch_members(c: &mut Client) -> Result<Vec<Member>, ApiError> {
    let a = c
        .call(&Request::new("GET", "/v2/members".into()))
        .await
        .map_err(ApiError::Client)?;
    if a.status != 200 {
        return Err(unexpected(a.status));
    }
    let v = parse_json(&a.body)?;
    Ok(v.get("members")
        .and_then(Value::as_array)
        .map(|l| l.iter().map(Member::from_json).collect())
        .unwrap_or_default())
}

async fn fetch_leader(ctx: &Ctx, c: &mut Client) -> Result<Member, ApiError> {
    let a = call(ctx, c, Request::new("GET", "/v2/members/leader".into()))
        .await
        .map_err(ApiError::Client)?;
    if a.status != 200 {
        return Err(unexpected(a.status));
    }
    Ok(Member::from_json(&parse_json(&a.body)?))
}

async fn list_members(ctx: &Ctx, c: &mut Client) -> Result<Vec<Member>, ApiError> {
    ctx.start_deadline(c);
    fetch_members(c).await
}

pub async fn list(ctx: &mut Ctx) -> Result<(), Exit> {
    if !ctx.args().is_empty() {
        return Err(fail("No arguments accepted"));
    }
    let mut c = ctx.client().await?;
    let members = list_members(ctx, &mut c).await.map_err(fail)?;
    let leader = fetch_leader(ctx, &mut c)
        .await
        .map_err(|e| fail(format!("Failed to get leader:  {e}")))?;
    for m in members {
        if m.name.is_empty() {
            println!("{}[unstarted]: peerURLs={}", m.id, m.peer_urls.join(","));
        } else {
            println!(
                "{}: name={} peerURLs={} clientURLs={} isLeader={}",
                m.id,
                m.name,
                m.peer_urls.join(","),
                m.client_urls.join(","),
                m.id == leader.id
            );
        }
    }
    Ok(())
}

fn peer_body(urls: &[String]) -> String {
    let list: Vec<String> = urls.iter().map(|u| super::printer::go_string(u)).collect();
    format!("{{\"peerURLs\":[{}]}}", list.join(","))
}

fn members_error(body: &[u8]) -> String {
    match parse_json(body) {
        Ok(v) => v
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        Err(e) => e.to_string(),
    }
}

pub async fn add(ctx: &mut Ctx) -> Result<(), Exit> {
    let args = ctx.args().to_vec();
    if args.len() != 2 {
        return Err(fail("Provide a name and a single member peerURL"));
    }
    let mut c = ctx.client().await?;
    let urls = new_urls(&args[1..]).map_err(fail)?;
    let req =
        Request::new("POST", "/v2/members".into()).with_body(peer_body(&urls), "application/json");
    let a = call(ctx, &mut c, req).await.map_err(fail)?;
    if a.status != 201 && a.status != 409 {
        return Err(fail(unexpected(a.status)));
    }
    if a.status != 201 {
        return Err(fail(members_error(&a.body)));
    }
    let added = Member::from_json(&parse_json(&a.body).map_err(fail)?);
    let name = &args[0];
    println!("Added member named {name} with ID {} to cluster", added.id);
    let members = fetch_members(&mut c).await.map_err(fail)?;
    let mut conf = Vec::new();
    for m in &members {
        for u in &m.peer_urls {
            let n = if m.id == added.id { name } else { &m.name };
            conf.push(format!("{n}={u}"));
        }
    }
    println!();
    println!("ETCD_NAME={}", go_quote(name));
    println!("ETCD_INITIAL_CLUSTER={}", go_quote(&conf.join(",")));
    println!("ETCD_INITIAL_CLUSTER_STATE=\"existing\"");
    Ok(())
}

pub async fn remove(ctx: &mut Ctx) -> Result<(), Exit> {
    let args = ctx.args().to_vec();
    if args.len() != 1 {
        return Err(fail("Provide a single member ID"));
    }
    let id = &args[0];
    let mut c = ctx.client().await?;
    let members = list_members(ctx, &mut c).await.map_err(|e| {
        fail(format!(
            "Error while verifying ID against known members: {e}"
        ))
    })?;
    let mut notes = String::new();
    let mut found = false;
    for m in &members {
        if &m.id == id {
            found = true;
        }
        if &m.name == id {
            notes.push_str(&format!("Found a member named {}; if this is correct, please use its ID, eg:\n\tetcdctl member remove {}\n", m.name, m.id));
            notes.push_str("For more details, read the documentation at https://github.com/etcd-io/etcd/blob/master/Documentation/runtime-configuration.md#remove-a-member\n\n");
        }
    }
    if !found {
        notes.push_str(&format!(
            "Couldn't find a member in the cluster with an ID of {id}.\n"
        ));
        return Err(Exit::new(1, notes));
    }
    eprint!("{notes}");
    let a = call(
        ctx,
        &mut c,
        Request::new("DELETE", format!("/v2/members/{id}")),
    )
    .await
    .map_err(|e| {
        Exit::new(
            1,
            format!("Received an error trying to remove member {id}: {e}"),
        )
    })?;
    if a.status != 204 && a.status != 410 {
        return Err(Exit::new(
            1,
            format!(
                "Received an error trying to remove member {id}: {}",
                unexpected(a.status)
            ),
        ));
    }
    println!("Removed member {id} from cluster");
    Ok(())
}

pub async fn update(ctx: &mut Ctx) -> Result<(), Exit> {
    let args = ctx.args().to_vec();
    if args.len() != 2 {
        return Err(fail("Provide an ID and a list of comma separated peerURL (0xabcd http://example.com,http://example1.com)"));
    }
    let mut c = ctx.client().await?;
    let list: Vec<String> = args[1].split(',').map(str::to_string).collect();
    let urls = new_urls(&list).map_err(fail)?;
    let req = Request::new("PUT", format!("/v2/members/{}", args[0]))
        .with_body(peer_body(&urls), "application/json");
    let a = call(ctx, &mut c, req).await.map_err(fail)?;
    if ![204, 404, 409].contains(&a.status) {
        return Err(fail(unexpected(a.status)));
    }
    if a.status != 204 {
        return Err(fail(members_error(&a.body)));
    }
    println!("Updated member with ID {} in cluster", args[0]);
    Ok(())
}
