//! `etcdctl check datascale`: how much memory the server needs to hold a
//! workload. It reads the first endpoint's resident memory from its
//! Prometheus `/metrics` page (`process_resident_memory_bytes`), writes the
//! load's number of keys (512-byte keys, 512-byte values, under `--prefix`)
//! as fast as the load's clients can, reads the memory again, deletes the
//! keys (then optionally compacts and defragments) and prints the growth in
//! MB. A server without `/metrics` (etcd-rs serves none) makes the check
//! fail the way etcdctl's does: the fetch problem, then a FAIL line, exit 1.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use etcd_proto::etcdserverpb::PutRequest;
use tokio::sync::{mpsc, Mutex};
use tokio::time::Instant;

use super::check::{
    canonical_load, compact_and_defrag, delete_prefix, ensure_prefix_empty, put_varint, Bar,
    CheckRun, Finish,
};
use super::client::{kv_stub, Client, ConnConfig};
use super::concurrency::{no_deadline, AbortOnDrop};
use super::error::{CtlError, CtlResult, EXIT_ERROR};
use super::metrics::resident_memory;
use super::Invocation;

/// One workload model (`checkDatascaleCfg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Load {
    /// Number of key-value pairs written.
    limit: u64,
    /// Bytes per key-value pair (half key, half value).
    kv_size: usize,
    clients: usize,
}

/// `checkDatascaleCfgMap`.
fn load(name: &str) -> Option<Load> {
    let (limit, clients) = match canonical_load(name)? {
        "s" => (10_000, 50),
        "m" => (100_000, 200),
        "l" => (1_000_000, 500),
        _ => (3_000_000, 1000),
    };
    Some(Load {
        limit,
        kv_size: 1024,
        clients,
    })
}

/// What ends the check early, printed on stdout as etcdctl does.
fn memory_fail(when: &str) -> CtlError {
    println!("FAIL: Could not read process_resident_memory_bytes {when} the put operations.");
    let _ = std::io::stdout().flush();
    CtlError::silent(EXIT_ERROR)
}

pub fn datascale(inv: &Invocation) -> CtlResult {
    let check = CheckRun::from_flags(inv, load)?;
    let first_endpoint = check.setup.endpoints.first().cloned().unwrap_or_default();
    let result = inv.block_on(run(
        &check.setup.conn,
        check.load,
        &check.prefix,
        &first_endpoint,
        check.finish,
    ))?;
    let _ = std::io::stdout().flush();
    result
}

async fn run(
    conn: &ConnConfig,
    cfg: Load,
    prefix: &[u8],
    metrics_host: &str,
    finish: Finish,
) -> CtlResult {
    let mut first = Client::new(conn.clone());
    ensure_prefix_empty(&mut first, no_deadline(), prefix).await?;

    let before = resident_memory(metrics_host).await;
    if before == 0.0 {
        return Err(memory_fail("before"));
    }
    println!(
        "Start data scale check for work load [{} key-value pairs, {} bytes per key-value, {} concurrent clients].",
        cfg.limit, cfg.kv_size, cfg.clients
    );

    let done = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let bar = tokio::spawn(progress(cfg.limit, Arc::clone(&done), stop_rx));
    let errors = write_all(conn, cfg, prefix, &done).await;
    let _ = stop_tx.send(());
    let _ = bar.await;

    let after = resident_memory(metrics_host).await;
    if after == 0.0 {
        return Err(memory_fail("after"));
    }

    let rev = delete_prefix(&mut first, no_deadline(), prefix).await?;
    compact_and_defrag(&mut first, conn, rev, &finish).await?;

    if !errors.is_empty() {
        println!("FAIL: too many errors");
        for (e, n) in &errors {
            println!("FAIL: ERROR({e}) -> {n}");
        }
        return Err(CtlError::silent(EXIT_ERROR));
    }
    let mb_used = (after - before) / (1024.0 * 1024.0);
    println!("PASS: Approximate system memory used : {mb_used:.2} MB.");
    Ok(())
}

/// Writes the load's keys through `cfg.clients` clients, counting each
/// finished write in `done`; returns the error counts (text -> count, in
/// order of first occurrence).
async fn write_all(
    conn: &ConnConfig,
    cfg: Load,
    prefix: &[u8],
    done: &Arc<AtomicU64>,
) -> Vec<(String, u64)> {
    let (req_tx, req_rx) = mpsc::channel::<PutRequest>(cfg.clients);
    let req_rx = Arc::new(Mutex::new(req_rx));
    let (res_tx, mut res_rx) = mpsc::unbounded_channel::<Option<String>>();
    let mut workers = Vec::with_capacity(cfg.clients);
    for _ in 0..cfg.clients {
        let mut client = Client::new(conn.clone());
        let rx = Arc::clone(&req_rx);
        let tx = res_tx.clone();
        let done = Arc::clone(done);
        workers.push(AbortOnDrop(tokio::spawn(async move {
            loop {
                let next = rx.lock().await.recv().await;
                let Some(req) = next else { return };
                let r = client
                    .call_until(kv_stub, no_deadline(), false, &req, |mut c, r| async move {
                        c.put(r).await
                    })
                    .await;
                let _ = tx.send(r.err().map(|e| e.message()));
                done.fetch_add(1, Ordering::SeqCst);
            }
        })));
    }
    drop(res_tx);
    let half = cfg.kv_size / 2;
    let prefix_bytes = prefix.to_vec();
    let _generator = AbortOnDrop(tokio::spawn(async move {
        let mut key = vec![0u8; half];
        let mut seed = Instant::now().elapsed().as_nanos() as u64 ^ 0x2545_f491_4f6c_dd1d;
        for _ in 0..cfg.limit {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            put_varint(&mut key, (seed >> 1) as i64);
            let mut k = prefix_bytes.clone();
            k.extend_from_slice(&key);
            let req = PutRequest {
                key: k,
                value: vec![0u8; half],
                ..Default::default()
            };
            if req_tx.send(req).await.is_err() {
                return;
            }
        }
    }));
    let mut errors: Vec<(String, u64)> = Vec::new();
    while let Some(r) = res_rx.recv().await {
        if let Some(e) = r {
            match errors.iter_mut().find(|(k, _)| *k == e) {
                Some((_, n)) => *n += 1,
                None => errors.push((e, 1)),
            }
        }
    }
    errors
}

/// pb.v1's bar over the number of finished writes, redrawn every 200ms
/// until `stop`, then drawn once more as finished.
async fn progress(total: u64, done: Arc<AtomicU64>, mut stop: tokio::sync::oneshot::Receiver<()>) {
    let mut bar = Bar::new(total);
    loop {
        let current = done.load(Ordering::SeqCst);
        if current != bar.current {
            bar.current = current;
            bar.change = Instant::now();
        }
        bar.draw(false);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = &mut stop => break,
        }
    }
    bar.current = done.load(Ordering::SeqCst);
    bar.draw(true);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_like_etcdctl() {
        assert_eq!(load("small"), load("s"));
        assert_eq!(
            load("m"),
            Some(Load {
                limit: 100_000,
                kv_size: 1024,
                clients: 200
            })
        );
        assert_eq!(load("xLarge").map(|l| l.limit), Some(3_000_000));
        assert!(load("huge").is_none());
    }
}
