//! `etcdctl move-leader <transferee-member-id>`: finds the leader among the
//! given endpoints (asking each for its status in turn) and asks it to
//! transfer leadership to the given member (hexadecimal id).

use etcd_proto::etcdserverpb::{MoveLeaderRequest, StatusRequest};
use tokio::time::Instant;

use super::client::{maintenance_stub, Client};
use super::error::{CtlError, CtlResult, EXIT_BAD_ARGS, EXIT_ERROR};
use super::util::{print, rpc_failure};
use super::{global, gofmt, Invocation};

pub fn run(inv: &Invocation) -> CtlResult {
    let [arg] = inv.args() else {
        return Err(CtlError::new(
            EXIT_BAD_ARGS,
            "move-leader command needs 1 argument",
        ));
    };
    let target = gofmt::parse_uint_bytes(arg, 16).map_err(|e| CtlError::new(EXIT_BAD_ARGS, e))?;
    let setup = global::setup(inv)?;
    // One deadline for the whole command, as etcdctl's commandCtx.
    let deadline = Instant::now() + setup.conn.command_timeout;
    let mut leader = None;
    for ep in &setup.endpoints {
        let mut client = Client::for_endpoint(&setup.conn, ep);
        let status = inv
            .block_on(client.call_until(
                maintenance_stub,
                deadline,
                true,
                &StatusRequest {},
                |mut c, r| async move { c.status(r).await },
            ))?
            .map_err(rpc_failure(EXIT_ERROR))?;
        let member = status.header.map(|h| h.member_id).unwrap_or(0);
        if member == status.leader {
            leader = Some((ep.clone(), status.leader));
            break;
        }
    }
    let Some((ep, leader_id)) = leader else {
        return Err(CtlError::new(
            EXIT_BAD_ARGS,
            format!(
                "no leader endpoint given at {}",
                gofmt::go_string_slice(&setup.endpoints)
            ),
        ));
    };
    let mut cfg = setup.conn.clone();
    cfg.endpoints = vec![super::client::strip_scheme(&ep).to_string()];
    let mut client = Client::new(cfg);
    let resp = inv
        .block_on(client.call_until(
            maintenance_stub,
            deadline,
            false,
            &MoveLeaderRequest { target_id: target },
            |mut c, r| async move { c.move_leader(r).await },
        ))?
        .map_err(rpc_failure(EXIT_ERROR))?;
    print(|o| setup.printer.move_leader(o, leader_id, target, &resp))
}
