//! `etcdctl txn`: reads compares, success ops and failure ops from stdin
//! (blank-line separated, with prompts in `-i` mode), commits them as one
//! transaction and prints SUCCESS/FAILURE plus each op's result. Op lines
//! are parsed like etcdctl: `put`/`get`/`del` with their own flags.

use std::io::BufRead;

use etcd_proto::etcdserverpb::{request_op, Compare, RequestOp, TxnRequest};

use super::argify::argify;
use super::client::{kv_stub, Client};
use super::commands::{DEL_FLAGS, GET_FLAGS, PUT_FLAGS};
use super::compare::parse_compare;
use super::error::{CtlError, CtlResult, EXIT_BAD_ARGS, EXIT_ERROR, EXIT_INVALID_INPUT};
use super::flags::{FlagSet, Spec};
use super::usage::HELP_FLAG;
use super::util::{print, rpc_failure};
use super::{del, get, global, gofmt, put, strip_flags, Invocation};

/// cobra's default usage of the op subcommands, printed on stderr when an
/// op line has bad flags.
const PUT_USAGE: &str = "Usage:
   put [options] <key> <value> (<value> can also be given from stdin) [flags]

Flags:
  -h, --help           help for put
      --ignore-lease   updates the key using its current lease
      --ignore-value   updates the key using its current value
      --lease string   lease ID (in hexadecimal) to attach to the key (default \"0\")
      --prev-kv        return the previous key-value pair before modification

";

const GET_USAGE: &str = "Usage:
   get [options] <key> [range_end] [flags]

Flags:
      --consistency string   Linearizable(l) or Serializable(s) (default \"l\")
      --from-key             Get keys that are greater than or equal to the given key using byte compare
  -h, --help                 help for get
      --keys-only            Get only the keys
      --limit int            Maximum number of results
      --order string         Order of results; ASCEND or DESCEND (ASCEND by default)
      --prefix               Get keys with matching prefix
      --print-value-only     Only write values when using the \"simple\" output format
      --rev int              Specify the kv revision
      --sort-by string       Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION

";

const DEL_USAGE: &str = "Usage:
   del [options] <key> [range_end] [flags]

Flags:
      --from-key   delete keys that are greater than or equal to the given key using byte compare
  -h, --help       help for del
      --prefix     delete keys with matching prefix
      --prev-kv    return deleted key-value pairs

";

/// One of the op subcommands allowed in a transaction.
struct OpKind {
    name: &'static str,
    flags: &'static [Spec],
    usage: &'static str,
}

const OPS: &[OpKind] = &[
    OpKind {
        name: "put",
        flags: PUT_FLAGS,
        usage: PUT_USAGE,
    },
    OpKind {
        name: "get",
        flags: GET_FLAGS,
        usage: GET_USAGE,
    },
    OpKind {
        name: "del",
        flags: DEL_FLAGS,
        usage: DEL_USAGE,
    },
];

/// Reads one line like Go's `ReadString('\n')`: a final line without a
/// newline is an EOF error (exit code 3).
fn read_line(r: &mut dyn BufRead) -> CtlResult<Vec<u8>> {
    let mut buf = Vec::new();
    let n = r
        .read_until(b'\n', &mut buf)
        .map_err(|e| CtlError::new(EXIT_INVALID_INPUT, e.to_string()))?;
    if n == 0 || buf.last() != Some(&b'\n') {
        return Err(CtlError::new(EXIT_INVALID_INPUT, "EOF"));
    }
    // Input is bytes: nothing is lost to UTF-8 decoding.
    Ok(gofmt::trim_space(&buf).to_vec())
}

/// Compare lines up to the first blank line.
pub fn read_compares(r: &mut dyn BufRead) -> CtlResult<Vec<Compare>> {
    let mut cmps = Vec::new();
    loop {
        let line = read_line(r)?;
        if line.is_empty() {
            return Ok(cmps);
        }
        cmps.push(parse_compare(&line)?);
    }
}

/// Op lines up to the first blank line.
pub fn read_ops(r: &mut dyn BufRead) -> CtlResult<Vec<RequestOp>> {
    let mut ops = Vec::new();
    loop {
        let line = read_line(r)?;
        if line.is_empty() {
            return Ok(ops);
        }
        ops.push(parse_request_union(&line)?);
    }
}

/// etcdctl's `parseRequestUnion`: runs the line through a throwaway cobra
/// root holding `put`, `get` and `del`.
pub fn parse_request_union(line: &[u8]) -> CtlResult<RequestOp> {
    let args = argify(line)?;
    if args.len() < 2 {
        return Err(CtlError::new(
            EXIT_INVALID_INPUT,
            [&b"invalid txn compare request: "[..], line].concat(),
        ));
    }
    let invalid = || {
        CtlError::new(
            EXIT_INVALID_INPUT,
            [&b"invalid txn request: "[..], line].concat(),
        )
    };
    let root_flags = FlagSet::new(&[HELP_FLAG]);
    let words = strip_flags(&args, &root_flags);
    let word = words.first().ok_or_else(invalid)?;
    let exact = OPS.iter().find(|k| k.name.as_bytes() == word.as_slice());
    let prefixed: Vec<&OpKind> = OPS
        .iter()
        .filter(|k| k.name.as_bytes().starts_with(word))
        .collect();
    let kind = match (exact, prefixed.as_slice()) {
        (Some(k), _) => k,
        (None, [k]) => *k,
        _ => return Err(invalid()),
    };
    let rest = super::args_minus_first(&args, word, &root_flags);
    let mut specs: Vec<Spec> = kind.flags.to_vec();
    specs.push(HELP_FLAG);
    let mut fs = FlagSet::new(&specs);
    if fs.parse(&rest).is_err() || fs.get_bool("help") {
        eprint!("{}", kind.usage);
        return Err(invalid());
    }
    let request = match kind.name {
        "put" => request_op::Request::RequestPut(put::put_request(
            &fs.args,
            &fs,
            // etcdctl's line reader has already buffered stdin.
            &mut || Ok(Vec::new()),
        )?),
        "get" => request_op::Request::RequestRange(get::range_request(&fs.args, &fs)?),
        _ => request_op::Request::RequestDeleteRange(del::delete_request(&fs.args, &fs)?),
    };
    Ok(RequestOp {
        request: Some(request),
    })
}

fn prompt(interactive: bool, s: &str) {
    if interactive {
        println!("{s}");
    }
}

pub fn run(inv: &Invocation) -> CtlResult {
    if !inv.args().is_empty() {
        return Err(CtlError::new(
            EXIT_BAD_ARGS,
            "txn command does not accept argument",
        ));
    }
    let setup = global::setup(inv)?;
    let interactive = inv.flags.get_bool("interactive");
    let stdin = std::io::stdin();
    let mut reader = stdin.lock();
    prompt(interactive, "compares:");
    let compare = read_compares(&mut reader)?;
    prompt(interactive, "success requests (get, put, del):");
    let success = read_ops(&mut reader)?;
    prompt(interactive, "failure requests (get, put, del):");
    let failure = read_ops(&mut reader)?;
    let req = TxnRequest {
        compare,
        success,
        failure,
    };
    let mut client = Client::new(setup.conn);
    let resp = inv
        .block_on(client.call(
            kv_stub,
            false,
            &req,
            |mut c, r| async move { c.txn(r).await },
        ))?
        .map_err(rpc_failure(EXIT_ERROR))?;
    print(|o| setup.printer.txn(o, &resp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcd_proto::etcdserverpb::compare::TargetUnion;

    #[test]
    fn reads_sections() {
        let input = b"mod(\"a\") > \"1\"\n\nput a \"x y\" --prev-kv\nget a --prefix\n\ndel a\n\n";
        let mut r: &[u8] = input;
        assert_eq!(read_compares(&mut r).unwrap().len(), 1);
        let ops = read_ops(&mut r).unwrap();
        match &ops[0].request {
            Some(request_op::Request::RequestPut(p)) => {
                assert_eq!(p.value, b"x y");
                assert!(p.prev_kv);
            }
            other => panic!("unexpected {other:?}"),
        }
        match &ops[1].request {
            Some(request_op::Request::RequestRange(g)) => assert_eq!(g.range_end, b"b"),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(read_ops(&mut r).unwrap().len(), 1);
    }

    #[test]
    fn escapes_and_raw_bytes() {
        let input = b"value(\"k\\xff\") = \"\\x00\"\n\nput r\xff\xfe \"\\xff\\u00ff\\377\"\n\n\n";
        let mut r: &[u8] = input;
        let cmps = read_compares(&mut r).unwrap();
        assert_eq!(cmps[0].key, b"k\xff");
        assert_eq!(cmps[0].target_union, Some(TargetUnion::Value(vec![0])));
        let ops = read_ops(&mut r).unwrap();
        match &ops[0].request {
            Some(request_op::Request::RequestPut(p)) => {
                assert_eq!(p.key, b"r\xff\xfe");
                assert_eq!(p.value, b"\xff\xc3\xbf\xff");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn bad_lines() {
        assert_eq!(
            parse_request_union(b"foo a b").unwrap_err().message(),
            "invalid txn request: foo a b"
        );
        assert_eq!(
            parse_request_union(b"put").unwrap_err().message(),
            "invalid txn compare request: put"
        );
        assert_eq!(
            parse_request_union(b"put a").unwrap_err().code,
            EXIT_BAD_ARGS
        );
        let mut r: &[u8] = b"put a b";
        assert_eq!(read_ops(&mut r).unwrap_err().message(), "EOF");
    }
}
