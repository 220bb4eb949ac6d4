//! `etcdctl member list|add|remove|update|promote`.

use etcd_proto::etcdserverpb::{
    MemberAddRequest, MemberListRequest, MemberListResponse, MemberPromoteRequest,
    MemberRemoveRequest, MemberUpdateRequest,
};

use super::client::{cluster_stub, Client, RpcError};
use super::error::{CtlError, CtlResult, EXIT_BAD_ARGS, EXIT_ERROR};
use super::util::{print, rpc, rpc_failure, setup_and_call};
use super::{global, gofmt, Invocation};

/// Lists the members through `client` (repeatable).
pub async fn member_list(client: &mut Client) -> Result<MemberListResponse, RpcError> {
    client
        .call(
            cluster_stub,
            true,
            &MemberListRequest {
                linearizable: false,
            },
            |mut c, r| async move { c.member_list(r).await },
        )
        .await
}

pub fn list(inv: &Invocation) -> CtlResult {
    let setup = global::setup(inv)?;
    let mut client = Client::new(setup.conn);
    let resp = inv
        .block_on(member_list(&mut client))?
        .map_err(rpc_failure(EXIT_ERROR))?;
    print(|o| setup.printer.member_list(o, &resp))
}

/// A member ID argument in hex.
fn member_id(inv: &Invocation) -> CtlResult<u64> {
    let [arg] = inv.args() else {
        return Err(CtlError::new(EXIT_BAD_ARGS, "member ID is not provided"));
    };
    gofmt::parse_uint_bytes(arg, 16).map_err(|e| {
        CtlError::new(
            EXIT_BAD_ARGS,
            format!("bad member ID arg ({e}), expecting ID in Hex"),
        )
    })
}

fn peer_urls(inv: &Invocation) -> CtlResult<Vec<String>> {
    let urls = inv.flags.get_string("peer-urls");
    if urls.is_empty() {
        return Err(CtlError::new(
            EXIT_BAD_ARGS,
            "member peer urls not provided",
        ));
    }
    Ok(urls.split(',').map(str::to_string).collect())
}

pub fn add(inv: &Invocation) -> CtlResult {
    let args = inv.str_args();
    if args.is_empty() {
        return Err(CtlError::new(EXIT_BAD_ARGS, "member name not provided"));
    }
    if args.len() > 1 {
        let mut msg = String::from("too many arguments");
        for a in args {
            if a.to_lowercase().starts_with("http") {
                msg.push_str(&format!(", did you mean --peer-urls={a}"));
            }
        }
        return Err(CtlError::new(EXIT_BAD_ARGS, msg));
    }
    let name = args[0].clone();
    let urls = peer_urls(inv)?;
    let setup = global::setup(inv)?;
    let mut client = Client::new(setup.conn);
    let req = MemberAddRequest {
        peer_ur_ls: urls,
        is_learner: inv.flags.get_bool("learner"),
    };
    // The same client lists the members after the add (as etcdctl does).
    let resp = rpc(
        inv,
        &mut client,
        cluster_stub,
        false,
        req,
        |mut c, r| async move { c.member_add(r).await },
    )?;
    print(|o| setup.printer.member_add(o, &resp))?;
    if !setup.printer.is_simple() {
        return Ok(());
    }
    let new_id = resp.member.as_ref().map(|m| m.id).unwrap_or(0);
    let list = inv
        .block_on(member_list(&mut client))?
        .map_err(rpc_failure(EXIT_ERROR))?;
    let mut conf = Vec::new();
    for m in &list.members {
        for u in &m.peer_ur_ls {
            let n = if m.id == new_id { &name } else { &m.name };
            conf.push(format!("{n}={u}"));
        }
    }
    println!();
    println!("ETCD_NAME={}", gofmt::quote(name.as_bytes()));
    println!(
        "ETCD_INITIAL_CLUSTER={}",
        gofmt::quote(conf.join(",").as_bytes())
    );
    println!(
        "ETCD_INITIAL_ADVERTISE_PEER_URLS={}",
        gofmt::quote(inv.flags.get_string("peer-urls").as_bytes())
    );
    println!("ETCD_INITIAL_CLUSTER_STATE=\"existing\"");
    Ok(())
}

pub fn remove(inv: &Invocation) -> CtlResult {
    let id = member_id(inv)?;
    let (setup, resp) = setup_and_call(
        inv,
        cluster_stub,
        false,
        MemberRemoveRequest { id },
        |mut c, r| async move { c.member_remove(r).await },
    )?;
    print(|o| setup.printer.member_remove(o, id, &resp))
}

pub fn update(inv: &Invocation) -> CtlResult {
    let id = member_id(inv)?;
    let urls = peer_urls(inv)?;
    let req = MemberUpdateRequest {
        id,
        peer_ur_ls: urls,
    };
    let (setup, resp) = setup_and_call(inv, cluster_stub, false, req, |mut c, r| async move {
        c.member_update(r).await
    })?;
    print(|o| setup.printer.member_update(o, id, &resp))
}

pub fn promote(inv: &Invocation) -> CtlResult {
    let id = member_id(inv)?;
    let (setup, resp) = setup_and_call(
        inv,
        cluster_stub,
        false,
        MemberPromoteRequest { id },
        |mut c, r| async move { c.member_promote(r).await },
    )?;
    print(|o| setup.printer.member_promote(o, id, &resp))
}
