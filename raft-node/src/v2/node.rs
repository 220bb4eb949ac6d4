//! How a v2 node lives in the v3 keyspace, and how it is shown.
//!
//! Layout (documented in the module essay of `v2`): the node at v2 path
//! `/a/b` is the v3 key `\0v2/a/b`; every v3 key starting with the bytes
//! `\0v2` belongs to the v2 emulation (`\0v2!event` records what each v2
//! write did, for watchers). A v3 client is very unlikely to use keys that
//! begin with a NUL byte, and the range `[\0v2, \0v3)` isolates them.
//!
//! The v3 value of a node is `kind(1) created(8) expires(8) value`: kind is
//! `d` (directory marker) or `f` (file); `created` is the node's v2
//! createdIndex, or 0 for "the revision that wrote this row" (v2's `set`
//! makes a new node even over an old one, so its createdIndex is the write's
//! own index, which is unknown until the write commits); `expires` is the
//! expiry time in Unix nanoseconds (0: permanent). The expiry itself is
//! carried out by the v3 lease the row is attached to.

use std::time::{SystemTime, UNIX_EPOCH};

use etcd_proto::mvccpb::KeyValue;
use serde::Serialize;

/// Every node key starts with this.
pub const NODE_PREFIX: &[u8] = b"\x00v2";
/// Each v2 write also puts this key: `action\npath\nflags`.
pub const EVENT_KEY: &[u8] = b"\x00v2!event";

/// The v3 key of a v2 path (already clean, starting with `/`).
pub fn v3_key(path: &str) -> Vec<u8> {
    let mut k = NODE_PREFIX.to_vec();
    k.extend_from_slice(path.as_bytes());
    k
}

/// The v2 path of a v3 key, if it is a node key.
pub fn path_of(key: &[u8]) -> Option<String> {
    let rest = key.strip_prefix(NODE_PREFIX)?;
    if !rest.starts_with(b"/") {
        return None;
    }
    String::from_utf8(rest.to_vec()).ok()
}

/// The v3 range `[start, end)` holding every descendant of `path`.
pub fn descendants(path: &str) -> (Vec<u8>, Vec<u8>) {
    let mut start = v3_key(path.trim_end_matches('/'));
    start.push(b'/');
    let mut end = start.clone();
    *end.last_mut().expect("not empty") += 1;
    (start, end)
}

/// The parent of a clean path (`/` for top-level nodes).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The ancestors of a clean path, outermost first, excluding `/` and the
/// path itself.
pub fn ancestors(path: &str) -> Vec<&str> {
    path.match_indices('/')
        .skip(1)
        .map(|(i, _)| &path[..i])
        .collect()
}

/// Whether a node name is hidden (starts with `_`).
pub fn is_hidden_name(path: &str) -> bool {
    path.rsplit('/').next().is_some_and(|n| n.starts_with('_'))
}

/// Cleans a key as etcd does: rooted at `/`, no empty, `.` or `..` segments.
pub fn clean(raw: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in raw.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// A decoded node.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub path: String,
    pub dir: bool,
    pub value: String,
    pub created: i64,
    pub modified: i64,
    /// Expiry in Unix nanoseconds, 0 when permanent.
    pub expires: i64,
    pub lease: i64,
    /// The row's v3 mod revision (what a write's compare pins); differs
    /// from `modified` for a directory whose TTL was updated.
    pub revision: i64,
}

/// Encodes a node row (see the module essay).
pub fn encode(dir: bool, created: i64, expires: i64, value: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(17 + value.len());
    v.push(if dir { b'd' } else { b'f' });
    v.extend_from_slice(&created.to_be_bytes());
    v.extend_from_slice(&expires.to_be_bytes());
    v.extend_from_slice(value.as_bytes());
    v
}

/// Encodes a directory row updated in place: etcd's v2 store keeps a
/// directory's modifiedIndex when its TTL changes, so the row remembers it
/// (a directory has no value, so it goes where a value would).
pub fn encode_kept_dir(created: i64, expires: i64, modified: i64) -> Vec<u8> {
    let mut v = encode(true, created, expires, "");
    v.extend_from_slice(&modified.to_be_bytes());
    v
}

