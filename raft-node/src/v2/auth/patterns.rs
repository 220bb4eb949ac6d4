//! v2 path patterns as v3 permissions on the emulated keys, and back.

use std::collections::{BTreeMap, BTreeSet};

use etcd_proto::authpb::permission::Type as PermType;
use etcd_proto::authpb::Permission;

use crate::v2::node::NODE_PREFIX;

use super::roles::{PermissionsJson, ReadWrite};

/// The v3 range of a v2 path pattern (`*` at the end: a prefix).
pub fn pattern_range(pattern: &str) -> (Vec<u8>, Vec<u8>) {
    let mut key = NODE_PREFIX.to_vec();
    match pattern.strip_suffix('*') {
        Some(prefix) => {
            key.extend_from_slice(prefix.as_bytes());
            let end = prefix_end(&key);
            (key, end)
        }
        None => {
            key.extend_from_slice(pattern.as_bytes());
            (key, Vec::new())
        }
    }
}

pub(super) fn prefix_end(key: &[u8]) -> Vec<u8> {
    let mut end = key.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// The v2 pattern of a v3 permission range, if it has one.
pub fn range_pattern(key: &[u8], range_end: &[u8]) -> Option<String> {
    let rest = std::str::from_utf8(key.strip_prefix(NODE_PREFIX)?).ok()?;
    if range_end.is_empty() {
        return (!rest.is_empty()).then(|| rest.to_string());
    }
    (range_end == prefix_end(key).as_slice()).then(|| format!("{rest}*"))
}

/// v2 read and write patterns, sorted.
#[derive(Default, Clone, PartialEq, Debug)]
pub(super) struct Patterns {
    pub(super) read: BTreeSet<String>,
    pub(super) write: BTreeSet<String>,
}

impl Patterns {
    pub(super) fn of_v3(perms: &[Permission]) -> Patterns {
        let mut out = Patterns::default();
        for p in perms {
            let Some(pat) = range_pattern(&p.key, &p.range_end) else {
                continue;
            };
            let t = p.perm_type;
            if t == PermType::Read as i32 || t == PermType::Readwrite as i32 {
                out.read.insert(pat.clone());
            }
            if t == PermType::Write as i32 || t == PermType::Readwrite as i32 {
                out.write.insert(pat);
            }
        }
        out
    }

    pub(super) fn of_json(p: &PermissionsJson) -> Patterns {
        Patterns {
            read: p.kv.read.iter().flatten().cloned().collect(),
            write: p.kv.write.iter().flatten().cloned().collect(),
        }
    }

    pub(super) fn json(&self) -> PermissionsJson {
        let list = |s: &BTreeSet<String>| (!s.is_empty()).then(|| s.iter().cloned().collect());
        PermissionsJson {
            kv: ReadWrite {
                read: list(&self.read),
                write: list(&self.write),
            },
        }
    }

    /// The v3 permission type of each pattern.
    pub(super) fn v3(&self) -> BTreeMap<String, PermType> {
        let mut out = BTreeMap::new();
        for p in &self.read {
            out.insert(p.clone(), PermType::Read);
        }
        for p in &self.write {
            let t = if self.read.contains(p) {
                PermType::Readwrite
            } else {
                PermType::Write
            };
            out.insert(p.clone(), t);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn patterns_map_to_v3_ranges_and_back() {
        let (k, e) = pattern_range("/foo");
        assert_eq!(k, b"\x00v2/foo");
        assert!(e.is_empty());
        assert_eq!(range_pattern(&k, &e).as_deref(), Some("/foo"));
        let (k, e) = pattern_range("/foo/*");
        assert_eq!(k, b"\x00v2/foo/");
        assert_eq!(e, b"\x00v2/foo0");
        assert_eq!(range_pattern(&k, &e).as_deref(), Some("/foo/*"));
        let (k, e) = pattern_range("/*");
        assert_eq!(range_pattern(&k, &e).as_deref(), Some("/*"));
        assert_eq!(range_pattern(b"plain", b""), None);
        assert_eq!(range_pattern(b"\x00v2/a", b"\x00v2/c"), None);
    }

    #[test]
    pub(super) fn read_and_write_on_one_pattern_is_readwrite() {
        let p = Patterns {
            read: ["/a".into(), "/b*".into()].into(),
            write: ["/a".into(), "/c".into()].into(),
        };
        let v3 = p.v3();
        assert_eq!(v3["/a"], PermType::Readwrite);
        assert_eq!(v3["/b*"], PermType::Read);
        assert_eq!(v3["/c"], PermType::Write);
        let perms: Vec<Permission> = v3
            .iter()
            .map(|(pat, t)| {
                let (key, range_end) = pattern_range(pat);
                Permission {
                    perm_type: *t as i32,
                    key,
                    range_end,
                }
            })
            .collect();
        assert_eq!(Patterns::of_v3(&perms), p);
    }
}
