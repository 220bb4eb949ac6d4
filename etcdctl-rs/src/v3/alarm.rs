//! `etcdctl alarm list|disarm`.

use etcd_proto::etcdserverpb::alarm_request::AlarmAction;
use etcd_proto::etcdserverpb::{AlarmRequest, AlarmResponse};

use super::client::{maintenance_stub, Client, RpcError};
use super::error::{CtlError, CtlResult, EXIT_BAD_ARGS, EXIT_ERROR};
use super::util::{print, rpc_failure};
use super::{global, Invocation};

async fn alarm(client: &mut Client, req: AlarmRequest) -> Result<AlarmResponse, RpcError> {
    client
        .call(maintenance_stub, false, &req, |mut c, r| async move {
            c.alarm(r).await
        })
        .await
}

fn no_args(inv: &Invocation, cmd: &str) -> CtlResult {
    if inv.args().is_empty() {
        Ok(())
    } else {
        Err(CtlError::new(
            EXIT_BAD_ARGS,
            format!("alarm {cmd} command accepts no arguments"),
        ))
    }
}

pub fn list(inv: &Invocation) -> CtlResult {
    no_args(inv, "list")?;
    let setup = global::setup(inv)?;
    let mut client = Client::new(setup.conn);
    let req = AlarmRequest {
        action: AlarmAction::Get as i32,
        member_id: 0,
        alarm: 0,
    };
    let resp = inv
        .block_on(alarm(&mut client, req))?
        .map_err(rpc_failure(EXIT_ERROR))?;
    print(|o| setup.printer.alarm(o, &resp))
}

/// clientv3's `AlarmDisarm` with an empty member: lists the alarms and
/// deactivates each one, collecting what the server reports.
async fn disarm_all(client: &mut Client) -> Result<AlarmResponse, RpcError> {
    let listed = alarm(
        client,
        AlarmRequest {
            action: AlarmAction::Get as i32,
            member_id: 0,
            alarm: 0,
        },
    )
    .await?;
    let mut ret = AlarmResponse::default();
    for a in listed.alarms {
        let resp = alarm(
            client,
            AlarmRequest {
                action: AlarmAction::Deactivate as i32,
                member_id: a.member_id,
                alarm: a.alarm,
            },
        )
        .await?;
        ret.alarms.extend(resp.alarms);
    }
    Ok(ret)
}

pub fn disarm(inv: &Invocation) -> CtlResult {
    no_args(inv, "disarm")?;
    let setup = global::setup(inv)?;
    let mut client = Client::new(setup.conn);
    let resp = inv
        .block_on(disarm_all(&mut client))?
        .map_err(rpc_failure(EXIT_ERROR))?;
    print(|o| setup.printer.alarm(o, &resp))
}
