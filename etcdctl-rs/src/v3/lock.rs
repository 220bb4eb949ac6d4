//! `etcdctl lock <lockname> [exec-command arg1 arg2 ...]`: acquires the named
//! lock with the mutex recipe of [`super::concurrency`] (interoperating with
//! the Go etcdctl's locks on the same etcd). Without a command it prints the
//! lock key and holds the lock until SIGINT/SIGTERM (then unlocks) or until
//! the session's lease is lost; with a command it runs it while holding the
//! lock, with `ETCD_LOCK_KEY` and `ETCD_LOCK_REV` in its environment.

use std::process::{Command, Stdio};

use super::client::{Client, ConnConfig};
use super::concurrency::{self, Session, CONTEXT_CANCELED};
use super::error::{CtlError, CtlResult, EXIT_BAD_ARGS, EXIT_ERROR};
use super::printer::Printer;
use super::util::{exec_error, print, Signals};
use super::{global, Invocation};

pub fn run(inv: &Invocation) -> CtlResult {
    let Some((name, cmd)) = inv.args().split_first() else {
        return Err(CtlError::new(
            EXIT_BAD_ARGS,
            "lock takes a lock name argument and an optional command to execute",
        ));
    };
    let setup = global::setup(inv)?;
    let ttl = inv.flags.get_i64("ttl");
    inv.block_on(lock_until_signal(
        &setup.conn,
        setup.printer.as_ref(),
        ttl,
        name,
        cmd,
    ))?
}

fn fail(msg: impl Into<Vec<u8>>) -> CtlError {
    CtlError::new(EXIT_ERROR, msg)
}

/// Runs `cmd` with the lock's environment (existing variables win, as in
/// Go where they come later in the environment list).
async fn exec(cmd: &[Vec<u8>], key: &[u8], rev: i64) -> Option<String> {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let cmd = cmd.to_vec();
    let key = key.to_vec();
    let result = tokio::task::spawn_blocking(move || {
        let mut c = Command::new(OsStr::from_bytes(&cmd[0]));
        c.args(cmd[1..].iter().map(|a| OsStr::from_bytes(a)))
            .stdin(Stdio::null());
        if std::env::var_os("ETCD_LOCK_KEY").is_none() {
            c.env("ETCD_LOCK_KEY", OsStr::from_bytes(&key));
        }
        if std::env::var_os("ETCD_LOCK_REV").is_none() {
            c.env("ETCD_LOCK_REV", rev.to_string());
        }
        exec_error(&String::from_utf8_lossy(&cmd[0]), c.status())
    })
    .await;
    result.unwrap_or_else(|e| Some(e.to_string()))
}

async fn lock_until_signal(
    conn: &ConnConfig,
    printer: &dyn Printer,
    ttl: i64,
    name: &[u8],
    cmd: &[Vec<u8>],
) -> CtlResult {
    let session = Session::new(conn, ttl)
        .await
        .map_err(|e| fail(e.message()))?;
    let mut signals = Signals::catch()?;
    let pfx = [name, b"/"].concat();
    let mut client = Client::new(conn.clone());
    let locked = tokio::select! {
        r = concurrency::lock(&mut client, conn, &session, &pfx) => r.map_err(fail)?,
        _ = signals.recv() => {
            let mut cleanup = Client::new(conn.clone());
            let _ = concurrency::delete(&mut cleanup, &concurrency::owned_key(&pfx, &session)).await;
            return Err(fail(CONTEXT_CANCELED));
        }
    };
    if !cmd.is_empty() {
        let err = exec(cmd, &locked.key, locked.header.revision).await;
        let unlocked = concurrency::delete(&mut client, &locked.key).await;
        if let Some(e) = err {
            return Err(fail(e));
        }
        return unlocked.map(|_| ()).map_err(|e| fail(e.message()));
    }
    let get = tokio::select! {
        r = concurrency::range(&mut client, etcd_proto::etcdserverpb::RangeRequest {
            key: locked.key.clone(),
            ..Default::default()
        }) => r.map_err(|e| fail(e.message()))?,
        _ = signals.recv() => return Err(fail(CONTEXT_CANCELED)),
    };
    if get.kvs.is_empty() {
        return Err(fail("lock lost on init"));
    }
    print(|o| printer.get(o, &get))?;
    tokio::select! {
        _ = signals.recv() => {
            concurrency::delete(&mut client, &locked.key)
                .await
                .map(|_| ())
                .map_err(|e| fail(e.message()))
        }
        _ = session.done() => Err(fail("session expired")),
    }
}
