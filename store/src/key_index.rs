//! The history of one key: etcd's `keyIndex`.
//!
//! A key lives through *generations*: a generation starts with the put that
//! creates the key and ends with the tombstone that deletes it; the next put
//! starts a new generation, so `version` restarts at 1 and `create_revision`
//! is the new put's revision. The index keeps only revisions; values live in
//! the backend rows named by those revisions.
//!
//! Compaction at revision `at` keeps, per key, the newest revision `<= at`
//! unless it is a tombstone (then the whole generation goes), plus everything
//! newer. The rules mirror etcd's so that revision arithmetic, versions and
//! compaction results are the same.

use std::collections::HashSet;

use crate::revision::Revision;

/// One life of a key, from creation to (optionally) its tombstone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Generation {
    /// Number of puts in this generation (the tombstone counts too once written).
    pub ver: i64,
    /// Revision of the put that created the key in this generation.
    pub created: Revision,
    /// Every revision of the key in this generation, ascending.
    pub revs: Vec<Revision>,
}

impl Generation {
    fn is_empty(&self) -> bool {
        self.revs.is_empty()
    }

    /// Appends a revision. Most keys are written once or a few times, and
    /// an index of a million keys is mostly these small vectors: grow them
    /// one slot at a time while they are short instead of by Vec's minimum
    /// of four (64 bytes where 16 do).
    fn push(&mut self, rev: Revision) {
        push_compact(&mut self.revs, rev);
    }

    /// Index of the newest revision with `main <= at`, if any.
    fn newest_at_or_before(&self, at: i64) -> Option<usize> {
        self.revs.iter().rposition(|r| r.main <= at)
    }
}

/// Revisions of one key across its generations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyIndex {
    /// Latest revision that touched the key (put or tombstone).
    pub modified: Revision,
    /// Generations, oldest first; the last one is the current (maybe empty) one.
    pub generations: Vec<Generation>,
}

/// The state of a key at some revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyAt {
    /// Revision of the row that holds the value.
    pub modified: Revision,
    /// Revision that created the key in its generation.
    pub created: Revision,
    /// Number of puts since creation, at that point.
    pub version: i64,
}

/// Pushes onto a vector that is usually short: exact growth up to four
/// elements, Vec's doubling after that.
fn push_compact<T>(v: &mut Vec<T>, item: T) {
    if v.len() == v.capacity() && v.len() < 4 {
        v.reserve_exact(1);
    }
    v.push(item);
}

impl Default for KeyIndex {
    fn default() -> Self {
        KeyIndex {
            modified: Revision::default(),
            generations: vec![Generation::default()],
        }
    }
}

impl KeyIndex {
    /// Records a put at `rev`. Revisions must grow; the store guarantees it.
    pub fn put(&mut self, rev: Revision) {
        assert!(
            rev > self.modified,
            "put revision {rev} not after last modification {}",
            self.modified
        );
        if self.generations.is_empty() {
            push_compact(&mut self.generations, Generation::default());
        }
        let g = self
            .generations
            .last_mut()
            .expect("at least one generation");
        if g.revs.is_empty() {
            g.created = rev;
        }
        g.push(rev);
        g.ver += 1;
        self.modified = rev;
    }

    /// Starts the current generation from a row read back from disk, whose
    /// older rows may have been compacted away: `created` and `version` come
    /// from the row itself rather than from counting puts.
    pub fn restore(&mut self, created: Revision, modified: Revision, version: i64) {
        let g = self
            .generations
            .last_mut()
            .expect("at least one generation");
        debug_assert!(g.revs.is_empty(), "restore into a non-empty generation");
        g.created = created;
        g.ver = version;
        g.push(modified);
        self.modified = modified;
    }

    /// Records a deletion at `rev` and opens a fresh generation.
    /// Returns false (and changes nothing) if the key is not live.
    pub fn tombstone(&mut self, rev: Revision) -> bool {
        match self.generations.last() {
            Some(g) if !g.is_empty() => {}
            _ => return false,
        }
        self.put(rev);
        push_compact(&mut self.generations, Generation::default());
        true
    }

    /// True when the key has no revisions left at all.
    pub fn is_empty(&self) -> bool {
        self.generations.len() == 1 && self.generations[0].is_empty()
    }

    /// True when the key exists (is not deleted) at the newest revision.
    pub fn is_live(&self) -> bool {
        self.generations.last().is_some_and(|g| !g.is_empty())
    }

    fn find_generation(&self, at: i64) -> Option<&Generation> {
        let last = self.generations.len().checked_sub(1)?;
        for (i, g) in self.generations.iter().enumerate().rev() {
            if g.is_empty() {
                continue;
            }
            if i != last {
                let tomb = g.revs[g.revs.len() - 1].main;
                if tomb <= at {
                    return None;
                }
            }
            if g.revs[0].main <= at {
                return Some(g);
            }
        }
        None
    }

