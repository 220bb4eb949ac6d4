//! The diagnostic log lines the Go etcdctl writes on stderr: zap JSON lines
//! from clientv3 (e.g. "retrying of unary invoker failed") and capnslog
//! lines from pkg/flags (environment variable warnings).

use std::time::{SystemTime, UNIX_EPOCH};

/// Broken-down UTC time.
struct Utc {
    year: i64,
    month: u32,
    day: u32,
    hour: u64,
    min: u64,
    sec: u64,
    nanos: u32,
}

fn now() -> (u64, u32) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs(), d.subsec_nanos())
}

fn utc_now() -> Utc {
    let (secs, nanos) = now();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Utc {
        year,
        month,
        day,
        hour: rem / 3600,
        min: rem % 3600 / 60,
        sec: rem % 60,
        nanos,
    }
}

/// zap's ISO8601 time, e.g. `2026-11-23T23:58:12.112Z`.
fn iso_ts() -> String {
    let t = utc_now();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year,
        t.month,
        t.day,
        t.hour,
        t.min,
        t.sec,
        t.nanos / 1_000_000
    )
}

/// zap's epoch time as fractional seconds.
fn epoch_ts() -> String {
    let (secs, nanos) = now();
    let f = secs as f64 + f64::from(nanos) / 1e9;
    format!("{f}")
}

/// zap's JSON string escaping.
pub fn zap_string(s: &str) -> String {
    zap_bytes(s.as_bytes())
}

/// zap's JSON string of bytes: each byte that is not UTF-8 becomes the
/// six characters `\ufffd`.
pub fn zap_bytes(s: &[u8]) -> String {
    let mut out = String::from("\"");
    let mut rest = s;
    while !rest.is_empty() {
        let (c, width) = super::gofmt::decode_rune(rest);
        rest = &rest[width..];
        let Some(c) = c else {
            out.push_str("\\ufffd");
            continue;
        };
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The warning clientv3's retry interceptor logs for every failed unary RPC.
pub fn unary_failed(target: &str, attempt: u32, error: &str) -> String {
    format!(
        "{{\"level\":\"warn\",\"ts\":\"{}\",\"caller\":\"clientv3/retry_interceptor.go:62\",\
         \"msg\":\"retrying of unary invoker failed\",\"target\":{},\"attempt\":{attempt},\
         \"error\":{}}}\n",
        iso_ts(),
        zap_string(target),
        zap_string(error)
    )
}

/// An info line of clientv3's maintenance client (ISO timestamps).
pub fn maintenance_info(caller: &str, msg: &str) -> String {
    format!(
        "{{\"level\":\"info\",\"ts\":\"{}\",\"caller\":\"{caller}\",\"msg\":{}}}\n",
        iso_ts(),
        zap_string(msg)
    )
}

/// An info line of the snapshot manager (epoch timestamps); `fields` are
/// pre-encoded `"key":value` pairs.
pub fn snapshot_info(caller: &str, msg: &str, fields: &[String]) -> String {
    let mut line = format!(
        "{{\"level\":\"info\",\"ts\":{},\"caller\":\"{caller}\",\"msg\":{}",
        epoch_ts(),
        zap_string(msg)
    );
    for f in fields {
        line.push(',');
        line.push_str(f);
    }
    line.push_str("}\n");
    line
}

/// A capnslog line, e.g. `2026-11-23 23:57:33.136157 W | pkg/flags: ...`.
pub fn capnslog(level: char, pkg: &str, msg: &str) -> String {
    capnslog_plain(level, &format!("{pkg}: {msg}"))
}

/// A capnslog line without a package (Go's standard `log` through capnslog).
pub fn capnslog_plain(level: char, msg: &str) -> String {
    let t = utc_now();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06} {level} | {msg}\n",
        t.year,
        t.month,
        t.day,
        t.hour,
        t.min,
        t.sec,
        t.nanos / 1000
    )
}

/// A random RFC 4122 version 4 UUID, as grpc-go names client targets.
pub fn uuid4() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut bytes = [0u8; 16];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(now().1 as u64 ^ i as u64);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zap_escapes_invalid_bytes() {
        assert_eq!(zap_bytes(b"a\xff\"\x01"), "\"a\\ufffd\\\"\\u0001\"");
        assert_eq!(zap_bytes("\u{fffd}".as_bytes()), "\"\u{fffd}\"");
    }

    #[test]
    fn shapes() {
        assert_eq!(uuid4().len(), 36);
        assert_eq!(iso_ts().len(), 24);
        let line = unary_failed("t", 0, "rpc error: code = X desc = \"y\"");
        assert!(line.ends_with("\"error\":\"rpc error: code = X desc = \\\"y\\\"\"}\n"));
        assert!(capnslog('W', "pkg/flags", "m").ends_with(" W | pkg/flags: m\n"));
    }
}
