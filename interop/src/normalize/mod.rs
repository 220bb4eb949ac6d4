//! Masks the parts of etcdctl output that legitimately differ between two
//! servers, so that everything else can be compared byte for byte.
//!
//! Masked: endpoint/peer URLs and scratch paths (per-run; each known port
//! maps to a placeholder such as `ENDPOINT` or `N1_CLIENT_URL`), member,
//! cluster and lease IDs (random; the IDs of named cluster members become
//! `<ID:n1>` and the cluster's `<CLUSTER_ID>`, others `<IDn>` numbered by first
//! appearance so equal IDs stay equal, hex and decimal forms sharing a
//! number), the retry count of etcdctl's "retrying of unary invoker" warnings
//! (a run of them becomes its first line plus a `<retried>` line), raft terms
//! and indexes, database sizes, server versions, KV hashes (numbered per
//! output by [`number_hashes`], so members' hashes must agree), timings, client
//! log timestamps and connection UUIDs, the remaining TTL of a lease, and
//! the space padding etcdctl puts before member/cluster IDs of membership
//! changes (`%16x`). When etcdctl's balancer chooses among several
//! endpoints, the answering member in response headers becomes
//! `<ID:member>` ([`mask_responder`]). The order of keys attached to a lease is sorted (etcd itself returns them
//! in Go map order). Revisions, key versions and compact revisions are
//! deliberately NOT masked: they must match exactly.
//!
//! v2 indexes (etcdctl `ETCDCTL_API=2`) are the exception: etcd's v2 store
//! counts its own index (starting after its membership entries) while
//! etcd-rs shows v3 revisions, so their absolute values differ. Each
//! distinct v2 index becomes `<V2IDX n>`, numbered by first appearance in
//! the run ([`Normalizer::mask_v2_indexes`]): equal indexes stay equal and
//! their order of appearance must match, only the numbers go. Only the
//! places etcdctl v2 prints an index are touched: `Created-Index:`,
//! `Modified-Index:` and `Index:` lines, `createdIndex`/`modifiedIndex` JSON
//! fields, the `[N]` ending a v2 error line, and the 20-digit names of
//! in-order keys. v2 expiration timestamps (wall clock) become `<TIME>`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// Table columns whose cells are masked (etcdctl `-w table`).
const MASKED_TABLE_COLUMNS: [&str; 6] = [
    "VERSION",
    "DB SIZE",
    "RAFT TERM",
    "RAFT INDEX",
    "RAFT APPLIED INDEX",
    "TOOK",
];

/// Where etcdctl v2 prints an index (see the module essay).
static V2_INDEXES: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"(?m)^(?:Created-Index|Modified-Index|Index): (\d+)$",
        r#"|"(?:createdIndex|modifiedIndex)":(\d+)"#,
        r"|(?m)^Error: +\d+: .*\[(\d+)\]$",
        r"|/(\d{20})\b",
    ))
});

/// `Error:  101: Compare failed ([A != B]) [N]` with a prevIndex compare;
/// `[value != value] [A != B]` when both were compared.
static V2_INDEX_COMPARE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?m)(^Error: +101: Compare failed \((?:\[[^\]]*\] )?\[)(\d+) != (\d+)\]")
});

