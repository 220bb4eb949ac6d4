//! Record framing: how one WAL record sits in a segment file, and how the
//! bytes at a record boundary are judged when read back.
//!
//! ```text
//! | len: u32 LE | type: u8 | hcheck: 3 bytes | payload (len bytes) | zero pad to 8 |
//! | crc: u32 LE | !len: u32 LE |
//! ```
//!
//! - `hcheck` is the low 24 bits of CRC-32 over `len` and `type`: the length
//!   is trusted only once it is checked, so a flipped length bit is reported
//!   as damage instead of being read as "the record runs past the end of the
//!   file" (which would look like a torn write).
//! - `crc` is CRC-32 (crc32fast) over the previous record's crc, the type and
//!   the payload: a rolling checksum, so a record that is intact on its own
//!   but out of place (spliced from elsewhere) is detected too. The chain
//!   restarts at 0 in every segment.
//! - The trailer repeats the length inverted. `!len` is never zero (a length
//!   is at most [`MAX_PAYLOAD`]), so a written trailer is never all zeros:
//!   a record whose trailer reads as zeros was not finished, while a record
//!   with its trailer in place and a bad checksum was damaged after it was
//!   written. Without that, a payload that happens to end in zeros could not
//!   be told from one whose end never reached the disk.
//!
//! Records start 8-byte aligned and `type` is never 0, so the first 8 bytes
//! of a written record (which never straddle a disk sector) are never all
//! zeros: zeros at a record boundary mean "nothing written here".
//!
//! [`decode`] reads one record and, when there is none, says which of the
//! three shapes the rest of the file has: nothing written ([`Decoded::End`]),
//! what an unfinished final write leaves ([`Decoded::Torn`]), or anything
//! else ([`Decoded::Corrupt`]). Which of those may be repaired is decided by
//! the caller (only the last segment may end torn); the reasoning is in the
//! [`crate::wal`] module documentation.

/// Why a segment in the first WAL format (etcd-rs builds before 2026-12-07,
/// whose headers had no check) is refused, and what to do about it.
pub const OLD_FORMAT: &str = "segment written in an older etcd-rs WAL format: \
back the member up with that version (`etcdctl-rs snapshot save`), then \
`etcdctl-rs snapshot restore` into a new data dir for this version";

/// Bytes before the payload.
pub const HEADER_LEN: usize = 8;

/// Bytes after the padded payload.
pub const TRAILER_LEN: usize = 8;

/// Largest payload written or accepted when reading; anything bigger is
/// corruption. (A record is one raft entry, which the request size limit
/// keeps far below this.)
pub const MAX_PAYLOAD: usize = 256 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordType {
    /// A raft `Entry` (protobuf).
    Entry = 1,
    /// A raft `HardState` (protobuf).
    HardState = 2,
    /// A snapshot mark: the log before it was released (protobuf
    /// `SnapshotMetadata`: index, term, conf state).
    Snapshot = 3,
}

impl RecordType {
    pub fn from_u8(b: u8) -> Option<Self> {
        match b {
            1 => Some(RecordType::Entry),
            2 => Some(RecordType::HardState),
            3 => Some(RecordType::Snapshot),
            _ => None,
        }
    }
}

/// Size of the whole frame of a record with `payload_len` payload bytes.
pub fn frame_len(payload_len: usize) -> usize {
    HEADER_LEN + payload_len.div_ceil(8) * 8 + TRAILER_LEN
}

fn header_check(len: u32, kind: u8) -> [u8; 3] {
    let mut h = crc32fast::Hasher::new();
    h.update(&len.to_le_bytes());
    h.update(&[kind]);
    let c = h.finalize().to_le_bytes();
    [c[0], c[1], c[2]]
}

pub fn checksum(prev: u32, kind: RecordType, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&prev.to_le_bytes());
    h.update(&[kind as u8]);
    h.update(payload);
    h.finalize()
}

