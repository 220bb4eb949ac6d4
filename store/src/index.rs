//! The in-memory key index: key -> [`KeyIndex`], ordered by key.
//!
//! Every range read starts here: it finds which keys exist at the requested
//! revision and which row holds each one's value. The index is not persisted;
//! [`crate::Store::open`] rebuilds it by scanning the revision rows once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;

use crate::key_index::{KeyAt, KeyIndex};
use crate::revision::Revision;

/// Lower and upper bound of a key range, for `BTreeMap::range`.
type KeyBounds<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

/// A key range as etcd spells it: `end` empty means just `key`; `end == [0]`
/// means every key `>= key`; otherwise the half-open range `[key, end)`.
#[derive(Clone, Copy, Debug)]
pub struct KeyRange<'a> {
    pub key: &'a [u8],
    pub end: &'a [u8],
}

impl<'a> KeyRange<'a> {
    pub fn new(key: &'a [u8], end: &'a [u8]) -> Self {
        KeyRange { key, end }
    }

    /// True if this range names a single key.
    pub fn is_single(&self) -> bool {
        self.end.is_empty()
    }

    /// True if `k` falls in the range.
    pub fn contains(&self, k: &[u8]) -> bool {
        if self.end.is_empty() {
            return k == self.key;
        }
        if k < self.key {
            return false;
        }
        self.end == [0] || k < self.end
    }

    fn bounds(&self) -> Option<KeyBounds<'a>> {
        if self.end.is_empty() {
            return Some((Bound::Included(self.key), Bound::Included(self.key)));
        }
        if self.end == [0] {
            return Some((Bound::Included(self.key), Bound::Unbounded));
        }
        if self.end <= self.key {
            return None;
        }
        Some((Bound::Included(self.key), Bound::Excluded(self.end)))
    }
}

/// Builds an index from the revision rows, read in revision order at
/// start. Rows come in revision order, not key order, so each lands on a
/// hashed key; the ordered map is built once at the end from sorted keys
/// (linear), instead of a million ordered inserts with their key
/// comparisons.
#[derive(Default)]
pub struct IndexBuilder {
    keys: HashMap<Box<[u8]>, KeyIndex>,
}

impl IndexBuilder {
    /// Replays a row read back from disk: a put on a live key, or the first
    /// surviving row of a generation (whose creation may be compacted away).
    pub fn restore_or_put(&mut self, key: &[u8], rev: Revision, created_main: i64, version: i64) {
        let ki = match self.keys.get_mut(key) {
            Some(ki) => ki,
            None => self.keys.entry(key.into()).or_default(),
        };
        if ki.is_live() {
            ki.put(rev);
        } else {
            ki.restore(Revision::new(created_main, 0), rev, version);
        }
    }

    /// Replays a tombstone row; false if the key was not live.
    pub fn tombstone(&mut self, key: &[u8], rev: Revision) -> bool {
        self.keys.get_mut(key).is_some_and(|ki| ki.tombstone(rev))
    }

    pub fn finish(self) -> TreeIndex {
        TreeIndex {
            keys: self.keys.into_iter().collect(),
        }
    }
}

/// All keys the store has ever held (until compacted away), ordered by key.
#[derive(Clone, Debug, Default)]
pub struct TreeIndex {
    keys: BTreeMap<Box<[u8]>, KeyIndex>,
}

impl TreeIndex {
    pub fn put(&mut self, key: &[u8], rev: Revision) {
        self.keys.entry(key.into()).or_default().put(rev);
    }

    /// Marks `key` deleted at `rev`; false if it was not live.
    pub fn tombstone(&mut self, key: &[u8], rev: Revision) -> bool {
        self.keys.get_mut(key).is_some_and(|ki| ki.tombstone(rev))
    }

    pub fn get(&self, key: &[u8], at: i64) -> Option<KeyAt> {
        self.keys.get(key).and_then(|ki| ki.get(at))
    }

    /// Keys live at revision `at` within `range`, ascending by key.
    pub fn range<'s>(
        &'s self,
        range: KeyRange<'s>,
        at: i64,
    ) -> impl Iterator<Item = (&'s [u8], KeyAt)> + 's {
        let bounds = range.bounds();
        bounds
            .into_iter()
            .flat_map(move |b| self.keys.range::<[u8], _>(b))
            .filter_map(move |(k, ki)| ki.get(at).map(|at| (&k[..], at)))
    }

    /// Keys live at the newest revision within `range`, with their histories.
    pub fn live_in(&self, range: KeyRange<'_>) -> Vec<Vec<u8>> {
        let Some(b) = range.bounds() else {
            return Vec::new();
        };
        self.keys
            .range::<[u8], _>(b)
            .filter(|(_, ki)| ki.is_live())
            .map(|(k, _)| k.to_vec())
            .collect()
    }

    /// Compacts every key at `at`; returns the revisions whose rows must stay.
    pub fn compact(&mut self, at: i64) -> HashSet<Revision> {
        let mut keep = HashSet::new();
        self.keys.retain(|_, ki| {
            ki.compact(at, &mut keep);
            !ki.is_empty()
        });
        keep
    }

    /// Number of keys with any history left.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_forms() {
        let mut idx = TreeIndex::default();
        for (i, k) in ["a", "ab", "b", "c"].iter().enumerate() {
            idx.put(k.as_bytes(), Revision::new(i as i64 + 2, 0));
        }
        let keys = |key: &[u8], end: &[u8]| -> Vec<String> {
            idx.range(KeyRange::new(key, end), 100)
                .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
                .collect()
        };
        assert_eq!(keys(b"a", b""), ["a"]);
        assert_eq!(keys(b"a", b"b"), ["a", "ab"]);
        assert_eq!(keys(b"ab", b"\0"), ["ab", "b", "c"]);
        assert_eq!(keys(b"\0", b"\0"), ["a", "ab", "b", "c"]);
        assert!(keys(b"c", b"a").is_empty());
        assert_eq!(idx.range(KeyRange::new(b"a", b"\0"), 3).count(), 2);
    }
}
