//! WAL record decoding from arbitrary bytes, read as a whole segment: every
//! read must terminate, stay in bounds, and classify the rest of the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use etcd_datadir::wal::record::{decode, Decoded};

fuzz_target!(|data: &[u8]| {
    let (mut offset, mut crc) = (0usize, 0u32);
    loop {
        match decode(data, offset, crc) {
            Decoded::Record {
                next,
                crc: c,
                payload,
                ..
            } => {
                assert!(next > offset && next <= data.len() && next % 8 == 0);
                assert!(payload.len() < next - offset);
                (offset, crc) = (next, c);
            }
            Decoded::End => {
                assert!(data[offset.min(data.len())..].iter().all(|&b| b == 0));
                break;
            }
            Decoded::Torn(_) | Decoded::Corrupt(_) => break,
        }
    }
    // Any offset (aligned or not, in range or not) and any predecessor.
    if data.len() >= 6 {
        let at = u16::from_le_bytes([data[0], data[1]]) as usize;
        let prev = u32::from_le_bytes([data[2], data[3], data[4], data[5]]);
        let _ = decode(data, at, prev);
    }
});
