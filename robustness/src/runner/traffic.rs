//! Client traffic over gRPC, recorded into a history.
//!
//! Each client is one task with its own connection to one member, issuing one operation at a
//! time until the deadline: linearizable and serializable gets, puts with unique values,
//! deletes, and CAS txns whose expected revision is the last one this client saw for the key
//! (so many of them succeed and they race with each other).
//!
//! Classifying errors is the recorder's most delicate job. A read that failed or timed out
//! changed nothing, so it is recorded as failed (dropped by the checker). A write that
//! failed may still have been proposed and applied, so every write error or timeout is
//! recorded as unknown, except `InvalidArgument`, which etcd returns before proposing, and a
//! refused connection (the request never left this process).
//!
//! A client talks to one member at a time; after a failed operation it moves to another
//! member half the time (the member list changes under membership faults), so a client does
//! not stay glued to an isolated or removed member. etcd promises that revisions never go
//! backwards on one member, not across members (a serializable read on a lagging member is
//! older than what the leader answered), so a client records each member it talks to under
//! its own history client id, `slot * 1000 + client` ("client 2005" is client 5 talking to
//! m2): the per-client revision check is then per client and member, and the real-time
//! checks, which hold across members, see all of them. One put in five attaches a lease: a
//! shared one or one of the key's own, which clients also grant (some to expire) and revoke
//! (see `lease.rs`). "Lease not found" is a definite answer the model checks, not an error.
//!
//! The compactor compacts the key space every few seconds to 300 revisions below the
//! current one, so watchers that resume from an old revision meet compaction, and members
//! that restart or install snapshots do so over a compacted store.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::lease_client::LeaseClient;
use etcd_proto::etcdserverpb::request_op::Request as OpRequest;
use etcd_proto::etcdserverpb::response_op::Response as OpResponse;
use etcd_proto::etcdserverpb::{
    CompactionRequest, Compare, DeleteRangeRequest, LeaseGrantRequest, LeaseRevokeRequest,
    PutRequest, RangeRequest, RequestOp, TxnRequest,
};
use etcd_proto::mvccpb;
use std::sync::Arc;
use tonic::transport::Channel;

use super::lease::KeyLeases;
use crate::history::{
    ClientId, ClientRecorder, Clock, KeyValue, Outcome, ReadConsistency, Request, Response,
};
use crate::rng::Rng;

/// Every key of a run starts with this, so watchers can watch exactly the run's keys.
pub const KEY_PREFIX: &str = "r/";

pub struct TrafficConfig {
    pub keys: u64,
    pub op_timeout: Duration,
    pub deadline: Instant,
    /// Hard cap on operations per client (a bound besides the deadline).
    pub max_ops: usize,
}

pub fn to_kv(kv: &mvccpb::KeyValue) -> KeyValue {
    KeyValue {
        value: String::from_utf8_lossy(&kv.value).into_owned(),
        mod_revision: kv.mod_revision,
        create_revision: kv.create_revision,
        version: kv.version,
        lease: kv.lease,
    }
}

/// A client's connection to one member.
struct Member {
    kv: KvClient<Channel>,
    lease: LeaseClient<Channel>,
}

impl Member {
    fn new(channel: Channel) -> Member {
        Member {
            kv: KvClient::new(channel.clone()),
            lease: LeaseClient::new(channel),
        }
    }
}

/// History client ids from here up record lease expiries (`EXPIRIES + client` those of the
/// leases client `client` granted); a member's clients are `slot * 1000 + client`.
pub const EXPIRIES: ClientId = 900_000;

