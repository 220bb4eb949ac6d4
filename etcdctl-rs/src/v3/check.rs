//! `etcdctl check perf`: etcdctl's performance check. For the chosen load
//! (`--load s|m|l|xl`) it opens that many clients, writes 256-byte keys with
//! 1 KiB values under `--prefix` at the load's target rate for 60 seconds
//! (showing pb.v1's progress bar), deletes the keys (then optionally
//! compacts and defragments), and reports PASS/FAIL on throughput, slowest
//! request and latency deviation, exactly as etcdctl prints them.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use etcd_proto::etcdserverpb::{
    CompactionRequest, DefragmentRequest, DeleteRangeRequest, PutRequest, RangeRequest,
};
use tokio::sync::{mpsc, Mutex};
use tokio::time::Instant;

use super::client::{kv_stub, Client, ConnConfig};
use super::concurrency::{no_deadline, prefix_range, AbortOnDrop};
use super::error::{CtlError, CtlResult, EXIT_BAD_FEATURE, EXIT_ERROR, EXIT_INVALID_INPUT};
use super::{global, gofmt, Invocation};

/// One workload model (`checkPerfCfg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Load {
    /// Target writes per second.
    limit: u32,
    clients: usize,
    /// Seconds of writing.
    duration: u32,
}

/// etcdctl's load aliases (`checkPerfAlias`, `checkDatascaleAlias`).
pub(super) fn canonical_load(name: &str) -> Option<&'static str> {
    match name {
        "s" | "small" => Some("s"),
        "m" | "medium" => Some("m"),
        "l" | "large" => Some("l"),
        "xl" | "xLarge" => Some("xl"),
        _ => None,
    }
}

/// `checkPerfCfgMap`.
fn load(name: &str) -> Option<Load> {
    let (limit, clients) = match canonical_load(name)? {
        "s" => (150, 50),
        "m" => (1000, 200),
        "l" => (8000, 500),
        _ => (15000, 1000),
    };
    Some(Load {
        limit,
        clients,
        duration: 60,
    })
}

/// Latency statistics of the writes (etcd's `pkg/report`).
#[derive(Debug, Default, Clone, PartialEq)]
struct Stats {
    /// Error text -> count, in order of first occurrence.
    errors: Vec<(String, u64)>,
    rps: f64,
    slowest: f64,
    stddev: f64,
}

fn stats(lats: &[f64], errors: Vec<(String, u64)>, total: Duration) -> Stats {
    let n = lats.len() as f64;
    let avg = lats.iter().sum::<f64>() / n;
    let var = lats.iter().map(|l| (l - avg) * (l - avg)).sum::<f64>() / n;
    Stats {
        errors,
        rps: n / total.as_secs_f64(),
        slowest: lats.iter().copied().fold(0.0, f64::max),
        stddev: var.sqrt(),
    }
}

/// The verdict lines and whether the check passed.
fn verdict(s: &Stats, limit: u32) -> (String, bool) {
    let mut out = String::new();
    let mut ok = true;
    if !s.errors.is_empty() {
        out.push_str("FAIL: too many errors\n");
        for (e, n) in &s.errors {
            out.push_str(&format!("FAIL: ERROR({e}) -> {n}\n"));
        }
        ok = false;
    }
    let rps = s.rps as i64 + 1;
    if s.rps / f64::from(limit) <= 0.9 {
        out.push_str(&format!("FAIL: Throughput too low: {rps} writes/s\n"));
        ok = false;
    } else {
        out.push_str(&format!("PASS: Throughput is {rps} writes/s\n"));
    }
    if s.slowest > 0.5 {
        out.push_str(&format!(
            "Slowest request took too long: {:.6}s\n",
            s.slowest
        ));
        ok = false;
    } else {
        out.push_str(&format!("PASS: Slowest request took {:.6}s\n", s.slowest));
    }
    if s.stddev > 0.1 {
        out.push_str(&format!("Stddev too high: {:.6}s\n", s.stddev));
        ok = false;
    } else {
        out.push_str(&format!("PASS: Stddev is {:.6}s\n", s.stddev));
    }
    out.push_str(if ok { "PASS\n" } else { "FAIL\n" });
    (out, ok)
}

/// pb.v1's time-left format (`00m59s`, with hours and days when needed).
fn pb_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    let mut out = String::new();
    if secs > 24 * 3600 {
        out.push_str(&format!("{}d", secs / 86_400));
        secs %= 86_400;
    }
    if secs > 3600 {
        out.push_str(&format!("{}h", secs / 3600));
        secs %= 3600;
    }
    out.push_str(&format!("{:02}m{:02}s", secs / 60, secs % 60));
    out
}

