//! The command tree: every etcdctl 3.4 command with its use line,
//! descriptions, flags and handler, as data.

use super::commands::Command;
use super::error::{CtlError, CtlResult, EXIT_ERROR};
use super::flags::{Kind, Spec};
use super::{
    alarm, auth, check, check_datascale, compaction, defrag, del, elect, endpoint, get, global,
    lease, lock, member, mirror, move_leader, put, role, snapshot, snapshot_file, txn, user,
    version, watch, Invocation,
};

fn not_implemented(inv: &Invocation) -> CtlResult {
    Err(CtlError::new(
        EXIT_ERROR,
        format!(
            "\"{}\" is not implemented by etcdctl-rs yet",
            inv.command_path()
        ),
    ))
}

const fn b(name: &'static str, usage: &'static str) -> Spec {
    Spec::new(name, Kind::Bool, "false", usage)
}

const fn s(name: &'static str, default: &'static str, usage: &'static str) -> Spec {
    Spec::new(name, Kind::String, default, usage)
}

const fn i(name: &'static str, usage: &'static str) -> Spec {
    Spec::new(name, Kind::Int64, "0", usage)
}

const CLUSTER: Spec = b("cluster", "use all endpoints from the cluster member list");

const PUT_LONG: &str = "
Puts the given key into the store.

When <value> begins with '-', <value> is interpreted as a flag.
Insert '--' for workaround:

$ put <key> -- <value>
$ put -- <key> <value>

If <value> isn't given as a command line argument and '--ignore-value' is not specified,
this command tries to read the value from standard input.

If <lease> isn't given as a command line argument and '--ignore-lease' is not specified,
this command tries to read the value from standard input.

For example,
$ cat file | put <key>
will store the content of the file to <key>.
";

pub const GET_FLAGS: &[Spec] = &[
    s("consistency", "l", "Linearizable(l) or Serializable(s)"),
    s(
        "order",
        "",
        "Order of results; ASCEND or DESCEND (ASCEND by default)",
    ),
    s(
        "sort-by",
        "",
        "Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION",
    ),
    i("limit", "Maximum number of results"),
    b("prefix", "Get keys with matching prefix"),
    b(
        "from-key",
        "Get keys that are greater than or equal to the given key using byte compare",
    ),
    i("rev", "Specify the kv revision"),
    b("keys-only", "Get only the keys"),
    b(
        "print-value-only",
        "Only write values when using the \"simple\" output format",
    ),
];

pub const PUT_FLAGS: &[Spec] = &[
    s(
        "lease",
        "0",
        "lease ID (in hexadecimal) to attach to the key",
    ),
    b(
        "prev-kv",
        "return the previous key-value pair before modification",
    ),
    b("ignore-value", "updates the key using its current value"),
    b("ignore-lease", "updates the key using its current lease"),
];

pub const DEL_FLAGS: &[Spec] = &[
    b("prefix", "delete keys with matching prefix"),
    b("prev-kv", "return deleted key-value pairs"),
    b(
        "from-key",
        "delete keys that are greater than or equal to the given key using byte compare",
    ),
];

pub const WATCH_FLAGS: &[Spec] = &[
    b("interactive", "Interactive mode").short('i'),
    b("prefix", "Watch on a prefix if prefix is set"),
    i("rev", "Revision to start watching"),
    b(
        "prev-kv",
        "get the previous key-value pair before the event happens",
    ),
];

const LEASE_SUBS: &[Command] = &[
    Command::leaf("grant", "grant <ttl>", "Creates leases", lease::grant),
    Command::leaf(
        "revoke",
        "revoke <leaseID>",
        "Revokes leases",
        lease::revoke,
    ),
    Command::leaf(
        "timetolive",
        "timetolive <leaseID> [options]",
        "Get lease information",
        lease::time_to_live,
    )
    .flags(&[b("keys", "Get keys attached to this lease")]),
    Command::leaf("list", "list", "List all active leases", lease::list),
    Command::leaf(
        "keep-alive",
        "keep-alive [options] <leaseID>",
        "Keeps leases alive (renew)",
        lease::keep_alive,
    )
    .flags(&[b(
        "once",
        "Resets the keep-alive time to its original value and exits immediately",
    )]),
];