/// Runs one client until the deadline; returns its recorders.
pub async fn run_client(
    client: ClientId,
    endpoints: Arc<super::Endpoints>,
    leases: Arc<super::lease::Leases>,
    key_leases: Arc<KeyLeases>,
    clock: Clock,
    cfg: &TrafficConfig,
    seed: u64,
) -> Vec<ClientRecorder> {
    let mut rng = Rng::new(seed);
    let mut member = client as usize;
    let (mut slot, channel) = endpoints.pick_slot(member);
    let mut conn = Member::new(channel);
    let mut recorders: HashMap<usize, ClientRecorder> = HashMap::new();
    let mut expiries = ClientRecorder::new(EXPIRIES + client, clock);
    let mut last_seen: HashMap<String, i64> = HashMap::new();
    // The lease each key's value was last seen holding (0: none).
    let mut last_lease: HashMap<String, i64> = HashMap::new();
    for n in 0..cfg.max_ops {
        if Instant::now() >= cfg.deadline {
            break;
        }
        let key = format!("{KEY_PREFIX}k{}", rng.below(cfg.keys));
        let value = format!("c{client}-{n}");
        let linearizable_get = |key| Request::Get {
            key,
            consistency: ReadConsistency::Linearizable,
        };
        let request = match rng.below(100) {
            0..=4 => Request::Get {
                key,
                consistency: ReadConsistency::Serializable,
            },
            5..=35 => linearizable_get(key),
            36..=37 if key_leases.room_for(&key) => {
                grant_key_lease(&mut conn, &key, &key_leases, &mut rng, &mut expiries, cfg).await;
                continue;
            }
            38..=39 => {
                // Most often the lease the key was last seen holding, so revokes delete.
                let held = last_lease.get(&key).copied();
                match held.filter(|l| key_leases.is_live(&key, *l) && rng.chance(70)) {
                    Some(lease) => Request::Revoke { key, lease },
                    None => match key_leases.pick(&key, rng.next()) {
                        Some(lease) => Request::Revoke { key, lease },
                        None => linearizable_get(key),
                    },
                }
            }
            36..=39 => linearizable_get(key),
            40..=69 => {
                let lease = match rng.below(10) {
                    0 => leases.pick(rng.next()).unwrap_or(0),
                    1 => key_leases.pick(&key, rng.next()).unwrap_or(0),
                    _ => 0,
                };
                Request::Put { key, value, lease }
            }
            70..=79 => Request::Delete { key },
            _ => Request::CasPut {
                expected_mod_revision: last_seen.get(&key).copied().unwrap_or(0),
                key,
                value,
            },
        };
        let rec = recorders
            .entry(slot)
            .or_insert_with(|| ClientRecorder::new(slot as ClientId * 1000 + client, clock));
        let pending = rec.invoke(request.clone());
        let outcome = match tokio::time::timeout(cfg.op_timeout, execute(&mut conn, &request)).await
        {
            Ok(Ok(resp)) => Outcome::Ok(resp),
            Ok(Err(status)) if lease_not_found(&request, &status) => {
                Outcome::Ok(Response::LeaseNotFound)
            }
            Ok(Err(status)) if !request.is_write() => Outcome::Failed(status.to_string()),
            Ok(Err(status)) if never_sent(&status) => Outcome::Failed(status.to_string()),
            Err(_) if !request.is_write() => Outcome::Failed("timeout".into()),
            _ => Outcome::Unknown { applied_at: None },
        };
        if let Outcome::Ok(resp) = &outcome {
            note_leases(&request, resp, &mut last_lease, &key_leases);
            let seen = match resp {
                Response::Get { kv, .. } | Response::CasPut { kv, .. } => {
                    kv.as_ref().map(|kv| kv.mod_revision)
                }
                Response::Put { revision } => Some(*revision),
                Response::Delete { .. } => Some(0),
                Response::Revoke { .. } | Response::LeaseNotFound => None,
            };
            if let Some(rev) = seen {
                last_seen.insert(request.key().to_string(), rev);
            }
            if let Response::CasPut {
                succeeded: true,
                revision,
                ..
            } = resp
            {
                last_seen.insert(request.key().to_string(), *revision);
            }
        }
        let failed = !matches!(outcome, Outcome::Ok(_));
        rec.complete(pending, outcome);
        if failed {
            // Do not hammer an unavailable member; the pause is short and bounded.
            tokio::time::sleep(Duration::from_millis(50)).await;
            if rng.chance(50) {
                member += 1;
                let (next, channel) = endpoints.pick_slot(member);
                slot = next;
                conn = Member::new(channel);
            }
        }
    }
    let mut all: Vec<ClientRecorder> = recorders.into_values().collect();
    all.push(expiries);
    all
}

