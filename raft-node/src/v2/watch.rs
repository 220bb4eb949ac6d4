//! `wait=true`: the first v2 event at or after `waitIndex` (or after the
//! current index) on a key, or below it when `recursive`.
//!
//! Events come from the store's history ([`etcd_store::Store::events_since`],
//! the same source as v3 watches). Each revision that a v2 write made holds
//! the `\0v2!event` row naming the action and path; a revision that only
//! deleted v2 rows is a lease expiry (`expire`, on the shortest path it
//! deleted). Refreshes are not reported, as in etcd. The response headers
//! go out at once; the body follows when the event happens. With
//! `stream=true` every matching event follows, one JSON line each, until
//! the client goes away.

use std::sync::Arc;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use etcd_proto::mvccpb::event::EventType;
use etcd_store::RevisionEvents;

use super::error::{self as e, V2Error};
use super::node::{self, path_of, EventJson, Node, NodeJson, EVENT_KEY};
use super::{json_line, Stat, V2};

/// Revisions read per step of catching up.
const BATCH: usize = 1000;

/// A v2 event recovered from one revision.
#[derive(Debug, Clone, PartialEq)]
pub struct V2Event {
    pub event: EventJson,
    pub path: String,
    /// The node before the event was a directory.
    pub prev_dir: bool,
    pub refresh: bool,
}

