//! `etcdctl lease grant|revoke|timetolive|list|keep-alive`.

use std::time::Duration;

use etcd_proto::etcdserverpb::lease_client::LeaseClient;
use etcd_proto::etcdserverpb::{
    LeaseGrantRequest, LeaseKeepAliveRequest, LeaseKeepAliveResponse, LeaseLeasesRequest,
    LeaseRevokeRequest, LeaseTimeToLiveRequest,
};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

use super::client::{lease_stub, Client, RpcError};
use super::error::{CtlError, CtlResult, EXIT_BAD_ARGS, EXIT_BAD_CONNECTION, EXIT_ERROR};
use super::printer::{Out, Printer};
use super::util::{print, rpc_failure};
use super::{global, gofmt, Invocation};

/// etcdctl's `leaseFromArgs`: a lease ID in hex.
fn lease_id(arg: &[u8]) -> CtlResult<i64> {
    gofmt::parse_int_bytes(arg, 16).map_err(|e| {
        CtlError::new(
            EXIT_BAD_ARGS,
            format!("bad lease ID arg ({e}), expecting ID in Hex"),
        )
    })
}

fn one_arg<'a>(inv: &'a Invocation, msg: &str) -> CtlResult<&'a [u8]> {
    match inv.args() {
        [a] => Ok(a),
        _ => Err(CtlError::new(EXIT_BAD_ARGS, msg)),
    }
}

pub fn grant(inv: &Invocation) -> CtlResult {
    let arg = one_arg(inv, "lease grant command needs TTL argument")?;
    let ttl = gofmt::parse_int_bytes(arg, 10)
        .map_err(|e| CtlError::new(EXIT_BAD_ARGS, format!("bad TTL ({e})")))?;
    let setup = global::setup(inv)?;
    let mut client = Client::new(setup.conn);
    let resp = inv
        .block_on(client.call(
            lease_stub,
            false,
            &LeaseGrantRequest { ttl, id: 0 },
            |mut c, r| async move { c.lease_grant(r).await },
        ))?
        .map_err(|e| {
            CtlError::new(
                EXIT_ERROR,
                format!("failed to grant lease ({})", e.message()),
            )
        })?;
    print(|o| setup.printer.grant(o, &resp))
}

pub fn revoke(inv: &Invocation) -> CtlResult {
    let id = lease_id(one_arg(inv, "lease revoke command needs 1 argument")?)?;
    let setup = global::setup(inv)?;
    let mut client = Client::new(setup.conn);
    let resp = inv
        .block_on(client.call(
            lease_stub,
            false,
            &LeaseRevokeRequest { id },
            |mut c, r| async move { c.lease_revoke(r).await },
        ))?
        .map_err(|e| {
            CtlError::new(
                EXIT_ERROR,
                format!("failed to revoke lease ({})", e.message()),
            )
        })?;
    print(|o| setup.printer.revoke(o, id, &resp))
}

pub fn time_to_live(inv: &Invocation) -> CtlResult {
    let arg = one_arg(inv, "lease timetolive command needs lease ID as argument")?;
    let keys = inv.flags.get_bool("keys");
    let setup = global::setup(inv)?;
    let id = lease_id(arg)?;
    let mut client = Client::new(setup.conn);
    let resp = inv
        .block_on(client.call(
            lease_stub,
            true,
            &LeaseTimeToLiveRequest { id, keys },
            |mut c, r| async move { c.lease_time_to_live(r).await },
        ))?
        .map_err(rpc_failure(EXIT_BAD_CONNECTION))?;
    print(|o| setup.printer.time_to_live(o, &resp, keys))
}

pub fn list(inv: &Invocation) -> CtlResult {
    let setup = global::setup(inv)?;
    let mut client = Client::new(setup.conn);
    let resp = inv
        .block_on(client.call(
            lease_stub,
            true,
            &LeaseLeasesRequest {},
            |mut c, r| async move { c.lease_leases(r).await },
        ))?
        .map_err(rpc_failure(EXIT_BAD_CONNECTION))?;
    print(|o| setup.printer.leases(o, &resp))
}

/// One keep-alive round trip on a fresh stream.
pub(super) async fn keep_alive_once(
    client: &mut Client,
    id: i64,
) -> Result<LeaseKeepAliveResponse, RpcError> {
    let deadline = Instant::now() + client.command_timeout();
    let ch = client.channel(deadline).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let _ = tx.send(LeaseKeepAliveRequest { id }).await;
    let call = async move {
        let mut stream = LeaseClient::new(ch)
            .max_decoding_message_size(super::client::MAX_RECV_MSG_SIZE)
            .lease_keep_alive(ReceiverStream::new(rx))
            .await?
            .into_inner();
        let resp = stream.message().await?;
        drop(tx);
        Ok::<_, tonic::Status>(resp)
    };
    match tokio::time::timeout_at(deadline, call).await {
        Err(_) => Err(RpcError::Deadline),
        Ok(Err(status)) => Err(RpcError::Status(status)),
        Ok(Ok(Some(resp))) => Ok(resp),
        Ok(Ok(None)) => Err(RpcError::Status(tonic::Status::unavailable(
            "keep-alive stream closed",
        ))),
    }
}

/// Renews the lease until it expires or is revoked, printing every renewal.
async fn keep_alive_loop(client: &mut Client, printer: &dyn Printer, id: i64) -> CtlResult {
    // The lease is considered gone once no renewal succeeded for its TTL.
    let mut expires: Option<Instant> = None;
    loop {
        match keep_alive_once(client, id).await {
            Ok(resp) if resp.ttl <= 0 => return Ok(()),
            Ok(resp) => {
                let mut o = Out::new();
                let printed = printer.keep_alive(&mut o, &resp);
                o.flush();
                printed?;
                let ttl = Duration::from_secs(resp.ttl as u64);
                expires = Some(Instant::now() + ttl);
                tokio::time::sleep((ttl / 3).max(Duration::from_millis(500))).await;
            }
            Err(_) => {
                client.reset();
                if expires.is_some_and(|e| Instant::now() >= e) || expires.is_none() {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

pub fn keep_alive(inv: &Invocation) -> CtlResult {
    let arg = one_arg(inv, "lease keep-alive command needs lease ID as argument")?;
    let id = lease_id(arg)?;
    let setup = global::setup(inv)?;
    let mut client = Client::new(setup.conn);
    if inv.flags.get_bool("once") {
        let resp = inv
            .block_on(keep_alive_once(&mut client, id))?
            .map_err(rpc_failure(EXIT_BAD_CONNECTION))?;
        if resp.ttl <= 0 {
            return Err(CtlError::new(
                EXIT_BAD_CONNECTION,
                "etcdserver: requested lease not found",
            ));
        }
        return print(|o| setup.printer.keep_alive(o, &resp));
    }
    inv.block_on(keep_alive_loop(&mut client, setup.printer.as_ref(), id))??;
    if setup.printer.is_simple() {
        println!("lease {id:016x} expired or revoked.");
    }
    Ok(())
}