/// Keeps `last_lease` (the lease a key's value was last seen holding) and the ended key
/// leases up to date with an answer.
fn note_leases(
    request: &Request,
    resp: &Response,
    last_lease: &mut HashMap<String, i64>,
    key_leases: &KeyLeases,
) {
    let key = request.key().to_string();
    match (request, resp) {
        (Request::Put { lease, .. }, Response::Put { .. }) => {
            last_lease.insert(key, *lease);
        }
        (
            Request::CasPut { .. },
            Response::CasPut {
                succeeded: true, ..
            },
        )
        | (Request::Delete { .. }, Response::Delete { .. }) => {
            last_lease.insert(key, 0);
        }
        (_, Response::Get { kv, .. } | Response::CasPut { kv, .. }) => {
            last_lease.insert(key, kv.as_ref().map_or(0, |kv| kv.lease));
        }
        (Request::Put { lease, .. } | Request::Revoke { lease, .. }, Response::LeaseNotFound)
        | (Request::Revoke { lease, .. }, Response::Revoke { .. }) => {
            key_leases.ended(&key, *lease);
        }
        _ => {}
    }
}

/// Grants a lease for `key` alone; one in three gets a short TTL and is left to expire,
/// which `expiries` records as a revoke that may take effect from now on. A grant that
/// failed is forgotten (an unknown lease is never used).
async fn grant_key_lease(
    conn: &mut Member,
    key: &str,
    key_leases: &KeyLeases,
    rng: &mut Rng,
    expiries: &mut ClientRecorder,
    cfg: &TrafficConfig,
) {
    let expiring = rng.below(3) == 0;
    let ttl = if expiring {
        super::lease::EXPIRING_TTL
    } else {
        super::lease::TTL
    };
    let grant = conn.lease.lease_grant(LeaseGrantRequest { ttl, id: 0 });
    let Ok(Ok(granted)) = tokio::time::timeout(cfg.op_timeout, grant).await else {
        return;
    };
    let id = granted.into_inner().id;
    key_leases.add(key, id);
    if expiring {
        let pending = expiries.invoke(Request::Revoke {
            key: key.to_string(),
            lease: id,
        });
        expiries.complete(pending, Outcome::Unknown { applied_at: None });
    }
}

/// Whether `status` is etcd's "requested lease not found" for a request naming a lease: the
/// apply refused it, so nothing changed.
fn lease_not_found(request: &Request, status: &tonic::Status) -> bool {
    let names_lease = matches!(request, Request::Put { lease, .. } if *lease != 0)
        || matches!(request, Request::Revoke { .. });
    names_lease
        && status.code() == tonic::Code::NotFound
        && status.message() == "etcdserver: requested lease not found"
}

/// Whether a failed write certainly never took effect: etcd refused it before proposing
/// (`InvalidArgument`), or the connection to the member could not even be opened (no byte
/// of the request left this process). Anything else may have been proposed.
fn never_sent(status: &tonic::Status) -> bool {
    if status.code() == tonic::Code::InvalidArgument {
        return true;
    }
    if status.code() != tonic::Code::Unavailable {
        return false;
    }
    let mut text = status.message().to_string();
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        text.push_str(&format!(": {e}"));
        source = e.source();
    }
    text.contains("Connection refused")
}

fn header_revision(h: &Option<etcd_proto::etcdserverpb::ResponseHeader>) -> i64 {
    h.as_ref().map_or(0, |h| h.revision)
}