/// The v2 event a revision holds, if any.
pub fn v2_event(revision: &RevisionEvents, now: i64) -> Option<V2Event> {
    let meta = revision.events.iter().find_map(|ev| {
        let kv = ev.kv.as_ref()?;
        (ev.r#type == EventType::Put as i32 && kv.key == EVENT_KEY).then_some(kv)
    });
    let (action, path, refresh) = match meta {
        Some(kv) => {
            let text = String::from_utf8_lossy(&kv.value).into_owned();
            let mut parts = text.splitn(3, '\n');
            let action = parts.next()?.to_string();
            let path = parts.next()?.to_string();
            let refresh = parts.next() == Some("refresh");
            (action, path, refresh)
        }
        None => {
            // No v2 write here: deleted v2 rows mean a lease expired.
            let path = revision
                .events
                .iter()
                .filter(|ev| ev.r#type == EventType::Delete as i32)
                .filter_map(|ev| ev.kv.as_ref().and_then(|kv| path_of(&kv.key)))
                .min_by_key(|p| p.len())?;
            ("expire".to_string(), path, false)
        }
    };
    let key = node::v3_key(&path);
    let ev = revision
        .events
        .iter()
        .find(|ev| ev.kv.as_ref().is_some_and(|kv| kv.key == key))?;
    let prev = ev.prev_kv.as_ref().and_then(Node::from_kv);
    let prev_dir = prev.as_ref().is_some_and(|p| p.dir);
    let node_json = if ev.r#type == EventType::Put as i32 {
        let n = Node::from_kv(ev.kv.as_ref()?)?;
        // The event's node shows the event's index, even for a directory
        // that keeps its own (a TTL update).
        let mut j = n.json(now);
        j.modified_index = revision.revision;
        j
    } else {
        NodeJson {
            key: Some(path.clone()),
            value: None,
            dir: prev_dir && action != "expire",
            expiration: None,
            ttl: 0,
            nodes: None,
            modified_index: revision.revision,
            created_index: prev.as_ref().map_or(0, |p| p.created),
        }
    };
    let prev_json = prev.as_ref().map(|p| {
        let mut j = p.json(now);
        if action == "expire" {
            j.ttl = 0;
        }
        j
    });
    // v2 reports no previous node for a create.
    let prev_json = if action == "create" { None } else { prev_json };
    Some(V2Event {
        event: EventJson {
            action,
            node: Some(node_json),
            prev_node: prev_json,
        },
        path,
        prev_dir,
        refresh,
    })
}

/// Whether a watcher on `watched` wants an event on `ev.path`.
pub fn matches(ev: &V2Event, watched: &str, recursive: bool) -> bool {
    if ev.refresh {
        return false;
    }
    if ev.path == watched {
        return true;
    }
    if recursive {
        let prefix = if watched == "/" {
            "/".to_string()
        } else {
            format!("{watched}/")
        };
        if let Some(rest) = ev.path.strip_prefix(&prefix) {
            if !rest.split('/').any(|seg| seg.starts_with('_')) {
                return true;
            }
        }
    }
    let deleted = matches!(ev.event.action.as_str(), "delete" | "expire");
    deleted && ev.prev_dir && watched.starts_with(&ev.path)
}

/// Scans revisions `from..` for a matching event; returns it or the next
/// revision to look at.
fn scan(
    v2: &V2,
    path: &str,
    recursive: bool,
    mut from: i64,
) -> Result<Result<EventJson, i64>, i64> {
    loop {
        let batch = match v2.server.events_since(from, BATCH) {
            Ok(batch) => batch,
            Err(etcd_store::HistoryError::Compacted(rev)) => return Err(rev),
            Err(e) => {
                // Nothing to wait for that could be read: end the wait as
                // a cleared index rather than retrying forever.
                tracing::error!(error = %e, "v2 watch cannot read the event history");
                return Err(v2.server.compacted_revision().max(from));
            }
        };
        let Some(last) = batch.last().map(|r| r.revision) else {
            return Ok(Err(from));
        };
        let now = node::now_nanos();
        for rev in &batch {
            if let Some(ev) = v2_event(rev, now) {
                if matches(&ev, path, recursive) {
                    return Ok(Ok(ev.event));
                }
            }
        }
        from = last + 1;
    }
}

pub async fn wait(
    v2: Arc<V2>,
    path: String,
    recursive: bool,
    wait_index: u64,
    stream: bool,
) -> Response {
    let revisions = v2.server.revisions();
    let current = v2.server.current_revision();
    let since = if wait_index == 0 {
        current + 1
    } else {
        wait_index.min(i64::MAX as u64) as i64
    };
    let cleared = move |compacted: i64| {
        V2Error::new(
            e::EVENT_INDEX_CLEARED,
            format!("the requested history has been cleared [{compacted}/{since}]"),
            current,
        )
    };
    // The first event is looked for before answering: a cleared history is
    // an error status, and an event already there answers at once.
    let next = match scan(&v2, &path, recursive, since) {
        Err(compacted) => return v2.error_response(&cleared(compacted)),
        Ok(Ok(event)) if !stream => {
            return v2.keys_response(StatusCode::OK, current, Body::from(json_line(&event)));
        }
        Ok(Ok(event)) => Found::Event(Box::new(event), since),
        Ok(Err(next)) => Found::Nothing(next),
    };
    let watcher = Watcher {
        v2: v2.clone(),
        path,
        recursive,
        revisions,
        _count: WatcherCount::new(v2.clone()),
    };
    let lines = futures::stream::unfold(
        (watcher, Some(next), false),
        move |(mut w, next, done)| async move {
            if done {
                return None;
            }
            let line = match next? {
                Found::Event(event, at) => {
                    // Continue after the event's revision.
                    let after = event_revision(&event).map_or(at + 1, |r| r + 1);
                    (json_line(&*event), Some(Found::Nothing(after)))
                }
                Found::Nothing(from) => match w.next_event(from).await {
                    Ok((event, after)) => (json_line(&event), Some(Found::Nothing(after))),
                    Err(Some(compacted)) => (cleared(compacted).body(), None),
                    Err(None) => return None,
                },
            };
            let (text, next) = line;
            // Without `stream`, the first event ends the response.
            let finished = !stream || next.is_none();
            Some((
                Ok::<_, std::io::Error>(text),
                (w, if finished { None } else { next }, finished),
            ))
        },
    );
    v2.keys_response(StatusCode::OK, current, Body::from_stream(lines))
}

/// Where a wait stands: an event found at a revision, or the next revision
/// to look at.
enum Found {
    Event(Box<EventJson>, i64),
    Nothing(i64),
}

fn event_revision(event: &EventJson) -> Option<i64> {
    event.node.as_ref().map(|n| n.modified_index)
}

/// One open wait: follows new revisions for the next matching event.
struct Watcher {
    v2: Arc<V2>,
    path: String,
    recursive: bool,
    revisions: tokio::sync::watch::Receiver<i64>,
    _count: WatcherCount,
}

impl Watcher {
    /// The next matching event at or after revision `from`, with the
    /// revision to continue from; `Err(Some(rev))` if history below `rev`
    /// was compacted away, `Err(None)` if the server stopped.
    async fn next_event(&mut self, mut from: i64) -> Result<(EventJson, i64), Option<i64>> {
        loop {
            match scan(&self.v2, &self.path, self.recursive, from) {
                Ok(Ok(event)) => {
                    let after = event_revision(&event).map_or(from + 1, |r| r + 1);
                    return Ok((event, after));
                }
                Ok(Err(n)) => from = n,
                Err(compacted) => return Err(Some(compacted)),
            }
            if self.revisions.changed().await.is_err() {
                return Err(None);
            }
        }
    }
}

/// Keeps `/v2/stats/store`'s watcher count while a wait is open.
struct WatcherCount(Arc<V2>);

impl WatcherCount {
    fn new(v2: Arc<V2>) -> Self {
        v2.stats.inc(Stat::Watchers);
        WatcherCount(v2)
    }
}

impl Drop for WatcherCount {
    fn drop(&mut self) {
        self.0.stats.dec(Stat::Watchers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_proto::mvccpb::{Event, KeyValue};

    fn put(key: &[u8], value: Vec<u8>, rev: i64) -> Event {
        Event {
            r#type: EventType::Put as i32,
            kv: Some(KeyValue {
                key: key.to_vec(),
                value,
                mod_revision: rev,
                create_revision: rev,
                ..Default::default()
            }),
            prev_kv: None,
        }
    }

    #[test]
    fn events_from_revisions() {
        let rev = RevisionEvents {
            revision: 5,
            events: vec![
                put(&node::v3_key("/d"), node::encode(true, 0, 0, ""), 5),
                put(&node::v3_key("/d/x"), node::encode(false, 0, 0, "1"), 5),
                put(EVENT_KEY, b"set\n/d/x\n".to_vec(), 5),
            ],
        };
        let ev = v2_event(&rev, 0).expect("event");
        assert_eq!(ev.event.action, "set");
        assert_eq!(ev.path, "/d/x");
        assert!(matches(&ev, "/d/x", false));
        assert!(matches(&ev, "/d", true));
        assert!(!matches(&ev, "/d", false));
        assert!(matches(&ev, "/", true));

        let expiry = RevisionEvents {
            revision: 6,
            events: vec![Event {
                r#type: EventType::Delete as i32,
                kv: Some(KeyValue {
                    key: node::v3_key("/d"),
                    mod_revision: 6,
                    ..Default::default()
                }),
                prev_kv: Some(KeyValue {
                    key: node::v3_key("/d"),
                    value: node::encode(true, 0, 10, ""),
                    mod_revision: 5,
                    ..Default::default()
                }),
            }],
        };
        let ev = v2_event(&expiry, 0).expect("expire event");
        assert_eq!(ev.event.action, "expire");
        assert!(
            matches(&ev, "/d/x", false),
            "a watcher below an expired dir"
        );
        let other = RevisionEvents {
            revision: 7,
            events: vec![put(b"plain-v3", b"x".to_vec(), 7)],
        };
        assert!(v2_event(&other, 0).is_none());
    }

    #[test]
    fn hidden_nodes_skip_recursive_watchers() {
        let rev = RevisionEvents {
            revision: 3,
            events: vec![
                put(&node::v3_key("/_h"), node::encode(false, 0, 0, "1"), 3),
                put(EVENT_KEY, b"set\n/_h\n".to_vec(), 3),
            ],
        };
        let ev = v2_event(&rev, 0).expect("event");
        assert!(!matches(&ev, "/", true));
        assert!(matches(&ev, "/_h", false));
    }
}
