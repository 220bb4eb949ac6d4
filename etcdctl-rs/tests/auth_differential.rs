//! Differential test of authentication: `auth`, `user` and `role` commands
//! and the global `--user`/`--password` flags. The Go etcdctl and
//! etcdctl-rs each run the same script against their own fresh real etcd:
//! users and roles are created, permissions granted (key, range, prefix,
//! from-key) and revoked, auth is enabled (refused without root first), and
//! reads, writes, txns, leases and watches run as users with and without
//! permission, with wrong passwords, with prompts, in every output format.

mod common;

use common::{
    assert_no_failures, case, compare_all, compare_streaming, with_env, with_stdin, Case, Side,
};

/// Before auth is enabled: users, roles and permissions.
const SETUP: &[Case] = &[
    case("auth enable"),
    case("auth enable extra"),
    case("user add root:rootpw"),
    case("user add root:again"),
    case("user add :pw"),
    case("user add"),
    case("user add a b"),
    case("user add alice --new-user-password=apw"),
    case("user add bob:bpw -w json"),
    case("user add carol --no-password -w fields"),
    case("user add carl:x --no-password"),
    with_stdin("user add dave --interactive=false", "dpw more\n"),
    with_stdin("user add eve", "epw\nepw\n"),
    with_stdin("user add frank", "f1\nf2\n"),
    with_stdin("user add gina", ""),
    case("user add tab:x -w table"),
    case("user list"),
    case("user list -w json"),
    case("user list -w fields"),
    case("user list -w table"),
    case("user list extra"),
    case("user get alice"),
    case("user get alice -w json"),
    case("user get alice -w fields"),
    case("user get nobody"),
    case("user get"),
    case("role add reader"),
    case("role add writer -w json"),
    case("role add reader"),
    case("role add"),
    case("role grant-permission reader read foo"),
    case("role grant-permission reader READ pfx/ --prefix"),
    case("role grant-permission reader read a c -w fields"),
    case("role grant-permission writer write w --from-key"),
    case("role grant-permission writer readwrite foo -w json"),
    case("role grant-permission writer readwrite x y --prefix"),
    case("role grant-permission writer readwrite x y --from-key"),
    case("role grant-permission writer rw k"),
    case("role grant-permission writer read k --prefix --from-key"),
    case("role grant-permission writer read"),
    case("role grant-permission nope read k"),
    case("role get reader"),
    case("role get writer"),
    case("role get reader -w json"),
    case("role get writer -w fields"),
    case("role get reader -w table"),
    case("role get nope"),
    case("role list"),
    case("role list -w json"),
    case("role list -w fields"),
    case("role list extra"),
    case("user grant-role alice reader"),
    case("user grant-role bob writer -w json"),
    case("user grant-role alice nope"),
    case("user grant-role nobody reader"),
    case("user grant-role alice"),
    case("user get alice --detail"),
    case("user get alice --detail -w json"),
    case("user get bob --detail -w fields"),
    case("user get bob --detail -w table"),
    case("put foo v1"),
    case("put pfx/a 1"),
    case("put b 2"),
    case("put w1 x"),
    // root exists without the root role: etcdctl adds and grants it.
    case("auth enable"),
];

/// Protobuf output carries the (binary) member and cluster ids, so both
/// clients run these against the same etcd, where the bytes must match.
const SHARED: &[Case] = &[
    case("user list -w protobuf"),
    case("user get alice -w protobuf"),
    case("role get reader -w protobuf"),
    case("role list -w protobuf"),
    case("role grant-permission reader read foo -w protobuf"),
    case("user grant-role alice reader -w protobuf"),
    case("--user root:rootpw user get root -w protobuf"),
];