impl Node {
    /// Decodes a v3 row; `None` for keys outside the v2 layout.
    pub fn from_kv(kv: &KeyValue) -> Option<Node> {
        let path = path_of(&kv.key)?;
        let v = &kv.value;
        if v.len() < 17 {
            return None;
        }
        let dir = v[0] == b'd';
        let created = i64::from_be_bytes(v[1..9].try_into().ok()?);
        let expires = i64::from_be_bytes(v[9..17].try_into().ok()?);
        let kept = match v.get(17..25) {
            Some(m) if dir => i64::from_be_bytes(m.try_into().ok()?),
            _ => 0,
        };
        Some(Node {
            path,
            dir,
            value: if dir {
                String::new()
            } else {
                String::from_utf8_lossy(&v[17..]).into_owned()
            },
            created: if created == 0 {
                kv.mod_revision
            } else {
                created
            },
            modified: if kept != 0 { kept } else { kv.mod_revision },
            expires,
            lease: kv.lease,
            revision: kv.mod_revision,
        })
    }

    /// The node as shown, without children.
    pub fn json(&self, now: i64) -> NodeJson {
        let (expiration, ttl) = expiration_and_ttl(self.expires, now);
        NodeJson {
            key: (self.path != "/").then(|| self.path.clone()),
            value: (!self.dir).then(|| self.value.clone()),
            dir: self.dir,
            expiration,
            ttl,
            nodes: None,
            modified_index: self.modified,
            created_index: self.created,
        }
    }
}

/// v2's `expiration` (RFC 3339, UTC) and `ttl` (seconds left, rounded up).
pub fn expiration_and_ttl(expires: i64, now: i64) -> (Option<String>, i64) {
    if expires == 0 {
        return (None, 0);
    }
    let left = expires - now;
    let mut ttl = left / 1_000_000_000;
    if left % 1_000_000_000 > 0 {
        ttl += 1;
    }
    (Some(rfc3339_nano(expires)), ttl)
}

/// Now in Unix nanoseconds.
pub fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Unix nanoseconds as Go's RFC3339Nano in UTC: the `time` crate's RFC 3339
/// writes the fraction with its trailing zeros dropped, as Go does.
pub fn rfc3339_nano(ns: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// A node as etcd's v2 JSON shows it (field order as etcd).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct NodeJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub dir: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub ttl: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<NodeJson>>,
    #[serde(rename = "modifiedIndex", skip_serializing_if = "is_zero")]
    pub modified_index: i64,
    #[serde(rename = "createdIndex", skip_serializing_if = "is_zero")]
    pub created_index: i64,
}

/// A v2 event: `{"action","node","prevNode"}`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct EventJson {
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeJson>,
    #[serde(rename = "prevNode", skip_serializing_if = "Option::is_none")]
    pub prev_node: Option<NodeJson>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(clean("a//b/./c/"), "/a/b/c");
        assert_eq!(clean("/../x"), "/x");
        assert_eq!(clean(""), "/");
        assert_eq!(ancestors("/a/b/c"), vec!["/a", "/a/b"]);
        assert!(ancestors("/a").is_empty());
        assert_eq!(parent("/a/b"), "/a");
        assert_eq!(parent("/a"), "/");
        let (s, e) = descendants("/");
        assert_eq!(
            (s.as_slice(), e.as_slice()),
            (&b"\x00v2/"[..], &b"\x00v20"[..])
        );
        assert_eq!(path_of(&v3_key("/a")).as_deref(), Some("/a"));
        assert_eq!(path_of(EVENT_KEY), None);
        assert!(is_hidden_name("/a/_b"));
    }

    #[test]
    fn time_format_matches_go() {
        assert_eq!(rfc3339_nano(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_nano(1_795_917_646_171_302_123),
            "2026-11-29T02:00:46.171302123Z"
        );
        assert_eq!(
            rfc3339_nano(951_782_400_500_000_000),
            "2000-02-29T00:00:00.5Z"
        );
    }

    #[test]
    fn ttl_rounds_up() {
        assert_eq!(expiration_and_ttl(0, 5).1, 0);
        assert_eq!(expiration_and_ttl(10_500_000_000, 0).1, 11);
        assert_eq!(expiration_and_ttl(10_000_000_000, 0).1, 10);
    }

    #[test]
    fn rows_round_trip() {
        let kv = KeyValue {
            key: v3_key("/a"),
            value: encode(false, 0, 7, "x"),
            mod_revision: 9,
            ..Default::default()
        };
        let n = Node::from_kv(&kv).expect("node");
        assert_eq!(
            (n.created, n.modified, n.expires, n.value.as_str()),
            (9, 9, 7, "x")
        );
        let kv = KeyValue {
            key: v3_key("/d"),
            value: encode_kept_dir(3, 7, 5),
            mod_revision: 9,
            ..Default::default()
        };
        let n = Node::from_kv(&kv).expect("dir");
        assert_eq!(
            (n.dir, n.created, n.modified, n.revision, n.value.as_str()),
            (true, 3, 5, 9, "")
        );
    }
}
