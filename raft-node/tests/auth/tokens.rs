//! Tokens and identities: passwords kept out of the data dir, JWT and
//! simple tokens across members and restarts, the client certificate's
//! common name as the user.

use super::*;

/// Recursively true if any file under `dir` contains `needle`.
fn any_file_contains(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).expect("read dir").any(|e| {
        let path = e.expect("entry").path();
        if path.is_dir() {
            any_file_contains(&path, needle)
        } else {
            std::fs::read(&path)
                .map(|b| b.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_stay_out_of_the_data_dir_and_auth_survives_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let port = free_port();
    let mut member = Member::start(&data, port, FAST);
    let ch = member.client().await;
    let (root, _) = setup(&ch).await;
    let mut auth = AuthClient::new(ch.clone());
    auth.user_add(as_user(
        AuthUserAddRequest {
            name: "carol".into(),
            password: "Plain-Text-Password-42".into(),
            ..Default::default()
        },
        &root,
    ))
    .await
    .unwrap();
    assert_code(
        login(&ch, "carol", "wrong").await,
        Code::InvalidArgument,
        "etcdserver: authentication failed, invalid user ID or password",
    );
    login(&ch, "carol", "Plain-Text-Password-42").await.unwrap();
    member.signal("-TERM");
    assert!(
        !any_file_contains(&data, b"Plain-Text-Password-42"),
        "a password reached the WAL or the store"
    );

    let spec = member.spec.clone();
    drop(member);
    let member = Member::launch(spec);
    let ch = member.client().await;
    // Simple tokens live in memory: the old one is gone, auth is not.
    assert_code(
        get(&ch, &root, "a/1").await,
        Code::Unauthenticated,
        "etcdserver: invalid auth token",
    );
    let root = login(&ch, "root", "rootpw").await.expect("login again");
    assert_eq!(
        get(&ch, &root, "secret").await.unwrap().as_deref(),
        Some("s")
    );
    let carol = login(&ch, "carol", "Plain-Text-Password-42").await.unwrap();
    assert_code(
        get(&ch, &carol, "secret").await,
        Code::PermissionDenied,
        DENIED,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_tokens_are_signed_and_carry_the_auth_revision() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = rcgen::KeyPair::generate().expect("ES256 key");
    let private = dir.path().join("jwt.key");
    let public = dir.path().join("jwt.pub");
    std::fs::write(&private, key.serialize_pem()).unwrap();
    std::fs::write(&public, key.public_key_pem()).unwrap();
    let spec = format!(
        "jwt,pub-key={},priv-key={},sign-method=ES256,ttl=5m",
        public.display(),
        private.display()
    );
    let member = Member::start(
        &dir.path().join("data"),
        free_port(),
        &["--auth-token", &spec, "--bcrypt-cost", "4"],
    );
    let ch = member.client().await;
    let (root, alice) = setup(&ch).await;
    assert_eq!(alice.split('.').count(), 3, "a JWT: {alice}");
    assert_eq!(
        get(&ch, &alice, "a/1").await.unwrap().as_deref(),
        Some("one")
    );
    let mut forged = alice.clone();
    forged.push('x');
    assert_code(
        get(&ch, &forged, "a/1").await,
        Code::Unauthenticated,
        "etcdserver: invalid auth token",
    );
    // Any auth change makes earlier tokens old; logging in again helps.
    AuthClient::new(ch.clone())
        .role_add(as_user(
            AuthRoleAddRequest {
                name: "other".into(),
            },
            &root,
        ))
        .await
        .unwrap();
    assert_code(
        get(&ch, &alice, "a/1").await,
        Code::InvalidArgument,
        "etcdserver: revision of auth store is old",
    );
    let fresh = login(&ch, "alice", "alicepw").await.unwrap();
    assert_eq!(
        get(&ch, &fresh, "a/1").await.unwrap().as_deref(),
        Some("one")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_tokens_work_on_every_member() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let initial = ports
        .iter()
        .enumerate()
        .map(|(i, (_, p))| format!("m{i}=http://127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    let members: Vec<Member> = ports
        .iter()
        .enumerate()
        .map(|(i, (c, p))| {
            Member::launch(MemberSpec {
                name: format!("m{i}"),
                data_dir: dir.path().join(format!("m{i}")),
                client_port: *c,
                peer_port: *p,
                initial_cluster: initial.clone(),
                state: "new",
                extra: FAST.iter().map(|s| s.to_string()).collect(),
                tls: false,
                peer_scheme_https: false,
            })
        })
        .collect();
    let mut channels = Vec::new();
    for m in &members {
        channels.push(m.client().await);
    }
    let (root, _) = setup(&channels[0]).await;
    for (i, ch) in channels.iter().enumerate() {
        // Issued on m0, accepted at once on the others (they wait for the
        // login entry to apply if they have not yet).
        let token = login(&channels[0], "alice", "alicepw").await.unwrap();
        assert_eq!(
            get(ch, &token, "a/1").await.unwrap().as_deref(),
            Some("one"),
            "member m{i}"
        );
        assert_code(
            get(ch, &token, "secret").await,
            Code::PermissionDenied,
            DENIED,
        );
        KvClient::new(ch.clone())
            .put(as_user(put_req("a/from", &format!("m{i}")), &root))
            .await
            .unwrap();
    }
}

/// The Go etcdctl with a client certificate and no password.
fn etcdctl_with_cert(endpoint: &str, pki: &Path, cert: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoint}"))
        .arg(format!("--cacert={}", pki.join("ca.pem").display()))
        .arg(format!(
            "--cert={}",
            pki.join(format!("{cert}.pem")).display()
        ))
        .arg(format!(
            "--key={}",
            pki.join(format!("{cert}-key.pem")).display()
        ))
        .args(["--dial-timeout=2s", "--command-timeout=5s"])
        .args(args)
        .output()
        .expect("run the Go etcdctl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificate_common_name_is_the_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = dir.path().join("pki");
    etcd_certs::generate(&pki, &etcd_certs::PkiSpec::default()).expect("generate PKI");
    let mut spec = MemberSpec::single(&dir.path().join("data"), free_port(), FAST);
    for (flag, file) in [
        ("--cert-file", "server.pem"),
        ("--key-file", "server-key.pem"),
        ("--trusted-ca-file", "ca.pem"),
    ] {
        spec.extra.push(flag.into());
        spec.extra.push(pki.join(file).display().to_string());
    }
    spec.extra.push("--client-cert-auth".into());
    spec.tls = true;
    let endpoint = spec.client_url();
    let _member = Member::launch(spec);
    let as_root = |args: &[&str]| etcdctl_with_cert(&endpoint, &pki, "client-root", args);
    eventually(20, "etcd-rs serving TLS", || {
        let (ok, _) = as_root(&["put", "u/seed", "1"]);
        async move { ok.then_some(()) }
    })
    .await;
    for args in [
        &["user", "add", "root:rootpw"][..],
        &["user", "grant-role", "root", "root"],
        &["user", "add", "user:userpw"],
        &["role", "add", "u"],
        &[
            "role",
            "grant-permission",
            "u",
            "readwrite",
            "u/",
            "--prefix",
        ],
        &["user", "grant-role", "user", "u"],
        &["put", "secret", "s"],
        &["auth", "enable"],
    ] {
        let (ok, out) = as_root(args);
        assert!(ok, "{args:?}: {out}");
    }
    // No token: the certificate's CN is the user.
    let as_user = |args: &[&str]| etcdctl_with_cert(&endpoint, &pki, "client-user", args);
    let (ok, out) = as_user(&["put", "u/mine", "yes"]);
    assert!(ok, "{out}");
    let (ok, out) = as_user(&["get", "secret"]);
    assert!(!ok && out.contains(DENIED), "{out}");
    let (ok, out) = as_root(&["get", "secret"]);
    assert!(ok && out == "secret\ns\n", "{out}");
    // A token wins over the certificate.
    let (ok, out) = as_root(&["--user", "user:userpw", "get", "secret"]);
    assert!(!ok && out.contains(DENIED), "{out}");
}