    /// The key as it was at revision `at`, or `None` if it did not exist then.
    pub fn get(&self, at: i64) -> Option<KeyAt> {
        let g = self.find_generation(at)?;
        let n = g.newest_at_or_before(at)?;
        Some(KeyAt {
            modified: g.revs[n],
            created: g.created,
            version: g.ver - (g.revs.len() - n - 1) as i64,
        })
    }

    /// Compacts history at `at`: drops what no read at `>= at` can need and
    /// adds the revisions that must stay to `keep`.
    pub fn compact(&mut self, at: i64, keep: &mut HashSet<Revision>) {
        if self.is_empty() {
            return;
        }
        let mut gen_idx = 0;
        while gen_idx + 1 < self.generations.len() {
            let g = &self.generations[gen_idx];
            let tomb = g.revs[g.revs.len() - 1].main;
            if tomb > at {
                break;
            }
            gen_idx += 1;
        }
        let last = self.generations.len() - 1;
        let g = &mut self.generations[gen_idx];
        let rev_idx = g.newest_at_or_before(at);
        if let Some(i) = rev_idx {
            keep.insert(g.revs[i]);
        }
        if !g.is_empty() {
            if let Some(i) = rev_idx {
                g.revs.drain(..i);
            }
            if g.revs.len() == 1 && gen_idx != last {
                keep.remove(&g.revs[0]);
                gen_idx += 1;
            }
        }
        self.generations.drain(..gen_idx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(main: i64) -> Revision {
        Revision::new(main, 0)
    }

    /// put@2 put@4 del@6 put@8 put@10: the life of a key across two generations.
    fn sample() -> KeyIndex {
        let mut ki = KeyIndex::default();
        ki.put(rev(2));
        ki.put(rev(4));
        assert!(ki.tombstone(rev(6)));
        ki.put(rev(8));
        ki.put(rev(10));
        ki
    }

    #[test]
    fn get_follows_generations() {
        let ki = sample();
        assert_eq!(ki.get(1), None);
        let at3 = ki.get(3).expect("live at 3");
        assert_eq!(
            (at3.modified, at3.created, at3.version),
            (rev(2), rev(2), 1)
        );
        let at5 = ki.get(5).expect("live at 5");
        assert_eq!((at5.modified, at5.version), (rev(4), 2));
        assert_eq!(ki.get(6), None, "tombstoned at 6");
        assert_eq!(ki.get(7), None);
        let at9 = ki.get(9).expect("recreated");
        assert_eq!(
            (at9.modified, at9.created, at9.version),
            (rev(8), rev(8), 1)
        );
        assert_eq!(ki.get(100).map(|k| k.version), Some(2));
    }

    #[test]
    fn tombstone_of_dead_key_is_refused() {
        let mut ki = KeyIndex::default();
        assert!(!ki.tombstone(rev(1)));
        ki.put(rev(2));
        assert!(ki.tombstone(rev(3)));
        assert!(!ki.tombstone(rev(4)));
    }

    #[test]
    fn compaction_keeps_newest_live_revision() {
        let mut ki = sample();
        let mut keep = HashSet::new();
        ki.compact(5, &mut keep);
        assert_eq!(keep, HashSet::from([rev(4)]));
        assert_eq!(ki.get(5).map(|k| k.modified), Some(rev(4)));
        assert_eq!(ki.get(9).map(|k| k.version), Some(1));
    }

    #[test]
    fn compaction_past_tombstone_drops_generation() {
        let mut ki = sample();
        let mut keep = HashSet::new();
        ki.compact(7, &mut keep);
        assert!(keep.is_empty());
        assert_eq!(ki.generations.len(), 1);
        assert_eq!(ki.get(10).map(|k| k.created), Some(rev(8)));
    }

    #[test]
    fn compaction_of_deleted_key_empties_it() {
        let mut ki = KeyIndex::default();
        ki.put(rev(2));
        ki.tombstone(rev(3));
        let mut keep = HashSet::new();
        ki.compact(3, &mut keep);
        assert!(keep.is_empty());
        assert!(ki.is_empty());
    }

    #[test]
    fn short_histories_take_exactly_their_size() {
        let mut ki = KeyIndex::default();
        ki.put(rev(2));
        assert_eq!(ki.generations[0].revs.capacity(), 1);
        ki.put(rev(3));
        assert_eq!(ki.generations[0].revs.capacity(), 2);
        assert!(ki.tombstone(rev(4)));
        assert_eq!(ki.generations.capacity(), 2);
        for main in 5..20 {
            ki.put(rev(main));
        }
        assert_eq!(ki.generations[1].revs.len(), 15);
    }
}
