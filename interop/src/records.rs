//! Record order in cluster listings.
//!
//! etcd lists members by member ID, and member IDs derive from the
//! (per-run) peer URLs; `endpoint status|hashkv --cluster` follow that order
//! and `endpoint health` prints results as they arrive. So for these
//! listings the records (lines, table rows, JSON array elements, `-w fields`
//! blocks) are sorted after normalisation, which puts them in member-name
//! order (`<ID:n1>` / `N1_CLIENT_URL` first). `member add` output lists the
//! initial cluster in member-ID order too; its entries are sorted as well.
//! Nothing is dropped: the same records must be present on both sides.

use std::sync::LazyLock;

use regex::{Captures, Regex};

/// Which listing a command prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// `member list`
    Members,
    /// `endpoint status|health|hashkv`
    Endpoints,
}

/// etcdctl's `-w` output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Simple,
    Json,
    Table,
    Fields,
    Other,
}

/// What the normaliser needs to know about a command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub listing: Option<Listing>,
    pub format: Format,
    /// `endpoint ...` and `move-leader` talk to each endpoint themselves;
    /// everything else goes through the client's balancer, which picks the
    /// answering member at random.
    pub balanced: bool,
}

/// Classifies an etcdctl command line (arguments after `etcdctl`). Flags
/// are expected in `--flag=value` form, except `-w FORMAT`.
pub fn shape(args: &[String]) -> Shape {
    let mut positional = Vec::new();
    let mut format = Format::Simple;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let value = match arg.as_str() {
            "-w" | "--write-out" => iter.next().map(String::as_str),
            a => a
                .strip_prefix("--write-out=")
                .or_else(|| a.strip_prefix("-w="))
                .or_else(|| a.strip_prefix("-w").filter(|v| !v.is_empty())),
        };
        if let Some(v) = value {
            format = match v {
                "simple" => Format::Simple,
                "json" => Format::Json,
                "table" => Format::Table,
                "fields" => Format::Fields,
                _ => Format::Other,
            };
        } else if !arg.starts_with('-') {
            positional.push(arg.as_str());
        }
    }
    let listing = match positional.as_slice() {
        ["member", "list", ..] => Some(Listing::Members),
        ["endpoint", "status" | "health" | "hashkv", ..] => Some(Listing::Endpoints),
        _ => None,
    };
    let balanced = !matches!(positional.first(), Some(&"endpoint" | &"move-leader"));
    Shape {
        listing,
        format,
        balanced,
    }
}

/// Sorts the records of a listing's stdout, and the entries of an
/// `ETCD_INITIAL_CLUSTER="..."` line in any output.
pub fn sort_stdout(shape: Shape, text: &str) -> String {
    let text = sort_initial_cluster(text);
    let Some(listing) = shape.listing else {
        return text;
    };
    match (shape.format, listing) {
        (Format::Simple, _) => sort_groups(&text, |_| false),
        (Format::Table, _) => sort_table_rows(&text),
        (Format::Json, Listing::Members) => sort_json_members(&text),
        (Format::Json, Listing::Endpoints) => sort_json_lines(&text),
        (Format::Fields, Listing::Members) => sort_field_records(&text, "\"ID\" : "),
        (Format::Fields, Listing::Endpoints) => sort_blocks(&text),
        (Format::Other, _) => text,
    }
}

/// Sorts the per-endpoint lines of an `endpoint ...` stderr; `Error:` lines
/// (etcdctl's final verdict) stay last.
pub fn sort_stderr(shape: Shape, text: &str) -> String {
    if shape.listing != Some(Listing::Endpoints) {
        return text.to_string();
    }
    sort_groups(text, |line| line.starts_with("Error:"))
}

/// Sorts lines, keeping a `<retried>` line (see `normalize`) after the line
/// it belongs to and lines for which `last` holds at the end, in order.
fn sort_groups(text: &str, last: impl Fn(&str) -> bool) -> String {
    let mut groups: Vec<String> = Vec::new();
    let mut tail = String::new();
    for line in text.split_inclusive('\n') {
        if last(line) {
            tail.push_str(line);
        } else if line.trim_end() == "<retried>" && !groups.is_empty() {
            groups.last_mut().expect("checked non-empty").push_str(line);
        } else {
            groups.push(line.to_string());
        }
    }
    // A final line without newline must not end up in the middle.
    if let Some(g) = groups.last_mut().filter(|g| !g.ends_with('\n')) {
        g.push('\n');
        groups.sort();
        let mut out = groups.concat();
        out.pop();
        return out + &tail;
    }
    groups.sort();
    groups.concat() + &tail
}

/// Sorts the body rows of every (already normalised) table.
fn sort_table_rows(text: &str) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let is_border = |l: &str| l.starts_with('+');
    let mut out: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        // border, header, border, rows..., border
        if i + 3 < lines.len()
            && is_border(lines[i])
            && lines[i + 1].starts_with('|')
            && is_border(lines[i + 2])
        {
            out.extend(&lines[i..i + 3]);
            let start = i + 3;
            let mut end = start;
            while end < lines.len() && lines[end].starts_with('|') {
                end += 1;
            }
            let mut rows = lines[start..end].to_vec();
            rows.sort_unstable();
            out.extend(rows);
            i = end;
        } else {
            out.push(lines[i]);
            i += 1;
        }
    }
    out.concat()
}

/// Sorts the elements of the `"members":[...]` array.
fn sort_json_members(text: &str) -> String {
    const KEY: &str = "\"members\":[";
    let Some(pos) = text.find(KEY) else {
        return text.to_string();
    };
    let open = pos + KEY.len() - 1;
    match sort_json_array_at(text, open) {
        Some(sorted) => sorted,
        None => text.to_string(),
    }
}

