//! Watchers that record what they receive, for the watch validators.
//!
//! A watcher watches the run's key prefix from revision 1. When its stream breaks (its
//! member was killed or frozen), the record of that stream is closed and a new watch starts
//! on the next member from the revision after the last event received, as a client resuming
//! a watch does; each stream is one [`WatchRecord`], validated on its own. At the end the
//! watcher asks for a progress notification until one covers the final revision, which
//! makes "every event up to the final revision was delivered" checkable.
//!
//! The run compacts while watchers run: a watch that resumes below the compacted revision C
//! is cancelled with `compact_revision` C (the events it missed are gone, which etcd
//! allows), and the watcher resumes from C + 1 in a new record, so the reliability check
//! starts again from there.

use std::time::{Duration, Instant};

use etcd_proto::etcdserverpb::watch_client::WatchClient;
use etcd_proto::etcdserverpb::watch_request::RequestUnion;
use etcd_proto::etcdserverpb::{WatchCreateRequest, WatchProgressRequest, WatchRequest};
use etcd_proto::mvccpb::event::EventType as PbEventType;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use super::traffic::KEY_PREFIX;
use crate::kvlog::EventType;
use crate::watch::{WatchEvent, WatchRecord, WatchResponse};

/// `prefix` -> the smallest key greater than every key with the prefix.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

/// Watches until `finish` carries the final revision and a progress notification covers it
/// (or `give_up` passes). `channels` are tried in turn when a stream breaks.
/// Returns the records, and the server errors that ended streams (other than unavailability,
/// which faults cause), for the report.
pub async fn run_watcher(
    endpoints: std::sync::Arc<super::Endpoints>,
    first: usize,
    mut finish: watch::Receiver<Option<i64>>,
    give_up: Instant,
    max_streams: usize,
) -> (Vec<WatchRecord>, Vec<String>) {
    let mut records = Vec::new();
    let mut errors = Vec::new();
    let mut next_rev = 1;
    for attempt in 0..max_streams {
        if Instant::now() >= give_up {
            break;
        }
        let channel = endpoints.pick(first + attempt);
        let mut record = WatchRecord {
            prefix: KEY_PREFIX.into(),
            start_revision: next_rev,
            responses: Vec::new(),
        };
        let end = stream_once(channel, &mut record, &mut finish, give_up).await;
        if let Some(last) = record
            .responses
            .iter()
            .filter_map(|r| match r {
                WatchResponse::Events { events, .. } => events.last().map(|e| e.revision),
                WatchResponse::Progress { .. } => None,
            })
            .next_back()
        {
            next_rev = last + 1;
        }
        if !record.responses.is_empty() {
            records.push(record);
        }
        match end {
            End::Done => break,
            End::Compacted(c) => next_rev = next_rev.max(c + 1),
            End::Broken => {}
            End::Error(e) => errors.push(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (records, errors)
}

/// How a watch stream ended.
enum End {
    /// A progress notification covered the final revision.
    Done,
    Broken,
    /// Cancelled: the start revision was compacted at this revision.
    Compacted(i64),
    /// The server ended the stream with an error other than unavailability.
    Error(String),
}

/// One watch stream.
async fn stream_once(
    channel: Channel,
    record: &mut WatchRecord,
    finish: &mut watch::Receiver<Option<i64>>,
    give_up: Instant,
) -> End {
    let (tx, rx) = mpsc::channel(4);
    let create = WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
            key: KEY_PREFIX.as_bytes().to_vec(),
            range_end: prefix_end(KEY_PREFIX),
            start_revision: record.start_revision,
            ..Default::default()
        })),
    };
    if tx.send(create).await.is_err() {
        return End::Broken;
    }
    let mut client = WatchClient::new(channel);
    let opened = tokio::time::timeout(
        Duration::from_secs(2),
        client.watch(ReceiverStream::new(rx)),
    )
    .await;
    let Ok(Ok(resp)) = opened else {
        return End::Broken;
    };
    let mut inbound = resp.into_inner();
    let mut progress_tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        let final_rev = *finish.borrow();
        tokio::select! {
            msg = inbound.message() => {
                let msg = match msg {
                    Ok(Some(m)) => m,
                    Ok(None) => return End::Broken,
                    Err(s) if matches!(
                        s.code(),
                        tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
                    ) => return End::Broken,
                    Err(s) => {
                        return End::Error(format!(
                            "watch from revision {} ended: {:?} {}",
                            record.start_revision,
                            s.code(),
                            s.message()
                        ))
                    }
                };
                if msg.canceled {
                    return if msg.compact_revision > 0 {
                        End::Compacted(msg.compact_revision)
                    } else {
                        End::Broken
                    };
                }
                if msg.created {
                    continue;
                }
                let header_revision = msg.header.as_ref().map_or(0, |h| h.revision);
                if msg.events.is_empty() {
                    record.responses.push(WatchResponse::Progress { revision: header_revision });
                    if final_rev.is_some_and(|f| header_revision >= f) {
                        return End::Done;
                    }
                } else {
                    let events = msg.events.iter().filter_map(|e| {
                        let kv = e.kv.as_ref()?;
                        Some(WatchEvent {
                            kind: if e.r#type == PbEventType::Delete as i32 { EventType::Delete } else { EventType::Put },
                            key: String::from_utf8_lossy(&kv.key).into_owned(),
                            value: String::from_utf8_lossy(&kv.value).into_owned(),
                            revision: kv.mod_revision,
                            create_revision: kv.create_revision,
                            version: kv.version,
                        })
                    }).collect();
                    record.responses.push(WatchResponse::Events { header_revision, events });
                }
            }
            _ = progress_tick.tick(), if final_rev.is_some() => {
                let req = WatchRequest {
                    request_union: Some(RequestUnion::ProgressRequest(WatchProgressRequest {})),
                };
                if tx.send(req).await.is_err() { return End::Broken; }
            }
            _ = finish.changed(), if final_rev.is_none() => {}
            _ = tokio::time::sleep_until(give_up.into()) => return End::Broken,
        }
    }
}
