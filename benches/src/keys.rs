//! Keys, values and random numbers of the workloads, laid out as etcd's.
//!
//! etcd's benchmark writes key number `i` as Go's `binary.PutVarint(k, i)`
//! into a zeroed buffer of `--key-size` bytes: a zigzag varint followed by
//! zero padding. [`key`] does the same, so both tools touch the same keys
//! and a server sees the same key shapes. Values are `--val-size` random
//! bytes. A small seeded generator picks keys and fills values, so runs are
//! repeatable and the harness needs no random-number dependency.

/// Bytes the zigzag varint of `n` takes (what Go's `PutVarint` writes).
pub fn varint_len(n: u64) -> usize {
    let mut zigzag = n << 1;
    let mut len = 1;
    while zigzag >= 0x80 {
        zigzag >>= 7;
        len += 1;
    }
    len
}

/// Key number `index`: its zigzag varint, zero-padded to `key_size` bytes.
///
/// `key_size` must be at least `varint_len(index)` (checked by the config);
/// a shorter buffer gets a truncated varint rather than a panic.
pub fn key(index: u64, key_size: usize) -> Vec<u8> {
    let mut out = vec![0u8; key_size];
    let mut zigzag = index << 1;
    for slot in out.iter_mut() {
        let byte = (zigzag & 0x7f) as u8;
        zigzag >>= 7;
        if zigzag == 0 {
            *slot = byte;
            break;
        }
        *slot = byte | 0x80;
    }
    out
}

/// SplitMix64: a tiny, fast, seedable generator; good enough to spread
/// requests over keys and fill values (not for anything cryptographic).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A generator for client `id` of a run seeded with `seed`: distinct
    /// clients draw distinct sequences.
    pub fn for_client(seed: u64, id: usize) -> Rng {
        Rng(seed ^ (id as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0). The modulo bias is negligible for key
    /// spaces far below 2^64.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `n` random bytes (etcd's `mustRandBytes`).
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(n);
        out
    }
}
