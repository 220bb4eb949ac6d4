//! Parsing commands: tokens, escapes, and requests from arguments.

use etcd_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use etcd_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use etcd_proto::etcdserverpb::request_op::Request;
use etcd_proto::etcdserverpb::{
    Compare, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};

// ---------------------------------------------------------------------------
// Parsing commands
// ---------------------------------------------------------------------------

pub(crate) fn tokenize(line: &str) -> Vec<String> {
    line.split_whitespace().map(String::from).collect()
}

/// Decodes `""` (empty) and `\xNN` escapes.
pub(crate) fn unescape(tok: &str) -> Vec<u8> {
    if tok == "\"\"" {
        return Vec::new();
    }
    let b = tok.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() && b[i + 1] == b'x' {
            let hex = std::str::from_utf8(&b[i + 2..i + 4]).expect("hex escape");
            out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// The range end of all keys with prefix `key` (etcd's `GetPrefixRangeEnd`).
pub(crate) fn prefix_end(key: &[u8]) -> Vec<u8> {
    let mut end = key.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// Positional arguments and `name` / `name=value` options of a command.
pub(crate) struct Args {
    pub(crate) pos: Vec<String>,
    pub(crate) opts: Vec<(String, Option<String>)>,
}

pub(crate) const FLAGS: &[&str] = &[
    "prev_kv",
    "ignore_value",
    "ignore_lease",
    "keys_only",
    "count_only",
    "prefix",
    "fromkey",
    "novalidate",
    "readonly",
];

impl Args {
    pub(crate) fn parse(toks: &[String]) -> Self {
        let mut args = Args {
            pos: Vec::new(),
            opts: Vec::new(),
        };
        for t in toks {
            if FLAGS.contains(&t.as_str()) {
                args.opts.push((t.clone(), None));
            } else if let Some((k, v)) = t.split_once('=').filter(|(k, _)| !k.is_empty()) {
                args.opts.push((k.to_string(), Some(v.to_string())));
            } else {
                args.pos.push(t.clone());
            }
        }
        args
    }

    pub(crate) fn pos(&self, i: usize) -> &str {
        self.pos
            .get(i)
            .unwrap_or_else(|| panic!("missing argument {i}"))
    }

    pub(crate) fn pos_i64(&self, i: usize) -> i64 {
        self.pos(i).parse().expect("integer argument")
    }

    pub(crate) fn flag(&self, name: &str) -> bool {
        self.opts.iter().any(|(k, v)| k == name && v.is_none())
    }

    pub(crate) fn opt(&self, name: &str) -> Option<&str> {
        self.opts
            .iter()
            .find(|(k, v)| k == name && v.is_some())
            .and_then(|(_, v)| v.as_deref())
    }

    pub(crate) fn opt_i64(&self, name: &str) -> Option<i64> {
        self.opt(name).map(|v| v.parse().expect("integer option"))
    }

    pub(crate) fn opt_u64(&self, name: &str) -> Option<u64> {
        self.opt(name).map(|v| v.parse().expect("integer option"))
    }

    pub(crate) fn key(&self) -> Vec<u8> {
        unescape(self.pos(0))
    }

    pub(crate) fn range_end(&self) -> Vec<u8> {
        if self.flag("prefix") {
            prefix_end(&self.key())
        } else if self.flag("fromkey") {
            vec![0]
        } else {
            self.opt("end").map(unescape).unwrap_or_default()
        }
    }
}

pub(crate) fn parse_put(args: &Args) -> PutRequest {
    assert!(args.pos.len() <= 2, "put <key> [<value>]");
    PutRequest {
        key: args.key(),
        value: args.pos.get(1).map(|v| unescape(v)).unwrap_or_default(),
        lease: args.opt_i64("lease").unwrap_or(0),
        prev_kv: args.flag("prev_kv"),
        ignore_value: args.flag("ignore_value"),
        ignore_lease: args.flag("ignore_lease"),
    }
}

pub(crate) fn parse_del(args: &Args) -> DeleteRangeRequest {
    DeleteRangeRequest {
        key: args.key(),
        range_end: args.range_end(),
        prev_kv: args.flag("prev_kv"),
    }
}

pub(crate) fn parse_get(args: &Args) -> RangeRequest {
    let (target, order) = match args.opt("sort") {
        None => (SortTarget::Key, SortOrder::None),
        Some(s) => {
            let (t, o) = s.split_once(',').unwrap_or((s, "none"));
            let target = match t {
                "key" => SortTarget::Key,
                "version" => SortTarget::Version,
                "create" => SortTarget::Create,
                "mod" => SortTarget::Mod,
                "value" => SortTarget::Value,
                _ => panic!("unknown sort target {t}"),
            };
            let order = match o {
                "none" => SortOrder::None,
                "asc" => SortOrder::Ascend,
                "desc" => SortOrder::Descend,
                _ => panic!("unknown sort order {o}"),
            };
            (target, order)
        }
    };
    RangeRequest {
        key: args.key(),
        range_end: args.range_end(),
        limit: args.opt_i64("limit").unwrap_or(0),
        revision: args.opt_i64("rev").unwrap_or(0),
        sort_order: order as i32,
        sort_target: target as i32,
        serializable: false,
        keys_only: args.flag("keys_only"),
        count_only: args.flag("count_only"),
        min_mod_revision: args.opt_i64("min_mod").unwrap_or(0),
        max_mod_revision: args.opt_i64("max_mod").unwrap_or(0),
        min_create_revision: args.opt_i64("min_create").unwrap_or(0),
        max_create_revision: args.opt_i64("max_create").unwrap_or(0),
    }
}

pub(crate) fn parse_op(toks: &[String]) -> RequestOp {
    let args = Args::parse(&toks[1..]);
    let request = match toks[0].as_str() {
        "put" => Request::RequestPut(parse_put(&args)),
        "get" => Request::RequestRange(parse_get(&args)),
        "del" => Request::RequestDeleteRange(parse_del(&args)),
        op => panic!("unknown txn op {op}"),
    };
    RequestOp {
        request: Some(request),
    }
}

/// `cmp <target> <key> [end=..|prefix|fromkey] <op> <value>`
pub(crate) fn parse_cmp(toks: &[String]) -> Compare {
    assert!(toks.len() >= 4, "cmp <target> <key> [range] <op> <value>");
    let (op, value) = (&toks[toks.len() - 2], &toks[toks.len() - 1]);
    let args = Args::parse(&toks[1..toks.len() - 2]);
    let result = match op.as_str() {
        "=" => CompareResult::Equal,
        "!=" => CompareResult::NotEqual,
        ">" => CompareResult::Greater,
        "<" => CompareResult::Less,
        _ => panic!("unknown compare op {op}"),
    };
    let int = || value.parse::<i64>().expect("integer compare value");
    let (target, union) = match toks[0].as_str() {
        "value" => (CompareTarget::Value, TargetUnion::Value(unescape(value))),
        "version" => (CompareTarget::Version, TargetUnion::Version(int())),
        "create" => (CompareTarget::Create, TargetUnion::CreateRevision(int())),
        "mod" => (CompareTarget::Mod, TargetUnion::ModRevision(int())),
        "lease" => (CompareTarget::Lease, TargetUnion::Lease(int())),
        t => panic!("unknown compare target {t}"),
    };
    Compare {
        result: result as i32,
        target: target as i32,
        key: args.key(),
        range_end: args.range_end(),
        target_union: Some(union),
    }
}

pub(crate) fn parse_txn<'a>(
    lines: &mut impl Iterator<Item = &'a String>,
    nested: bool,
) -> TxnRequest {
    let mut t = TxnRequest::default();
    while let Some(line) = lines.next() {
        let toks = tokenize(line);
        match toks[0].as_str() {
            "cmp" => t.compare.push(parse_cmp(&toks[1..])),
            "then" | "else" => {
                let op = if toks[1] == "txn" {
                    RequestOp {
                        request: Some(Request::RequestTxn(parse_txn(lines, true))),
                    }
                } else {
                    parse_op(&toks[1..])
                };
                if toks[0] == "then" {
                    t.success.push(op);
                } else {
                    t.failure.push(op);
                }
            }
            "end" if nested => return t,
            _ => panic!("bad txn line: {line}"),
        }
    }
    assert!(!nested, "nested txn without end");
    t
}
