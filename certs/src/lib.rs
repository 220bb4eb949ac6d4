//! Test PKI for etcd-rs: everything a TLS test or a local secure cluster
//! needs, generated fresh with rcgen (no OpenSSL).
//!
//! [`generate`] writes into one directory:
//!
//! | file | what |
//! |---|---|
//! | `ca.pem`, `ca-key.pem` | the certificate authority |
//! | `server.pem`, `server-key.pem` | client-facing server cert, SANs `localhost`, `127.0.0.1` |
//! | `peer-N.pem`, `peer-N-key.pem` | one cert per member for peer TLS (server and client use) |
//! | `client-root.pem`, `client-root-key.pem` | client cert with CN=root |
//! | `client-USER.pem`, `client-USER-key.pem` | client cert with CN=USER (an ordinary user) |
//! | `client-expired.pem`, `client-expired-key.pem` | a client cert that expired long ago |
//! | `other-ca.pem`, `client-other-ca.pem`, `client-other-ca-key.pem` | a client cert from an unrelated CA |
//!
//! Keys are ECDSA P-256 in PKCS#8 PEM. [`insecure`] holds the "verify
//! nothing" server-certificate verifier the workspace's TLS clients share,
//! and [`connector`] the TLS connector they dial gRPC with.

pub mod connector;
pub mod insecure;

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct PkiSpec {
    /// Number of peer certificates (`peer-1` .. `peer-N`).
    pub peers: usize,
    /// Common name of the ordinary user's client certificate.
    pub user: String,
    /// Extra SANs for the server and peer certificates (DNS names or IPs).
    pub extra_sans: Vec<String>,
}

impl Default for PkiSpec {
    fn default() -> Self {
        PkiSpec {
            peers: 3,
            user: "user".into(),
            extra_sans: Vec::new(),
        }
    }
}

struct Authority {
    params: CertificateParams,
    key: KeyPair,
}

impl Authority {
    fn new(name: &str) -> Result<(Authority, String), CertError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let pem = params.self_signed(&key)?.pem();
        Ok((Authority { params, key }, pem))
    }

    /// Signs a leaf certificate; returns (cert PEM, key PEM).
    fn leaf(
        &self,
        cn: &str,
        sans: Vec<String>,
        usages: Vec<ExtendedKeyUsagePurpose>,
        expired: bool,
    ) -> Result<(String, String), CertError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(sans)?;
        params.distinguished_name.push(DnType::CommonName, cn);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = usages;
        if expired {
            params.not_before = date_time_ymd(2000, 1, 1);
            params.not_after = date_time_ymd(2001, 1, 1);
        }
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

fn write(dir: &Path, name: &str, contents: &str) -> Result<(), CertError> {
    let path = dir.join(name);
    fs::write(&path, contents).map_err(|source| CertError::Io { path, source })
}

fn write_pair(dir: &Path, stem: &str, pair: (String, String)) -> Result<(), CertError> {
    write(dir, &format!("{stem}.pem"), &pair.0)?;
    write(dir, &format!("{stem}-key.pem"), &pair.1)
}

/// Generates the whole PKI into `dir` (created if missing).
pub fn generate(dir: &Path, spec: &PkiSpec) -> Result<(), CertError> {
    fs::create_dir_all(dir).map_err(|source| CertError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let (ca, ca_pem) = Authority::new("etcd-rs test CA")?;
    write(dir, "ca.pem", &ca_pem)?;
    write(dir, "ca-key.pem", &ca.key.serialize_pem())?;

    let mut sans = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    sans.extend(spec.extra_sans.iter().cloned());
    let both = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let client = vec![ExtendedKeyUsagePurpose::ClientAuth];

    write_pair(
        dir,
        "server",
        ca.leaf("etcd-rs server", sans.clone(), both.clone(), false)?,
    )?;
    for n in 1..=spec.peers {
        let pair = ca.leaf(&format!("peer-{n}"), sans.clone(), both.clone(), false)?;
        write_pair(dir, &format!("peer-{n}"), pair)?;
    }
    write_pair(
        dir,
        "client-root",
        ca.leaf("root", Vec::new(), client.clone(), false)?,
    )?;
    let user = ca.leaf(&spec.user, Vec::new(), client.clone(), false)?;
    write_pair(dir, &format!("client-{}", spec.user), user)?;
    write_pair(
        dir,
        "client-expired",
        ca.leaf("root", Vec::new(), client.clone(), true)?,
    )?;

    let (other, other_pem) = Authority::new("unrelated CA")?;
    write(dir, "other-ca.pem", &other_pem)?;
    write_pair(
        dir,
        "client-other-ca",
        other.leaf("root", Vec::new(), client, false)?,
    )?;
    Ok(())
}