/// v2 expiration times (JSON and `-o extended` forms).
static V2_EXPIRATION: LazyLock<Regex> =
    LazyLock::new(|| re(r#"("expiration":")\d{4}-\d\d-\d\dT[0-9:.]+Z(")"#));

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
        // etcdctl prints member and cluster IDs of membership changes with
        // `%16x`: space-padded to the width of the (random) ID.
        (re(r"\b(Member|cluster) +([0-9a-f]+\b)"), "$1 $2"),
        // endpoint health (simple).
        (re(r"took = \S+"), "took = TOOK"),
        // Status / hashkv / headers in JSON.
        (re(r#""version":"[^"]*""#), r#""version":"VERSION""#),
        (
            re(r#""(dbSize|dbSizeInUse|raftIndex|raftAppliedIndex|raftTerm|raft_term)":\d+"#),
            r#""$1":"MASKED""#,
        ),
        // KV hashes differ between implementations (storage encoding) but
        // must agree between the members of one cluster: `HASH(value)` is
        // numbered per output by `number_hashes`.
        (re(r#""hash":(\d+)"#), r#""hash":"HASH($1)""#),
        (re(r#"(?m)^"Hash" : (\d+)$"#), r#""Hash" : HASH($1)"#),
        // -w fields.
        (
            re(r#"(?m)^"(RaftTerm|DBSize|DBSizeInUse|RaftIndex|RaftAppliedIndex)" : \d+$"#),
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
                r"(?m)^((?:ENDPOINT|[A-Z][A-Z0-9]*_CLIENT_URL), [0-9a-f]+), [^,]*, [^,]*, (true|false), (true|false), \d+, \d+, \d+, ",
            ),
            "$1, VERSION, DB_SIZE, $2, $3, RAFT_TERM, RAFT_INDEX, RAFT_APPLIED_INDEX, ",
        ),
        // endpoint hashkv (simple).
        (
            re(r"(?m)^(ENDPOINT|[A-Z][A-Z0-9]*_CLIENT_URL), (\d+)$"),
            "$1, HASH($2)",
        ),
        // Remaining lease TTL ticks down while the script runs.
        (re(r"remaining\(\d+s\)"), "remaining(TTL)"),
        (re(r#""ttl":\d+"#), r#""ttl":"TTL""#),
        // Auth tokens are random (the gateway's Authenticate answers them).
        (re(r#""token":"[^"]+""#), r#""token":"TOKEN""#),
    ]
});

/// IDs in their decimal (JSON, also as the gateway's quoted strings /
/// fields / alarm) and hex forms.
static IDS: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r#""(?:cluster_id|member_id|ID|id|leader|lease|memberID)":"?(\d+)"#,
        r#"|(?m:^"(?:ClusterID|MemberID|ID|Lease|Leader)" : (\d+)$)"#,
        r"|memberID:(\d+)",
        r"|\b([0-9a-f]{12,16})\b",
    ))
});

static ATTACHED_KEYS: LazyLock<Regex> = LazyLock::new(|| re(r"attached keys\(\[([^\]]*)\]\)"));
static JSON_KEYS: LazyLock<Regex> = LazyLock::new(|| re(r#""keys":\[([^\]]*)\]"#));
static FIELDS_TTL: LazyLock<Regex> = LazyLock::new(|| re(r#"(?m)^"TTL" : \d+$"#));

/// A loopback address with a port: `http://127.0.0.1:PORT`, `127.0.0.1:PORT`,
/// `http://localhost:PORT`, ...
static HOST_PORT: LazyLock<Regex> =
    LazyLock::new(|| re(r"(https?://)?(127\.0\.0\.1|localhost):(\d{1,5})\b"));

/// The header field naming the member that answered a request.
static RESPONDER: LazyLock<Regex> =
    LazyLock::new(|| re(r#"("member_id":|(?m:^"MemberID" : ))<ID:[^>]*>"#));

static HASH_VALUE: LazyLock<Regex> = LazyLock::new(|| re(r"HASH\((\d+)\)"));

static RETRY_ATTEMPT: LazyLock<Regex> = LazyLock::new(|| re(r#""attempt":\d+"#));

/// Placeholders for one port the servers listen on.
#[derive(Debug, Clone)]
struct PortNames {
    /// For `http://127.0.0.1:PORT`.
    url: String,
    /// For `127.0.0.1:PORT`.
    addr: String,
    /// For the port after any other host (`localhost:PORT`).
    port: String,
}

/// Per-server, per-case normaliser (it numbers IDs in order of appearance).
#[derive(Debug, Clone)]
pub struct Normalizer {
    scratch: String,
    ports: HashMap<u16, PortNames>,
    /// Known IDs and their placeholders (`<ID:n1>`, `<CLUSTER_ID>`).
    named: HashMap<u64, String>,
    /// Known IDs too short in hex for the generic ID pattern.
    short_hex: Vec<(Regex, String)>,
    ids: HashMap<u64, usize>,
    /// v2 indexes by first appearance.
    v2_indexes: HashMap<u64, usize>,
}

impl Normalizer {
    /// `scratch` is the directory `$TMP` points to.
    pub fn new(scratch: &Path) -> Self {
        Self {
            scratch: scratch.display().to_string(),
            ports: HashMap::new(),
            named: HashMap::new(),
            short_hex: Vec::new(),
            ids: HashMap::new(),
            v2_indexes: HashMap::new(),
        }
    }

    /// Masks `http://127.0.0.1:PORT` as `url`, `127.0.0.1:PORT` as `addr`
    /// and `HOST:PORT` (other loopback host names) as `HOST:{port_name}`.
    pub fn add_port(&mut self, port: u16, url: &str, addr: &str, port_name: &str) {
        self.ports.insert(
            port,
            PortNames {
                url: url.to_string(),
                addr: addr.to_string(),
                port: port_name.to_string(),
            },
        );
    }

    /// Masks `id` (hex or decimal) as `placeholder` from now on.
    pub fn name_id(&mut self, id: u64, placeholder: &str) {
        let hex = format!("{id:x}");
        if hex.len() < 12 && !self.named.contains_key(&id) {
            self.short_hex
                .push((re(&format!(r"\b{hex}\b")), placeholder.to_string()));
        }
        self.named.insert(id, placeholder.to_string());
    }

    /// Returns `text` with all run-specific parts masked.
    pub fn normalize(&mut self, text: &str) -> String {
        let mut out = text.replace(self.scratch.as_str(), "$TMP");
        out = self.mask_ports(&out);
        for (pattern, replacement) in MASKS.iter() {
            out = pattern.replace_all(&out, *replacement).into_owned();
        }
        out = normalize_tables(&out);
        out = sort_lease_keys(&out);
        out = collapse_retries(&out);
        for (pattern, placeholder) in &self.short_hex {
            out = pattern
                .replace_all(&out, regex::NoExpand(placeholder))
                .into_owned();
        }
        out = self.mask_v2_indexes(&out);
        self.mask_ids(&out)
    }

    /// See the module essay: v2 indexes numbered by first appearance.
    pub fn mask_v2_indexes(&mut self, text: &str) -> String {
        let out = V2_EXPIRATION.replace_all(text, "${1}<TIME>${2}");
        let seen = &mut self.v2_indexes;
        let mut number = |v: &str| {
            v.parse::<u64>().map_or_else(
                |_| v.to_string(),
                |v| {
                    let next = seen.len() + 1;
                    format!("<V2IDX{}>", *seen.entry(v).or_insert(next))
                },
            )
        };
        // A failed compare by index shows both indexes in its cause.
        let out = V2_INDEX_COMPARE.replace_all(&out, |caps: &Captures<'_>| {
            format!("{}{} != {}]", &caps[1], number(&caps[2]), number(&caps[3]))
        });
        V2_INDEXES
            .replace_all(&out, |caps: &Captures<'_>| {
                let whole = caps.get(0).expect("group 0 always matches");
                let Some(num) = (1..=4).find_map(|i| caps.get(i)) else {
                    return whole.as_str().to_string();
                };
                let w = whole.as_str();
                let (start, end) = (num.start() - whole.start(), num.end() - whole.start());
                format!("{}{}{}", &w[..start], number(num.as_str()), &w[end..])
            })
            .into_owned()
    }

    fn mask_ports(&self, text: &str) -> String {
        HOST_PORT
            .replace_all(text, |caps: &Captures<'_>| {
                let whole = caps[0].to_string();
                let Some(names) = caps[3].parse().ok().and_then(|p| self.ports.get(&p)) else {
                    return whole;
                };
                match (caps.get(1), &caps[2]) {
                    (Some(scheme), "127.0.0.1") if scheme.as_str() == "http://" => {
                        names.url.clone()
                    }
                    (None, "127.0.0.1") => names.addr.clone(),
                    (scheme, host) => {
                        format!("{}{host}:{}", scheme.map_or("", |s| s.as_str()), names.port)
                    }
                }
            })
            .into_owned()
    }

    fn mask_ids(&mut self, text: &str) -> String {
        let ids = &mut self.ids;
        let named = &self.named;
        IDS.replace_all(text, |caps: &Captures<'_>| {
            let whole = caps.get(0).expect("group 0 always matches");
            let (number, value) = if let Some(dec) = caps.get(1).or(caps.get(2)).or(caps.get(3)) {
                (dec, dec.as_str().parse::<u64>().ok())
            } else {
                let hex = caps.get(4).expect("one alternative matched");
                let s = hex.as_str();
                // Accept 16 digits (lease IDs are zero-padded) or anything with a
                // letter (member IDs are not padded); leave plain numbers alone
                // unless they are a known ID.
                let looks_like_id = s.len() == 16 || s.bytes().any(|b| b.is_ascii_alphabetic());
                let v = u64::from_str_radix(s, 16).ok();
                let known = v.is_some_and(|v| named.contains_key(&v));
                (hex, v.filter(|_| looks_like_id || known))
            };
            match value {
                Some(v) if v != 0 => {
                    let placeholder = named.get(&v).cloned().unwrap_or_else(|| {
                        let next = ids.len() + 1;
                        format!("<ID{}>", *ids.entry(v).or_insert(next))
                    });
                    let start = number.start() - whole.start();
                    let end = number.end() - whole.start();
                    let w = whole.as_str();
                    format!("{}{placeholder}{}", &w[..start], &w[end..])
                }
                _ => whole.as_str().to_string(),
            }
        })
        .into_owned()
    }
}

/// Replaces the ID of the member that answered (response headers) by
/// `<ID:member>`: with several endpoints, etcdctl's balancer picks one at
/// random. Only named members' IDs are replaced, so an ID that is not a
/// member's still shows.
pub fn mask_responder(text: &str) -> String {
    RESPONDER.replace_all(text, "$1<ID:member>").into_owned()
}

/// Replaces each distinct `HASH(value)` left by [`Normalizer::normalize`]
/// with `HASH_A`, `HASH_B`, ... in order of first appearance, so that equal
/// hashes (e.g. of all members of a cluster) stay visibly equal. Call it
/// after the records of an output are in their final order.
pub fn number_hashes(text: &str) -> String {
    let mut seen: Vec<String> = Vec::new();
    HASH_VALUE
        .replace_all(text, |caps: &Captures<'_>| {
            let i = seen.iter().position(|v| v == &caps[1]).unwrap_or_else(|| {
                seen.push(caps[1].to_string());
                seen.len() - 1
            });
            let letter = char::from(b'A' + u8::try_from(i % 26).expect("below 26"));
            let suffix = if i < 26 {
                String::new()
            } else {
                (i / 26).to_string()
            };
            format!("HASH_{letter}{suffix}")
        })
        .into_owned()
}

/// etcdctl logs one warning per retry of a retriable error; how many fit in
/// its timeout is timing. A run of warnings that differ only in the attempt
/// number becomes the first one plus a `<retried>` line. Whether the
/// command timeout then strikes during a retry (one more warning, saying
/// `context deadline exceeded`) or between two is timing too: such a
/// warning for a retry (attempt > 0) is dropped.
fn collapse_retries(text: &str) -> String {
    if !text.contains("retrying of unary invoker failed") {
        return text.to_string();
    }
    let mut out: Vec<String> = Vec::new();
    let mut run_key: Option<String> = None;
    let mut retried = false;
    for line in text.split_inclusive('\n') {
        let timed_out_retry = line.contains("retrying of unary invoker failed")
            && line.contains("desc = context deadline exceeded")
            && !line.contains("\"attempt\":0,");
        if timed_out_retry {
            continue;
        }
        let key = line
            .contains("retrying of unary invoker failed")
            .then(|| RETRY_ATTEMPT.replace_all(line, "").into_owned());
        if key.is_some() && key == run_key {
            if !retried {
                out.push("<retried>\n".to_string());
                retried = true;
            }
            continue;
        }
        run_key = key;
        retried = false;
        out.push(line.to_string());
    }
    out.concat()
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
                        let name = names.get(i).map_or("", String::as_str);
                        if MASKED_TABLE_COLUMNS.contains(&name) {
                            "MASKED".to_string()
                        } else if name == "HASH" && cell.bytes().all(|b| b.is_ascii_digit()) {
                            format!("HASH({cell})")
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
mod tests;
