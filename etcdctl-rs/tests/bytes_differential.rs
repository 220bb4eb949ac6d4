//! Differential test of binary keys and values: arguments that are not
//! UTF-8, `txn` input with Go string escapes and raw bytes, every byte value
//! 0x00-0xff through `--hex`, `-w json`, `-w fields`, `-w protobuf`, simple
//! output and watch, plus clientv3's own message size limits. The Go
//! etcdctl and etcdctl-rs must print the same bytes and exit codes.

mod common;

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Side;

/// One command line: arguments as raw bytes, and standard input.
struct BytesCase {
    args: Vec<Vec<u8>>,
    stdin: Vec<u8>,
    /// Stdout lines to wait for before stopping a long-running command
    /// (`watch`); `None` runs the command to completion.
    lines: Option<usize>,
    /// Whether runs of 12 or more hex digits (lease ids inside keys) are
    /// masked.
    ids: bool,
    /// How long the command may run.
    limit: Duration,
}

/// Splits `s` at spaces into arguments; `\xNN` in a word is the byte NN
/// (so arguments can hold any byte but NUL, which argv cannot carry).
fn words(s: &str) -> Vec<Vec<u8>> {
    s.split(' ').filter(|w| !w.is_empty()).map(decode).collect()
}

fn decode(w: &str) -> Vec<u8> {
    let b = w.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') && i + 4 <= b.len() {
            let hex = std::str::from_utf8(&b[i + 2..i + 4]).expect("hex");
            out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

fn run(args: &str) -> BytesCase {
    BytesCase {
        args: words(args),
        stdin: Vec::new(),
        lines: None,
        ids: false,
        limit: Duration::from_secs(60),
    }
}

fn raw(args: Vec<Vec<u8>>) -> BytesCase {
    BytesCase {
        args,
        stdin: Vec::new(),
        lines: None,
        ids: false,
        limit: Duration::from_secs(60),
    }
}

fn stdin(args: &str, input: impl Into<Vec<u8>>) -> BytesCase {
    BytesCase {
        args: words(args),
        stdin: input.into(),
        lines: None,
        ids: false,
        limit: Duration::from_secs(60),
    }
}

fn streaming(args: Vec<Vec<u8>>, lines: usize) -> BytesCase {
    BytesCase {
        args,
        stdin: Vec::new(),
        lines: Some(lines),
        ids: false,
        limit: Duration::from_secs(10),
    }
}

/// Every byte value but NUL.
fn all_but_nul() -> Vec<u8> {
    (1..=255u8).collect()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// `txn` input putting `t<b>` = `<b>` for every byte `b` in `range`, each
/// written as a Go escape (`\xNN`, octal or `\u` forms alternate).
fn txn_all_bytes(range: std::ops::RangeInclusive<u8>) -> Vec<u8> {
    let mut s = String::from("\n");
    for b in range {
        let key = match b % 3 {
            0 => format!("\\x{b:02x}"),
            1 => format!("\\{b:03o}"),
            _ => format!("\\x{b:02X}"),
        };
        s.push_str(&format!("put \"t{key}\" \"\\x{b:02x}\"\n"));
    }
    s.push_str("\n\n");
    s.into_bytes()
}

fn expand(side: &Side, args: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = vec![format!("--endpoints={}", side.etcd.endpoint()).into_bytes()];
    let dir = side.dir.path().as_os_str().as_bytes();
    for a in args {
        let mut a = replace_bytes(a, b"$DIR", dir);
        if let Some(lease) = side.vars.get("LEASE") {
            if let Some(i) = a.windows(6).position(|w| w == b"$LEASE") {
                a.splice(i..i + 6, lease.bytes());
            }
        }
        out.push(a);
    }
    out
}

/// Starts a case. A long-running command's stdin stays open (the handle is
/// returned) so it does not see the end of its input while it streams.
fn spawn(
    side: &Side,
    c: &BytesCase,
    stdout: Stdio,
    stderr: Stdio,
) -> (
    std::process::Child,
    Option<std::thread::JoinHandle<std::process::ChildStdin>>,
) {
    let mut child = Command::new(side.bin)
        .args(expand(side, &c.args).iter().map(|a| OsStr::from_bytes(a)))
        .env_remove("ETCDCTL_API")
        .env_remove("ETCDCTL_ENDPOINTS")
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("spawn client");
    let mut keep = None;
    if let Some(mut input) = child.stdin.take() {
        // A writer thread: a client that refuses its input must not block us.
        let data = c.stdin.clone();
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(&data);
            input
        });
        if c.lines.is_some() {
            keep = Some(writer);
        }
    }
    (child, keep)
}

