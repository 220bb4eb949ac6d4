//! etcd's benchmark subcommands, one module per family.
//!
//! Each workload takes the run's shared context ([`RunCtx`]: configuration,
//! connections, deadline), does its untimed setup (granting leases,
//! writing keys, opening watches), runs its measured phases and returns
//! the [`Outcome`] to print. The plain request/response workloads are
//! [`Worker`](crate::load::Worker)s on the shared request loop; the watch
//! workloads, which time events rather than calls, run their own bounded
//! loops.

pub mod kv;
pub mod lease;
pub mod mutex;
pub mod stm;
pub mod txn;
pub mod watch;
pub mod watch_get;
pub mod watch_latency;
pub mod watch_stream;

use crate::config::Command;
use crate::load::RunCtx;
use crate::outcome::Outcome;

/// Runs the subcommand of `ctx.cfg`.
pub async fn run(ctx: &RunCtx) -> Result<Outcome, String> {
    match &ctx.cfg.command {
        Command::Put(f) => kv::put(ctx, f).await,
        Command::Range(f) => kv::range(ctx, f).await,
        Command::TxnPut(f) => txn::txn_put(ctx, f).await,
        Command::TxnMixed(f) => txn::txn_mixed(ctx, f).await,
        Command::LeaseKeepalive(f) => lease::keepalive(ctx, f).await,
        Command::Watch(f) => watch::watch(ctx, f).await,
        Command::WatchLatency(f) => watch_latency::watch_latency(ctx, f).await,
        Command::WatchGet(f) => watch_get::watch_get(ctx, f).await,
        Command::Stm(f) => stm::stm(ctx, f).await,
    }
}
