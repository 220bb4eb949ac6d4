//! `stm`: etcd's software-transactional-memory contention benchmark.
//!
//! Each request is one STM transaction over `--keys-per-txn` distinct
//! random keys out of `--keys` (16-byte varint keys, as etcd): every key
//! is read, and the first `keys-per-txn * --txn-wr-percent / 100` of them
//! are overwritten with `--val-size` random bytes. The transaction commits
//! with a `Txn` whose compares depend on `--isolation`, as clientv3's
//! `concurrency.NewSTM`:
//!
//! - `c` (read committed): no compares, the commit always applies;
//! - `r` (repeatable reads): every key read is unchanged since its read
//!   (`mod_revision < read revision + 1`);
//! - `s` (serializable): reads after the first are served at the first
//!   read's revision (serializable reads), compares as `r`;
//! - `ss` (serializable snapshot): as `s`, and every key written is
//!   unchanged since the first read (`mod_revision < first revision + 1`).
//!
//! A failed compare means another client won: the transaction is retried
//! from scratch (at most [`MAX_ATTEMPTS`] times, and within the request
//! timeout), and its latency covers all attempts. With `--stm-locker
//! lock-client` each transaction runs inside a distributed mutex
//! ([`super::mutex`], one session per client) and the latency covers
//! lock, transaction and unlock; etcd's `lock-rpc` (the v3lock service) is
//! refused by the configuration.

use std::collections::BTreeMap;

use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::request_op::Request;
use etcd_proto::etcdserverpb::{Compare, PutRequest, RangeRequest, RequestOp, TxnRequest};

use super::mutex::{Mutex, Session};
use crate::config::{Isolation, StmFlags, StmLocker};
use crate::connect::Conn;
use crate::keys::{key, Rng};
use crate::load::{drive, grpc_error, RunCtx, Worker};
use crate::outcome::{Outcome, Section};

/// Size of the STM benchmark's keys (etcd's).
const STM_KEY_SIZE: usize = 16;
/// Attempts of one transaction before it counts as failed.
pub const MAX_ATTEMPTS: u32 = 1000;

/// One client's STM: its connection, random keys and values, the flags.
struct Stm {
    kv: KvClient<Conn>,
    rng: Rng,
    flags: StmFlags,
}

struct StmWorker {
    stm: Stm,
    /// The mutex and its session with `--stm-locker lock-client`.
    lock: Option<(Mutex, Session)>,
}

/// Name of the mutex (etcd's).
const LOCK_NAME: &str = "stmlock";

/// `count` distinct key numbers below `keys`.
pub fn pick_keys(rng: &mut Rng, keys: u64, count: u64) -> Vec<u64> {
    let mut picked = Vec::with_capacity(count as usize);
    while (picked.len() as u64) < count.min(keys) {
        let k = rng.below(keys);
        if !picked.contains(&k) {
            picked.push(k);
        }
    }
    picked
}

/// The compare "key unchanged since `revision`": `mod_revision < revision + 1`.
fn unchanged_since(key: &[u8], revision: i64) -> Compare {
    Compare {
        result: CompareResult::Less as i32,
        target: CompareTarget::Mod as i32,
        key: key.to_vec(),
        target_union: Some(TargetUnion::ModRevision(revision + 1)),
        ..Default::default()
    }
}

impl Stm {
    /// One attempt: reads, then the conditional commit. `Ok(true)` when it
    /// applied.
    async fn attempt(&mut self, keys: &[Vec<u8>], writes: usize) -> Result<bool, String> {
        let iso = self.flags.isolation;
        let pinned = matches!(
            iso,
            Isolation::Serializable | Isolation::SerializableSnapshot
        );
        let mut first_revision: Option<i64> = None;
        let mut read_revisions: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
        for k in keys {
            let req = RangeRequest {
                key: k.clone(),
                revision: if pinned {
                    first_revision.unwrap_or(0)
                } else {
                    0
                },
                serializable: pinned && first_revision.is_some(),
                ..Default::default()
            };
            let resp = self.kv.range(req).await.map_err(|s| grpc_error(&s))?;
            let revision = resp.into_inner().header.map_or(0, |h| h.revision);
            first_revision.get_or_insert(revision);
            read_revisions.insert(k.clone(), revision);
        }
        let first = first_revision.unwrap_or(0);
        let mut compare: Vec<Compare> = match iso {
            Isolation::ReadCommitted => vec![],
            _ => read_revisions
                .iter()
                .map(|(k, rev)| unchanged_since(k, *rev))
                .collect(),
        };
        if iso == Isolation::SerializableSnapshot {
            compare.extend(keys[..writes].iter().map(|k| unchanged_since(k, first)));
        }
        let success = keys[..writes]
            .iter()
            .map(|k| RequestOp {
                request: Some(Request::RequestPut(PutRequest {
                    key: k.clone(),
                    value: self.rng.bytes(self.flags.val_size),
                    ..Default::default()
                })),
            })
            .collect();
        let req = TxnRequest {
            compare,
            success,
            failure: vec![],
        };
        let resp = self.kv.txn(req).await.map_err(|s| grpc_error(&s))?;
        Ok(resp.into_inner().succeeded)
    }
}

impl Worker for StmWorker {
    async fn request(&mut self, _seq: u64) -> Result<(), String> {
        match &mut self.lock {
            None => self.stm.transaction().await,
            Some((mutex, _session)) => {
                mutex.lock().await?;
                let done = self.stm.transaction().await;
                mutex.unlock().await.and(done)
            }
        }
    }
}

impl Stm {
    /// One STM transaction, retried until it commits.
    async fn transaction(&mut self) -> Result<(), String> {
        let numbers = pick_keys(&mut self.rng, self.flags.keys, self.flags.keys_per_txn);
        let keys: Vec<Vec<u8>> = numbers.iter().map(|&n| key(n, STM_KEY_SIZE)).collect();
        let writes = keys.len() * self.flags.txn_wr_percent as usize / 100;
        for _ in 0..MAX_ATTEMPTS {
            if self.attempt(&keys, writes).await? {
                return Ok(());
            }
        }
        Err(format!(
            "stm: no commit after {MAX_ATTEMPTS} conflicting attempts"
        ))
    }
}

pub async fn stm(ctx: &RunCtx, f: &StmFlags) -> Result<Outcome, String> {
    let cfg = &ctx.cfg;
    let mut workers = Vec::with_capacity(cfg.clients);
    for i in 0..cfg.clients {
        let lock = match f.stm_locker {
            StmLocker::LockClient => {
                let session = Session::new(ctx.conn(i), ctx.deadline).await?;
                let mutex = Mutex::new(ctx.conn(i), LOCK_NAME, &session, ctx.deadline);
                Some((mutex, session))
            }
            _ => None,
        };
        workers.push(StmWorker {
            stm: Stm {
                kv: KvClient::new(ctx.conn(i)),
                rng: Rng::for_client(cfg.seed, i),
                flags: f.clone(),
            },
            lock,
        });
    }
    let phase = drive(ctx, workers, f.total, f.rate).await;
    Ok(Outcome {
        sections: vec![Section::plain(
            phase.stats("stm", cfg.output.sample),
            phase.samples,
        )],
        ..Outcome::default()
    })
}
