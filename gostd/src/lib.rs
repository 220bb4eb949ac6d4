//! Go standard-library behaviour that etcd's tools print and parse:
//! `strconv` quoting and number parsing (with Go's exact error texts),
//! `time.Duration` parsing and printing, `%g` of floats, and go-humanize
//! byte sizes.
//!
//! Written by hand because what matters is Go's exact output and error
//! texts, byte for byte (etcdctl's output, etcd's flags and the v2 stats),
//! and no crate reproduces them: `humantime` and the like parse and print
//! durations in formats of their own. Shared by the server (flags, v2
//! stats), etcdctl-rs and the benchmark harness, so there is one parser and
//! one formatter of each.

/// Go's `unicode.IsPrint`, approximated for the characters a key or URL
/// realistically contains.
fn is_print(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return (0x20..0x7f).contains(&u);
    }
    if c.is_control() || (c.is_whitespace() && c != ' ') {
        return false;
    }
    !matches!(u,
        0xad | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x206f | 0xfeff
        | 0xe000..=0xf8ff | 0xfff9..=0xfffb | 0xfffe | 0xffff | 0xf0000..=0x10ffff)
}

/// Go's `strconv.Quote` applied to raw bytes (what `%q` prints).
pub fn quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    let mut rest = bytes;
    while !rest.is_empty() {
        let (c, width) = decode_rune(rest);
        match c {
            None => {
                out.push_str(&format!("\\x{:02x}", rest[0]));
            }
            Some(c) => push_quoted_char(&mut out, c),
        }
        rest = &rest[width..];
    }
    out.push('"');
    out
}

/// What Go's `%#q` prints: a back-quoted string when `strconv.CanBackquote`
/// allows, else [`quote`].
pub fn quote_sharp(bytes: &[u8]) -> String {
    let mut rest = bytes;
    let mut can = true;
    while !rest.is_empty() {
        let (c, width) = decode_rune(rest);
        rest = &rest[width..];
        match c {
            None | Some('\u{feff}' | '`' | '\u{7f}') => can = false,
            Some(c) if c < ' ' && c != '\t' => can = false,
            Some(_) => {}
        }
    }
    if can {
        format!("`{}`", String::from_utf8_lossy(bytes))
    } else {
        quote(bytes)
    }
}

/// Go's `strconv.QuoteRune` (what `%q` prints for an integer).
pub fn quote_rune(c: char) -> String {
    let mut out = String::from('\'');
    match c {
        '\'' => out.push_str("\\'"),
        '"' => out.push('"'),
        c => push_quoted_char(&mut out, c),
    }
    out.push('\'');
    out
}

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

/// Decodes bytes into runes as Go's `for range` over a string and fmt's
/// scanner do: every byte that does not start a valid UTF-8 sequence
/// becomes one U+FFFD.
pub fn go_runes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    let mut rest = b;
    while !rest.is_empty() {
        let (c, width) = decode_rune(rest);
        out.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
        rest = &rest[width..];
    }
    out
}

/// Go's `strings.TrimSpace` on bytes (Unicode white space; invalid UTF-8
/// is not space).
pub fn trim_space(b: &[u8]) -> &[u8] {
    let mut start = 0;
    while start < b.len() {
        match decode_rune(&b[start..]) {
            (Some(c), w) if c.is_whitespace() => start += w,
            _ => break,
        }
    }
    let mut end = b.len();
    while end > start {
        // Find the start of the last rune.
        let mut i = end - 1;
        while i > start && end - i < 4 && (b[i] & 0xc0) == 0x80 {
            i -= 1;
        }
        match decode_rune(&b[i..end]) {
            (Some(c), w) if i + w == end && c.is_whitespace() => end = i,
            _ => break,
        }
    }
    &b[start..end]
}

fn push_quoted_char(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        c if is_print(c) => out.push(c),
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
            out.push_str(&format!("\\x{:02x}", c as u32));
        }
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// Decodes one UTF-8 scalar value; `None` with width 1 for an invalid byte.
pub fn decode_rune(b: &[u8]) -> (Option<char>, usize) {
    let len = match b[0] {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return (None, 1),
    };
    if b.len() < len {
        return (None, 1);
    }
    match std::str::from_utf8(&b[..len]) {
        Ok(s) => (s.chars().next(), len),
        Err(_) => (None, 1),
    }
}

/// Go's `strconv.ErrSyntax`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntaxError;

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("invalid syntax")
    }
}

/// Go's `strconv.Unquote` for a double-quoted literal (quotes included).
pub fn unquote(s: &str) -> Result<Vec<u8>, SyntaxError> {
    let b = s.as_bytes();
    if b.len() < 2 || b[0] != b'"' || b[b.len() - 1] != b'"' {
        return Err(SyntaxError);
    }
    let inner = &s[1..s.len() - 1];
    let mut out = Vec::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\n' => return Err(SyntaxError),
            '\\' => unquote_escape(&mut chars, &mut out)?,
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    Ok(out)
}

