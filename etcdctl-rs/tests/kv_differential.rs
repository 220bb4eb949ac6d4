//! Differential test of the key-value commands (put, get, del, txn,
//! compaction), global flags, usage errors and help output: every command
//! line runs with the Go etcdctl against one fresh etcd and with
//! etcdctl-rs against another, and the masked outputs must be identical.

mod common;

use common::{assert_no_failures, case, compare_all, with_env, with_stdin, Case};

const CASES: &[Case] = &[
    // Usage, help and flag parsing errors.
    case("--help"),
    case("get --help"),
    case("help txn"),
    case("lease"),
    case("foo"),
    case("gett"),
    case("get --bogus"),
    case("get --rev"),
    case("get --rev=x a"),
    case("get -x"),
    case("get --prefix=maybe a"),
    case("get --dial-timeout=x a"),
    case("version"),
    case("ver"),
    // put
    case("put foo bar"),
    case("put foo baz --prev-kv"),
    case("put foo qux --prev-kv -w json"),
    case("put foo2 v2 -w fields"),
    with_stdin("put fromstdin", "value from stdin\n"),
    case("put"),
    case("put a --lease=zz"),
    case("put a b --ignore-value"),
    case("put foo --ignore-value --prev-kv"),
    case("put -- -dash -value"),
    case("put k\"q v<&>"),
    case("put foo bar -w table"),
    case("put foo bar -w xml"),
    // get
    case("get foo"),
    case("get foo -w json"),
    case("get foo -w fields"),
    case("get foo --hex"),
    case("get f --prefix"),
    case("get f --prefix=true --keys-only"),
    case("get f --prefix --limit=1 -w json"),
    case("get foo foo3"),
    case("get a --from-key"),
    case("get f --prefix --sort-by=VALUE --order=DESCEND"),
    case("get f --prefix --sort-by=create --order=ascend"),
    case("get foo --print-value-only"),
    case("get foo --print-value-only -w json"),
    case("get foo --rev 2"),
    case("get foo --rev=1000"),
    case("get foo --consistency=s"),
    case("get foo --consistency=x"),
    case("get foo --order=x"),
    case("get foo --sort-by=x"),
    case("get a --prefix --from-key"),
    case("get a b --prefix"),
    case("get"),
    case("get k\"q -w json"),
    case("-w fields get foo2"),
    with_env("get foo", &[("ETCDCTL_WRITE_OUT", "json")]),
    with_env("get foo -w simple", &[("ETCDCTL_WRITE_OUT", "json")]),
    with_env("get foo", &[("ETCDCTL_BOGUS", "1")]),
    with_env("get foo", &[("ETCDCTL_HEX", "true")]),
    // txn
    with_stdin(
        "txn",
        "value(\"foo\") = \"bar\"\n\nput t1 yes\n\nget foo\n\n",
    ),
    with_stdin(
        "txn",
        "mod(\"foo\") > \"1\"\n\nput t2 \"a b\" --prev-kv\nget t --prefix\n\ndel foo\n\n",
    ),
    with_stdin(
        "txn -i",
        "ver(\"t1\") = \"1\"\n\ndel t --prefix --prev-kv\n\n\n",
    ),
    with_stdin(
        "txn -w json",
        "c(\"foo\") != \"0\"\n\nput t3 x\nget t3\n\nput t4 y\n\n",
    ),
    with_stdin("txn -w fields", "\nput t5 x\ndel t5 --prev-kv\n\n\n"),
    with_stdin("txn", "mod(\"foo\")>\"3\"\n\n\n\n"),
    with_stdin("txn", "version(\"foo\") = \"x\"\n\n\n\n"),
    with_stdin("txn", "nope(\"foo\") = \"1\"\n\n\n\n"),
    with_stdin("txn", "no-paren\n\n\n\n"),
    with_stdin("txn", "\nput k1 v1\nput k1 v2\n\n\n"),
    with_stdin("txn", "\nfoo a b\n\n\n"),
    with_stdin("txn", "\nput a --bogus b\n\n\n"),
    with_stdin("txn", "\nget a --prefix --from-key\n\n\n"),
    with_stdin("txn", "\nput 'ab' 'cd'\n\n\n"),
    with_stdin("txn", "\nput\n\n\n"),
    with_stdin("txn", "\nput a b"),
    case("txn extra"),
    // del
    case("del foo2 --prev-kv"),
    case("del nothing -w json"),
    case("del t --prefix -w fields"),
    case("del a z"),
    case("del a --from-key --prev-kv"),
    case("del"),
    // compaction
    case("put c v"),
    case("put c v2"),
    case("compaction 2"),
    case("compaction 1"),
    case("compaction 1000"),
    case("compaction x"),
    case("compaction 3 --physical"),
    case("get c --rev=2"),
];

#[test]
fn kv_commands_match_go_etcdctl() {
    let Some(pair) = common::Pair::start() else {
        return;
    };
    let (mut go, mut rs) = pair.sides();
    let failures = compare_all(&mut go, &mut rs, CASES);
    assert_no_failures(failures, CASES.len());
}