/// The state of pb.v1's progress bar with etcdctl's "Bom !" format.
pub(super) struct Bar {
    total: u64,
    pub(super) current: u64,
    start: Instant,
    pub(super) change: Instant,
    /// Terminal width (0 when stdout is not a terminal: no bar is drawn).
    width: usize,
}

impl Bar {
    pub(super) fn new(total: u64) -> Self {
        let width = if std::io::stdout().is_terminal() {
            std::env::var("COLUMNS")
                .ok()
                .and_then(|c| c.parse().ok())
                .unwrap_or(80)
        } else {
            0
        };
        let now = Instant::now();
        Bar {
            total,
            current: 0,
            start: now,
            change: now,
            width,
        }
    }

    /// One rendering of the bar (without the leading `\r`).
    fn line(&self, finished: bool) -> String {
        let percent = self.current as f64 / (self.total as f64 / 100.0);
        let percent_box = format!(" {percent:6.2}%");
        let counters = format!(" {} / {} ", self.current, self.total);
        let mut time_box = String::new();
        if finished {
            let spent = self.start.elapsed().as_secs() as i64 * 1_000_000_000;
            time_box = format!(" {}", gofmt::format_duration(spent));
        } else if self.current > 0 {
            let per = (self.change - self.start) / self.current as u32;
            let left = (per * (self.total - self.current) as u32)
                .checked_sub(self.change.elapsed())
                .unwrap_or_default();
            if left.as_secs() > 0 {
                time_box = format!(" {}", pb_duration(left));
            }
        }
        let fixed = counters.len() + 2 + percent_box.len() + time_box.len();
        let mut bar = String::new();
        if self.width > fixed {
            let size = self.width - fixed;
            let cur = ((self.current as f64 / self.total as f64) * size as f64).ceil() as usize;
            let cur = cur.min(size);
            let empty = size - cur;
            bar.push('B');
            if empty == 0 {
                bar.push_str(&"o".repeat(cur));
            } else if cur > 0 {
                bar.push_str(&"o".repeat(cur - 1));
                bar.push('m');
            }
            bar.push_str(&" ".repeat(empty));
            bar.push('!');
        }
        let out = format!("{counters}{bar}{percent_box}{time_box}");
        let pad = self.width.saturating_sub(out.chars().count());
        format!("{out}{}", " ".repeat(pad))
    }

    pub(super) fn draw(&self, finished: bool) {
        let mut o = std::io::stdout().lock();
        let _ = write!(o, "\r{}", self.line(finished));
        if finished {
            let _ = writeln!(o);
        }
        let _ = o.flush();
    }
}