/// Appends one framed record to `out`; returns its crc (the next `prev`).
///
/// # Panics
/// If `payload` is longer than [`MAX_PAYLOAD`] (callers check first).
pub fn encode(out: &mut Vec<u8>, prev_crc: u32, kind: RecordType, payload: &[u8]) -> u32 {
    assert!(payload.len() <= MAX_PAYLOAD, "wal record too large");
    let len = payload.len() as u32;
    let crc = checksum(prev_crc, kind, payload);
    let start = out.len();
    out.extend_from_slice(&len.to_le_bytes());
    out.push(kind as u8);
    out.extend_from_slice(&header_check(len, kind as u8));
    out.extend_from_slice(payload);
    out.resize(start + frame_len(payload.len()) - TRAILER_LEN, 0);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    crc
}

/// What reading the record at some offset found. `buf` is taken to be the
/// whole segment file, so "the rest" means up to its end.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A good record, and the offset of the next one.
    Record {
        kind: RecordType,
        payload: &'a [u8],
        crc: u32,
        next: usize,
    },
    /// Nothing written from here on: the rest is zeros (or nothing).
    End,
    /// The rest is what an unfinished final write leaves: the record here
    /// runs past the end of the file, or its trailer was never written and
    /// only zeros follow it.
    Torn(&'static str),
    /// Anything else: damage to data that was written whole.
    Corrupt(&'static str),
}

fn all_zero(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads the record at `offset` of `buf`, given the previous record's crc.
/// Never allocates; a length is used only once the header check vouches
/// for it and it fits in what is left of `buf`.
pub fn decode(buf: &[u8], offset: usize, prev_crc: u32) -> Decoded<'_> {
    let rest = &buf[offset.min(buf.len())..];
    if all_zero(rest) {
        return Decoded::End;
    }
    if rest.len() < HEADER_LEN {
        // Only the end of a write that grew the file can stop mid-header.
        return Decoded::Torn("file ends inside a record header");
    }
    let header = &rest[..HEADER_LEN];
    if all_zero(header) {
        return Decoded::Corrupt("zeroed region followed by data");
    }
    let len = u32_at(header, 0);
    if header[5..8] != header_check(len, header[4]) {
        if offset == 0 && header[5..8] == [0, 0, 0] && RecordType::from_u8(header[4]).is_some() {
            // The first WAL format had zeros where the check now is.
            return Decoded::Corrupt(OLD_FORMAT);
        }
        return Decoded::Corrupt("record header fails its check");
    }
    let Some(kind) = RecordType::from_u8(header[4]) else {
        return Decoded::Corrupt("unknown record type");
    };
    let len = len as usize;
    if len > MAX_PAYLOAD {
        return Decoded::Corrupt("record length out of range");
    }
    let total = frame_len(len);
    if rest.len() < total {
        return Decoded::Torn("record runs past the end of the file");
    }
    let trailer = &rest[total - TRAILER_LEN..total];
    if all_zero(trailer) {
        return if all_zero(&rest[total..]) {
            Decoded::Torn("final record was not finished")
        } else {
            Decoded::Corrupt("zeroed region followed by data")
        };
    }
    if u32_at(trailer, 4) != !(len as u32) {
        return Decoded::Corrupt("record trailer does not match its header");
    }
    if !all_zero(&rest[HEADER_LEN + len..total - TRAILER_LEN]) {
        return Decoded::Corrupt("record padding is not zeros");
    }
    let payload = &rest[HEADER_LEN..HEADER_LEN + len];
    let crc = u32_at(trailer, 0);
    if checksum(prev_crc, kind, payload) != crc {
        return Decoded::Corrupt("checksum mismatch");
    }
    Decoded::Record {
        kind,
        payload,
        crc,
        next: offset + total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three records and the preallocated zeros behind them.
    fn three() -> (Vec<u8>, [usize; 3]) {
        let mut buf = Vec::new();
        let c1 = encode(&mut buf, 0, RecordType::Entry, b"first record");
        let second = buf.len();
        let c2 = encode(&mut buf, c1, RecordType::HardState, &[7; 40]);
        let third = buf.len();
        encode(&mut buf, c2, RecordType::Entry, b"third");
        buf.resize(buf.len() + 256, 0);
        (buf, [0, second, third])
    }

    /// Reads records until something else; returns what stopped the read
    /// and where.
    fn read_all(buf: &[u8]) -> (usize, usize, Decoded<'_>) {
        let (mut offset, mut crc, mut n) = (0, 0, 0);
        loop {
            match decode(buf, offset, crc) {
                Decoded::Record { crc: c, next, .. } => {
                    (offset, crc, n) = (next, c, n + 1);
                }
                other => return (n, offset, other),
            }
        }
    }

    #[test]
    fn round_trip_and_chain() {
        let mut buf = Vec::new();
        let c1 = encode(&mut buf, 0, RecordType::Entry, b"hello");
        let c2 = encode(&mut buf, c1, RecordType::HardState, b"");
        assert_eq!(buf.len() % 8, 0);
        let Decoded::Record {
            payload, next, crc, ..
        } = decode(&buf, 0, 0)
        else {
            panic!("first record")
        };
        assert_eq!((payload, crc), (&b"hello"[..], c1));
        let Decoded::Record {
            kind,
            payload,
            next: n2,
            ..
        } = decode(&buf, next, c1)
        else {
            panic!("second record")
        };
        assert_eq!((kind, payload), (RecordType::HardState, &b""[..]));
        assert_eq!(decode(&buf, n2, c2), Decoded::End);
        // The second record read with the wrong predecessor fails.
        assert_eq!(decode(&buf, next, 0), Decoded::Corrupt("checksum mismatch"));
    }

    #[test]
    fn every_single_bit_flip_in_written_data_is_corruption() {
        let (clean, _) = three();
        let written = clean.len() - 256;
        for byte in 0..written {
            for bit in 0..8 {
                let mut buf = clean.clone();
                buf[byte] ^= 1 << bit;
                let (_, at, end) = read_all(&buf);
                assert!(
                    matches!(end, Decoded::Corrupt(_)),
                    "flip at {byte}.{bit}: {end:?} at {at}"
                );
            }
        }
    }

    #[test]
    fn unfinished_final_record_is_torn() {
        let (clean, [_, _, third]) = three();
        let written = clean.len() - 256;
        // Every cut of the last record after its header (zeros from there
        // on, as in a preallocated file) and every shortened file. A disk
        // writes whole sectors, so an 8-aligned header or trailer is
        // either there or not.
        for cut in (third + HEADER_LEN..written).step_by(8) {
            let mut zeroed = clean.clone();
            zeroed[cut..].fill(0);
            assert_eq!(read_all(&zeroed).0, 2, "zeroed from {cut}");
            assert!(matches!(read_all(&zeroed).2, Decoded::Torn(_)), "{cut}");
            assert_eq!(read_all(&zeroed).1, third);
        }
        for cut in third + 1..written {
            let short = &clean[..cut];
            assert!(matches!(read_all(short).2, Decoded::Torn(_)), "{cut}");
            assert_eq!(read_all(short).1, third);
        }
        // Cut exactly at a boundary: a clean end.
        let mut zeroed = clean.clone();
        zeroed[third..].fill(0);
        assert_eq!(read_all(&zeroed).2, Decoded::End);
    }

    #[test]
    fn zeroed_region_followed_by_data_is_corruption() {
        let (clean, [_, second, third]) = three();
        // The whole middle record, its header only, its trailer only.
        for (from, to) in [(second, third), (second, second + 8), (third - 8, third)] {
            let mut buf = clean.clone();
            buf[from..to].fill(0);
            let (n, at, end) = read_all(&buf);
            assert_eq!(n, 1, "{from}..{to}");
            assert_eq!(at, second);
            assert_eq!(end, Decoded::Corrupt("zeroed region followed by data"));
        }
    }

    #[test]
    fn lengths_are_checked_before_use() {
        let mut buf = Vec::new();
        encode(&mut buf, 0, RecordType::Entry, b"x");
        // A huge length with a matching header check is out of range,
        // without touching (or allocating) that much.
        let len = u32::MAX;
        buf[..4].copy_from_slice(&len.to_le_bytes());
        buf[5..8].copy_from_slice(&header_check(len, 1));
        assert_eq!(
            decode(&buf, 0, 0),
            Decoded::Corrupt("record length out of range")
        );
        // Offsets past the end are an empty rest.
        assert_eq!(decode(&buf, 1 << 40, 0), Decoded::End);
    }
}
