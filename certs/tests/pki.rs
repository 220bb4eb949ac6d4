//! The generated PKI is valid as OpenSSL sees it: leaf certificates chain
//! to the CA, carry the promised names, the expired one is expired, and the
//! unrelated CA's client cert does not chain to ours.

use std::path::Path;
use std::process::Command;

fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed (Debian's openssl package)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().expect("utf-8 path").to_string()
}

#[test]
fn certificates_chain_and_carry_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = etcd_certs::PkiSpec {
        peers: 2,
        user: "alice".into(),
        extra_sans: vec![],
    };
    etcd_certs::generate(dir.path(), &spec).expect("generate");
    let ca = path(dir.path(), "ca.pem");
    for leaf in [
        "server.pem",
        "peer-1.pem",
        "peer-2.pem",
        "client-root.pem",
        "client-alice.pem",
    ] {
        let (ok, text) = openssl(&["verify", "-CAfile", &ca, &path(dir.path(), leaf)]);
        assert!(ok, "{leaf} must chain to the CA: {text}");
    }
    let (ok, _) = openssl(&[
        "verify",
        "-CAfile",
        &ca,
        &path(dir.path(), "client-expired.pem"),
    ]);
    assert!(!ok, "the expired certificate must not verify");
    let (ok, _) = openssl(&[
        "verify",
        "-CAfile",
        &ca,
        &path(dir.path(), "client-other-ca.pem"),
    ]);
    assert!(
        !ok,
        "a certificate from another CA must not verify against ours"
    );

    let (_, server) = openssl(&[
        "x509",
        "-in",
        &path(dir.path(), "server.pem"),
        "-noout",
        "-text",
    ]);
    assert!(server.contains("DNS:localhost"), "{server}");
    assert!(server.contains("IP Address:127.0.0.1"), "{server}");
    let (_, subject) = openssl(&[
        "x509",
        "-in",
        &path(dir.path(), "client-alice.pem"),
        "-noout",
        "-subject",
    ]);
    assert!(
        subject.contains("CN = alice") || subject.contains("CN=alice"),
        "{subject}"
    );
}
