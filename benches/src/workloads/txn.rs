//! `txn-put` and `txn-mixed`: transactions without compares.
//!
//! `txn-put` sends `--total` transactions of `--txn-ops` puts each; txn
//! `i` writes keys `(i*txn-ops + j) % --key-space-size` for `j` in
//! `0..txn-ops` (so the keys of one txn are distinct), one random value.
//!
//! `txn-mixed` sends `--total` one-operation transactions, each a read
//! with probability `rw/(1+rw)` (`--rw-ratio`) and a write otherwise. A
//! read is etcd's: a prefix range over the whole key space (`--end-key` is
//! overridden by the prefix, as in etcd) limited to `--limit` keys,
//! linearizable or serializable; a write puts key `i % --key-space-size`.
//! Reads and writes are reported separately (`txn-mixed-read`,
//! `txn-mixed-write`). Whether request `i` reads is a function of the seed
//! and `i`, so the split is known after the run without bookkeeping.

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::request_op::Request;
use etcd_proto::etcdserverpb::{PutRequest, RangeRequest, RequestOp, TxnRequest};

use crate::config::{Consistency, TxnMixedFlags, TxnPutFlags};
use crate::connect::Conn;
use crate::keys::{key, Rng};
use crate::load::{drive, grpc_error, Phase, RunCtx, Worker};
use crate::outcome::{Outcome, Section};
use crate::report::Sample;
use crate::workloads::kv::consistency_banner;

struct TxnPutWorker {
    kv: KvClient<Conn>,
    value: Vec<u8>,
    key_size: usize,
    key_space: u64,
    ops: u64,
}

/// The key numbers txn `seq` of `txn-put` writes.
pub fn txn_put_keys(seq: u64, ops: u64, key_space: u64) -> Vec<u64> {
    (0..ops)
        .map(|j| (seq.wrapping_mul(ops) + j) % key_space)
        .collect()
}

impl Worker for TxnPutWorker {
    async fn request(&mut self, seq: u64) -> Result<(), String> {
        let success = txn_put_keys(seq, self.ops, self.key_space)
            .into_iter()
            .map(|k| RequestOp {
                request: Some(Request::RequestPut(PutRequest {
                    key: key(k, self.key_size),
                    value: self.value.clone(),
                    ..Default::default()
                })),
            })
            .collect();
        let req = TxnRequest {
            compare: vec![],
            success,
            failure: vec![],
        };
        self.kv.txn(req).await.map_err(|s| grpc_error(&s))?;
        Ok(())
    }
}

pub async fn txn_put(ctx: &RunCtx, f: &TxnPutFlags) -> Result<Outcome, String> {
    let cfg = &ctx.cfg;
    let value = Rng::new(cfg.seed).bytes(f.val_size);
    let workers = (0..cfg.clients)
        .map(|i| TxnPutWorker {
            kv: KvClient::new(ctx.conn(i)),
            value: value.clone(),
            key_size: f.key_size,
            key_space: f.key_space_size,
            ops: f.txn_ops,
        })
        .collect();
    let phase = drive(ctx, workers, f.total, f.rate).await;
    Ok(Outcome {
        sections: vec![Section {
            trailer: "\n".into(),
            ..Section::plain(phase.stats("txn-put", cfg.output.sample), phase.samples)
        }],
        ..Outcome::default()
    })
}

/// Whether request `seq` of a `txn-mixed` run seeded `seed` is a read.
pub fn mixed_is_read(seed: u64, seq: u64, rw_ratio: f64) -> bool {
    let mut rng = Rng::new(seed ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    rng.unit() < rw_ratio / (1.0 + rw_ratio)
}

struct TxnMixedWorker {
    kv: KvClient<Conn>,
    seed: u64,
    value: Vec<u8>,
    key_size: usize,
    key_space: u64,
    rw_ratio: f64,
    limit: i64,
    serializable: bool,
}

impl Worker for TxnMixedWorker {
    async fn request(&mut self, seq: u64) -> Result<(), String> {
        let op = if mixed_is_read(self.seed, seq, self.rw_ratio) {
            // clientv3's WithPrefix on an empty key: every key ("\0" to "\0").
            Request::RequestRange(RangeRequest {
                key: vec![0],
                range_end: vec![0],
                limit: self.limit,
                serializable: self.serializable,
                ..Default::default()
            })
        } else {
            Request::RequestPut(PutRequest {
                key: key(seq % self.key_space, self.key_size),
                value: self.value.clone(),
                ..Default::default()
            })
        };
        let req = TxnRequest {
            compare: vec![],
            success: vec![RequestOp { request: Some(op) }],
            failure: vec![],
        };
        self.kv.txn(req).await.map_err(|s| grpc_error(&s))?;
        Ok(())
    }
}

pub async fn txn_mixed(ctx: &RunCtx, f: &TxnMixedFlags) -> Result<Outcome, String> {
    let cfg = &ctx.cfg;
    let value = Rng::new(cfg.seed).bytes(f.val_size);
    let workers = (0..cfg.clients)
        .map(|i| TxnMixedWorker {
            kv: KvClient::new(ctx.conn(i)),
            seed: cfg.seed,
            value: value.clone(),
            key_size: f.key_size,
            key_space: f.key_space_size,
            rw_ratio: f.rw_ratio,
            limit: f.limit,
            serializable: f.consistency == Consistency::Serializable,
        })
        .collect();
    let mut phase = drive(ctx, workers, f.total, f.rate).await;
    let (reads, writes): (Vec<_>, Vec<_>) = std::mem::take(&mut phase.samples)
        .into_iter()
        .partition(|s| mixed_is_read(cfg.seed, s.seq, f.rw_ratio));
    let section = |name: &str, label: &str, samples: Vec<Sample>| {
        let part = Phase {
            samples,
            ..phase.clone_empty()
        };
        Section {
            heading: format!("Total {label} Ops: {}\nDetails:", part.samples.len()),
            stats: part.stats(name, cfg.output.sample),
            samples: part.samples,
            trailer: "\n".into(),
        }
    };
    let sections = vec![
        section("txn-mixed-read", "Read", reads),
        section("txn-mixed-write", "Write", writes),
    ];
    Ok(Outcome {
        preamble: consistency_banner(f.consistency).into(),
        sections,
        ..Outcome::default()
    })
}
