//! Revisions: the logical clock of the MVCC store.
//!
//! Every write request (a put, a delete that deletes something, or a txn with
//! at least one write) takes the next *main* revision; the individual changes
//! inside it are numbered by *sub* revision. A fresh store is at main
//! revision 1 with no keys, exactly as etcd.
//!
//! On disk a revision is the row key of the `kv` keyspace: main and sub as
//! big-endian u64s, so byte order equals revision order and a scan by byte
//! range is a scan by time. A trailing `t` marks a tombstone (a deletion).

use std::fmt;

/// Length of an encoded revision without the tombstone mark.
pub const REV_BYTES: usize = 16;
const TOMBSTONE_MARK: u8 = b't';

/// A point in the store's history: `main` orders write requests, `sub` orders
/// the changes within one request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision {
    pub main: i64,
    pub sub: i64,
}

impl Revision {
    pub const fn new(main: i64, sub: i64) -> Self {
        Revision { main, sub }
    }

    /// Row key of this revision, with the tombstone mark when `tombstone`.
    pub fn to_bytes(self, tombstone: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(REV_BYTES + 1);
        out.extend_from_slice(&(self.main as u64).to_be_bytes());
        out.extend_from_slice(&(self.sub as u64).to_be_bytes());
        if tombstone {
            out.push(TOMBSTONE_MARK);
        }
        out
    }

    /// Decodes a row key; returns the revision and whether it is a tombstone.
    pub fn from_bytes(bytes: &[u8]) -> Option<(Revision, bool)> {
        if bytes.len() != REV_BYTES && bytes.len() != REV_BYTES + 1 {
            return None;
        }
        let main = u64::from_be_bytes(bytes[0..8].try_into().ok()?) as i64;
        let sub = u64::from_be_bytes(bytes[8..16].try_into().ok()?) as i64;
        let tombstone = match bytes.get(REV_BYTES) {
            None => false,
            Some(&TOMBSTONE_MARK) => true,
            Some(_) => return None,
        };
        Some((Revision { main, sub }, tombstone))
    }

    /// The smallest row key of main revision `main` (sub 0, no mark).
    pub fn main_start(main: i64) -> Vec<u8> {
        Revision::new(main, 0).to_bytes(false)
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.main, self.sub)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_order_is_revision_order() {
        let revs = [
            Revision::new(1, 0),
            Revision::new(1, 1),
            Revision::new(2, 0),
            Revision::new(256, 3),
            Revision::new(1 << 40, 0),
        ];
        for pair in revs.windows(2) {
            assert!(pair[0].to_bytes(false) < pair[1].to_bytes(false));
            assert!(pair[0].to_bytes(true) < pair[1].to_bytes(false));
        }
    }

    #[test]
    fn round_trip_with_and_without_tombstone() {
        for t in [false, true] {
            let r = Revision::new(42, 7);
            assert_eq!(Revision::from_bytes(&r.to_bytes(t)), Some((r, t)));
        }
        assert_eq!(Revision::from_bytes(b"short"), None);
        let mut bad = Revision::new(1, 1).to_bytes(false);
        bad.push(b'x');
        assert_eq!(Revision::from_bytes(&bad), None);
    }
}