fn unquote_escape(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    out: &mut Vec<u8>,
) -> Result<(), SyntaxError> {
    let simple = |c: char| -> Option<u8> {
        Some(match c {
            'a' => 7,
            'b' => 8,
            'f' => 0x0c,
            'n' => b'\n',
            'r' => b'\r',
            't' => b'\t',
            'v' => 0x0b,
            '\\' => b'\\',
            '"' => b'"',
            _ => return None,
        })
    };
    let c = chars.next().ok_or(SyntaxError)?;
    if let Some(b) = simple(c) {
        out.push(b);
        return Ok(());
    }
    let mut take_hex = |n: usize| -> Result<u32, SyntaxError> {
        let mut v = 0u32;
        for _ in 0..n {
            let d = chars
                .next()
                .and_then(|c| c.to_digit(16))
                .ok_or(SyntaxError)?;
            v = v * 16 + d;
        }
        Ok(v)
    };
    match c {
        'x' => out.push(take_hex(2)? as u8),
        'u' | 'U' => {
            let v = take_hex(if c == 'u' { 4 } else { 8 })?;
            let ch = char::from_u32(v).ok_or(SyntaxError)?;
            let mut buf = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        }
        '0'..='7' => {
            let mut v = c.to_digit(8).ok_or(SyntaxError)?;
            for _ in 0..2 {
                let d = chars
                    .next()
                    .and_then(|c| c.to_digit(8))
                    .ok_or(SyntaxError)?;
                v = v * 8 + d;
            }
            if v > 255 {
                return Err(SyntaxError);
            }
            out.push(v as u8);
        }
        _ => return Err(SyntaxError),
    }
    Ok(())
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

/// Go's `%v` of a `[]string`: `[a b c]`.
pub fn go_string_slice<S: AsRef<str>>(items: &[S]) -> String {
    let parts: Vec<&str> = items.iter().map(|s| s.as_ref()).collect();
    format!("[{}]", parts.join(" "))
}

/// `%x` of raw bytes with etcdctl's `\x` prefix per byte (the `--hex` flag).
pub fn hex_escaped(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\x{b:02x}")).collect()
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
    fn quotes_like_go() {
        assert_eq!(quote(b"foo"), "\"foo\"");
        assert_eq!(quote(b"a\"b\\c\n\x01\x7f"), "\"a\\\"b\\\\c\\n\\x01\\x7f\"");
        assert_eq!(quote(b"\xff\xfe"), "\"\\xff\\xfe\"");
        assert_eq!(quote("héllo".as_bytes()), "\"héllo\"");
    }

    #[test]
    fn bytes_helpers() {
        assert_eq!(quote_sharp(b"a b"), "`a b`");
        assert_eq!(quote_sharp(b"a\xff"), "\"a\\xff\"");
        assert_eq!(quote_sharp(b"a`"), "\"a`\"");
        assert_eq!(quote_sharp(b"\n"), "\"\\n\"");
        assert_eq!(quote_rune('\''), "'\\''");
        assert_eq!(quote_rune('"'), "'\"'");
        assert_eq!(quote_rune('\u{ff}'), "'ÿ'");
        assert_eq!(quote_rune('\x01'), "'\\x01'");
        assert_eq!(go_runes(b"a\xe2\x82x\xff"), "a\u{fffd}\u{fffd}x\u{fffd}");
        assert_eq!(trim_space(b" \t\xc2\x85a\xff \xc2\xa0\n"), b"a\xff");
        assert_eq!(trim_space(b" \xa0"), b"\xa0");
        assert_eq!(trim_space(b"\n"), b"");
        assert_eq!(
            parse_int_bytes(b"\xff", 16),
            Err("strconv.ParseInt: parsing \"\\xff\": invalid syntax".into())
        );
    }

    #[test]
    fn unquotes_like_go() {
        assert_eq!(
            unquote("\"\\xff\\u00ff\\377\"").unwrap(),
            b"\xff\xc3\xbf\xff"
        );
        assert_eq!(unquote("\"a\\tb\"").unwrap(), b"a\tb");
        assert_eq!(unquote("\"\\x41\\101\\u00e9\"").unwrap(), "AAé".as_bytes());
        assert!(unquote("\"\\q\"").is_err());
        assert!(unquote("\"\\'\"").is_err());
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

    #[test]
    fn humanizes_bytes() {
        assert_eq!(humanize_bytes(20480), "20 kB");
        assert_eq!(humanize_bytes(5), "5 B");
        assert_eq!(humanize_bytes(1500), "1.5 kB");
        assert_eq!(humanize_bytes(25_000_000), "25 MB");
    }
}