/// Advances the bar once a second for `total` seconds (like etcdctl's
/// goroutine: sleep a second, add one) while pb.v1's refresher redraws it
/// 200ms after each drawing, noting when the count changed; then draws the
/// final state.
async fn progress(total: u64) {
    let mut bar = Bar::new(total);
    let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let ticks = Arc::clone(&count);
    let mut seconds = tokio::spawn(async move {
        for _ in 0..total {
            tokio::time::sleep(Duration::from_secs(1)).await;
            ticks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    loop {
        let current = count.load(std::sync::atomic::Ordering::SeqCst);
        if current != bar.current {
            bar.current = current;
            bar.change = Instant::now();
        }
        bar.draw(false);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = &mut seconds => break,
        }
    }
    bar.current = count.load(std::sync::atomic::Ordering::SeqCst);
    bar.draw(true);
}

/// The result of one write.
struct Outcome {
    error: Option<String>,
    latency: Duration,
}

pub(super) fn fail(msg: impl Into<Vec<u8>>) -> CtlError {
    CtlError::new(EXIT_ERROR, msg)
}

/// What `check perf` and `check datascale` take from their flags.
pub(super) struct CheckRun<L> {
    pub load: L,
    pub setup: global::Setup,
    /// Where the check writes its keys (`--prefix`).
    pub prefix: Vec<u8>,
    pub finish: Finish,
}

impl<L> CheckRun<L> {
    /// Reads the flags; `load` names the workload of a `--load` value.
    pub(super) fn from_flags(
        inv: &Invocation,
        load: impl Fn(&str) -> Option<L>,
    ) -> CtlResult<CheckRun<L>> {
        let load_flag = inv.flags.get_string("load");
        let Some(load) = load(&load_flag) else {
            return Err(CtlError::new(
                EXIT_BAD_FEATURE,
                format!("unknown load option {load_flag}"),
            ));
        };
        let setup = global::setup(inv)?;
        let finish = Finish {
            compact: inv.flags.get_bool("auto-compact"),
            defrag: inv.flags.get_bool("auto-defrag"),
            endpoints: setup.endpoints.clone(),
        };
        Ok(CheckRun {
            load,
            setup,
            prefix: inv.flags.get_bytes("prefix").to_vec(),
            finish,
        })
    }
}

pub fn perf(inv: &Invocation) -> CtlResult {
    let run = CheckRun::from_flags(inv, load)?;
    let (report, ok) =
        inv.block_on(run_perf(&run.setup.conn, run.load, &run.prefix, run.finish))??;
    print!("{report}");
    let _ = std::io::stdout().flush();
    if ok {
        Ok(())
    } else {
        Err(CtlError::silent(EXIT_ERROR))
    }
}

/// What to do after the writes.
pub(super) struct Finish {
    pub compact: bool,
    pub defrag: bool,
    pub endpoints: Vec<String>,
}

async fn run_perf(
    conn: &ConnConfig,
    cfg: Load,
    prefix: &[u8],
    finish: Finish,
) -> CtlResult<(String, bool)> {
    let mut first = Client::new(conn.clone());
    let window = Duration::from_secs(u64::from(cfg.duration));
    ensure_prefix_empty(&mut first, Instant::now() + window, prefix).await?;

    let bar = tokio::spawn(progress(u64::from(cfg.duration)));
    let (req_tx, req_rx) = mpsc::channel::<PutRequest>(cfg.clients);
    let req_rx = Arc::new(Mutex::new(req_rx));
    let (res_tx, mut res_rx) = mpsc::unbounded_channel::<Outcome>();
    let started = Instant::now();
    let mut workers = Vec::with_capacity(cfg.clients);
    for _ in 0..cfg.clients {
        let mut client = Client::new(conn.clone());
        let rx = Arc::clone(&req_rx);
        let tx = res_tx.clone();
        workers.push(AbortOnDrop(tokio::spawn(async move {
            loop {
                let next = rx.lock().await.recv().await;
                let Some(req) = next else { return };
                let st = Instant::now();
                let r = client
                    .call_until(kv_stub, no_deadline(), false, &req, |mut c, r| async move {
                        c.put(r).await
                    })
                    .await;
                let _ = tx.send(Outcome {
                    error: r.err().map(|e| e.message()),
                    latency: st.elapsed(),
                });
            }
        })));
    }
    drop(res_tx);
    let prefix_bytes = prefix.to_vec();
    let generator = AbortOnDrop(tokio::spawn(async move {
        let interval = Duration::from_secs_f64(1.0 / f64::from(cfg.limit));
        let end = started + window;
        let mut key = vec![0u8; 256];
        let mut next = started;
        let mut seed = started.elapsed().as_nanos() as u64 ^ 0x9e37_79b9_7f4a_7c15;
        loop {
            if next > end {
                return;
            }
            tokio::time::sleep_until(next).await;
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            put_varint(&mut key, (seed >> 1) as i64);
            let mut k = prefix_bytes.clone();
            k.extend_from_slice(&key);
            let req = PutRequest {
                key: k,
                value: vec![0u8; 1024],
                ..Default::default()
            };
            if req_tx.send(req).await.is_err() {
                return;
            }
            next = (next + interval).max(Instant::now());
        }
    }));

    let mut lats = Vec::new();
    let mut errors: Vec<(String, u64)> = Vec::new();
    while let Some(r) = res_rx.recv().await {
        match r.error {
            Some(e) => match errors.iter_mut().find(|(k, _)| *k == e) {
                Some((_, n)) => *n += 1,
                None => errors.push((e, 1)),
            },
            None => lats.push(r.latency.as_secs_f64()),
        }
    }
    let s = stats(&lats, errors, started.elapsed());
    drop(generator);
    drop(workers);
    let _ = bar.await;

    let rev = delete_prefix(&mut first, Instant::now() + Duration::from_secs(30), prefix).await?;
    compact_and_defrag(&mut first, conn, rev, &finish).await?;
    Ok(verdict(&s, cfg.limit))
}

/// A check refuses to write under a prefix that already holds keys (it
/// deletes the prefix when it is done).
pub(super) async fn ensure_prefix_empty(
    first: &mut Client,
    deadline: Instant,
    prefix: &[u8],
) -> CtlResult {
    let probe = RangeRequest {
        limit: 1,
        ..prefix_range(prefix)
    };
    let resp = first
        .call_until(kv_stub, deadline, true, &probe, |mut c, r| async move {
            c.range(r).await
        })
        .await
        .map_err(|e| fail(e.message()))?;
    if resp.kvs.is_empty() {
        return Ok(());
    }
    let q = gofmt::quote(prefix);
    Err(CtlError::new(
        EXIT_INVALID_INPUT,
        [
            format!("prefix {q} has keys. Delete with etcdctl del --prefix ").as_bytes(),
            prefix,
            b" first",
        ]
        .concat(),
    ))
}

/// Deletes what a check wrote under `prefix`; the revision after.
pub(super) async fn delete_prefix(
    first: &mut Client,
    deadline: Instant,
    prefix: &[u8],
) -> CtlResult<i64> {
    let range = prefix_range(prefix);
    let del = DeleteRangeRequest {
        key: range.key,
        range_end: range.range_end,
        ..Default::default()
    };
    let deleted = first
        .call_until(kv_stub, deadline, false, &del, |mut c, r| async move {
            c.delete_range(r).await
        })
        .await
        .map_err(|e| fail(e.message()))?;
    Ok(deleted.header.map(|h| h.revision).unwrap_or(0))
}

/// etcdctl's `compact` and `defrag` helpers after a check: compacts at
/// `rev` and defragments every endpoint when asked, printing each step.
pub(super) async fn compact_and_defrag(
    first: &mut Client,
    conn: &ConnConfig,
    rev: i64,
    finish: &Finish,
) -> CtlResult {
    if finish.compact {
        println!("Compacting with revision {rev}");
        first
            .unary_until(
                Instant::now() + Duration::from_secs(30),
                false,
                |ch| async move {
                    KvClient::new(ch)
                        .max_decoding_message_size(super::client::MAX_RECV_MSG_SIZE)
                        .compact(CompactionRequest {
                            revision: rev,
                            physical: true,
                        })
                        .await
                },
            )
            .await
            .map_err(|e| fail(e.message()))?;
        println!("Compacted with revision {rev}");
    }
    if finish.defrag {
        for ep in &finish.endpoints {
            let q = gofmt::quote(ep.as_bytes());
            println!("Defragmenting {q}");
            let mut c = Client::for_endpoint(conn, ep);
            c.unary_until(
                Instant::now() + Duration::from_secs(30),
                false,
                |ch| async move {
                    MaintenanceClient::new(ch)
                        .max_decoding_message_size(super::client::MAX_RECV_MSG_SIZE)
                        .defragment(DefragmentRequest {})
                        .await
                },
            )
            .await
            .map_err(|e| fail(e.message()))?;
            println!("Defragmented {q}");
        }
    }
    Ok(())
}

/// Go's `binary.PutVarint`: zig-zag then base-128 into the start of `buf`.
pub(super) fn put_varint(buf: &mut [u8], x: i64) {
    let mut ux = ((x << 1) ^ (x >> 63)) as u64;
    let mut i = 0;
    while ux >= 0x80 && i < buf.len() {
        buf[i] = (ux as u8) | 0x80;
        ux >>= 7;
        i += 1;
    }
    if i < buf.len() {
        buf[i] = ux as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_and_aliases() {
        assert_eq!(load("small"), load("s"));
        assert_eq!(load("xLarge").map(|l| l.clients), Some(1000));
        assert!(load("x").is_none());
    }

    #[test]
    fn verdict_lines_match_etcdctl() {
        let s = Stats {
            errors: Vec::new(),
            rps: 150.2,
            slowest: 0.342344,
            stddev: 0.015373,
        };
        let (out, ok) = verdict(&s, 150);
        assert!(ok);
        assert_eq!(
            out,
            "PASS: Throughput is 151 writes/s\nPASS: Slowest request took 0.342344s\n\
             PASS: Stddev is 0.015373s\nPASS\n"
        );
        let s = Stats {
            errors: vec![("boom".into(), 2)],
            rps: 10.0,
            slowest: 0.6,
            stddev: 0.2,
        };
        let (out, ok) = verdict(&s, 150);
        assert!(!ok);
        assert_eq!(
            out,
            "FAIL: too many errors\nFAIL: ERROR(boom) -> 2\nFAIL: Throughput too low: 11 writes/s\n\
             Slowest request took too long: 0.600000s\nStddev too high: 0.200000s\nFAIL\n"
        );
    }

    #[test]
    fn progress_bar_without_terminal() {
        let mut bar = Bar::new(60);
        bar.width = 0;
        assert_eq!(bar.line(false), " 0 / 60    0.00%");
        bar.current = 60;
        assert!(bar.line(true).starts_with(" 60 / 60  100.00% "));
        assert_eq!(pb_duration(Duration::from_secs(59)), "00m59s");
    }

    #[test]
    fn varints_like_go() {
        let mut b = [0u8; 4];
        put_varint(&mut b, -1);
        assert_eq!(b[0], 1);
        put_varint(&mut b, 300);
        assert_eq!(&b[..2], &[0xd8, 0x04]);
    }
}
