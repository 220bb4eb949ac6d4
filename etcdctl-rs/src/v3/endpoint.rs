//! `etcdctl endpoint health|status|hashkv` (each endpoint is queried on
//! its own; `--cluster` takes the endpoints from the member list).

use std::time::Instant;

use etcd_proto::etcdserverpb::{HashKvRequest, RangeRequest, StatusRequest};

use super::client::{kv_stub, maintenance_stub, Client, ConnConfig};
use super::error::{CtlError, CtlResult, EXIT_ERROR};
use super::global::Setup;
use super::member::member_list;
use super::printer::{EpHashKv, EpHealth, EpStatus};
use super::util::print;
use super::{auth, global, gofmt, Invocation};

/// etcdctl's `endpointsFromCluster`.
pub fn endpoints(inv: &Invocation, setup: &Setup) -> CtlResult<Vec<String>> {
    if !setup.flags.get_bool("cluster") {
        return Ok(setup.endpoints.clone());
    }
    let mut client = Client::new(setup.conn.clone());
    let members = inv.block_on(member_list(&mut client))?.map_err(|e| {
        CtlError::new(
            EXIT_ERROR,
            format!(
                "failed to fetch endpoints from etcd cluster member list: {}",
                e.message()
            ),
        )
    })?;
    Ok(members
        .members
        .into_iter()
        .flat_map(|m| m.client_ur_ls)
        .collect())
}

/// Checks one endpoint with its own client; like clientv3's dial, that
/// client first authenticates (when credentials were given), and a failed
/// authentication makes the endpoint unhealthy.
async fn check_health(
    conn: ConnConfig,
    ep: String,
    credentials: Option<(String, String)>,
) -> EpHealth {
    let mut cfg = conn;
    cfg.endpoints = vec![super::client::strip_scheme(&ep).to_string()];
    if let Some((name, password)) = &credentials {
        match auth::token(&cfg, name, password).await {
            Ok(token) => cfg.token = token,
            Err(e) => {
                return EpHealth {
                    ep,
                    health: false,
                    took: String::new(),
                    error: e.message().to_string(),
                }
            }
        }
    }
    let mut client = Client::new(cfg);
    let start = Instant::now();
    let result = client
        .call(
            kv_stub,
            true,
            &RangeRequest {
                key: b"health".to_vec(),
                ..Default::default()
            },
            |mut c, r| async move { c.range(r).await },
        )
        .await;
    let took = gofmt::format_duration(start.elapsed().as_nanos() as i64);
    match result {
        Ok(_) => EpHealth {
            ep,
            health: true,
            took,
            error: String::new(),
        },
        // Permission denied still means the request went through consensus.
        Err(e) if e.message() == "etcdserver: permission denied" => EpHealth {
            ep,
            health: true,
            took,
            error: String::new(),
        },
        Err(e) => EpHealth {
            ep,
            health: false,
            took,
            error: e.message(),
        },
    }
}

pub fn health(inv: &Invocation) -> CtlResult {
    let flags = global::apply_env(inv)?;
    let printer = global::display(&flags)?;
    let credentials = auth::credentials(&flags)?;
    let setup = Setup {
        endpoints: flags.get_slice("endpoints"),
        conn: global::conn_config(&flags)?,
        printer,
        hex: flags.get_bool("hex"),
        flags,
    };
    let eps = endpoints(inv, &setup)?;
    let results = inv.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for ep in eps {
            let tx = tx.clone();
            let conn = setup.conn.clone();
            let credentials = credentials.clone();
            tokio::spawn(async move {
                let _ = tx.send(check_health(conn, ep, credentials).await);
            });
        }
        drop(tx);
        let mut list = Vec::new();
        while let Some(h) = rx.recv().await {
            list.push(h);
        }
        list
    })?;
    print(|o| setup.printer.endpoint_health(o, &results))?;
    if results.iter().any(|h| !h.error.is_empty()) {
        return Err(CtlError::new(EXIT_ERROR, "unhealthy cluster"));
    }
    Ok(())
}

pub fn status(inv: &Invocation) -> CtlResult {
    let setup = global::setup(inv)?;
    let mut list = Vec::new();
    let mut failed = false;
    for ep in endpoints(inv, &setup)? {
        let mut client = Client::for_endpoint(&setup.conn, &ep);
        let result = inv.block_on(client.call(
            maintenance_stub,
            true,
            &StatusRequest {},
            |mut c, r| async move { c.status(r).await },
        ))?;
        match result {
            Ok(resp) => list.push(EpStatus { ep, resp }),
            Err(e) => {
                failed = true;
                eprintln!(
                    "Failed to get the status of endpoint {ep} ({})",
                    e.message()
                );
            }
        }
    }
    print(|o| setup.printer.endpoint_status(o, &list))?;
    if failed {
        return Err(CtlError::silent(EXIT_ERROR));
    }
    Ok(())
}

pub fn hashkv(inv: &Invocation) -> CtlResult {
    let setup = global::setup(inv)?;
    let revision = inv.flags.get_i64("rev");
    let mut list = Vec::new();
    let mut last_err = None;
    for ep in endpoints(inv, &setup)? {
        let mut client = Client::for_endpoint(&setup.conn, &ep);
        let result = inv.block_on(client.call(
            maintenance_stub,
            true,
            &HashKvRequest { revision },
            |mut c, r| async move { c.hash_kv(r).await },
        ))?;
        match result {
            Ok(resp) => list.push(EpHashKv { ep, resp }),
            Err(e) => {
                eprintln!("Failed to get the hash of endpoint {ep} ({})", e.message());
                last_err = Some(e.message());
            }
        }
    }
    print(|o| setup.printer.endpoint_hashkv(o, &list))?;
    match last_err {
        Some(msg) => Err(CtlError::new(EXIT_ERROR, msg)),
        None => Ok(()),
    }
}
