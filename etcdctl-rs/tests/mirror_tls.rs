//! `make-mirror` into a destination that requires TLS client certificates
//! (`--dest-cacert`, `--dest-cert`, `--dest-key`): the Go etcdctl and
//! etcdctl-rs each mirror the same plain source into the same real
//! etcd over mTLS (under their own `--dest-prefix`) and must copy the same
//! keys and values; unreadable destination files are refused alike; with a
//! destination CA that does not verify the server, neither writes anything.

mod common;

use std::time::{Duration, Instant};

use common::{run_client, Etcd, Proc, TlsEtcd, GO_ETCDCTL, RS_ETCDCTL};

/// `get <prefix> --prefix` on the TLS destination (keys and values).
fn dest_keys(dest: &TlsEtcd, prefix: &str) -> String {
    let ep = format!("--endpoints=127.0.0.1:{}", dest.port);
    let mut args = vec![ep];
    args.extend(dest.root_flags());
    args.extend(["get", prefix, "--prefix"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, err, code) = run_client(GO_ETCDCTL, &args);
    assert_eq!(code, Some(0), "{err}");
    out
}

/// The stored text of `prefix`'s keys with the prefix cut off.
fn without(prefix: &str, listing: &str) -> String {
    listing.replace(prefix, "")
}

#[test]
fn make_mirror_into_tls_destination() {
    if !common::reference_available() {
        return;
    }
    let pki_dir = tempfile::tempdir().expect("temp dir");
    let pki = pki_dir.path();
    etcd_certs::generate(pki, &etcd_certs::PkiSpec::default()).expect("generate PKI");
    let dest = TlsEtcd::spawn(pki, &[]);
    let src = Etcd::start();
    dest.wait_ready();
    let src_ep = format!("--endpoints={}", src.endpoint());
    let dest_ep = format!("127.0.0.1:{}", dest.port);
    let file = |f: &str| pki.join(f).to_string_lossy().into_owned();
    let put = |k: &str, v: &str| {
        let (_, err, code) = run_client(GO_ETCDCTL, &[&src_ep, "put", k, v]);
        assert_eq!(code, Some(0), "{err}");
    };
    put("p/one", "1");
    put("p/two", "2");

    let good = [
        format!("--dest-cacert={}", file("ca.pem")),
        format!("--dest-cert={}", file("client-root.pem")),
        format!("--dest-key={}", file("client-root-key.pem")),
    ];
    let mirror = |bin: &str, dest_prefix: &str, tls: &[String]| {
        let mut args = vec![src_ep.clone(), "make-mirror".into(), "--prefix=p/".into()];
        args.push(format!("--dest-prefix={dest_prefix}"));
        args.extend(tls.iter().cloned());
        args.push(dest_ep.clone());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Proc::spawn(bin, &args)
    };
    let go = mirror(GO_ETCDCTL, "go/", &good);
    let rs = mirror(RS_ETCDCTL, "rs/", &good);
    // https:// in the destination with only a CA and no client
    // certificate: the server refuses the handshake, nothing is written.
    let mut go_bad = mirror(GO_ETCDCTL, "gobad/", &good[..1]);
    let mut rs_bad = mirror(RS_ETCDCTL, "rsbad/", &good[..1]);
    // A destination CA that did not sign the server certificate.
    let wrong_ca = [
        format!("--dest-cacert={}", file("other-ca.pem")),
        good[1].clone(),
        good[2].clone(),
    ];
    let mut go_wrong = mirror(GO_ETCDCTL, "gowrong/", &wrong_ca);
    let mut rs_wrong = mirror(RS_ETCDCTL, "rswrong/", &wrong_ca);

    // The initial copy, then live changes.
    let wait_for = |expected: usize| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (g, r) = (dest_keys(&dest, "go/"), dest_keys(&dest, "rs/"));
            if g.lines().count() >= expected && r.lines().count() >= expected {
                return (g, r);
            }
            assert!(
                Instant::now() < deadline,
                "mirrors did not copy {expected} lines: go {g:?} rs {r:?}\ngo err {}\nrs err {}",
                go.stderr(),
                rs.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let (g, r) = wait_for(4);
    assert_eq!(without("go/", &g), "one\n1\ntwo\n2\n");
    assert_eq!(without("rs/", &r), without("go/", &g));
    put("p/three", "3");
    let (_, err, code) = run_client(GO_ETCDCTL, &[&src_ep, "del", "p/one"]);
    assert_eq!(code, Some(0), "{err}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (g, r) = (dest_keys(&dest, "go/"), dest_keys(&dest, "rs/"));
        if without("go/", &g) == "three\n3\ntwo\n2\n" && without("rs/", &r) == without("go/", &g) {
            break;
        }
        assert!(Instant::now() < deadline, "go {g:?} rs {r:?}");
        std::thread::sleep(Duration::from_millis(50));
    }

    // The refused mirrors keep retrying (like Go's) and wrote nothing.
    for p in [&mut go_bad, &mut rs_bad, &mut go_wrong, &mut rs_wrong] {
        assert!(!p.exited(), "{} {}", p.stdout(), p.stderr());
    }
    for prefix in ["gobad/", "rsbad/", "gowrong/", "rswrong/"] {
        assert_eq!(dest_keys(&dest, prefix), "", "{prefix}");
    }
    drop((go, rs, go_bad, rs_bad, go_wrong, rs_wrong));

    // Unreadable destination files end both before anything is dialed.
    let mut failures = Vec::new();
    for tls in [
        vec![format!("--dest-cacert={}", file("nope.pem"))],
        vec![good[1].clone(), format!("--dest-key={}", file("nope.pem"))],
        vec![good[1].clone()],
        vec![format!("--dest-cert={}", file("ca.pem")), good[2].clone()],
    ] {
        let mut args = vec![src_ep.clone(), "make-mirror".into()];
        args.extend(tls.iter().cloned());
        args.push(dest_ep.clone());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let g = run_client(GO_ETCDCTL, &args);
        let r = run_client(RS_ETCDCTL, &args);
        if g != r {
            failures.push(format!("{tls:?}\n  go {g:?}\n  rs {r:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
