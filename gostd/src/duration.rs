//! Go's `time.Duration`: `time.ParseDuration` with its error texts, and
//! `Duration.String`.

use crate::strings::quote;

const NS: u64 = 1;
const US: u64 = 1_000;
const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

/// Go's `time.ParseDuration`, in nanoseconds.
pub fn parse_duration(orig: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", quote(orig.as_bytes()));
    let mut s = orig.as_bytes();
    let mut neg = false;
    if let Some(&c) = s.first() {
        if c == b'-' || c == b'+' {
            neg = c == b'-';
            s = &s[1..];
        }
    }
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let mut v: u64 = 0;
        let mut i = 0;
        while i < s.len() && s[i].is_ascii_digit() {
            if v > (1u64 << 63) / 10 {
                return Err(invalid());
            }
            v = v * 10 + (s[i] - b'0') as u64;
            if v > 1u64 << 63 {
                return Err(invalid());
            }
            i += 1;
        }
        let pre = i > 0;
        s = &s[i..];
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if s.first() == Some(&b'.') {
            s = &s[1..];
            let mut j = 0;
            let mut overflow = false;
            while j < s.len() && s[j].is_ascii_digit() {
                if !overflow {
                    if f > ((1u64 << 63) - 1) / 10 {
                        overflow = true;
                    } else {
                        let y = f * 10 + (s[j] - b'0') as u64;
                        if y > 1u64 << 63 {
                            overflow = true;
                        } else {
                            f = y;
                            scale *= 10.0;
                        }
                    }
                }
                j += 1;
            }
            post = j > 0;
            s = &s[j..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        let mut k = 0;
        while k < s.len() && !(s[k] == b'.' || s[k].is_ascii_digit()) {
            k += 1;
        }
        if k == 0 {
            return Err(format!(
                "time: missing unit in duration {}",
                quote(orig.as_bytes())
            ));
        }
        let unit_str = &s[..k];
        s = &s[k..];
        let unit = match unit_str {
            b"ns" => NS,
            b"us" => US,
            b"\xc2\xb5s" | b"\xce\xbcs" => US,
            b"ms" => MS,
            b"s" => SEC,
            b"m" => 60 * SEC,
            b"h" => 3600 * SEC,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    quote(unit_str),
                    quote(orig.as_bytes())
                ))
            }
        };
        if v > (1u64 << 63) / unit {
            return Err(invalid());
        }
        v *= unit;
        if f > 0 {
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > 1u64 << 63 {
                return Err(invalid());
            }
        }
        d += v;
        if d > 1u64 << 63 {
            return Err(invalid());
        }
    }
    if neg {
        return Ok((d as i64).wrapping_neg());
    }
    if d > (1u64 << 63) - 1 {
        return Err(invalid());
    }
    Ok(d as i64)
}

/// A Go duration flag as a [`std::time::Duration`]: Go's syntax and error
/// texts, and a negative duration refused.
pub fn parse_std_duration(s: &str) -> Result<std::time::Duration, String> {
    let nanos = parse_duration(s)?;
    u64::try_from(nanos)
        .map(std::time::Duration::from_nanos)
        .map_err(|_| format!("negative duration {}", quote(s.as_bytes())))
}

/// Formats `v / 10^prec` as Go's `fmtFrac` does: `.123` without trailing
/// zeros, nothing when the fraction is zero. Returns (fraction, integer).
fn frac(v: u64, prec: u32) -> (String, u64) {
    let p = 10u64.pow(prec);
    let digits = v % p;
    if digits == 0 {
        return (String::new(), v / p);
    }
    let s = format!("{:0width$}", digits, width = prec as usize);
    (format!(".{}", s.trim_end_matches('0')), v / p)
}

/// Go's `time.Duration.String`.
pub fn format_duration(nanos: i64) -> String {
    let neg = nanos < 0;
    let u = nanos.unsigned_abs();
    let body = if u < SEC {
        let (prec, unit) = match u {
            0 => return "0s".to_string(),
            u if u < US => (0, "ns"),
            u if u < MS => (3, "µs"),
            _ => (6, "ms"),
        };
        let (f, int) = frac(u, prec);
        format!("{int}{f}{unit}")
    } else {
        let (f, secs) = frac(u, 9);
        let mut out = format!("{}{f}s", secs % 60);
        let mins = secs / 60;
        if mins > 0 {
            out = format!("{}m{out}", mins % 60);
            let hours = mins / 60;
            if hours > 0 {
                out = format!("{hours}h{out}");
            }
        }
        out
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_go_prints_them() {
        assert_eq!(format_duration(6_926_243_517), "6.926243517s");
        assert_eq!(format_duration(61_000_000_000), "1m1s");
        assert_eq!(format_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(format_duration(1_500_000), "1.5ms");
        assert_eq!(format_duration(350_123), "350.123µs");
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(999), "999ns");
        assert_eq!(format_duration(750_000), "750µs");
        assert_eq!(format_duration(2_345_000), "2.345ms");
        assert_eq!(format_duration(3_661_500_000_000), "1h1m1.5s");
    }

    #[test]
    fn std_durations_refuse_negative_ones() {
        use std::time::Duration;
        assert_eq!(parse_std_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_std_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_std_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_std_duration("-1s").is_err());
        assert!(parse_std_duration("5").is_err());
    }

    #[test]
    fn durations_round_trip() {
        assert_eq!(parse_duration("5s"), Ok(5 * SEC as i64));
        assert_eq!(parse_duration("1m30.5s"), Ok(90_500_000_000));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(
            parse_duration("x"),
            Err("time: invalid duration \"x\"".into())
        );
        assert_eq!(
            parse_duration("5"),
            Err("time: missing unit in duration \"5\"".into())
        );
        assert_eq!(
            parse_duration("5y"),
            Err("time: unknown unit \"y\" in duration \"5y\"".into())
        );
        assert_eq!(format_duration(1_397_823), "1.397823ms");
        assert_eq!(format_duration(5 * SEC as i64), "5s");
        assert_eq!(format_duration(90_500_000_000), "1m30.5s");
        assert_eq!(format_duration(1500), "1.5µs");
        assert_eq!(format_duration(0), "0s");
    }
}