const MEMBER_SUBS: &[Command] = &[
    Command::leaf("add", "add <memberName> [options]", "Adds a member into the cluster", member::add).flags(&[
        s("peer-urls", "", "comma separated peer URLs for the new member."),
        b("learner", "indicates if the new member is raft learner"),
    ]),
    Command::leaf("remove", "remove <memberID>", "Removes a member from the cluster", member::remove),
    Command::leaf("update", "update <memberID> [options]", "Updates a member in the cluster", member::update)
        .flags(&[s("peer-urls", "", "comma separated peer URLs for the updated member.")]),
    Command::leaf("list", "list", "Lists all members in the cluster", member::list).long(
        "When --write-out is set to simple, this command prints out comma-separated member lists for each endpoint.
The items in the lists are ID, Status, Name, Peer Addrs, Client Addrs, Is Learner.
",
    ),
    Command::leaf("promote", "promote <memberID>", "Promotes a non-voting member in the cluster", member::promote)
        .long("Promotes a non-voting learner member to a voting one in the cluster.\n"),
];

const ENDPOINT_SUBS: &[Command] = &[
    Command::leaf("health", "health", "Checks the healthiness of endpoints specified in `--endpoints` flag", endpoint::health),
    Command::leaf("status", "status", "Prints out the status of endpoints specified in `--endpoints` flag", endpoint::status)
        .long("When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.
The items in the lists are endpoint, ID, version, db size, is leader, is learner, raft term, raft index, raft applied index, errors.
"),
    Command::leaf("hashkv", "hashkv", "Prints the KV history hash for each endpoint in --endpoints", endpoint::hashkv)
        .persistent(&[i("rev", "maximum revision to hash (default: all revisions)")]),
];

const ALARM_SUBS: &[Command] = &[
    Command::leaf("disarm", "disarm", "Disarms all alarms", alarm::disarm),
    Command::leaf("list", "list", "Lists all alarms", alarm::list),
];

const SNAPSHOT_SUBS: &[Command] = &[
    Command::leaf("save", "save <filename>", "Stores an etcd node backend snapshot to a given file", snapshot::save),
    Command::leaf("restore", "restore <filename> [options]", "Restores an etcd member snapshot to an etcd directory", snapshot_file::restore)
        .flags(&[
            s("data-dir", "", "Path to the data directory"),
            s("wal-dir", "", "Path to the WAL directory (use --data-dir if none given)"),
            s("initial-cluster", "default=http://localhost:2380", "Initial cluster configuration for restore bootstrap"),
            s("initial-cluster-token", "etcd-cluster", "Initial cluster token for the etcd cluster during restore bootstrap"),
            s("initial-advertise-peer-urls", "http://localhost:2380", "List of this member's peer URLs to advertise to the rest of the cluster"),
            s("name", "default", "Human-readable name for this member"),
            b("skip-hash-check", "Ignore snapshot integrity hash value (required if copied from data directory)"),
        ]),
    Command::leaf("status", "status <filename>", "Gets backend snapshot status of a given file", snapshot_file::status).long(
        "When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.
The items in the lists are hash, revision, total keys, total size.
",
    ),
];

const AUTH_SUBS: &[Command] = &[
    Command::leaf(
        "enable",
        "enable",
        "Enables authentication",
        auth::enable_command,
    ),
    Command::leaf(
        "disable",
        "disable",
        "Disables authentication",
        auth::disable_command,
    ),
];

const USER_SUBS: &[Command] = &[
    Command::leaf(
        "add",
        "add <user name or user:password> [options]",
        "Adds a new user",
        user::add,
    )
    .flags(&[
        Spec::new(
            "interactive",
            Kind::Bool,
            "true",
            "Read password from stdin instead of interactive terminal",
        ),
        s(
            "new-user-password",
            "",
            "Supply password from the command line flag",
        ),
        b(
            "no-password",
            "Create a user without password (CN based auth only)",
        ),
    ]),
    Command::leaf(
        "delete",
        "delete <user name>",
        "Deletes a user",
        user::delete,
    ),
    Command::leaf(
        "get",
        "get <user name> [options]",
        "Gets detailed information of a user",
        user::get,
    )
    .flags(&[b("detail", "Show permissions of roles granted to the user")]),
    Command::leaf("list", "list", "Lists all users", user::list),
    Command::leaf(
        "passwd",
        "passwd <user name> [options]",
        "Changes password of user",
        user::passwd,
    )
    .flags(&[Spec::new(
        "interactive",
        Kind::Bool,
        "true",
        "If true, read password from stdin instead of interactive terminal",
    )]),
    Command::leaf(
        "grant-role",
        "grant-role <user name> <role name>",
        "Grants a role to a user",
        user::grant_role,
    ),
    Command::leaf(
        "revoke-role",
        "revoke-role <user name> <role name>",
        "Revokes a role from a user",
        user::revoke_role,
    ),
];

const ROLE_SUBS: &[Command] = &[
    Command::leaf("add", "add <role name>", "Adds a new role", role::add),
    Command::leaf(
        "delete",
        "delete <role name>",
        "Deletes a role",
        role::delete,
    ),
    Command::leaf(
        "get",
        "get <role name>",
        "Gets detailed information of a role",
        role::get,
    ),
    Command::leaf("list", "list", "Lists all roles", role::list),
    Command::leaf(
        "grant-permission",
        "grant-permission [options] <role name> <permission type> <key> [endkey]",
        "Grants a key to a role",
        role::grant_permission,
    )
    .flags(&[
        b("prefix", "grant a prefix permission"),
        b(
            "from-key",
            "grant a permission of keys that are greater than or equal to the given key using byte compare",
        ),
    ]),
    Command::leaf(
        "revoke-permission",
        "revoke-permission <role name> <key> [endkey]",
        "Revokes a key from a role",
        role::revoke_permission,
    )
    .flags(&[
        b("prefix", "revoke a prefix permission"),
        b(
            "from-key",
            "revoke a permission of keys that are greater than or equal to the given key using byte compare",
        ),
    ]),
];

const CHECK_SUBS: &[Command] = &[
    Command::leaf("perf", "perf [options]", "Check the performance of the etcd cluster", check::perf).flags(&[
        s("load", "s", "The performance check's workload model. Accepted workloads: s(small), m(medium), l(large), xl(xLarge)"),
        s("prefix", "/etcdctl-check-perf/", "The prefix for writing the performance check's keys."),
        b("auto-compact", "Compact storage with last revision after test is finished."),
        b("auto-defrag", "Defragment storage after test is finished."),
    ]),
    Command::leaf("datascale", "datascale [options]", "Check the memory usage of holding data for different workloads on a given server endpoint.", check_datascale::datascale)
        .long("If no endpoint is provided, localhost will be used. If multiple endpoints are provided, first endpoint will be used.")
        .flags(&[
            s("load", "s", "The datascale check's workload model. Accepted workloads: s(small), m(medium), l(large), xl(xLarge)"),
            s("prefix", "/etcdctl-check-datascale/", "The prefix for writing the datascale check's keys."),
            b("auto-compact", "Compact storage with last revision after test is finished."),
            b("auto-defrag", "Defragment storage after test is finished."),
        ]),
];

const COMPLETION_SUBS: &[Command] = &[
    Command::leaf(
        "bash",
        "bash",
        "Generate the autocompletion script for bash",
        not_implemented,
    ),
    Command::leaf(
        "fish",
        "fish [flags]",
        "Generate the autocompletion script for fish",
        not_implemented,
    ),
    Command::leaf(
        "powershell",
        "powershell [flags]",
        "Generate the autocompletion script for powershell",
        not_implemented,
    ),
    Command::leaf(
        "zsh",
        "zsh [flags]",
        "Generate the autocompletion script for zsh",
        not_implemented,
    ),
];

const ROOT_SUBS: &[Command] = &[
    Command::leaf(
        "get",
        "get [options] <key> [range_end]",
        "Gets the key or a range of keys",
        get::run,
    )
    .flags(GET_FLAGS),
    Command::leaf(
        "put",
        "put [options] <key> <value> (<value> can also be given from stdin)",
        "Puts the given key into the store",
        put::run,
    )
    .long(PUT_LONG)
    .flags(PUT_FLAGS),
    Command::leaf(
        "del",
        "del [options] <key> [range_end]",
        "Removes the specified key or range of keys [key, range_end)",
        del::run,
    )
    .flags(DEL_FLAGS),
    Command::leaf(
        "txn",
        "txn [options]",
        "Txn processes all the requests in one transaction",
        txn::run,
    )
    .flags(&[b("interactive", "Input transaction in interactive mode").short('i')]),
    Command::leaf(
        "compaction",
        "compaction [options] <revision>",
        "Compacts the event history in etcd",
        compaction::run,
    )
    .flags(&[b(
        "physical",
        "'true' to wait for compaction to physically remove all old revisions",
    )]),
    Command::group(
        "alarm",
        "alarm <subcommand>",
        "Alarm related commands",
        ALARM_SUBS,
    ),
    Command::leaf(
        "defrag",
        "defrag",
        "Defragments the storage of the etcd members with given endpoints",
        defrag::run,
    )
    .persistent(&[CLUSTER])
    .flags(&[s(
        "data-dir",
        "",
        "Optional. If present, defragments a data directory not in use by etcd.",
    )]),
    Command::group(
        "endpoint",
        "endpoint <subcommand>",
        "Endpoint related commands",
        ENDPOINT_SUBS,
    )
    .persistent(&[CLUSTER]),
    Command::leaf(
        "move-leader",
        "move-leader <transferee-member-id>",
        "Transfers leadership to another etcd cluster member.",
        move_leader::run,
    ),
    Command::leaf(
        "watch",
        "watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]",
        "Watches events stream on keys or prefixes",
        watch::run,
    )
    .flags(WATCH_FLAGS),
    Command::leaf(
        "version",
        "version",
        "Prints the version of etcdctl",
        version::run,
    ),
    Command::group(
        "lease",
        "lease <subcommand>",
        "Lease related commands",
        LEASE_SUBS,
    ),
    Command::group(
        "member",
        "member <subcommand>",
        "Membership related commands",
        MEMBER_SUBS,
    ),
    Command::group(
        "snapshot",
        "snapshot <subcommand>",
        "Manages etcd node snapshots",
        SNAPSHOT_SUBS,
    ),
    Command::leaf(
        "make-mirror",
        "make-mirror [options] <destination>",
        "Makes a mirror at the destination etcd cluster",
        mirror::run,
    )
    .flags(&[
        s("prefix", "", "Key-value prefix to mirror"),
        s(
            "dest-prefix",
            "",
            "destination prefix to mirror a prefix to a different prefix in the destination cluster",
        ),
        b(
            "no-dest-prefix",
            "mirror key-values to the root of the destination cluster",
        ),
        s(
            "dest-cert",
            "",
            "Identify secure client using this TLS certificate file for the destination cluster",
        ),
        s(
            "dest-key",
            "",
            "Identify secure client using this TLS key file",
        ),
        s(
            "dest-cacert",
            "",
            "Verify certificates of TLS enabled secure servers using this CA bundle",
        ),
        Spec::new(
            "dest-insecure-transport",
            Kind::Bool,
            "true",
            "Disable transport security for client connections",
        ),
    ]),
    Command::leaf(
        "migrate",
        "migrate",
        "Migrates keys in a v2 store to a mvcc store",
        not_implemented,
    ),
    Command::leaf(
        "lock",
        "lock <lockname> [exec-command arg1 arg2 ...]",
        "Acquires a named lock",
        lock::run,
    )
    .flags(&[Spec::new("ttl", Kind::Int64, "10", "timeout for session")]),
    Command::leaf(
        "elect",
        "elect <election-name> [proposal]",
        "Observes and participates in leader election",
        elect::run,
    )
    .flags(&[b("listen", "observation mode").short('l')]),
    Command::group(
        "auth",
        "auth <enable or disable>",
        "Enable or disable authentication",
        AUTH_SUBS,
    ),
    Command::group(
        "user",
        "user <subcommand>",
        "User related commands",
        USER_SUBS,
    ),
    Command::group(
        "role",
        "role <subcommand>",
        "Role related commands",
        ROLE_SUBS,
    ),
    Command::group(
        "check",
        "check <subcommand>",
        "commands for checking properties of the etcd cluster",
        CHECK_SUBS,
    ),
    Command::group(
        "completion",
        "completion",
        "Generate the autocompletion script for the specified shell",
        COMPLETION_SUBS,
    )
    .long(
        "Generate the autocompletion script for etcdctl for the specified shell.
See each sub-command's help for details on how to use the generated script.
",
    ),
    Command::leaf(
        "help",
        "help [command]",
        "Help about any command",
        super::help_command,
    )
    .long(
        "Help provides help for any command in the application.
Simply type etcdctl help [path to command] for full details.",
    ),
];

/// The root `etcdctl` command.
pub static ROOT: Command = Command {
    name: "etcdctl",
    use_line: "etcdctl",
    short: "A simple command line client for etcd3.",
    long: "",
    flags: &[],
    persistent: global::GLOBAL_FLAGS,
    subs: ROOT_SUBS,
    run: None,
};
