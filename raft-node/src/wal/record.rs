//! Record framing: how one WAL record sits in a segment file.
//!
//! ```text
//! | len: u32 LE | type: u8 | 0 0 0 | crc: u32 LE | payload (len bytes) | zero pad to 8 |
//! ```
//!
//! `crc` is CRC-32 (crc32fast) over the previous record's crc, the type and
//! the payload: a rolling checksum, so a record that is intact on its own but
//! out of place (spliced from elsewhere) is detected too. The chain restarts
//! at 0 in every segment. Records start 8-byte aligned; a length of zero is
//! never written, so a zero header means "end of written data".

/// Bytes before the payload.
pub const HEADER_LEN: usize = 12;

/// Largest payload accepted when reading; anything bigger is corruption.
pub const MAX_PAYLOAD: usize = 512 * 1024 * 1024;

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

pub fn padded_len(payload_len: usize) -> usize {
    (HEADER_LEN + payload_len).div_ceil(8) * 8
}

pub fn checksum(prev: u32, kind: RecordType, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&prev.to_le_bytes());
    h.update(&[kind as u8]);
    h.update(payload);
    h.finalize()
}

/// Appends one framed record to `out`; returns its crc (the next `prev`).
pub fn encode(out: &mut Vec<u8>, prev_crc: u32, kind: RecordType, payload: &[u8]) -> u32 {
    let crc = checksum(prev_crc, kind, payload);
    let start = out.len();
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.push(kind as u8);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(payload);
    out.resize(start + padded_len(payload.len()), 0);
    crc
}

/// What reading the record at some offset found.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A good record, and the offset of the next one.
    Record {
        kind: RecordType,
        payload: &'a [u8],
        crc: u32,
        next: usize,
    },
    /// Nothing written here: end of data (zeros or end of file).
    End,
    /// The record here is cut short or fails its checksum.
    Bad(&'static str),
}

/// Reads the record at `offset` of `buf`, given the previous record's crc.
pub fn decode(buf: &[u8], offset: usize, prev_crc: u32) -> Decoded<'_> {
    let rest = &buf[offset.min(buf.len())..];
    if rest.len() < HEADER_LEN {
        return if rest.iter().all(|&b| b == 0) {
            Decoded::End
        } else {
            Decoded::Bad("truncated record header")
        };
    }
    let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
    if len == 0 && rest[..HEADER_LEN].iter().all(|&b| b == 0) {
        return Decoded::End;
    }
    let Some(kind) = RecordType::from_u8(rest[4]) else {
        return Decoded::Bad("unknown record type");
    };
    if len > MAX_PAYLOAD {
        return Decoded::Bad("record length out of range");
    }
    let total = padded_len(len);
    if rest.len() < total {
        return Decoded::Bad("truncated record");
    }
    let crc = u32::from_le_bytes(rest[8..12].try_into().expect("4 bytes"));
    let payload = &rest[HEADER_LEN..HEADER_LEN + len];
    if checksum(prev_crc, kind, payload) != crc {
        return Decoded::Bad("checksum mismatch");
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
        let Decoded::Record { kind, next: n2, .. } = decode(&buf, next, c1) else {
            panic!("second record")
        };
        assert_eq!(kind, RecordType::HardState);
        assert_eq!(decode(&buf, n2, c2), Decoded::End);
        // The second record read with the wrong predecessor fails.
        assert_eq!(decode(&buf, next, 0), Decoded::Bad("checksum mismatch"));
    }

    #[test]
    fn flipped_bit_and_truncation_are_bad() {
        let mut buf = Vec::new();
        encode(&mut buf, 0, RecordType::Entry, b"payload!");
        let mut flipped = buf.clone();
        flipped[HEADER_LEN + 2] ^= 1;
        assert_eq!(decode(&flipped, 0, 0), Decoded::Bad("checksum mismatch"));
        assert_eq!(
            decode(&buf[..buf.len() - 3], 0, 0),
            Decoded::Bad("truncated record")
        );
    }
}