async fn execute(conn: &mut Member, request: &Request) -> Result<Response, tonic::Status> {
    let kv = &mut conn.kv;
    match request {
        Request::Get { key, consistency } => {
            let r = kv
                .range(RangeRequest {
                    key: key.clone().into_bytes(),
                    serializable: *consistency == ReadConsistency::Serializable,
                    ..Default::default()
                })
                .await?
                .into_inner();
            Ok(Response::Get {
                revision: header_revision(&r.header),
                kv: r.kvs.first().map(to_kv),
            })
        }
        Request::Put { key, value, lease } => {
            let r = kv
                .put(PutRequest {
                    key: key.clone().into_bytes(),
                    value: value.clone().into_bytes(),
                    lease: *lease,
                    ..Default::default()
                })
                .await?
                .into_inner();
            Ok(Response::Put {
                revision: header_revision(&r.header),
            })
        }
        Request::Delete { key } => {
            let r = kv
                .delete_range(DeleteRangeRequest {
                    key: key.clone().into_bytes(),
                    ..Default::default()
                })
                .await?
                .into_inner();
            Ok(Response::Delete {
                revision: header_revision(&r.header),
                deleted: r.deleted,
            })
        }
        Request::CasPut {
            key,
            expected_mod_revision,
            value,
        } => {
            let key = key.clone().into_bytes();
            let r = kv
                .txn(TxnRequest {
                    compare: vec![Compare {
                        result: CompareResult::Equal as i32,
                        target: CompareTarget::Mod as i32,
                        key: key.clone(),
                        target_union: Some(TargetUnion::ModRevision(*expected_mod_revision)),
                        ..Default::default()
                    }],
                    success: vec![RequestOp {
                        request: Some(OpRequest::RequestPut(PutRequest {
                            key: key.clone(),
                            value: value.clone().into_bytes(),
                            ..Default::default()
                        })),
                    }],
                    failure: vec![RequestOp {
                        request: Some(OpRequest::RequestRange(RangeRequest {
                            key,
                            ..Default::default()
                        })),
                    }],
                })
                .await?
                .into_inner();
            let kv = match r.responses.first().and_then(|op| op.response.as_ref()) {
                Some(OpResponse::ResponseRange(range)) => range.kvs.first().map(to_kv),
                _ => None,
            };
            Ok(Response::CasPut {
                revision: header_revision(&r.header),
                succeeded: r.succeeded,
                kv,
            })
        }
        Request::Revoke { lease, .. } => {
            let r = conn
                .lease
                .lease_revoke(LeaseRevokeRequest { id: *lease })
                .await?
                .into_inner();
            Ok(Response::Revoke {
                revision: header_revision(&r.header),
            })
        }
    }
}

/// Compacts every `every` until `deadline`, to 300 revisions below the current revision;
/// returns how many compactions were acknowledged.
pub async fn compactor(
    endpoints: Arc<super::Endpoints>,
    every: Duration,
    deadline: Instant,
) -> usize {
    let mut done = 0;
    let mut last = 0;
    let mut n = 0;
    while Instant::now() + every < deadline {
        tokio::time::sleep(every).await;
        n += 1;
        let mut kv = KvClient::new(endpoints.pick(n));
        let current = tokio::time::timeout(
            Duration::from_secs(1),
            kv.range(RangeRequest {
                key: KEY_PREFIX.as_bytes().to_vec(),
                limit: 1,
                ..Default::default()
            }),
        )
        .await;
        let Ok(Ok(current)) = current else { continue };
        let target = header_revision(&current.into_inner().header) - 300;
        if target <= last {
            continue;
        }
        let r = tokio::time::timeout(
            Duration::from_secs(2),
            kv.compact(CompactionRequest {
                revision: target,
                physical: false,
            }),
        )
        .await;
        if let Ok(Ok(_)) = r {
            done += 1;
            last = target;
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A put to a port nobody listens on is certainly not applied; the classification
    /// relies on the error naming the refused connection.
    #[tokio::test]
    async fn a_refused_connection_is_a_failed_write_not_an_unknown_one() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .expect("url")
            .connect_lazy();
        let mut kv = KvClient::new(channel);
        let status = kv
            .put(PutRequest {
                key: b"k".to_vec(),
                value: b"v".to_vec(),
                ..Default::default()
            })
            .await
            .expect_err("nobody listens");
        assert!(never_sent(&status), "{status:?}");
        assert!(!never_sent(&tonic::Status::unavailable(
            "etcdserver: no leader"
        )));
        assert!(!never_sent(&tonic::Status::deadline_exceeded("timeout")));
    }
}
