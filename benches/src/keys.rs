//! Keys, values and random numbers of the workloads.
//!
//! Keys are the key index in zero-padded decimal, exactly `--key-size` bytes
//! long, so every key of the key space is distinct, has the requested size
//! and sorts in index order. A small seeded generator picks keys, so runs are
//! repeatable and the harness needs no random-number dependency.

/// Number of decimal digits of `n` (1 for 0).
pub fn digits(mut n: u64) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}

/// Key number `index`, zero-padded to `key_size` bytes.
///
/// `key_size` must be at least `digits(index)` (checked by the config).
pub fn key(index: u64, key_size: usize) -> Vec<u8> {
    format!("{index:0>key_size$}").into_bytes()
}

/// A value of `val_size` bytes. If there is room, the first 8 bytes carry
/// `seq` (little endian) so a watcher can tell which put produced an event.
pub fn value(seq: u64, val_size: usize) -> Vec<u8> {
    let mut v = vec![b'v'; val_size];
    if val_size >= 8 {
        v[..8].copy_from_slice(&seq.to_le_bytes());
    }
    v
}

/// The sequence number stored by [`value`], if the value is long enough.
pub fn value_seq(value: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = value.get(..8)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// SplitMix64: a tiny, fast, seedable generator; good enough to spread
/// requests over keys (not for anything cryptographic).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
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
}
