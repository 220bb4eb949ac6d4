//! `put` and `range`: single-key writes and reads, one call per request.
//!
//! `put` writes key `i % --key-space-size` with `--sequential-keys`, a
//! random key of the key space otherwise, with one random value of
//! `--val-size` bytes (as etcd, the same value for every put). With
//! `--compact-interval` a background task compacts to `--compact-index-delta`
//! revisions behind the head every interval; `--check-hashkv` asks the
//! first endpoint for its KV hash and database size after the run.
//!
//! `range <key> [end]` reads the same key (or range) `--total` times,
//! linearizable or serializable (`--consistency l|s`).

use std::time::Instant;

use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use etcd_proto::etcdserverpb::{
    CompactionRequest, HashKvRequest, PutRequest, RangeRequest, StatusRequest,
};

use crate::config::{Consistency, PutFlags, RangeFlags};
use crate::connect::Conn;
use crate::keys::{key, Rng};
use crate::load::{drive, grpc_error, RunCtx, Worker};
use crate::outcome::{Outcome, Section};

struct PutWorker {
    kv: KvClient<Conn>,
    rng: Rng,
    value: Vec<u8>,
    key_size: usize,
    key_space: u64,
    sequential: bool,
}

impl Worker for PutWorker {
    async fn request(&mut self, seq: u64) -> Result<(), String> {
        let index = if self.sequential {
            seq % self.key_space
        } else {
            self.rng.below(self.key_space)
        };
        let req = PutRequest {
            key: key(index, self.key_size),
            value: self.value.clone(),
            ..Default::default()
        };
        self.kv.put(req).await.map_err(|s| grpc_error(&s))?;
        Ok(())
    }
}

pub async fn put(ctx: &RunCtx, f: &PutFlags) -> Result<Outcome, String> {
    let cfg = &ctx.cfg;
    let value = Rng::new(cfg.seed).bytes(f.val_size);
    let workers = (0..cfg.clients)
        .map(|i| PutWorker {
            kv: KvClient::new(ctx.conn(i)),
            rng: Rng::for_client(cfg.seed, i),
            value: value.clone(),
            key_size: f.key_size,
            key_space: f.key_space_size,
            sequential: f.sequential_keys,
        })
        .collect();
    let compactor = (!f.compact_interval.is_zero()).then(|| {
        tokio::spawn(compact_every(
            ctx.conn(0),
            f.compact_interval,
            f.compact_index_delta,
            ctx.deadline,
        ))
    });
    let phase = drive(ctx, workers, f.total, f.rate).await;
    if let Some(task) = compactor {
        task.abort();
    }
    let mut outcome = Outcome {
        sections: vec![Section {
            trailer: "\n".into(),
            ..Section::plain(phase.stats("put", cfg.output.sample), phase.samples)
        }],
        ..Outcome::default()
    };
    if f.check_hashkv {
        outcome.epilogue = hash_kv(ctx).await?;
    }
    Ok(outcome)
}

/// etcd's periodic compaction: every `interval`, compact to the current
/// revision minus `delta`. Errors end the task (etcd panics).
async fn compact_every(conn: Conn, interval: std::time::Duration, delta: i64, deadline: Instant) {
    let mut kv = KvClient::new(conn);
    loop {
        let next = Instant::now() + interval;
        if next >= deadline {
            return;
        }
        tokio::time::sleep_until(next.into()).await;
        let head = match kv
            .range(RangeRequest {
                key: b"foo".to_vec(),
                ..Default::default()
            })
            .await
        {
            Ok(r) => r.into_inner().header.map_or(0, |h| h.revision),
            Err(s) => {
                eprintln!("etcd-bench: compaction: {}", grpc_error(&s));
                return;
            }
        };
        let revision = (head - delta).max(0);
        if let Err(s) = kv
            .compact(CompactionRequest {
                revision,
                physical: false,
            })
            .await
        {
            eprintln!("etcd-bench: compaction: {}", grpc_error(&s));
            return;
        }
    }
}

/// etcd's `--check-hashkv` summary of the first endpoint.
async fn hash_kv(ctx: &RunCtx) -> Result<String, String> {
    let mut m = MaintenanceClient::new(ctx.conn(0));
    let host = ctx
        .cfg
        .connect
        .endpoints
        .first()
        .map(|e| e.split("://").last().unwrap_or(e).to_string())
        .unwrap_or_default();
    let started = Instant::now();
    let hash = m
        .hash_kv(HashKvRequest { revision: 0 })
        .await
        .map_err(|s| {
            format!(
                "Failed to get the hashkv of endpoint {host} ({})",
                grpc_error(&s)
            )
        })?
        .into_inner();
    let status = m
        .status(StatusRequest {})
        .await
        .map_err(|s| {
            format!(
                "Failed to get the status of endpoint {host} ({})",
                grpc_error(&s)
            )
        })?
        .into_inner();
    Ok(format!(
        "HashKV Summary:\n\tHashKV: {}\n\tEndpoint: {host}\n\tTime taken to get hashkv: {}\n\tDB size: {}\n",
        hash.hash,
        gostd::format_duration(started.elapsed().as_nanos() as i64),
        gostd::humanize_bytes(status.db_size.max(0) as u64)
    ))
}

struct RangeWorker {
    kv: KvClient<Conn>,
    key: Vec<u8>,
    end: Vec<u8>,
    serializable: bool,
}

impl Worker for RangeWorker {
    async fn request(&mut self, _seq: u64) -> Result<(), String> {
        let req = RangeRequest {
            key: self.key.clone(),
            range_end: self.end.clone(),
            serializable: self.serializable,
            ..Default::default()
        };
        self.kv.range(req).await.map_err(|s| grpc_error(&s))?;
        Ok(())
    }
}

/// The line etcd prints before a read benchmark.
pub fn consistency_banner(c: Consistency) -> &'static str {
    match c {
        Consistency::Linearizable => "bench with linearizable range\n",
        Consistency::Serializable => "bench with serializable range\n",
    }
}

pub async fn range(ctx: &RunCtx, f: &RangeFlags) -> Result<Outcome, String> {
    let cfg = &ctx.cfg;
    let workers = (0..cfg.clients)
        .map(|i| RangeWorker {
            kv: KvClient::new(ctx.conn(i)),
            key: f.key.as_bytes().to_vec(),
            end: f.end.as_deref().unwrap_or("").as_bytes().to_vec(),
            serializable: f.consistency == Consistency::Serializable,
        })
        .collect();
    let phase = drive(ctx, workers, f.total, f.rate).await;
    Ok(Outcome {
        preamble: consistency_banner(f.consistency).into(),
        sections: vec![Section::plain(
            phase.stats("range", cfg.output.sample),
            phase.samples,
        )],
        ..Outcome::default()
    })
}
