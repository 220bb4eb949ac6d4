//! Go's number formatting, as etcd's report prints numbers.
//!
//! etcd formats every number of its report with a Go verb: `%4.4f` by
//! default and `%g` under `--precise`; percentile labels use `%v`. Rust's
//! `{:4.4}` already matches `%4.4f` (width 4, four decimals, round half to
//! even on the exact value), but `%g` differs: Go prints the shortest
//! representation that round-trips and switches to an exponent (`1.5e-05`,
//! `1.234567e+06`) when the decimal exponent is below -4 or at least 6 (its
//! rule for the shortest precision), with at least two exponent digits.
//! These helpers give exactly those strings so scripts that parse etcd's
//! output parse ours, plus go-humanize's byte sizes for put's
//! `--check-hashkv` summary.

/// Go's `%4.4f`.
pub fn fixed4(x: f64) -> String {
    format!("{x:4.4}")
}

/// Go's `%g` (and `%v`) of a float64.
pub fn g(x: f64) -> String {
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

/// The report's number format: `%4.4f`, or `%g` when `precise`.
pub fn number(x: f64, precise: bool) -> String {
    if precise {
        g(x)
    } else {
        fixed4(x)
    }
}

/// Go's `time.Duration.String()` (`1.5s`, `2.345ms`, `750µs`, `0s`), used
/// by etcd's per-second sample table.
pub fn duration(d: std::time::Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    let trim = |whole: u128, frac: u128, width: usize| {
        let frac = format!("{frac:0width$}");
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() {
            whole.to_string()
        } else {
            format!("{whole}.{frac}")
        }
    };
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", trim(ns / 1_000, ns % 1_000, 3));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", trim(ns / 1_000_000, ns % 1_000_000, 6));
    }
    let secs = ns / 1_000_000_000;
    let frac = trim(0, ns % 1_000_000_000, 9);
    let frac = frac.strip_prefix('0').unwrap_or(&frac).to_string();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{s}{frac}s"));
    out
}

/// Bytes in SI units as go-humanize's `Bytes` prints them (`83 MB`, `4.1 kB`).
pub fn si_bytes(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if n < 10 {
        return format!("{n} B");
    }
    let exp = ((n as f64).ln() / 1000f64.ln()).floor() as usize;
    let exp = exp.min(UNITS.len() - 1);
    let val = ((n as f64) / 1000f64.powi(exp as i32) * 10.0 + 0.5).floor() / 10.0;
    if val < 10.0 {
        format!("{val:.1} {}", UNITS[exp])
    } else {
        format!("{val:.0} {}", UNITS[exp])
    }
}
