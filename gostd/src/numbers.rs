//! Go's numbers: `strconv` parsing with its exact error texts, `%g` of
//! floats, go-humanize byte sizes.

use crate::strings::quote;

/// strconv's syntax error for a number or bool that cannot parse.
pub fn syntax_error(func: &str, num: &[u8]) -> String {
    format!("strconv.{func}: parsing {}: invalid syntax", quote(num))
}

/// Go's `strconv.ParseInt` of bytes (which need not be UTF-8).
pub fn parse_int_bytes(s: &[u8], base: u32) -> Result<i64, String> {
    match std::str::from_utf8(s) {
        Ok(t) => parse_int(t, base),
        Err(_) => Err(syntax_error("ParseInt", s)),
    }
}

/// Go's `strconv.ParseUint` of bytes (which need not be UTF-8).
pub fn parse_uint_bytes(s: &[u8], base: u32) -> Result<u64, String> {
    match std::str::from_utf8(s) {
        Ok(t) => parse_uint(t, base),
        Err(_) => Err(syntax_error("ParseUint", s)),
    }
}

fn num_error(func: &str, num: &str, range: bool) -> String {
    let what = if range {
        "value out of range"
    } else {
        "invalid syntax"
    };
    format!("strconv.{func}: parsing {}: {what}", quote(num.as_bytes()))
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(num_error("ParseBool", s, false)),
    }
}

fn underscore_ok(s: &str) -> bool {
    let mut b = s.as_bytes();
    if !b.is_empty() && (b[0] == b'-' || b[0] == b'+') {
        b = &b[1..];
    }
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1].eq_ignore_ascii_case(&b'x');
    }
    while i < b.len() {
        let c = b[i];
        let lc = c.to_ascii_lowercase();
        if c.is_ascii_digit() || (hex && (b'a'..=b'f').contains(&lc)) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// Go's `strconv.ParseUint(s, base, 64)`; the error names `func`.
fn parse_uint_inner(s: &str, base: u32, func: &str, num: &str) -> Result<u64, (String, bool)> {
    let syntax = || (num_error(func, num, false), false);
    if s.is_empty() {
        return Err(syntax());
    }
    let base0 = base == 0;
    let mut base = base;
    let mut digits = s.as_bytes();
    if base == 0 {
        base = 10;
        if digits[0] == b'0' {
            let l = digits.len();
            match digits.get(1).map(|c| c.to_ascii_lowercase()) {
                Some(b'b') if l >= 3 => {
                    base = 2;
                    digits = &digits[2..];
                }
                Some(b'o') if l >= 3 => {
                    base = 8;
                    digits = &digits[2..];
                }
                Some(b'x') if l >= 3 => {
                    base = 16;
                    digits = &digits[2..];
                }
                _ => {
                    base = 8;
                    digits = &digits[1..];
                }
            }
        }
    }
    let mut n: u64 = 0;
    let mut underscores = false;
    for &c in digits {
        if c == b'_' && base0 {
            underscores = true;
            continue;
        }
        let d = match c {
            b'0'..=b'9' => (c - b'0') as u32,
            b'a'..=b'z' => (c - b'a') as u32 + 10,
            b'A'..=b'Z' => (c - b'A') as u32 + 10,
            _ => return Err(syntax()),
        };
        if d >= base {
            return Err(syntax());
        }
        let next = n
            .checked_mul(base as u64)
            .and_then(|v| v.checked_add(d as u64));
        match next {
            Some(v) => n = v,
            None => return Err((num_error(func, num, true), true)),
        }
    }
    if underscores && !underscore_ok(s) {
        return Err(syntax());
    }
    Ok(n)
}

/// Go's `strconv.ParseUint(s, base, 64)`.
pub fn parse_uint(s: &str, base: u32) -> Result<u64, String> {
    parse_uint_inner(s, base, "ParseUint", s).map_err(|e| e.0)
}

/// Go's `strconv.ParseInt(s, base, 64)`.
pub fn parse_int(s: &str, base: u32) -> Result<i64, String> {
    if s.is_empty() {
        return Err(num_error("ParseInt", s, false));
    }
    let (neg, body) = match s.as_bytes()[0] {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let un = match parse_uint_inner(body, base, "ParseInt", s) {
        Ok(v) => v,
        Err((e, _)) => return Err(e),
    };
    let cutoff = 1u64 << 63;
    if !neg && un >= cutoff {
        return Err(num_error("ParseInt", s, true));
    }
    if neg && un > cutoff {
        return Err(num_error("ParseInt", s, true));
    }
    Ok(if neg {
        (un as i64).wrapping_neg()
    } else {
        un as i64
    })
}

/// Go's `%g` (and `%v`) of a float64: the shortest representation that
/// round-trips, with an exponent (`1.5e-05`, `1.234567e+06`, at least two
/// exponent digits) when the decimal exponent is below -4 or at least 6.
pub fn format_float(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // `{:e}` gives the shortest round-trip digits as `d.ddde<exp>`.
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        // In this range `{}` prints the same shortest digits without an exponent.
        format!("{x}")
    }
}

/// go-humanize's `Bytes` (SI units).
pub fn humanize_bytes(s: u64) -> String {
    const SIZES: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if s < 10 {
        return format!("{s} B");
    }
    let e = ((s as f64).ln() / 1000f64.ln()).floor();
    let suffix = SIZES[(e as usize).min(SIZES.len() - 1)];
    let val = ((s as f64) / 1000f64.powf(e) * 10.0 + 0.5).floor() / 10.0;
    if val < 10.0 {
        format!("{val:.1} {suffix}")
    } else {
        format!("{val:.0} {suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_as_go_prints_them() {
        assert_eq!(format_float(2.0), "2");
        assert_eq!(format_float(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_float(0.00012345), "0.00012345");
        assert_eq!(format_float(0.000015), "1.5e-05");
        assert_eq!(format_float(123456.0), "123456");
        assert_eq!(format_float(1234567.0), "1.234567e+06");
        assert_eq!(format_float(99.9), "99.9");
        assert_eq!(format_float(0.0), "0");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
        assert_eq!(humanize_bytes(5), "5 B");
        assert_eq!(humanize_bytes(4096), "4.1 kB");
        assert_eq!(humanize_bytes(82_854_982), "83 MB");
    }

    #[test]
    fn parses_ints_like_go() {
        assert_eq!(parse_int("0x10", 0), Ok(16));
        assert_eq!(parse_int("010", 0), Ok(8));
        assert_eq!(parse_int("1_000", 0), Ok(1000));
        assert_eq!(parse_int("-5", 10), Ok(-5));
        assert_eq!(
            parse_int("x", 0),
            Err("strconv.ParseInt: parsing \"x\": invalid syntax".into())
        );
        assert_eq!(
            parse_int("9223372036854775808", 10),
            Err("strconv.ParseInt: parsing \"9223372036854775808\": value out of range".into())
        );
        assert_eq!(parse_int("-9223372036854775808", 10), Ok(i64::MIN));
        assert_eq!(parse_uint("ff", 16), Ok(255));
    }

    #[test]
    fn humanizes_bytes() {
        assert_eq!(humanize_bytes(20480), "20 kB");
        assert_eq!(humanize_bytes(5), "5 B");
        assert_eq!(humanize_bytes(1500), "1.5 kB");
        assert_eq!(humanize_bytes(25_000_000), "25 MB");
    }
}
