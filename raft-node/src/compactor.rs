//! Auto-compaction (`--auto-compaction-mode`, `--auto-compaction-retention`).
//!
//! - `revision` mode: every 5 minutes, compact to `current - retention`.
//! - `periodic` mode: keep history for the retention period (hours, or a
//!   duration such as `30m`): sample the revision every tenth of the period
//!   and compact to the newest sample older than the period.
//!
//! Compactions are ordinary requests through the log, so every member
//! compacts at the same revision.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_proto::etcdrs::raft_request::Op;
use etcd_proto::etcdserverpb::CompactionRequest;
use tokio::sync::watch;

use crate::server::EtcdServer;

enum Mode {
    Revision(i64),
    Periodic(Duration),
}

/// Parses etcd's retention: a plain number is hours (periodic) or revisions.
fn parse(mode: &str, retention: &str) -> Option<Mode> {
    let retention = retention.trim();
    match mode {
        "revision" => retention
            .parse::<i64>()
            .ok()
            .filter(|r| *r > 0)
            .map(Mode::Revision),
        _ => {
            let d = if let Ok(hours) = retention.parse::<f64>() {
                Duration::from_secs_f64(hours * 3600.0)
            } else {
                gostd::parse_std_duration(retention).ok()?
            };
            (!d.is_zero()).then_some(Mode::Periodic(d))
        }
    }
}

pub async fn run(server: Arc<EtcdServer>, mut stop: watch::Receiver<bool>) {
    let Some(mode) = parse(
        &server.config().auto_compaction_mode,
        &server.config().auto_compaction_retention,
    ) else {
        return;
    };
    let period = match &mode {
        Mode::Revision(_) => Duration::from_secs(300),
        Mode::Periodic(d) => (*d / 10).max(Duration::from_secs(1)),
    };
    let mut samples: VecDeque<(Instant, i64)> = VecDeque::new();
    let mut tick = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if !server.raft_info().is_leader {
            continue;
        }
        let current = server.current_revision();
        let target = match &mode {
            Mode::Revision(keep) => current - keep,
            Mode::Periodic(retention) => {
                samples.push_back((Instant::now(), current));
                let mut target = 0;
                while let Some((at, rev)) = samples.front().copied() {
                    if at.elapsed() < *retention {
                        break;
                    }
                    target = rev;
                    samples.pop_front();
                }
                target
            }
        };
        if target <= server.compacted_revision() || target <= 0 {
            continue;
        }
        let req = CompactionRequest {
            revision: target,
            physical: false,
        };
        match server.propose(Op::Compaction(req)).await {
            Ok(_) => tracing::info!(revision = target, "auto-compacted"),
            Err(e) => tracing::warn!(revision = target, error = %e, "auto-compaction failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_forms() {
        assert!(parse("periodic", "0").is_none());
        assert!(
            matches!(parse("periodic", "1"), Some(Mode::Periodic(d)) if d == Duration::from_secs(3600))
        );
        assert!(
            matches!(parse("periodic", "30m"), Some(Mode::Periodic(d)) if d == Duration::from_secs(1800))
        );
        assert!(matches!(
            parse("revision", "1000"),
            Some(Mode::Revision(1000))
        ));
        assert!(parse("periodic", "5x").is_none());
    }
}
