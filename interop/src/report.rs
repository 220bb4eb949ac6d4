//! Pairwise comparison of two transcripts and human-readable mismatch reports.
//!
//! A report names the case file line, then shows a line diff per stream
//! (`-` = reference etcd, `+` = server under test), so a reimplementer can
//! see exactly which bytes etcdctl printed differently.

use std::fmt::Write as _;

use crate::runner::{Observation, Transcript};

/// One compared step whose normalised results differ.
#[derive(Debug)]
pub struct Mismatch {
    pub expected: Observation,
    pub got: Observation,
}

/// Compares two transcripts of the same script step by step.
pub fn compare(expected: &Transcript, got: &Transcript) -> Vec<Mismatch> {
    expected
        .observations
        .iter()
        .zip(&got.observations)
        .filter(|(e, g)| e != g)
        .map(|(e, g)| Mismatch {
            expected: e.clone(),
            got: g.clone(),
        })
        .collect()
}

/// Formats one mismatch; `case` is the case file name.
pub fn describe(case: &str, m: &Mismatch) -> String {
    let mut out = format!("--- {case}:{}: {}\n", m.expected.line, m.expected.text);
    if m.expected.outcome != m.got.outcome {
        let _ = writeln!(
            out,
            "  exit: expected `{}` (etcd), got `{}`",
            m.expected.outcome, m.got.outcome
        );
    }
    for (name, e, g) in [
        ("stdout", &m.expected.stdout, &m.got.stdout),
        ("stderr", &m.expected.stderr, &m.got.stderr),
    ] {
        if e != g {
            let _ = writeln!(out, "  {name} (-etcd +got):");
            out.push_str(&line_diff(e, g));
        }
    }
    out
}

/// A minimal LCS line diff; outputs are small so O(n*m) is fine.
pub fn line_diff(expected: &str, got: &str) -> String {
    let a: Vec<&str> = expected.split_inclusive('\n').collect();
    let b: Vec<&str> = got.split_inclusive('\n').collect();
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = String::new();
    let mut push = |sign: char, line: &str| {
        let (body, newline) = match line.strip_suffix('\n') {
            Some(body) => (body, ""),
            None => (line, "  (no newline at end)"),
        };
        let _ = writeln!(out, "    {sign} {body}{newline}");
    };
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            push(' ', a[i]);
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            push('-', a[i]);
            i += 1;
        } else {
            push('+', b[j]);
            j += 1;
        }
    }
    if n == 0 && m == 0 {
        out.push_str("    (both empty)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_marks_changed_lines() {
        let d = line_diff("a\nb\nc\n", "a\nx\nc\n");
        assert_eq!(d, "      a\n    - b\n    + x\n      c\n");
    }

    #[test]
    fn diff_shows_missing_final_newline() {
        let d = line_diff("a\n", "a");
        assert_eq!(d, "    - a\n    + a  (no newline at end)\n");
    }
}