/// Runs a case; returns (stdout, stderr, exit code), raw. Output goes to
/// files, so a large output cannot fill a pipe nobody drains.
fn run_case(side: &mut Side, c: &BytesCase) -> (Vec<u8>, Vec<u8>, Option<i32>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let file = |p: &std::path::Path| Stdio::from(std::fs::File::create(p).expect("file"));
    let (mut child, stdin) = spawn(side, c, file(&out), file(&err));
    let deadline = Instant::now() + c.limit;
    let mut exited = false;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            exited = true;
            break;
        }
        if let Some(lines) = c.lines {
            let n = std::fs::read(&out)
                .map(|b| b.iter().filter(|&&c| c == b'\n').count())
                .unwrap_or(0);
            if n >= lines {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if !exited {
        // Stopped (a long-running command, or over the time bound): no code.
        let _ = child.kill();
    }
    let status = child.wait().expect("wait for client");
    drop(stdin.map(|w| w.join()));
    let code = if exited { status.code() } else { None };
    let stdout = std::fs::read(&out).unwrap_or_default();
    let stderr = std::fs::read(&err).unwrap_or_default();
    if c.args.first().is_some_and(|a| a == b"lease") {
        let text = String::from_utf8_lossy(&stdout);
        if let Some(id) = text
            .strip_prefix("lease ")
            .and_then(|r| r.split(' ').next())
        {
            side.vars.insert("LEASE", id.to_string());
        }
    }
    (stdout, stderr, code)
}

/// Replaces runs of 12 or more lowercase hex digits with `<ID>`.
fn mask_hex_runs(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let run = b[i..]
            .iter()
            .take_while(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
            .count();
        if run >= 12 {
            out.extend_from_slice(b"<ID>");
        } else {
            out.extend_from_slice(&b[i..i + run.max(1)]);
        }
        i += run.max(1);
    }
    out
}

fn replace_bytes(b: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if !from.is_empty() && b[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Masks what differs between the two clusters; output that is not UTF-8
/// (raw keys and values) is compared byte for byte.
fn mask(side: &Side, b: Vec<u8>, ids: bool) -> Vec<u8> {
    let b = if ids { mask_hex_runs(&b) } else { b };
    match String::from_utf8(b) {
        Ok(s) => side.mask(&s).into_bytes(),
        Err(e) => {
            let dir = side.dir.path().as_os_str().as_bytes();
            let b = replace_bytes(&e.into_bytes(), dir, b"<DIR>");
            match side.vars.get("LEASE") {
                Some(lease) => replace_bytes(&b, lease.as_bytes(), b"<LEASE>"),
                None => b,
            }
        }
    }
}

fn show(args: &[Vec<u8>]) -> String {
    let words: Vec<String> = args
        .iter()
        .map(|a| format!("{:?}", String::from_utf8_lossy(a)))
        .collect();
    words.join(" ")
}

fn show_out(b: &[u8]) -> String {
    if b.len() > 2000 {
        return format!(
            "<{} bytes> {:?}...",
            b.len(),
            String::from_utf8_lossy(&b[..2000])
        );
    }
    format!("{:?}", String::from_utf8_lossy(b))
}

fn compare(go: &mut Side, rs: &mut Side, cases: &[BytesCase]) -> Vec<String> {
    let mut failures = Vec::new();
    for c in cases {
        let (gout, gerr, gcode) = run_case(go, c);
        let (rout, rerr, rcode) = run_case(rs, c);
        // BYTES_DEBUG=1 shows what the Go etcdctl printed for every case.
        if std::env::var_os("BYTES_DEBUG").is_some() {
            eprintln!(
                "DEBUG {} lines={} rc={gcode:?} out={} err={}",
                show(&c.args),
                gout.iter().filter(|&&b| b == b'\n').count(),
                show_out(&gout[..gout.len().min(300)]),
                show_out(&gerr[..gerr.len().min(600)])
            );
        }
        let (gout, rout) = (mask(go, gout, c.ids), mask(rs, rout, c.ids));
        let (gerr, rerr) = (mask(go, gerr, c.ids), mask(rs, rerr, c.ids));
        if gout != rout || gerr != rerr || gcode != rcode {
            failures.push(format!(
                "`{}`\n  go: rc={gcode:?}\n  stdout: {}\n  stderr: {}\n  rs: rc={rcode:?}\n  stdout: {}\n  stderr: {}",
                show(&c.args),
                show_out(&gout),
                show_out(&gerr),
                show_out(&rout),
                show_out(&rerr),
            ));
        }
    }
    failures
}

/// Keys and values holding every byte value, through arguments, `txn`
/// escapes and raw `txn` input, printed in every output format.
fn binary_cases() -> Vec<BytesCase> {
    let all = all_but_nul();
    let key = cat(&[b"k", &all]);
    let mut cases = vec![
        raw(vec![b"put".to_vec(), key.clone(), all.clone()]),
        raw(vec![b"put".to_vec(), b"a\xff".to_vec(), b"\xfe\x80".to_vec()]),
        raw(vec![b"get".to_vec(), key.clone()]),
        raw(vec![b"get".to_vec(), key.clone(), b"--hex".to_vec()]),
        raw(vec![b"get".to_vec(), key.clone(), b"-w".to_vec(), b"json".to_vec()]),
        raw(vec![b"get".to_vec(), key.clone(), b"-w".to_vec(), b"fields".to_vec()]),
        raw(vec![b"get".to_vec(), key.clone(), b"--print-value-only".to_vec()]),
        raw(vec![b"get".to_vec(), key.clone(), b"--print-value-only".to_vec(), b"--hex".to_vec()]),
        run("get k --prefix --keys-only"),
        run("get k --prefix --keys-only --hex"),
        run("get a\\xff"),
        run("get a\\xff -w fields"),
        run("get a\\xff b\\xff -w json"),
        // The checks refuse a prefix that has keys.
        run("check perf --prefix=a\\xff"),
        run("check datascale --prefix=a\\xff"),
        run("get --from-key a\\x80 --keys-only --hex"),
        run("get a\\xff --prefix -w table"),
        run("get a\\xff --prefix -w table --hex"),
        // Every byte value, NUL included, through txn escapes.
        stdin("txn", txn_all_bytes(0..=127)),
        stdin("txn -w json", txn_all_bytes(128..=255)),
        run("get t --prefix"),
        run("get t --prefix --hex"),
        run("get t --prefix -w json"),
        run("get t --prefix -w fields"),
        run("get t --prefix --print-value-only"),
        run("get t\\xff"),
        run("get t\\x01 t\\x05 --hex -w fields"),
        // Raw bytes in txn input are kept as they are outside quotes; in
        // quotes Go's scanner turns each invalid byte into U+FFFD.
        stdin(
            "txn",
            b"value(\"t\\xff\") = \"\\xff\"\n\nput r\xff\xfe v\x80\x81\nput \"q\xff\" \"\\u00ff\\377\\U0001F600\"\nget r\xff\n\nput fail x\n\n".to_vec(),
        ),
        stdin(
            "txn -i",
            b"value(\"r\xff\xfe\") = \"v\x80\x81\"\nvalue(\"t\\xff\") = \"\xff\"\n\nput nope x\n\nget r --prefix\nget q --prefix\n\n".to_vec(),
        ),
        stdin("txn --hex", b"\nget \"t\\x00\" \"t\\x03\"\ndel \"\\xe2\\x82\" \"\\xe2\\x83\" --prev-kv\n\n\n".to_vec()),
        stdin("txn", b"\nput \"\\x\" v\n\n\n".to_vec()),
        stdin("txn", b"\nput \"\\u00\" v\n\n\n".to_vec()),
        stdin("txn", b"\nput \"\\400\" v\n\n\n".to_vec()),
        stdin("txn", b"\nput \"\\ud800\" v\n\n\n".to_vec()),
        stdin("txn", b"value(\"\\q\") = \"x\"\n\n\n\n".to_vec()),
        run("get r --prefix --hex"),
        run("get q --prefix -w json"),
        run("get \\xef --prefix --hex"),
        // put reads a value that is not UTF-8 from stdin as it is.
        stdin("put s\\xfe", b"\x00\xff\xfe\r\n".to_vec()),
        run("get s\\xfe -w json"),
        run("get s\\xfe --print-value-only --hex"),
        // Non-UTF-8 in command words and flag values.
        run("\\xff"),
        run("get --\\xff k"),
        run("get --rev=\\xff k"),
        run("get --consistency=\\xff k"),
        run("get --order=\\xff k"),
        run("put --lease=\\xff k v"),
        run("lease revoke \\xff"),
        run("lease timetolive \\xfe\\xff"),
        run("compaction \\xff"),
        run("help \\xff"),
        run("get -\\xff k"),
        run("-\\xff get k"),
        run("-é get k"),
        run("get -w\\xff k"),
        run("get --sort-by=\\xfe k"),
        run("member remove \\xff"),
        // Permissions on binary keys.
        run("role add r1"),
        run("role grant-permission r1 readwrite k\\xff"),
        run("role grant-permission r1 read a\\xfe --prefix"),
        run("role grant-permission r1 write b\\x80 b\\xff"),
        run("role grant-permission r1 write \\xf0 --from-key"),
        run("role get r1"),
        run("role get r1 -w json"),
        run("role get r1 -w fields"),
        run("role revoke-permission r1 k\\xff"),
        run("role revoke-permission r1 a\\xfe --prefix"),
        run("role revoke-permission r1 b\\x80 b\\xff -w json"),
        run("role get r1"),
        // Leases with binary keys.
        run("lease grant 100"),
        run("put l\\xff\\x01 v --lease=$LEASE"),
        run("lease timetolive $LEASE --keys"),
        run("lease timetolive $LEASE --keys -w json"),
        run("lease timetolive $LEASE --keys -w fields"),
        run("del k --prefix --prev-kv"),
        run("del a\\xff --prev-kv -w json"),
        run("del t\\xf0 t\\xf8 --prev-kv -w fields"),
        run("del t\\x80 --from-key --prev-kv --hex"),
    ];
    // Watch history of binary keys (from revision 1, so nothing races).
    for extra in [
        &[][..],
        &[b"--hex".to_vec()][..],
        &[b"-w".to_vec(), b"json".to_vec()][..],
    ] {
        let mut args = vec![b"watch".to_vec(), b"a\xff".to_vec(), b"--rev=1".to_vec()];
        args.extend_from_slice(extra);
        cases.push(streaming(args, if extra.len() == 2 { 1 } else { 6 }));
    }
    cases.push(streaming(
        vec![
            b"watch".to_vec(),
            b"--prefix".to_vec(),
            b"t".to_vec(),
            b"--rev=1".to_vec(),
        ],
        // Every event is 3 lines; the key and value 0x0a add two.
        3 * 256 + 3 * 128 + 2,
    ));
    cases.push(streaming(
        vec![
            b"watch".to_vec(),
            b"--prefix".to_vec(),
            b"t\xf8".to_vec(),
            b"--rev=1".to_vec(),
            b"--prev-kv".to_vec(),
            b"-w".to_vec(),
            b"fields".to_vec(),
        ],
        24,
    ));
    cases.push(streaming(
        words("watch s\\xfe --rev=1 -- printenv ETCD_WATCH_KEY ETCD_WATCH_VALUE"),
        6,
    ));
    // Interactive watch lines: raw bytes outside quotes, escapes inside.
    // One watch per session: the Go etcdctl prints each watch from its own
    // goroutine, so two watches in one session interleave at random.
    for line in [&b"watch a\xff --rev=1\n"[..], b"watch \"a\\xff\" --rev=1\n"] {
        let mut interactive = streaming(words("watch -i"), 6);
        interactive.stdin = line.to_vec();
        cases.push(interactive);
    }
    // Lock and election names that are not UTF-8.
    cases.push(run("lock l\\xff echo ok"));
    cases.push(run("lock l\\xff -- sh -c exit\\x203"));
    let mut elect = streaming(words("elect e\\xff p\\xfe\\x01x"), 2);
    elect.ids = true;
    cases.push(elect);
    let mut listen = streaming(words("elect -l e\\xff"), 2);
    listen.ids = true;
    cases.push(listen);
    cases
}

#[test]
fn binary_keys_and_values_match_go_etcdctl() {
    let Some(pair) = common::Pair::start() else {
        return;
    };
    let (mut go, mut rs) = pair.sides();
    let cases = binary_cases();
    let failures = compare(&mut go, &mut rs, &cases);
    // -w protobuf carries the response header, so both clients read the
    // same server here.
    let mut go_same = Side::new(common::GO_ETCDCTL, &pair.go_etcd);
    let mut rs_same = Side::new(common::RS_ETCDCTL, &pair.go_etcd);
    let proto_cases = [
        // A snapshot of the same data (paths that are not UTF-8).
        run("snapshot save $DIR/s\\xff.db"),
        run("snapshot save $DIR/no\\xfe/s.db"),
        run("snapshot status $DIR/no\\xfe/s.db"),
        run("get t --prefix -w protobuf"),
        run("get r\\xff -w protobuf"),
        run("get a\\xff --prefix -w protobuf"),
    ];
    let mut failures = failures;
    failures.extend(compare(&mut go_same, &mut rs_same, &proto_cases));
    // Watch output in protobuf has no line structure: the Go etcdctl gets a
    // few seconds to print the history, etcdctl-rs must print the same
    // bytes (it is stopped once it has as many 0x0a bytes).
    let mut watch = streaming(words("watch a\\xff --rev=1 -w protobuf"), usize::MAX);
    watch.limit = Duration::from_secs(3);
    let (go_out, go_err, _) = run_case(&mut go_same, &watch);
    let newlines = go_out.iter().filter(|&&b| b == b'\n').count();
    watch.lines = Some(if newlines == 0 { usize::MAX } else { newlines });
    watch.limit = Duration::from_secs(10);
    let (rs_out, rs_err, _) = run_case(&mut rs_same, &watch);
    if go_out.is_empty() || (go_out.clone(), go_err.clone()) != (rs_out.clone(), rs_err.clone()) {
        failures.push(format!(
            "`watch -w protobuf`\n  go: {} {}\n  rs: {} {}",
            show_out(&go_out),
            show_out(&go_err),
            show_out(&rs_out),
            show_out(&rs_err)
        ));
    }
    common::assert_no_failures(failures, cases.len() + proto_cases.len() + 1);
}

/// clientv3 refuses to send a request over 2 MiB (its own gRPC send limit)
/// and accepts responses of any size.
#[test]
fn message_size_limits_match_go_etcdctl() {
    let Some(pair) = common::Pair::start() else {
        return;
    };
    let (mut go, mut rs) = pair.sides();
    let a = |n: usize| vec![b'a'; n];
    let mut big_txn = b"\n\nput big \"".to_vec();
    big_txn.extend(a(2_200_000));
    big_txn.extend_from_slice(b"\"\n\n");
    let mut cases = vec![
        stdin("put big", a(3_000_000)),
        stdin("put big", a(2 * 1024 * 1024)),
        stdin("put big", a(2 * 1024 * 1024 - 8)),
        stdin("put big", a(1_600_000)),
        stdin("txn", big_txn),
    ];
    // Four values of 1.4 MB: a range response of 5.6 MB.
    for i in 0..4 {
        cases.push(stdin(
            &format!("put large{i}"),
            vec![b'0' + i as u8; 1_400_000],
        ));
    }
    cases.push(run("get large --prefix"));
    cases.push(run("get large --prefix -w json"));
    let failures = compare(&mut go, &mut rs, &cases);
    common::assert_no_failures(failures, cases.len());
}

#[test]
fn masking_a_port_leaves_longer_runs_of_its_digits_alone() {
    // A 1.4 MB value of `3`s once printed 280 000 bytes longer when a
    // server's port was 33333.
    assert_eq!(
        common::replace_token("a 33333 b", "33333", "<P>"),
        "a <P> b"
    );
    assert_eq!(
        common::replace_token("127.0.0.1:33333/x", "33333", "<P>"),
        "127.0.0.1:<P>/x"
    );
    assert_eq!(
        common::replace_token("3333333333", "33333", "<P>"),
        "3333333333"
    );
    assert_eq!(common::replace_token("33333", "33333", "<P>"), "<P>");
    assert_eq!(
        common::replace_token("x33333,33333", "33333", "<P>"),
        "x33333,<P>"
    );
    assert_eq!(common::replace_token("é33333é", "33333", "<P>"), "é<P>é");
}
