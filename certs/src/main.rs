//! `etcd-rs-certs`: writes a fresh test PKI (see the `etcd_certs` docs).
//!
//! ```sh
//! etcd-rs-certs --dir ./certs-out --peers 3 --user alice
//! ```

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(name = "etcd-rs-certs", about = "Generate a test PKI for etcd-rs")]
struct Args {
    /// Directory to write into (created if missing).
    #[arg(long, default_value = "certs-out")]
    dir: PathBuf,
    /// Number of peer certificates.
    #[arg(long, default_value_t = 3)]
    peers: usize,
    /// Common name of the ordinary user's client certificate.
    #[arg(long, default_value = "user")]
    user: String,
    /// Extra subject alternative names for server and peer certificates.
    #[arg(long = "san")]
    sans: Vec<String>,
}

fn main() {
    let args = Args::parse();
    let spec = etcd_certs::PkiSpec {
        peers: args.peers,
        user: args.user,
        extra_sans: args.sans,
    };
    if let Err(e) = etcd_certs::generate(&args.dir, &spec) {
        eprintln!("etcd-rs-certs: {e}");
        std::process::exit(1);
    }
    println!("wrote test PKI to {}", args.dir.display());
}