/// Sorts the elements of every line that is a JSON array.
fn sort_json_lines(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            if line.starts_with('[') {
                sort_json_array_at(line, 0).unwrap_or_else(|| line.to_string())
            } else {
                line.to_string()
            }
        })
        .collect()
}

/// Sorts the top-level elements of the JSON array whose `[` is at byte
/// `open`; `None` if it is not well formed.
fn sort_json_array_at(text: &str, open: usize) -> Option<String> {
    let bytes = text.as_bytes();
    if bytes.get(open) != Some(&b'[') {
        return None;
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut elements = Vec::new();
    let mut start = open + 1;
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => depth += 1,
            b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    if i > start {
                        elements.push(&text[start..i]);
                    }
                    elements.sort_unstable();
                    return Some(format!(
                        "{}{}{}",
                        &text[..=open],
                        elements.join(","),
                        &text[i..]
                    ));
                }
            }
            b',' if depth == 1 => {
                elements.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    None
}

/// `-w fields` member list: a header, then one record per member starting
/// with a `marker` line; sorts the records.
fn sort_field_records(text: &str, marker: &str) -> String {
    let mut header = String::new();
    let mut records: Vec<String> = Vec::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with(marker) {
            records.push(String::new());
        }
        match records.last_mut() {
            Some(r) => r.push_str(line),
            None => header.push_str(line),
        }
    }
    records.sort();
    header + &records.concat()
}

/// `-w fields` endpoint listings: blank-line separated blocks; sorts them.
fn sort_blocks(text: &str) -> String {
    let mut blocks: Vec<String> = vec![String::new()];
    for line in text.split_inclusive('\n') {
        blocks.last_mut().expect("never empty").push_str(line);
        if line.trim().is_empty() {
            blocks.push(String::new());
        }
    }
    let rest = blocks.pop().unwrap_or_default();
    if !rest.is_empty() {
        // The last block has no blank line after it; give it one to sort.
        let mut b = rest;
        b.push('\n');
        blocks.push(b);
        blocks.sort();
        let mut out = blocks.concat();
        out.pop();
        return out;
    }
    blocks.sort();
    blocks.concat()
}

/// Sorts the `name=url` entries of `ETCD_INITIAL_CLUSTER="..."`.
fn sort_initial_cluster(text: &str) -> String {
    static INITIAL_CLUSTER: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"ETCD_INITIAL_CLUSTER="([^"]*)""#).expect("initial cluster regex is valid")
    });
    INITIAL_CLUSTER
        .replace_all(text, |caps: &Captures<'_>| {
            let mut entries: Vec<&str> = caps[1].split(',').collect();
            entries.sort_unstable();
            format!("ETCD_INITIAL_CLUSTER=\"{}\"", entries.join(","))
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn classifies_commands() {
        let s = shape(&args("member list -w json"));
        assert_eq!(s.listing, Some(Listing::Members));
        assert_eq!(s.format, Format::Json);
        assert!(s.balanced);
        let s = shape(&args(
            "--command-timeout=2s endpoint status --cluster --write-out=table",
        ));
        assert_eq!(s.listing, Some(Listing::Endpoints));
        assert_eq!(s.format, Format::Table);
        assert!(!s.balanced);
        let s = shape(&args("put k v -w fields"));
        assert_eq!(
            (s.listing, s.format, s.balanced),
            (None, Format::Fields, true)
        );
        assert!(!shape(&args("move-leader abc")).balanced);
    }

    #[test]
    fn sorts_simple_table_and_stderr() {
        let shape = shape(&args("endpoint health --cluster"));
        assert_eq!(sort_stdout(shape, "b\na\nc\n"), "a\nb\nc\n");
        assert_eq!(
            sort_stderr(shape, "z\n<retried>\nError: x\na\n"),
            "a\nz\n<retried>\nError: x\n"
        );
        let table = "+-+\n| ID |\n+-+\n| b |\n| a |\n+-+\n";
        assert_eq!(
            sort_table_rows(table),
            "+-+\n| ID |\n+-+\n| a |\n| b |\n+-+\n"
        );
    }

    #[test]
    fn sorts_json() {
        let text = r#"{"header":{"a":1},"members":[{"ID":<ID:n3>,"peerURLs":["x","y"]},{"ID":<ID:n1>,"name":"a,]"}]}"#;
        assert_eq!(
            sort_json_members(text),
            r#"{"header":{"a":1},"members":[{"ID":<ID:n1>,"name":"a,]"},{"ID":<ID:n3>,"peerURLs":["x","y"]}]}"#
        );
        assert_eq!(
            sort_json_lines("[{\"e\":2},{\"e\":1}]\n"),
            "[{\"e\":1},{\"e\":2}]\n"
        );
    }

    #[test]
    fn sorts_fields() {
        let members = "\"ClusterID\" : 1\n\"ID\" : b\n\"Name\" : x\n\n\"ID\" : a\n\"Name\" : y\n\n";
        assert_eq!(
            sort_field_records(members, "\"ID\" : "),
            "\"ClusterID\" : 1\n\"ID\" : a\n\"Name\" : y\n\n\"ID\" : b\n\"Name\" : x\n\n"
        );
        assert_eq!(sort_blocks("b\n1\n\na\n2\n\n"), "a\n2\n\nb\n1\n\n");
    }

    #[test]
    fn sorts_initial_cluster() {
        assert_eq!(
            sort_initial_cluster("ETCD_INITIAL_CLUSTER=\"n3=c,n1=a,n4=d\"\n"),
            "ETCD_INITIAL_CLUSTER=\"n1=a,n3=c,n4=d\"\n"
        );
    }
}