/// With auth enabled.
const ENABLED: &[Case] = &[
    case("auth enable"),
    case("get foo"),
    case("put foo x"),
    case("--user root:rootpw user list"),
    case("--user root:rootpw role get root -w json"),
    case("--user root:rootpw user get root --detail"),
    case("--user root:bad get foo"),
    case("--user nobody:x get foo"),
    case("--user :x get foo"),
    case("--user alice:apw get foo"),
    case("--user alice:apw get foo -w json"),
    case("--user alice:apw get pfx/ --prefix"),
    case("--user alice:apw get a c"),
    case("--user alice:apw get a d"),
    case("--user alice:apw get b"),
    case("--user alice:apw put foo v2"),
    case("--user alice:apw del foo"),
    case("--user alice:apw user list"),
    case("--user alice:apw role add r9"),
    case("--user bob:bpw put foo v2"),
    case("--user bob:bpw put w2 x -w json"),
    case("--user bob:bpw put a x"),
    case("--user bob:bpw get w1"),
    case("--user alice --password apw get foo"),
    case("--user alice:apw --password apw get foo"),
    with_env("get foo", &[("ETCDCTL_USER", "alice:apw")]),
    with_env(
        "get foo",
        &[("ETCDCTL_USER", "alice"), ("ETCDCTL_PASSWORD", "apw")],
    ),
    with_stdin("--user alice get foo", "apw\n"),
    with_stdin("--user alice get foo", "wrong\n"),
    with_stdin(
        "--user bob:bpw txn",
        "value(\"foo\") = \"v2\"\n\nput foo v3\n\nput foo v4\n\n",
    ),
    with_stdin(
        "--user alice:apw txn",
        "value(\"foo\") = \"v3\"\n\nget foo\n\nput foo v4\n\n",
    ),
    with_stdin(
        "--user alice:apw txn -w json",
        "value(\"foo\") = \"v3\"\n\nput foo v5\n\n\n",
    ),
    case("lease grant 100 --user bob:bpw"),
    case("lease timetolive $LEASE --user bob:bpw"),
    case("put w3 leased --lease=$LEASE --user bob:bpw"),
    case("lease revoke $LEASE --user bob:bpw"),
    case("lease grant 100"),
    // endpoint health authenticates each endpoint's client, as clientv3.
    case("endpoint health"),
    case("--user root:rootpw endpoint health"),
    case("--user root:bad endpoint health"),
    case("--user alice:apw endpoint health -w json"),
    case("--user nobody:x endpoint health -w table"),
    with_stdin("--user alice endpoint health -w json", "apw\n"),
];

/// Changing passwords, revoking, deleting, disabling.
const TEARDOWN: &[Case] = &[
    with_stdin(
        "--user root:rootpw user passwd alice --interactive=false",
        "apw2\n",
    ),
    with_stdin("--user root:rootpw user passwd alice", "n1\nn2\n"),
    with_stdin(
        "--user root:rootpw user passwd nobody --interactive=false",
        "x\n",
    ),
    case("--user root:rootpw user passwd"),
    case("--user alice:apw get foo"),
    case("--user alice:apw2 get foo"),
    case("--user root:rootpw role revoke-permission reader foo"),
    case("--user root:rootpw role revoke-permission reader pfx/ --prefix -w json"),
    case("--user root:rootpw role revoke-permission reader a c"),
    case("--user root:rootpw role revoke-permission writer w --from-key -w fields"),
    case("--user root:rootpw role revoke-permission reader zz"),
    case("--user root:rootpw role revoke-permission reader a c --prefix"),
    case("--user root:rootpw role revoke-permission reader a --prefix --from-key"),
    case("--user root:rootpw role revoke-permission reader"),
    case("--user root:rootpw role get reader"),
    case("--user alice:apw2 get foo"),
    case("--user root:rootpw user revoke-role alice reader"),
    case("--user root:rootpw user revoke-role alice reader"),
    case("--user root:rootpw user revoke-role alice"),
    case("--user root:rootpw role delete writer"),
    case("--user root:rootpw role delete writer"),
    case("--user root:rootpw role delete"),
    case("--user root:rootpw user delete carol -w json"),
    case("--user root:rootpw user delete carol"),
    case("--user root:rootpw user delete"),
    case("--user root:rootpw user get bob"),
    case("--user root:rootpw user list -w json"),
    case("--user root:rootpw role list"),
    case("--user root:rootpw auth status"),
    case("auth disable"),
    case("--user alice:apw2 auth disable"),
    case("--user root:rootpw auth disable extra"),
    case("--user root:rootpw auth disable"),
    case("get foo"),
    case("--user root:rootpw get foo"),
    case("--user root:bad get foo"),
    case("auth disable"),
    case("--endpoints=127.0.0.1:1 --dial-timeout=1s --user a:b get x"),
];

#[test]
fn auth_commands_match_go_etcdctl() {
    let Some(pair) = common::Pair::start() else {
        return;
    };
    let (mut go, mut rs) = pair.sides();
    let mut failures = compare_all(&mut go, &mut rs, SETUP);
    failures.extend(compare_all(&mut go, &mut rs, ENABLED));
    let watches = [
        ("watch foo --rev 1 --user alice:apw", 9),
        ("watch pfx/ --prefix --rev 1 --user alice:apw -w json", 1),
    ];
    for (args, lines) in watches {
        failures.extend(compare_streaming(&mut go, &mut rs, args, lines));
    }
    failures.extend(compare_all(&mut go, &mut rs, TEARDOWN));
    let mut rs_shared = Side::new(common::RS_ETCDCTL, &pair.go_etcd);
    failures.extend(compare_all(&mut go, &mut rs_shared, SHARED));
    assert_no_failures(
        failures,
        SETUP.len() + ENABLED.len() + watches.len() + TEARDOWN.len() + SHARED.len(),
    );
}
