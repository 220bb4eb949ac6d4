//! `lease-keepalive`: one lease per client, keep-alives timed one by one.
//!
//! Before measuring, each client grants itself a lease with a TTL of 100
//! seconds (untimed, as etcd). A request is clientv3's `KeepAliveOnce`: a
//! `LeaseKeepAlive` stream is opened, one keep-alive sent, one response
//! read, and the stream closed; a response with a TTL of 0 or less means
//! the lease is gone and counts as an error.

use std::time::Instant;

use etcd_proto::etcdserverpb::lease_client::LeaseClient;
use etcd_proto::etcdserverpb::{LeaseGrantRequest, LeaseKeepAliveRequest};
use tokio::time::timeout_at;

use crate::config::LeaseFlags;
use crate::connect::Conn;
use crate::load::{drive, grpc_error, RunCtx, Worker};
use crate::outcome::{Outcome, Section};

/// TTL of each client's lease (etcd's).
const LEASE_TTL: i64 = 100;

struct KeepAliveWorker {
    lease: LeaseClient<Conn>,
    id: i64,
}

impl Worker for KeepAliveWorker {
    async fn request(&mut self, _seq: u64) -> Result<(), String> {
        let once = tokio_stream::once(LeaseKeepAliveRequest { id: self.id });
        let mut responses = self
            .lease
            .lease_keep_alive(once)
            .await
            .map_err(|s| grpc_error(&s))?
            .into_inner();
        match responses.message().await {
            Ok(Some(r)) if r.ttl > 0 => Ok(()),
            Ok(Some(_)) => Err("etcdserver: requested lease not found".into()),
            Ok(None) => Err("rpc error: code = Canceled desc = keep-alive stream closed".into()),
            Err(s) => Err(grpc_error(&s)),
        }
    }
}

/// Grants one lease on `conn`, within the run's deadline.
pub async fn grant(conn: Conn, ttl: i64, deadline: Instant) -> Result<i64, String> {
    let req = LeaseGrantRequest { ttl, id: 0 };
    let resp = timeout_at(deadline.into(), LeaseClient::new(conn).lease_grant(req))
        .await
        .map_err(|_| "granting a lease: duration limit reached".to_string())?
        .map_err(|s| format!("granting a lease: {}", grpc_error(&s)))?
        .into_inner();
    if !resp.error.is_empty() {
        return Err(format!("granting a lease: {}", resp.error));
    }
    Ok(resp.id)
}

pub async fn keepalive(ctx: &RunCtx, f: &LeaseFlags) -> Result<Outcome, String> {
    let cfg = &ctx.cfg;
    // Every client grants its lease at once, as etcd's goroutines do.
    let grants: Vec<_> = (0..cfg.clients)
        .map(|i| tokio::spawn(grant(ctx.conn(i), LEASE_TTL, ctx.deadline)))
        .collect();
    let mut workers = Vec::with_capacity(cfg.clients);
    for (i, g) in grants.into_iter().enumerate() {
        let id = g.await.map_err(|e| format!("granting a lease: {e}"))??;
        workers.push(KeepAliveWorker {
            lease: LeaseClient::new(ctx.conn(i)),
            id,
        });
    }
    let phase = drive(ctx, workers, f.total, 0).await;
    Ok(Outcome {
        sections: vec![Section::plain(
            phase.stats("lease-keepalive", cfg.output.sample),
            phase.samples,
        )],
        ..Outcome::default()
    })
}
