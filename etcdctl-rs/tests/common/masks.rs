//! Masking what legitimately differs between two clusters' outputs (IDs,
//! tokens, ports, timings, table widths).

#![allow(dead_code)]

/// Masks timings, timestamps, UUIDs, raft terms and Go stack traces.
/// Replaces `from` with `to` where it stands alone: not inside a longer run
/// of letters and digits. A port such as 33333 must not be found inside a
/// value of a million `3`s.
pub fn replace_token(s: &str, from: &str, to: &str) -> String {
    if from.is_empty() {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let word = |i: usize| bytes[i].is_ascii_alphanumeric();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut at = 0;
    while let Some(pos) = s[at..].find(from) {
        let start = at + pos;
        let end = start + from.len();
        let alone = (start == 0 || !word(start - 1)) && (end == bytes.len() || !word(end));
        if alone {
            out.push_str(&s[copied..start]);
            out.push_str(to);
            copied = end;
            at = end;
        } else {
            at = start + 1;
            while !s.is_char_boundary(at) {
                at += 1;
            }
        }
    }
    out.push_str(&s[copied..]);
    out
}

pub fn mask_volatile(s: &str) -> String {
    let mut out = String::new();
    for line in s.split_inclusive('\n') {
        if line.starts_with('\t') && out.contains("goroutine ") {
            continue;
        }
        let mut l = line.to_string();
        l = replace_after(&l, "\"ts\":", |c| c != ',');
        l = replace_after(&l, "client-", |c| c.is_ascii_hexdigit() || c == '-');
        l = replace_after(&l, "took = ", |c| !c.is_whitespace());
        l = replace_after(&l, "\"took\":", |c| c != ',' && c != '}');
        l = replace_after(&l, "\"Took\" : ", |c| c != '\n');
        l = replace_after(&l, "\"raft_term\":", |c| c.is_ascii_digit());
        l = replace_after(&l, "\"RaftTerm\" : ", |c| c.is_ascii_digit());
        if l.len() > 26 && l.as_bytes()[4] == b'-' && l.as_bytes()[10] == b' ' && l.contains(" | ")
        {
            l = format!("<TS>{}", &l[26..]);
        }
        if l.starts_with("[signal") || l.starts_with("main.main") || l.contains(".go:") {
            continue;
        }
        out.push_str(&l);
    }
    out
}

/// Replaces the run of characters after each `marker` accepted by `keep`.
fn replace_after(s: &str, marker: &str, keep: impl Fn(char) -> bool) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(marker) {
        out.push_str(&rest[..i + marker.len()]);
        rest = &rest[i + marker.len()..];
        let end = rest.find(|c| !keep(c)).unwrap_or(rest.len());
        out.push('*');
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Tables whose cells hold masked IDs: the two sides' IDs differ, and so
/// may their hex widths (Go prints no leading zeros) and with them the
/// column widths, so runs of padding and rule dashes are collapsed there.
/// Tables without masked values keep their exact widths.
pub fn masked_table_widths(s: &str) -> String {
    if !["<MID>", "<CID>", "<ID>"].iter().any(|m| s.contains(m)) {
        return s.to_string();
    }
    s.split_inclusive('\n')
        .map(|line| {
            if !(line.starts_with("+-") || line.starts_with("| ")) {
                return line.to_string();
            }
            let mut out = String::new();
            for c in line.chars() {
                if (c == ' ' || c == '-') && out.ends_with(c) {
                    continue;
                }
                out.push(c);
            }
            out
        })
        .collect()
}

/// Masks runs of 12 or more lowercase hex digits (lease and member ids).
pub fn mask_ids(s: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    for c in s.chars().chain(std::iter::once('\u{0}')) {
        if c.is_ascii_digit() || ('a'..='f').contains(&c) {
            run.push(c);
            continue;
        }
        if run.len() >= 12 {
            out.push_str("<ID>");
        } else {
            out.push_str(&run);
        }
        run.clear();
        if c != '\u{0}' {
            out.push(c);
        }
    }
    out
}
