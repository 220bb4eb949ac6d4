//! `etcdctl elect <election-name> [proposal]`: campaigns with the election
//! recipe of [`super::concurrency`] and prints the leader key once elected,
//! holding leadership until SIGINT/SIGTERM (then resigning); with `-l`
//! (`--listen`) it observes the election instead and prints every leader
//! (and leader value) change. Interoperates with the Go etcdctl's `elect`.

use etcd_proto::etcdserverpb::RangeRequest;

use super::client::{Client, ConnConfig};
use super::concurrency::{self, Session, CONTEXT_CANCELED};
use super::error::{CtlError, CtlResult, EXIT_BAD_ARGS, EXIT_ERROR};
use super::printer::Printer;
use super::util::{print, Signals};
use super::{global, Invocation};

pub fn run(inv: &Invocation) -> CtlResult {
    let args = inv.args();
    if args.len() != 1 && args.len() != 2 {
        return Err(CtlError::new(
            EXIT_BAD_ARGS,
            "elect takes one election name argument and an optional proposal argument",
        ));
    }
    let setup = global::setup(inv)?;
    let listen = inv.flags.get_bool("listen");
    let printer = setup.printer.as_ref();
    if args.len() == 1 {
        if !listen {
            return Err(CtlError::new(
                EXIT_BAD_ARGS,
                "no proposal argument but -l not set",
            ));
        }
        return inv.block_on(observe(&setup.conn, printer, &args[0]))?;
    }
    if listen {
        return Err(CtlError::new(EXIT_BAD_ARGS, "proposal given but -l is set"));
    }
    inv.block_on(campaign(&setup.conn, printer, &args[0], &args[1]))?
}

fn fail(msg: impl Into<Vec<u8>>) -> CtlError {
    CtlError::new(EXIT_ERROR, msg)
}

async fn observe(conn: &ConnConfig, printer: &dyn Printer, election: &[u8]) -> CtlResult {
    // Like the Go command, observing also opens a session (a lease).
    let _session = Session::new(conn, 0).await.map_err(|e| fail(e.message()))?;
    let mut signals = Signals::catch()?;
    let mut client = Client::new(conn.clone());
    let pfx = [election, b"/"].concat();
    tokio::select! {
        r = concurrency::observe(&mut client, conn, &pfx, |resp| print(|o| printer.get(o, resp))) => {
            r?;
            Err(fail("elect: observer lost"))
        }
        _ = signals.recv() => Ok(()),
    }
}

async fn campaign(
    conn: &ConnConfig,
    printer: &dyn Printer,
    election: &[u8],
    proposal: &[u8],
) -> CtlResult {
    let session = Session::new(conn, 0).await.map_err(|e| fail(e.message()))?;
    let mut signals = Signals::catch()?;
    let mut client = Client::new(conn.clone());
    let pfx = [election, b"/"].concat();
    let leader = tokio::select! {
        r = concurrency::campaign(&mut client, conn, &session, &pfx, proposal) => r.map_err(fail)?,
        _ = signals.recv() => {
            let mut cleanup = Client::new(conn.clone());
            let _ = concurrency::delete(&mut cleanup, &concurrency::owned_key(&pfx, &session)).await;
            return Err(fail(CONTEXT_CANCELED));
        }
    };
    let get = tokio::select! {
        r = concurrency::range(&mut client, RangeRequest {
            key: leader.key.clone(),
            ..Default::default()
        }) => r.map_err(|e| fail(e.message()))?,
        _ = signals.recv() => return Err(fail(CONTEXT_CANCELED)),
    };
    print(|o| printer.get(o, &get))?;
    tokio::select! {
        _ = signals.recv() => {}
        _ = session.done() => return Err(fail("elect: session expired")),
    }
    concurrency::resign(&mut client, &leader)
        .await
        .map_err(fail)
}
