//! Masks the parts of etcdctl output that legitimately differ between two
//! servers, so that everything else can be compared byte for byte.
//!
//! Masked: endpoint/peer URLs and scratch paths (per-run), member, cluster
//! and lease IDs (random; replaced by `<IDn>` numbered by first appearance so
//! equal IDs stay equal, hex and decimal forms sharing a number), raft terms
//! and indexes, database sizes, server versions, KV hashes, timings, client
//! log timestamps and connection UUIDs, and the remaining TTL of a lease.
//! The order of keys attached to a lease is sorted (etcd itself returns them
//! in Go map order). Revisions, key versions and compact revisions are
//! deliberately NOT masked: they must match exactly.

use std::collections::HashMap;
use std::path::Path;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// Table columns whose cells are masked (etcdctl `-w table`).
const MASKED_TABLE_COLUMNS: [&str; 7] = [
    "VERSION",
    "DB SIZE",
    "RAFT TERM",
    "RAFT INDEX",
    "RAFT APPLIED INDEX",
    "HASH",
    "TOOK",
];

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("normalisation regexes are valid")
}

/// Simple regex substitutions, applied in order.
static MASKS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    vec![
        // etcdctl's own zap log lines on stderr (retry warnings, snapshot progress).
        (re(r#""ts":("[^"]*"|[0-9.eE+-]+)"#), r#""ts":"TS""#),
        (
            re(r"client-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
            "client-UUID",
        ),
        (re(r#""took":("[^"]*"|[0-9.eE+-]+)"#), r#""took":"TOOK""#),
        (re(r#""size":"[^"]*""#), r#""size":"SIZE""#),
        // endpoint health (simple).
        (re(r"took = \S+"), "took = TOOK"),
        // Status / hashkv / headers in JSON.
        (re(r#""version":"[^"]*""#), r#""version":"VERSION""#),
        (
            re(r#""(dbSize|dbSizeInUse|raftIndex|raftAppliedIndex|raftTerm|raft_term|hash)":\d+"#),
            r#""$1":"MASKED""#,
        ),
        // -w fields.
        (
            re(r#"(?m)^"(RaftTerm|DBSize|DBSizeInUse|RaftIndex|RaftAppliedIndex|Hash)" : \d+$"#),
            r#""$1" : MASKED"#,
        ),
        // Only the server version is a string; a key's "Version" is a number.
        (
            re(r#"(?m)^"Version" : "[^"]*"$"#),
            r#""Version" : "VERSION""#,
        ),
        // endpoint status (simple): ENDPOINT, ID, VERSION, DB SIZE, IS LEADER,
        // IS LEARNER, RAFT TERM, RAFT INDEX, RAFT APPLIED INDEX, ERRORS.
        (
            re(
                r"(?m)^(ENDPOINT, [0-9a-f]+), [^,]*, [^,]*, (true|false), (true|false), \d+, \d+, \d+, ",
            ),
            "$1, VERSION, DB_SIZE, $2, $3, RAFT_TERM, RAFT_INDEX, RAFT_APPLIED_INDEX, ",
        ),
        // endpoint hashkv (simple).
        (re(r"(?m)^(ENDPOINT), \d+$"), "$1, HASH"),
        // Remaining lease TTL ticks down while the script runs.
        (re(r"remaining\(\d+s\)"), "remaining(TTL)"),
        (re(r#""ttl":\d+"#), r#""ttl":"TTL""#),
    ]
});

/// IDs in their decimal (JSON / fields / alarm) and hex forms.
static IDS: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r#""(?:cluster_id|member_id|ID|id|leader|lease|memberID)":(\d+)"#,
        r#"|(?m:^"(?:ClusterID|MemberID|ID|Lease|Leader)" : (\d+)$)"#,
        r"|memberID:(\d+)",
        r"|\b([0-9a-f]{12,16})\b",
    ))
});

static ATTACHED_KEYS: LazyLock<Regex> = LazyLock::new(|| re(r"attached keys\(\[([^\]]*)\]\)"));
static JSON_KEYS: LazyLock<Regex> = LazyLock::new(|| re(r#""keys":\[([^\]]*)\]"#));
static FIELDS_TTL: LazyLock<Regex> = LazyLock::new(|| re(r#"(?m)^"TTL" : \d+$"#));

/// Per-server, per-case normaliser (it numbers IDs in order of appearance).
#[derive(Debug, Clone)]
pub struct Normalizer {
    literals: Vec<(String, &'static str)>,
    ids: HashMap<u64, usize>,
}

impl Normalizer {
    /// `client_url` / `peer_url` are `http://127.0.0.1:PORT`; `scratch` is the
    /// directory `$TMP` points to.
    pub fn new(client_url: &str, peer_url: &str, scratch: &Path) -> Self {
        let host_port = |url: &str| url.trim_start_matches("http://").to_string();
        Self {
            literals: vec![
                (scratch.display().to_string(), "$TMP"),
                (client_url.to_string(), "ENDPOINT"),
                (peer_url.to_string(), "PEER_URL"),
                (host_port(client_url), "ENDPOINT"),
                (host_port(peer_url), "PEER_URL"),
            ],
            ids: HashMap::new(),
        }
    }

    /// Returns `text` with all run-specific parts masked.
    pub fn normalize(&mut self, text: &str) -> String {
        let mut out = text.to_string();
        for (literal, placeholder) in &self.literals {
            out = out.replace(literal.as_str(), placeholder);
        }
        for (pattern, replacement) in MASKS.iter() {
            out = pattern.replace_all(&out, *replacement).into_owned();
        }
        out = normalize_tables(&out);
        out = sort_lease_keys(&out);
        self.mask_ids(&out)
    }

    fn mask_ids(&mut self, text: &str) -> String {
        let ids = &mut self.ids;
        IDS.replace_all(text, |caps: &Captures<'_>| {
            let whole = caps.get(0).expect("group 0 always matches");
            let (number, value) = if let Some(dec) = caps.get(1).or(caps.get(2)).or(caps.get(3)) {
                (dec, dec.as_str().parse::<u64>().ok())
            } else {
                let hex = caps.get(4).expect("one alternative matched");
                let s = hex.as_str();
                // Accept 16 digits (lease IDs are zero-padded) or anything with a
                // letter (member IDs are not padded); leave plain numbers alone.
                let looks_like_id = s.len() == 16 || s.bytes().any(|b| b.is_ascii_alphabetic());
                (
                    hex,
                    looks_like_id
                        .then(|| u64::from_str_radix(s, 16).ok())
                        .flatten(),
                )
            };
            match value {
                Some(v) if v != 0 => {
                    let next = ids.len() + 1;
                    let n = *ids.entry(v).or_insert(next);
                    let start = number.start() - whole.start();
                    let end = number.end() - whole.start();
                    let w = whole.as_str();
                    format!("{}<ID{n}>{}", &w[..start], &w[end..])
                }
                _ => whole.as_str().to_string(),
            }
        })
        .into_owned()
    }
}

/// Normalises `-w table` output: column widths depend on cell contents, so
/// padding is trimmed and borders shortened; cells in volatile columns are
/// masked by header name.
fn normalize_tables(text: &str) -> String {
    let mut header: Option<Vec<String>> = None;
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.len() >= 2 && line.starts_with('+') && line.ends_with('+') {
            let mut border = String::new();
            for c in line.chars() {
                if !(c == '-' && border.ends_with('-')) {
                    border.push(c);
                }
            }
            lines.push(border);
        } else if line.len() >= 2 && line.starts_with('|') && line.ends_with('|') {
            let cells: Vec<String> = line[1..line.len() - 1]
                .split('|')
                .map(|c| c.trim().to_string())
                .collect();
            let cells = match &header {
                None => {
                    header = Some(cells.clone());
                    cells
                }
                Some(names) => cells
                    .into_iter()
                    .enumerate()
                    .map(|(i, cell)| {
                        let masked = names
                            .get(i)
                            .is_some_and(|n| MASKED_TABLE_COLUMNS.contains(&n.as_str()));
                        if masked {
                            "MASKED".to_string()
                        } else {
                            cell
                        }
                    })
                    .collect(),
            };
            lines.push(format!("| {} |", cells.join(" | ")));
        } else {
            header = None;
            lines.push(line.to_string());
        }
    }
    let mut out = lines.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// etcd lists the keys attached to a lease in Go map order; sort them.
/// In `-w fields` output the remaining TTL is the `"TTL"` field of a
/// time-to-live response (recognised by its `"GrantedTTL"` field).
fn sort_lease_keys(text: &str) -> String {
    let out = ATTACHED_KEYS.replace_all(text, |caps: &Captures<'_>| {
        let mut keys: Vec<&str> = caps[1].split(' ').collect();
        keys.sort_unstable();
        format!("attached keys([{}])", keys.join(" "))
    });
    let out = JSON_KEYS.replace_all(&out, |caps: &Captures<'_>| {
        let mut keys: Vec<&str> = caps[1].split(',').collect();
        keys.sort_unstable();
        format!("\"keys\":[{}]", keys.join(","))
    });
    if !out.contains("\"GrantedTTL\" : ") {
        return out.into_owned();
    }
    let out = FIELDS_TTL.replace_all(&out, r#""TTL" : TTL"#);
    // Sort each run of consecutive `"Key" : ...` lines.
    let mut lines: Vec<&str> = out.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let run = lines[i..]
            .iter()
            .take_while(|l| l.starts_with("\"Key\" : "))
            .count();
        lines[i..i + run].sort_unstable();
        i += run.max(1);
    }
    let mut joined = lines.join("\n");
    if out.ends_with('\n') {
        joined.push('\n');
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalizer() -> Normalizer {
        Normalizer::new(
            "http://127.0.0.1:40001",
            "http://127.0.0.1:40002",
            Path::new("/tmp/interop-x/scratch"),
        )
    }

    #[test]
    fn ids_are_numbered_by_first_appearance_across_forms() {
        let mut n = normalizer();
        let out = n.normalize(
            "lease 694d8b1e2c3a4f05 granted with TTL(10s)\n\
             {\"cluster_id\":15118495548433857066,\"member_id\":13668033151171901709,\"ID\":7587873908896452357}\n",
        );
        assert_eq!(
            out,
            "lease <ID1> granted with TTL(10s)\n\
             {\"cluster_id\":<ID2>,\"member_id\":<ID3>,\"ID\":<ID1>}\n"
        );
        // The table persists across calls.
        assert_eq!(n.normalize("bdae9bbc11dd390d\n"), "<ID3>\n");
    }

    #[test]
    fn keeps_revisions_and_masks_volatile_status_fields() {
        let mut n = normalizer();
        let out = n.normalize(
            "http://127.0.0.1:40001, 2943212f5e2cf73, 3.4.23, 20 kB, true, false, 2, 7, 7, \n",
        );
        assert_eq!(
            out,
            "ENDPOINT, <ID1>, VERSION, DB_SIZE, true, false, RAFT_TERM, RAFT_INDEX, RAFT_APPLIED_INDEX, \n"
        );
        let out = n.normalize(r#"{"header":{"revision":3,"raft_term":2},"kvs":[{"create_revision":2,"mod_revision":3,"version":2}]}"#);
        assert_eq!(
            out,
            r#"{"header":{"revision":3,"raft_term":"MASKED"},"kvs":[{"create_revision":2,"mod_revision":3,"version":2}]}"#
        );
    }

    #[test]
    fn tables_ignore_column_widths() {
        let a = "+-----+---------+\n|  ID | DB SIZE |\n+-----+---------+\n| abc |   25 kB |\n+-----+---------+\n";
        let b = "+-----+--------+\n|  ID | DB SIZE |\n+-----+--------+\n| abc | 1.2 MB |\n+-----+--------+\n";
        assert_eq!(normalize_tables(a), normalize_tables(b));
        assert!(normalize_tables(a).contains("| abc | MASKED |"));
    }

    #[test]
    fn lease_keys_are_sorted_and_ttl_masked() {
        let mut n = normalizer();
        let out = n.normalize(
            "lease 0000000000001234 granted with TTL(300s), remaining(299s), attached keys([b c a])\n",
        );
        assert_eq!(
            out,
            "lease <ID1> granted with TTL(300s), remaining(TTL), attached keys([a b c])\n"
        );
        let out = n.normalize(
            "\"ID\" : 4660\n\"TTL\" : 9\n\"GrantedTTL\" : 10\n\"Key\" : \"b\"\n\"Key\" : \"a\"\n",
        );
        assert_eq!(
            out,
            "\"ID\" : <ID1>\n\"TTL\" : TTL\n\"GrantedTTL\" : 10\n\"Key\" : \"a\"\n\"Key\" : \"b\"\n"
        );
    }

    #[test]
    fn masks_client_log_lines() {
        let mut n = normalizer();
        let out = n.normalize(
            r#"{"level":"warn","ts":"2026-11-23T23:31:06.966Z","target":"endpoint://client-87a82c14-b987-482d-b1a1-964902b0659e/127.0.0.1:40001","attempt":0}"#,
        );
        assert_eq!(
            out,
            r#"{"level":"warn","ts":"TS","target":"endpoint://client-UUID/ENDPOINT","attempt":0}"#
        );
    }
}
